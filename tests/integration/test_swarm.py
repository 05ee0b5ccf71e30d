"""`serve --replicas` on a real Docker Swarm (this engine, made a manager for the test): every
replica answers, a rolling update reaches all of them, rollback restores the old model."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from helpers import EXAMPLE, EXAMPLE_PYTHON
from jc_support import TEST_LABEL, TEST_RUN_ID
from test_serve import TRAIN, ensure_bridge

from jupyter_containerize.core.deploy.local import deployments, stop
from jupyter_containerize.core.deploy.serve import serve
from jupyter_containerize.core.deploy.swarm import rollback
from jupyter_containerize.core.engine import client as engine

pytestmark = pytest.mark.engine
os.environ.setdefault("JUPYTER_CONTAINERIZE_LABELS", f"{TEST_LABEL}={TEST_RUN_ID}")
NAME = f"t-swarm-{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module")
def swarm(docker_client: object) -> Iterator[None]:
    ensure_bridge()
    state = engine.client().info().get("Swarm", {}).get("LocalNodeState")
    if state == "active":
        pytest.skip("the engine is already in a swarm that this test did not create")
    subprocess.run(["docker", "swarm", "init", "--advertise-addr", "127.0.0.1"], check=True,
                   capture_output=True)
    try:
        yield
    finally:
        try:
            stop(NAME)
        except Exception:
            pass
        subprocess.run(["docker", "swarm", "leave", "--force"], capture_output=True)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("swarm") / "classifier"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("*.lock.json", ".ipynb*"))
    m1, m2 = root / "model.joblib", root / "model2.joblib"
    subprocess.run([str(EXAMPLE_PYTHON), "-c", TRAIN, str(m1), str(m2)], check=True)
    return {"notebook": root / "classifier.ipynb", "m1": m1, "m2": m2}


def _shas(urls: list[str]) -> list[str]:
    return [requests.get(f"{u}/v2/models/{NAME}", timeout=5).json()["parameters"]["sha256"]
            for u in urls]


def test_replicas_rolling_update_and_rollback(swarm: None, models: dict[str, Path]) -> None:
    first = serve(models["m1"], notebook=models["notebook"], name=NAME, replicas=2)
    assert first.replicas == 2 and len(set(first.urls)) == 2
    assert _shas(first.urls) == [first.model_sha256] * 2
    for url in first.urls:
        answer = requests.post(f"{url}/invocations", json={"instances": [[0.0] * 20]})
        assert answer.status_code == 200 and len(answer.json()["predictions"]) == 1
    svc = engine.client().services.get(f"jc-{NAME}")
    assert svc.attrs["Spec"]["Labels"][TEST_LABEL] == TEST_RUN_ID
    assert svc.attrs["Spec"]["UpdateConfig"]["Order"] == "start-first"
    assert svc.attrs["Spec"]["UpdateConfig"]["FailureAction"] == "rollback"

    second = serve(models["m2"], notebook=models["notebook"], name=NAME, replicas=2)
    assert second.model_sha256 != first.model_sha256
    assert _shas(second.urls) == [second.model_sha256] * 2
    listed = {d.name: d for d in deployments()}
    assert listed[NAME].model_sha256 == second.model_sha256

    back = rollback(NAME)
    assert back.image == first.image
    assert _shas(back.urls) == [first.model_sha256] * 2
