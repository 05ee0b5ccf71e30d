"""Sweep benchmark: `jupyter containerize run NB --sweep` of 8 runs at concurrency 2 against
`papermill` run 8 times in sequence on the host (the baseline a user has without us).

Both on the example notebook with its own kernel, the same 8 values of its `seed` parameter.
Ours is the public CLI as one process: the image lookup (a no-op rebuild), 8 containers two
at a time, each run's files copied back, its record and metrics kept, the comparison table
written. The image is built once before timing (a sweep after a build is what a user does).

    python benchmarks/sweep.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from common import Table, machine_facts, run, write_results  # noqa: E402

EXAMPLE = ROOT / "examples" / "classifier"
BIN = Path(sys.executable).parent
RUNS = 8
CONCURRENCY = 2


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="4 runs instead of 8 (CI)")
    args = ap.parse_args()
    runs = 4 if args.quick else RUNS
    seeds = [str(i) for i in range(runs)]
    with tempfile.TemporaryDirectory(prefix="jc-bench-sweep-") as tmp:
        work = Path(tmp)
        project = work / "classifier"
        shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("model.*", "*.run.json"))
        env = {"JUPYTER_CONTAINERIZE_DATA_DIR": str(work / "data"),
               "JUPYTER_CONTAINERIZE_LABELS": "io.jupyter-containerize.benchmark=sweep"}
        nb = "classifier.ipynb"
        jc = [str(BIN / "jupyter"), "containerize", "-q"]
        run([*jc, "build", nb], env=env, cwd=project).check()
        ours = run([*jc, "run", nb, "--sweep", "-p", "seed", ",".join(seeds), "--concurrency",
                    str(CONCURRENCY)], env=env, cwd=project).check().seconds
        host = 0.0
        for seed in seeds:
            host += run([str(BIN / "papermill"), nb, str(work / f"host-{seed}.ipynb"), "-p",
                         "seed", seed, "-k", "containerize-example"],
                        env=env, cwd=project).check().seconds
    table = Table("sweep")
    table.add(f"sweep of {runs} runs at concurrency {CONCURRENCY} (vs papermill {runs} times "
              "in sequence on the host)", ours, host, "report", None, unit="s")
    table.add("per run", ours / runs, host / runs, "-", None, unit="s")
    table.show()
    write_results("sweep", table, machine_facts(), quick=args.quick,
                  extra={"runs": runs, "concurrency": CONCURRENCY, "cpus": os.cpu_count()})
    print(f"- {os.cpu_count()} CPUs; each run of the example trains a small forest, so two at "
          "once share the CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
