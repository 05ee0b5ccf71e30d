"""Sweeps: one notebook run once per combination of parameter values, at a concurrency limit.

The image is built once (or given); every combination is then a normal run, with its run
record in the one job store. The sweep itself is a job of kind ``sweep`` whose result holds
each run's id, status, parameters and metrics, the best run by a chosen metric, and where the
comparison's HTML page is. Everything a sweep is given is checked before anything starts."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import ContainerizeConfig, resolve
from ..env.notebook import load_notebook, parameters_cell
from ..errors import ContainerizeError, RunError
from ..jobs.store import JobStore
from ..paths import data_dir
from ..progress import Event, Reporter
from . import execute, metrics
from . import options as runoptions

MAX_RUNS = 1000
MAX_CONCURRENCY = 64


@dataclass
class SweepResult:
    id: str
    notebook: str
    status: str  # succeeded (every run did) | failed
    runs: list[dict[str, Any]] = field(default_factory=list)
    best: dict[str, Any] | None = None
    best_metric: str | None = None
    html: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "notebook": self.notebook, "status": self.status,
                "runs": self.runs, "best": self.best, "best_metric": self.best_metric,
                "html": self.html}

    def summary(self) -> str:
        done = sum(r["status"] == "succeeded" for r in self.runs)
        lines = [f"sweep {self.id}: {done} of {len(self.runs)} runs succeeded",
                 metrics.text_table(self.runs, self.best)]
        if self.best is not None:
            lines.append(f"best by {self.best_metric}: run {self.best['id']} "
                         f"({', '.join(f'{k}={v}' for k, v in self.best['parameters'].items())})")
        elif self.best_metric:
            lines.append(f"best by {self.best_metric}: no succeeded run recorded it")
        if self.html:
            lines.append(f"comparison: {self.html}")
        return "\n".join(lines)


def sweep_dir(sweep_id: str) -> Path:
    return data_dir() / "sweeps" / sweep_id


def _values(name: str, text: Any) -> list[Any]:
    if isinstance(text, (list, tuple)):
        items = list(text)
    else:
        items = [v.strip() for v in str(text).split(",")]
        if any(v == "" for v in items):
            raise RunError(f"-p {name} {text!r}: an empty value in the sweep's list",
                           hint=f"separate the values with commas, e.g. -p {name} 0.1,0.5,1")
        items = [runoptions.parse_parameter(v) for v in items]
    if not items:
        raise RunError(f"-p {name}: the sweep has no values for it",
                       hint=f"give one or more values, e.g. -p {name} 0.1,0.5,1")
    return items


def combinations(grid: dict[str, Any], zipped: bool = False) -> list[dict[str, Any]]:
    """Every combination of the values (a grid), or with ``zipped`` the i-th value of every
    parameter together. Values are lists, or text of comma-separated values (typed as
    papermill types a -p value)."""
    if not grid:
        raise RunError("a sweep needs at least one parameter with values",
                       hint="e.g. --sweep -p alpha 0.1,0.5,1 -p depth 3,5")
    for name in grid:
        runoptions.check_name(name)
    lists = {name: _values(name, text) for name, text in grid.items()}
    if zipped:
        sizes = {name: len(v) for name, v in lists.items()}
        if len(set(sizes.values())) > 1:
            raise RunError("--zip pairs the values by position, but the lists differ in length ("
                           + ", ".join(f"{n}: {k}" for n, k in sizes.items()) + ")",
                           hint="give every -p the same number of values, or drop --zip for "
                                "every combination")
        combos = [dict(zip(lists, row)) for row in zip(*lists.values())]
    else:
        combos = [dict(zip(lists, row)) for row in itertools.product(*lists.values())]
    if len(combos) > MAX_RUNS:
        raise RunError(f"the sweep makes {len(combos)} runs, more than {MAX_RUNS}",
                       hint="sweep fewer values, or split the sweep")
    for combo in combos:
        runoptions.check_parameter_values(combo)
    return combos


def check(notebook: Path, grid: dict[str, Any], zipped: bool, concurrency: Any,
          best: str | None) -> list[dict[str, Any]]:
    """The sweep's runs, once every input is checked (nothing started)."""
    combos = combinations(grid, zipped)
    declared = parameters_cell(load_notebook(notebook))
    unknown = [n for n in grid if n not in declared]
    if unknown:
        names = ", ".join(declared) or "none: no cell is tagged parameters"
        raise RunError(f"the sweep sets {', '.join(unknown)}, which {notebook.name} does not "
                       f"declare (declared: {names})",
                       hint="sweep only parameters of the cell tagged parameters, or add them "
                            "there")
    if (isinstance(concurrency, bool) or not isinstance(concurrency, int)
            or not 1 <= concurrency <= MAX_CONCURRENCY):
        raise RunError(f"--concurrency {concurrency!r} is not a number of runs at once",
                       hint=f"give a whole number from 1 to {MAX_CONCURRENCY}, e.g. 2")
    if best:
        metrics.parse_best(best)
    return combos


def sweep(notebook: str | Path, grid: dict[str, Any], *, zipped: bool = False,
          concurrency: int = 2, best: str | None = None, image: str | None = None,
          python: str | None = None, base: str | None = None, lock: str = "full",
          run_options: dict[str, Any] | None = None,
          progress: Callable[[Any], None] | None = None, cancel: threading.Event | None = None,
          store: JobStore | None = None, spec: Any = None,
          config: ContainerizeConfig | None = None) -> SweepResult:
    """Run ``notebook`` once per combination of ``grid``; returns the sweep's result."""
    cfg = resolve(config)
    nb = Path(notebook)
    combos = check(nb, grid, zipped, concurrency, best)
    options = dict(run_options or {})
    runoptions.check(options.get("timeout"), options.get("cpus"), options.get("memory"), None)
    store = store or JobStore()
    rep = Reporter(progress)
    job = store.create("sweep", notebook=str(nb), params={
        "parameters": {k: list(v) if isinstance(v, (list, tuple)) else v
                       for k, v in grid.items()},
        "zip": zipped, "concurrency": concurrency, "best": best})
    store.update(job.id, status="running")
    rep.emit(Event("phase", f"sweep {job.id}: {len(combos)} runs, {concurrency} at once",
                   phase="sweep"))
    try:
        if image:
            execute.verify_image(image, config=cfg)
            built = None
        else:
            from ..image import build

            built = build.build(nb, python=python, base=base, lock=lock, progress=progress,
                                spec=spec, config=cfg).reference
        rows = _run_all(nb, combos, concurrency, image, built, options, progress, cancel,
                        store, cfg, rep)
    except BaseException as exc:
        message = exc.message if isinstance(exc, ContainerizeError) else str(exc) or repr(exc)
        store.update(job.id, status="cancelled" if isinstance(exc, KeyboardInterrupt)
                     else "failed", error={"message": message})
        raise
    result = SweepResult(job.id, str(nb), "succeeded" if all(
        r["status"] == "succeeded" for r in rows) else "failed", rows, best_metric=best)
    if best:
        result.best = metrics.best_row(rows, best)
    page = sweep_dir(job.id) / "comparison.html"
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(metrics.html_table(rows, f"sweep {job.id}: {nb.name}", result.best),
                    encoding="utf-8")
    result.html = str(page)
    store.update(job.id, status=result.status, result=result.to_json())
    return result


def _run_all(nb: Path, combos: list[dict[str, Any]], concurrency: int, image: str | None,
             built: str | None, options: dict[str, Any],
             progress: Callable[[Any], None] | None, cancel: threading.Event | None,
             store: JobStore, cfg: ContainerizeConfig, rep: Reporter) -> list[dict[str, Any]]:
    stop = cancel or threading.Event()

    def one(index: int, combo: dict[str, Any]) -> dict[str, Any]:
        row: dict[str, Any] = {"id": "", "status": "cancelled", "parameters": combo,
                               "metrics": {}, "output": None, "error": None}
        if stop.is_set():
            return row
        try:
            record = execute.run(nb, parameters=combo, image=image, built=built,
                                 progress=progress, cancel=stop, store=store, config=cfg,
                                 **options)
        except ContainerizeError as exc:
            row.update(status="failed", error=exc.message)
            return row
        row.update(id=record.id, status=record.status, metrics=record.metrics,
                   output=record.output, error=(record.error or {}).get("message"))
        rep.emit(Event("log", f"sweep: run {index + 1}/{len(combos)} {record.id} "
                              f"{record.status}", phase="sweep", current=index + 1,
                       total=len(combos)))
        return row

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="sweep") as pool:
        futures = [pool.submit(one, i, c) for i, c in enumerate(combos)]
        try:
            return [f.result() for f in futures]
        except KeyboardInterrupt:
            stop.set()  # every running container is stopped by its run
            for f in futures:
                f.cancel()
            raise
