"""Which interpreter a freeze captures, and whether it works, decided before any capture.

The interpreter is ``--python`` when given, else the one the notebook's kernelspec starts;
a notebook whose kernel cannot be found stops with the kernel's name and the fix: nothing
else is ever captured in its place. The chosen interpreter is then probed once (it exists,
starts, is Python 3.9 or newer, and ``importlib.metadata`` works in it), so a dangling venv
link, an old Python or a broken environment is named as such before any resolution starts.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from ..errors import ContainerizeError, PythonNotFoundError
from .notebook import kernelspec_of

MINIMUM = (3, 9)
PROBE_TIMEOUT = 30.0
# `python -c PROBE`, which Python 2 can run too: the version first, whatever it is, then
# whether importlib.metadata lists distributions; each answer on a line of its own.
PROBE = (
    "import sys\n"
    "if sys.path and sys.path[0] == '':\n"  # not the working folder's modules
    "    del sys.path[0]\n"
    "print('jc-python %d.%d.%d' % tuple(sys.version_info[:3]))\n"
    "sys.stdout.flush()\n"
    "if sys.version_info[:2] >= (3, 9):\n"
    "    from importlib import metadata\n"
    "    print('jc-metadata %d' % len(list(metadata.distributions())))\n"
)
PYTHON_HINT = "pass --python PATH with the python of the environment to freeze"
# The names jupyter_client replaces with its own interpreter when it starts a kernel.
_SELF_NAMES = {"python", f"python{sys.version_info[0]}", "python{}.{}".format(*sys.version_info)}
_VERSION = re.compile(r"^jc-python (\d+)\.(\d+)\.(\d+)$")


def interpreter_for(python: str | None, notebook: str | Path | None) -> str:
    """The checked interpreter to capture: ``python``, else the notebook's kernel's, else
    (no notebook either) this process's own."""
    if python:
        return check_python(python)
    if notebook is None:
        return check_python(sys.executable)
    exe = kernel_interpreter(Path(notebook))
    try:
        return check_python(exe)
    except PythonNotFoundError as exc:  # say whose interpreter it is
        name = kernelspec_of(notebook)[0].get("name")
        raise PythonNotFoundError(
            f"the notebook's kernel {name!r}: {exc.message}",
            hint=f"{exc.hint}, or reinstall the kernel from a working environment",
        ) from None


def kernel_interpreter(notebook: Path) -> str:
    """The interpreter the notebook's kernelspec starts; raises when it cannot be found."""
    spec, nbformat = kernelspec_of(notebook)
    name = str(spec.get("name") or "")
    if not name:
        if isinstance(nbformat, int) and nbformat < 4:
            raise PythonNotFoundError(
                f"{notebook} is an nbformat {nbformat} notebook, which names no kernel",
                hint=f"{PYTHON_HINT}, or open it in Jupyter, choose a kernel and save it",
            )
        raise PythonNotFoundError(
            f"{notebook} names no kernel: its metadata has no kernelspec",
            hint=f"{PYTHON_HINT}, or open it in Jupyter, choose a kernel and save it",
        )
    shown = _shown_kernel(name, spec.get("display_name"))
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        kspec = KernelSpecManager().get_kernel_spec(name)
    except NoSuchKernel:
        raise PythonNotFoundError(
            f"the notebook's kernel {shown} is not installed here",
            hint=f"{PYTHON_HINT}, or install the kernel from that environment: "
            f"`PATH/bin/python -m ipykernel install --user --name {name}`",
        ) from None
    except (OSError, ValueError) as exc:
        raise PythonNotFoundError(
            f"the kernelspec of the notebook's kernel {shown} cannot be read: {exc}",
            hint=f"{PYTHON_HINT}, or reinstall the kernel",
        ) from exc
    language = (kspec.language or "python").lower()
    if language != "python":
        raise PythonNotFoundError(
            f"the notebook's kernel {shown} is a {kspec.language} kernel: only Python "
            "environments can be frozen",
            hint=PYTHON_HINT,
        )
    if not kspec.argv:
        raise PythonNotFoundError(
            f"the kernelspec of {shown} names no command", hint=f"{PYTHON_HINT}, or reinstall it"
        )
    command = kspec.argv[0]
    if command in _SELF_NAMES:  # Jupyter starts it with its own interpreter, as here
        return sys.executable
    if os.sep not in command:
        found = shutil.which(command)
        if found is None:
            raise PythonNotFoundError(
                f"the notebook's kernel {shown} runs {command}, which is not on PATH",
                hint=f"{PYTHON_HINT}, or reinstall the kernel from its environment",
            )
        return found
    return command


def _shown_kernel(name: str, display: object) -> str:
    return f"{name!r} ({display})" if display and str(display) != name else repr(name)


def _venv_of(python: Path) -> Path | None:
    """The virtual environment ``python`` belongs to (``ENV/bin/python``), if any."""
    folder = python.parent.parent if python.parent.name in ("bin", "Scripts") else None
    return folder if folder is not None and (folder / "pyvenv.cfg").exists() else None


def _broken(python: Path, why: str) -> PythonNotFoundError:
    venv = _venv_of(python)
    if venv is not None:
        return PythonNotFoundError(
            f"the environment {venv} is broken: {why}",
            hint=f"recreate it with `python3 -m venv --clear {venv}` and reinstall its "
            f"packages, or {PYTHON_HINT}",
        )
    return PythonNotFoundError(f"the interpreter {python} is broken: {why}", hint=PYTHON_HINT)


def check_python(python: str) -> str:
    """``python`` when it is a working Python 3.9+ whose ``importlib.metadata`` answers;
    otherwise one :class:`PythonNotFoundError` that says which of those it is not."""
    path = Path(os.path.abspath(python))  # not resolved: a venv's link names the venv
    if os.sep not in python and not path.exists():
        found = shutil.which(python)
        if found is None:
            raise PythonNotFoundError(f"{python} is not on PATH", hint=PYTHON_HINT)
        path = Path(os.path.abspath(found))
    if path.is_symlink() and not path.exists():
        target = os.readlink(path)
        raise _broken(path, f"{path} points to {target}, which does not exist")
    if not path.exists():
        raise PythonNotFoundError(f"{path} does not exist", hint=PYTHON_HINT)
    if path.is_dir():
        raise PythonNotFoundError(
            f"{path} is a folder, not a Python interpreter",
            hint="pass the interpreter inside it, e.g. --python PATH/bin/python",
        )
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONSAFEPATH")}
    try:
        done = subprocess.run([str(path), "-c", PROBE], capture_output=True, text=True,
                              timeout=PROBE_TIMEOUT, env=env)
    except subprocess.TimeoutExpired:
        raise _broken(path, f"{path} did not answer within {PROBE_TIMEOUT:g} s") from None
    except OSError as exc:
        raise PythonNotFoundError(
            f"{path} is not a Python interpreter ({exc.strerror or exc})",
            hint=PYTHON_HINT,
        ) from None
    # marked lines: a start-up file that prints something does not hide the answer
    out = [line.strip() for line in done.stdout.splitlines()]
    version = next((m for m in map(_VERSION.match, out) if m), None)
    if version is None:
        if _venv_of(path) is not None or path.name.startswith("python"):
            raise _broken(path, f"{path} fails to start (exit {done.returncode}"
                          f"{_last_line(done.stderr)})")
        raise PythonNotFoundError(
            f"{path} is not a Python interpreter (it exits {done.returncode} without "
            "printing a Python version)",
            hint=PYTHON_HINT,
        )
    major, minor = int(version.group(1)), int(version.group(2))
    if (major, minor) < MINIMUM:
        raise PythonNotFoundError(
            f"unsupported Python version {major}.{minor} (3.9 or newer): {path}",
            hint="pass --python PATH with a Python 3.9+ environment that has the notebook's "
            "packages",
        )
    if done.returncode != 0 or not any(line.startswith("jc-metadata ") for line in out):
        raise _broken(path, "importlib.metadata fails in it"
                      f"{_last_line(done.stderr) or f' (exit {done.returncode})'}")
    return str(path)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return ""
    last = " ".join(lines[-1].split())
    return f": {last[:200]}..." if len(last) > 200 else f": {last}"


__all__ = ["interpreter_for", "kernel_interpreter", "check_python", "MINIMUM"]


def kernel_python(notebook_path: str | Path) -> str | None:
    """The interpreter of the kernelspec the notebook names, or None when it cannot be found
    (:func:`kernel_interpreter` says why).

    Host side (imports jupyter_client); the capture itself is ``lock.capture_python``.
    """
    try:
        return kernel_interpreter(Path(notebook_path))
    except ContainerizeError:
        return None
