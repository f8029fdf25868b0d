"""The house rules that keep the package livable, checked on the source tree.

* no module in ``addictidx/`` over 600 lines;
* no ``from addictidx.x import _private`` (or ``from .x import _private``) across modules: a piece
  two modules share is public in its room;
* no import cycle between modules.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "addictidx"
MAX_LINES = 600


def _modules() -> dict[str, Path]:
    out = {}
    for p in sorted(PKG.rglob("*.py")):
        if "__pycache__" in p.parts:
            continue
        parts = list(p.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def _resolve(mod: str, path: Path, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = mod.split(".")
    if path.name != "__init__.py":
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def test_no_module_over_600_lines():
    long = {
        str(p.relative_to(ROOT)): n
        for p in _modules().values()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_no_private_names_imported_across_modules():
    bad = []
    for mod, path in _modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                target = _resolve(mod, path, node)
                if not target.startswith("addictidx"):
                    continue
                for a in node.names:
                    if a.name.startswith("_") and not a.name.startswith("__"):
                        bad.append(f"{mod}: from {target} import {a.name}")
            elif isinstance(node, ast.Import):
                bad += [
                    f"{mod}: import {a.name}"
                    for a in node.names
                    if a.name.startswith("addictidx")
                    and any(part.startswith("_") and part != "_core" for part in a.name.split("."))
                ]
    assert not bad, "\n".join(bad)


def test_no_import_cycles_between_modules():
    mods = _modules()
    graph: dict[str, set[str]] = defaultdict(set)
    for mod, path in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        # module-level imports only: a function-level import is a deliberate lazy edge
        for node in tree.body:
            targets = []
            if isinstance(node, ast.ImportFrom):
                t = _resolve(mod, path, node)
                targets = [t] + [f"{t}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            for t in targets:
                if t in mods and t != mod and not mod.startswith(t + "."):
                    graph[mod].add(t)
    # cycles among non-package modules (a package __init__ re-exporting its children is fine)
    leaves = {m for m, p in mods.items() if p.name != "__init__.py"}
    seen, stack, cycles = set(), [], []

    def visit(m):
        if m in stack:
            cycles.append(stack[stack.index(m) :] + [m])
            return
        if m in seen:
            return
        seen.add(m)
        stack.append(m)
        for n in graph.get(m, ()):
            if n in leaves:
                visit(n)
        stack.pop()

    for m in sorted(leaves):
        visit(m)
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)
