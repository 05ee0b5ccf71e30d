"""`run` when things go wrong on the real engine: the notebook runs out of memory, times out
inside a cell, is stopped with Ctrl-C, or the job store was damaged before it started. Each
keeps what the run produced and says what happened in one line."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from helpers import EXAMPLE_PYTHON, cli, notebook
from jc_support import TEST_LABEL, TEST_RUN_ID, terminal_sigint

pytestmark = pytest.mark.engine
NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
# papermill and its kernel start in this (in 40m papermill itself dies before it saves the
# notebook); the 500 MB the notebook asks for do not fit
MEMORY = "200m"
SLOW_CELL = ("import time\nprint('inside the slow cell', flush=True)\n"
             "for i in range(3):\n    print(f'step {i}', flush=True)\ntime.sleep(600)")


@pytest.fixture(scope="module")
def image(docker_client: object, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The image our build makes from the example's kernel environment, built once."""
    from jupyter_containerize.core import api

    folder = tmp_path_factory.mktemp("faults-image")
    shutil.copy(NOTEBOOKS / "params.ipynb", folder / "fixture.ipynb")
    return api.build(folder / "fixture.ipynb", python=str(EXAMPLE_PYTHON)).reference


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return tmp_path / "data"


def _env(data: Path) -> dict[str, str]:
    return {"JUPYTER_CONTAINERIZE_DATA_DIR": str(data)}


def _outputs(path: Path) -> list[str]:
    """Each cell's text output in the executed notebook."""
    cells = json.loads(path.read_text())["cells"]
    return ["".join("".join(o.get("text", "")) for o in c.get("outputs", [])) for c in cells]


def _error_lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.startswith("error:")]


def _no_containers_left(docker_client: object) -> None:
    flt = {"label": f"{TEST_LABEL}={TEST_RUN_ID}"}
    left = [c for c in docker_client.containers.list(all=True, filters=flt)  # type: ignore[attr-defined]
            if c.name.startswith("containerize-run-")]
    assert left == [], "a run's container is removed however it ends"


@pytest.mark.hostile
def test_out_of_memory_is_named_and_the_notebook_kept(
        image: str, data: Path, tmp_path: Path, docker_client: object) -> None:
    nb = notebook(tmp_path / "project" / "hungry.ipynb",
                  "print('before the allocation', flush=True)",
                  "blocks = [b'x' * (50 << 20) for _ in range(10)]  # 500 MB, every page touched",
                  "print('never printed')")
    proc = cli("run", str(nb), "--image", image, "--memory", MEMORY, "--json", env=_env(data))
    assert proc.returncode == 1, proc.stderr
    # papermill's own report of the dead kernel is part of the run's log (indented progress);
    # the CLI itself prints no traceback
    assert not [ln for ln in proc.stderr.splitlines() if ln.startswith("Traceback")]
    assert "None: None" not in proc.stderr
    [line] = _error_lines(proc.stderr)
    assert f"killed: out of memory (limit {MEMORY})" in line, line
    record = json.loads(proc.stdout)
    assert record["status"] == "failed"
    assert record["error"]["message"] == f"killed: out of memory (limit {MEMORY})"
    executed = Path(record["output"])
    assert executed.exists(), "the executed notebook is kept"
    assert "before the allocation" in _outputs(executed)[0]
    listed = cli("runs", env=_env(data)).stdout.split()
    assert listed[:2] == [record["id"], "failed"], listed
    _no_containers_left(docker_client)


@pytest.mark.hostile
def test_timeout_keeps_the_running_cells_streamed_output(
        image: str, data: Path, tmp_path: Path, docker_client: object) -> None:
    nb = notebook(tmp_path / "project" / "slow.ipynb", "print('first cell', flush=True)",
                  SLOW_CELL, "print('never printed')")
    proc = cli("run", str(nb), "--image", image, "--timeout", "25", "--json", env=_env(data))
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    [line] = _error_lines(proc.stderr)
    assert line.startswith("error: run timed out: cell 2 (executed notebook: "), line
    record = json.loads(proc.stdout)
    assert record["status"] == "timed out"
    outputs = _outputs(Path(record["output"]))
    assert outputs[0] == "first cell\n"
    assert outputs[1] == "inside the slow cell\nstep 0\nstep 1\nstep 2\n", outputs
    assert "never printed" not in "".join(outputs)
    _no_containers_left(docker_client)


@pytest.mark.hostile
def test_ctrl_c_keeps_output_and_files_and_exits_130(
        image: str, data: Path, tmp_path: Path, docker_client: object) -> None:
    nb = notebook(tmp_path / "project" / "interrupted.ipynb",
                  "open('partial.csv', 'w').write('a,b\\n1,2\\n')\nprint('wrote it', flush=True)",
                  SLOW_CELL)
    exe = Path(sys.executable).with_name("jupyter-containerize")
    proc = subprocess.Popen([str(exe), "run", str(nb), "--image", image, "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **_env(data)}, preexec_fn=terminal_sigint)
    seen: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert proc.stderr is not None
        for text in proc.stderr:
            seen.append(text)
            if "step 2" in text:
                ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert ready.wait(180), "".join(seen)
    time.sleep(1)
    proc.send_signal(signal.SIGINT)
    assert proc.stdout is not None
    out = proc.stdout.read()
    proc.wait(timeout=120)
    reader.join(timeout=10)
    stderr = "".join(seen)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    [line] = _error_lines(stderr)
    assert line.startswith("error: run cancelled: cell 2 (executed notebook: "), line
    record = json.loads(out)
    assert record["status"] == "cancelled"
    outputs = _outputs(Path(record["output"]))
    assert outputs[0] == "wrote it\n"
    assert outputs[1] == "inside the slow cell\nstep 0\nstep 1\nstep 2\n", outputs
    assert [a["path"] for a in record["artifacts"]] == ["partial.csv"]
    assert (Path(record["artifacts_dir"]) / "partial.csv").read_text() == "a,b\n1,2\n"
    _no_containers_left(docker_client)


@pytest.mark.hostile
def test_a_corrupt_store_then_run_works_and_runs_lists_the_history(
        image: str, data: Path, tmp_path: Path) -> None:
    nb = notebook(tmp_path / "project" / "small.ipynb", "print('hello', flush=True)")
    first = cli("run", str(nb), "--image", image, "--json", env=_env(data))
    assert first.returncode == 0, first.stderr
    first_id = json.loads(first.stdout)["id"]
    store = data / "jobs.sqlite"
    for tail in ("-wal", "-shm"):
        Path(f"{store}{tail}").unlink(missing_ok=True)
    store.write_bytes(os.urandom(32768))
    damaged = store.read_bytes()

    second = cli("run", str(nb), "--image", image, "--json", env=_env(data))
    assert second.returncode == 0, second.stderr
    assert "Traceback" not in second.stderr
    warnings = [ln for ln in second.stderr.splitlines() if "job store" in ln]
    assert len(warnings) == 1, second.stderr
    assert warnings[0].startswith("warning: the job store was damaged; kept it as ")
    assert warnings[0].endswith(" and rebuilt 1 run from their folders")
    [kept] = sorted(data.glob("jobs.damaged-*.sqlite"))
    assert kept.read_bytes() == damaged, "the damaged store is kept, not deleted"
    second_id = json.loads(second.stdout)["id"]

    listed = cli("runs", env=_env(data))
    assert listed.returncode == 0 and listed.stderr == "", listed.stderr
    rows = {ln.split()[0]: ln.split()[1] for ln in listed.stdout.splitlines()}
    assert rows == {first_id: "succeeded", second_id: "succeeded"}
    assert (data / "runs" / first_id / "small.out.ipynb").exists()
