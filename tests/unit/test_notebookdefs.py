"""Models saved with plain joblib/pickle that need classes and functions the notebook defined:
the names come from the pickle, the definitions from the notebook's cells, and the module they
make lets a fresh interpreter unpickle and use the model, as the serving runtime does."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from jupyter_containerize.core.deploy import notebookdefs

CELLS = [
    "%matplotlib inline\nimport numpy as np\nfrom sklearn.base import BaseEstimator, "
    "TransformerMixin\nfrom sklearn.pipeline import Pipeline, make_pipeline\n"
    "from sklearn.preprocessing import FunctionTransformer\n"
    "from sklearn.ensemble import RandomForestClassifier",
    "!pip list\nSCALE = 2.0\nprint('setting up')",
    "class Scaler(BaseEstimator, TransformerMixin):\n    def fit(self, X, y=None):\n"
    "        return self\n    def transform(self, X):\n        return _times(X)\n",
    "def _times(X):\n    return np.asarray(X) * SCALE\n",
    "def log1p(X):\n    return np.log1p(np.abs(X))\n",
    "class Unused:\n    pass\n",
    "rng = np.random.default_rng(0)\nX = rng.normal(size=(60, 4))\ny = (X[:, 0] > 0).astype(int)\n"
    "model = make_pipeline(Scaler(), FunctionTransformer(log1p), "
    "RandomForestClassifier(n_estimators=5, random_state=0)).fit(X, y)\n"
    "for i in range(3):\n    print(i)\n",
]


def _notebook(folder: Path, cells: list[str]) -> Path:
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
          "cells": [{"cell_type": "markdown", "metadata": {}, "source": ["# a model"]}] + [
              {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
               "source": c} for c in cells]}
    path = folder / "train.ipynb"
    path.write_text(json.dumps(nb))
    return path


def _run(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def _save(folder: Path, nb: Path, how: str) -> Path:
    """Run the notebook's Python as ``__main__`` in a fresh interpreter, then save ``model``."""
    from jupyter_containerize.core.env.notebook import python_source

    cells = json.loads(nb.read_text())["cells"]
    body = "\n".join(python_source(c["source"]) for c in cells if c["cell_type"] == "code")
    target = folder / ("model.joblib" if how.startswith("joblib") else "model.pkl")
    save = {
        "joblib": f"import joblib; joblib.dump(model, {str(target)!r})",
        "joblib-zlib": f"import joblib; joblib.dump(model, {str(target)!r}, compress=3)",
        "joblib-gzip": f"import joblib; joblib.dump(model, {str(target)!r}, compress=('gzip', 3))",
        "pickle2": f"import pickle; open({str(target)!r}, 'wb').write(pickle.dumps(model, 2))",
        "pickle5": f"import pickle; open({str(target)!r}, 'wb').write(pickle.dumps(model, 5))",
    }[how]
    (folder / "train.py").write_text(body + "\n" + save + "\n")
    done = subprocess.run([sys.executable, "train.py"], cwd=folder, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return target


def _loads_in_a_fresh_interpreter(folder: Path, model: Path, source: str) -> str:
    main = model.with_name(model.stem + ".main.py")
    main.write_text(source)
    flavor = "joblib" if model.suffix == ".joblib" else "pickle"
    code = textwrap.dedent(f"""
        import numpy as np
        from pathlib import Path
        from jupyter_containerize.serving.unpickle import load_pickled
        model = load_pickled(Path({str(model)!r}), {flavor!r})
        print(model.predict(np.ones((2, 4))).tolist())
    """)
    done = _run(code, folder)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


@pytest.mark.parametrize("how", ["joblib", "joblib-zlib", "joblib-gzip", "pickle2", "pickle5"])
def test_a_plainly_saved_model_loads_with_the_cells_it_needs(tmp_path: Path, how: str) -> None:
    nb = _notebook(tmp_path, CELLS)
    model = _save(tmp_path, nb, how)
    names = notebookdefs.main_names(model)
    if names is not None:  # read to the end: exactly what the pickle names
        assert names == {"Scaler", "log1p"}
    taken = notebookdefs.take(nb, names)
    assert taken.missing == []
    # the definitions and what they use, never the work
    for wanted in ("class Scaler", "def _times", "def log1p", "SCALE = 2.0", "import numpy"):
        assert wanted in taken.source
    for work in (".fit(", "print(", "for i in", "pip list", "%matplotlib", "default_rng"):
        assert work not in taken.source
    if names is not None:
        assert "class Unused" not in taken.source
        assert taken.cells == [2, 3, 4, 5, 6]  # counted over every cell, markdown too
    assert _loads_in_a_fresh_interpreter(tmp_path, model, taken.source) in ("[0, 0]", "[1, 1]")


def test_without_the_taken_cells_the_model_does_not_load(tmp_path: Path) -> None:
    model = _save(tmp_path, _notebook(tmp_path, CELLS), "pickle5")
    done = _run(f"import pickle; pickle.load(open({str(model)!r}, 'rb'))", tmp_path.parent)
    assert done.returncode != 0 and "Scaler" in done.stderr


def test_a_pickle_that_names_nothing_of_the_notebook_needs_nothing(tmp_path: Path) -> None:
    path = tmp_path / "plain.pkl"
    path.write_bytes(b"\x80\x05" + __import__("pickle").dumps({"a": [1, 2.5]}, 5)[2:])
    assert notebookdefs.main_names(path) == set()


def test_a_name_no_cell_defines_is_reported(tmp_path: Path) -> None:
    nb = _notebook(tmp_path, CELLS)
    taken = notebookdefs.take(nb, {"Scaler", "Gone"})
    assert taken.missing == ["Gone"] and taken.names == ["Scaler"]


def test_the_last_definition_of_a_redefined_class_is_taken(tmp_path: Path) -> None:
    nb = _notebook(tmp_path, ["class A:\n    v = 1\n", "x = A()\n", "class A:\n    v = 2\n"])
    taken = notebookdefs.take(nb, {"A"})
    assert "v = 2" in taken.source and "v = 1" not in taken.source


def test_a_cell_that_does_not_parse_is_skipped_not_fatal(tmp_path: Path) -> None:
    nb = _notebook(tmp_path, ["def f(:\n", "def g():\n    return 1\n"])
    taken = notebookdefs.take(nb, {"g", "f"})
    assert "def g" in taken.source and taken.missing == ["f"]


def test_unreadable_or_truncated_files_are_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "cut.pkl"
    path.write_bytes(b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00\x8c\x08__main__")
    assert notebookdefs.main_names(path) is None  # names __main__, cannot say what: take all
    assert notebookdefs.main_names(tmp_path / "absent.pkl") is None
