"""`freeze --export`: the lock of a real kernel venv written as pylock.toml and a hashed
requirements.txt, installed by uv and by pip (checking hashes) into fresh venvs, giving the
lock's versions from the lock's files; a tampered hash stops the image build."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import tomllib
from helpers import assert_one_line_error, cli, notebook
from jc_support import dev_uv, installed_versions, skip_or_fail

from jupyter_containerize.core import api
from jupyter_containerize.core.attest.errors import ExportFormatError
from jupyter_containerize.core.config import ContainerizeConfig

PINS = {"six": "1.17.0", "idna": "3.10", "iniconfig": "2.0.0"}
KNOWN = "pylock, requirements, cyclonedx"
# pip as a user with no configuration of this machine's: PyPI only
PIP_ENV = {**os.environ, "PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


@pytest.fixture(scope="module")
def frozen(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A kernel venv with ipykernel and three pure-Python packages, its notebook frozen with
    `--export pylock` and `--export requirements` by the CLI."""
    root = tmp_path_factory.mktemp("export")
    uv = dev_uv()
    venv = root / "venv"
    subprocess.run([uv, "venv", "--python", sys.executable, str(venv)], check=True,
                   capture_output=True, timeout=300)  # fmt: skip
    done = subprocess.run(
        [uv, "pip", "install", "--python", str(venv / "bin" / "python"), "ipykernel",
         *(f"{k}=={v}" for k, v in PINS.items())],
        capture_output=True, text=True, timeout=600, env={**os.environ, "UV_NO_CONFIG": "1"},
    )  # fmt: skip
    if done.returncode != 0:
        skip_or_fail(f"the kernel venv cannot be made: {done.stderr[-300:]}")
    nb = notebook(root / "project" / "report.ipynb", "import six, idna, iniconfig")
    python = str(venv / "bin" / "python")
    out = {}
    for fmt in ("pylock", "requirements"):
        proc = cli("freeze", str(nb), "--python", python, "--export", fmt)
        assert proc.returncode == 0, proc.stderr
        lines = proc.stdout.splitlines()
        assert lines[0] == str(nb.with_name("report.lock.json"))
        out[fmt] = Path(lines[-1])
        assert out[fmt].parent == nb.parent and out[fmt].is_file()
    lock = json.loads(nb.with_name("report.lock.json").read_text())
    return {"root": root, "notebook": nb, "python": python, "lock": lock, **out}


def _locked(lock: dict[str, Any]) -> dict[str, str]:
    return {p["name"].lower().replace("_", "-"): p["version"] for p in lock["packages"]}


def _lock_files(lock: dict[str, Any]) -> dict[str, str]:
    return {f["name"]: f["sha256"] for p in lock["packages"] for f in p["files"]}


def _venv(folder: Path, with_pip: bool) -> Path:
    args = [sys.executable, "-m", "venv", str(folder)] + ([] if with_pip else ["--without-pip"])
    subprocess.run(args, check=True, capture_output=True, timeout=300)
    return folder / "bin" / "python"


def test_the_exports_carry_the_locks_files(frozen: dict[str, Any]) -> None:
    lock = frozen["lock"]
    assert frozen["pylock"].name == "pylock.report.toml"
    assert frozen["requirements"].name == "report.requirements.hashes.txt"
    pylock = tomllib.loads(frozen["pylock"].read_text())
    in_pylock = {w["name"]: w["hashes"]["sha256"]
                 for p in pylock["packages"] for w in p.get("wheels", [])}  # fmt: skip
    in_pylock.update({p["sdist"]["name"]: p["sdist"]["hashes"]["sha256"]
                      for p in pylock["packages"] if "sdist" in p})  # fmt: skip
    assert in_pylock == _lock_files(lock)
    text = frozen["requirements"].read_text()
    assert sorted(h for line in text.splitlines() if "--hash=sha256:" in line
                  for h in [line.split("sha256:")[1].strip(" \\")]) == \
        sorted(_lock_files(lock).values())  # fmt: skip


def test_pylock_installs_with_uv_the_locks_versions(frozen: dict[str, Any], tmp_path: Path) -> None:
    python = _venv(tmp_path / "venv", with_pip=False)
    done = subprocess.run(
        [dev_uv(), "pip", "install", "--python", str(python), "-r", str(frozen["pylock"])],
        capture_output=True, text=True, timeout=900, env={**os.environ, "UV_NO_CONFIG": "1"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert installed_versions(python) == _locked(frozen["lock"])


def test_requirements_install_with_pip_checking_every_hash(
    frozen: dict[str, Any], tmp_path: Path
) -> None:
    python = _venv(tmp_path / "venv", with_pip=True)
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "--require-hashes", "--no-deps", "-r",
         str(frozen["requirements"])], capture_output=True, text=True, timeout=900, env=PIP_ENV,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    installed = installed_versions(python)
    assert {k: installed[k] for k in _locked(frozen["lock"])} == _locked(frozen["lock"])
    # the files pip takes for those pins are the lock's, byte for byte
    dest = tmp_path / "files"
    done = subprocess.run(
        [str(python), "-m", "pip", "download", "--require-hashes", "--no-deps", "-d", str(dest),
         "-r", str(frozen["requirements"])], capture_output=True, text=True, timeout=900,
        env=PIP_ENV,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    got = {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in dest.iterdir()}
    assert got == _lock_files(frozen["lock"])


@pytest.mark.hostile
def test_unknown_export_format_is_one_line_naming_the_known_ones(
    frozen: dict[str, Any], tmp_path: Path
) -> None:
    nb = notebook(tmp_path / "other.ipynb", "import six")
    proc = cli("freeze", str(nb), "--python", frozen["python"], "--export", "spdx")
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if "error:" in line]
    assert errors == ["jupyter containerize freeze: error: argument --export: invalid choice: "
                      "'spdx' (choose from 'pylock', 'requirements', 'cyclonedx')"]  # fmt: skip
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    with pytest.raises(ExportFormatError) as caught:  # the API, as a server or the magic calls it
        api.freeze(nb, python=frozen["python"], export="spdx", config=ContainerizeConfig())
    assert caught.value.one_line() == (f"export format 'spdx' is not one of {KNOWN} "
                                       f"(pass one of: {KNOWN})")  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.ipynb"]  # nothing written


@pytest.mark.engine
@pytest.mark.hostile
def test_a_tampered_hash_in_the_lock_stops_the_build_naming_the_distribution(
    frozen: dict[str, Any], tmp_path: Path, docker_client: object
) -> None:
    project = tmp_path / "project"
    shutil.copytree(frozen["notebook"].parent, project)
    lock_file = project / "report.lock.json"
    lock = json.loads(lock_file.read_text())
    six = next(p for p in lock["packages"] if p["name"].lower() == "six")
    six["files"][0]["sha256"] = "0" * 64
    lock_file.write_text(json.dumps(lock, indent=2, sort_keys=True) + "\n")
    before = lock_file.read_bytes()
    # a store of its own: six is downloaded again, not taken from an earlier build's store
    env = {"JUPYTER_CONTAINERIZE_CACHE_DIR": str(tmp_path / "cache")}
    proc = cli("build", str(project / "report.ipynb"), "--locked", env=env)
    assert_one_line_error(proc, "six==1.17.0", "not the one the lock records",
                          "freeze the notebook again")  # fmt: skip
    assert lock_file.read_bytes() == before
    assert not list((tmp_path / "cache").glob("dists/*/six-1.17.0"))
