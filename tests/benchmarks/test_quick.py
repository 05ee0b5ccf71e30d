"""Every benchmark runs once with --quick, so none rots.

Each must finish, print its table and write its results file with every measure filled.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = sorted(p.name for p in (ROOT / "benchmarks").glob("*.py")
                    if p.name not in ("common.py", "report.py", "signed.py"))

pytestmark = pytest.mark.engine


def test_every_benchmark_is_run() -> None:
    assert {"build.py", "push.py", "run.py", "serving.py"} <= set(BENCHMARKS)


@pytest.mark.parametrize("script", BENCHMARKS)
def test_benchmark_runs_quick(script: str, docker_client: object) -> None:
    name = script[:-3]
    results = ROOT / "benchmarks" / "results" / f"{name}.quick.json"
    results.unlink(missing_ok=True)
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--quick"],
                          capture_output=True, text=True, timeout=1500, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "| measure | ours | baseline | ratio | target |" in proc.stdout
    data = json.loads(results.read_text())
    assert data["rows"] and all(isinstance(r["ours"], (int, float)) for r in data["rows"])
    assert data["machine"]["cpus"]
