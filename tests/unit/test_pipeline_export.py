"""`pipeline export`, offline: the example pipeline's steps written as an Argo Workflow checked by
hera's Workflow model and as a Kubeflow pipeline compiled by the KFP SDK and loaded back, each
with the step's pinned image, papermill command, parameters, timeout, retries, resources,
dependencies and artifacts; every mistake (no target, an unknown one, no registry, a file
`pipeline run` refuses, GPUs named by device, the extra missing) is one line with its fix,
before anything is built."""

from __future__ import annotations

import shutil
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from jupyter_containerize.cli.app import main
from jupyter_containerize.core import api
from jupyter_containerize.core.errors import ContainerizeError
from jupyter_containerize.core.pipeline import export_argo, export_kfp, spec
from jupyter_containerize.core.pipeline.export import quantity
from jupyter_containerize.core.pipeline.export_task import ExportError, Task
from jupyter_containerize.core.run.execute import TOOL_PYTHON

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "pipeline"
DIGEST = "sha256:" + "ab" * 32


@pytest.fixture
def example(tmp_path: Path) -> spec.Pipeline:
    shutil.copytree(EXAMPLE, tmp_path / "pipeline")
    return spec.load(tmp_path / "pipeline" / "pipeline.yaml")


def _tasks(pipe: spec.Pipeline) -> list[Task]:
    return [Task(name=n, image=f"127.0.0.1:5000/ns/{n}@{DIGEST}",
                 notebook=f"/home/jovyan/work/{s.notebook.name}", parameters=s.parameters,
                 needs=s.needs, inputs=s.inputs, outputs=s.outputs, timeout=int(s.timeout or 0),
                 retries=s.retries, cpus=0.5 if n == "train" else None,
                 memory=quantity(s.memory), gpus=None)
            for n, s in ((n, pipe.steps[n]) for n in pipe.order)]


def test_memory_becomes_a_kubernetes_quantity() -> None:
    assert [quantity(m) for m in ("256m", "1g", "7000k", "7000001", None)] == [
        "256Mi", "1Gi", "7000Ki", "7000001", None]


def test_the_argo_workflow_validates_and_says_what_the_file_says(
        example: spec.Pipeline, tmp_path: Path) -> None:
    path = export_argo.export(example, _tasks(example), tmp_path / "out")
    assert path.name == "line-fit.argo.yaml"
    doc = yaml.safe_load(path.read_text())
    assert export_argo.validate(doc) == []
    assert (doc["apiVersion"], doc["kind"]) == ("argoproj.io/v1alpha1", "Workflow")
    templates = {t["name"]: t for t in doc["spec"]["templates"]}
    dag = {t["name"]: t for t in templates[doc["spec"]["entrypoint"]]["dag"]["tasks"]}
    assert "dependencies" not in dag["prepare"]
    assert dag["train"]["dependencies"] == ["prepare"] and dag["report"]["dependencies"] == [
        "train"]
    assert dag["train"]["arguments"]["artifacts"] == [{
        "name": "file-prepare-numbers-csv",
        "from": "{{tasks.prepare.outputs.artifacts.file-numbers-csv}}"}]
    train = templates["train"]
    assert train["inputs"]["artifacts"] == [{"name": "file-prepare-numbers-csv",
                                             "path": "/home/jovyan/work/numbers.csv"}]
    assert {"name": "file-model-json", "path": "/home/jovyan/work/model.json"} in \
        train["outputs"]["artifacts"]
    assert train["activeDeadlineSeconds"] == 300
    assert train["retryStrategy"] == {"limit": 1, "retryPolicy": "Always"}
    assert "retryStrategy" not in templates["prepare"]
    container = train["container"]
    assert container["image"] == f"127.0.0.1:5000/ns/train@{DIGEST}"
    assert container["command"][:4] == [TOOL_PYTHON, "-m", "papermill",
                                        "/home/jovyan/work/train.ipynb"]
    assert container["command"][-2:] == ["-y", '{"min_rows": 10}']
    assert container["resources"] == {"requests": {"cpu": "0.5"}, "limits": {"cpu": "0.5"}}
    assert templates["report"]["container"]["resources"]["limits"] == {"memory": "256Mi"}


def test_a_field_the_workflow_model_does_not_know_is_refused(
        example: spec.Pipeline) -> None:
    doc = export_argo.workflow(example, _tasks(example))
    doc["spec"]["templates"][1]["activeDeadlineSecs"] = 10
    errors = export_argo.validate(doc)
    assert errors == [".spec.templates[1].activeDeadlineSecs: not a field of the Workflow model"]
    doc = export_argo.workflow(example, _tasks(example))
    doc["spec"]["templates"][0]["dag"]["tasks"][1]["dependencies"] = ["nowhere"]
    assert export_argo.validate(doc) == ["task train depends on nowhere, no task"]


def test_the_kfp_pipeline_compiles_and_loads_back(example: spec.Pipeline,
                                                  tmp_path: Path) -> None:
    from kfp import components

    path = export_kfp.export(example, _tasks(example), tmp_path / "out")
    assert path.name == "line-fit.kfp.yaml"
    assert not [p for p in path.parent.iterdir() if p != path]  # no draft left behind
    spec_ = components.load_component_from_file(str(path)).pipeline_spec
    tasks = spec_.root.dag.tasks
    assert set(tasks) == {"prepare", "train", "report"}
    assert list(tasks["train"].dependent_tasks) == ["prepare"]
    source = tasks["train"].inputs.artifacts["prepare_numbers_csv"].task_output_artifact
    assert (source.producer_task, source.output_artifact_key) == ("prepare", "numbers_csv")
    assert tasks["train"].retry_policy.max_retry_count == 1
    assert not tasks["prepare"].caching_options.enable_cache
    executors = yaml.safe_load(path.read_text())["deploymentSpec"]["executors"]
    train = executors["exec-train"]["container"]
    assert train["image"] == f"127.0.0.1:5000/ns/train@{DIGEST}"
    assert train["resources"]["resourceCpuLimit"] == "0.5"
    script = train["command"][2]
    assert 'cp "$1" /home/jovyan/work/numbers.csv' in script
    assert (f"timeout 300 {TOOL_PYTHON} -m papermill /home/jovyan/work/train.ipynb" in
            script.replace("\n", " "))
    assert executors["exec-report"]["container"]["resources"]["resourceMemoryLimit"] == "256Mi"


def test_the_kfp_check_finds_a_task_in_another_image(example: spec.Pipeline,
                                                     tmp_path: Path) -> None:
    steps = _tasks(example)
    path = export_kfp.export(example, steps, tmp_path)
    steps[0].image = "elsewhere@" + DIGEST
    assert export_kfp.check(path, steps) == [
        f"task prepare runs 127.0.0.1:5000/ns/prepare@{DIGEST}, not elsewhere@{DIGEST}"]


# --- mistakes: one line with the fix, nothing built ------------------------------------------

def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["pipeline", "export", *args])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, err
    return code, lines[0]


@pytest.mark.hostile
@pytest.mark.parametrize(("args", "code", "said", "fix"), [
    ([], 2, "pipeline export needs a target", "add --to argo"),
    (["--to", "airflow", "--registry", "r.example/ns"], 2,
     "--to 'airflow' is not a target a pipeline exports to", "use --to argo"),
    (["--to", "argo"], 2, "--to argo needs --registry: a cluster pulls each step's image from a "
                          "registry, by digest", "add --registry HOST[/NAMESPACE]"),
    (["--to", "kfp", "--registry", " "], 2, "--to kfp needs --registry", "jupyter containerize "
                                                                          "login HOST"),
])
def test_a_bad_target_or_no_registry_is_one_line(
        args: list[str], code: int, said: str, fix: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTER_CONTAINERIZE_DATA_DIR", str(tmp_path / "data"))
    shutil.copytree(EXAMPLE, tmp_path / "pipeline")
    got, line = _cli([str(tmp_path / "pipeline" / "pipeline.yaml"), *args], capsys)
    assert got == code and said in line and fix in line, line
    assert not (tmp_path / "data").exists()  # nothing started


@pytest.mark.hostile
@pytest.mark.parametrize(("text", "said", "fix"), [
    ("steps:\n  - {name: a, notebook: a.ipynb, need: [b]}\n", "unknown key 'need'",
     "did you mean 'needs'?"),
    ("steps:\n  - {name: a, notebook: a.ipynb, gpus: all}\n",
     "step 'a': gpus: all names this host's devices, which a cluster cannot",
     "give a number of GPUs"),
])
def test_a_file_the_export_refuses_is_one_line(
        text: str, said: str, fix: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTER_CONTAINERIZE_DATA_DIR", str(tmp_path / "data"))
    shutil.copy(EXAMPLE / "prepare.ipynb", tmp_path / "a.ipynb")
    (tmp_path / "p.yaml").write_text(textwrap.dedent(text))
    code, line = _cli([str(tmp_path / "p.yaml"), "--to", "argo", "--registry",
                       "127.0.0.1:5000/x"], capsys)
    assert code == 2 and said in line and fix in line, line
    assert not list(tmp_path.glob("*.argo.yaml"))


@pytest.mark.hostile
@pytest.mark.parametrize(("to", "module"), [("argo", "hera"), ("kfp", "kfp")])
def test_the_missing_extra_is_one_line_with_the_install(
        to: str, module: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == module or m.startswith(module + ".")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, module, None)  # as if it were not installed
    with pytest.raises(ContainerizeError) as exc:
        api.pipeline_export(EXAMPLE / "pipeline.yaml", to=to, registry="127.0.0.1:5000/x")
    assert isinstance(exc.value, ExportError)
    assert exc.value.one_line() == (
        f"--to {to} needs the {module} package to write and validate the document, and it is "
        "not installed (pip install 'jupyter-containerize[pipelines-export]')"), \
        exc.value.one_line()
