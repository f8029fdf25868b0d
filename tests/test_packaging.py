"""The wheel's package list matches the source tree, and the version is written once."""

from __future__ import annotations

import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_in_the_tree_is_shipped():
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(cfg["packages"])
    found = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "addictidx").rglob("__init__.py")
        if "__pycache__" not in p.parts
    }
    found.add("addictidx.firmware_profiles")
    assert found == listed, (
        f"pyproject [tool.setuptools] packages differs from the tree: "
        f"missing {sorted(found - listed)}, stale {sorted(listed - found)}"
    )


def test_version_is_single_sourced():
    text = (ROOT / "pyproject.toml").read_text()
    project = tomllib.loads(text)["project"]
    assert "version" not in project and "version" in project["dynamic"]
    init = (ROOT / "addictidx" / "__init__.py").read_text()
    assert len(re.findall(r"^__version__ = ", init, flags=re.M)) == 1
    assert (ROOT / "addictidx" / "py.typed").exists()
