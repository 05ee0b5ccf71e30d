"""A damaged, old, newer or contended job store: kept aside and rebuilt from the run folders,
migrated, refused with the fix, or shared by writers, never a traceback and nothing lost."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from jupyter_containerize.core.jobs import repair as jobs_repair
from jupyter_containerize.core.jobs import store as jobs
from jupyter_containerize.core.jobs.store import SCHEMA_VERSION, JobStore, JobStoreError

pytestmark = pytest.mark.hostile
CLI = Path(sys.executable).with_name("jupyter-containerize")


def _run_folder(data: Path, run_id: str, status: str = "succeeded", stem: str = "nb") -> Path:
    """A run folder as ``run`` leaves it: executed notebook, record beside it, artifacts."""
    folder = data / "runs" / run_id
    (folder / "artifacts").mkdir(parents=True)
    (folder / "artifacts" / jobs_repair.MARKER).write_text(run_id + "\n")
    (folder / "artifacts" / "weights.bin").write_bytes(b"\x00" * 16)
    (folder / f"{stem}.out.ipynb").write_text('{"cells": []}')
    record = {
        "id": run_id, "notebook": f"/work/{stem}.ipynb", "image": "img:1", "status": status,
        "parameters": {"seed": 3}, "env_names": ["TOKEN"], "started": "2026-01-02T03:04:05.000Z",
        "ended": "2026-01-02T03:04:09.000Z", "output": str(folder / f"{stem}.out.ipynb"),
        "artifacts": [{"path": "weights.bin", "size": 16, "sha256": "ab" * 32}],
        "reproduction": {"verdict": "reproduced"},
        "error": None if status == "succeeded" else {"message": "cell 2 raised ValueError: x"},
    }
    (folder / f"{stem}.out.run.json").write_text(json.dumps(record))
    return folder


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(jobs.DATA_DIR_ENV, str(tmp_path))
    return tmp_path


def _history(data: Path) -> tuple[JobStore, list[str]]:
    """A store with two runs (folders written as run writes them) and a build job."""
    store = JobStore(data / "jobs.sqlite")
    ids = []
    for status in ("succeeded", "failed"):
        job = store.create("run", notebook="/work/nb.ipynb")
        _run_folder(data, job.id, status)
        store.update(job.id, status=status)
        ids.append(job.id)
    store.create("build", notebook="/work/nb.ipynb")
    for n in range(200):  # enough pages that a cut lands inside the file's data
        store.append_log(ids[0], f"log line {n} " + "x" * 200)
    store.close()
    return store, ids


def _kept(data: Path) -> list[Path]:
    return sorted(data.glob("jobs.damaged-*.sqlite"))


def _reopen(data: Path) -> tuple[JobStore, list[str]]:
    said: list[str] = []
    store = JobStore(data / "jobs.sqlite", notify=said.append)
    return store, said


def _assert_rebuilt(data: Path, ids: list[str], damaged: bytes, said: list[str],
                    store: JobStore) -> None:
    kept = _kept(data)
    assert len(kept) == 1 and kept[0].read_bytes() == damaged, "the damaged file is kept as is"
    assert said == [f"the job store was damaged; kept it as {kept[0]} and rebuilt 2 runs "
                    "from their folders"]
    assert store.notice == said[0]
    runs = {j.id: j for j in store.list(kind="run")}
    assert set(runs) == set(ids)
    first, second = runs[ids[0]], runs[ids[1]]
    assert first.status == "succeeded" and second.status == "failed"
    assert first.result and first.result["artifacts"][0]["path"] == "weights.bin"
    assert first.params == {"parameters": {"seed": 3}, "env": ["TOKEN"]}
    assert first.notebook == "/work/nb.ipynb" and first.created == "2026-01-02T03:04:05.000Z"
    assert second.error == {"message": "cell 2 raised ValueError: x"}
    assert store._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert (data / "runs" / ids[0] / "artifacts" / "weights.bin").exists(), "no file lost"
    again, said_again = _reopen(data)
    assert said_again == [] and again.notice is None, "said once, not at every start"
    assert {j.id for j in again.list(kind="run")} == set(ids)
    job = again.create("run")  # and the new store works
    assert again.get(job.id).status == "pending"


def test_truncated_store_is_kept_and_rebuilt(data: Path) -> None:
    _, ids = _history(data)
    path = data / "jobs.sqlite"
    raw = path.read_bytes()
    assert len(raw) > 16384
    path.write_bytes(raw[: len(raw) // 3])
    damaged = path.read_bytes()
    store, said = _reopen(data)
    _assert_rebuilt(data, ids, damaged, said, store)


def test_random_bytes_store_is_kept_and_rebuilt(data: Path) -> None:
    _, ids = _history(data)
    path = data / "jobs.sqlite"
    path.write_bytes(os.urandom(40960))
    damaged = path.read_bytes()
    store, said = _reopen(data)
    _assert_rebuilt(data, ids, damaged, said, store)


def test_page_damage_found_by_the_integrity_check(data: Path) -> None:
    """A store whose header is sound but whose pages are overwritten: quick_check says so."""
    _, ids = _history(data)
    path = data / "jobs.sqlite"
    raw = bytearray(path.read_bytes())
    page = 4096
    raw[page: len(raw)] = b"\xa5" * (len(raw) - page)  # every page after the first
    path.write_bytes(bytes(raw))
    store, said = _reopen(data)
    _assert_rebuilt(data, ids, bytes(raw), said, store)


def test_zero_length_store_with_run_folders_is_rebuilt(data: Path) -> None:
    _, ids = _history(data)
    path = data / "jobs.sqlite"
    path.write_bytes(b"")
    store, said = _reopen(data)
    _assert_rebuilt(data, ids, b"", said, store)


def test_zero_length_store_without_run_folders_is_a_new_store(data: Path) -> None:
    (data / "jobs.sqlite").write_bytes(b"")
    store, said = _reopen(data)
    assert said == [] and _kept(data) == []
    assert store.list() == []


def test_run_folder_without_a_record_is_listed_as_lost(data: Path) -> None:
    """A run that wrote its notebook elsewhere (--output) left only its artifacts here."""
    folder = data / "runs" / "0123456789ab"
    (folder / "artifacts").mkdir(parents=True)
    (folder / "artifacts" / "model.bin").write_bytes(b"m")
    (data / "runs" / "stray-file.txt").write_text("not a run")  # a file, not a run folder
    (data / "jobs.sqlite").write_bytes(b"SQLite format 3\x00" + os.urandom(8000))
    store, said = _reopen(data)
    assert said and "rebuilt 1 run from their folders" in said[0]
    [job] = store.list(kind="run")
    assert job.id == "0123456789ab" and job.status == "failed"
    assert job.error and "record was lost" in job.error["message"]
    assert str(folder) in job.error["hint"]


def test_damaged_store_via_the_cli_says_so_once(data: Path) -> None:
    _, ids = _history(data)
    (data / "jobs.sqlite").write_bytes(os.urandom(20000))
    env = {**os.environ, jobs.DATA_DIR_ENV: str(data)}
    first = subprocess.run([str(CLI), "runs"], capture_output=True, text=True, env=env)
    assert first.returncode == 0, first.stderr
    assert "Traceback" not in first.stderr
    warnings = [ln for ln in first.stderr.splitlines() if ln.startswith("warning:")]
    assert len(warnings) == 1 and "the job store was damaged; kept it as" in warnings[0]
    assert "rebuilt 2 runs from their folders" in warnings[0]
    assert all(run_id in first.stdout for run_id in ids)
    second = subprocess.run([str(CLI), "runs"], capture_output=True, text=True, env=env)
    assert second.returncode == 0 and second.stderr == ""
    assert all(run_id in second.stdout for run_id in ids)


def test_prune_on_a_damaged_store(data: Path) -> None:
    _history(data)
    (data / "jobs.sqlite").write_bytes(b"\x00" * 5000)
    env = {**os.environ, jobs.DATA_DIR_ENV: str(data)}
    proc = subprocess.run([str(CLI), "prune", "--runs", "--older-than", "36500d"],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "removed 0 run records" in proc.stdout
    assert len(_kept(data)) == 1


def test_store_from_a_newer_version_is_refused(data: Path) -> None:
    path = data / "jobs.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE jobs (id TEXT PRIMARY KEY, shape TEXT)")
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    db.commit()
    db.close()
    before = path.read_bytes()
    with pytest.raises(JobStoreError) as err:
        JobStore(path)
    line = err.value.one_line()
    assert f"schema version {SCHEMA_VERSION + 5}" in line
    assert "upgrade the package: pip install -U jupyter-containerize" in line
    assert path.read_bytes() == before and _kept(data) == [], "a newer store is left alone"
    env = {**os.environ, jobs.DATA_DIR_ENV: str(data)}
    proc = subprocess.run([str(CLI), "runs"], capture_output=True, text=True, env=env)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [f"error: {line}"]


def test_store_from_before_versioning_is_migrated(data: Path) -> None:
    """A store without user_version, from when ``jobs`` had no progress or container column."""
    path = data / "jobs.sqlite"
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE jobs (id TEXT PRIMARY KEY, kind TEXT NOT NULL, status TEXT NOT NULL,
            created TEXT NOT NULL, updated TEXT NOT NULL, created_ts REAL NOT NULL,
            notebook TEXT, params TEXT, result TEXT, error TEXT);
        CREATE TABLE logs (seq INTEGER PRIMARY KEY AUTOINCREMENT, job_id TEXT NOT NULL,
            line TEXT NOT NULL);
        INSERT INTO jobs VALUES ('oldrun000001', 'run', 'succeeded', '2025-05-01T00:00:00.000Z',
            '2025-05-01T00:00:09.000Z', 1746057600, '/work/old.ipynb', '{}',
            '{"status": "succeeded"}', NULL);
        INSERT INTO logs (job_id, line) VALUES ('oldrun000001', 'old line');
    """)
    db.commit()
    assert db.execute("PRAGMA user_version").fetchone()[0] == 0
    db.close()
    store, said = _reopen(data)
    assert said == [] and _kept(data) == []
    assert store._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    old = store.get("oldrun000001")
    assert old.status == "succeeded" and old.notebook == "/work/old.ipynb"
    assert old.container is None and old.progress is None
    assert [line for _, line in store.logs(old.id)] == ["old line"]
    new = store.create("run")
    assert store.update(new.id, container="c1", progress={"cell": 1}).container == "c1"
    assert [j.id for j in store.list()] == [new.id, old.id]


def test_a_locked_store_is_not_mistaken_for_damage() -> None:
    locked = sqlite3.OperationalError("database is locked")
    assert not jobs_repair.is_damage(locked)
    assert jobs_repair.is_damage(sqlite3.DatabaseError("file is not a database"))


_WRITER = """
import sys
from jupyter_containerize.core.jobs.store import JobStore
store = JobStore(sys.argv[1])
for n in range(40):
    job = store.create("run", notebook=f"w{sys.argv[2]}-{n}")
    store.append_log(job.id, f"line {n}")
    store.update(job.id, status="succeeded", result={"n": n})
print("done")
"""


def test_concurrent_writers_lose_nothing(data: Path) -> None:
    """Four processes and four threads write at once: every job and log line is there."""
    path = data / "jobs.sqlite"
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(path), str(n)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for n in range(4)]
    store = JobStore(path)
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for k in range(40):
                job = store.create("build", notebook=f"t{n}-{k}")
                store.append_log(job.id, "line")
                store.update(job.id, status="succeeded")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0 and out.strip() == "done", err
    assert errors == []
    assert len(store.list(kind="run", limit=1000)) == 160
    assert len(store.list(kind="build", limit=1000)) == 160
    assert all(j.status == "succeeded" for j in store.list(limit=1000))
    assert store._db.execute("PRAGMA quick_check").fetchone()[0] == "ok"
    assert _kept(data) == []


_OPENER = """
import sys
from jupyter_containerize.core.jobs.store import JobStore
store = JobStore(sys.argv[1], notify=lambda line: print("NOTICE", line))
print(len(store.list(kind="run")))
"""


def test_concurrent_opens_of_a_damaged_store_repair_it_once(data: Path) -> None:
    _, ids = _history(data)
    path = data / "jobs.sqlite"
    path.write_bytes(os.urandom(30000))
    procs = [subprocess.Popen([sys.executable, "-c", _OPENER, str(path)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(4)]
    outs = [proc.communicate(timeout=120) for proc in procs]
    assert all(proc.returncode == 0 for proc in procs), outs
    notices = [line for out, _ in outs for line in out.splitlines() if line.startswith("NOTICE")]
    assert len(notices) == 1, outs
    assert all(out.splitlines()[-1] == "2" for out, _ in outs)
    assert len(_kept(data)) == 1
