"""Pipeline benchmark: `jupyter containerize pipeline run pipeline.yaml` against running its
steps' notebooks one by one by hand.

The example pipeline (examples/pipeline: prepare -> train -> report, each step reading the file
the one before wrote). By hand is what a user does without pipelines: `jupyter containerize run
NB -p ...` for each notebook in order, passing the file the previous run wrote with `--data`.
Both are processes, timed in the same run, after one untimed round of each (the images are
built then: a run after a build is what a user does). The pipeline's overhead is the
difference, per step (target: under 1 s). The same pipeline with `--swarm` (each step a
replicated job) is timed in the same rounds, on a single-node swarm this engine is made the
manager of for the run (and leaves after) when it is in none.

    python benchmarks/pipeline.py [--quick]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from common import Table, machine_facts, run, write_results  # noqa: E402

EXAMPLE = ROOT / "examples" / "pipeline"
CLI = str(Path(sys.executable).parent / "jupyter-containerize")
# the example's steps as a user types them: notebook, parameters, the file it reads
STEPS = [
    ("prepare", ["-p", "rows", "20", "-p", "seed", "1"], None),
    ("train", ["-p", "min_rows", "10"], ("prepare", "numbers.csv")),
    ("report", ["-p", "x", "100"], ("train", "model.json")),
]


def by_hand(project: Path, work: Path, tag: str, env: dict[str, str]) -> float:
    """Every step's notebook run in order, each given the file the one before wrote."""
    took = 0.0
    for name, params, reads in STEPS:
        args = [CLI, "-q", "run", f"{name}.ipynb", *params, "--timeout", "300",
                "--artifacts", str(work / f"{tag}-{name}")]
        if reads:
            args += ["--data", f"{work / f'{tag}-{reads[0]}' / reads[1]}:{reads[1]}"]
        took += run(args, env=env, cwd=project).check().seconds
    return took


def swarm_state() -> str:
    done = subprocess.run(["docker", "info", "--format", "{{.Swarm.LocalNodeState}}/"
                           "{{.Swarm.ControlAvailable}}"], capture_output=True, text=True)
    return done.stdout.strip()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one timed round of each (CI)")
    args = ap.parse_args()
    reps = 1 if args.quick else 5
    with tempfile.TemporaryDirectory(prefix="jc-bench-pipeline-") as tmp:
        work = Path(tmp)
        project = work / "pipeline"
        shutil.copytree(EXAMPLE, project)
        env = {"JUPYTER_CONTAINERIZE_DATA_DIR": str(work / "data"),
               "JUPYTER_CONTAINERIZE_LABELS": "io.jupyter-containerize.benchmark=pipeline"}
        pipeline = [CLI, "-q", "pipeline", "run", "pipeline.yaml"]
        state = swarm_state()
        joined = state.startswith("inactive")
        if joined:
            subprocess.run(["docker", "swarm", "init", "--advertise-addr", "127.0.0.1"],
                           check=True, capture_output=True)
        on_swarm = joined or state == "active/true"
        if not on_swarm:
            print(f"the swarm rows are left out: this engine is in a swarm it does not manage "
                  f"({state})")
        try:
            run(pipeline, env=env, cwd=project).check()  # builds the environment's image
            by_hand(project, work, "warm", env)  # builds each notebook's own image
            if on_swarm:
                run([*pipeline, "--swarm"], env=env, cwd=project).check()
            ours, hand, swarm = [], [], []
            for i in range(reps):
                ours.append(run(pipeline, env=env, cwd=project).check().seconds)
                hand.append(by_hand(project, work, f"hand{i}", env))
                if on_swarm:
                    swarm.append(run([*pipeline, "--swarm"], env=env, cwd=project)
                                 .check().seconds)
        finally:
            if joined:
                subprocess.run(["docker", "swarm", "leave", "--force"], capture_output=True)
    steps = len(STEPS)
    o, h = statistics.median(ours), statistics.median(hand)
    table = Table("pipeline")
    table.add(f"{steps}-step pipeline, end to end (median)", o, h, "-", None, unit="s")
    table.add("overhead per step over running them by hand", (o - h) / steps, None, "< 1 s",
              (o - h) / steps < 1.0, unit="s")
    if swarm:
        w = statistics.median(swarm)
        table.add(f"{steps}-step pipeline on Docker Swarm (replicated jobs, median)", w, h, "-",
                  None, unit="s")
        table.add("swarm overhead per step over running them by hand", (w - h) / steps, None,
                  "< 1 s", (w - h) / steps < 1.0, unit="s")
    table.show()
    write_results("pipeline", table, machine_facts(), quick=args.quick,
                  extra={"raw": {"pipeline": ours, "by_hand": hand, "swarm": swarm}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
