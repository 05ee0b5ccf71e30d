"""Notebook reading: one-line errors, imports through magics and broken cells, parameters."""

from __future__ import annotations

import hashlib
from pathlib import Path

import nbformat
import pytest

from jupyter_containerize.core.env.notebook import (
    Expression,
    imports_from_notebook,
    load_notebook,
    notebook_sha256,
    parameters_cell,
)
from jupyter_containerize.core.errors import NotebookError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "classifier" / "classifier.ipynb"


def _nb(*sources: str, tags: list[str] | None = None) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    if tags is not None:
        nb.cells[0].metadata["tags"] = tags
    return nb


def test_missing_notebook(tmp_path: Path) -> None:
    with pytest.raises(NotebookError) as info:
        load_notebook(tmp_path / "gone.ipynb")
    assert info.value.message == f"notebook {tmp_path / 'gone.ipynb'} does not exist"
    assert "\n" not in info.value.one_line()


def test_invalid_json(tmp_path: Path) -> None:
    path = tmp_path / "bad.ipynb"
    path.write_text('{\n  "cells": [\n    {"cell_type": "code",,}\n')
    with pytest.raises(NotebookError) as info:
        load_notebook(path)
    message = info.value.message
    assert message.startswith(f"{path} is not valid JSON: line 3 column ")
    assert "\n" not in info.value.one_line()


def test_not_a_notebook(tmp_path: Path) -> None:
    path = tmp_path / "list.ipynb"
    path.write_text("[1, 2]")
    with pytest.raises(NotebookError, match="is not a notebook"):
        load_notebook(path)
    path.write_text('{"cells": [{"cell_type": "code"}], "nbformat": 4, "nbformat_minor": 5}')
    with pytest.raises(NotebookError) as info:
        load_notebook(path)
    assert "is not a valid notebook" in info.value.message
    assert "\n" not in info.value.one_line()


def test_example_loads_and_hashes() -> None:
    nb = load_notebook(EXAMPLE)
    assert nb.metadata.kernelspec.name == "containerize-example"
    assert notebook_sha256(EXAMPLE) == hashlib.sha256(EXAMPLE.read_bytes()).hexdigest()


def test_imports_of_the_example() -> None:
    assert imports_from_notebook(load_notebook(EXAMPLE)) == ["joblib", "pandas", "sklearn"]


def test_imports_with_magics_shell_and_broken_cells() -> None:
    nb = _nb(
        "%matplotlib inline\n!pip install foo\nimport numpy as np\nimport os.path",
        "%%time\nfrom scipy.stats import norm\n",
        "%%bash\nimport notpython\n",
        "import yaml\nthis is not python (\nfrom cv2 import imread\n    import lightgbm\n",
        "from . import sibling\nfrom .. pkg import x\nfrom a.b.c import d\n",
        "def f():\n    import statsmodels.api as sm\n",
        "mod = importlib.import_module('polars')\nx = __import__('xgboost.core')\n",
        "files = !ls\nx?\n",
    )
    assert imports_from_notebook(nb) == [
        "a", "cv2", "lightgbm", "numpy", "os", "polars", "scipy", "statsmodels", "xgboost",
        "yaml",
    ]  # fmt: skip


def test_parameters_of_the_example() -> None:
    params = parameters_cell(load_notebook(EXAMPLE))
    assert params == {"n_estimators": 50, "seed": 0, "test_size": 0.25}


def test_parameters_kinds() -> None:
    nb = _nb(
        "# parameters\nalpha: float = 0.5\nname = 'x'\na, b = 1, -2\n"
        "path = Path('data')\nlayers = [1, 2]\n%config foo\n",
        "other = 1",
        tags=["parameters"],
    )
    params = parameters_cell(nb)
    assert params["alpha"] == 0.5 and params["name"] == "x"
    assert params["a"] == 1 and params["b"] == -2 and params["layers"] == [1, 2]
    assert isinstance(params["path"], Expression) and params["path"] == "Path('data')"
    assert "other" not in params
    assert parameters_cell(_nb("x = 1")) == {}
