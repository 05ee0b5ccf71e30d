"""Every model flavor the serving runtime loads, served from a real serving container: the
scikit-learn pickles (joblib, pickle, cloudpickle with a notebook-defined class), skops, ONNX,
XGBoost (.json and .ubj), LightGBM and a predict.py folder. Each answers /invocations and V2
infer with what the same model predicts in the environment it was made in, and its V2
metadata names the flavor."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
from helpers import EXAMPLE_PYTHON, make_venv, notebook
from jc_support import TEST_LABEL, TEST_RUN_ID
from test_serve import ensure_bridge

from jupyter_containerize.core import labels as labels_mod
from jupyter_containerize.core.deploy.local import stop
from jupyter_containerize.core.deploy.serve import ServeResult, serve
from jupyter_containerize.core.engine import client as engine

pytestmark = pytest.mark.engine
os.environ.setdefault("JUPYTER_CONTAINERIZE_LABELS", f"{TEST_LABEL}={TEST_RUN_ID}")
SUFFIX = uuid.uuid4().hex[:6]
PACKAGES = (
    "numpy",
    "scikit-learn",
    "joblib",
    "cloudpickle",
    "skops",
    "onnxruntime",
    "skl2onnx",
    "lightgbm",
    "xgboost-cpu",
)
IMPORTS = (
    "import numpy, sklearn, joblib, cloudpickle, skops.io, onnxruntime, skl2onnx, lightgbm, xgboost"
)

# Runs in the test venv as a notebook would: trains one model per flavor, saves it the way a
# user saves it, and records what the model predicts here for ROWS (labels and probabilities).
TRAIN = r'''
import importlib.util, json, pickle, sys
from pathlib import Path

import cloudpickle, joblib, lightgbm, numpy as np, onnxruntime, skops.io, xgboost
from skl2onnx import to_onnx
from sklearn.datasets import make_classification
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

out = Path(sys.argv[1])
X, y = make_classification(n_samples=300, n_features=6, n_informative=4, random_state=0)
X3, y3 = make_classification(n_samples=300, n_features=6, n_informative=4, n_classes=3,
                             random_state=1)
rows = np.random.default_rng(7).normal(size=(24, 6))
expected = {"rows": rows.tolist()}


def record(flavor, path, predict, proba=None):
    expected[flavor] = {"path": str(path), "predict": np.asarray(predict).tolist(),
                        "predict_proba": None if proba is None else np.asarray(proba).tolist()}


rf = RandomForestClassifier(n_estimators=20, random_state=0).fit(X, y)
joblib.dump(rf, out / "forest.joblib")
record("joblib", out / "forest.joblib", rf.predict(rows), rf.predict_proba(rows))

logreg = LogisticRegression().fit(X, y)
with open(out / "logreg.pkl", "wb") as handle:
    pickle.dump(logreg, handle)
record("pickle", out / "logreg.pkl", logreg.predict(rows), logreg.predict_proba(rows))


class Thresholded:
    """A class defined in the notebook: cloudpickle carries it by value."""

    def __init__(self, model, threshold):
        self.model, self.threshold = model, threshold
        self.n_features_in_ = model.n_features_in_

    def predict_proba(self, X):
        return self.model.predict_proba(X)

    def predict(self, X):
        return (self.predict_proba(X)[:, 1] > self.threshold).astype(np.int64)


strict = Thresholded(logreg, 0.8)
with open(out / "strict.cloudpickle", "wb") as handle:
    cloudpickle.dump(strict, handle)
record("cloudpickle", out / "strict.cloudpickle", strict.predict(rows),
       strict.predict_proba(rows))

gb = GradientBoostingClassifier(n_estimators=20, random_state=0).fit(X, y)
skops.io.dump(gb, out / "boosted.skops")
record("skops", out / "boosted.skops", gb.predict(rows), gb.predict_proba(rows))

(out / "forest.onnx").write_bytes(to_onnx(rf, X[:1].astype(np.float32)).SerializeToString())
session = onnxruntime.InferenceSession(str(out / "forest.onnx"),
                                       providers=["CPUExecutionProvider"])
labels, probs = session.run(None, {session.get_inputs()[0].name: rows.astype(np.float32)})
record("onnx", out / "forest.onnx", labels, [[p[k] for k in sorted(p)] for p in probs])

xgb = xgboost.XGBClassifier(n_estimators=20, max_depth=3, random_state=0).fit(X, y)
xgb.save_model(out / "xgb.json")
record("xgboost-json", out / "xgb.json", xgb.predict(rows), xgb.predict_proba(rows))

booster = xgboost.train({"objective": "multi:softprob", "num_class": 3, "max_depth": 3},
                        xgboost.DMatrix(X3, label=y3), num_boost_round=20)
booster.save_model(out / "xgb3.ubj")
proba3 = booster.predict(xgboost.DMatrix(rows))
record("xgboost-ubj", out / "xgb3.ubj", proba3.argmax(axis=1), proba3)

lgb = lightgbm.LGBMClassifier(n_estimators=20, random_state=0, verbose=-1).fit(X, y)
lgb.booster_.save_model(out / "lgb.txt")
record("lightgbm", out / "lgb.txt", lgb.predict(rows), lgb.predict_proba(rows))

folder = out / "scorer"
folder.mkdir()
joblib.dump(make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y),
            folder / "pipeline.joblib")
(folder / "predict.py").write_text("""
import os
import joblib

def load(model_dir):
    return joblib.load(os.path.join(model_dir, "pipeline.joblib"))

def predict(model, inputs):
    return model.predict_proba(inputs)[:, 1] * 100
""")
spec = importlib.util.spec_from_file_location("user_predict", folder / "predict.py")
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
record("custom", folder, module.predict(module.load(str(folder)), rows))

(out / "expected.json").write_text(json.dumps(expected))
'''

# flavor id -> the flavor the server must report for it
FLAVORS = {
    "joblib": "joblib",
    "pickle": "pickle",
    "cloudpickle": "cloudpickle",
    "skops": "skops",
    "onnx": "onnx",
    "xgboost-json": "xgboost",
    "xgboost-ubj": "xgboost",
    "lightgbm": "lightgbm",
    "custom": "custom",
}
FIRST = "joblib"  # served from the notebook: builds the environment image the others reuse


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, docker_client: object) -> dict[str, Any]:
    """A venv with every flavor's library, a notebook importing them, one model per flavor
    and what each predicts in that venv."""
    root = tmp_path_factory.mktemp("flavors")
    python = make_venv(root / "venv", str(EXAMPLE_PYTHON), *PACKAGES)
    nb = notebook(root / "project" / "flavors.ipynb", IMPORTS)
    # LightGBM's wheel links the system's OpenMP (xgboost-cpu carries its own): without this
    # the build's import check fails, naming libgomp1 for apt.txt, as a user would be told
    (nb.parent / "apt.txt").write_text("libgomp1\n")
    models = root / "models"
    models.mkdir()
    proc = subprocess.run([str(python), "-c", TRAIN, str(models)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    expected = json.loads((models / "expected.json").read_text())
    return {"python": python, "notebook": nb, "expected": expected}


@pytest.fixture(scope="module")
def first(trained: dict[str, Any]) -> Iterator[ServeResult]:
    """The first flavor served from the notebook, which builds its environment image."""
    ensure_bridge()
    result = serve(
        trained["expected"][FIRST]["path"],
        notebook=trained["notebook"],
        python=str(trained["python"]),
        name=f"t-fl-{FIRST}-{SUFFIX}",
        check=True,
    )
    try:
        yield result
    finally:
        stop(result.name)


@pytest.fixture(scope="module")
def env_image(first: ServeResult) -> str:
    """The environment image the first serve built, which the other flavors reuse."""
    env_hash = engine.require_image(first.image).labels[labels_mod.ENV_HASH]
    env = engine.require_image(first.environment)
    assert env.labels[labels_mod.ENV_HASH] == env_hash, (first.environment, env_hash)
    return first.environment


def served_sha256(path: Path) -> str:
    """What `sha256sum` says of a model file; a model folder's digest is the runtime's rule
    (every file's path and bytes, in name order)."""
    if path.is_dir():
        from jupyter_containerize.serving.model import file_sha256

        return file_sha256(path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def invocations(url: str, rows: list[list[float]], method: str | None = None) -> list[Any]:
    params = {"method": method} if method else None
    answer = requests.post(
        f"{url}/invocations",
        json={"instances": rows},
        params=params,
        headers={"Accept": "application/json"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["predictions"]


def v2_infer(url: str, name: str, rows: list[list[float]], outputs: list[str]) -> dict[str, Any]:
    body = {
        "id": "flavors",
        "inputs": [
            {
                "name": "input-0",
                "shape": [len(rows), len(rows[0])],
                "datatype": "FP64",
                "data": [v for row in rows for v in row],
            }
        ],
        "outputs": [{"name": o} for o in outputs],
    }
    answer = requests.post(f"{url}/v2/models/{name}/infer", json=body, timeout=30)
    assert answer.status_code == 200, answer.text
    got = answer.json()
    assert got["model_name"] == name and got["id"] == "flavors", got
    return {o["name"]: o for o in got["outputs"]}


def assert_labels(got: Any, want: list[Any]) -> None:
    assert np.asarray(got).tolist() == want, (got, want)


def assert_close(got: Any, want: list[Any]) -> None:
    got_a, want_a = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    assert got_a.shape == want_a.shape, (got_a.shape, want_a.shape)
    # float32 models (ONNX, XGBoost) round-trip through JSON; float64 ones are exact
    assert np.allclose(got_a, want_a, rtol=1e-6, atol=1e-7), (got, want)


@pytest.mark.parametrize("flavor", list(FLAVORS))
def test_flavor_answers_like_in_process(
    flavor: str, trained: dict[str, Any], first: ServeResult, env_image: str
) -> None:
    ensure_bridge()
    expected = trained["expected"][flavor]
    rows = trained["expected"]["rows"]
    model = Path(expected["path"])
    if flavor == FIRST:
        deployed, owned = first, False
    else:
        # a forest's tree type is one skops does not trust by itself: the user approves it
        trust = ["sklearn.tree._tree.Tree"] if flavor == "skops" else None
        deployed = serve(model, image=env_image, name=f"t-fl-{flavor}-{SUFFIX}", check=True,
                         skops_trust=trust)
        owned = True
    try:
        assert deployed.checks and all(c["ok"] for c in deployed.checks), deployed.checks
        url, name = deployed.url, deployed.name

        meta = requests.get(f"{url}/v2/models/{name}", timeout=10).json()
        assert meta["parameters"]["flavor"] == FLAVORS[flavor], meta
        assert meta["parameters"]["sha256"] == served_sha256(model), meta
        offered = [o["name"] for o in meta["outputs"]]
        proba = expected["predict_proba"]
        assert offered == (["predict", "predict_proba"] if proba is not None else ["predict"])

        # SageMaker-style JSON rows: the same answers the model gives in its own venv
        predictions = invocations(url, rows)
        if flavor == "custom":
            assert_close(predictions, expected["predict"])
        else:
            assert_labels(predictions, expected["predict"])
        # V2 infer: every output the model offers, asked for by name
        outputs = v2_infer(url, name, rows, offered)
        assert outputs["predict"]["shape"][0] == len(rows)
        if flavor == "custom":
            assert_close(outputs["predict"]["data"], expected["predict"])
        else:
            assert_labels(outputs["predict"]["data"], expected["predict"])
        if proba is not None:
            assert_close(invocations(url, rows, "predict_proba"), proba)
            got = outputs["predict_proba"]
            assert got["shape"] == [len(rows), len(proba[0])], got["shape"]
            assert_close(np.reshape(got["data"], got["shape"]), proba)
    finally:
        if owned:
            stop(deployed.name)
