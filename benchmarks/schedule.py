"""Schedule benchmark: how late a scheduler's tick starts after its due time.

A schedule ticking every second (a six-field cron) runs in the real scheduler, with the job
store on disk; each tick's start (the moment its run would begin) is compared with the
wall-clock due time. The baseline, measured in the same run, is a plain ``time.sleep`` loop
aiming at the same whole seconds. Without --quick a last measure starts one real run of a tiny
notebook at a tick (the image is built first), timing the tick's start to the run's container
start.

    python benchmarks/schedule.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from common import Table, machine_facts, write_results  # noqa: E402

from jupyter_containerize.core.jobs.store import JobStore  # noqa: E402
from jupyter_containerize.core.models import RunRecord  # noqa: E402
from jupyter_containerize.core.schedule import store as schedules  # noqa: E402
from jupyter_containerize.core.schedule.scheduler import Scheduler, iso  # noqa: E402

TARGET_MS = 1000.0


def sleep_loop(ticks: int) -> list[float]:
    """Lateness (ms) of a plain sleep loop waking at each next whole second."""
    late = []
    for _ in range(ticks):
        due = int(time.time()) + 1
        time.sleep(max(0.0, due - time.time()))
        late.append((time.time() - due) * 1000)
    return late


def scheduler_ticks(folder: Path, ticks: int) -> list[float]:
    """Lateness (ms) of the scheduler's tick starts, ticking every second."""
    store = JobStore(folder / "jobs.sqlite")
    now = iso(datetime.now(timezone.utc))
    definition = schedules.Definition(target=str(folder / "nb.ipynb"), cron="* * * * * *",
                                      image="bench", created=now)
    sched = schedules.add(store, definition, {"last_due": now, "ticks": []})
    late: list[float] = []

    def runner(s: schedules.Schedule, due: datetime, _: JobStore) -> RunRecord:
        late.append((time.time() - due.timestamp()) * 1000)
        return RunRecord(id="", notebook=s.definition.target, image="bench",
                         status="succeeded")

    scheduler = Scheduler(store, runner=runner, log=lambda _: None)
    scheduler.start()
    deadline = time.monotonic() + ticks + 5
    while len(late) < ticks and time.monotonic() < deadline:
        time.sleep(0.05)
    scheduler.stop()
    store.update(sched.id, status="removed")
    store.close()
    if len(late) < ticks:
        raise SystemExit(f"only {len(late)} of {ticks} ticks started")
    return late[:ticks]


def real_tick(folder: Path) -> float:
    """Seconds from a tick's due time to its run's container start (a real run)."""
    import nbformat

    from jupyter_containerize.core import api

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("print('tick')")]
    path = folder / "tick.ipynb"
    nbformat.write(nb, path)
    store = JobStore(folder / "real.sqlite")
    example_python = ROOT / ".venv-example" / "bin" / "python"
    sched = api.schedule_add(path, cron="* * * * * *", store=store,
                             python=str(example_python) if example_python.exists() else None)
    scheduler = Scheduler(store, log=lambda _: None)
    scheduler.start()
    deadline = time.monotonic() + 120
    runs: list[object] = []
    while not runs and time.monotonic() < deadline:
        runs = schedules.runs_of(store, sched.id)
        time.sleep(0.2)
    api.schedule_remove(sched.id, store=store)
    scheduler.stop(cancel_runs=False, timeout=120)
    run = schedules.runs_of(store, sched.id)[-1]
    due = datetime.fromisoformat(run.params["due"].replace("Z", "+00:00"))
    started = datetime.fromisoformat((run.result or {})["started"].replace("Z", "+00:00"))
    return (started - due).total_seconds()


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a few ticks of each (CI)")
    args = ap.parse_args()
    ticks = 4 if args.quick else 30
    with tempfile.TemporaryDirectory(prefix="jc-bench-schedule-") as tmp:
        folder = Path(tmp)
        base = sleep_loop(ticks)
        ours = scheduler_ticks(folder, ticks)
        real = None if args.quick else real_tick(folder)
    table = Table("schedule")
    table.add("tick start lateness (median)", statistics.median(ours), statistics.median(base),
              f"< {TARGET_MS:.0f} ms", statistics.median(ours) < TARGET_MS, unit="ms")
    table.add("tick start lateness (max)", max(ours), max(base), f"< {TARGET_MS:.0f} ms",
              max(ours) < TARGET_MS, unit="ms")
    if real is not None:
        table.add("real run: due time to run start", real, None, "< 1 s", real < 1.0,
                  unit="s")
    table.show()
    write_results("schedule", table, machine_facts(), quick=args.quick,
                  extra={"ours_ms": ours, "baseline_ms": base, "real_s": real})
    print(json.dumps({"ticks": ticks}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
