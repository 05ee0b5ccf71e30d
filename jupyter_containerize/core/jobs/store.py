"""The one store of runs and jobs: SQLite under the Jupyter data directory.

The CLI, the magic, the widget and the server all write here at once: WAL mode, a busy
timeout, one connection per store guarded by a lock. Runs are jobs of kind ``run`` whose
``result`` is the RunRecord's JSON. No secret is ever stored: ``--env`` values are reduced to
their names before anything is written.

The schema is versioned with ``PRAGMA user_version`` and brought up to date by an ordered list
of migrations when a store is opened. A store that is damaged (not a database, malformed, or
emptied while run folders remain) is kept aside and rebuilt from the run folders
(:mod:`.jobs_repair`); the store says so once in :attr:`JobStore.notice`.
"""

from __future__ import annotations

import builtins
import json
import logging
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

from ..errors import ContainerizeError, NotFoundError
from ..models import Job
from ..paths import data_dir
from . import repair as jobs_repair

DATA_DIR_ENV = "JUPYTER_CONTAINERIZE_DATA_DIR"  # read by core.paths.data_dir
ACTIVE = ("pending", "running")
SERVER_STOPPED = "server stopped"
_LIST_HINT = "list them with `jupyter containerize runs`"
_JSON_FIELDS = ("params", "result", "error", "progress")
_FIELDS = ("status", "result", "error", "progress", "container", "notebook", "params")

_log = logging.getLogger(__name__)

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
# every column of ``jobs`` after ``id``, as the current schema declares it
_COLUMNS = {
    "kind": "TEXT NOT NULL DEFAULT 'run'", "status": "TEXT NOT NULL DEFAULT 'failed'",
    "created": "TEXT NOT NULL DEFAULT ''", "updated": "TEXT NOT NULL DEFAULT ''",
    "created_ts": "REAL NOT NULL DEFAULT 0", "notebook": "TEXT", "params": "TEXT",
    "result": "TEXT", "error": "TEXT", "progress": "TEXT", "container": "TEXT",
}


class JobStoreError(ContainerizeError):
    """The job store cannot be used as it is (written by a newer version, or unreadable)."""

    http_status = 500


def _to_v1(db: sqlite3.Connection) -> None:
    """Version 1: the jobs and logs tables; a store from before versioning gains any column
    it lacks (rows keep their values)."""
    _create_tables(db)
    have = {str(row[1]) for row in db.execute("PRAGMA table_info(jobs)")}
    for name, decl in _COLUMNS.items():
        if name not in have:
            db.execute(f"ALTER TABLE jobs ADD COLUMN {name} {decl}")


# ordered: MIGRATIONS[n] takes a store from version n to n + 1; append, never edit
MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (_to_v1,)
SCHEMA_VERSION = len(MIGRATIONS)


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

    def __init__(
        self, path: str | Path | None = None, notify: Callable[[str], None] | None = None
    ) -> None:
        """Open (or create) the store; a damaged one is kept aside and rebuilt first.

        ``notify`` receives the one line that says a store was rebuilt (default: a warning on
        this module's logger); it is also kept in :attr:`notice`.
        """
        self.path = Path(path) if path else data_dir() / "jobs.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self.notice: str | None = None
        with jobs_repair.exclusive(self.path):
            self._db = self._open_checked()
        if self.notice:
            (notify or _log.warning)(self.notice)

    def _open_checked(self) -> sqlite3.Connection:
        runs = self.path.parent / "runs"
        damage = ""
        if jobs_repair.emptied(self.path, runs):
            damage = "the file is empty"
        else:
            db: sqlite3.Connection | None = None
            try:
                db = _connect(self.path)
                jobs_repair.check(db)
                _migrate(db, self.path)
                return db
            except sqlite3.DatabaseError as exc:
                if db is not None:
                    db.close()
                if not jobs_repair.is_damage(exc):
                    raise JobStoreError(
                        f"the job store {self.path} cannot be opened: {exc}",
                        hint="check the file's permissions and that the disk is not full",
                    ) from exc
                damage = str(exc)
            except BaseException:
                if db is not None:
                    db.close()
                raise
        kept = jobs_repair.move_aside(self.path)
        db = _connect(self.path)
        _migrate(db, self.path)
        rows = jobs_repair.rebuild_rows(runs)
        with self._lock:
            db.execute("BEGIN IMMEDIATE")
            db.executemany(
                "INSERT OR IGNORE INTO jobs (id, kind, status, created, updated, created_ts,"
                " notebook, params, result, error, progress, container)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            db.execute("COMMIT")
        _log.debug("job store damage: %s", damage)
        self.notice = (
            f"the job store was damaged; kept it as {kept} and rebuilt {len(rows)} "
            f"run{'s' if len(rows) != 1 else ''} from their folders"
        )
        return db

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
        """Remove finished jobs older than this, with the files we wrote under the data dir.
        A schedule is kept until it is removed, however old (it is a definition, not a run)."""
        cutoff = time.time() - older_than_seconds
        marks = ", ".join("?" for _ in ACTIVE)
        with self._lock:
            rows = self._db.execute(
                f"SELECT id FROM jobs WHERE created_ts < ? AND status NOT IN ({marks})"
                " AND (kind != 'schedule' OR status = 'removed')",
                (cutoff, *ACTIVE),
            ).fetchall()
        ids = [str(r["id"]) for r in rows]
        for job_id in ids:
            with self._write() as db:
                db.execute("DELETE FROM logs WHERE job_id = ?", (job_id,))
                db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
            shutil.rmtree(self.path.parent / "runs" / job_id, ignore_errors=True)
        return len(ids)


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(str(path), timeout=5.0, isolation_level=None, check_same_thread=False)
    db.row_factory = sqlite3.Row
    try:
        db.execute("PRAGMA busy_timeout = 5000")
    except BaseException:
        db.close()
        raise
    return db


def _migrate(db: sqlite3.Connection, path: Path) -> None:
    """Bring the store to :data:`SCHEMA_VERSION`, one migration per transaction; a store
    from a newer version is refused before anything in it changes."""
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        from ..._version import __version__

        raise JobStoreError(
            f"the job store {path} has schema version {version}, newer than this "
            f"jupyter-containerize {__version__} knows ({SCHEMA_VERSION})",
            hint="upgrade the package: pip install -U jupyter-containerize",
        )
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    while version < SCHEMA_VERSION:
        db.execute("BEGIN IMMEDIATE")
        try:
            # another process may have migrated while we waited for the write lock
            version = int(db.execute("PRAGMA user_version").fetchone()[0])
            if version < SCHEMA_VERSION:
                MIGRATIONS[version](db)
                version += 1
                db.execute(f"PRAGMA user_version = {version}")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
    _create_tables(db)  # tables dropped by hand come back (empty)


def _create_tables(db: sqlite3.Connection) -> None:
    """The schema, statement by statement (inside the caller's transaction, if any)."""
    for statement in _SCHEMA.split(";"):
        if statement.strip():
            db.execute(statement)


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
