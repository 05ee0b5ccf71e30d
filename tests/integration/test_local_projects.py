"""An editable local project in the kernel's environment, against a real engine: it is built
out of the user's tree, a notebook edit reuses the environment, a source edit does not."""

from __future__ import annotations

import hashlib
import json
import sys
import uuid
from pathlib import Path

import pytest
from helpers import local_package, make_venv, notebook, run_in_image

from jupyter_containerize.core import api
from jupyter_containerize.core.engine import client as engine
from jupyter_containerize.core.progress import Event

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def editable_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A venv with the local package ``teamhelpers`` installed editable, and a notebook."""
    root = tmp_path_factory.mktemp("local-projects")
    pkg = local_package(root / "project" / "teamhelpers_src")
    python = make_venv(root / "venv", sys.executable, "-e", str(pkg))
    nb = notebook(root / "project" / "analysis.ipynb",
                  "import teamhelpers\nprint(teamhelpers.greet())")
    return {"python": python, "notebook": nb, "package": pkg}


def _files(root: Path) -> dict[str, str]:
    """What a user sees in a folder: every path, and each file's content digest."""
    return {
        p.relative_to(root).as_posix(): (
            hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "folder")
        for p in sorted(root.rglob("*"))
    }


def _edit_notebook(nb: Path) -> None:
    doc = json.loads(nb.read_text())
    doc["cells"][0]["source"] = f"# edited {uuid.uuid4().hex}\n" + "".join(
        doc["cells"][0]["source"])
    nb.write_text(json.dumps(doc))


def _build(env: dict[str, Path], logs: list[str] | None = None) -> api.BuildResult:
    def progress(event: Event) -> None:
        if logs is not None and event.kind == "log":
            logs.append(event.message)

    return api.build(env["notebook"], python=str(env["python"]), progress=progress)


def _env_ref(result: api.BuildResult) -> str:
    return result.reference.rsplit(":", 1)[0] + ":env-" + result.env_hash[:12]


def _layers(reference: str) -> list[str]:
    return list(engine.require_image(reference).attrs["RootFS"]["Layers"])


def test_a_notebook_edit_reuses_the_environment_and_writes_nothing_into_the_package(
        editable_env: dict[str, Path]) -> None:
    pkg, nb = editable_env["package"], editable_env["notebook"]
    before = _files(pkg)
    first = _build(editable_env)
    assert run_in_image(first.reference, "import teamhelpers; print(teamhelpers.greet())") \
        == "hello"
    env_layers = _layers(_env_ref(first))
    assert _files(pkg) == before, "the build wrote into the package's folder"

    _edit_notebook(nb)
    logs: list[str] = []
    edited = _build(editable_env, logs)
    assert not edited.cached and edited.reference != first.reference
    assert edited.env_hash == first.env_hash and _env_ref(edited) == _env_ref(first)
    assert _layers(_env_ref(edited)) == env_layers, "an environment layer was rebuilt"
    assert _layers(edited.reference)[:-1] == env_layers
    assert not [line for line in logs if line.startswith("installing")], logs
    assert _files(pkg) == before, "the rebuild wrote into the package's folder"

    # what a backend or an editor leaves beside the source is not source
    for rel in ("build/lib/teamhelpers/__init__.py", "dist/teamhelpers-0.3.1.tar.gz",
                "teamhelpers/__pycache__/__init__.cpython-311.pyc",
                ".ipynb_checkpoints/x-checkpoint.py"):
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text("stale")
    _edit_notebook(nb)
    stray = _build(editable_env)
    assert stray.env_hash == first.env_hash
    assert _layers(_env_ref(stray)) == env_layers


def test_a_source_edit_is_a_new_environment(editable_env: dict[str, Path]) -> None:
    pkg = editable_env["package"]
    first = _build(editable_env)
    (pkg / "teamhelpers" / "__init__.py").write_text(
        f"def greet():\n    return 'hello {uuid.uuid4().hex[:6]}'\n")
    want = (pkg / "teamhelpers" / "__init__.py").read_text().split("'")[1]
    before = _files(pkg)
    edited = _build(editable_env)
    assert edited.env_hash != first.env_hash
    assert _layers(_env_ref(edited)) != _layers(_env_ref(first))
    assert run_in_image(edited.reference, "import teamhelpers; print(teamhelpers.greet())") \
        == want
    assert _files(pkg) == before


def test_the_ejected_dockerfile_and_the_classic_builder_build_out_of_tree(
        editable_env: dict[str, Path], tmp_path: Path) -> None:
    pkg, nb = editable_env["package"], editable_env["notebook"]
    before = _files(pkg)
    api.freeze(nb, python=str(editable_env["python"]), dockerfile=tmp_path / "eject")
    wheels = sorted((tmp_path / "eject" / "containerize" / "wheels").glob("*.whl"))
    assert [w.name for w in wheels] == ["teamhelpers-0.3.1-py3-none-any.whl"]
    assert wheels[0].name in (tmp_path / "eject" / "containerize" / "requirements.txt").read_text()
    assert _files(pkg) == before
    res = api.build(nb, python=str(editable_env["python"]), builder="classic",
                    tag=f"jupyter-containerize/local-projects:classic-{uuid.uuid4().hex[:8]}")
    assert res.builder == "classic"
    want = (pkg / "teamhelpers" / "__init__.py").read_text().split("'")[1]
    assert run_in_image(res.reference, "import teamhelpers; print(teamhelpers.greet())") == want
    assert _files(pkg) == before
