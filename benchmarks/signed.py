"""The cost of checking a signed image where it is used, measured for benchmarks/build.py.

The image the build benchmark made is pushed, signed with a key made by `key create`, to a
registry started for the run (`docker-registry serve` on a free loopback port, no auth; the
referrers travel by the tag fallback, as on Debian's registry 2.8). Then the same pull is
timed without and with `--verify`, as a user runs it (the CLI as a subprocess); the check's
own seconds are what `pull --verify` reports."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from push import Registry  # noqa: E402

CLI = Path(sys.executable).with_name("jupyter")
CHECKED = re.compile(r"is signed by key \w+ \(checked in ([\d.]+)s\)")


@dataclass
class Verification:
    pull: float  # seconds of `pull` (the baseline)
    verified_pull: float  # seconds of `pull --verify`
    check: float  # the seconds the check itself took, as the pull reports them


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(CLI), "containerize", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=1800)
    if proc.returncode != 0:
        raise SystemExit(f"`containerize {' '.join(args)}` failed: {proc.stderr.strip()[-500:]}")
    return proc


def measure(work: Path, image: str, env: dict[str, str], reps: int) -> Verification:
    """Push ``image`` signed to a fresh registry, then time pull and pull --verify."""
    folder = work / "signed"
    registry = Registry(folder / "registry")
    try:
        base = {**env, "DOCKER_CONFIG": str(folder / "docker"),
                "JUPYTER_CONTAINERIZE_DATA_DIR": str(folder / "data")}
        public = _cli(["key", "create"], base).stdout.splitlines()[0]
        config = folder / "config"
        config.mkdir()
        (config / "jupyter_containerize_config.json").write_text(json.dumps(
            {"ContainerizeConfig": {"signing_key": str(Path(public).with_suffix(".key")),
                                    "trusted_keys": [public]}}))
        base["JUPYTER_CONFIG_DIR"] = str(config)
        ref = _cli(["push", image, "--registry", f"{registry.host}/bench"],
                   base).stdout.strip().splitlines()[-1]  # pinned by digest
        plain, verified, checks = [], [], []
        for _ in range(reps):
            t0 = time.perf_counter()
            _cli(["pull", ref], base)
            plain.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            proc = _cli(["pull", "--verify", ref], base)
            verified.append(time.perf_counter() - t0)
            found = CHECKED.search(proc.stderr)
            if found is None:
                raise SystemExit(f"pull --verify did not report its check: {proc.stderr[-300:]}")
            checks.append(float(found.group(1)))
        return Verification(min(plain), min(verified), min(checks))
    finally:
        registry.stop()
