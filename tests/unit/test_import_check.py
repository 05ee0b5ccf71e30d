"""The import check's script, run by a real interpreter over real modules: every module is
imported in one of a few fresh processes, a failure is reported with its error, and a module
that kills its interpreter is named while the rest of its share is still checked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from jupyter_containerize.core.errors import BuildError
from jupyter_containerize.core.image.importcheck import SMOKE, judge


def _check(folder: Path, modules: list[str]) -> str:
    proc = subprocess.run([sys.executable, "-S", "-B", "-c", SMOKE, *modules], cwd=folder,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture()
def modules(tmp_path: Path) -> Path:
    # a module that kills its interpreter, as a wheel built for a newer CPU does (SIGILL);
    # SIGKILL here: no core dump to wait for
    (tmp_path / "crashes.py").write_text(
        "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n")
    (tmp_path / "needs_lib.py").write_text(
        "raise ImportError('libgomp.so.1: cannot open shared object file')\n")
    (tmp_path / "fine.py").write_text("VALUE = 1\n")
    (tmp_path / "prints.py").write_text("print('hello from an import')\n")
    return tmp_path


def test_every_module_is_judged_even_after_one_kills_its_interpreter(modules: Path) -> None:
    # with two or more processes, crashes and needs_lib share one: the second is still checked
    names = ["json", "fine", "crashes", "csv", "needs_lib", "no_such_module", "prints", "os"]
    out = _check(modules, names)
    assert "hello from an import" in out  # a module's own output does not break the report
    with pytest.raises(BuildError) as caught:
        judge(out, "here")
    failed = caught.value.data["failed"]
    assert set(failed) == {"crashes", "needs_lib", "no_such_module"}, failed
    assert "died importing it (signal 9)" in failed["crashes"]
    assert "shared object" in failed["needs_lib"]


def test_modules_that_import_pass(modules: Path) -> None:
    judge(_check(modules, ["json", "fine", "csv", "prints"]), "here")  # raises on a failure


def test_a_missing_library_names_the_apt_package(modules: Path) -> None:
    with pytest.raises(BuildError) as caught:
        judge(_check(modules, ["needs_lib"]), "in the image")
    assert caught.value.message.startswith("module needs_lib does not import in the image")
    assert "libgomp1" in str(caught.value.hint)
