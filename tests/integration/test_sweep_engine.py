"""A sweep on the real engine, as a user runs it: `run --sweep` over a grid at concurrency 2,
each combination a normal run record, the metrics each notebook recorded (a scrapbook-format
output and a cell tagged metric) in one table, checked against values computed here; the best
run named; a sweep of an undeclared parameter refused before anything starts."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import nbformat
import pytest
from helpers import EXAMPLE_PYTHON, assert_one_line_error, cli

pytestmark = pytest.mark.engine

GLUE = '''from IPython.display import display
loss = 1 / (alpha * depth)
display({"application/scrapbook.scrap.json+json": {"name": "loss", "data": loss,
         "encoder": "json", "version": 1}},
        metadata={"scrapbook": {"name": "loss", "data": True, "display": False}}, raw=True)
'''


def _notebook(folder: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    params = nbformat.v4.new_code_cell("alpha = 0.1\ndepth = 3\n")
    params.metadata["tags"] = ["parameters"]
    score = nbformat.v4.new_code_cell("score = round(alpha * depth, 6)\nscore")
    score.metadata["tags"] = ["metric"]
    nb.cells = [params, score, nbformat.v4.new_code_cell(GLUE)]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "sweepme.ipynb"
    nbformat.write(nb, path)
    return path


def test_a_grid_sweep_compares_the_runs_metrics(docker_client: object, tmp_path: Path) -> None:
    nb = _notebook(tmp_path / "project")
    env = {"JUPYTER_CONTAINERIZE_DATA_DIR": str(tmp_path / "data")}
    proc = cli("run", str(nb), "--python", str(EXAMPLE_PYTHON), "--sweep", "-p", "alpha",
               "0.5,1", "-p", "depth", "2,3", "--concurrency", "2", "--best", "score",
               "--json", env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    runs = result["runs"]
    assert [r["parameters"] for r in runs] == [
        {"alpha": 0.5, "depth": 2}, {"alpha": 0.5, "depth": 3},
        {"alpha": 1, "depth": 2}, {"alpha": 1, "depth": 3}]
    for row in runs:
        alpha, depth = row["parameters"]["alpha"], row["parameters"]["depth"]
        assert row["status"] == "succeeded"
        assert row["metrics"] == {"score": round(alpha * depth, 6),
                                  "loss": pytest.approx(1 / (alpha * depth))}
        executed = json.loads(Path(row["output"]).read_text())
        assert str(executed["cells"][0]["source"]).count("alpha") == 1  # the user's own cell
    assert result["best"]["id"] == runs[3]["id"] and result["best_metric"] == "score"
    page = Path(result["html"]).read_text()
    assert all(r["id"] in page for r in runs) and '<tr class="best">' in page
    assert not any(p.name != "sweepme.ipynb" and p.suffix != ".json"
                   for p in nb.parent.iterdir())  # nothing written into the user's folder
    # each run is a normal run record in the one store; the sweep is a job of its own there
    db = sqlite3.connect(tmp_path / "data" / "jobs.sqlite")
    kinds = dict(db.execute("SELECT id, kind FROM jobs").fetchall())
    db.close()
    assert all(kinds[r["id"]] == "run" for r in runs) and kinds[result["id"]] == "sweep"
    listed = cli("runs", "--json", env=env)
    assert {r["id"] for r in runs} <= {j["id"] for j in json.loads(listed.stdout)}
    # the text table: one line per run, the best marked
    text = cli("run", str(nb), "--python", str(EXAMPLE_PYTHON), "--sweep", "-p", "alpha",
               "2", "-p", "depth", "5", "--best", "loss:min", env=env)
    assert text.returncode == 0, text.stderr[-2000:]
    assert "sweep " in text.stdout and "1 of 1 runs succeeded" in text.stdout
    assert "best by loss:min: run" in text.stdout and "alpha=2, depth=5" in text.stdout


@pytest.mark.hostile
def test_a_sweep_of_an_undeclared_parameter_starts_nothing(docker_client: object,
                                                           tmp_path: Path) -> None:
    nb = _notebook(tmp_path / "project")
    env = {"JUPYTER_CONTAINERIZE_DATA_DIR": str(tmp_path / "data")}
    proc = cli("run", str(nb), "--python", str(EXAMPLE_PYTHON), "--sweep", "-p", "seed",
               "1,2", env=env)
    assert_one_line_error(proc, "the sweep sets seed, which sweepme.ipynb does not declare",
                          "(declared: alpha, depth)")
    assert not (tmp_path / "data" / "jobs.sqlite").exists() or not sqlite3.connect(
        tmp_path / "data" / "jobs.sqlite").execute("SELECT count(*) FROM jobs").fetchone()[0]
