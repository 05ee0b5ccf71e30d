"""What freeze and build do with bad input, through the real CLI: one `error:` line with its fix.

The interpreter is the notebook's kernel's or `--python`, never a substitute: a kernel that is
not installed, an old or broken interpreter, a notebook that cannot name a kernel each stop
before any capture or resolution, and leave the notebook as it was and no lock behind. None of
these cases needs an engine.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from helpers import cli  # noqa: E402

pytestmark = pytest.mark.hostile

PYTHON_FIX = "pass --python PATH with the python of the environment to freeze"


def _notebook(path: Path, kernelspec: dict[str, str] | None = None,
              sources: tuple[str, ...] = ("import json",), tags: list[str] | None = None) -> Path:
    cells = [{"cell_type": "code", "metadata": {}, "source": s, "outputs": [],
              "execution_count": None} for s in sources]
    if tags is not None:
        cells[0]["metadata"]["tags"] = tags
    data: dict = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    if kernelspec is not None:
        data["metadata"]["kernelspec"] = kernelspec
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1))
    return path


def _python3_kernel(path: Path) -> Path:
    return _notebook(path, {"name": "python3", "display_name": "Python 3", "language": "python"})


def _one_error(proc: subprocess.CompletedProcess[str], *needles: str) -> str:
    """The single `error:` line (exit 1, no traceback), holding every needle."""
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "Traceback" not in out, out
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, out
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def _untouched(notebook: Path, before: bytes) -> None:
    """Nothing lost, nothing left: the notebook as it was, no lock written beside it."""
    assert notebook.read_bytes() == before
    assert not notebook.with_name(notebook.stem + ".lock.json").exists()


# ------------------------------------------------------------ the notebook's kernel

def test_kernel_not_installed_is_named_never_substituted(tmp_path: Path) -> None:
    nb = _notebook(tmp_path / "ghost.ipynb", {"name": "ghost-env-jc",
                                               "display_name": "Python (ghost env)",
                                               "language": "python"})
    before = nb.read_bytes()
    for verb in ("freeze", "build"):
        line = _one_error(
            cli(verb, str(nb)),
            "the notebook's kernel 'ghost-env-jc' (Python (ghost env)) is not installed",
            PYTHON_FIX, "ipykernel install --user --name ghost-env-jc")
        assert sys.executable not in line  # the CLI's own environment is not frozen instead
    _untouched(nb, before)


def test_notebook_without_kernelspec(tmp_path: Path) -> None:
    nb = _notebook(tmp_path / "nokernel.ipynb")
    before = nb.read_bytes()
    _one_error(cli("freeze", str(nb)), f"{nb} names no kernel: its metadata has no kernelspec",
               PYTHON_FIX, "choose a kernel and save it")
    _untouched(nb, before)


def test_nbformat_3_notebook_names_no_kernel(tmp_path: Path) -> None:
    nb = tmp_path / "old.ipynb"
    nb.write_text(json.dumps({
        "metadata": {"name": "old"}, "nbformat": 3, "nbformat_minor": 0,
        "worksheets": [{"metadata": {}, "cells": [
            {"cell_type": "code", "input": "import json", "language": "python",
             "outputs": [], "collapsed": False, "metadata": {}}]}],
    }))
    before = nb.read_bytes()
    _one_error(cli("freeze", str(nb)), f"{nb} is an nbformat 3 notebook, which names no kernel",
               PYTHON_FIX, "open it in Jupyter")
    _untouched(nb, before)


def _kernel_dir(tmp_path: Path, name: str, spec: dict) -> dict[str, str]:
    """A kernelspec installed in a Jupyter data folder of its own; the env that finds it."""
    folder = tmp_path / "share" / "jupyter" / "kernels" / name
    folder.mkdir(parents=True)
    (folder / "kernel.json").write_text(json.dumps(spec))
    return {"JUPYTER_PATH": str(tmp_path / "share" / "jupyter")}


def test_installed_kernel_whose_venv_lost_its_python(tmp_path: Path) -> None:
    venv = tmp_path / "gone-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    target = tmp_path / "removed" / "python3"
    python.unlink()
    python.symlink_to(target)  # the interpreter it pointed to was removed
    env = _kernel_dir(tmp_path, "gone-kernel", {
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Gone", "language": "python"})
    nb = _notebook(tmp_path / "nb.ipynb", {"name": "gone-kernel", "display_name": "Gone",
                                            "language": "python"})
    before = nb.read_bytes()
    _one_error(cli("freeze", str(nb), env=env),
               f"the notebook's kernel 'gone-kernel': the environment {venv} is broken: {python} "
               f"points to {target}, which does not exist", f"python3 -m venv --clear {venv}",
               "or reinstall the kernel from a working environment")
    _untouched(nb, before)


def test_kernel_of_another_language(tmp_path: Path) -> None:
    env = _kernel_dir(tmp_path, "ir-jc", {"argv": ["R", "--slave", "-f", "{connection_file}"],
                                          "display_name": "R", "language": "R"})
    nb = _notebook(tmp_path / "r.ipynb", {"name": "ir-jc", "display_name": "R", "language": "R"})
    _one_error(cli("freeze", str(nb), env=env),
               "the notebook's kernel 'ir-jc' (R) is a R kernel: only Python environments can be "
               "frozen", PYTHON_FIX)


# ------------------------------------------------------------ the interpreter

def _real_python38() -> str | None:
    candidates = [shutil.which("python3.8") or ""]
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.8*/bin/python3.8")))
    for c in candidates:
        if not c:
            continue
        try:
            out = subprocess.run([c, "-c", "import sys; print(sys.version_info[:2])"],
                                 capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.TimeoutExpired):
            continue
        if out.strip() == "(3, 8)":
            return c
    return None


def test_python_38_is_an_unsupported_version(tmp_path: Path) -> None:
    """A real Python 3.8 when this machine has one; else a stand-in `python3.8` used only for
    the version probe: freeze asks `PYTHON -c PROBE`, which prints `jc-python X.Y.Z` first, and
    the stand-in answers that line as Python 3.8.18 does."""
    python = _real_python38()
    if python is None:
        stand_in = tmp_path / "bin" / "python3.8"
        stand_in.parent.mkdir()
        stand_in.write_text("#!/bin/sh\necho jc-python 3.8.18\n")
        stand_in.chmod(0o755)
        python = str(stand_in)
    nb = _python3_kernel(tmp_path / "nb.ipynb")
    before = nb.read_bytes()
    _one_error(cli("freeze", str(nb), "--python", python),
               f"unsupported Python version 3.8 (3.9 or newer): {python}",
               "pass --python PATH with a Python 3.9+ environment")
    _untouched(nb, before)


def test_venv_with_a_dangling_python_link(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    python.unlink()
    python.symlink_to("/nonexistent/python3.11")
    nb = _python3_kernel(tmp_path / "nb.ipynb")
    before = nb.read_bytes()
    _one_error(cli("freeze", str(nb), "--python", str(python)),
               f"the environment {venv} is broken: {python} points to /nonexistent/python3.11, "
               "which does not exist", f"recreate it with `python3 -m venv --clear {venv}`")
    _untouched(nb, before)


def test_venv_whose_interpreter_exits_1(tmp_path: Path) -> None:
    """A venv whose python fails at start-up as an interpreter with a broken standard library
    does: a message on stderr and exit status 1."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    python.unlink()
    python.write_text("#!/bin/sh\necho 'Fatal Python error: init_fs_encoding: failed to get "
                      "the Python codec of the filesystem encoding' >&2\nexit 1\n")
    python.chmod(0o755)
    nb = _python3_kernel(tmp_path / "nb.ipynb")
    before = nb.read_bytes()
    _one_error(cli("build", str(nb), "--python", str(python)),
               f"the environment {venv} is broken: {python} fails to start (exit 1: Fatal "
               "Python error: init_fs_encoding", "python3 -m venv --clear")
    _untouched(nb, before)


def test_venv_where_importlib_metadata_fails(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / "zz_broken.pth").write_text("import sys; sys.modules['importlib.metadata'] = None\n")
    nb = _python3_kernel(tmp_path / "nb.ipynb")
    before = nb.read_bytes()
    _one_error(cli("freeze", str(nb), "--python", str(venv / "bin" / "python")),
               f"the environment {venv} is broken: importlib.metadata fails in it",
               "python3 -m venv --clear")
    _untouched(nb, before)


@pytest.mark.parametrize("kind", ["not python", "folder", "missing", "not on PATH"])
def test_python_that_is_not_an_interpreter(tmp_path: Path, kind: str) -> None:
    nb = _python3_kernel(tmp_path / "nb.ipynb")
    before = nb.read_bytes()
    python, needle, fix = {
        "not python": ("/bin/false", "/bin/false is not a Python interpreter (it exits 1 "
                       "without printing a Python version)", PYTHON_FIX),
        "folder": (str(tmp_path), f"{tmp_path} is a folder, not a Python interpreter",
                   "--python PATH/bin/python"),
        "missing": (str(tmp_path / "no" / "python"), f"{tmp_path / 'no' / 'python'} does not "
                    "exist", PYTHON_FIX),
        "not on PATH": ("python-jc-nowhere", "python-jc-nowhere is not on PATH", PYTHON_FIX),
    }[kind]
    _one_error(cli("freeze", str(nb), "--python", python), needle, fix)
    _untouched(nb, before)


# ------------------------------------------------------------ the notebook file

@pytest.mark.parametrize("kind", ["invalid json", "empty", "blank", "no metadata",
                                  "not a notebook"])
def test_notebook_file_that_is_not_a_notebook(tmp_path: Path, kind: str) -> None:
    nb = tmp_path / "nb.ipynb"
    nb.write_text({
        "invalid json": '{\n "cells": [\n  {"cell_type": "code",,}\n',
        "empty": "",
        "blank": "\n  \n",
        "no metadata": json.dumps({"cells": [], "nbformat": 4, "nbformat_minor": 5}),
        "not a notebook": "[1, 2]",
    }[kind])
    before = nb.read_bytes()
    needle, fix = {
        "invalid json": (f"{nb} is not valid JSON: line 3 column ", "restore it from version "
                         "control"),
        "empty": (f"{nb} is empty (0 bytes), not a notebook", "restore it from version control"),
        "blank": (f"{nb} is empty (4 bytes), not a notebook", "restore it from version control"),
        "no metadata": (f"{nb} is not a valid notebook: it has no metadata",
                        "open it in Jupyter, choose a kernel and save it again"),
        "not a notebook": (f"{nb} is not a notebook: it has no cells", "check the path"),
    }[kind]
    for verb in ("freeze", "build"):
        _one_error(cli(verb, str(nb), "--python", sys.executable), needle, fix)
    _untouched(nb, before)


@pytest.mark.parametrize("kind", ["directory", "nonexistent"])
def test_notebook_path_that_is_no_file(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "nb.ipynb"
    if kind == "directory":
        path.mkdir()
    what = "is a directory, not a notebook" if kind == "directory" else "does not exist"
    for verb in ("freeze", "build", "run"):
        _one_error(cli(verb, str(path)), f"notebook {path} {what}",
                   "pass the path of an .ipynb file")
    assert path.is_dir() == (kind == "directory") and not list(tmp_path.glob("*.lock.json"))


def test_parameters_cell_that_is_not_python(tmp_path: Path) -> None:
    nb = _notebook(tmp_path / "params.ipynb",
                   {"name": "python3", "display_name": "Python 3", "language": "python"},
                   sources=("alpha = 0.5\nepochs = = 3\n", "print(alpha)"), tags=["parameters"])
    before = nb.read_bytes()
    out = tmp_path / "out.ipynb"
    _one_error(cli("run", str(nb), "-p", "alpha", "0.1", "--image", "jc-never-used:1",
                   "--output", str(out)),
               "the cell tagged parameters is not valid Python: line 2: invalid syntax",
               "fix that cell in Jupyter and save the notebook")
    _untouched(nb, before)
    assert not out.exists()


# ------------------------------------------------------------ apt.txt

@pytest.mark.parametrize("line", ["curl; rm -rf /tmp/x", "LibGomp1", "libgomp1$(id)", "-y"])
def test_apt_txt_with_a_name_that_is_no_package(tmp_path: Path, line: str) -> None:
    nb = _python3_kernel(tmp_path / "nb.ipynb")
    (tmp_path / "apt.txt").write_text(f"# system packages\nlibgomp1\n{line}\n")
    before = nb.read_bytes()
    bad = next(t for t in line.split() if t not in ("rm", "/tmp/x"))
    _one_error(cli("build", str(nb), "--python", sys.executable),
               f"{tmp_path / 'apt.txt'} line 3: {bad!r} is not a Debian package name",
               "write one package per line")
    _untouched(nb, before)
