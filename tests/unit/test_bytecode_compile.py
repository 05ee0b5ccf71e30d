"""Byte-compiling installed distributions: modules that do not compile are named, an
interpreter that fails stops the install with one line."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from jupyter_containerize.core.errors import InstallError
from jupyter_containerize.core.image import installer

MINOR = f"{sys.version_info[0]}.{sys.version_info[1]}"
SITE = f"lib/python{MINOR}/site-packages"


def _dist(folder: Path) -> Path:
    pkg = folder / SITE / "pkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("VALUE = 1\n")
    (pkg / "old.py").write_text("print 'written for Python 2'\n")
    (pkg / "tests").mkdir()
    (pkg / "tests" / "test_x.py").write_text("def test(): pass\n")
    return folder


@pytest.mark.hostile
def test_a_module_that_does_not_compile_is_named_and_the_rest_compiled(tmp_path: Path) -> None:
    folder = _dist(tmp_path / "work" / "pkg")
    root = tmp_path / "store"
    root.mkdir()
    said: list[str] = []
    installer._place([("pkg-1.0", folder)], root, sys.executable, MINOR, said.append)
    placed = root / "pkg-1.0" / SITE / "pkg"
    assert [p.name for p in placed.glob("__pycache__/*.pyc")] == [
        f"__init__.{sys.implementation.cache_tag}.pyc"
    ]
    assert not list((placed / "tests").glob("__pycache__/*"))
    assert said == [f"1 module(s) do not compile for Python {MINOR} and are left without "
                    "bytecode: pkg/old.py"]


@pytest.mark.hostile
def test_an_interpreter_that_fails_stops_the_install_in_one_line(tmp_path: Path) -> None:
    folder = _dist(tmp_path / "pkg")
    broken = tmp_path / "python"
    broken.write_text("#!/bin/sh\necho 'Fatal Python error: init_fs_encoding' >&2\nexit 1\n")
    broken.chmod(0o755)
    with pytest.raises(InstallError) as caught:
        installer._compile(str(broken), SITE, [folder])
    assert caught.value.one_line() == (
        f"byte-compiling pkg with {broken} failed: Fatal Python error: init_fs_encoding "
        f"({broken} compiles the image's bytecode: make `{broken} -c 'import compileall, "
        "multiprocessing'` run, then build again)"
    )
    assert "Traceback" not in caught.value.one_line()
