"""A real kernel for the magic and the panel: nbclient, a throw-away venv, the real engine.

The kernel's venv has ipykernel, ipywidgets and our runtime dependencies (pinned to the dev
venv's versions, so pip takes them from its cache) and our source on a ``.pth`` line; it
is a venv of its own so ``%pip install`` in the kernel never touches the dev venv, and small,
so a full-lock build of it takes seconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
KERNEL = "containerize-test"
PACKAGES = ("ipykernel", "ipywidgets", "docker", "nbformat", "packaging", "uv", "pyyaml",
            "traitlets", "jupyter_client", "numpy", "cloudpickle", "cryptography",
            "cyclonedx-python-lib", "jsonschema", "cronsim")


@pytest.fixture(scope="session")
def kernel_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The venv the test kernels run in; its kernelspec is under its share/jupyter."""
    root = tmp_path_factory.mktemp("kernel-venv")
    venv = root / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(venv)], check=True)
    pins = root / "constraints.txt"
    pins.write_text("".join(f"{d.metadata['Name']}=={d.version}\n"
                            for d in metadata.distributions() if d.metadata["Name"]))
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "-c", str(pins), *PACKAGES],
                   check=True, capture_output=True)
    site = subprocess.run([str(python), "-c", "import site; print(site.getsitepackages()[0])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    (Path(site) / "jupyter_containerize_src.pth").write_text(f"{ROOT}\n")
    kdir = venv / "share" / "jupyter" / "kernels" / KERNEL
    kdir.mkdir(parents=True)
    (kdir / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": KERNEL, "language": "python"}))
    return python


def write_notebook(path: Path) -> Path:
    """The saved notebook the kernel belongs to: a parameters cell and a cell that uses it."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": KERNEL, "display_name": KERNEL, "language": "python"}
    params = nbformat.v4.new_code_cell("n = 2")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell("import six\nprint(n * 2)")]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


class Kernel:
    """One live kernel; :meth:`run` executes a cell and returns its outputs."""

    def __init__(self, client: NotebookClient, notebook: Path) -> None:
        self.client = client
        self.notebook = notebook

    def run(self, code: str) -> list[dict[str, Any]]:
        cell = nbformat.v4.new_code_cell(code)
        self.client.nb.cells.append(cell)
        self.client.execute_cell(cell, len(self.client.nb.cells) - 1)
        return list(cell.outputs)

    def text(self, code: str) -> str:
        """Everything a cell printed or returned, as text (errors as ``ename: evalue``)."""
        parts = []
        for out in self.run(code):
            if out["output_type"] == "stream":
                parts.append(out["text"])
            elif out["output_type"] in ("execute_result", "display_data"):
                parts.append(out["data"].get("text/plain", ""))
            elif out["output_type"] == "error":
                parts.append(f"{out['ename']}: {out['evalue']}")
        return "\n".join(parts)


@pytest.fixture(scope="module")
def kernel(kernel_python: Path, tmp_path_factory: pytest.TempPathFactory,
           test_labels: dict[str, str]) -> Iterator[Kernel]:
    """A kernel whose session is a saved notebook, as Jupyter Server starts one; what it
    makes carries this test run's label."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    notebook = write_notebook(tmp_path_factory.mktemp("project") / "analysis.ipynb")
    kdirs = [str(kernel_python.parents[1] / "share" / "jupyter" / "kernels")]
    km = KernelManager(kernel_name=KERNEL, kernel_spec_manager=KernelSpecManager(
        kernel_dirs=kdirs, ensure_native_kernel=False))
    client = NotebookClient(nbformat.v4.new_notebook(), km=km, timeout=600, allow_errors=True,
                            resources={"metadata": {"path": str(notebook.parent)}})
    labels = [os.environ.get("JUPYTER_CONTAINERIZE_LABELS", "")]
    labels += [f"{k}={v}" for k, v in test_labels.items()]
    env = {**os.environ, "JPY_SESSION_NAME": str(notebook),
           "JUPYTER_CONTAINERIZE_LABELS": ",".join(filter(None, labels))}
    with client.setup_kernel(env=env):
        kernel = Kernel(client, notebook)
        assert "Loaded" not in kernel.text("%load_ext jupyter_containerize")
        yield kernel
