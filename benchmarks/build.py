"""Build benchmark: our `build` against a plain Dockerfile, on the example, on both kinds of
engine image store, in one run.

Both sides start from the same bootstrapped base image, install exactly the lock's pins from
the same package index with no local wheelhouse or warm cache, and compile bytecode. Each kind
of store is a fresh engine started for the run (scripts/second-engine.sh) that holds only the
base, so no image left by other work holds layers a cold build would otherwise send. Ours is
the public CLI as a subprocess with the user's defaults; the baseline is a Dockerfile with
`pip install --no-cache-dir -r requirements.txt` and `COPY . .`, built by the Docker SDK's
classic builder on the same engine. Each measure is taken on the layer store (Debian's
dockerd with overlay2) and on the containerd image store (dockerd 26 with the containerd
snapshotter). The cold build is also set against its floor, measured in the same
run: `uv pip install --target` of the same pins with an empty cache (parallel download and
install) plus one `docker load` of the built image's bytes.

    python benchmarks/build.py [--quick]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import signed  # noqa: E402
from common import LABEL, Table, machine_facts, write_results  # noqa: E402

EXAMPLE = ROOT / "examples" / "classifier"
CLI = Path(sys.executable).with_name("jupyter")
UV = Path(sys.executable).with_name("uv")
SECOND_ENGINE = ROOT / "scripts" / "second-engine.sh"
BENCH_LABEL = LABEL
MARK = {BENCH_LABEL: "1"}
CA = "/etc/ssl/certs/ca-certificates.crt"
OURS_REPO = "jupyter-containerize/bench-nb"
BASELINE_REPO = "jupyter-containerize-bench/baseline"
PROBE = ("import socket; socket.create_connection(('pypi.org', 443), timeout=5).close()")
# the phases of a build that make the image's SBOM and record the build's facts
SUPPLY_PHASES = ("sbom", "facts")
SETTLE = 5.0  # seconds between a cold build and the rebuilds measured after it
SUMMARY = re.compile(r"^(?:built \(\w+\)|reused): Python [^;]*; (.*)$", re.M)


T0 = time.perf_counter()


def step(what: str) -> None:
    """Progress on stderr: seconds since the start and what comes next."""
    print(f"[build {time.perf_counter() - T0:6.1f}s] {what}", file=sys.stderr, flush=True)


def sh(*cmd: str, env: dict[str, str] | None = None,
       timeout: float = 3600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


@dataclass
class Engine:
    """One engine and its image store; ``host`` None is the main engine."""

    key: str
    title: str
    host: str | None = None
    baseline_network: str | None = None  # "host" when its bridge has no route out
    version: str = ""

    def __post_init__(self) -> None:
        self.version = str(self.client().version().get("Version", ""))

    @property
    def env(self) -> dict[str, str]:
        return {"DOCKER_HOST": self.host} if self.host else {}

    def client(self) -> Any:
        import docker

        if self.host:
            return docker.DockerClient(base_url=self.host, timeout=1800)
        return docker.from_env(timeout=1800)

    def remove(self, repo: str) -> None:
        """Remove this benchmark's images named ``repo`` (labelled ones only)."""
        cli = self.client()
        for img in cli.images.list(name=repo, filters={"label": BENCH_LABEL}):
            try:
                cli.images.remove(img.id, force=True)
            except Exception:  # noqa: BLE001 - gone already (a parent removed with a child)
                pass
        cli.images.prune(filters={"dangling": True, "label": BENCH_LABEL})

    def size(self, ref: str) -> int:
        return int(self.client().images.get(ref).attrs["Size"])

    def reaches_pypi(self, base: str) -> bool:
        """Whether a container on the engine's default network reaches PyPI."""
        proc = sh("docker", "run", "--rm", "--label", f"{BENCH_LABEL}=1", base, "python3",
                  "-c", PROBE, env=self.env, timeout=120)
        return proc.returncode == 0


class Ours:
    """`jupyter containerize build` as a user runs it, with caches of its own."""

    def __init__(self, work: Path, python: Path, engine: Engine,
                 share: Ours | None = None) -> None:
        self.work, self.python, self.engine = work, python, engine
        self.owner = share or self  # whose caches these builds use
        self.generation = 0
        self.supply = 0.0  # seconds the last build spent on its SBOM and facts

    @property
    def env(self) -> dict[str, str]:
        caches = self.owner.work / f"caches-{self.owner.generation}"
        return {"JUPYTER_CONTAINERIZE_CACHE_DIR": str(caches / "ours"),
                "UV_CACHE_DIR": str(caches / "uv"),
                "JUPYTER_CONTAINERIZE_DATA_DIR": str(self.work / "our-data"),
                "JUPYTER_CONTAINERIZE_LABELS": f"{BENCH_LABEL}=1", **self.engine.env}

    def cold_reset(self) -> None:
        """Empty caches for the next build: new folders, the old ones left for the end of the
        run (deleting tens of thousands of files just before a timed build slowed that build
        by seconds here, and the baseline's cold build deletes nothing)."""
        self.generation += 1
        self.engine.remove(OURS_REPO)

    def build(self, nb: Path) -> tuple[float, str]:
        t0 = time.perf_counter()
        proc = sh(str(CLI), "containerize", "build", str(nb), "--python", str(self.python),
                  env=self.env)
        took = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(f"our build on the {self.engine.title} failed: "
                             f"{proc.stderr.strip()[-500:]}")
        self.supply = sum(supply_phases(proc.stderr).values())
        found = SUMMARY.findall(proc.stderr)  # every phase, to tell where a slow build went
        step(f"ours, {self.engine.title}: {took:.2f} s (SBOM and facts {self.supply:.1f} s; "
             f"{found[-1] if found else 'no phases printed'})")
        return took, proc.stdout.strip().splitlines()[-1]


def supply_phases(stderr: str) -> dict[str, float]:
    """The SBOM and facts phases' seconds from the build's summary line (0.1 s resolution;
    a phase that did not run is absent)."""
    found = SUMMARY.findall(stderr)
    out = {}
    for part in found[-1].split(", ") if found else []:
        name, _, seconds = part.rpartition(" ")
        if name in SUPPLY_PHASES and seconds.endswith("s"):
            out[name] = float(seconds[:-1])
    return out


class Baseline:
    """A plain Dockerfile: pip install -r requirements.txt; COPY . . (classic builder)."""

    def __init__(self, work: Path, base: str, engine: Engine) -> None:
        self.base, self.engine = base, engine
        self.tag = f"{BASELINE_REPO}:latest"
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
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            tar.add(self.context, arcname=".")
        buf.seek(0)
        api = self.engine.client().api
        t0 = time.perf_counter()
        for chunk in api.build(fileobj=buf, custom_context=True, tag=self.tag, nocache=nocache,
                               rm=True, forcerm=True, decode=True, labels=MARK,
                               network_mode=self.engine.baseline_network):
            if "error" in chunk:
                raise SystemExit(f"baseline build on the {self.engine.title} failed: "
                                 f"{chunk['error']}")
        took = time.perf_counter() - t0
        step(f"baseline, {self.engine.title}{' (no cache)' if nocache else ''}: {took:.2f} s")
        return took

    def remove(self) -> None:
        self.engine.remove(BASELINE_REPO)


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

    cli = docker.from_env()
    found = cli.images.list(filters={"label": "io.jupyter-containerize.role=base"})
    found += cli.images.list(name="jupyter-containerize/base")
    for img in found:
        for tag in img.tags:
            if tag.startswith("jupyter-containerize/base:") and "-py3.11" in tag:
                return str(tag)
    raise SystemExit("no 3.11 base: run `jupyter containerize base --bootstrap --python 3.11`")


# ---------------------------------------------------------------- the second engine


STORES = {"overlay2": ("layer", "layer store"), "containerd": ("containerd", "containerd store")}


def start_engine(folder: Path, base: str, store: str) -> Engine:
    """A fresh engine of one kind of store, holding only the base: no image another run left
    (whose layers a build would not send again) makes a cold build less cold."""
    key, title = STORES[store]
    proc = sh("bash", str(SECOND_ENGINE), "start", str(folder), "--store", store, timeout=900)
    if proc.returncode != 0:
        raise SystemExit(f"the {title} engine did not start: {proc.stderr[-800:]}")
    host = proc.stdout.strip().splitlines()[-1]
    eng = Engine(key, title, host)
    step(f"{title} engine {eng.version} up, copying the base into it")
    copy = subprocess.run(["bash", "-c", 'docker save "$1" | DOCKER_HOST="$2" docker load',
                           "copy", base, host], capture_output=True, text=True, timeout=900)
    if copy.returncode != 0:
        raise SystemExit(f"could not copy the base into the second engine: {copy.stderr[-500:]}")
    return eng


def stop_engine(folder: Path) -> None:
    for _ in range(3):  # a stop racing the engine's last unmounts can leave the folder
        sh("bash", str(SECOND_ENGINE), "stop", str(folder), timeout=300)
        if not folder.exists():
            return
        time.sleep(2)


# ---------------------------------------------------------------- the floor


def floor_install(work: Path, python: Path, pins: list[str]) -> float:
    """`uv pip install --target` of the lock's pins with an empty cache, bytecode compiled."""
    folder, cache = work / "floor-target", work / "floor-uv-cache"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.rmtree(cache, ignore_errors=True)
    req = work / "floor-requirements.txt"
    req.write_text("\n".join(pins) + "\n")
    t0 = time.perf_counter()
    proc = sh(str(UV), "pip", "install", "--quiet", "--target", str(folder), "--python",
              str(python), "--no-deps", "--compile-bytecode", "-r", str(req),
              env={"UV_CACHE_DIR": str(cache)})
    took = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"uv pip install --target failed: {proc.stderr[-500:]}")
    # left for the end of the run: deleting them here slowed the timed builds that follow
    step(f"floor: uv pip install --target: {took:.2f} s")
    return took


def save_image(engine: Engine, ref: str, archive: Path) -> None:
    proc = sh("docker", "save", "-o", str(archive), ref, env=engine.env)
    if proc.returncode != 0:
        raise SystemExit(f"docker save {ref} failed: {proc.stderr[-500:]}")


def floor_load(engine: Engine, archive: Path) -> float:
    """One `docker load` of the saved image, after removing every image of ours (the base
    stays, as it does for a cold build)."""
    engine.remove(OURS_REPO)
    t0 = time.perf_counter()
    proc = sh("docker", "load", "-q", "-i", str(archive), env=engine.env)
    took = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"docker load failed: {proc.stderr[-500:]}")
    archive.unlink()
    step(f"floor: docker load, {engine.title}: {took:.2f} s")
    return took


# ---------------------------------------------------------------- one store


@dataclass
class Side:
    """One store's project copy, our builder and its baseline, and what was measured."""

    engine: Engine
    project: Path
    nb: Path
    ours: Ours
    base: Baseline | None
    full: bool
    floor: bool
    # the baseline's build after one package is added (off in --quick: its cold build has
    # already run the same code)
    baseline_added: bool = True
    got: dict[str, float | None] = field(default_factory=dict)
    archive: Path | None = None

    def first_part(self, reps: int) -> None:
        """Cold build (full sides), no-op and notebook-edit rebuilds, image size."""
        ours, base, got = self.ours, self.base, self.got
        if self.full:
            ours.cold_reset()
            got["cold"], ref = ours.build(self.nb)
            got["supply_cold"] = ours.supply
            if self.floor:
                self.archive = self.ours.work / "image.tar"
                save_image(self.engine, ref, self.archive)
        else:
            ours.engine.remove(OURS_REPO)
            ours.build(self.nb)  # not timed: the image the rebuilds start from
        # ours' no-op rebuilds before the baseline's cold build, whose engine-side clean-up
        # (its intermediate containers) would still be running under them; each side's
        # rebuilds start once the engine has settled after its cold build (a containerd store
        # collects the removed partial images' content then)
        time.sleep(SETTLE)
        noops = []
        for _ in range(reps):
            noops.append(ours.build(self.nb)[0])
            got["supply_noop"] = max(got.get("supply_noop") or 0.0, ours.supply)
        got["noop"] = min(noops)
        if base is not None:
            base.remove()
            base.write(self.project, _pins(self.project, self.nb.stem))
            got["b_cold"] = base.build(nocache=True)
            time.sleep(SETTLE)
        if base is not None:
            got["b_noop"] = min(base.build() for _ in range(reps))
        edits, b_edits = [], []
        for _ in range(reps):
            _edit(self.nb)
            edits.append(ours.build(self.nb)[0])
            if base is not None:
                base.write(self.project, _pins(self.project, self.nb.stem))
                b_edits.append(base.build())
        got["edit"], got["b_edit"] = min(edits), (min(b_edits) if b_edits else None)
        if self.full:
            got["size"] = self.engine.size(ours.build(self.nb)[1]) / 1e6
            got["b_size"] = self.engine.size(base.tag) / 1e6 if base else None

    def package_added(self) -> None:
        self.got["add"], _ = self.ours.build(self.nb)
        if self.base is not None and self.baseline_added:
            self.base.write(self.project, _pins(self.project, self.nb.stem))
            self.got["b_add"] = self.base.build()

    def last_part(self) -> None:
        if self.archive is not None:
            self.got["load"] = floor_load(self.engine, self.archive)

    def rows(self, table: Table, uv_floor: float | None) -> None:
        g, where = self.got, self.engine.title

        def add(measure: str, ours: float | None, base: float | None, target: str,
                met: bool | None, unit: str) -> None:
            if ours is not None:
                table.add(f"{measure} [{where}]", ours, base, target, met, unit)

        cold, b_cold = g.get("cold"), g.get("b_cold")
        if cold is not None:
            add("cold build", cold, b_cold, "<= 0.5x",
                None if b_cold is None else cold <= 0.5 * b_cold, "s")
            load = g.get("load")
            if load is not None and uv_floor is not None:
                # overlapped, a build can at best take the longer of the two
                add("cold build vs floor (longer of download+install and load)", cold,
                    max(uv_floor, load), "-", None, "s")
                add("cold build vs both one after the other", cold, uv_floor + load,
                    "-", None, "s")
                add("floor: docker load of the image", load, None, "-", None, "s")
        supply = g.get("supply_cold")
        if cold is not None and supply is not None:
            # the ratio column: the share of the cold build
            add("SBOM + facts within the cold build (vs the cold build)", supply, cold,
                "< 0.5 s", supply < 0.5, "s")
        noop, edit = g.get("noop"), g.get("edit")
        if noop is not None:
            add("no-op rebuild", noop, g.get("b_noop"), "< 0.5 s", noop < 0.5, "s")
            extra = g.get("supply_noop") or 0.0
            add("SBOM + facts within the no-op rebuild (vs the no-op rebuild)", extra, noop,
                "0 s", extra == 0, "s")
        if edit is not None:
            add("notebook-edit rebuild", edit, g.get("b_edit"), "< 3 s", edit < 3, "s")
        a = g.get("add")
        if a is not None:
            add("one package added", a, g.get("b_add"), "< 6 s", a < 6, "s")
        size, b_size = g.get("size"), g.get("b_size")
        if size is not None:
            add("image size", size, b_size, "<= baseline",
                None if b_size is None else size <= b_size, "MB")


def make_side(work: Path, key: str, engine: Engine, python: Path, base_ref: str,
              full: bool, with_baseline: bool, floor: bool, share: Ours | None = None) -> Side:
    folder = work / key
    project = folder / "bench-nb"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("*.lock.json", "model.*",
                                                                    "*.run.json"))
    nb = (project / "classifier.ipynb").rename(project / "bench-nb.ipynb")
    ours = Ours(folder, python, engine, share)
    base = Baseline(folder, base_ref, engine) if with_baseline else None
    return Side(engine, project, nb, ours, base, full, floor)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="each measure once; the containerd store's no-op and edit only (CI)")
    args = ap.parse_args()
    reps = 1 if args.quick else 3
    started = time.perf_counter()
    load_start = os.getloadavg()
    base_ref = _base()
    notes: list[str] = []
    # our package's bytecode, as an installed copy has it (a checkout under
    # PYTHONDONTWRITEBYTECODE would compile its modules again on every command)
    sh(sys.executable, "-m", "compileall", "-q", str(ROOT / "jupyter_containerize"))
    with tempfile.TemporaryDirectory(prefix="jc-bench-") as tmp:
        work = Path(tmp)
        venv = work / "venv"
        step("the example's environment")
        sh(sys.executable, "-m", "venv", str(venv))
        requirements = str(EXAMPLE / "requirements.txt")
        # the kernel's environment is not measured: with --quick uv makes it in seconds (pip
        # when uv cannot reach the index)
        if not args.quick or sh(str(UV), "pip", "install", "-q", "--python",
                                str(venv / "bin/python"), "-r", requirements).returncode:
            sh(str(venv / "bin/pip"), "install", "-q", "-r", requirements)
        python = venv / "bin/python"
        floor = not args.quick
        folders = {store: work / f"engine-{store}" for store in STORES}
        sides: list[Side] = []
        try:
            layer = start_engine(folders["overlay2"], base_ref, "overlay2")
            engine2 = start_engine(folders["containerd"], base_ref, "containerd")
            sides.append(make_side(work, "layer", layer, python, base_ref, True, True, floor))
            sides[0].baseline_added = not args.quick
            if args.quick:
                notes.append("--quick: on the containerd store only the no-op and notebook-edit "
                             "rebuilds are measured, without the baseline (its first build "
                             "shares the layer store's caches); no floor; the baseline is not "
                             "rebuilt after one package is added.")
                sides.append(make_side(work, "containerd", engine2, python, base_ref, False,
                                       False, False, share=sides[0].ours))
            else:
                sides.append(make_side(work, "containerd", engine2, python, base_ref, True,
                                       True, True))
            for side in sides:
                if side.base is not None and not side.engine.reaches_pypi(base_ref):
                    side.engine.baseline_network = "host"
                    notes.append(
                        f"{side.engine.title}: the benchmark engine's bridge has no route out "
                        "(--iptables=false), so a container on its default network cannot "
                        "reach PyPI; its baseline builds with the classic builder's "
                        "--network host (the same Dockerfile).")
            for side in sides:
                side.first_part(reps)
            uv_floor = (floor_install(work, python, _pins(sides[0].project, "bench-nb"))
                        if floor else None)
            sh(str(venv / "bin/pip"), "install", "-q", "statsmodels")
            for side in sides:
                if side.full:
                    side.package_added()
            for side in sides:
                side.last_part()
            step("a signed push, then pull and pull --verify")
            image = sides[0].ours.build(sides[0].nb)[1]  # the newest image: a no-op rebuild
            verified = signed.measure(work, image, sides[0].ours.env, reps)
        finally:
            for folder in folders.values():
                stop_engine(folder)
        table = Table("build")
        for side in sides:
            side.rows(table, uv_floor)
        table.add("pull --verify (vs pull of the same image) [layer store]",
                  verified.verified_pull, verified.pull, "+ < 1 s",
                  verified.verified_pull - verified.pull < 1, unit="s")
        table.add("signature check of a pulled image (vs pull --verify)", verified.check,
                  verified.verified_pull, "< 1 s", verified.check < 1, unit="s")
        if uv_floor is not None:
            table.add("floor: uv pip install --target, empty cache", uv_floor, None, "-", None,
                      unit="s")
            notes.append("Floor: `uv pip install --target` of the lock's pins with an empty cache "
                         "(parallel download, install, bytecode compiled) plus one `docker "
                         "load` of the cold-built image (`docker save` of it, its images "
                         "removed, the base kept) on the same engine.")
        table.show()
        for line in notes:
            print(f"- {line}")
        extra: dict[str, Any] = {
            "notes": notes,
            "stores": {s.engine.key: {"engine": s.engine.title,
                                      "docker": s.engine.version,
                                      "baseline": s.base is not None,
                                      "baseline_network": s.engine.baseline_network,
                                      "figures": s.got} for s in sides},
            "floor": {"uv_install_target_s": uv_floor},
            "verification": vars(verified),
            "seconds": round(time.perf_counter() - started, 1),
            "load_average": {"start": load_start, "end": os.getloadavg()},
        }
        write_results("build", table, machine_facts(), quick=args.quick, extra=extra)
    print(f"took {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
