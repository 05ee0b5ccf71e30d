"""Drift: a ``%pip install`` in a live kernel after the freeze shows up as a lock change.

The kernel runs in kernel_support's throw-away venv (``%pip install`` there never touches
the dev venv); its kernelspec here clears the PYTHONPATH the test server passes on, so the
kernel sees its own site-packages only.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "kernel"))
from kernel_support import kernel_python  # noqa: E402, F401

from jupyter_containerize.core import api  # noqa: E402
from jupyter_containerize.server.kernel_capture import capture_in_kernel  # noqa: E402

KERNEL = "drift-venv"
PACKAGE, VERSION = "iniconfig", "2.3.1"  # tiny, pure Python, not in the kernel's venv
PIP_CACHE = os.environ.get("PIP_CACHE_DIR") or str(Path.home() / ".cache" / "pip")


@pytest.fixture
def venv_kernel(kernel_python: Path, jp_kernel_dir: str) -> str:  # noqa: F811
    """A kernelspec of the throw-away venv in the test server's data directory."""
    kdir = Path(jp_kernel_dir) / KERNEL
    kdir.mkdir(parents=True)
    spec = {
        "argv": [str(kernel_python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": KERNEL,
        "language": "python",
        "env": {"PYTHONPATH": "", "PIP_CACHE_DIR": PIP_CACHE},
    }
    (kdir / "kernel.json").write_text(json.dumps(spec))
    return KERNEL


@pytest.fixture
def drift_notebook(jp_root_dir: Path) -> str:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": KERNEL, "display_name": KERNEL, "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("import json\nprint(json.dumps({'n': 1}))")]
    nbformat.write(nb, jp_root_dir / "drifts.ipynb")
    return "drifts.ipynb"


async def test_pip_install_after_freeze_is_drift(
    kernels: Any,
    jp_root_dir: Path,
    api_call: Any,
    venv_kernel: str,
    drift_notebook: str,
) -> None:
    kernel_id = await kernels.start(venv_kernel)
    query = {"kernel_id": kernel_id, "notebook": drift_notebook}
    status, data = await api_call("GET", "drift", params=query)
    assert (status, data) == (200, {"frozen": False})

    spec = await capture_in_kernel(kernels.app.kernel_manager, kernel_id)
    assert PACKAGE not in spec.by_name(), "the throw-away venv already has the package"
    lock = api.freeze(jp_root_dir / drift_notebook, spec=spec)
    status, data = await api_call("GET", "drift", params=query)
    assert status == 200, data
    assert data == {
        "frozen": True,
        "drifted": False,
        "changes": [],
        "lock": lock.name,
        "mode": "full",
    }

    before = lock.read_bytes()
    await kernels.execute(kernel_id, f"%pip install -q {PACKAGE}=={VERSION}")
    status, data = await api_call("GET", "drift", params=query)
    assert status == 200, data
    assert data["frozen"] and data["drifted"], data
    assert f"+ {PACKAGE} {VERSION}" in data["changes"], data
    assert lock.read_bytes() == before  # drift never writes the lock


async def test_drift_needs_kernel_and_notebook(api_call: Any, notebook: str) -> None:
    for params in ({}, {"kernel_id": "abc"}, {"notebook": notebook}):
        status, data = await api_call("GET", "drift", params=params)
        assert status == 400, (params, data)
        assert "kernel_id" in data["message"] and data["hint"]


async def test_drift_resolves_the_notebook_like_jobs(api_call: Any, notebook: str) -> None:
    cases = [("../../etc/passwd.ipynb", 400), ("classifier.py", 400), ("no.ipynb", 404)]
    for path, code in cases:
        status, data = await api_call("GET", "drift", params={"kernel_id": "x", "notebook": path})
        assert status == code, (path, data)
        assert data["hint"]
    status, data = await api_call("GET", "drift", params={"kernel_id": "x", "notebook": notebook})
    assert status == 404 and "kernel" in data["message"]


async def test_env_and_drift_at_once_both_answer(
    kernels: Any, api_call: Any, notebook: str
) -> None:
    """The panel asks both when it opens; captures of one kernel take turns."""
    kernel_id = await kernels.start()
    env, drift = await asyncio.gather(
        api_call("GET", "env", params={"kernel_id": kernel_id}),
        api_call("GET", "drift", params={"kernel_id": kernel_id, "notebook": notebook}),
    )
    assert env[0] == 200 and env[1]["live_kernel"], env
    assert drift == (200, {"frozen": False})
