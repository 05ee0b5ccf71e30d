"""Push benchmark: `jupyter containerize push` against `docker push` of the same image.

Each side pushes to a registry of its own, started for the run (`docker-registry serve` on a
free loopback port, a temporary storage root, no auth) and stopped after, so a cold push is
truly cold: no blob of the image is in the registry, none can be mounted from another
repository. Three measures, each a process timed as the user runs it:

- cold push: the image built from the example (ours from our blob store, uncompressed OCI
  layers; `docker push` from the engine, gzip-compressed);
- re-push: the same command again (nothing new to send);
- push after one package added: `statsmodels` added to the environment, the image rebuilt
  (not timed) and pushed to the same repository (only the new blobs should go).

Bytes: the registry's storage growth (`du` of its root) for each side, and the bytes our push
says it sent. The image is built by our CLI before timing (a push after a build is what a user
does); the build uses the user's package cache, it is not what is measured here.

    python benchmarks/push.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from common import LABEL, Table, Timed, machine_facts, run, write_results  # noqa: E402

EXAMPLE = ROOT / "examples" / "classifier"
CLI = Path(sys.executable).with_name("jupyter")
MARK = f"{LABEL}=push"
REPO = "jupyter-containerize/bench-push"
MB = 1e6
T0 = time.perf_counter()
MANIFEST_TYPES = ", ".join([
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json"])


def step(what: str) -> None:
    print(f"[push {time.perf_counter() - T0:6.1f}s] {what}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- a fresh registry


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Registry:
    """`docker-registry serve` on a free loopback port with a temporary root and no auth."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.root = folder / "storage"
        self.root.mkdir(parents=True)
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        config = folder / "registry.yml"
        config.write_text(
            "version: 0.1\nlog: {level: error}\n"
            f"storage: {{filesystem: {{rootdirectory: {self.root}}}}}\n"
            f"http: {{addr: {self.host}}}\n")
        self.log = open(folder / "registry.log", "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(["docker-registry", "serve", str(config)],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(80):
            try:
                with urllib.request.urlopen(f"http://{self.host}/v2/", timeout=2):
                    return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.25)
        self.stop()
        raise SystemExit(f"the registry on {self.host} did not start: "
                         f"{(folder / 'registry.log').read_text()[-500:]}")

    def stored(self) -> int:
        """Bytes under the storage root (what pushes have written)."""
        total = 0
        for dirpath, _dirs, files in os.walk(self.root):
            for f in files:
                try:
                    total += os.lstat(os.path.join(dirpath, f)).st_size
                except OSError:
                    pass
        return total

    def manifest(self, name: str, ref: str) -> dict[str, Any]:
        req = urllib.request.Request(f"http://{self.host}/v2/{name}/manifests/{ref}",
                                     headers={"Accept": MANIFEST_TYPES})
        with urllib.request.urlopen(req, timeout=30) as resp:
            return dict(json.load(resp))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def layer_bytes(manifest: dict[str, Any]) -> dict[str, int]:
    return {str(d["digest"]): int(d["size"]) for d in manifest.get("layers", [])}


# ---------------------------------------------------------------- the two sides


@dataclass
class Pushed:
    seconds: float
    stored: int  # registry storage growth, bytes
    sent: int | None  # bytes the pusher says it sent (ours only)
    reference: str


def ours_push(image: str, reg: Registry, env: dict[str, str]) -> Pushed:
    before = reg.stored()
    done: Timed = run([str(CLI), "containerize", "push", image, "--registry", reg.host],
                      env=env, timeout=1800).check()
    said = re.findall(r"(\d+) bytes", done.stderr)
    pinned = done.stdout.strip().splitlines()[-1]
    step(f"ours: {done.seconds:.2f} s ({said[-1] if said else '?'} bytes); {pinned}")
    return Pushed(done.seconds, reg.stored() - before, int(said[-1]) if said else None, pinned)


def docker_push(image: str, reg: Registry, tag: str, env: dict[str, str]) -> Pushed:
    target = f"{reg.host}/{REPO}:{tag}"
    run(["docker", "tag", image, target], env=env).check()
    before = reg.stored()
    done = run(["docker", "push", target], env=env, timeout=1800).check()
    found = re.findall(r"digest: (sha256:[0-9a-f]{64})", done.stdout)
    step(f"docker push: {done.seconds:.2f} s")
    return Pushed(done.seconds, reg.stored() - before, None,
                  f"{reg.host}/{REPO}@{found[-1]}" if found else target)


# ---------------------------------------------------------------- the images


TINY_NB = {
    "cells": [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
               "source": "import six\nprint(six.__version__)"}],
    "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                "name": "python3"}},
    "nbformat": 4, "nbformat_minor": 5}


class Project:
    """The notebook and its environment; `build` runs our CLI (not timed)."""

    def __init__(self, work: Path, quick: bool, env: dict[str, str]) -> None:
        self.env = env
        self.dir = work / "bench-push"
        if quick:  # a small environment: the base, the kernel's needs and one package
            self.dir.mkdir()
            (self.dir / "bench-push.ipynb").write_text(json.dumps(TINY_NB, indent=1))
            wants, self.added = ["six"], "idna"
        else:
            shutil.copytree(EXAMPLE, self.dir, ignore=shutil.ignore_patterns(
                "*.lock.json", "model.*", "*.run.json"))
            (self.dir / "classifier.ipynb").rename(self.dir / "bench-push.ipynb")
            wants, self.added = ["-r", str(EXAMPLE / "requirements.txt")], "statsmodels"
        self.nb = self.dir / "bench-push.ipynb"
        venv = work / "venv"
        run([sys.executable, "-m", "venv", str(venv)]).check()
        self.pip = str(venv / "bin" / "pip")
        self.python = str(venv / "bin" / "python")
        run([self.pip, "install", "-q", *wants], timeout=1800).check()

    def build(self) -> str:
        done = run([str(CLI), "containerize", "-q", "build", str(self.nb), "--python",
                    self.python], env=self.env, timeout=1800).check()
        ref = done.stdout.strip().splitlines()[-1]
        step(f"built {ref} in {done.seconds:.1f} s (not timed)")
        return ref

    def add_package(self) -> None:
        run([self.pip, "install", "-q", self.added], timeout=1800).check()


def tag_of(ref: str) -> str:
    return ref.rsplit(":", 1)[1] if ":" in ref.rsplit("/", 1)[-1] else "latest"


def cleanup() -> None:
    """Remove every image this benchmark made (its label) from the engine."""
    import docker

    cli = docker.from_env()
    for img in cli.images.list(filters={"label": MARK}):
        try:
            cli.images.remove(img.id, force=True)
        except docker.errors.APIError:
            pass
    cli.images.prune(filters={"dangling": True, "label": MARK})


# ---------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="a small environment (six, then idna added) (CI)")
    args = ap.parse_args()
    started = time.perf_counter()
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="jc-bench-push-") as tmp:
        work = Path(tmp)
        config = work / "docker-config"  # no credentials: the registries need none
        config.mkdir()
        env = {"JUPYTER_CONTAINERIZE_CACHE_DIR": str(work / "our-cache"),
               "JUPYTER_CONTAINERIZE_LABELS": MARK, "DOCKER_CONFIG": str(config)}
        step("the environment")
        project = Project(work, args.quick, env)
        regs: list[Registry] = []
        try:
            first = project.build()
            ours_reg = Registry(work / "registry-ours")
            regs.append(ours_reg)
            docker_reg = Registry(work / "registry-docker")
            regs.append(docker_reg)
            tag1 = tag_of(first)
            cold = ours_push(first, ours_reg, env), docker_push(first, docker_reg, tag1, env)
            again = ours_push(first, ours_reg, env), docker_push(first, docker_reg, tag1, env)
            project.add_package()
            second = project.build()
            tag2 = tag_of(second)
            added = ours_push(second, ours_reg, env), docker_push(second, docker_reg, tag2, env)
            new_ours = _new_layers(ours_reg, tag1, tag2)
            new_docker = _new_layers(docker_reg, tag1, tag2)
            size_ours = sum(layer_bytes(ours_reg.manifest(REPO, tag1)).values())
            size_docker = sum(layer_bytes(docker_reg.manifest(REPO, tag1)).values())
        finally:
            for reg in regs:
                reg.stop()
            cleanup()
    table = Table("push")
    o, d = cold
    table.add("cold push (fresh registry)", o.seconds, d.seconds, "<= docker push",
              o.seconds <= d.seconds, "s")
    table.add("cold push: bytes stored", o.stored / MB, d.stored / MB, "-", None, "MB")
    o, d = again
    table.add("re-push (nothing new)", o.seconds, d.seconds, "< 1 s", o.seconds < 1, "s")
    table.add("re-push: bytes stored", o.stored / MB, d.stored / MB, "0 sent",
              o.sent == 0, "MB")
    o, d = added
    table.add(f"push after one package added ({project.added})", o.seconds, d.seconds,
              "<= docker push", o.seconds <= d.seconds, "s")
    # only the new blobs: what was stored is the new layers plus config and manifest
    slack = 64 * 1024
    table.add("one package added: bytes stored", o.stored / MB, d.stored / MB,
              "new layers only", o.stored <= new_ours + slack, "MB")
    table.show()
    notes = [
        "Ours sends uncompressed OCI layers (their digests are the build's diff IDs); "
        "`docker push` sends gzip-compressed layers: bytes stored differ for that reason.",
        f"Layers of the first image as stored: ours {size_ours / MB:.1f} MB, "
        f"docker push {size_docker / MB:.1f} MB; new layers after the package was added: "
        f"ours {new_ours / MB:.1f} MB, docker push {new_docker / MB:.1f} MB.",
    ]
    for line in notes:
        print(f"- {line}")
    extra: dict[str, Any] = {
        "notes": notes,
        "figures": {name: {"ours": vars(o), "docker": vars(d)}
                    for name, (o, d) in (("cold", cold), ("repush", again),
                                         ("package_added", added))},
        "images": {"first": first, "second": second, "added_package": project.added},
        "layers_bytes": {"ours_first": size_ours, "docker_first": size_docker,
                         "ours_new": new_ours, "docker_new": new_docker},
        "seconds": round(time.perf_counter() - started, 1),
        "load_average": {"start": load_start, "end": os.getloadavg()},
    }
    write_results("push", table, machine_facts(), quick=args.quick, extra=extra)
    print(f"took {time.perf_counter() - started:.0f} s")
    return 0


def _new_layers(reg: Registry, tag1: str, tag2: str) -> int:
    old = layer_bytes(reg.manifest(REPO, tag1))
    new = layer_bytes(reg.manifest(REPO, tag2))
    return sum(size for digest, size in new.items() if digest not in old)


if __name__ == "__main__":
    sys.exit(main())
