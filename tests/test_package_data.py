"""``package_files`` (``_core/package_data.py``) finds a package's files as
``importlib.resources.files`` does, without importing it for packages on disk (issue 16.4)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from importlib import resources

import pytest

from addictidx._core.package_data import package_files


@pytest.mark.parametrize("package", ["addictidx.models", "addictidx.data", "addictidx", "json"])
def test_regular_packages_give_what_importlib_resources_gives(package):
    got = package_files(package)
    assert type(got) is type(resources.files(package))
    assert got == resources.files(package)


def test_zipped_package_goes_to_importlib_resources(tmp_path, monkeypatch):
    archive = tmp_path / "pkgs.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("zpkg_rescore/__init__.py", "")
        z.writestr("zpkg_rescore/data.txt", "zipped 42")
    monkeypatch.syspath_prepend(str(archive))
    got = package_files("zpkg_rescore")
    assert got.joinpath("data.txt").read_text() == "zipped 42"
    assert sorted(e.name for e in got.iterdir()) == ["__init__.py", "data.txt"]


def test_missing_package_raises_like_importlib_resources():
    with pytest.raises(ModuleNotFoundError):
        package_files("addictidx.no_such_package")
    with pytest.raises(ModuleNotFoundError):
        resources.files("addictidx.no_such_package")


def _run_python(code: str) -> subprocess.CompletedProcess:
    """``code`` in a fresh interpreter (what a command's start imports)."""
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )


def test_one_file_rescore_start_does_not_import_importlib_resources():
    code = (
        "import sys\n"
        "from addictidx.readers import limits_from_profiles, bundled_muse_eeg\n"
        "from addictidx.models import population_baseline\n"
        "from addictidx.models.index_graph import model_bytes\n"
        "limits_from_profiles(); model_bytes(); population_baseline(); bundled_muse_eeg()\n"
        "print('importlib.resources' in sys.modules)\n"
    )
    out = _run_python(code)
    assert out.stdout.strip() == "False", out.stderr


def test_missing_package_does_not_import_importlib_resources():
    # A source checkout run without installing has no ``addictidx.firmware_profiles`` (it is
    # mapped at install time): the profile loader asks for it, gets ModuleNotFoundError and
    # reads the top-level folder. That miss must not import importlib.resources either (the
    # CI run of the one-file rescore test in a fresh clone caught it).
    code = (
        "import sys\n"
        "from addictidx._core.package_data import package_files\n"
        "try:\n"
        "    package_files('addictidx.no_such_package')\n"
        "except ModuleNotFoundError as e:\n"
        "    print(e.name)\n"
        "print('importlib.resources' in sys.modules)\n"
    )
    out = _run_python(code)
    assert out.stdout.split() == ["addictidx.no_such_package", "False"], out.stderr
