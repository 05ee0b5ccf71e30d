"""Each model flavor the serving runtime detects, loaded in a real server process."""

from __future__ import annotations

import http.client
import json
import os
import pickle
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("uvicorn")
joblib = pytest.importorskip("joblib")
pytest.importorskip("sklearn")
pytest.importorskip("cloudpickle")

from sklearn.datasets import make_classification  # noqa: E402
from sklearn.ensemble import RandomForestClassifier  # noqa: E402

from jupyter_containerize.serving.detect import detect_flavor  # noqa: E402
from jupyter_containerize.serving.errors import ModelLoadError  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
N_FEATURES = 6
ADMIN_TOKEN = "admin-s3cret"

SAVER = """
import sys
sys.path.insert(0, {root!r})
import pickle
from jupyter_containerize.serving.export import save_live_object

class Doubler:
    factor = 2.0
    def predict(self, X):
        return [sum(row) * self.factor for row in X]

import nbhelper
save_live_object(Doubler(), "doubler.pkl")
save_live_object(nbhelper.Halver(), "halver.pkl")
with open("plain.pkl", "wb") as handle:
    pickle.dump(Doubler(), handle)
with open("plain.main.py", "w") as handle:
    handle.write('''class Doubler:
    factor = 2.0
    def predict(self, X):
        return [sum(row) * self.factor for row in X]
''')
class Tripler(Doubler):
    factor = 3.0

with open("nomain.pkl", "wb") as handle:
    pickle.dump(Tripler(), handle)
"""

HELPER = """
class Halver:
    def predict(self, X):
        return [sum(row) / 2 for row in X]
"""

PREDICT_PY = """
import time
BATCHABLE = False
EXAMPLE = [[1.0, 2.0]]

def load(model_dir):
    time.sleep(float(open(model_dir + "/delay.txt").read()))
    return {"offset": 10.0}

def predict(model, inputs):
    return [sum(row) + model["offset"] for row in inputs]
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(model: Path, **env: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    full = {
        **os.environ,
        "MODEL_PATH": str(model),
        "SERVING_HOST": "127.0.0.1",
        "SERVING_PORT": str(port),
        "SERVING_ACCESS_LOG": "0",
        "SERVING_ADMIN_TOKEN": ADMIN_TOKEN,
        # a random forest holds trees, whose type skops leaves to the user to trust
        "SERVING_SKOPS_TRUSTED": "sklearn.tree._tree.Tree",
        **env,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter_containerize.serving", "serve"],
        cwd=ROOT,
        env=full,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    return proc, port


def call(port: int, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        payload = json.dumps(body) if body is not None else None
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {ADMIN_TOKEN}"}
        conn.request(method, path, payload, headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def wait_for(port: int, proc: subprocess.Popen[bytes], path: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode()  # type: ignore[union-attr]
        try:
            if call(port, "GET", path)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise TimeoutError(path)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("flavors")
    X, y = make_classification(n_samples=300, n_features=N_FEATURES, random_state=0)
    rf = RandomForestClassifier(n_estimators=10, random_state=0).fit(X, y)
    joblib.dump(rf, base / "rf.joblib")
    with open(base / "rf.pkl", "wb") as handle:
        pickle.dump(rf, handle)
    notebook = base / "notebook"
    notebook.mkdir()
    (notebook / "nbhelper.py").write_text(HELPER)
    (notebook / "saver.py").write_text(SAVER.format(root=str(ROOT)))
    subprocess.run([sys.executable, "saver.py"], cwd=notebook, check=True)
    custom = base / "custom"
    custom.mkdir()
    (custom / "predict.py").write_text(PREDICT_PY)
    (custom / "delay.txt").write_text("0")
    return {"dir": base, "notebook": notebook, "custom": custom, "rf": rf, "X": X}


@pytest.fixture(scope="module")
def server(models: dict[str, Any]) -> Iterator[int]:
    proc, port = start(models["dir"] / "rf.joblib")
    wait_for(port, proc, "/ping")
    yield port
    stop(proc)


def infer(port: int, name: str, rows: list[list[float]], output: str = "predict") -> Any:
    body = {
        "inputs": [
            {"name": "x", "shape": [len(rows), len(rows[0])], "datatype": "FP64", "data": rows}
        ],
        "outputs": [{"name": output}],
    }
    status, answer = call(port, "POST", f"/v2/models/{name}/infer", body)
    assert status == 200, answer
    return answer["outputs"][0]["data"]


def load(port: int, name: str, path: Path) -> tuple[int, Any]:
    return call(
        port, "POST", f"/v2/repository/models/{name}/load", {"parameters": {"path": str(path)}}
    )


@pytest.mark.parametrize(
    ("name", "file", "flavor"), [("pk", "rf.pkl", "pickle"), ("jl", "rf.joblib", "joblib")]
)
def test_sklearn_pickles(
    server: int, models: dict[str, Any], name: str, file: str, flavor: str
) -> None:
    status, answer = load(server, name, models["dir"] / file)
    assert status == 200 and answer["flavor"] == flavor
    rows = models["X"][:4]
    assert infer(server, name, rows.tolist()) == models["rf"].predict(rows).tolist()


def test_cloudpickle_main_class_by_value(server: int, models: dict[str, Any]) -> None:
    path = models["notebook"] / "doubler.pkl"
    assert detect_flavor(path) == "cloudpickle"
    status, answer = load(server, "doubler", path)
    assert status == 200 and answer["flavor"] == "cloudpickle"
    assert infer(server, "doubler", [[1.0, 2.0], [3.0, 4.0]]) == [6.0, 14.0]


def test_helper_module_class_by_value(server: int, models: dict[str, Any]) -> None:
    assert load(server, "halver", models["notebook"] / "halver.pkl")[0] == 200
    assert infer(server, "halver", [[1.0, 3.0]]) == [2.0]


def test_main_source_file_rebuilds_notebook_class(server: int, models: dict[str, Any]) -> None:
    assert load(server, "plain", models["notebook"] / "plain.pkl")[0] == 200
    assert infer(server, "plain", [[1.0, 1.0]]) == [4.0]


def test_missing_notebook_class_is_a_clear_error(server: int, models: dict[str, Any]) -> None:
    status, answer = load(server, "nomain", models["notebook"] / "nomain.pkl")
    assert status == 400
    assert "'Tripler' defined in the notebook" in answer["error"]
    assert "nomain.main.py" in answer["error"]


def test_skops(server: int, models: dict[str, Any]) -> None:
    skops_io = pytest.importorskip("skops.io")
    path = models["dir"] / "rf.skops"
    skops_io.dump(models["rf"], path)
    status, answer = load(server, "sk", path)
    assert status == 200 and answer["flavor"] == "skops"
    rows = models["X"][:3]
    assert infer(server, "sk", rows.tolist()) == models["rf"].predict(rows).tolist()


def test_onnx(server: int, models: dict[str, Any]) -> None:
    pytest.importorskip("onnxruntime")
    skl2onnx = pytest.importorskip("skl2onnx")
    from skl2onnx.common.data_types import FloatTensorType

    onx = skl2onnx.convert_sklearn(
        models["rf"], initial_types=[("x", FloatTensorType([None, N_FEATURES]))]
    )
    path = models["dir"] / "rf.onnx"
    path.write_bytes(onx.SerializeToString())
    status, answer = load(server, "ox", path)
    assert status == 200 and answer["flavor"] == "onnx"
    rows = models["X"][:5]
    assert infer(server, "ox", rows.tolist()) == models["rf"].predict(rows).tolist()
    proba = np.array(infer(server, "ox", rows.tolist(), "predict_proba")).reshape(5, 2)
    assert np.allclose(proba, models["rf"].predict_proba(rows), atol=1e-5)
    meta = call(server, "GET", "/v2/models/ox")[1]
    assert meta["inputs"][0]["datatype"] == "FP32" and meta["platform"] == "onnxruntime_onnx"


def test_lightgbm_text_model(server: int, models: dict[str, Any]) -> None:
    lightgbm = pytest.importorskip("lightgbm")
    X, y = models["X"], (models["X"][:, 0] > 0).astype(int)
    booster = lightgbm.train({"objective": "binary", "verbose": -1}, lightgbm.Dataset(X, y), 5)
    path = models["dir"] / "lgb.txt"
    booster.save_model(str(path))
    status, answer = load(server, "lgb", path)
    assert status == 200 and answer["flavor"] == "lightgbm"
    expected = (booster.predict(X[:4]) > 0.5).astype(int).tolist()
    assert infer(server, "lgb", X[:4].tolist()) == expected


def test_custom_predict_py(server: int, models: dict[str, Any]) -> None:
    status, answer = load(server, "custom", models["custom"])
    assert status == 200 and answer["flavor"] == "custom"
    assert infer(server, "custom", [[1.0, 2.0], [0.5, 0.5]]) == [13.0, 11.0]


def test_undetectable_flavor_is_one_line(tmp_path: Path) -> None:
    model = tmp_path / "model.bin"
    model.write_bytes(b"not a model at all")
    with pytest.raises(ModelLoadError):
        detect_flavor(model)
    proc, _ = start(model)
    assert proc.wait(timeout=30) == 2
    err = proc.stderr.read().decode().strip()  # type: ignore[union-attr]
    assert err.startswith("error: cannot tell the flavor of model.bin") and "\n" not in err


def test_ready_only_after_load_and_warm_up(models: dict[str, Any]) -> None:
    (models["custom"] / "delay.txt").write_text("1.5")
    proc, port = start(models["custom"], MODEL_NAME="slow")
    try:
        wait_for(port, proc, "/v2/health/live")
        assert call(port, "GET", "/ping")[0] == 503
        assert call(port, "GET", "/v2/health/ready")[0] == 503
        assert call(port, "GET", "/v2/models/slow/ready")[0] == 503
        wait_for(port, proc, "/v2/models/slow/ready")
        status, answer = call(port, "POST", "/invocations", {"instances": [[1, 1]]})
        assert status == 200 and answer == {"predictions": [12.0]}
    finally:
        stop(proc)
        (models["custom"] / "delay.txt").write_text("0")


def test_save_live_object_restores_registry(tmp_path: Path) -> None:
    import cloudpickle

    from jupyter_containerize.serving.export import save_live_object

    before = set(cloudpickle.list_registry_pickle_by_value())
    save_live_object({"a": 1}, tmp_path / "obj.pkl", notebook_dir=tmp_path)
    assert set(cloudpickle.list_registry_pickle_by_value()) == before
    assert pickle.loads((tmp_path / "obj.pkl").read_bytes()) == {"a": 1}
