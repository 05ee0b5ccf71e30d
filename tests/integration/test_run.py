"""Headless runs on the real engine: parameters, failures, timeouts, artifacts, reproduction,
secrets. One fixture image per session (papermill's tool venv + a user venv with numpy),
labelled with this test run's label; everything the tests create is removed by that label."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from jc_support import terminal_sigint

from jupyter_containerize.core import labels
from jupyter_containerize.core.engine import containers
from jupyter_containerize.core.errors import RunError
from jupyter_containerize.core.jobs import store as jobs
from jupyter_containerize.core.jobs.store import JobStore
from jupyter_containerize.core.models import RunRecord
from jupyter_containerize.core.run.execute import record_path, run
from jupyter_containerize.core.run.options import parse_parameter

pytestmark = pytest.mark.engine
NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
TEST_RUN = uuid.uuid4().hex[:12]
TEST_LABELS = {labels.TEST_RUN: TEST_RUN}
EXAMPLE_PYTHON = Path(__file__).resolve().parents[2] / ".venv-example" / "bin" / "python"


def _engine_or_skip() -> object:
    from jupyter_containerize.core.engine import client as engine
    from jupyter_containerize.core.errors import EngineUnavailableError

    try:
        return engine.client()
    except EngineUnavailableError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and no Docker engine: {exc.one_line()}")
        pytest.skip(f"no Docker engine answers: {exc.one_line()}")


def _build(tag: str, files: dict[str, bytes]) -> str:
    """A small derived image through the classic builder (for the no-kernel case)."""
    from jupyter_containerize.core.engine import client as engine

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    image = engine.classic_build(
        buffer, tag, {labels.MANAGED: "true", **TEST_LABELS}, False, lambda _: None
    )
    return str(image.id)


@pytest.fixture(scope="session")
def engine_client() -> Iterator[object]:
    cli = _engine_or_skip()
    yield cli
    containers.remove_labelled(TEST_LABELS)
    for image in cli.images.list(filters={"label": f"{labels.TEST_RUN}={TEST_RUN}"}):  # type: ignore[attr-defined]
        cli.images.remove(image.id, force=True)  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def image(engine_client: object, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The image our own build makes from the example's kernel environment (numpy, papermill
    in its tool environment): run copies each test notebook in at its labelled path."""
    from jupyter_containerize.core import api

    folder = tmp_path_factory.mktemp("run-image")
    shutil.copy(NOTEBOOKS / "params.ipynb", folder / "fixture.ipynb")
    started = time.monotonic()
    ref = api.build(folder / "fixture.ipynb", python=str(EXAMPLE_PYTHON)).reference
    print(f"fixture image built in {time.monotonic() - started:.1f} s")
    return ref


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> JobStore:
    monkeypatch.setenv(jobs.DATA_DIR_ENV, str(tmp_path / "data"))
    return JobStore()


def _run(nb: str, image: str, store: JobStore, tmp_path: Path, **options: object) -> RunRecord:
    src = tmp_path / "project" / nb
    src.parent.mkdir(exist_ok=True)
    shutil.copy(NOTEBOOKS / nb, src)
    return run(src, image=image, store=store, extra_labels=TEST_LABELS, **options)


def _stdout(path: str | None) -> str:
    assert path
    cells = json.loads(Path(path).read_text())["cells"]
    return "".join("".join(o.get("text", "")) for c in cells for o in c.get("outputs", []))


def test_parameters_change_the_output(image: str, store: JobStore, tmp_path: Path) -> None:
    events: list[object] = []
    default = _run("params.ipynb", image, store, tmp_path)
    assert default.status == "succeeded", default.error
    assert "6 base int float" in _stdout(default.output)
    typed = {"n": parse_parameter("21"), "label": parse_parameter("other"),
             "ratio": parse_parameter("1e-3")}
    changed = _run("params.ipynb", image, store, tmp_path, parameters=typed,
                   progress=events.append)
    assert changed.status == "succeeded", changed.error
    assert "42 other int float" in _stdout(changed.output)
    assert changed.reproduction and changed.reproduction["verdict"] == "not comparable"
    cells = [e.data["cell"] for e in events if getattr(e, "kind", "") == "progress"]
    assert cells and cells[-1] == 4 and events[-1] is not None
    stored = store.get(changed.id)
    assert stored.kind == "run" and stored.result and stored.result["status"] == "succeeded"
    assert Path(changed.output).with_suffix(".run.json").exists()  # type: ignore[arg-type]


def test_unknown_parameters_warn(image: str, store: JobStore, tmp_path: Path) -> None:
    lines: list[str] = []
    record = _run("params.ipynb", image, store, tmp_path, parameters={"nope": 1},
                  progress=lambda e: lines.append(e.message))
    assert record.status == "succeeded"
    assert any("unknown parameters nope (declared: n, label, ratio)" in x for x in lines)


def test_failing_notebook(image: str, store: JobStore, tmp_path: Path) -> None:
    record = _run("raises.ipynb", image, store, tmp_path, report="html")
    assert record.status == "failed"
    assert record.error and record.error["cell"] == 1
    assert record.error["ename"] == "ValueError"
    assert record.error["evalue"] == "boom from the second cell"
    assert "before the failure" in _stdout(record.output)
    assert record.html and "boom from the second cell" in Path(record.html).read_text()
    assert store.get(record.id).status == "failed"


def test_timeout_keeps_the_partial_notebook(image: str, store: JobStore, tmp_path: Path) -> None:
    started = time.monotonic()
    record = _run("sleeps.ipynb", image, store, tmp_path, timeout=12)
    assert time.monotonic() - started < 60
    assert record.status == "timed out"
    assert "started" in _stdout(record.output)
    assert record.error and record.error["cell"] == 1
    assert not containers.is_running(record.container or "")


def test_cancel(image: str, store: JobStore, tmp_path: Path) -> None:
    cancel = threading.Event()
    threading.Timer(8, cancel.set).start()
    record = _run("sleeps.ipynb", image, store, tmp_path, cancel=cancel)
    assert record.status == "cancelled"
    assert store.get(record.id).status == "cancelled"


def test_artifacts_and_data(image: str, store: JobStore, tmp_path: Path) -> None:
    target = tmp_path / "out" / "artifacts"
    record = _run("artifacts.ipynb", image, store, tmp_path, artifacts=str(target))
    assert record.status == "succeeded", record.error
    found = {a["path"]: a for a in record.artifacts}
    assert set(found) == {"results/summary.txt", "weights.bin"}
    weights = bytes(range(256)) * 4
    assert found["weights.bin"]["sha256"] == hashlib.sha256(weights).hexdigest()
    assert (target / "weights.bin").read_bytes() == weights
    assert (target / "results/summary.txt").read_text() == "hello from the run\n"
    again = _run("artifacts.ipynb", image, store, tmp_path, artifacts=str(target))
    assert again.status == "succeeded"
    csv = tmp_path / "table.csv"
    csv.write_text("a,b\n1,2\n")
    with_data = _run("reads_data.ipynb", image, store, tmp_path,
                     data=[f"{csv}:inputs/table.csv"])
    assert "a,b\n1,2" in _stdout(with_data.output)
    assert with_data.artifacts == []


def test_artifacts_refuse_a_foreign_folder(image: str, store: JobStore, tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "thesis.tex").write_text("precious")
    with pytest.raises(RunError, match="not empty"):
        _run("artifacts.ipynb", image, store, tmp_path, artifacts=str(folder))


def test_reproduction(image: str, store: JobStore, tmp_path: Path) -> None:
    same = _run("reproducible.ipynb", image, store, tmp_path, report="html")
    assert same.reproduction and same.reproduction["verdict"] == "reproduced", same.reproduction
    html = Path(same.html or "").read_text()
    assert "jupyter-containerize-run" in html and "cells reproduced" in html
    other = _run("unseeded_random.ipynb", image, store, tmp_path, report="html")
    assert other.reproduction and other.reproduction["verdict"] == "differs"
    assert "cell 2 differs" in other.reproduction["text"]
    assert "cell 2 differs" in Path(other.html or "").read_text()


def test_env_secret_stays_out(image: str, store: JobStore, tmp_path: Path,
                              engine_client: object) -> None:
    secret = f"canary-{uuid.uuid4().hex}"
    os.environ["JC_TEST_TOKEN_HOST"] = secret
    seen: list[str] = []
    record = _run("env_secret.ipynb", image, store, tmp_path,
                  env=[f"JC_TEST_TOKEN={secret}", "JC_TEST_TOKEN_HOST"],
                  progress=lambda e: seen.append(e.message), report="html")
    del os.environ["JC_TEST_TOKEN_HOST"]
    assert record.status == "succeeded", record.error
    out = _stdout(record.output)
    assert f"token length {len(secret)}" in out and "session /home/jovyan/work/" in out
    assert record.env_names == ["JC_TEST_TOKEN", "JC_TEST_TOKEN_HOST"]
    files = [p for p in store.path.parent.rglob("*") if p.is_file()]
    for path in files:
        assert secret.encode() not in path.read_bytes(), path
    assert all(secret not in line for line in seen)
    assert all(secret not in line for _, line in store.logs(record.id))


@pytest.mark.parametrize("nb", ["shows_env.ipynb", "raises_env.ipynb"])
def test_env_value_the_notebook_shows_is_masked_in_the_record(
    nb: str, image: str, store: JobStore, tmp_path: Path
) -> None:
    """A notebook that prints or raises an --env value: the executed notebook and its HTML
    rendering are the user's own, but the record's reproduction detail and error, in the
    record file and the job store, say ***."""
    secret = f"canary-{uuid.uuid4().hex}"
    record = _run(nb, image, store, tmp_path, env=[f"JC_TEST_TOKEN={secret}"], report="html")
    if nb == "shows_env.ipynb":
        assert record.status == "succeeded", record.error
        assert record.reproduction and record.reproduction["verdict"] == "differs"
        assert "***" in record.reproduction["text"], record.reproduction
    else:
        assert record.status == "failed" and record.error
        assert "bad token ***" in record.error["message"], record.error
    assert record.output
    kept = [record_path(record.output), *store.path.parent.glob(store.path.name + "*")]
    for path in kept:
        assert secret.encode() not in path.read_bytes(), path
    assert secret not in json.dumps(record.to_json(), default=str)


def test_secret_not_in_container_logs(image: str, store: JobStore, tmp_path: Path,
                                      engine_client: object) -> None:
    secret = f"canary-{uuid.uuid4().hex}"
    captured: list[bytes] = []
    original = containers.remove

    def keep_logs(container: object) -> None:
        captured.append(container.logs())  # type: ignore[attr-defined]
        original(container)  # type: ignore[arg-type]

    containers.remove = keep_logs  # type: ignore[assignment]
    try:
        record = _run("env_secret.ipynb", image, store, tmp_path, env=[f"JC_TEST_TOKEN={secret}"])
    finally:
        containers.remove = original  # type: ignore[assignment]
    assert record.status == "succeeded"
    assert captured and b"token length" in captured[0]
    assert secret.encode() not in captured[0]


def test_no_kernel_in_the_image(image: str, store: JobStore, tmp_path: Path) -> None:
    bare = f"jupyter-containerize/test-run:{TEST_RUN}-nokernel"
    _build(bare, {"Dockerfile": (
        f"FROM {image}\nUSER root\nRUN rm -rf /opt/containerize/tool/share/jupyter/kernels\n"
        "USER 1000:1000\n").encode()})
    with pytest.raises(RunError, match="no python3 kernel"):
        _run("params.ipynb", bare, store, tmp_path)
    failed = store.list(kind="run")[0]
    assert failed.status == "failed" and "no python3 kernel" in (failed.error or {})["message"]


def test_output_not_writable(image: str, store: JobStore, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(RunError, match="cannot create"):
        _run("params.ipynb", image, store, tmp_path, output=str(blocker / "x.out.ipynb"))
    assert store.list(kind="run")[0].status == "failed"


def test_container_start_overhead(image: str, store: JobStore, tmp_path: Path) -> None:
    started = time.monotonic()
    record = _run("params.ipynb", image, store, tmp_path)
    elapsed = time.monotonic() - started
    print(f"run of a 3-cell notebook, end to end: {elapsed:.2f} s "
          f"(recorded duration {record.duration} s)")
    assert record.status == "succeeded"


def test_gpus_on_an_engine_without_a_gpu_runtime_is_a_clear_error(
        image: str, store: JobStore, tmp_path: Path) -> None:
    with pytest.raises(RunError) as err:
        _run("params.ipynb", image, store, tmp_path, gpus="all")
    assert "--gpus" in err.value.one_line() and "GPU" in err.value.one_line()
    left = containers.remove_labelled(TEST_LABELS)
    assert left == 0, "the container of a run that could not start is removed"


def test_ctrl_c_stops_and_removes_the_container(image: str, tmp_path: Path) -> None:
    """`jupyter containerize run` interrupted with Ctrl-C (SIGINT): cancelled, cleaned up."""
    import signal
    import subprocess
    import sys

    src = tmp_path / "project" / "sleeps.ipynb"
    src.parent.mkdir()
    shutil.copy(NOTEBOOKS / "sleeps.ipynb", src)
    env = {**os.environ, "JUPYTER_CONTAINERIZE_DATA_DIR": str(tmp_path / "data"),
           "JUPYTER_CONTAINERIZE_LABELS": f"{labels.TEST_RUN}={TEST_RUN}"}
    exe = Path(sys.executable).with_name("jupyter-containerize")
    proc = subprocess.Popen([str(exe), "run", str(src), "--image", image, "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=terminal_sigint)
    from jupyter_containerize.core.engine import client as engine

    flt = {"label": f"{labels.TEST_RUN}={TEST_RUN}", "status": "running"}
    for _ in range(120):
        if engine.client().containers.list(filters=flt):
            break
        time.sleep(0.25)
    time.sleep(2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode != 0
    assert json.loads(out)["status"] == "cancelled", err
    assert not engine.client().containers.list(all=True, filters={
        "label": f"{labels.TEST_RUN}={TEST_RUN}"}), "the run's container is removed"
