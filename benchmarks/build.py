"""Build benchmark: our `build` against a plain Dockerfile, on the example, in one run.

Both sides start from the same bootstrapped base image, install exactly the lock's pins from
the same package index with no local wheelhouse or warm cache, and compile bytecode. Ours is
the public CLI as a subprocess with the user's defaults; the baseline is a Dockerfile with
`pip install --no-cache-dir -r requirements.txt` and `COPY . .`, built by the Docker SDK's
classic builder. See DESIGN section 12.

    python benchmarks/build.py [--quick]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from common import Table, machine_facts, write_results  # noqa: E402

EXAMPLE = ROOT / "examples" / "classifier"
CLI = Path(sys.executable).with_name("jupyter")
BENCH_LABEL = "io.jupyter-containerize.benchmark"
CA = "/etc/ssl/certs/ca-certificates.crt"


def sh(*cmd: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})})


class Ours:
    """`jupyter containerize build` as a user runs it, with caches of its own."""

    def __init__(self, work: Path, python: Path) -> None:
        self.work, self.python = work, python
        self.cache = work / "our-cache"
        self.env = {"JUPYTER_CONTAINERIZE_CACHE_DIR": str(self.cache),
                    "UV_CACHE_DIR": str(work / "uv-cache"),
                    "JUPYTER_CONTAINERIZE_LABELS": f"{BENCH_LABEL}=1"}

    def cold_reset(self) -> None:
        shutil.rmtree(self.cache, ignore_errors=True)
        shutil.rmtree(self.work / "uv-cache", ignore_errors=True)
        _remove_images("jupyter-containerize/bench-nb")

    def build(self, nb: Path) -> tuple[float, str]:
        t0 = time.perf_counter()
        proc = sh(str(CLI), "containerize", "-q", "build", str(nb), "--python", str(self.python),
                  env=self.env)
        took = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(f"our build failed: {proc.stderr.strip()[-500:]}")
        return took, proc.stdout.strip().splitlines()[-1]


class Baseline:
    """A plain Dockerfile: pip install -r requirements.txt; COPY . . (classic builder)."""

    def __init__(self, work: Path, base: str) -> None:
        self.base, self.tag = base, "jupyter-containerize-bench/baseline:latest"
        self.context = work / "baseline"

    def write(self, project: Path, pins: list[str]) -> None:
        shutil.rmtree(self.context, ignore_errors=True)
        shutil.copytree(project, self.context / "src",
                        ignore=shutil.ignore_patterns("*.lock.json", ".ipynb_checkpoints"))
        shutil.copy2(CA, self.context / "ca.crt")
        (self.context / "requirements.txt").write_text("\n".join(pins) + "\n")
        (self.context / "Dockerfile").write_text(
            f"FROM {self.base}\nCOPY ca.crt /tmp/ca.crt\nCOPY requirements.txt /tmp/\n"
            "RUN python3 -m venv /opt/venv && PIP_CERT=/tmp/ca.crt /opt/venv/bin/pip install "
            "--no-cache-dir -r /tmp/requirements.txt\n"
            "WORKDIR /home/jovyan/work\nCOPY src/ .\nUSER 1000\n")

    def build(self, nocache: bool = False) -> float:
        import docker

        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            tar.add(self.context, arcname=".")
        buf.seek(0)
        api = docker.from_env(timeout=1800).api
        t0 = time.perf_counter()
        for chunk in api.build(fileobj=buf, custom_context=True, tag=self.tag, nocache=nocache,
                               rm=True, forcerm=True, decode=True,
                               labels={BENCH_LABEL: "1"}):
            if "error" in chunk:
                raise SystemExit(f"baseline build failed: {chunk['error']}")
        return time.perf_counter() - t0

    def remove(self) -> None:
        _remove_images(self.tag.split(":")[0])


def _remove_images(repo: str) -> None:
    import docker

    cli = docker.from_env()
    for img in cli.images.list(name=repo):
        cli.images.remove(img.id, force=True)
    cli.images.prune(filters={"dangling": True})


def _size(ref: str) -> int:
    import docker

    return int(docker.from_env().images.get(ref).attrs["Size"])


def _pins(project: Path, stem: str) -> list[str]:
    lock = json.loads((project / f"{stem}.lock.json").read_text())
    return [p["requirement"] for p in lock["packages"] if isinstance(p["requirement"], str)]


def _edit(nb: Path) -> None:
    doc = json.loads(nb.read_text())
    doc["cells"].append({"cell_type": "markdown", "metadata": {},
                         "source": f"edited {time.time()}"})
    nb.write_text(json.dumps(doc, indent=1))


def _base() -> str:
    import docker

    for img in docker.from_env().images.list(name="jupyter-containerize/base"):
        for tag in img.tags:
            if "-py3.11" in tag:
                return str(tag)
    raise SystemExit("no 3.11 base: run `jupyter containerize base --bootstrap --python 3.11`")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="each measure once (CI)")
    args = ap.parse_args()
    reps = 1 if args.quick else 3
    with tempfile.TemporaryDirectory(prefix="jc-bench-") as tmp:
        work = Path(tmp)
        project = work / "bench-nb"
        shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("*.lock.json", "model.*",
                                                                        "*.run.json"))
        nb = project / "classifier.ipynb"
        nb = nb.rename(project / "bench-nb.ipynb")
        venv = work / "venv"
        sh(sys.executable, "-m", "venv", str(venv))
        sh(str(venv / "bin/pip"), "install", "-q", "-r", str(EXAMPLE / "requirements.txt"))
        ours, base = Ours(work, venv / "bin/python"), Baseline(work, _base())
        table = Table("build", ["cold build", "no-op rebuild", "notebook-edit rebuild",
                                "one package added", "image size (MB)"])
        ours.cold_reset()
        t_cold, ref = ours.build(nb)
        base.remove()
        base.write(project, _pins(project, "bench-nb"))
        b_cold = base.build(nocache=True)
        table.add("cold build", t_cold, b_cold, "<= 0.2x", t_cold <= 0.2 * b_cold, unit="s")
        noop = min(ours.build(nb)[0] for _ in range(reps))
        b_noop = min(base.build() for _ in range(reps))
        table.add("no-op rebuild", noop, b_noop, "< 0.5 s", noop < 0.5, unit="s")
        edits, b_edits = [], []
        for _ in range(reps):
            _edit(nb)
            edits.append(ours.build(nb)[0])
            base.write(project, _pins(project, "bench-nb"))
            b_edits.append(base.build())
        table.add("notebook-edit rebuild", min(edits), min(b_edits), "< 3 s", min(edits) < 3,
                  unit="s")
        size, b_size = _size(ours.build(nb)[1]) / 1e6, _size(base.tag) / 1e6
        sh(str(venv / "bin/pip"), "install", "-q", "statsmodels")
        t_add, _ = ours.build(nb)
        base.write(project, _pins(project, "bench-nb"))
        b_add = base.build()
        table.add("one package added", t_add, b_add, "< 6 s", t_add < 6, unit="s")
        table.add("image size (MB)", size, b_size, "<= baseline", size <= b_size, unit="MB")
        table.show()
        write_results("build", table, machine_facts(), quick=args.quick)
        ours.cold_reset()
        base.remove()
    return 0


if __name__ == "__main__":
    sys.exit(main())
