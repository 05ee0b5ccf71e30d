"""`doctor`'s fixes are ones a user of the installed package can follow: start Docker or Podman,
select an engine with DOCKER_HOST / DOCKER_CONTEXT, log in to a registry. The development
scripts are named only as what a source checkout has. No engine is needed: the failing cases
point doctor at engines and registries that do not answer."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from helpers import cli  # noqa: E402
from jc_support import ENGINE_VARIABLES, skip_or_fail  # noqa: E402

from jupyter_containerize.core.engine.endpoint import (  # noqa: E402
    DEFAULT_HOST,
    SOURCE_CHECKOUT,
    Endpoint,
    engine_fix,
)

REGISTRY = os.environ.get("JC_TEST_REGISTRY", "127.0.0.1:5000")
USER = os.environ.get("JC_REGISTRY_USER", "team")
PASSWORD = os.environ.get("JC_REGISTRY_PASSWORD", "team-secret")
DEAD_SOCKET = "unix:///nonexistent/jc-doctor.sock"


def _scripts_only_for_a_checkout(text: str) -> None:
    """Every mention of the development scripts says it is for a source checkout."""
    for line in text.splitlines():
        if "scripts/" in line:
            assert SOURCE_CHECKOUT in line, line


def test_default_engine_fix_names_what_an_installed_user_runs() -> None:
    fix = engine_fix(Endpoint(DEFAULT_HOST))
    for needle in ("sudo systemctl start docker", "Docker Desktop",
                   "systemctl --user start podman.socket",
                   "DOCKER_HOST=unix://$XDG_RUNTIME_DIR/podman/podman.sock",
                   "set DOCKER_HOST or DOCKER_CONTEXT"):
        assert needle in fix, fix
    assert fix.endswith(f"{SOURCE_CHECKOUT} starts one for development")
    assert SOURCE_CHECKOUT.startswith("in a source checkout")


def test_engine_fix_for_an_engine_chosen_by_docker_host_or_a_context() -> None:
    by_host = engine_fix(Endpoint("tcp://10.0.0.7:2376", source="DOCKER_HOST"))
    assert by_host == ("start the engine at tcp://10.0.0.7:2376, or set DOCKER_HOST to one that "
                       "runs, or unset it to use the local engine")
    by_context = engine_fix(Endpoint("ssh://me@build", context="build", source="DOCKER_CONTEXT"))
    assert "start the engine of context build" in by_context
    assert "`docker context use NAME`" in by_context and "docker context ls" in by_context
    for fix in (by_host, by_context):
        assert "scripts/" not in fix


def test_engine_fix_for_a_socket_the_user_may_not_open() -> None:
    fix = engine_fix(Endpoint(DEFAULT_HOST), "no Docker engine answers at ...: ('Connection "
                     "aborted.', PermissionError(13, 'Permission denied'))")
    assert "sudo usermod -aG docker $USER" in fix and "log in again" in fix


def _doctor(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {var: "" for var in ENGINE_VARIABLES}
    base["DOCKER_CONFIG"] = str(tmp_path / "docker-config")
    return cli("doctor", env={**base, **env}, timeout=120)


def _line(proc: subprocess.CompletedProcess[str], prefix: str) -> str:
    return next(ln for ln in proc.stdout.splitlines() if ln.startswith(prefix))


@pytest.mark.hostile
def test_doctor_with_no_engine_at_docker_host(tmp_path: Path) -> None:
    proc = _doctor(tmp_path, DOCKER_HOST=DEAD_SOCKET)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1 and "Traceback" not in out, out
    engine = _line(proc, "FAIL  engine: ")
    assert f"no Docker engine answers at {DEAD_SOCKET} (context default, from DOCKER_HOST)" \
        in engine
    assert engine.endswith(f"(start the engine at {DEAD_SOCKET}, or set DOCKER_HOST to one that "
                           "runs, or unset it to use the local engine)")
    assert _line(proc, "FAIL  base image: ") == (
        "FAIL  base image: not checked: it needs the engine (see the engine's fix above)")
    _scripts_only_for_a_checkout(out)


@pytest.mark.hostile
def test_doctor_with_a_context_whose_engine_is_down(tmp_path: Path) -> None:
    config = tmp_path / "docker-config"
    config.mkdir()
    made = subprocess.run(["docker", "context", "create", "jc-down", "--docker",
                           f"host={DEAD_SOCKET}"], capture_output=True, text=True,
                          env={**os.environ, "DOCKER_CONFIG": str(config)}, timeout=60)
    assert made.returncode == 0, made.stderr
    proc = _doctor(tmp_path, DOCKER_CONTEXT="jc-down")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1 and "Traceback" not in out, out
    engine = _line(proc, "FAIL  engine: ")
    assert "(context jc-down, from DOCKER_CONTEXT)" in engine
    assert "start the engine of context jc-down, or choose another one with `docker context " \
        "use NAME` or DOCKER_CONTEXT=NAME" in engine
    _scripts_only_for_a_checkout(out)


@pytest.mark.hostile
def test_doctor_with_a_registry_that_does_not_answer(tmp_path: Path) -> None:
    proc = _doctor(tmp_path, DOCKER_HOST=DEAD_SOCKET, JUPYTER_CONTAINERIZE_REGISTRY="127.0.0.1:9")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1 and "Traceback" not in out, out
    registry = _line(proc, "FAIL  registry: ")
    assert "registry 127.0.0.1:9 does not answer" in registry
    assert "check that the registry runs and that its host and port are right in " \
        "ContainerizeConfig.registry or JUPYTER_CONTAINERIZE_REGISTRY" in registry


@pytest.mark.registry
def test_doctor_says_whether_you_are_logged_in_to_the_registry(tmp_path: Path) -> None:
    try:
        requests.get(f"http://{REGISTRY}/v2/", timeout=5)
    except requests.RequestException:
        skip_or_fail(f"no registry at {REGISTRY}: run scripts/services.sh")
    env = {"DOCKER_HOST": DEAD_SOCKET, "JUPYTER_CONTAINERIZE_REGISTRY": REGISTRY}
    before = _line(_doctor(tmp_path, **env), "ok    registry: ")
    assert before == (f"ok    registry: {REGISTRY} answers; login required: run `jupyter "
                      f"containerize login {REGISTRY} -u USER --password-stdin` (or `docker "
                      "login` it)")
    login = cli("login", REGISTRY, "--username", USER, "--password-stdin", input_text=PASSWORD,
                env={"DOCKER_CONFIG": str(tmp_path / "docker-config"), "DOCKER_HOST": DEAD_SOCKET})
    assert login.returncode == 0, login.stderr
    after = _line(_doctor(tmp_path, **env), "ok    registry: ")
    assert after == f"ok    registry: {REGISTRY} answers; logged in as {USER}"
