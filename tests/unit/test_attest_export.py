"""The lock exported for other tools: pylock.toml installed by uv, requirements.txt installed by
pip in hash-checking mode, both from the machine's package index, into fresh venvs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import tomllib
from jc_support import dev_uv, installed_versions, lock_without_files, skip_or_fail

from jupyter_containerize.core.attest.errors import AttestInputError, ExportFormatError
from jupyter_containerize.core.attest.export import (
    EXPORT_FORMATS,
    export_filename,
    export_lock,
    to_pylock,
    to_requirements,
)

ROOT = Path(__file__).resolve().parents[2]
# small pure-Python distributions without requirements: the lock is their whole closure
PINS = {"six": "1.17.0", "idna": "3.10", "iniconfig": "2.0.0"}


def _index_url() -> str:
    """The index pip is configured with (PIP_INDEX_URL, then `pip config`), else PyPI's."""
    if os.environ.get("PIP_INDEX_URL"):
        return os.environ["PIP_INDEX_URL"].rstrip("/")
    done = subprocess.run([sys.executable, "-m", "pip", "config", "list"],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    for line in done.stdout.splitlines():
        key, _, value = line.partition("=")
        if key.endswith(".index-url") and not key.endswith("extra-index-url"):
            return value.strip("'\"").rstrip("/")
    return "https://pypi.org/simple"


def _files(index: str, name: str, version: str) -> list[dict[str, str]]:
    """The files of name==version as the index's JSON simple API (PEP 691) lists them."""
    request = urllib.request.Request(
        f"{index}/{name}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            listing = json.load(answer)
    except OSError as exc:
        skip_or_fail(f"the package index {index} cannot be reached: {exc}")
    out = []
    for entry in listing["files"]:
        filename = entry["filename"]
        if filename.startswith(f"{name}-{version}-") or filename == f"{name}-{version}.tar.gz":
            out.append({"name": filename, "sha256": entry["hashes"]["sha256"],
                        "url": entry["url"], "index": index})  # fmt: skip
    assert out, f"{index} lists no file of {name} {version}"
    return out


@pytest.fixture(scope="module")
def hashed_lock() -> dict[str, Any]:
    index = _index_url()
    packages = [
        {"name": name, "version": version, "source": "index",
         "requirement": f"{name}=={version}", "imported_as": [],
         "files": _files(index, name, version)}
        for name, version in PINS.items()
    ]  # fmt: skip
    return {
        "lock_version": 1, "mode": "full", "platform": "linux/amd64",
        "python": {"version": ".".join(map(str, sys.version_info[:3])),
                   "implementation": "cpython", "system": "Linux", "machine": "x86_64"},
        "packages": packages, "imported": [], "warnings": [], "mapped": [], "added": [],
    }  # fmt: skip


def _fresh_venv(folder: Path, with_pip: bool) -> Path:
    args = [sys.executable, "-m", "venv", str(folder)] + ([] if with_pip else ["--without-pip"])
    subprocess.run(args, check=True, capture_output=True, timeout=300)
    return folder / "bin" / "python"


def test_pylock_installs_with_uv(hashed_lock: dict[str, Any], tmp_path: Path) -> None:
    uv = dev_uv()
    text = to_pylock(hashed_lock)
    parsed = tomllib.loads(text)
    assert parsed["lock-version"] == "1.0"
    assert parsed["created-by"] == "jupyter-containerize"
    assert parsed["requires-python"] == f"=={sys.version_info[0]}.{sys.version_info[1]}.*"
    by_name = {p["name"]: p for p in parsed["packages"]}
    assert {k: v["version"] for k, v in by_name.items()} == PINS
    wheel = by_name["six"]["wheels"][0]
    assert wheel["hashes"]["sha256"] == next(
        f["sha256"] for f in hashed_lock["packages"][0]["files"] if f["name"] == wheel["name"]
    )
    pylock = tmp_path / "pylock.toml"
    pylock.write_text(text)
    python = _fresh_venv(tmp_path / "venv", with_pip=False)
    done = subprocess.run(
        [uv, "pip", "install", "--python", str(python), "-r", str(pylock)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert installed_versions(python) == PINS


def test_requirements_install_with_pip_checking_hashes(
    hashed_lock: dict[str, Any], tmp_path: Path
) -> None:
    text = to_requirements(hashed_lock)
    assert "six==1.17.0 \\\n    --hash=sha256:" in text
    assert text.count("--hash=sha256:") == sum(len(p["files"]) for p in hashed_lock["packages"])
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(text)
    python = _fresh_venv(tmp_path / "venv", with_pip=True)
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "--require-hashes", "--no-deps", "-r",
         str(requirements)], capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    installed = installed_versions(python)
    assert {k: installed[k] for k in PINS} == PINS


@pytest.mark.hostile
def test_tampered_hash_is_refused_by_pip(hashed_lock: dict[str, Any], tmp_path: Path) -> None:
    """A hash that does not match the index's file: pip installs nothing."""
    lock = json.loads(json.dumps(hashed_lock))
    for entry in lock["packages"][0]["files"]:
        entry["sha256"] = "0" * 64
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(to_requirements(lock))
    python = _fresh_venv(tmp_path / "venv", with_pip=True)
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "--no-deps", "-r", str(requirements)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode != 0
    assert "DO NOT MATCH THE HASHES" in done.stderr
    assert "six" not in installed_versions(python)


@pytest.mark.hostile
def test_tampered_hash_is_refused_by_uv(hashed_lock: dict[str, Any], tmp_path: Path) -> None:
    uv = dev_uv()
    lock = json.loads(json.dumps(hashed_lock))
    for entry in lock["packages"][1]["files"]:
        entry["sha256"] = "f" * 64
    pylock = tmp_path / "pylock.toml"
    pylock.write_text(to_pylock(lock))
    python = _fresh_venv(tmp_path / "venv", with_pip=False)
    done = subprocess.run(
        [uv, "pip", "install", "--python", str(python), "-r", str(pylock)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode != 0
    assert "hash" in done.stderr.lower()
    assert "idna" not in installed_versions(python)


def test_exports_are_deterministic_and_cyclonedx_is_the_sbom(hashed_lock: dict[str, Any]) -> None:
    for fmt in EXPORT_FORMATS:
        assert export_lock(hashed_lock, fmt) == export_lock(hashed_lock, fmt)
    doc = json.loads(export_lock(hashed_lock, "cyclonedx"))
    assert doc["bomFormat"] == "CycloneDX"
    assert {c["purl"] for c in doc["components"] if c.get("purl", "").startswith("pkg:pypi/")} \
        == {f"pkg:pypi/{n}@{v}" for n, v in PINS.items()}
    assert export_filename("pylock", "my notebook") == "pylock.my-notebook.toml"
    assert export_filename("requirements", "clf") == "clf.requirements.hashes.txt"


EXAMPLE_LOCK = ROOT / "examples/classifier/classifier.lock.json"


def test_lock_without_files_exports_plain_pins() -> None:
    lock = lock_without_files(json.loads(EXAMPLE_LOCK.read_text()))
    text = to_requirements(lock)
    assert "--hash" not in text
    assert "# this lock records no file hashes" in text
    assert "pandas==2.3.3\n" in text


def test_pylock_of_vcs_and_local_projects() -> None:
    lock = {
        "python": {"version": "3.11.7"}, "platform": "linux/arm64", "packages": [
            {"name": "Tool_Kit", "version": "1.0", "source": "vcs",
             "requirement": "Tool_Kit @ git+https://example.org/tk.git@" + "a" * 40},
            {"name": "helpers", "version": "0.1", "source": "editable",
             "requirement": {"path": "lib/helpers"}},
        ],
    }  # fmt: skip
    parsed = tomllib.loads(to_pylock(lock))
    assert parsed["environments"] == ["sys_platform == 'linux' and platform_machine == 'aarch64'"]
    helpers, toolkit = parsed["packages"]
    assert helpers["directory"] == {"path": "lib/helpers", "editable": True}
    assert toolkit["name"] == "tool-kit"
    assert toolkit["vcs"] == {"type": "git", "url": "https://example.org/tk.git",
                              "commit-id": "a" * 40}  # fmt: skip


@pytest.mark.hostile
def test_unknown_export_format_lists_the_known_ones() -> None:
    with pytest.raises(ExportFormatError) as caught:
        export_lock({"packages": []}, "spdx")
    assert caught.value.one_line() == (
        "export format 'spdx' is not one of pylock, requirements, cyclonedx "
        "(pass one of: pylock, requirements, cyclonedx)"
    )
    with pytest.raises(ExportFormatError) as caught:
        export_filename("toml", "clf")
    assert caught.value.message.startswith("export format 'toml' is not one of pylock")


@pytest.mark.hostile
def test_pylock_refuses_a_lock_without_files() -> None:
    lock = lock_without_files(json.loads(EXAMPLE_LOCK.read_text()))
    with pytest.raises(ExportFormatError) as caught:
        to_pylock(lock)
    line = caught.value.one_line()
    assert line.startswith(f"{len(lock['packages'])} package(s) have no recorded files with URLs")
    assert "freeze the notebook again" in line and "\n" not in line


@pytest.mark.hostile
def test_requirements_refuses_partly_hashed_lock(hashed_lock: dict[str, Any]) -> None:
    lock = json.loads(json.dumps(hashed_lock))
    del lock["packages"][2]["files"]
    with pytest.raises(ExportFormatError) as caught:
        to_requirements(lock)
    assert caught.value.message == (
        "1 package(s) have no recorded file hashes (iniconfig 2.0.0), "
        "and pip checks the hashes of all packages or of none"
    )


@pytest.mark.hostile
@pytest.mark.parametrize("files, message", [
    ("not a list", "the files of six 1.17.0 in the lock are not a list"),
    ([{"sha256": "a" * 64}], "a file of six 1.17.0 in the lock has no name"),
    ([{"name": "../../evil.whl", "sha256": "a" * 64}],
     "file '../../evil.whl' of six 1.17.0 is not a file name"),
    ([{"name": "six.whl", "sha256": "xyz"}],
     "file six.whl of six 1.17.0 has no valid sha256 in the lock"),
    ([{"name": "six.whl", "sha256": "a" * 64, "url": "https://x/y\n--index-url http://evil"}],
     "the url of file six.whl of six 1.17.0 holds spaces or control characters"),
])  # fmt: skip
def test_damaged_files_in_the_lock(files: object, message: str) -> None:
    lock = {"python": {"version": "3.11.7"}, "packages": [
        {"name": "six", "version": "1.17.0", "source": "index", "files": files}]}  # fmt: skip
    for fmt in EXPORT_FORMATS:
        with pytest.raises(AttestInputError) as caught:
            export_lock(lock, fmt)
        assert caught.value.message == message
        assert caught.value.hint


@pytest.mark.hostile
def test_toml_strings_are_escaped() -> None:
    """A name with quotes, a backslash and a DEL cannot break out of its TOML string."""
    lock = {"python": {"version": "3.11.7"}, "packages": [
        {"name": 'x"\\\x7f', "version": "1", "source": "editable",
         "requirement": {"path": 'a"]\nlock-version = "9'}}]}  # fmt: skip
    parsed = tomllib.loads(to_pylock(lock))
    assert parsed["lock-version"] == "1.0"
    assert parsed["packages"][0]["directory"]["path"] == 'a"]\nlock-version = "9'
