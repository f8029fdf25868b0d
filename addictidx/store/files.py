"""Files the tool writes: atomic replacement, owner-only modes and overwrite-then-unlink removal.

Every file addictidx writes (store files, reports, exports) goes through :func:`write_atomic`:
the bytes go to a temporary file in the same folder (mode 0600), are ``fsync``-ed, then renamed
over the target and the folder is ``fsync``-ed, so a crash or a kill leaves either the old file or
the new one, never a half-written one. Folders the tool creates are 0700 (:func:`private_dir`).
"""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path

__all__ = [
    "FILE_MODE",
    "DIR_MODE",
    "write_atomic",
    "private_dir",
    "restrict_tree",
    "fsync_dir",
    "remove_file",
    "remove_tree",
    "safe_name",
]

#: Mode of every file the tool writes (owner read/write only).
FILE_MODE = 0o600
#: Mode of every folder the tool creates (owner only).
DIR_MODE = 0o700


def private_dir(path: str | Path) -> Path:
    """Create ``path`` (and missing parents) as owner-only folders; tighten it if it exists and
    was created by the tool with a wider mode. Returns the path."""
    path = Path(path)
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    for d in missing:
        _chmod(d, DIR_MODE)
    return path


def write_atomic(path: str | Path, data: bytes | str, *, mode: int = FILE_MODE) -> Path:
    """Replace ``path`` by ``data`` atomically (temporary file, ``fsync``, rename, folder
    ``fsync``); the file gets ``mode`` (default owner-only). Returns the path."""
    path = Path(path)
    if isinstance(data, str):
        data = data.encode()
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with open(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        _chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise
    fsync_dir(path.parent)
    return path


def restrict_tree(root: str | Path) -> None:
    """Make every file under ``root`` owner-only (0600, fsync-ed) and every folder 0700, e.g.
    a staged export before it is moved into place."""
    root = Path(root)
    for p in sorted(root.rglob("*")):
        if p.is_symlink():
            continue
        if p.is_dir():
            _chmod(p, DIR_MODE)
        else:
            _chmod(p, FILE_MODE)
            try:
                with open(p, "rb+") as f:
                    os.fsync(f.fileno())
            except OSError:  # pragma: no cover
                pass
    _chmod(root, DIR_MODE)


def fsync_dir(path: str | Path) -> None:
    """``fsync`` a folder so a rename inside it survives a power cut (no-op where unsupported)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def remove_file(p: str | Path) -> bool:
    """Overwrite a file with zeros, then unlink it (best effort on SSDs/CoW file systems);
    True if a file was removed."""
    p = Path(p)
    if p.is_symlink():
        p.unlink()
        return True
    try:
        n = p.stat().st_size
        with open(p, "r+b", buffering=0) as f:
            f.write(b"\0" * n)
            os.fsync(f.fileno())
    except OSError:
        pass
    try:
        p.unlink()
    except FileNotFoundError:
        return False
    return True


def remove_tree(d: str | Path) -> int:
    """Remove a folder with :func:`remove_file` on every file; return the number of files."""
    d = Path(d)
    n = 0
    for p in sorted(d.rglob("*"), reverse=True):
        if p.is_file() or p.is_symlink():
            n += remove_file(p)
    shutil.rmtree(d, ignore_errors=True)
    return n


def safe_name(code: str) -> str:
    """A subject code as used in export and report file names."""
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in code)


def _chmod(p: Path, mode: int) -> None:
    try:
        os.chmod(p, mode)
    except OSError:  # pragma: no cover - e.g. another user's folder
        pass
