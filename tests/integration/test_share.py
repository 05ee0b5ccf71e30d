"""Sharing on real components: the engine, the htpasswd registry on 127.0.0.1:5000, and a second,
clean engine (the teammate). Login into a temporary DOCKER_CONFIG, push twice (layers exist,
nothing re-sent), list from the registry without pulling, pull where the image never was and
run it there; wrong credentials, a registry that is down, a refused name; prune."""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import stat
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from helpers import EXAMPLE, EXAMPLE_PYTHON, ROOT, assert_one_line_error, cli, versions_in
from jc_support import CI, TEST_LABEL, TEST_RUN_ID

from jupyter_containerize.core import api, labels
from jupyter_containerize.core.engine import client as engine
from jupyter_containerize.core.errors import ImageReferenceError, NotFoundError, RegistryError
from jupyter_containerize.core.image import prune
from jupyter_containerize.core.share import registry
from jupyter_containerize.core.share.catalog import images

pytestmark = [pytest.mark.engine, pytest.mark.registry]
REGISTRY = os.environ.get("JC_TEST_REGISTRY", "127.0.0.1:5000")
USER = os.environ.get("JC_REGISTRY_USER", "team")
PASSWORD = os.environ.get("JC_REGISTRY_PASSWORD", "team-secret")


def _skip_or_fail(reason: str) -> None:
    if CI:
        pytest.fail(f"CI=true: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A temporary Docker config and data dir, this run's label on what builds make."""
    from jc_support import engine_or_skip

    engine_or_skip()
    try:
        code = requests.get(f"http://{REGISTRY}/v2/", timeout=5).status_code
    except requests.RequestException:
        _skip_or_fail(f"no registry at {REGISTRY}: run scripts/services.sh")
    assert code == 401, "the test registry must ask for credentials (htpasswd)"
    root = tmp_path_factory.mktemp("share")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DOCKER_CONFIG", str(root / "docker-config"))
        mp.setenv("JUPYTER_CONTAINERIZE_DATA_DIR", str(root / "data"))
        mp.setenv("JUPYTER_CONTAINERIZE_LABELS", f"{TEST_LABEL}={TEST_RUN_ID}")
        yield {"root": root}


@pytest.fixture(scope="module")
def built(env: dict[str, Any]) -> Any:
    """The example image, with a notebook unique to this run so its last layer is new."""
    project = env["root"] / "project"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("*.lock.json", "model*"))
    nb = project / f"share-{TEST_RUN_ID}.ipynb"
    data = json.loads((EXAMPLE / "classifier.ipynb").read_text())
    data["cells"].append({"cell_type": "markdown", "metadata": {},
                          "source": [f"test run {TEST_RUN_ID}"]})
    nb.write_text(json.dumps(data))
    (project / "classifier.ipynb").unlink()
    return api.build(nb, python=str(EXAMPLE_PYTHON))


@pytest.fixture(scope="module")
def pushed(built: Any) -> Iterator[dict[str, Any]]:
    """Login (our function, into the temporary config), then the first push."""
    message = registry.login(REGISTRY, USER, io.StringIO(PASSWORD + "\n"))
    assert "Succeeded" in message and PASSWORD not in message
    events: list[Any] = []
    started = time.perf_counter()
    pinned = registry.push(built.reference, registry=REGISTRY, progress=events.append)
    seconds = time.perf_counter() - started
    print(f"first push of {built.reference}: {seconds:.1f} s")
    yield {"pinned": pinned, "events": events, "seconds": seconds}
    repo, _, digest = pinned.partition("@")
    name = repo.split("/", 1)[1]
    requests.delete(f"http://{REGISTRY}/v2/{name}/manifests/{digest}", auth=(USER, PASSWORD),
                    timeout=30)


def _summary(events: list[Any], key: str = "layers") -> dict[str, Any]:
    """The summary event of a push (``key`` "sent") or a pull ("layers")."""
    found = [e.data for e in events if e.kind == "log" and key in e.data]
    assert found, [e.message for e in events]
    return dict(found[-1])


def test_login_stores_credentials_where_docker_does(pushed: dict[str, Any],
                                                     env: dict[str, Any]) -> None:
    path = env["root"] / "docker-config" / "config.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert REGISTRY in json.loads(path.read_text())["auths"]
    docker_cli = shutil.which("docker")
    if docker_cli:  # the docker CLI reads what we wrote: same place, same format
        proc = subprocess.run([docker_cli, "pull", "-q", pushed["pinned"]], capture_output=True,
                              text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr


def test_push_pins_a_digest_and_a_second_push_sends_nothing(
        built: Any, pushed: dict[str, Any]) -> None:
    repo = f"{REGISTRY}/{built.reference.rsplit(':', 1)[0]}"
    assert pushed["pinned"].startswith(repo + "@sha256:")
    first = _summary(pushed["events"], "sent")
    assert first["sent"] >= 1, first  # this run's notebook layer is new to the registry
    assert all(e.kind != "log" or PASSWORD not in e.message for e in pushed["events"])
    events: list[Any] = []
    started = time.perf_counter()
    again = registry.push(built.reference, registry=REGISTRY, progress=events.append)
    print(f"second push: {time.perf_counter() - started:.1f} s")
    second = _summary(events, "sent")
    assert again == pushed["pinned"]
    assert second["sent"] == second["mounted"] == second["bytes_sent"] == 0, second
    assert second["skipped"] == first["sent"] + first["skipped"] + first["mounted"], second
    assert any("already there" in e.message for e in events)


def test_images_reads_labels_from_the_registry_without_pulling(
        built: Any, pushed: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    def no_engine() -> None:
        raise AssertionError("images() must not touch the engine")

    monkeypatch.setattr(engine, "client", no_engine)
    rows = images(REGISTRY)
    ours = [r for r in rows if r["pinned"] == pushed["pinned"]]
    assert len(ours) == 1, [r["reference"] for r in rows]
    row = ours[0]
    assert row["notebook"] == f"share-{TEST_RUN_ID}.ipynb"
    assert row["python"] == built.python
    assert row["author"]
    assert "scikit-learn" in row["packages"]
    assert row["created"] and row["size"] > 50_000_000


def test_cli_images_and_push_print_what_the_issue_asks(pushed: dict[str, Any],
                                                       built: Any) -> None:
    proc = cli("images", "--registry", REGISTRY)
    assert proc.returncode == 0, proc.stderr
    assert f"share-{TEST_RUN_ID}.ipynb" in proc.stdout
    proc = cli("push", built.reference, "--registry", REGISTRY)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == pushed["pinned"]
    assert "0 sent" in proc.stderr


@pytest.fixture(scope="module")
def teammate(env: dict[str, Any]) -> Iterator[str]:
    """A second engine that has never seen the image (scripts/second-engine.sh), with the
    containerd image store: the store of Docker Engine 29 and Docker Desktop, while the first
    engine keeps the overlay2 store, so an image crosses from one store to the other."""
    folder = tempfile.mkdtemp(prefix="jc2-", dir="/tmp")
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "second-engine.sh"), "start", folder,
                           "--store", "containerd"],
                          capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        _skip_or_fail(f"the second engine did not start: {proc.stderr.strip()[-300:]}")
    try:
        yield proc.stdout.strip()
    finally:
        subprocess.run(["bash", str(ROOT / "scripts" / "second-engine.sh"), "stop", folder],
                       capture_output=True, timeout=300)


def test_teammate_pulls_real_bytes_and_the_environment_arrives(
        pushed: dict[str, Any], teammate: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", teammate)
    second = engine.client()
    assert second.info()["DockerRootDir"] != "/var/lib/docker"
    assert second.images.list() == [], "the teammate's engine must start clean"
    events: list[Any] = []
    started = time.perf_counter()
    pinned = registry.pull(pushed["pinned"], progress=events.append)
    print(f"pull into the clean engine: {time.perf_counter() - started:.1f} s")
    assert pinned == pushed["pinned"]
    stats = _summary(events)
    assert stats["pulled"] == stats["layers"] >= 2, stats
    assert int(second.df()["LayersSize"]) > 50_000_000
    want = versions_in(str(EXAMPLE_PYTHON), "scikit-learn", "pandas", "joblib")
    code = ("import json, sys, importlib.metadata as m; print(json.dumps([sys.prefix, "
            "{n: m.version(n) for n in ('scikit-learn', 'pandas', 'joblib')}]))")
    out = second.containers.run(pinned, ["python", "-c", code], remove=True, network_mode="none",
                                labels={TEST_LABEL: TEST_RUN_ID, labels.MANAGED: "true"})
    prefix, got = json.loads(out.decode().strip().splitlines()[-1])
    assert prefix == "/opt/env"
    assert got == want


def test_wrong_credentials_say_login(built: Any, env: dict[str, Any], tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "cfg"))
    with pytest.raises(RegistryError) as info:
        registry.login(REGISTRY, USER, "not-the-password")
    assert f"jupyter containerize login {REGISTRY}" in info.value.one_line()
    assert not (tmp_path / "cfg" / "config.json").exists(), "a failed login stored something"
    import base64

    (tmp_path / "cfg").mkdir()
    bad = base64.b64encode(f"{USER}:wrong".encode()).decode()
    (tmp_path / "cfg" / "config.json").write_text(json.dumps({"auths": {REGISTRY: {"auth": bad}}}))
    with pytest.raises(RegistryError) as info:
        registry.push(built.reference, registry=REGISTRY)
    assert "refused the credentials" in info.value.message
    with pytest.raises(RegistryError):
        images(REGISTRY)
    proc = cli("push", built.reference, "--registry", REGISTRY,
               env={"DOCKER_CONFIG": str(tmp_path / "cfg")})
    assert_one_line_error(proc, "refused the credentials", f"login {REGISTRY}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_registry_down_asks_whether_it_runs(built: Any, env: dict[str, Any]) -> None:
    down = f"127.0.0.1:{_free_port()}"
    for call in (lambda: registry.push(built.reference, registry=down),
                 lambda: registry.pull(f"{down}/team/x:1"),
                 lambda: images(down),
                 lambda: registry.login(down, USER, PASSWORD)):
        with pytest.raises(RegistryError) as info:
            call()
        assert f"is the registry running at {down}?" in info.value.one_line()
    assert_one_line_error(cli("push", built.reference, "--registry", down),
                          "is the registry running")


def test_refused_names_and_missing_images(built: Any, pushed: dict[str, Any]) -> None:
    with pytest.raises(ImageReferenceError):
        registry.push(built.reference, registry=f"{REGISTRY}/Team_Upper")
    assert_one_line_error(cli("push", built.reference, "--registry", f"{REGISTRY}/-bad-"),
                          "not a valid image reference")
    with pytest.raises(NotFoundError):
        registry.pull(f"{REGISTRY}/jupyter-containerize/never-pushed-{TEST_RUN_ID}:1")
    with pytest.raises(NotFoundError):
        registry.push(f"jupyter-containerize/never-built-{TEST_RUN_ID}:1", registry=REGISTRY)
    assert_one_line_error(cli("pull", f"{REGISTRY}/jupyter-containerize/nope-{TEST_RUN_ID}:1"),
                          "is not in the registry")


# ---------------------------------------------------------------- prune


def _tiny(tag: str, extra: dict[str, str], size: int = 2_000_000) -> str:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in (("Dockerfile", b"FROM scratch\nCOPY blob /blob\n"),
                           ("blob", os.urandom(size))):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    lab = {labels.MANAGED: "true", TEST_LABEL: TEST_RUN_ID, "jc.test.prune": TEST_RUN_ID,
           **extra}
    return str(engine.classic_build(buffer, tag, lab, True, lambda _: None).id)


def test_prune_removes_only_unused_unkept_non_base_images_oldest_first(
        env: dict[str, Any]) -> None:
    repo = f"jupyter-containerize/prune-test-{TEST_RUN_ID}"
    old = _tiny(f"{repo}:old", {})
    time.sleep(1.1)
    new = _tiny(f"{repo}:new", {})
    base = _tiny(f"{repo}:base", {labels.ROLE: "base"})
    kept_id = _tiny(f"{repo}:kept", {})
    used = _tiny(f"{repo}:used", {})
    prune.keep(f"{repo}:kept")
    holder = engine.client().containers.create(
        used, ["/blob"], labels={TEST_LABEL: TEST_RUN_ID, labels.MANAGED: "true"})
    only_ours = {"jc.test.prune": TEST_RUN_ID}
    try:
        freed, removed = prune.prune_images(dry_run=True, label_filter=only_ours)
        assert removed == [f"{repo}:old", f"{repo}:new"] and freed >= 4_000_000
        assert engine.get_image(old) is not None, "a dry run removed something"
        events: list[Any] = []
        freed, removed = prune.prune_images(progress=events.append, label_filter=only_ours)
        assert removed == [f"{repo}:old", f"{repo}:new"]
        assert freed >= 4_000_000, freed
        assert "freed" in events[-1].message
        assert engine.get_image(old) is None and engine.get_image(new) is None
        for survivor in (base, kept_id, used):
            assert engine.get_image(survivor) is not None
        assert prune.unkeep(f"{repo}:kept")
        assert prune.prune_images(label_filter=only_ours, keep=[f"{repo}:kept"])[1] == []
    finally:
        holder.remove(force=True)
    assert prune.prune_images(label_filter=only_ours)[1] == [f"{repo}:kept", f"{repo}:used"]

