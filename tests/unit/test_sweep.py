"""Sweeps before anything runs: the combinations a grid or a zip makes, every bad input one
line with its fix; and the metrics read from an executed notebook (scrapbook's format and the
tagged-cell convention), the best run, the comparison table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import pytest

from jupyter_containerize.core.errors import RunError
from jupyter_containerize.core.run import metrics
from jupyter_containerize.core.run.sweep import check, combinations


def _nb(path: Path, parameters: str = "alpha = 0.1\ndepth = 3\n") -> Path:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(parameters)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, nbformat.v4.new_code_cell("print(alpha)")]
    nbformat.write(nb, path)
    return path


def test_a_grid_is_every_combination_typed_as_papermill_types_them() -> None:
    combos = combinations({"alpha": "0.1,0.5,1", "depth": "3,5"})
    assert len(combos) == 6
    assert combos[0] == {"alpha": 0.1, "depth": 3} and combos[-1] == {"alpha": 1, "depth": 5}
    assert combinations({"name": "a, b", "on": "True"}) == [
        {"name": "a", "on": True}, {"name": "b", "on": True}]
    assert combinations({"alpha": [0.1, 0.2]}) == [{"alpha": 0.1}, {"alpha": 0.2}]


def test_zip_pairs_values_by_position() -> None:
    assert combinations({"alpha": "0.1,0.5", "depth": "3,5"}, zipped=True) == [
        {"alpha": 0.1, "depth": 3}, {"alpha": 0.5, "depth": 5}]


@pytest.mark.hostile
@pytest.mark.parametrize(
    ("grid", "zipped", "wanted"),
    [
        ({}, False, "a sweep needs at least one parameter"),
        ({"alpha": "0.1,,1"}, False, "an empty value in the sweep's list"),
        ({"alpha": []}, False, "the sweep has no values"),
        ({"alpha": "1,2", "depth": "3"}, True, "the lists differ in length (alpha: 2, depth: 1)"),
        ({"1x": "1,2"}, False, "a parameter name must be a Python identifier"),
        ({"a": ",".join(map(str, range(40))), "b": ",".join(map(str, range(40)))}, False,
         "the sweep makes 1600 runs"),
    ],
)
def test_bad_grids_are_one_line_with_the_fix(grid: dict[str, Any], zipped: bool,
                                             wanted: str) -> None:
    with pytest.raises(RunError) as caught:
        combinations(grid, zipped)
    assert wanted in caught.value.message and "\n" not in caught.value.message
    assert caught.value.hint


@pytest.mark.hostile
@pytest.mark.parametrize(
    ("grid", "concurrency", "best", "wanted"),
    [
        ({"alpha": "1,2", "seed": "1,2"}, 2, None,
         "the sweep sets seed, which nb.ipynb does not declare (declared: alpha, depth)"),
        ({"alpha": "1,2"}, 0, None, "--concurrency 0 is not a number of runs at once"),
        ({"alpha": "1,2"}, True, None, "--concurrency True"),
        ({"alpha": "1,2"}, 2, "score:most", "'most' is neither min nor max"),
        ({"alpha": "1,2"}, 2, "9 lives", "is not a metric name"),
    ],
)
def test_a_sweep_is_checked_before_anything_starts(tmp_path: Path, grid: dict[str, Any],
                                                   concurrency: Any, best: str | None,
                                                   wanted: str) -> None:
    nb = _nb(tmp_path / "nb.ipynb")
    with pytest.raises(RunError) as caught:
        check(nb, grid, False, concurrency, best)
    assert wanted in caught.value.message, caught.value.message
    assert "\n" not in caught.value.message and caught.value.hint


def _executed(cells: list[dict[str, Any]]) -> dict[str, Any]:
    return {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def test_metrics_from_scrapbook_outputs_and_tagged_cells() -> None:
    scrap = {"output_type": "display_data", "metadata": {"scrapbook": {"name": "loss"}},
             "data": {metrics.SCRAP_MIME: {"name": "loss", "data": 0.25, "encoder": "json",
                                           "version": 1}}}
    text_scrap = {"output_type": "display_data", "metadata": {},
                  "data": {metrics.SCRAP_MIME: {"name": "label", "data": "x"}}}
    tagged = {"cell_type": "code", "source": "acc = 0.9\nacc", "metadata": {"tags": ["metric"]},
              "outputs": [{"output_type": "execute_result", "data": {"text/plain": "0.9"}}]}
    named = {"cell_type": "code", "source": "len(rows)", "metadata": {"tags": ["metric:rows"]},
             "outputs": [{"output_type": "execute_result", "data": {"text/plain": ["120"]}}]}
    untagged = {"cell_type": "code", "source": "7", "metadata": {},
                "outputs": [{"output_type": "execute_result", "data": {"text/plain": "7"}}]}
    boolean = {"cell_type": "code", "source": "ok", "metadata": {"tags": ["metric"]},
               "outputs": [{"output_type": "execute_result", "data": {"text/plain": "True"}}]}
    nb = _executed([{"cell_type": "code", "source": "", "metadata": {},
                     "outputs": [scrap, text_scrap]}, tagged, named, untagged, boolean])
    assert metrics.from_notebook(nb) == {"loss": 0.25, "acc": 0.9, "rows": 120}


def test_the_best_run_and_the_table() -> None:
    rows = [
        {"id": "a1", "status": "succeeded", "parameters": {"alpha": 0.1}, "metrics": {"acc": 0.7}},
        {"id": "b2", "status": "succeeded", "parameters": {"alpha": 0.5}, "metrics": {"acc": 0.9}},
        {"id": "c3", "status": "failed", "parameters": {"alpha": 1}, "metrics": {"acc": 0.99}},
        {"id": "d4", "status": "succeeded", "parameters": {"alpha": 2}, "metrics": {}},
    ]
    assert metrics.best_row(rows, "acc")["id"] == "b2"  # a failed run is never the best
    assert metrics.best_row(rows, "acc:min")["id"] == "a1"
    assert metrics.best_row(rows, "loss") is None
    lines = metrics.text_table(rows, rows[1]).splitlines()
    assert lines[0].split() == ["run", "status", "alpha", "acc"]
    assert lines[2].startswith("* b2") and lines[2].split()[-1] == "0.9"
    assert lines[4].split()[-1] == "-"
    page = metrics.html_table(rows, "sweep <x>", rows[1])
    assert "&lt;x&gt;" in page and '<tr class="best"><td>b2</td>' in page
