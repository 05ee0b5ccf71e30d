"""serve on the real engine: the classifier's model in its own environment, every SageMaker
and V2 route, tritonclient and SageMaker-style clients, a class defined in a notebook cell,
in-place swaps under keep-alive load, a new environment's replacement window, `docker run
IMAGE serve`, the user's older pin of a runtime dependency, and one-line errors."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import requests
from helpers import EXAMPLE, EXAMPLE_PYTHON, assert_one_line_error, cli, make_venv, notebook
from jc_support import TEST_LABEL, TEST_RUN_ID

from jupyter_containerize.core import labels
from jupyter_containerize.core.deploy.local import deployments, stop
from jupyter_containerize.core.deploy.serve import serve, serve_object
from jupyter_containerize.core.engine import client as engine

pytestmark = pytest.mark.engine
os.environ.setdefault("JUPYTER_CONTAINERIZE_LABELS", f"{TEST_LABEL}={TEST_RUN_ID}")
SUFFIX = uuid.uuid4().hex[:6]
TRAIN = """
import sys, joblib
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
X, y = make_classification(n_samples=500, n_features=20, random_state=0)
for path, seed in zip(sys.argv[1:], (0, 1)):
    joblib.dump(RandomForestClassifier(n_estimators=20, random_state=seed).fit(X, y), path)
"""


def ensure_bridge() -> None:
    """Put docker0 back when it is gone: a second dockerd started with --bridge none (the
    teammate engine of the sharing tests) deletes the host's docker0 as it starts."""
    if subprocess.run(["ip", "link", "show", "docker0"], capture_output=True).returncode == 0:
        return
    for cmd in (["ip", "link", "add", "docker0", "type", "bridge"],
                ["ip", "addr", "add", "172.17.0.1/16", "dev", "docker0"],
                ["ip", "link", "set", "docker0", "up"]):
        subprocess.run(cmd, capture_output=True)


@pytest.fixture(autouse=True)
def _bridge() -> None:
    ensure_bridge()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, docker_client: object) -> dict[str, Path]:
    """A copy of the classifier example with two trained models beside it."""
    root = tmp_path_factory.mktemp("serve") / "classifier"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("*.lock.json", ".ipynb*"))
    m1, m2 = root / "model.joblib", root / "model2.joblib"
    subprocess.run([str(EXAMPLE_PYTHON), "-c", TRAIN, str(m1), str(m2)], check=True)
    return {"notebook": root / "classifier.ipynb", "m1": m1, "m2": m2}


@pytest.fixture(scope="module")
def deployed(project: dict[str, Path]) -> Iterator[object]:
    ensure_bridge()
    result = serve(project["m1"], notebook=project["notebook"], name=f"t-cls-{SUFFIX}",
                   check=True)
    yield result
    stop(result.name)


def _row() -> list[float]:
    rng = np.random.default_rng(0)
    return [float(v) for v in rng.normal(size=20)]


def test_every_route_answers_and_image_is_labelled(deployed: object,
                                                  project: dict[str, Path]) -> None:
    checks = deployed.checks
    assert checks and all(c["ok"] for c in checks), checks
    names = {c["name"] for c in checks}
    assert {"sagemaker ping", "sagemaker invocations csv", "sagemaker runtime api",
            "v2 infer"} <= names
    image = engine.require_image(deployed.image)
    lab = image.labels
    assert lab[labels.ROLE] == "serving" and lab[labels.MANAGED] == "true"
    assert lab[labels.MODEL_SHA256] == deployed.model_sha256 and lab[labels.MODEL_FLAVOR]
    assert deployed.image.split(":")[1].startswith("serve-")
    container = engine.client().containers.get(f"jc-{deployed.name}")
    owner = engine.client().containers.get(f"jc-{deployed.name}-net")
    for c in (container, owner):
        assert c.attrs["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    # the port owner publishes the port; the serving container lives in its network
    assert container.attrs["HostConfig"]["NetworkMode"] == f"container:{owner.id}"
    binding = owner.attrs["HostConfig"]["PortBindings"]["8080/tcp"][0]
    assert binding["HostIp"] == "127.0.0.1"
    assert owner.labels[labels.ROLE] == "deployment-net" and owner.attrs["Config"]["User"] == "1000"
    listed = {d.name: d for d in deployments()}
    assert listed[deployed.name].model_sha256 == deployed.model_sha256
    again = serve(project["m1"], notebook=project["notebook"], name=deployed.name)
    assert again.image_cached and again.url == deployed.url and again.swap is None


def test_tritonclient_and_sagemaker_clients(deployed: object, project: dict[str, Path]) -> None:
    import joblib
    import tritonclient.http as httpclient

    model = joblib.load(project["m1"])
    rows = np.array([_row(), [0.0] * 20])
    expected = model.predict(rows)
    client = httpclient.InferenceServerClient(deployed.url.split("://", 1)[1])
    assert client.is_server_ready() and client.is_model_ready(deployed.name)
    given = httpclient.InferInput("input-0", list(rows.shape), "FP64")
    given.set_data_from_numpy(rows, binary_data=True)
    answer = client.infer(deployed.name, [given])
    assert list(answer.as_numpy("predict")) == list(expected)
    # what boto3's invoke_endpoint sends: a body with ContentType and Accept
    csv = "\n".join(",".join(map(str, r)) for r in rows) + "\n"
    got = requests.post(f"{deployed.url}/invocations", data=csv,
                        headers={"Content-Type": "text/csv", "Accept": "application/json"})
    assert got.json()["predictions"] == list(expected)
    got = requests.post(f"{deployed.url}/invocations", json={"instances": rows.tolist()},
                        headers={"Accept": "application/json"})
    assert got.json()["predictions"] == list(expected)
    # boto3 itself, pointed at the container as at a SageMaker runtime endpoint
    import boto3

    runtime = boto3.client("sagemaker-runtime", endpoint_url=deployed.url,
                           region_name="us-east-1", aws_access_key_id="local",
                           aws_secret_access_key="local")
    answer = runtime.invoke_endpoint(EndpointName=deployed.name, ContentType="text/csv",
                                     Accept="application/json", Body=csv.encode())
    assert json.loads(answer["Body"].read())["predictions"] == list(expected)
    import botocore.exceptions

    with pytest.raises(botocore.exceptions.ClientError) as refused:
        runtime.invoke_endpoint(EndpointName="no-such-model", ContentType="text/csv", Body=csv)
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def _load(url: str, stop_at: threading.Event, counts: dict[str, int]) -> None:
    session = requests.Session()  # keep-alive
    body = {"instances": [_row()]}
    while not stop_at.is_set():
        try:
            ok = session.post(f"{url}/invocations", json=body, timeout=10).status_code == 200
        except requests.RequestException:
            ok = False
        counts["sent"] += 1
        counts["failed"] += 0 if ok else 1


def test_swap_in_place_under_load_fails_nothing(deployed: object,
                                                project: dict[str, Path]) -> None:
    stop_at = threading.Event()
    counts = [{"sent": 0, "failed": 0} for _ in range(4)]
    threads = [threading.Thread(target=_load, args=(deployed.url, stop_at, c)) for c in counts]
    for t in threads:
        t.start()
    time.sleep(0.5)
    try:
        swapped = serve(project["m2"], notebook=project["notebook"], name=deployed.name)
        time.sleep(0.5)
    finally:
        stop_at.set()
        for t in threads:
            t.join()
    sent, failed = sum(c["sent"] for c in counts), sum(c["failed"] for c in counts)
    assert sent > 50 and failed == 0, (sent, failed)
    assert swapped.swap["mode"] == "in place" and swapped.url == deployed.url
    meta = requests.get(f"{deployed.url}/v2/models/{deployed.name}").json()
    assert meta["parameters"]["sha256"] == swapped.model_sha256 != deployed.model_sha256
    container = engine.client().containers.get(f"jc-{deployed.name}")
    assert container.attrs["RestartCount"] == 0


def test_new_environment_replaces_on_same_port(deployed: object,
                                               project: dict[str, Path]) -> None:
    replaced = serve(project["m1"], notebook=project["notebook"], name=deployed.name,
                     lock="imported")
    assert replaced.url == deployed.url
    assert replaced.swap["mode"] == "replaced"
    assert isinstance(replaced.swap["failed"], int) and replaced.swap["sent"] >= 1
    assert replaced.swap["seconds"] < 2.0, replaced.swap
    assert replaced.swap["failure_seconds"] < 2.0, replaced.swap
    names = [c.name for c in engine.client().containers.list(
        all=True, filters={"label": f"io.jupyter-containerize.deployment={deployed.name}"})]
    assert sorted(names) == [f"jc-{deployed.name}", f"jc-{deployed.name}-net"], names


def test_stopped_serving_container_is_unhealthy_until_served_again(
        deployed: object, project: dict[str, Path]) -> None:
    engine.client().containers.get(f"jc-{deployed.name}").stop(timeout=5)
    listed = {d.name: d for d in deployments()}
    assert listed[deployed.name].status.startswith("unhealthy"), listed[deployed.name]
    assert listed[deployed.name].url == deployed.url
    again = serve(project["m1"], notebook=project["notebook"], name=deployed.name,
                  lock="imported")
    assert again.url == deployed.url and again.swap is None and "was gone" in again.note
    assert requests.get(f"{deployed.url}/ping", timeout=5).status_code == 200
    assert {d.name: d for d in deployments()}[deployed.name].status.startswith("running")


def test_docker_run_image_serve_answers_as_user_1000(deployed: object) -> None:
    cli_ = engine.client()
    container = cli_.containers.run(
        deployed.image, ["serve"], detach=True, ports={"8080/tcp": ("127.0.0.1", None)},
        labels={labels.MANAGED: "true", TEST_LABEL: TEST_RUN_ID},
    )
    try:
        container.reload()
        port = container.attrs["NetworkSettings"]["Ports"]["8080/tcp"][0]["HostPort"]
        deadline = time.monotonic() + 60
        status = 0
        while time.monotonic() < deadline and status != 200:
            try:
                status = requests.get(f"http://127.0.0.1:{port}/ping", timeout=2).status_code
            except requests.RequestException:
                time.sleep(0.2)
        assert status == 200, container.logs()[-800:]
        assert container.exec_run(["id", "-u"]).output.strip() == b"1000"
        import pwd

        host_name = pwd.getpwuid(1000).pw_name if _has_uid(1000) else "1000"
        assert container.top()["Processes"][0][0] in ("1000", "jovyan", host_name)
    finally:
        container.remove(force=True)


def _has_uid(uid: int) -> bool:
    import pwd

    try:
        pwd.getpwuid(uid)
    except KeyError:
        return False
    return True


CLASS_CELL = """
import numpy as np
class Doubler:
    n_features_in_ = 3
    def predict(self, X):
        return np.asarray(X).sum(axis=1) * 2
"""


def test_serve_object_with_class_from_a_notebook_cell(project: dict[str, Path]) -> None:
    namespace: dict[str, object] = {"__name__": "__main__"}
    exec(CLASS_CELL, namespace)  # noqa: S102 - a notebook cell's class lives in __main__
    obj = namespace["Doubler"]()  # type: ignore[operator]
    assert type(obj).__module__ == "__main__"
    result = serve_object(obj, project["notebook"], name=f"t-obj-{SUFFIX}", check=True)
    try:
        assert all(c["ok"] for c in result.checks), result.checks
        got = requests.post(f"{result.url}/invocations", json={"instances": [[1, 2, 3]]})
        assert got.json()["predictions"] == [12]
    finally:
        stop(result.name)


PREDICT = """
import numpy as np
EXAMPLE = np.zeros((1, 2))
def load(model_dir):
    return None
def predict(model, inputs):
    return np.asarray(inputs).sum(axis=1)
"""


def test_users_older_pin_of_a_runtime_dependency_wins(tmp_path: Path) -> None:
    python = make_venv(tmp_path / "venv", str(EXAMPLE_PYTHON), "numpy", "click==8.1.7")
    nb = notebook(tmp_path / "pins" / "pins.ipynb", "import numpy, click")
    model = tmp_path / "pins" / "summer"
    model.mkdir()
    (model / "predict.py").write_text(PREDICT)
    result = serve(model, notebook=nb, python=str(python), name=f"t-pin-{SUFFIX}", check=True)
    try:
        assert all(c["ok"] for c in result.checks), result.checks
        status, out = engine.run_once(
            result.image, ["python", "-c", "import click; print(click.__version__)"]
        )
        assert status == 0 and out.strip().splitlines()[-1] == "8.1.7", out
    finally:
        stop(result.name)


def test_bad_input_is_one_line_with_the_fix(project: dict[str, Path], tmp_path: Path) -> None:
    nb = str(project["notebook"])
    proc = cli("serve", str(tmp_path / "nope.joblib"), "--notebook", nb)
    assert_one_line_error(proc, "no model file", "path of a model file")
    odd = tmp_path / "model.txt"
    odd.write_text("hello")
    assert_one_line_error(cli("serve", str(odd), "--notebook", nb), "cannot serve", "joblib")
    proc = cli("serve", str(project["m1"]), "--notebook", nb, "--name", "Bad Name!")
    assert_one_line_error(proc, "not a valid deployment name", "lowercase")
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen(1)
        port = held.getsockname()[1]
        proc = cli("serve", str(project["m1"]), "--notebook", nb, "--name",
                   f"t-port-{SUFFIX}", "--port", str(port))
    assert_one_line_error(proc, f"port {port} is already in use", "another --port")
    assert_one_line_error(cli("stop", f"t-none-{SUFFIX}"), "no deployment named")
