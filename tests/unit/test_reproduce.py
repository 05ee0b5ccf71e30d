"""Reproduction report: saved outputs against executed ones."""

from __future__ import annotations

import copy
import os
import shutil
from pathlib import Path
from typing import Any

import nbformat
import pytest

from jupyter_containerize.core.run import reproduce

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "classifier" / "classifier.ipynb"
NOTEBOOKS = ROOT / "tests" / "notebooks"


def read(path: Path) -> dict[str, Any]:
    return dict(nbformat.read(path, as_version=4))


def execute(path: Path, tmp_path: Path, kernel: str) -> dict[str, Any]:
    import papermill
    from jupyter_client.kernelspec import KernelSpecManager

    if kernel not in KernelSpecManager().find_kernel_specs():
        if os.environ.get("CI") == "true":
            pytest.fail(f"kernel {kernel!r} is missing: run the README's set-up")
        pytest.skip(f"kernel {kernel!r} is not installed (README set-up)")
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(path, work / path.name)
    out = work / f"{path.stem}.out.ipynb"
    papermill.execute_notebook(
        str(work / path.name), str(out), kernel_name=kernel, cwd=str(work), progress_bar=False
    )
    return read(out)


def test_the_example_reproduces_in_its_own_kernel(tmp_path: Path) -> None:
    executed = execute(EXAMPLE, tmp_path, "containerize-example")
    report = reproduce.compare(read(EXAMPLE), executed)
    assert report["verdict"] == "reproduced", report["text"]
    assert report["differing"] == 0
    assert report["compared"] == 5 and report["not_comparable"] == 1  # the parameters cell
    assert report["text"].startswith("5 of 5 cells reproduced")


def test_an_edited_saved_output_differs_and_is_named() -> None:
    source = read(EXAMPLE)
    executed = copy.deepcopy(source)
    source["cells"][4]["outputs"][0]["text"] = "accuracy: 0.9930\n"
    report = reproduce.compare(source, executed)
    assert report["verdict"] == "differs"
    assert [c["index"] for c in report["cells"] if c["status"] == "differs"] == [4]
    assert "cell 5 differs" in report["text"]
    assert "0.9930" in report["text"] and "0.9650" in report["text"]


def test_unseeded_random_differs_and_points_at_the_cell(tmp_path: Path) -> None:
    source = read(NOTEBOOKS / "unseeded_random.ipynb")
    executed = execute(NOTEBOOKS / "unseeded_random.ipynb", tmp_path, "python3")
    report = reproduce.compare(source, executed)
    assert report["verdict"] == "differs"
    cell = next(c for c in report["cells"] if c["status"] == "differs")
    assert cell["index"] == 1
    assert "without a seed" in cell["detail"]
    assert report["text"].startswith("1 of 2 cells reproduced; cell 2 differs")


def test_seeded_notebook_reproduces_with_object_addresses(tmp_path: Path) -> None:
    path = NOTEBOOKS / "reproducible.ipynb"
    report = reproduce.compare(read(path), execute(path, tmp_path, "python3"))
    assert report["verdict"] == "reproduced", report["text"]
    statuses = [c["status"] for c in report["cells"]]
    assert statuses == ["matching", "matching", "not comparable", "not comparable", "matching"]


def test_parameters_make_the_run_not_comparable() -> None:
    source = read(EXAMPLE)
    report = reproduce.compare(source, copy.deepcopy(source), parameters_changed=["seed"])
    assert report["verdict"] == "not comparable"
    assert "parameters changed the run (seed)" in report["text"]


def test_numbers_within_tolerance_and_volatile_text() -> None:
    assert reproduce.texts_match("loss 0.1234567891", "loss 0.1234567892")
    assert not reproduce.texts_match("loss 0.12345", "loss 0.12346")
    assert reproduce.texts_match(
        "<Foo object at 0x7f3a2c1d9e80> took 1.52 s at 2024-01-02T03:04:05.123Z",
        "<Foo object at 0x7f00deadbeef> took 0.98 s at 2025-06-07T08:09:10Z",
    )
    assert reproduce.texts_match("wrote /tmp/tmpab12cd/x.csv", "wrote /tmp/tmpzz99/x.csv")
    bar = " 40%|████      | 4/10 [00:01<00:02,  2.50it/s]\rdone"
    assert reproduce.texts_match(bar, "done")


def test_cells_that_cannot_be_compared() -> None:
    image = {"output_type": "display_data", "data": {"image/png": "iVBOR", "text/plain": "<Fig>"}}
    clock = [{"output_type": "stream", "name": "stdout", "text": "elapsed 12.5\n"}]
    now = [{"output_type": "stream", "name": "stdout", "text": "elapsed 13.7\n"}]
    only_time = [{"output_type": "stream", "name": "stdout", "text": "2024-01-02 03:04:05\n"}]
    assert reproduce.compare_cell([], [])[0] == "not comparable"
    assert reproduce.compare_cell([image], [image]) == ("not comparable", "only images")
    source = "import time\nprint('elapsed', time.perf_counter())"
    assert reproduce.compare_cell(clock, now, source)[0] == "not comparable"
    assert reproduce.compare_cell(only_time, only_time)[0] == "not comparable"


def test_errors_compare_by_name_and_value() -> None:
    saved = [{"output_type": "error", "ename": "ValueError", "evalue": "bad 1", "traceback": []}]
    other = [{"output_type": "error", "ename": "ValueError", "evalue": "bad 2", "traceback": []}]
    assert reproduce.compare_cell(saved, copy.deepcopy(saved)) == ("matching", "")
    status, detail = reproduce.compare_cell(saved, other)
    assert status == "differs" and "bad 1" in detail
