"""Sharing through the REST API: push and pull jobs, the team catalog, kernels in an image.

The registry is the real htpasswd one on 127.0.0.1:5000; the login goes into a temporary
DOCKER_CONFIG, the image is the example built once for the module with a cell unique to the run.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "classifier"
EXAMPLE_PYTHON = ROOT / ".venv-example" / "bin" / "python"
REGISTRY = os.environ.get("JC_TEST_REGISTRY", "127.0.0.1:5000")
USER = os.environ.get("JC_REGISTRY_USER", "team")
PASSWORD = os.environ.get("JC_REGISTRY_PASSWORD", "team-secret")
CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
RUN_ID = os.environ.get("JC_TEST_RUN_ID", "local")


@pytest.fixture
def containerize_config() -> dict[str, Any]:
    return {"registry": REGISTRY}


# ---------------------------------------------------------------- bodies and errors (no engine)


@pytest.mark.parametrize(
    ("body", "wanted"),
    [
        ({"kind": "push", "options": {}}, "needs the option 'image'"),
        ({"kind": "push", "options": {"image": 3}}, "wrong type"),
        ({"kind": "push", "options": {"image": "a", "tag": "x"}}, "takes no option 'tag'"),
        ({"kind": "pull", "options": {}}, "needs the option 'ref'"),
        ({"kind": "pull", "options": {"ref": "a"}, "notebook": 7}, "'notebook' is missing"),
        ({"kind": "fetch", "options": {}}, "unknown job kind"),
    ],
)
async def test_bad_job_bodies_are_400(api_call: Any, body: dict[str, Any], wanted: str) -> None:
    status, data = await api_call("POST", "jobs", body=body)
    assert status == 400, data
    assert wanted in data["message"] and data["hint"]
    assert (await api_call("GET", "jobs"))[1] == {"jobs": []}


@pytest.mark.parametrize(
    ("body", "wanted"),
    [
        ({}, "'ref' is missing"),
        ({"ref": 5}, "must be a string"),
        ({"ref": "a:b", "image": "x"}, "unknown field"),
        ({"ref": "a:b", "name": "no spaces"}, "not a kernel name"),
        ("[1]", "JSON object"),
    ],
)
async def test_bad_kernel_bodies_are_400(api_call: Any, body: Any, wanted: str) -> None:
    status, data = await api_call("POST", "kernels", body=body)
    assert status == 400, data
    assert wanted in data["message"] and data["hint"]


async def test_unreachable_registry_is_502_with_a_hint(api_call: Any) -> None:
    status, data = await api_call("GET", "images", params={"registry": "127.0.0.1:5999"})
    assert status == 502, data
    assert "127.0.0.1:5999" in data["message"] and "\n" not in data["message"]
    assert data["hint"]


async def test_the_configured_registry_is_the_push_default(api_call: Any) -> None:
    assert (await api_call("GET", "info"))[1]["registry"] == REGISTRY
    verbs = (await api_call("GET", "options"))[1]["verbs"]
    registry = next(o for o in verbs["push"]["options"] if o["name"] == "registry")
    assert registry["default"] == REGISTRY
    assert [o["name"] for o in verbs["pull"]["options"]] == ["ref", "verify"]


# ---------------------------------------------------------------- the real registry


def _skip_or_fail(reason: str) -> None:
    if CI:
        pytest.fail(f"CI=true: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, docker_client: Any) -> Iterator[dict[str, Any]]:
    """Logged in (temporary DOCKER_CONFIG) and the example built with a notebook of this run."""
    from jupyter_containerize.core import api

    if not EXAMPLE_PYTHON.exists():
        _skip_or_fail("the example's environment is missing: run scripts/setup first")
    try:
        requests.get(f"http://{REGISTRY}/v2/", timeout=5)
    except requests.RequestException:
        _skip_or_fail(f"no registry at {REGISTRY}: run scripts/services.sh")
    root = tmp_path_factory.mktemp("share-routes")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DOCKER_CONFIG", str(root / "docker-config"))
        mp.setenv("JUPYTER_CONTAINERIZE_LABELS", f"io.jupyter-containerize.test-run={RUN_ID}")
        mp.delenv("PYTHONPATH", raising=False)
        api.login(REGISTRY, username=USER, password=PASSWORD)
        nb = _notebook(root / "project", f"routes-{RUN_ID}-{int(time.time())}")
        started = time.perf_counter()
        result = api.build(nb, python=str(EXAMPLE_PYTHON))
        print(f"build {result.reference}: {time.perf_counter() - started:.1f} s")
        yield {"reference": result.reference, "notebook": nb.name}


def _notebook(project: Path, stem: str) -> Path:
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("*.lock.json", "model*"))
    data = json.loads((project / "classifier.ipynb").read_text())
    data["cells"].append({"cell_type": "markdown", "metadata": {}, "source": [stem]})
    (project / "classifier.ipynb").unlink()
    nb = project / f"{stem}.ipynb"
    nb.write_text(json.dumps(data))
    return nb


def _forget(pinned: str) -> None:
    repo, _, digest = pinned.partition("@")
    name = repo.split("/", 1)[1]
    requests.delete(
        f"http://{REGISTRY}/v2/{name}/manifests/{digest}", auth=(USER, PASSWORD), timeout=30
    )


@pytest.mark.engine
@pytest.mark.registry
async def test_push_list_pull_and_install_a_kernel(
    api_call: Any, jp_fetch: Any, built: dict[str, Any], finish_job: Any
) -> None:
    started = time.perf_counter()
    body = {"kind": "push", "options": {"image": built["reference"]}}
    status, job = await api_call("POST", "jobs", body=body)
    assert status == 202, job
    pushed = await finish_job(job["id"], 600)
    assert pushed["status"] == "succeeded", pushed["error"]
    pinned = pushed["result"]["pinned"]
    print(f"push job: {time.perf_counter() - started:.1f} s -> {pinned}")
    try:
        assert pinned.startswith(f"{REGISTRY}/") and "@sha256:" in pinned
        await _listed(api_call, built, pinned)
        await _pulled(api_call, finish_job, pinned)
        await _kernel(api_call, jp_fetch, pinned)
    finally:
        _forget(pinned)


async def _listed(api_call: Any, built: dict[str, Any], pinned: str) -> None:
    started = time.perf_counter()
    status, data = await api_call("GET", "images")
    print(f"GET images: {time.perf_counter() - started:.1f} s, {data.get('total')} images")
    assert status == 200, data
    assert data["registry"] == REGISTRY
    assert pinned in [row["pinned"] for row in data["images"]]
    query = {"q": built["notebook"].removesuffix(".ipynb").upper()}
    status, found = await api_call("GET", "images", params=query)
    assert status == 200 and [r["pinned"] for r in found["images"]] == [pinned], found
    row = found["images"][0]
    assert row["notebook"].endswith(built["notebook"]) and row["python"].startswith("3.")
    assert "scikit-learn" in " ".join(row["packages"]) and row["size"] > 0
    status, none = await api_call("GET", "images", params={"q": "no-such-image-anywhere"})
    assert status == 200 and none["images"] == [] and none["total"] == data["total"]


async def _pulled(api_call: Any, finish_job: Any, pinned: str) -> None:
    status, job = await api_call("POST", "jobs", body={"kind": "pull", "options": {"ref": pinned}})
    assert status == 202, job
    pulled = await finish_job(job["id"], 600)
    assert pulled["status"] == "succeeded", pulled["error"]
    assert pulled["result"]["pinned"] == pinned
    logs = (await api_call("GET", "jobs", job["id"], "events", raw=True))[1]
    assert "pull: " in logs and "event: end" in logs
    # asked to verify, the server checks before it pulls: with no trusted key, it cannot
    body = {"kind": "pull", "options": {"ref": pinned, "verify": True}}
    status, job = await api_call("POST", "jobs", body=body)
    assert status == 202, job
    refused = await finish_job(job["id"], 600)
    assert refused["status"] == "failed", refused
    assert "no trusted public key" in refused["error"]["message"], refused["error"]


async def _kernel(api_call: Any, jp_fetch: Any, pinned: str) -> None:
    name = f"jc-routes-{RUN_ID}".lower()
    status, kernel = await api_call("POST", "kernels", body={"ref": pinned, "name": name})
    assert status == 201, kernel
    assert kernel["name"] == name and kernel["image"] == pinned
    listed = (await api_call("GET", "kernels"))[1]["kernels"]
    assert name in [k["name"] for k in listed]
    # Jupyter's own kernelspec list, which the Lab reads, has it too
    specs = json.loads((await jp_fetch("api", "kernelspecs")).body)["kernelspecs"]
    assert name in specs, sorted(specs)


@pytest.mark.engine
@pytest.mark.registry
async def test_a_build_job_with_push_pushes_and_pins(
    api_call: Any, notebook: str, built: dict[str, Any], finish_job: Any
) -> None:
    """The Lab's Build with "Push to": one job builds the notebook and pushes it."""
    target = f"{REGISTRY}/jc-routes-{RUN_ID}".lower() + "/classifier:rest"
    options = {"python": str(EXAMPLE_PYTHON), "push": target}
    status, job = await api_call("POST", "jobs",
                                 body={"kind": "build", "notebook": notebook, "options": options})
    assert status == 202, job
    done = await finish_job(job["id"], 900)
    assert done["status"] == "succeeded", done["error"]
    pinned = done["result"]["reference"]
    try:
        assert pinned.startswith(target.rsplit(":", 1)[0] + "@sha256:"), pinned
        digest = pinned.split("@", 1)[1]
        head = requests.head(f"http://{REGISTRY}/v2/{target.split('/', 1)[1].rsplit(':', 1)[0]}"
                             "/manifests/rest", auth=(USER, PASSWORD), timeout=30,
                             headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
        assert head.headers.get("Docker-Content-Digest") == digest
    finally:
        _forget(pinned)
