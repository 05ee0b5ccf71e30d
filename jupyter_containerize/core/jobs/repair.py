"""A damaged job store: how it is recognised, where it is kept, and what is rebuilt.

Every run leaves a folder ``<data dir>/runs/<run id>/`` holding its executed notebook
(``<stem>.out.ipynb``), the run record beside it (``<stem>.out.run.json``, the RunRecord's
JSON) and ``artifacts/`` (with a marker file naming the run). When the store can no longer be
read, those folders are the history: each becomes a ``run`` job again. The damaged file is
renamed (never deleted) so nothing in it is lost.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

FINAL = ("succeeded", "failed", "cancelled", "timed out")
MARKER = ".jupyter-containerize-artifacts"
_CORRUPT, _NOTADB = 11, 26  # SQLite's primary result codes for a damaged file
_DAMAGE_WORDS = ("malformed", "not a database", "corrupt")
Row = tuple[Any, ...]


class Damaged(sqlite3.DatabaseError):
    """The store opened but its integrity check failed."""


@contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold an exclusive lock beside the store: one process checks or repairs it at a time."""
    try:
        import fcntl
    except ImportError:  # no advisory locks here: SQLite's own locking still applies
        yield
        return
    try:
        handle = open(path.with_name(path.name + ".lock"), "a+b")  # noqa: SIM115
    except OSError:  # a read-only folder: opening the store itself will say what is wrong
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_folders(runs: Path) -> list[Path]:
    try:
        return sorted(p for p in runs.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return []


def emptied(path: Path, runs: Path) -> bool:
    """A zero-length store while run folders remain: its records were lost."""
    try:
        return path.stat().st_size == 0 and bool(run_folders(runs))
    except OSError:
        return False


def check(db: sqlite3.Connection) -> None:
    """Raise :class:`Damaged` unless SQLite's quick check finds the file sound."""
    found = [str(row[0]) for row in db.execute("PRAGMA quick_check").fetchall()]
    if found != ["ok"]:
        raise Damaged(f"integrity check failed: {found[0] if found else 'no answer'}")


def is_damage(exc: sqlite3.DatabaseError) -> bool:
    """Damage (not a database, malformed) as opposed to a busy, locked or unwritable store."""
    if isinstance(exc, Damaged):
        return True
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in (_CORRUPT, _NOTADB)
    return any(word in str(exc).lower() for word in _DAMAGE_WORDS)


def move_aside(path: Path) -> Path:
    """Rename the store (and its WAL and shared-memory files) to a timestamped name beside it."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    kept = path.with_name(f"{path.stem}.damaged-{stamp}{path.suffix}")
    n = 1
    while kept.exists():
        n += 1
        kept = path.with_name(f"{path.stem}.damaged-{stamp}-{n}{path.suffix}")
    if path.exists():
        os.replace(path, kept)
    else:
        kept.touch()
    for tail in ("-wal", "-shm", "-journal"):
        side = path.with_name(path.name + tail)
        if side.exists():
            os.replace(side, kept.with_name(kept.name + tail))
    return kept


def rebuild_rows(runs: Path) -> list[Row]:
    """One ``jobs`` row per run folder, from its run record when it left one."""
    rows: list[Row] = []
    for folder in run_folders(runs):
        try:
            rows.append(_row(folder))
        except OSError:
            continue
    return rows


def _row(folder: Path) -> Row:
    record = _record(folder)
    mtime = folder.stat().st_mtime
    if record is None:
        record = _lost_record(folder)
    status = record.get("status")
    if status not in FINAL:
        status = "failed"
        record["status"] = status
        record["error"] = record.get("error") or {
            "message": "the run did not finish", "hint": "run it again"}
    created = str(record.get("started") or _iso(mtime))
    created_ts = _timestamp(created, mtime)
    params = {"parameters": record.get("parameters") or {}, "env": record.get("env_names") or []}
    return (
        folder.name, "run", status, created, str(record.get("ended") or created), created_ts,
        record.get("notebook"), json.dumps(params), json.dumps(record),
        json.dumps(record.get("error")) if record.get("error") else None, None,
        record.get("container"),
    )


def _record(folder: Path) -> dict[str, Any] | None:
    """The newest readable run record in the folder that belongs to this run."""
    found = sorted(folder.glob("*.run.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    for path in found:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("id", folder.name) == folder.name:
            data["id"] = folder.name
            return data
    return None


def _lost_record(folder: Path) -> dict[str, Any]:
    """A run whose record file is missing: what its folder still shows."""
    executed = sorted(folder.glob("*.out.ipynb"))
    artifacts = folder / "artifacts"
    return {
        "id": folder.name, "notebook": None, "image": "", "status": "failed",
        "output": str(executed[0]) if executed else None,
        "artifacts_dir": str(artifacts) if artifacts.is_dir() else None,
        "error": {"message": "its record was lost with the damaged job store",
                  "hint": f"what the run left is in {folder}"},
    }


def _iso(stamp: float) -> str:
    moment = datetime.fromtimestamp(stamp, timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _timestamp(text: str, fallback: float) -> float:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return fallback
