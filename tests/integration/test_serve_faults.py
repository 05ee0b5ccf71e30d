"""serve on the real engine when things go wrong: a model that does not load (fails in seconds,
nothing left, the port free), a serving container killed under a deployment, re-serving
without (or with another) --token, and the admin token every repository-route request from
the CLI carries, which never shows in the container's configuration or logs."""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from helpers import EXAMPLE, EXAMPLE_PYTHON, assert_one_line_error, cli
from jc_support import TEST_LABEL, TEST_RUN_ID

from jupyter_containerize.core.deploy import admintoken
from jupyter_containerize.core.deploy.local import stop
from jupyter_containerize.core.deploy.serve import model_sha256
from jupyter_containerize.core.engine import client as engine
from jupyter_containerize.core.errors import NotFoundError

pytestmark = pytest.mark.engine
os.environ.setdefault("JUPYTER_CONTAINERIZE_LABELS", f"{TEST_LABEL}={TEST_RUN_ID}")
SUFFIX = uuid.uuid4().hex[:6]
TRAIN = """
import sys, joblib
from sklearn.datasets import make_classification
from sklearn.tree import DecisionTreeClassifier
X, y = make_classification(n_samples=200, n_features=8, random_state=0)
for seed, path in enumerate(sys.argv[1:]):
    joblib.dump(DecisionTreeClassifier(max_depth=seed + 2, random_state=seed).fit(X, y), path)
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, docker_client: object) -> dict[str, Path]:
    """The classifier example with three small trained models and a text file beside it."""
    root = tmp_path_factory.mktemp("faults") / "classifier"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("*.lock.json", ".ipynb*"))
    models = [root / f"m{i}.joblib" for i in range(3)]
    subprocess.run([str(EXAMPLE_PYTHON), "-c", TRAIN, *map(str, models)], check=True)
    bad = root.parent / "text" / "model.joblib"
    bad.parent.mkdir()
    bad.write_text("these are notes, not a model\n")
    return {"nb": root / "classifier.ipynb", "m0": models[0], "m1": models[1],
            "m2": models[2], "bad": bad}


@pytest.fixture
def name() -> Iterator[str]:
    made = f"t-flt-{SUFFIX}-{uuid.uuid4().hex[:4]}"
    yield made
    try:
        stop(made)
    except NotFoundError:
        pass


def _serve(project: dict[str, Path], model: str, name: str,
           *extra: str) -> subprocess.CompletedProcess[str]:
    return cli("serve", str(project[model]), "--notebook", str(project["nb"]), "--python",
               str(EXAMPLE_PYTHON), "--name", name, *extra)


def _ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stdout + proc.stderr
    return proc.stdout


def _url(stdout: str) -> str:
    return next(ln.strip() for ln in stdout.splitlines() if ln.strip().startswith("http"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _ours(name: str) -> list[str]:
    found = engine.client().containers.list(
        all=True, filters={"label": f"io.jupyter-containerize.deployment={name}"})
    return [c.name for c in found]


def _served_sha(url: str, name: str, token: str | None = None) -> str:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    answer = requests.get(f"{url}/v2/models/{name}", headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["parameters"]["sha256"])


@pytest.mark.hostile
def test_a_model_that_does_not_load_fails_fast_and_leaves_nothing(
        project: dict[str, Path], name: str) -> None:
    port = _free_port()
    first = _serve(project, "bad", name, "--port", str(port))  # builds its serving image
    assert_one_line_error(first, "the model did not load: ", "fix the model file",
                          "nothing of this deployment is left running")
    line = next(ln for ln in first.stderr.splitlines() if ln.startswith("error:"))
    said = line.split("the model did not load: ", 1)[1].split(" (the line above", 1)[0]
    assert said and said != "(no output)", line  # the runtime's own reason
    assert _ours(name) == [] and _port_free(port) and admintoken.read(name) is None
    t0 = time.monotonic()
    again = _serve(project, "bad", name, "--port", str(port))  # image reused: start -> fail
    elapsed = time.monotonic() - t0
    assert_one_line_error(again, "the model did not load: " + said)
    assert elapsed < 15, f"took {elapsed:.1f} s to report a model that cannot load"
    assert _ours(name) == [] and _port_free(port)


@pytest.mark.hostile
def test_serving_again_after_the_container_was_killed(project: dict[str, Path],
                                                      name: str) -> None:
    url = _url(_ok(_serve(project, "m0", name)))
    engine.client().containers.get(f"jc-{name}").kill()
    out = _ok(_serve(project, "m1", name))
    assert f"the previous serving container of {name} was gone" in out, out
    assert "started a fresh one on the same port" in out
    assert "probe requests failed" not in out and "model swap" not in out, out
    assert _url(out) == url  # the same port
    assert _served_sha(url, name) == model_sha256(project["m1"])
    assert sorted(_ours(name)) == sorted([f"jc-{name}", f"jc-{name}-net"])


@pytest.mark.hostile
def test_serving_again_without_or_with_another_token(project: dict[str, Path],
                                                     name: str) -> None:
    url = _url(_ok(_serve(project, "m0", name, "--token", "first-secret")))
    sha = _served_sha(url, name, "first-secret")
    without = _serve(project, "m1", name)
    assert_one_line_error(without, f"deployment {name} requires a token on its inference "
                          "routes", "serve again with the --token it was served with",
                          f"jupyter containerize stop {name}")
    other = _serve(project, "m1", name, "--token", "another-secret")
    assert_one_line_error(other, f"the --token given is not the one deployment {name} was "
                          "served with")
    assert _served_sha(url, name, "first-secret") == sha  # nothing changed
    out = _ok(_serve(project, "m1", name, "--token", "first-secret"))
    assert "model swap: in place" in out
    assert _served_sha(url, name, "first-secret") == model_sha256(project["m1"])


def test_repository_routes_carry_the_admin_token(project: dict[str, Path], name: str) -> None:
    url = _url(_ok(_serve(project, "m0", name)))
    token = admintoken.read(name)
    assert token, "no admin token kept for the deployment"
    path = admintoken.path(name)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    container = engine.client().containers.get(f"jc-{name}")
    env = container.attrs["Config"]["Env"]
    assert f"{admintoken.ENV_FILE}={admintoken.IN_CONTAINER}" in env
    mount = next(m for m in container.attrs["Mounts"] if m["Destination"] ==
                 admintoken.IN_CONTAINER)
    assert mount["RW"] is False and mount["Source"] == str(path)
    # the token is nowhere the engine shows: configuration, image history, logs
    inspect = str(container.attrs) + str(engine.client().images.get(container.image.id).history())
    assert token not in inspect and token not in container.logs().decode(errors="replace")
    for c in (container, engine.client().containers.get(f"jc-{name}-net")):
        log = c.attrs["HostConfig"]["LogConfig"]
        assert log["Type"] == "json-file" and log["Config"] == {"max-size": "10m",
                                                                "max-file": "3"}
    # a request without the token is refused on the repository route ...
    load = f"{url}/v2/repository/models/{name}/load"
    refused = requests.post(load, json={"parameters": {"path": "/opt/ml/model"}}, timeout=30)
    assert refused.status_code in (401, 403), refused.text
    # ... and the CLI's in-place swap, which loads through it, succeeds
    out = _ok(_serve(project, "m1", name))
    assert "model swap: in place" in out, out
    assert _served_sha(url, name) == model_sha256(project["m1"])
    assert token not in out
