"""The one store of runs and jobs: concurrency, recovery, pruning, no secrets."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from jupyter_containerize.core.errors import NotFoundError
from jupyter_containerize.core.jobs import store as jobs
from jupyter_containerize.core.jobs.store import JobStore


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> JobStore:
    monkeypatch.setenv(jobs.DATA_DIR_ENV, str(tmp_path))
    return JobStore()


def test_store_lives_in_the_data_dir(store: JobStore, tmp_path: Path) -> None:
    assert store.path == tmp_path / "jobs.sqlite"
    mode = store._db.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_create_update_get_list(store: JobStore) -> None:
    first = store.create("build", notebook="a.ipynb")
    second = store.create("run", notebook="b.ipynb", params={"parameters": {"seed": 1}})
    updated = store.update(second.id, status="running", progress={"cell": 2, "total": 5})
    assert updated.status == "running" and updated.progress == {"cell": 2, "total": 5}
    assert updated.updated >= second.updated
    assert store.get(second.id).params == {"parameters": {"seed": 1}}
    assert [j.id for j in store.list()] == [second.id, first.id]
    assert [j.id for j in store.list(kind="build")] == [first.id]
    with pytest.raises(NotFoundError):
        store.get("nope")
    with pytest.raises(NotFoundError):
        store.update("nope", status="failed")


def test_env_values_are_never_stored(store: JobStore) -> None:
    job = store.create("run", params={"env": ["TOKEN=s3cr3t-value", "PLAIN"]})
    store.update(job.id, params={"env": ["OTHER=another-s3cr3t"]})
    store.close()
    raw = b"".join(p.read_bytes() for p in store.path.parent.glob("jobs.sqlite*"))
    assert b"s3cr3t" not in raw
    assert JobStore(store.path).get(job.id).params == {"env": ["OTHER"]}


def test_logs_since(store: JobStore) -> None:
    job = store.create("run")
    for n in range(3):
        store.append_log(job.id, f"line {n}")
    lines = store.logs(job.id)
    assert [text for _, text in lines] == ["line 0", "line 1", "line 2"]
    assert [text for _, text in store.logs(job.id, since=lines[0][0])] == ["line 1", "line 2"]


def test_two_threads_write_at_once(store: JobStore) -> None:
    job = store.create("run")
    errors: list[BaseException] = []

    def writer(tag: str) -> None:
        try:
            for n in range(100):
                store.append_log(job.id, f"{tag} {n}")
                store.update(job.id, progress={"tag": tag, "n": n})
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(t,)) for t in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(store.logs(job.id)) == 200


WRITER = """
import sys
from jupyter_containerize.core.jobs.store import JobStore
store = JobStore(sys.argv[1])
for n in range(150):
    store.append_log(sys.argv[2], f"{sys.argv[3]} {n}")
    store.update(sys.argv[2], progress={"n": n})
"""


def test_two_processes_write_at_once(store: JobStore) -> None:
    job = store.create("run")
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(store.path), job.id, tag])
        for tag in ("p1", "p2")
    ]
    for n in range(150):
        store.append_log(job.id, f"main {n}")
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    assert len(store.logs(job.id)) == 450


def test_recover_after_restart(store: JobStore) -> None:
    alive = store.create("run")
    store.update(alive.id, status="running", container="c-alive")
    dead = store.create("run")
    store.update(dead.id, status="running", container="c-dead",
                 result={"id": dead.id, "status": "running"})
    build = store.create("build")
    store.update(build.id, status="running")
    done = store.create("run")
    store.update(done.id, status="succeeded")

    attach = store.recover(lambda container: container == "c-alive")

    assert [j.id for j in attach] == [alive.id]
    assert store.get(alive.id).status == "running"
    for job_id in (dead.id, build.id):
        job = store.get(job_id)
        assert job.status == "failed"
        assert job.error and job.error["message"] == "server stopped"
    assert store.get(dead.id).result == {
        "id": dead.id, "status": "failed", "error": store.get(dead.id).error
    }
    assert store.get(done.id).status == "succeeded"


def test_recover_treats_a_failing_check_as_gone(store: JobStore) -> None:
    job = store.create("run")
    store.update(job.id, status="running", container="c")

    def broken(_: str) -> bool:
        raise RuntimeError("engine down")

    assert store.recover(broken) == []
    assert store.get(job.id).status == "failed"


def test_prune_removes_old_finished_records_and_files(store: JobStore, tmp_path: Path) -> None:
    old = store.create("run")
    store.update(old.id, status="succeeded")
    running = store.create("run")
    store.update(running.id, status="running")
    folder = jobs.run_dir(old.id)
    folder.mkdir(parents=True)
    (folder / "x.out.ipynb").write_text("{}")
    store.append_log(old.id, "bye")
    time.sleep(0.05)
    fresh = store.create("run")
    store.update(fresh.id, status="failed")

    assert store.prune(older_than_seconds=0.02) == 1
    assert not folder.exists()
    assert store.logs(old.id) == []
    assert {j.id for j in store.list()} == {running.id, fresh.id}


def test_prune_keeps_schedules_until_they_are_removed(store: JobStore) -> None:
    """A schedule is a definition: old, active or paused, it stays; once removed it goes."""
    active, paused, removed = (store.create("schedule") for _ in range(3))
    store.update(active.id, status="active")
    store.update(paused.id, status="paused")
    store.update(removed.id, status="removed")
    time.sleep(0.05)
    assert store.prune(older_than_seconds=0.02) == 1
    assert {j.id for j in store.list(kind="schedule")} == {active.id, paused.id}
