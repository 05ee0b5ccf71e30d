"""`serve run:ID[/ARTIFACT]`: a run's model named by the run that wrote it, read from the job
store; an unknown run, a run that did not succeed and an artifact it never wrote are one line
each with the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from jupyter_containerize.core.deploy.serve import resolve_model, run_artifact
from jupyter_containerize.core.errors import NotFoundError
from jupyter_containerize.core.jobs.store import JobStore


@pytest.fixture()
def runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("JUPYTER_CONTAINERIZE_DATA_DIR", str(tmp_path / "data"))
    store = JobStore()
    folder = tmp_path / "artifacts"
    (folder / "out").mkdir(parents=True)
    (folder / "model.joblib").write_bytes(b"\x80\x04K\x01.")  # a pickle of 1
    (folder / "out" / "metrics.csv").write_text("a\n1\n")
    arts = [{"path": "model.joblib", "size": 5, "sha256": "x"},
            {"path": "out/metrics.csv", "size": 4, "sha256": "y"}]
    good = store.create("run", notebook="nb.ipynb")
    store.update(good.id, status="succeeded",
                 result={"artifacts_dir": str(folder), "artifacts": arts})
    bad = store.create("run", notebook="nb.ipynb")
    store.update(bad.id, status="failed", result={"artifacts_dir": str(folder)})
    store.close()
    return {"good": good.id, "bad": bad.id, "folder": str(folder)}


def test_a_run_names_its_model(runs: dict[str, str]) -> None:
    assert run_artifact(f"run:{runs['good']}/model.joblib") == Path(runs["folder"]) / "model.joblib"
    assert run_artifact(f"run:{runs['good']}/metrics.csv").name == "metrics.csv"
    assert resolve_model(f"run:{runs['good']}").path.name == "model.joblib"  # its one model


@pytest.mark.hostile
@pytest.mark.parametrize(
    ("which", "rel", "wanted"),
    [
        ("nope", "", "no job 'nope'"),
        ("bad", "", "has no artifacts to serve (run, failed)"),
        ("good", "/model.onnx", "wrote no artifact model.onnx"),
    ],
)
def test_what_cannot_be_served_says_why(runs: dict[str, str], which: str, rel: str,
                                        wanted: str) -> None:
    ref = f"run:{runs.get(which, which)}{rel}"
    with pytest.raises(NotFoundError) as caught:
        resolve_model(ref)
    assert wanted in caught.value.message and "\n" not in caught.value.message
    assert caught.value.hint
