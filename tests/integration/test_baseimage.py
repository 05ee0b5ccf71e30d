"""Bases on a real engine: route 1 (bookworm, Python 3.11) and route 2 (a carried 3.12).

Bases are reused when one with the same inputs exists (``ensure_base``) and never removed; what
these tests create besides bases carries a label of this run and is removed by it.
"""

from __future__ import annotations

import io
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jupyter_containerize.core import labels
from jupyter_containerize.core.errors import BaseImageError
from jupyter_containerize.core.image import base as bi

pytestmark = pytest.mark.engine

RUN_ID = os.environ.get("JC_TEST_RUN_ID") or uuid.uuid4().hex[:12]
RUN_LABELS = {labels.TEST_RUN: RUN_ID, labels.MANAGED: "true"}
CARRY_FROM = "/root/.pyenv/versions/3.12.1/bin/python3.12"
IMPORTS = "import ssl, sqlite3, ctypes, json, sys; print(sys.version)"


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    import docker

    try:
        engine = docker.from_env()
        engine.ping()
    except Exception as exc:  # no engine: skip, except in CI where one must answer
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI=true but no Docker engine answers: {exc}")
        pytest.skip(f"no Docker engine answers ({exc}); run scripts/services.sh")
    yield engine
    selector = {"label": f"{labels.TEST_RUN}={RUN_ID}"}
    for container in engine.containers.list(all=True, filters=selector):
        container.remove(force=True)
    for image in engine.images.list(filters=selector):
        engine.images.remove(image.id, force=True)


@pytest.fixture(scope="module")
def debian_base(client: Any) -> bi.BaseImage:
    return bi.ensure_base(client, "3.11", progress=print)


@pytest.fixture(scope="module")
def carried_source() -> tuple[str, dict[str, str]]:
    exe = CARRY_FROM if os.access(CARRY_FROM, os.X_OK) else None
    if exe is None:
        try:
            exe = bi.find_interpreter("3.12")
        except BaseImageError as exc:
            pytest.skip(f"no Python 3.12 interpreter on this machine to carry: {exc.message}")
    return exe, bi.interpreter_info(exe)


@pytest.fixture(scope="module")
def carried_base(client: Any, carried_source: tuple[str, dict[str, str]]) -> bi.BaseImage:
    exe, info = carried_source
    return bi.ensure_base(client, info["version"], exe, progress=print)


def _run(client: Any, image: str, command: list[str], user: str = "1000") -> str:
    out = client.containers.run(image, command, user=user, remove=True, labels=RUN_LABELS)
    return str(out.decode())


def _check_labels(client: Any, base: bi.BaseImage) -> dict[str, str]:
    found = dict(client.images.get(base.reference).labels)
    assert found[labels.MANAGED] == "true" and found[labels.ROLE] == "base"
    assert found[labels.BASE_IDENTITY] == base.identity
    assert base.identity.startswith("sha256:") and base.identity[7:19] in base.reference
    assert found[labels.BASE_PACKAGES].count("=") > 50
    return found


def test_debian_base(client: Any, debian_base: bi.BaseImage) -> None:
    base = debian_base
    assert (base.route, base.release, base.glibc) == ("debian", "bookworm", "2.36")
    assert base.python_version.startswith("3.11.") and base.python_path == "/usr/bin/python3.11"
    assert base.site_packages_layout == "lib/python3.11/site-packages"
    assert base.reference.startswith(f"jupyter-containerize/base:bookworm-py{base.python_version}-")
    _check_labels(client, base)
    out = _run(client, base.reference, ["python3", "-c", IMPORTS])
    assert out.startswith(base.python_version + " ")
    who = _run(
        client, base.reference, ["sh", "-c", "id -un; echo $HOME; ls /usr/share/man | wc -l"]
    )
    assert who.split() == ["jovyan", "/home/jovyan", "0"]


def test_carried_base(
    client: Any, carried_base: bi.BaseImage, carried_source: tuple[str, dict[str, str]]
) -> None:
    base, (_, info) = carried_base, carried_source
    assert base.route == "carried" and base.exact
    assert base.python_version == info["version"]
    assert base.python_path == f"/usr/local/bin/python{bi.minor_of(info['version'])}"
    assert _check_labels(client, base)[bi.BASE_INTERPRETER] == base.interpreter
    for python in ("python", "python3", base.python_path):
        out = _run(client, base.reference, [python, "-c", IMPORTS])
        assert out.startswith(info["version"] + " ")
    prefixes = {info["base_prefix"], str(Path(info["base_prefix"]).resolve()), "/root/.pyenv"}
    pattern = " ".join(f"-e {p}" for p in sorted(prefixes))
    leaks = _run(client, base.reference, ["sh", "-c", f"grep -rlF {pattern} /usr/local; echo $?"])
    assert leaks.split() == ["1"], f"host paths left in the carried interpreter: {leaks}"
    venv = "python3 -m venv /tmp/v && /tmp/v/bin/python -c 'import sys; print(sys.prefix)'"
    assert _run(client, base.reference, ["sh", "-c", venv]).strip() == "/tmp/v"


def test_find_base_returns_bootstrapped(
    client: Any, debian_base: bi.BaseImage, carried_base: bi.BaseImage
) -> None:
    got = bi.find_base(client, carried_base.python_version, pull=False)
    assert got.route == "carried" and got.exact and got.python_minor == "3.12"
    got = bi.find_base(client, debian_base.python_version, pull=False)
    assert got.python_version == debian_base.python_version and got.exact
    assert got.python_path == debian_base.python_path
    # a patch Debian lacks: the bookworm base (or a carried 3.11), never claimed exact
    got = bi.find_base(client, "3.11.99", pull=True)
    assert got.python_minor == "3.11" and not got.exact
    references = {b.reference for b in bi.list_bases(client)}
    assert {debian_base.reference, carried_base.reference} <= references


def test_ensure_base_reuses(
    client: Any, carried_base: bi.BaseImage, debian_base: bi.BaseImage
) -> None:
    started = time.monotonic()
    again = bi.ensure_base(client, carried_base.python_version, CARRY_FROM)
    assert again.image_id == carried_base.image_id
    reused = bi.ensure_base(client, "3.11")
    assert (reused.route, reused.release) == ("debian", "bookworm")
    assert reused.reference in {b.reference for b in bi.list_bases(client)}
    assert time.monotonic() - started < 10


def test_configured_image_is_probed_and_cached(
    client: Any, debian_base: bi.BaseImage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    tag = f"jc-test/configured:{RUN_ID}"
    dockerfile = f'FROM {debian_base.reference}\nLABEL {labels.ROLE}=""\n'
    image, _ = client.images.build(
        fileobj=io.BytesIO(dockerfile.encode()), tag=tag, labels=RUN_LABELS, rm=True
    )
    got = bi.find_base(client, debian_base.python_version, configured=tag, pull=False)
    assert (got.route, got.reference, got.exact) == ("configured", tag, True)
    assert got.python_path == "/usr/bin/python3.11" and got.glibc == "2.36"
    assert got.identity.startswith("layers:sha256:")
    cached = tmp_path / "jupyter-containerize" / "bases" / (image.id.split(":")[1] + ".json")
    assert cached.is_file()
    with pytest.raises(BaseImageError) as err:
        bi.find_base(client, "3.12.1", configured=tag, pull=False)
    assert "3.11" in err.value.message


def test_missing_configured_base(client: Any) -> None:
    with pytest.raises(BaseImageError) as err:
        bi.find_base(client, "3.11.2", configured=f"jc-test/absent:{RUN_ID}")
    assert "not in the engine" in err.value.message and err.value.hint
