"""The lock records the file each index package installs and its sha256; freeze adds them to
a lock without them, keeps them for unchanged pins, and image installs check them."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import nbformat
import pytest
from jc_support import dev_uv, lock_without_files, skip_or_fail

from jupyter_containerize.core import api, options
from jupyter_containerize.core.config import ContainerizeConfig
from jupyter_containerize.core.errors import InstallError
from jupyter_containerize.core.image import installer

ROOT = Path(__file__).resolve().parents[2]
PINS = {"six": "1.17.0", "idna": "3.10", "iniconfig": "2.0.0"}
PYPI = "https://pypi.org/simple"
UNREACHABLE = "http://127.0.0.1:9/simple"


def _index_files(name: str) -> dict[str, str]:
    """File name -> sha256 of every file of ``name`` the index's JSON API (PEP 691) lists."""
    request = urllib.request.Request(
        f"{PYPI}/{name}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            listing = json.load(answer)
    except OSError as exc:
        skip_or_fail(f"the package index cannot be reached: {exc}")
    return {f["filename"]: f["hashes"]["sha256"] for f in listing["files"]}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A kernel's venv (ipykernel, so freeze adds nothing) with three pure-Python packages
    from the index and a notebook that uses them, frozen once: the lock records the files."""
    root = tmp_path_factory.mktemp("hashes")
    uv = dev_uv()
    venv = root / "venv"
    subprocess.run([uv, "venv", "--python", sys.executable, str(venv)], check=True,
                   capture_output=True, timeout=300)  # fmt: skip
    done = subprocess.run(
        [uv, "pip", "install", "--python", str(venv / "bin" / "python"),
         "ipykernel", *(f"{k}=={v}" for k, v in PINS.items())],
        capture_output=True, text=True, timeout=600, env={**os.environ, "UV_NO_CONFIG": "1"},
    )  # fmt: skip
    if done.returncode != 0:
        skip_or_fail(f"the test venv cannot be made: {done.stderr[-300:]}")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import six, idna, iniconfig")]
    path = root / "analysis.ipynb"
    nbformat.write(nb, path)
    python = str(venv / "bin" / "python")
    lock_file = api.freeze(path, python=python, config=ContainerizeConfig())
    return {"notebook": path, "python": python, "lock_file": lock_file,
            "lock": json.loads(lock_file.read_text())}  # fmt: skip


def test_freeze_records_the_file_each_index_package_installs(project: dict[str, Any]) -> None:
    lock = project["lock"]
    assert lock["warnings"] == []
    packages = {p["name"].lower(): p for p in lock["packages"]}
    assert {k: packages[k]["version"] for k in PINS} == PINS
    for package in lock["packages"]:
        assert package["source"] == "index", package
        (entry,) = package["files"]  # one file: the one the image installs
        assert entry["index"] == PYPI
        assert entry["url"].endswith("/" + entry["name"])
        listed = _index_files(package["name"])
        assert listed[entry["name"]] == entry["sha256"], package["name"]
    for name in PINS:  # pure Python: the universal wheel, not the sdist
        assert packages[name]["files"][0]["name"].endswith("-py3-none-any.whl") or \
            packages[name]["files"][0]["name"].endswith("-py2.py3-none-any.whl")
    six = packages["six"]["files"][0]
    with urllib.request.urlopen(six["url"], timeout=60) as answer:
        assert hashlib.sha256(answer.read()).hexdigest() == six["sha256"]


def test_freeze_adds_hashes_to_a_lock_without_them_and_changes_nothing_else(
    project: dict[str, Any],
) -> None:
    lock_file: Path = project["lock_file"]
    before = project["lock"]
    lock_file.write_text(json.dumps(lock_without_files(before), indent=2, sort_keys=True) + "\n")
    api.freeze(project["notebook"], python=project["python"], config=ContainerizeConfig())
    after = json.loads(lock_file.read_text())
    assert after == before
    assert lock_without_files(after) == lock_without_files(before)


def test_an_unchanged_pin_keeps_its_files_without_asking_the_index(
    project: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With only an unreachable index configured, freeze still writes the same lock: the
    recorded files of unchanged pins are kept, nothing is looked up."""
    monkeypatch.setenv("UV_HTTP_RETRIES", "0")
    lock_file: Path = project["lock_file"]
    before = lock_file.read_bytes()
    api.freeze(project["notebook"], python=project["python"],
               config=ContainerizeConfig(index_url=UNREACHABLE))  # fmt: skip
    assert lock_file.read_bytes() == before


@pytest.mark.hostile
def test_unreachable_index_leaves_the_lock_unhashed_with_a_warning(
    project: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UV_HTTP_RETRIES", "0")
    nb = tmp_path / "analysis.ipynb"
    shutil.copy(project["notebook"], nb)
    lock_file = tmp_path / "analysis.lock.json"
    lock_file.write_text(json.dumps(lock_without_files(project["lock"]), indent=2) + "\n")
    api.freeze(nb, python=project["python"], config=ContainerizeConfig(index_url=UNREACHABLE))
    lock = json.loads(lock_file.read_text())
    assert not any(p.get("files") for p in lock["packages"])
    (warning,) = lock["warnings"]
    assert warning.startswith(f"file hashes were not recorded for {len(lock['packages'])} ")
    assert warning.endswith("freeze again with the package index reachable")
    assert "\n" not in warning
    assert lock_without_files(lock) == {**lock_without_files(project["lock"]),
                                        "warnings": [warning]}


def _ensure(pins: dict[str, str], hashes: dict[str, list[str]] | None) -> dict[str, Path]:
    reqs = {installer.dist_key(k, v, f"{k}=={v}"): f"{k}=={v}" for k, v in pins.items()}
    minor = f"{sys.version_info[0]}.{sys.version_info[1]}"
    installer.use_index("")  # the host's index, whatever an earlier freeze configured
    return installer.ensure(reqs, minor, options.DEFAULT_PLATFORM, None, no_cache=True,
                            hashes=hashes)  # fmt: skip


def test_image_installs_check_the_recorded_hashes_and_keep_the_store_keys(
    project: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JUPYTER_CONTAINERIZE_CACHE_DIR", str(tmp_path / "cache"))
    hashes = installer.lock_hashes(project["lock"])
    assert {f"{k}=={v}" for k, v in PINS.items()} <= set(hashes)
    folders = _ensure(PINS, hashes)
    assert sorted(f.name for f in folders.values()) == sorted(f"{k}-{v}" for k, v in PINS.items())
    assert all(f.is_dir() for f in folders.values())
    # a lock without files: no hashes, the same requirement lines as before
    assert installer.lock_hashes(lock_without_files(project["lock"])) == {}


@pytest.mark.hostile
def test_a_changed_file_on_the_index_stops_the_install_naming_it(
    project: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JUPYTER_CONTAINERIZE_CACHE_DIR", str(tmp_path / "cache"))
    hashes = installer.lock_hashes(project["lock"])
    hashes["six==1.17.0"] = ["0" * 64]
    with pytest.raises(InstallError) as caught:
        _ensure(PINS, hashes)
    error = caught.value
    assert error.message == ("the index's file of six==1.17.0 is not the one the lock records "
                             "(its sha256 differs)")  # fmt: skip
    assert error.hint is not None and "freeze the notebook again" in error.hint
    assert "\n" not in error.message
    assert not list((tmp_path / "cache" / "dists").glob("*/six-1.17.0"))  # nothing stored

