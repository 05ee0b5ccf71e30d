"""Serving what users actually save: a model written with plain ``joblib.dump`` from a notebook
whose pipeline holds a class and a function defined in the notebook's cells. ``serve`` finds
those definitions (and the constant and helper they use) in the notebook, says which cells
it took, and the serving container answers with the model's own predictions."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from typing import Any

import pytest
import requests
from helpers import EXAMPLE, EXAMPLE_PYTHON

from jupyter_containerize.core.deploy.local import stop
from jupyter_containerize.core.deploy.serve import serve
from jupyter_containerize.core.env.notebook import python_source

pytestmark = pytest.mark.engine
SUFFIX = uuid.uuid4().hex[:6]

CELLS = [
    "import joblib\nimport numpy as np\nfrom sklearn.base import BaseEstimator, TransformerMixin\n"
    "from sklearn.ensemble import RandomForestClassifier\n"
    "from sklearn.pipeline import make_pipeline\n"
    "from sklearn.preprocessing import FunctionTransformer",
    "OFFSET = 3.0",
    "def shifted(X):\n    return np.asarray(X, dtype=float) + OFFSET\n",
    "class Clip(BaseEstimator, TransformerMixin):\n    def __init__(self, high=5.0):\n"
    "        self.high = high\n    def fit(self, X, y=None):\n        return self\n"
    "    def transform(self, X):\n        return np.minimum(X, self.high)\n",
    "rng = np.random.default_rng(0)\nX = rng.normal(size=(200, 4))\ny = (X[:, 0] > 0).astype(int)\n"
    "model = make_pipeline(FunctionTransformer(shifted), Clip(), "
    "RandomForestClassifier(n_estimators=10, random_state=0)).fit(X, y)\n"
    "joblib.dump(model, 'model.joblib')\n"
    "print(json.dumps(model.predict(X[:5]).tolist()))",
]


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory, docker_client: object) -> dict[str, Any]:
    """The notebook, and the model it saved when its cells ran as ``__main__``."""
    root = tmp_path_factory.mktemp("nbdefs") / "project"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("*.ipynb", "*.lock.json"))
    cells = [{"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
              "source": c} for c in CELLS]
    nb = root / "custom.ipynb"
    nb.write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "cells": cells,
                              "metadata": {"kernelspec": {"name": "python3",
                                                          "display_name": "Python 3"}}}))
    script = "import json\n" + "\n".join(python_source(c) for c in CELLS)
    done = subprocess.run([str(EXAMPLE_PYTHON), "-c", script], cwd=root, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    expected = json.loads(done.stdout.strip().splitlines()[-1])
    x = __import__("numpy").random.default_rng(0).normal(size=(200, 4))[:5].tolist()
    return {"notebook": nb, "model": root / "model.joblib", "rows": x, "expected": expected}


def test_plain_joblib_model_with_notebook_classes_is_served(saved: dict[str, Any]) -> None:
    logs: list[str] = []
    result = serve(saved["model"], notebook=saved["notebook"], name=f"t-nbdefs-{SUFFIX}",
                   python=str(EXAMPLE_PYTHON), check=True,
                   progress=lambda e: logs.append(getattr(e, "message", "")))
    try:
        assert all(c["ok"] for c in result.checks), result.checks
        told = [m for m in logs if "took cells" in m]
        assert told and "custom.ipynb" in told[0], logs
        got = requests.post(f"{result.url}/invocations", json={"instances": saved["rows"]},
                            timeout=60)
        assert got.status_code == 200, got.text
        assert got.json()["predictions"] == saved["expected"]
    finally:
        stop(result.name)
