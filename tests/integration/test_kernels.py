"""A kernel inside the example's image, started by jupyter_client's KernelManager through the
real `containerize-docker` provisioner: the image's environment, the live working directory,
ports on 127.0.0.1 only, interrupt, restart, and shutdown removing the container."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import EXAMPLE, EXAMPLE_PYTHON, assert_one_line_error, cli, versions_in
from jc_support import CI, TEST_LABEL, TEST_RUN_ID

from jupyter_containerize.core import api, labels
from jupyter_containerize.core.engine import client as engine
from jupyter_containerize.core.share import kernels

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from jc_support import engine_or_skip

    engine_or_skip()
    from jupyter_client.provisioning.factory import KernelProvisionerFactory

    if not KernelProvisionerFactory.instance()._check_availability(kernels.PROVISIONER):
        reason = "the containerize-docker entry point is not installed: pip install -e ."
        if CI:
            pytest.fail(reason)
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("kernels")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JUPYTER_DATA_DIR", str(root / "jupyter-data"))
        mp.setenv("JUPYTER_CONTAINERIZE_LABELS", f"{TEST_LABEL}={TEST_RUN_ID}")
        project = root / "project"
        shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("*.lock.json", "model*"))
        result = api.build(project / "classifier.ipynb", python=str(EXAMPLE_PYTHON))
        work = root / "work"
        work.mkdir()
        (work / "data.csv").write_text("a,b\n1,2\n")
        yield {"image": result.reference, "work": work}


def _run(kc: Any, code: str, timeout: float = 60) -> tuple[dict[str, Any], str]:
    out: list[str] = []

    def hook(msg: dict[str, Any]) -> None:
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])

    reply = kc.execute_interactive(code, output_hook=hook, timeout=timeout)
    return reply["content"], "".join(out)


def _kernel_containers(kernel_id: str) -> list[Any]:
    flt = {"label": [f"{labels.PREFIX}kernel.id={kernel_id}"]}
    return engine.client().containers.list(all=True, filters=flt)


def test_kernel_runs_in_the_image_sees_the_folder_interrupts_restarts_and_cleans_up(
        setup: dict[str, Any]) -> None:
    from jupyter_client.manager import KernelManager

    spec_dir = kernels.install(setup["image"], name=f"jc-test-{TEST_RUN_ID}")
    spec = json.loads((Path(spec_dir) / "kernel.json").read_text())
    assert spec["metadata"]["kernel_provisioner"]["provisioner_name"] == "containerize-docker"
    km = KernelManager(kernel_name=f"jc-test-{TEST_RUN_ID}")
    started = time.perf_counter()
    km.start_kernel(cwd=str(setup["work"]))
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=90)
        print(f"kernel ready in {time.perf_counter() - started:.1f} s")
        _check_environment(kc, setup, km)
        _check_interrupt(km, kc)
        first = _kernel_containers(km.kernel_id)
        km.restart_kernel()
        kc.wait_for_ready(timeout=90)
        reply, out = _run(kc, "print('restarted' if 'marker' not in globals() else 'same')")
        assert out.strip() == "restarted"
        after = _kernel_containers(km.kernel_id)
        assert len(after) == 1 and after[0].id != first[0].id, "restart reuses no container"
    finally:
        kc.stop_channels()
        km.shutdown_kernel()
    assert _kernel_containers(km.kernel_id) == [], "shutdown left the container"
    assert km.kernel_id and not km.is_alive()


def _check_environment(kc: Any, setup: dict[str, Any], km: Any) -> None:
    want = versions_in(str(EXAMPLE_PYTHON), "scikit-learn")["scikit-learn"]
    code = ("import sys, os, sklearn, json; marker = 1\n"
            "print(json.dumps([sys.prefix, sklearn.__version__, os.getcwd(), "
            "open('data.csv').read(), os.getuid()]))\n"
            "open('written-by-kernel.txt', 'w').write('from the image')")
    reply, out = _run(kc, code)
    assert reply["status"] == "ok", reply
    prefix, version, cwd, data, uid = json.loads(out.strip().splitlines()[-1])
    assert prefix == "/opt/env"
    assert version == want
    assert cwd == str(setup["work"].resolve())
    assert data == "a,b\n1,2\n"
    written = setup["work"] / "written-by-kernel.txt"
    assert written.read_text() == "from the image"
    assert written.stat().st_uid == os.getuid() == uid
    (container,) = _kernel_containers(km.kernel_id)
    bindings = container.attrs["HostConfig"]["PortBindings"]
    assert len(bindings) == 5
    assert {b[0]["HostIp"] for b in bindings.values()} == {"127.0.0.1"}
    assert container.labels[labels.MANAGED] == "true"
    assert container.labels[TEST_LABEL] == TEST_RUN_ID


def _check_interrupt(km: Any, kc: Any) -> None:
    result: dict[str, Any] = {}

    def sleeper() -> None:
        result["reply"] = _run(kc, "import time; time.sleep(60)", timeout=90)[0]

    thread = threading.Thread(target=sleeper)
    thread.start()
    time.sleep(2)
    started = time.perf_counter()
    km.interrupt_kernel()
    thread.join(timeout=30)
    assert not thread.is_alive(), "the interrupt did not stop time.sleep(60)"
    assert result["reply"]["status"] == "error"
    assert result["reply"]["ename"] == "KeyboardInterrupt"
    print(f"interrupt took {time.perf_counter() - started:.2f} s")
    reply, out = _run(kc, "print(marker)")
    assert out.strip() == "1", "the interrupt lost the kernel's state"


def test_cli_kernel_install_list_remove(setup: dict[str, Any]) -> None:
    name = f"jc-cli-{TEST_RUN_ID}"
    proc = cli("kernel", "install", setup["image"], "--name", name)
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip().splitlines()[-1], "kernel.json").exists()
    proc = cli("kernel", "list", "--json")
    assert name in {k["name"] for k in json.loads(proc.stdout)}
    proc = cli("kernel", "remove", name)
    assert proc.returncode == 0, proc.stderr
    assert_one_line_error(cli("kernel", "remove", name), "kernel list")
    assert_one_line_error(cli("kernel", "install", f"jupyter-containerize/absent-{TEST_RUN_ID}:1"),
                          "is not in the engine")


def test_remote_engine_copies_the_folder_in_and_files_stay_there(
        setup: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """The remote path (no bind mount) on this engine: the folder is copied in at start."""
    from jupyter_client.manager import KernelManager

    monkeypatch.setattr(engine, "is_remote", lambda: True)
    name = f"jc-remote-{TEST_RUN_ID}"
    kernels.install(setup["image"], name=name)
    km = KernelManager(kernel_name=name)
    km.start_kernel(cwd=str(setup["work"]))
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=90)
        reply, out = _run(kc, "import os; print(os.getcwd(), os.getuid(), open('data.csv').read()"
                              ".count(',')); open('only-inside.txt', 'w').write('x')")
        assert reply["status"] == "ok", reply
        assert out.split() == ["/home/jovyan/work", "1000", "2"]
    finally:
        kc.stop_channels()
        km.shutdown_kernel()
    assert not (setup["work"] / "only-inside.txt").exists()
    assert _kernel_containers(km.kernel_id) == []
