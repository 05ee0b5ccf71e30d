"""Run benchmark: `jupyter containerize run NB` against `papermill` on the host.

Both are processes, on the example notebook with its own kernel; ours includes hashing and
the image lookup (no --image), the container's start, copying files in and out, and the
reproduction report. The image is built once before timing (a run after a build is what a
user does).

    python benchmarks/run.py [--quick]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from common import Table, machine_facts, run, write_results  # noqa: E402

EXAMPLE = ROOT / "examples" / "classifier"
BIN = Path(sys.executable).parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="two runs of each (CI)")
    args = ap.parse_args()
    reps = 2 if args.quick else 7
    with tempfile.TemporaryDirectory(prefix="jc-bench-run-") as tmp:
        work = Path(tmp)
        project = work / "classifier"
        shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("model.*", "*.run.json"))
        env = {"JUPYTER_CONTAINERIZE_DATA_DIR": str(work / "data"),
               "JUPYTER_CONTAINERIZE_LABELS": "io.jupyter-containerize.benchmark=run"}
        nb = "classifier.ipynb"
        jc = [str(BIN / "jupyter"), "containerize", "-q"]
        run([*jc, "build", nb], env=env, cwd=project).check()
        ours, host = [], []
        for i in range(reps):
            ours.append(run([*jc, "run", nb, "--output", str(work / f"ours-{i}.ipynb")],
                            env=env, cwd=project).check().seconds)
            host.append(run([str(BIN / "papermill"), nb, str(work / f"host-{i}.ipynb"), "-k",
                             "containerize-example"], env=env, cwd=project).check().seconds)
    o, h = statistics.median(ours), statistics.median(host)
    table = Table("run")
    table.add("example run (median)", o, h, "-", None, unit="s")
    table.add("overhead over host papermill", o - h, None, "< 1 s", (o - h) < 1.0, unit="s")
    table.show()
    write_results("run", table, machine_facts(), quick=args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
