"""The one store of runs and jobs: SQLite under the Jupyter data directory.

The CLI, the magic, the widget and the server all write here at once: WAL mode, a busy
timeout, one connection per store guarded by a lock. Runs are jobs of kind ``run`` whose
``result`` is the RunRecord's JSON. No secret is ever stored: ``--env`` values are reduced to
their names before anything is written.
"""

from __future__ import annotations

import builtins
import json
import os
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .errors import NotFoundError
from .models import Job

DATA_DIR_ENV = "JUPYTER_CONTAINERIZE_DATA_DIR"
ACTIVE = ("pending", "running")
SERVER_STOPPED = "server stopped"
_LIST_HINT = "list them with `jupyter containerize runs`"
_JSON_FIELDS = ("params", "result", "error", "progress")
_FIELDS = ("status", "result", "error", "progress", "container", "notebook", "params")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, status TEXT NOT NULL,
    created TEXT NOT NULL, updated TEXT NOT NULL, created_ts REAL NOT NULL,
    notebook TEXT, params TEXT, result TEXT, error TEXT, progress TEXT, container TEXT
);
CREATE INDEX IF NOT EXISTS jobs_created ON jobs (created_ts);
CREATE TABLE IF NOT EXISTS logs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, job_id TEXT NOT NULL, line TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS logs_job ON logs (job_id, seq);
"""


def data_dir() -> Path:
    """Our folder under the Jupyter data directory (never the runtime directory)."""
    override = os.environ.get(DATA_DIR_ENV)
    if override:
        return Path(override)
    from jupyter_core.paths import jupyter_data_dir

    return Path(jupyter_data_dir()) / "containerize"


def run_dir(job_id: str) -> Path:
    """Where a run's executed notebook and artifacts go unless the user says otherwise."""
    return data_dir() / "runs" / job_id


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def scrub(params: dict[str, Any] | None) -> dict[str, Any]:
    """Parameters safe to store: ``env`` entries keep their names, never their values."""
    clean = dict(params or {})
    if clean.get("env"):
        clean["env"] = [str(item).split("=", 1)[0] for item in clean["env"]]
    return clean


class JobStore:
    """Runs and jobs in one SQLite file, safe across threads and processes."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else data_dir() / "jobs.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(
            str(self.path), timeout=5.0, isolation_level=None, check_same_thread=False
        )
        self._db.row_factory = sqlite3.Row
        with self._lock:
            self._db.execute("PRAGMA busy_timeout = 5000")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def create(
        self, kind: str, notebook: str | None = None, params: dict[str, Any] | None = None
    ) -> Job:
        """A new pending job; ``params`` are scrubbed of secrets before they are stored."""
        stamp = now_iso()
        job = Job(
            id=uuid.uuid4().hex[:12], kind=kind, status="pending", created=stamp,
            updated=stamp, notebook=notebook, params=scrub(params),
        )
        with self._write() as db:
            db.execute(
                "INSERT INTO jobs (id, kind, status, created, updated, created_ts, notebook,"
                " params) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (job.id, kind, job.status, stamp, stamp, time.time(), notebook,
                 json.dumps(job.params)),
            )
        return job

    def update(self, job_id: str, **fields: Any) -> Job:
        """Change status, result, error, progress or container; sets ``updated``."""
        unknown = set(fields) - set(_FIELDS)
        if unknown:
            raise TypeError(f"unknown job fields: {', '.join(sorted(unknown))}")
        if "params" in fields:
            fields["params"] = scrub(fields["params"])
        values = {k: json.dumps(v) if k in _JSON_FIELDS else v for k, v in fields.items()}
        values["updated"] = now_iso()
        assignments = ", ".join(f"{name} = ?" for name in values)
        with self._write() as db:
            cursor = db.execute(
                f"UPDATE jobs SET {assignments} WHERE id = ?", (*values.values(), job_id)
            )
            if cursor.rowcount == 0:
                raise NotFoundError(f"no job {job_id!r}", _LIST_HINT)
        return self.get(job_id)

    def get(self, job_id: str) -> Job:
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no job {job_id!r}", _LIST_HINT)
        return _to_job(row)

    def list(self, kind: str | None = None, limit: int = 200) -> builtins.list[Job]:
        """Jobs, newest first."""
        query = "SELECT * FROM jobs"
        args: tuple[Any, ...] = ()
        if kind:
            query += " WHERE kind = ?"
            args = (kind,)
        query += " ORDER BY created_ts DESC, rowid DESC LIMIT ?"
        with self._lock:
            rows = self._db.execute(query, (*args, int(limit))).fetchall()
        return [_to_job(row) for row in rows]

    def append_log(self, job_id: str, line: str) -> None:
        with self._write() as db:
            db.execute("INSERT INTO logs (job_id, line) VALUES (?, ?)", (job_id, line))

    def logs(self, job_id: str, since: int = 0) -> builtins.list[tuple[int, str]]:
        """Log lines after sequence number ``since``, as (seq, line)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, line FROM logs WHERE job_id = ? AND seq > ? ORDER BY seq",
                (job_id, since),
            ).fetchall()
        return [(int(r["seq"]), str(r["line"])) for r in rows]

    def recover(self, is_container_running: Callable[[str], bool]) -> builtins.list[Job]:
        """After a restart: end jobs whose work died; return those still running to re-attach."""
        attach: builtins.list[Job] = []
        for job in self._active():
            if job.container and _safe_check(is_container_running, job.container):
                attach.append(self.update(job.id, status="running"))
                continue
            error = {"message": SERVER_STOPPED, "hint": "start it again"}
            job = self.update(job.id, status="failed", error=error)
            if job.kind == "run" and job.result:
                self.update(job.id, result={**job.result, "status": "failed", "error": error})
        return attach

    def _active(self) -> builtins.list[Job]:
        marks = ", ".join("?" for _ in ACTIVE)
        with self._lock:
            rows = self._db.execute(f"SELECT * FROM jobs WHERE status IN ({marks})", ACTIVE)
            return [_to_job(row) for row in rows.fetchall()]

    def prune(self, older_than_seconds: float) -> int:
        """Remove finished jobs older than this, with the files we wrote under the data dir."""
        cutoff = time.time() - older_than_seconds
        marks = ", ".join("?" for _ in ACTIVE)
        with self._lock:
            rows = self._db.execute(
                f"SELECT id FROM jobs WHERE created_ts < ? AND status NOT IN ({marks})",
                (cutoff, *ACTIVE),
            ).fetchall()
        ids = [str(r["id"]) for r in rows]
        for job_id in ids:
            with self._write() as db:
                db.execute("DELETE FROM logs WHERE job_id = ?", (job_id,))
                db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
            shutil.rmtree(self.path.parent / "runs" / job_id, ignore_errors=True)
        return len(ids)


def _safe_check(check: Callable[[str], bool], container: str) -> bool:
    try:
        return bool(check(container))
    except Exception:
        return False


def _to_job(row: sqlite3.Row) -> Job:
    data = {key: row[key] for key in row.keys() if key != "created_ts"}
    for key in _JSON_FIELDS:
        data[key] = json.loads(data[key]) if data[key] else None
    data["params"] = data["params"] or {}
    return Job.from_json(data)
