"""Unit tests of core/localproject.py: what a local project's source is, its digest, and a
wheel built out of the user's tree (real uv builds, no engine)."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest
from jc_support import LOCAL_PYPROJECT

from jupyter_containerize.core.env import localproject as lp
from jupyter_containerize.core.errors import BuildError


def _project(root: Path) -> Path:
    (root / "teamhelpers" / "build").mkdir(parents=True)
    (root / "pyproject.toml").write_text(LOCAL_PYPROJECT)
    (root / "teamhelpers" / "__init__.py").write_text("def greet():\n    return 'hello'\n")
    # a subpackage named like a build folder is source, not an artifact
    (root / "teamhelpers" / "build" / "__init__.py").write_text("STEPS = 3\n")
    return root


def _snapshot(root: Path) -> dict[str, tuple[str, int]]:
    """Every file under root: content digest and modification time."""
    return {
        p.relative_to(root).as_posix(): (hashlib.sha256(p.read_bytes()).hexdigest(),
                                         p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*")) if p.is_file()
    } | {p.relative_to(root).as_posix() + "/": ("", 0) for p in root.rglob("*") if p.is_dir()}


def _add_artifacts(root: Path) -> None:
    files = {
        "build/lib/teamhelpers/__init__.py": "stale",
        "build/bdist.linux-x86_64/x": "",
        "dist/teamhelpers-0.3.1-py3-none-any.whl": "zip",
        "teamhelpers.egg-info/PKG-INFO": "Name: teamhelpers",
        "teamhelpers/__pycache__/__init__.cpython-311.pyc": "bytecode",
        "teamhelpers/stray.pyc": "bytecode",
        ".git/HEAD": "ref: refs/heads/main",
        ".ipynb_checkpoints/notes-checkpoint.ipynb": "{}",
        ".venv/bin/python": "",
        "env/pyvenv.cfg": "home = /usr/bin",
        "env/lib/site.py": "",
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def test_source_files_leave_out_build_artifacts_caches_and_environments(tmp_path: Path) -> None:
    root = _project(tmp_path / "src")
    _add_artifacts(root)
    assert lp.source_files(root) == [
        "pyproject.toml", "teamhelpers/__init__.py", "teamhelpers/build/__init__.py"]


def test_source_digest_ignores_artifacts_and_changes_with_content(tmp_path: Path) -> None:
    root = _project(tmp_path / "src")
    first = lp.source_digest(root)
    assert first == lp.source_digest(_project(tmp_path / "elsewhere")), "the path is no input"
    _add_artifacts(root)
    assert lp.source_digest(root) == first
    (root / "teamhelpers" / "__init__.py").write_text("def greet():\n    return 'hello again'\n")
    edited = lp.source_digest(root)
    assert edited != first
    (root / "teamhelpers" / "util.py").write_text("")
    assert lp.source_digest(root) not in (first, edited), "a new (even empty) file counts"
    (root / "teamhelpers" / "util.py").rename(root / "teamhelpers" / "tools.py")
    renamed = lp.source_digest(root)
    (root / "teamhelpers" / "build" / "__init__.py").write_text("STEPS = 4\n")
    assert lp.source_digest(root) != renamed, "a subpackage named build is source"


def test_a_project_in_the_notebooks_folder_ignores_the_notebook_and_its_lock(
        tmp_path: Path) -> None:
    root = _project(tmp_path / "repo")
    (root / "notebooks").mkdir()
    first = lp.source_digest(root)
    for folder in (root, root / "notebooks"):
        (folder / "analysis.ipynb").write_text('{"cells": []}')
        (folder / "analysis.lock.json").write_text("{}")
        assert lp.source_digest(root) == first
        (folder / "analysis.ipynb").write_text('{"cells": [1]}')
        assert lp.source_digest(root) == first
    (root / "settings.lock.json").write_text("{}")  # no notebook of that name: a source file
    assert lp.source_digest(root) != first


def test_a_wheel_is_built_out_of_tree_then_reused_and_is_deterministic(tmp_path: Path) -> None:
    root = _project(tmp_path / "src")
    _add_artifacts(root)
    before = _snapshot(root)
    wheel = lp.wheel_for("teamhelpers", root, tmp_path / "cache")
    assert _snapshot(root) == before, "the build wrote into the user's folder"
    assert wheel.path.name == "teamhelpers-0.3.1-py3-none-any.whl"
    assert wheel.source_sha256 == lp.source_digest(root)
    with zipfile.ZipFile(wheel.path) as z:
        names = z.namelist()
        assert {i.date_time for i in z.infolist()} == {lp.ZIP_TIME}
    assert "teamhelpers/build/__init__.py" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    stamp = wheel.path.stat().st_mtime_ns
    again = lp.wheel_for("teamhelpers", root, tmp_path / "cache")
    assert again.path == wheel.path and again.path.stat().st_mtime_ns == stamp, "not rebuilt"
    # another cache, another moment: the same source gives the same bytes
    other = lp.wheel_for("teamhelpers", _project(tmp_path / "copy"), tmp_path / "cache2")
    assert other.path.read_bytes() == wheel.path.read_bytes()
    (root / "teamhelpers" / "__init__.py").write_text("def greet():\n    return 'hi'\n")
    edited = lp.wheel_for("teamhelpers", root, tmp_path / "cache")
    assert edited.path != wheel.path and edited.source_sha256 != wheel.source_sha256


def test_a_project_that_does_not_build_is_one_error_with_a_hint(tmp_path: Path) -> None:
    root = tmp_path / "broken"
    root.mkdir()
    (root / "pyproject.toml").write_text("[project\nname = ")
    before = _snapshot(root)
    with pytest.raises(BuildError) as err:
        lp.wheel_for("broken", root, tmp_path / "cache")
    assert "did not build into a wheel" in err.value.message and err.value.hint
    assert _snapshot(root) == before
    assert not list((tmp_path / "cache").glob("*/*.whl"))


def test_local_wheels_names_a_project_that_is_gone(tmp_path: Path) -> None:
    lock = {"packages": [{"name": "gone", "version": "1", "requirement": {"path": "gone"}}]}
    assert lp.project_digests(tmp_path, lock) == {}
    with pytest.raises(BuildError, match="local project gone is gone"):
        lp.local_wheels(tmp_path, lock, tmp_path / "cache")
