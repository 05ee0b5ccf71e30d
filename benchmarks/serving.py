"""Serving benchmark: our serving image against MLflow's container.

    .venv/bin/python benchmarks/serving.py            # full: 20 s per load point
    .venv/bin/python benchmarks/serving.py --quick    # CI: every step once, 1 s per point

Same model file (RandomForest, 50 trees, 20 features, saved with joblib by the example's
kernel), same load generator (Debian's ``wrk`` posting JSON from a pool of different 1-row and
100-row payloads to /invocations on 127.0.0.1), one server at a time. Our image is made by the
public CLI, ``jupyter containerize serve model.joblib --notebook NB``, with its defaults.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import time
from pathlib import Path

from common import Table, machine_facts, run, write_results
from serving_parts import load
from serving_parts import mlflow_side as serving_mlflow

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / "results" / "tmp" / "serving"
NOTEBOOK = ROOT / "examples" / "classifier" / "classifier.ipynb"
KERNEL_PYTHON = ROOT / ".venv-example" / "bin" / "python"
JUPYTER = ROOT / ".venv" / "bin" / "jupyter"

_PREPARE = r"""
import json, sys, time
from pathlib import Path
import joblib, numpy as np
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier

out = Path(sys.argv[1])
X, y = make_classification(n_samples=5000, n_features=20, random_state=0)
model = RandomForestClassifier(n_estimators=50, random_state=0).fit(X, y)
joblib.dump(model, out / "model.joblib")
pool = make_classification(n_samples=12800, n_features=20, random_state=1)[0].round(6)
ones = [pool[i:i + 1] for i in range(256)]
hundreds = [pool[i:i + 100] for i in range(256, 256 + 100 * 64, 100)]
for name, chunks in (("rows1.jsonl", ones), ("rows100.jsonl", hundreds)):
    with open(out / name, "w") as f:
        for c in chunks:
            f.write(json.dumps({"inputs": c.tolist()}) + "\n")
def per_call(chunks, n):
    times = []
    for i in range(n):
        t = time.perf_counter(); model.predict(chunks[i % len(chunks)])
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2] * 1000
model.predict(ones[0])
probe = {"body": {"inputs": ones[0].tolist()}, "expected": model.predict(ones[0]).tolist()}
facts = {"predict_1_ms": per_call(ones, 300), "predict_100_ms": per_call(hundreds, 200),
         "probe": probe, "sklearn": __import__("sklearn").__version__}
(out / "prepared.json").write_text(json.dumps(facts))
"""


def prepare(work: Path, python: Path) -> dict[str, object]:
    """Model, payload pools and in-process predict times, made by the example's kernel."""
    work.mkdir(parents=True, exist_ok=True)
    run([str(python), "-c", _PREPARE, str(work)], timeout=600).check()
    facts: dict[str, object] = json.loads((work / "prepared.json").read_text())
    facts["model_sha256"] = hashlib.sha256((work / "model.joblib").read_bytes()).hexdigest()
    return facts


def ours_image(model: Path, notebook: Path, log: list[str]) -> dict[str, object]:
    """Our serving image, made by the CLI as a user would; the deployment it starts is stopped.
    The notebook's folder is copied first: a build writes its lock beside the notebook."""
    project = WORK / "project"
    shutil.rmtree(project, ignore_errors=True)
    shutil.copytree(notebook.parent, project,
                    ignore=shutil.ignore_patterns("model*", "*.run.json", ".ipynb_checkpoints"))
    notebook = project / notebook.name
    done = run([str(JUPYTER), "containerize", "serve", str(model), "--notebook", str(notebook),
                "--name", "bench-serving", "--json"], cwd=notebook.parent, timeout=3600).check()
    result = _last_json(done.stdout)
    ref, name = str(result["image"]), str(result["name"])
    log.append(f"ours: `serve` took {done.seconds:.1f} s (image {ref})")
    run([str(JUPYTER), "containerize", "stop", name], timeout=300)
    return {"ref": ref, "build_seconds": done.seconds,
            "cached": bool(result.get("image_cached"))}


def _last_json(text: str) -> dict[str, object]:
    for start in [m.start() for m in re.finditer(r"^\{", text, re.M)][::-1]:
        try:
            return dict(json.loads(text[start:]))
        except json.JSONDecodeError:
            continue
    raise RuntimeError(f"no JSON result in the CLI's output: {text[-500:]}")


def measure(side: str, ref: str, facts: dict, quick: bool, log: list[str]) -> dict[str, object]:
    """Cold starts, idle memory, the four load points and memory after load, for one image."""
    probe = facts["probe"]
    colds, container, port = [], "", 0
    for _ in range(1 if quick else 3):
        if container:
            load.remove(container)
        container, port, seconds = load.cold_start(ref, side, probe)
        colds.append(seconds)
    out: dict[str, object] = {"image": ref, "cold_start_s": colds, "loadavg": os.getloadavg(),
                              "image_bytes": load.image_size(ref)}
    try:
        time.sleep(2)
        out["idle_memory_mib"] = load.memory_mib(container)
        duration = 1 if quick else 20
        load.wrk(port, WORK / "rows1.jsonl", 16, 1 if quick else 3)  # warm-up, not counted
        for rows in (1, 100):
            for conns in (1, 16):
                point = load.wrk(port, WORK / f"rows{rows}.jsonl", conns, duration)
                out[f"rows{rows}_c{conns}"] = point
                log.append(f"{side} {rows} row(s) c{conns}: {point['rps']:.0f} req/s, "
                           f"p50 {point['p50_ms']:.2f} ms, p99 {point['p99_ms']:.2f} ms, "
                           f"{point['errors']} errors")
        out["loaded_memory_mib"] = load.memory_mib(container)
    finally:
        load.remove(container)
    return out


def table(ours: dict, base: dict, facts: dict, images: dict) -> Table:
    t = Table("serving: ours vs MLflow's container (lower is better unless noted)")
    for rows in (1, 100):
        predict = float(facts[f"predict_{rows}_ms"])
        for conns in (1, 16):
            o, b = ours[f"rows{rows}_c{conns}"], base[f"rows{rows}_c{conns}"]
            key = f"{rows} row{'s' if rows > 1 else ''}, c{conns}"
            fast = conns == 16
            t.add(f"{key}: req/s (higher better)", o["rps"], b["rps"],
                  ">= 3x" if fast else "", o["rps"] >= 3 * b["rps"] if fast else None)
            slow_target = f"<= predict {predict:.2f} + 1 ms"
            t.add(f"{key}: p50", o["p50_ms"], b["p50_ms"], "" if fast else slow_target,
                  None if fast else o["p50_ms"] <= predict + 1.0, "ms")
            t.add(f"{key}: p99", o["p99_ms"], b["p99_ms"], "<= 0.5x" if fast else "",
                  o["p99_ms"] <= 0.5 * b["p99_ms"] if fast else None, "ms")
            t.add(f"{key}: failed requests", o["errors"], b["errors"], "0", o["errors"] == 0)
    size_o, size_b = ours["image_bytes"] / 1e6, base["image_bytes"] / 1e6
    t.add("image size", size_o, size_b, "<= 0.5x", size_o <= 0.5 * size_b, "MB")
    cold_o, cold_b = min(ours["cold_start_s"]), min(base["cold_start_s"])
    t.add("cold start to first correct answer (best)", cold_o, cold_b, "< 1.5 s", cold_o < 1.5,
          "s")
    mem_o, mem_b = ours["idle_memory_mib"], base["idle_memory_mib"]
    t.add("idle memory", mem_o, mem_b, "<= 0.5x", mem_o <= 0.5 * mem_b, "MiB")
    t.add("memory after load", ours["loaded_memory_mib"], base["loaded_memory_mib"], "", None,
          "MiB")
    t.add("in-process predict, 1 row", facts["predict_1_ms"], None, "", None, "ms")
    t.add("in-process predict, 100 rows", facts["predict_100_ms"], None, "", None, "ms")
    for side in ("ours", "baseline"):
        img = images[side]
        if img["build_seconds"] is not None:
            what = "serve CLI" if side == "ours" else "mlflow models build-docker"
            cached = " (image reused)" if img["cached"] else ""
            t.add(f"{side}: {what}, as run{cached}", img["build_seconds"], None, "", None, "s")
    return t


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="every step once, briefly (CI)")
    parser.add_argument("--notebook", type=Path, default=NOTEBOOK)
    parser.add_argument("--kernel-python", type=Path, default=KERNEL_PYTHON,
                        help="the notebook kernel's Python (trains the model)")
    parser.add_argument("--rebuild-baseline", action="store_true",
                        help="rebuild MLflow's image even when cached (tags python:X.Y.Z-slim "
                        "on the shared engine while it builds)")
    args = parser.parse_args()
    load.check_tools()
    log: list[str] = []
    setup = serving_mlflow.ensure_venv(log)
    facts = prepare(WORK, args.kernel_python)
    model = WORK / "model.joblib"
    images = {
        "ours": ours_image(model, args.notebook, log),
        "baseline": serving_mlflow.image(model, str(facts["model_sha256"]), WORK / "mlflow",
                                         reuse=not args.rebuild_baseline, log=log),
    }
    ours = measure("ours", str(images["ours"]["ref"]), facts, args.quick, log)
    base = measure("mlflow", str(images["baseline"]["ref"]), facts, args.quick, log)
    result = table(ours, base, facts, images)
    result.show()
    print("\n".join(log))
    path = write_results("serving", result, machine_facts(), args.quick, extra={
        "details": {"ours": ours, "baseline": base, "images": images, "log": log,
                    "mlflow_venv_setup_s": setup,
                    "prepared": {k: v for k, v in facts.items() if k != "probe"}},
    })
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
