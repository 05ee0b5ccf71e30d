"""What tests share beyond fixtures: the CI switch, the run's label, the engine check."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
TEST_RUN_ID = os.environ.get("JC_TEST_RUN_ID") or uuid.uuid4().hex[:12]
TEST_LABEL = "io.jupyter-containerize.test-run"


def skip_or_fail(reason: str) -> NoReturn:
    """Skip with the reason; under CI=true, where nothing may be skipped, fail with it."""
    if CI:
        pytest.fail(f"CI=true: {reason}")
    pytest.skip(reason)
    raise AssertionError("unreachable")  # pytest.skip raises


def copy_image(reference: str, docker_host: str, timeout: float = 900) -> None:
    """Copy an image from the main engine into the engine at ``docker_host``, the way a user
    does: ``docker save REFERENCE | DOCKER_HOST=docker_host docker load``."""
    docker_cli = shutil.which("docker")
    if docker_cli is None:
        skip_or_fail("the docker CLI is not on PATH: it copies images between engines")
    with tempfile.TemporaryFile() as save_err:
        save = subprocess.Popen([docker_cli, "save", reference], stdout=subprocess.PIPE,
                                stderr=save_err)
        assert save.stdout is not None
        try:
            load = subprocess.run([docker_cli, "load"], stdin=save.stdout, capture_output=True,
                                  text=True, timeout=timeout,
                                  env={**os.environ, "DOCKER_HOST": docker_host})
        finally:
            save.stdout.close()
            try:
                save.wait(timeout=60)
            except subprocess.TimeoutExpired:
                save.kill()
                save.wait()
        save_err.seek(0)
        saved = save_err.read().decode(errors="replace").strip()
    assert save.returncode == 0, f"docker save {reference} failed: {saved}"
    assert load.returncode == 0, f"docker load into {docker_host} failed: {load.stderr.strip()}"


def engine_or_skip() -> object:
    """The Docker client, or a skip with the reason (a failure under CI=true)."""
    from jupyter_containerize.core.engine import client as engine
    from jupyter_containerize.core.errors import EngineUnavailableError

    try:
        return engine.client()
    except EngineUnavailableError as exc:
        if CI:
            pytest.fail(f"CI=true and no engine: {exc.one_line()}")
        pytest.skip(f"no Docker engine answers: {exc.one_line()}")


def pyproject(name: str, version: str) -> str:
    """The pyproject.toml of a minimal local project built with setuptools."""
    return ('[build-system]\nrequires = ["setuptools>=61"]\n'
            'build-backend = "setuptools.build_meta"\n'
            f'[project]\nname = "{name}"\nversion = "{version}"\n')


# a local project the tests install editable into a kernel's environment
LOCAL_PYPROJECT = pyproject("teamhelpers", "0.3.1")

# the variables that select an engine, as the docker CLI reads them
ENGINE_VARIABLES = ("DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_TLS",
                    "DOCKER_CERT_PATH")


def fresh_docker_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Docker config folder and no engine variables: what a fresh user has."""
    folder = tmp_path / "docker-config"
    folder.mkdir()
    for var in ENGINE_VARIABLES:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(folder))
    return folder


class _Chunks(io.RawIOBase):
    """A file object over a stream of byte chunks."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks, self.pending = chunks, b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self.pending:
            self.pending = next(self.chunks, b"")
            if not self.pending:
                return 0
        n = min(len(buffer), len(self.pending))
        buffer[:n] = self.pending[:n]
        self.pending = self.pending[n:]
        return n


def saved_image(client: Any, reference: str) -> io.BufferedReader:
    """The engine's `docker save` of ``reference``, read as it streams (never on disk)."""
    return io.BufferedReader(_Chunks(iter(client.api.get_image(reference))), 1 << 20)


def terminal_sigint() -> None:
    """``preexec_fn`` of a CLI a test interrupts with Ctrl-C: SIGINT acts as in a terminal,
    also when the test run itself was started in the background (which ignores SIGINT, and
    a child inherits that)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def pure_wheel(folder: Path, name: str, requires_python: str = "", version: str = "1.0") -> Path:
    """A minimal pure-Python wheel of distribution ``name`` ``version`` holding one module
    (``VALUE = name``), with a ``Requires-Python`` when one is given."""
    import base64
    import hashlib
    import zipfile

    path = folder / f"{name}-{version}-py3-none-any.whl"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    if requires_python:
        metadata += f"Requires-Python: {requires_python}\n"
    files = {
        f"{name}/__init__.py": f"VALUE = {name!r}\n",
        f"{name}-{version}.dist-info/METADATA": metadata,
        f"{name}-{version}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\n"
                                       "Root-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    with zipfile.ZipFile(path, "w") as zf:
        for arc, text in files.items():
            data = text.encode()
            zf.writestr(arc, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.append(f"{arc},sha256={digest.decode()},{len(data)}")
        record.append(f"{name}-{version}.dist-info/RECORD,,")
        zf.writestr(f"{name}-{version}.dist-info/RECORD", "\n".join(record) + "\n")
    return path


def dev_uv() -> str:
    """The uv of the development venv (a declared dependency of the package)."""
    found = shutil.which("uv", path=str(Path(__file__).resolve().parents[1] / ".venv" / "bin"))
    if found is None:
        skip_or_fail("uv is not in .venv/bin")
    return found


def installed_versions(python: Path) -> dict[str, str]:
    """Normalized name (lower case, ``-``) -> version of what ``python`` has installed."""
    import json

    code = ("import importlib.metadata as m, json; print(json.dumps({d.metadata['Name'].lower()"
            ".replace('_', '-'): d.version for d in m.distributions()}))")  # fmt: skip
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def lock_without_files(lock: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``lock`` as written before files were recorded (its packages' files left out)."""
    import json

    bare: dict[str, Any] = json.loads(json.dumps(lock))
    for package in bare["packages"]:
        package.pop("files", None)
    return bare
