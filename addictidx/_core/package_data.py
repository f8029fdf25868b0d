"""Files shipped inside a package (model, norms, device profiles, bundled recordings).

:func:`package_files` is ``importlib.resources.files(package)`` without importing
``importlib.resources`` when the package is a regular package on disk, as an installed wheel or
a source checkout is: ``importlib.resources`` imports ``tempfile``, ``shutil``, ``zipfile``,
``lzma``, ``bz2`` and ``random`` on the way, ~8 ms of CPU at every start of a command that reads
a packaged file (``rescore`` reads four of them; issue 16.4). For such a package
``importlib.resources.files`` itself returns the package directory as a :class:`pathlib.Path`,
so the result is the same object type either way; anything else (a zip import, a namespace
package, a custom loader) goes to ``importlib.resources``.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

__all__ = ["package_files"]


def package_files(package: str):
    """The files of ``package``, as :func:`importlib.resources.files` gives them.

    Parameters
    ----------
    package : str
        Dotted name of a package holding data files (e.g. ``"addictidx.models"``).

    Returns
    -------
    root : pathlib.Path | importlib.resources.abc.Traversable
        The package directory when the package is a regular package on disk, else
        ``importlib.resources.files(package)``.

    Raises
    ------
    ModuleNotFoundError
        No such package (as ``importlib.resources.files`` raises).
    """
    spec = importlib.util.find_spec(package)
    if spec is None:  # what importlib.resources.files raises, without importing it
        raise ModuleNotFoundError(f"No module named {package!r}", name=package)
    origin = getattr(spec, "origin", None)
    locations = list(getattr(spec, "submodule_search_locations", None) or ())
    if (
        origin
        and os.path.basename(origin) == "__init__.py"
        and len(locations) == 1
        and os.path.dirname(origin) == locations[0]
        and os.path.isfile(origin)
    ):
        return Path(locations[0])
    from importlib import resources

    return resources.files(package)
