"""Shared by the benchmarks: the results table, machine facts and the results files."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Row:
    measure: str
    ours: float
    baseline: float | None
    target: str
    met: bool | None
    unit: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline in (None, 0):
            return None
        return self.ours / self.baseline  # type: ignore[operator]


@dataclass
class Table:
    name: str
    measures: list[str] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)

    def add(self, measure: str, ours: float, baseline: float | None, target: str,
            met: bool | None, unit: str = "") -> None:
        self.rows.append(Row(measure, ours, baseline, target, met, unit))

    def lines(self) -> list[str]:
        out = ["| measure | ours | baseline | ratio | target | met |",
               "|---|---|---|---|---|---|"]
        for r in self.rows:
            base = "-" if r.baseline is None else f"{r.baseline:.2f} {r.unit}".strip()
            ratio = "-" if r.ratio is None else f"{r.ratio:.2f}x"
            met = "-" if r.met is None else ("yes" if r.met else "NO")
            ours = f"{r.ours:.2f} {r.unit}".strip()
            out.append(f"| {r.measure} | {ours} | {base} | {ratio} | "
                       f"{r.target} | {met} |")
        return out

    def show(self) -> None:
        print(f"\n{self.name}")
        print("\n".join(self.lines()))


def machine_facts() -> dict[str, object]:
    def out(*cmd: str) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=20).stdout.strip()
        except OSError:
            return ""

    mem = 0
    try:
        with open("/proc/meminfo") as fh:
            mem = int(fh.readline().split()[1]) * 1024
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(), "memory_bytes": mem, "kernel": platform.release(),
        "python": platform.python_version(),
        "docker": out("docker", "version", "--format", "{{.Server.Version}}"),
        "commit": out("git", "-C", str(RESULTS.parent.parent), "rev-parse", "HEAD"),
    }


def write_results(name: str, table: Table, facts: dict[str, object], quick: bool,
                  extra: dict[str, object] | None = None,
                  results_dir: Path | None = None) -> Path:
    """``<results>/<name>.json`` (``<name>.quick.json`` with --quick): rows, table, machine;
    ``extra`` adds a benchmark's own details (raw figures, log)."""
    folder = results_dir or RESULTS
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (f"{name}.quick.json" if quick else f"{name}.json")
    data = {
        "benchmark": name, "quick": quick,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": facts,
        "rows": [{"measure": r.measure, "ours": r.ours, "baseline": r.baseline,
                  "ratio": r.ratio, "target": r.target, "met": r.met, "unit": r.unit}
                 for r in table.rows],
        "table": table.lines(),
        **(extra or {}),
    }
    path.write_text(json.dumps(data, indent=1) + "\n")
    return path


LABEL = "io.jupyter-containerize.benchmark"


@dataclass
class Timed:
    """A finished command: exit code, output and wall-clock seconds."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    def check(self) -> Timed:
        if self.returncode != 0:
            tail = (self.stderr or self.stdout).strip().splitlines()[-15:]
            raise RuntimeError(f"{' '.join(self.args[:4])} exited {self.returncode}:\n"
                               + "\n".join(tail))
        return self


def run(args: list[str], env: dict[str, str] | None = None, cwd: Path | None = None,
        timeout: float = 3600) -> Timed:
    """Run ``args`` as a subprocess and time it (wall clock); never raises on a non-zero exit."""
    start = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True, cwd=cwd, timeout=timeout,
                          env={**os.environ, **(env or {})})
    return Timed(list(args), proc.returncode, proc.stdout, proc.stderr,
                 time.perf_counter() - start)


def median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
