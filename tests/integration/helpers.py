"""Helpers for the real-engine tests: environments, notebooks and the CLI as a process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import requests
from jc_support import TEST_LABEL, TEST_RUN_ID, engine_or_skip, skip_or_fail

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "classifier"
EXAMPLE_PYTHON = ROOT / ".venv-example" / "bin" / "python"
# the test registry and its fixed test login (scripts/services.sh)
REGISTRY = os.environ.get("JC_TEST_REGISTRY", "127.0.0.1:5000")
USER = os.environ.get("JC_REGISTRY_USER", "team")
PASSWORD = os.environ.get("JC_REGISTRY_PASSWORD", "team-secret")


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 900,
        cwd: Path | None = None, input_text: str | None = None
        ) -> subprocess.CompletedProcess[str]:
    """`jupyter-containerize ARGS` as a user runs it (``input_text`` on its stdin)."""
    exe = Path(sys.executable).with_name("jupyter-containerize")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, cwd=cwd, input=input_text)


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    """A failure is one `error:` line with the fix: no traceback, non-zero exit."""
    assert proc.returncode != 0, proc.stdout
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def notebook(path: Path, *sources: str, kernel: str = "python3") -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": kernel, "display_name": kernel, "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def make_venv(path: Path, python: str, *packages: str) -> Path:
    """A virtual environment with these packages; returns its python."""
    if not (path / "bin" / "python").exists():
        subprocess.run([python, "-m", "venv", str(path)], check=True)
    if packages:
        subprocess.run([str(path / "bin" / "python"), "-m", "pip", "install", "-q", *packages],
                       check=True, capture_output=True)
    return path / "bin" / "python"


def run_in_image(image: str, code: str, user: str | None = None) -> str:
    from jupyter_containerize.core.engine import client as engine

    status, out = engine.run_once(image, ["python", "-c", code], user=user)
    assert status == 0, out
    return out.strip()


def versions_in(python: str, *names: str) -> dict[str, str]:
    code = ("import json, importlib.metadata as m, sys; "
            "print(json.dumps({n: m.version(n) for n in sys.argv[1:]}))")
    out = subprocess.run([python, "-c", code, *names], capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out)


def local_package(folder: Path) -> Path:
    """The local project ``teamhelpers`` (``greet()`` says hello) written into ``folder``."""
    from jc_support import LOCAL_PYPROJECT

    (folder / "teamhelpers").mkdir(parents=True)
    (folder / "pyproject.toml").write_text(LOCAL_PYPROJECT)
    (folder / "teamhelpers" / "__init__.py").write_text("def greet():\n    return 'hello'\n")
    return folder


def example_project(root: Path, note: str) -> Path:
    """A copy of the example (without its lock and models) whose notebook has one more cell
    saying ``note``, so its project layer is this test's own; returns the notebook."""
    import json
    import shutil

    project = root / "project"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("*.lock.json", "model*"))
    nb = project / "classifier.ipynb"
    data = json.loads(nb.read_text())
    data["cells"].append({"cell_type": "markdown", "metadata": {}, "source": [note]})
    nb.write_text(json.dumps(data))
    return nb


def logged_in(root: Path, **login_env: str) -> dict[str, str]:
    """The environment of a user logged in to the test registry: a Docker config, a data dir
    and this run's labels under ``root`` (``login_env`` is added for the login alone). Skips,
    or fails under CI, when no engine or no registry answers."""
    engine_or_skip()
    try:
        requests.get(f"http://{REGISTRY}/v2/", timeout=5)
    except requests.RequestException:
        skip_or_fail(f"no registry at {REGISTRY}: run scripts/services.sh")
    env = {"DOCKER_CONFIG": str(root / "docker-config"),
           "JUPYTER_CONTAINERIZE_DATA_DIR": str(root / "data"),
           "JUPYTER_CONTAINERIZE_LABELS": f"{TEST_LABEL}={TEST_RUN_ID}"}
    proc = cli("login", REGISTRY, "--username", USER, "--password-stdin",
               env={**env, **login_env}, input_text=PASSWORD + "\n")
    assert proc.returncode == 0, proc.stderr
    return env
