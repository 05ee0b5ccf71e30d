"""`pipeline export` on real components: the example pipeline (copied to a temporary folder)
built on the engine, its images pushed to the htpasswd registry on 127.0.0.1:5000, and written
as an Argo Workflow (checked by hera's Workflow model) and as a Kubeflow pipeline (compiled by
the KFP SDK, loaded back), each step naming its image by the digest the registry holds, with
the file's dependencies, parameters and artifacts; the KFP steps' own commands then run in
their images one after the other, passing the files on as a cluster would, and give the report
the notebooks compute. A registry that cannot take the images is one line, nothing written."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from helpers import PASSWORD, REGISTRY, ROOT, USER, assert_one_line_error, cli, logged_in
from jc_support import TEST_LABEL, TEST_RUN_ID

from jupyter_containerize.core.engine import client as engine
from jupyter_containerize.core.pipeline import export_argo
from jupyter_containerize.core.run.execute import TOOL_PYTHON

pytestmark = [pytest.mark.engine, pytest.mark.registry]
NS = f"jc-export-{TEST_RUN_ID[-10:]}".lower().replace("_", "-")
EXAMPLE = ROOT / "examples" / "pipeline"
ACCEPT = ", ".join(("application/vnd.oci.image.manifest.v1+json",
                    "application/vnd.oci.image.index.v1+json",
                    "application/vnd.docker.distribution.manifest.v2+json"))


def _repositories() -> list[str]:
    got = requests.get(f"http://{REGISTRY}/v2/_catalog?n=1000", auth=(USER, PASSWORD),
                       timeout=30).json().get("repositories") or []
    return [r for r in got if r.startswith(NS + "/")]


def _tags(repo: str) -> list[str]:
    return requests.get(f"http://{REGISTRY}/v2/{repo}/tags/list", auth=(USER, PASSWORD),
                        timeout=30).json().get("tags") or []


def _digest(repo: str, reference: str) -> str | None:
    head = requests.head(f"http://{REGISTRY}/v2/{repo}/manifests/{reference}",
                         auth=(USER, PASSWORD), timeout=30, headers={"Accept": ACCEPT})
    return head.headers.get("Docker-Content-Digest") if head.status_code == 200 else None


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A temporary Docker config logged in to the registry, a data dir, the example project."""
    root = tmp_path_factory.mktemp("export")
    base = logged_in(root)
    project = root / "project"
    shutil.copytree(EXAMPLE, project)
    yield {"root": root, "env": base, "file": project / "pipeline.yaml"}
    client = engine.client()
    for repo in _repositories():
        for tag in _tags(repo):
            digest = _digest(repo, tag)
            if digest:
                requests.delete(f"http://{REGISTRY}/v2/{repo}/manifests/{digest}",
                                auth=(USER, PASSWORD), timeout=30)
            try:  # the local alias the push made; the image itself stays (it is cached)
                client.images.remove(f"{REGISTRY}/{repo}:{tag}")
            except Exception:  # noqa: BLE001, S110 - already gone
                pass


def _export(env: dict[str, Any], to: str) -> tuple[dict[str, Any], Path]:
    out = env["root"] / f"out-{to}"
    proc = cli("-q", "pipeline", "export", str(env["file"]), "--to", to, "--registry",
               f"{REGISTRY}/{NS}", "--output", str(out), "--json", env=env["env"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    assert Path(result["path"]).parent == out and Path(result["path"]).is_file()
    return result, Path(result["path"])


def _config_digest(ref: str) -> str:
    """The image ID (its config's digest) of the manifest ``ref`` pins, read from the
    registry."""
    name, _, digest = ref.partition("@")
    repo = name.split("/", 1)[1]
    manifest = requests.get(f"http://{REGISTRY}/v2/{repo}/manifests/{digest}",
                            auth=(USER, PASSWORD), timeout=30, headers={"Accept": ACCEPT}).json()
    return str(manifest["config"]["digest"])


def _assert_pinned_by_the_registry(images: dict[str, str]) -> None:
    """Every image is REGISTRY/NS/...@sha256:..., a manifest the registry holds under a tag."""
    assert set(images) == {"prepare", "train", "report"}
    for ref in images.values():
        name, _, digest = ref.partition("@")
        assert name.startswith(f"{REGISTRY}/{NS}/") and digest.startswith("sha256:"), ref
        repo = name.split("/", 1)[1]
        assert _digest(repo, digest) == digest, ref
        assert digest in {_digest(repo, tag) for tag in _tags(repo)}, ref


def test_the_argo_workflow_names_the_pushed_images_by_digest(env: dict[str, Any]) -> None:
    result, path = _export(env, "argo")
    _assert_pinned_by_the_registry(result["images"])
    doc = yaml.safe_load(path.read_text())
    assert export_argo.validate(doc) == []
    templates = {t["name"]: t for t in doc["spec"]["templates"]}
    dag = {t["name"]: t for t in templates[doc["spec"]["entrypoint"]]["dag"]["tasks"]}
    assert {n: t.get("dependencies", []) for n, t in dag.items()} == {
        "prepare": [], "train": ["prepare"], "report": ["train"]}
    assert dag["report"]["arguments"]["artifacts"][0]["from"] == \
        "{{tasks.train.outputs.artifacts.file-model-json}}"
    for step in ("prepare", "train", "report"):
        container = templates[step]["container"]
        assert container["image"] == result["images"][step]
        assert container["command"][:3] == [TOOL_PYTHON, "-m", "papermill"]
        assert templates[step]["activeDeadlineSeconds"] == 300
    assert json.loads(templates["prepare"]["container"]["command"][-1]) == {"rows": 20,
                                                                             "seed": 1}
    assert templates["train"]["retryStrategy"]["limit"] == 1
    assert templates["train"]["inputs"]["artifacts"][0]["path"] == \
        "/home/jovyan/work/numbers.csv"
    assert templates["report"]["container"]["resources"]["limits"]["memory"] == "256Mi"


def test_the_kfp_pipeline_compiles_and_its_steps_run_in_their_images(
        env: dict[str, Any], docker_client: Any, tmp_path: Path) -> None:
    from kfp import components

    result, path = _export(env, "kfp")
    _assert_pinned_by_the_registry(result["images"])
    spec = components.load_component_from_file(str(path)).pipeline_spec
    tasks = spec.root.dag.tasks
    assert {n: list(t.dependent_tasks) for n, t in tasks.items()} == {
        "prepare": [], "train": ["prepare"], "report": ["train"]}
    assert tasks["train"].retry_policy.max_retry_count == 1
    executors = yaml.safe_load(path.read_text())["deploymentSpec"]["executors"]
    # each step's command, run in its image as a KFP launcher would: artifact paths in a
    # folder of their own, each step's outputs handed to the next as its inputs
    shared = tmp_path / "artifacts"
    shared.mkdir()
    shared.chmod(0o777)
    for step in ("prepare", "train", "report"):
        container = executors[f"exec-{step}"]["container"]
        assert container["image"] == result["images"][step]
        local = docker_client.images.get(result["built"][step])
        assert _config_digest(result["images"][step]) == local.id  # the image that runs
        command = _launcher_paths(container["command"], tasks[step], step)
        docker_client.containers.run(
            local.id, command, remove=True, user="1000",
            volumes={str(shared): {"bind": "/kfp", "mode": "rw"}},
            labels={TEST_LABEL: TEST_RUN_ID})
        assert (shared / "out" / step / "executed_notebook").stat().st_size > 0
    numbers = (shared / "out" / "prepare" / "numbers_csv").read_text().splitlines()
    assert numbers[0] == "x,y" and len(numbers) == 1 + 20  # rows: 20 reached the notebook
    report = (shared / "out" / "report" / "report_txt").read_text()
    assert report.startswith("rows 20\nslope ") and "prediction at 100: " in report


def _launcher_paths(command: list[str], task: Any, step: str) -> list[str]:
    """The command with its artifact placeholders replaced as a KFP launcher replaces them:
    an output is a file of its own, an input the file its producing task wrote."""
    out = []
    for arg in command:
        for kind in ("inputs", "outputs"):
            prefix = f"{{{{$.{kind}.artifacts['"
            if arg.startswith(prefix):
                name = arg[len(prefix):].split("'")[0]
                if kind == "outputs":
                    arg = f"/kfp/out/{step}/{name}"
                else:
                    source = task.inputs.artifacts[name].task_output_artifact
                    arg = f"/kfp/out/{source.producer_task}/{source.output_artifact_key}"
        out.append(arg)
    return out


@pytest.mark.hostile
@pytest.mark.parametrize(("registry", "logged_in", "said", "fix"), [
    ("127.0.0.1:5999/nowhere", True, "cannot reach the registry at 127.0.0.1:5999",
     "is the registry running"),
    (f"{REGISTRY}/{NS}-anonymous", False, f"the registry {REGISTRY} needs credentials",
     f"jupyter containerize login {REGISTRY}"),
])
def test_a_registry_that_cannot_take_the_images_is_one_line(
        registry: str, logged_in: bool, said: str, fix: str, env: dict[str, Any],
        tmp_path: Path) -> None:
    out = tmp_path / "out"
    config = {} if logged_in else {"DOCKER_CONFIG": str(tmp_path / "no-login")}
    proc = cli("-q", "pipeline", "export", str(env["file"]), "--to", "argo", "--registry",
               registry, "--output", str(out), env={**env["env"], **config})
    assert_one_line_error(proc, "step prepare: image ", f"cannot be pushed to {registry}: ",
                          said, fix)
    assert proc.returncode == 1
    assert not out.exists()  # nothing written
