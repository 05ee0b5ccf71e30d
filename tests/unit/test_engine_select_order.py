"""Which engine we talk to, chosen as the docker CLI chooses it: DOCKER_HOST (with its TLS
variables), else DOCKER_CONTEXT, else `docker context use`, else the default socket.

Contexts are made by the docker CLI itself in a temporary DOCKER_CONFIG, so the metadata and
TLS store read here are exactly what users have."""

from __future__ import annotations

import importlib.util
import json
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
from jc_support import fresh_docker_config
from tls_support import Certs, make_certs

from jupyter_containerize.core.engine import client as engine
from jupyter_containerize.core.errors import EngineUnavailableError


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Docker config folder and no engine variables: what a fresh user has."""
    if shutil.which("docker") is None:
        pytest.skip("the docker CLI is not installed")
    return fresh_docker_config(tmp_path, monkeypatch)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


def docker_cli(config: Path, *args: str) -> None:
    """The docker CLI on this config folder (context commands need no engine)."""
    proc = subprocess.run(["docker", *args], capture_output=True, text=True,
                          env={"DOCKER_CONFIG": str(config), "PATH": "/usr/bin:/bin",
                               "HOME": str(config.parent)})
    assert proc.returncode == 0, proc.stderr


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_without_settings_the_default_socket_is_chosen(config: Path) -> None:
    ep = engine.endpoint()
    assert ep.host == engine.DEFAULT_HOST == "unix:///var/run/docker.sock"
    assert ep.context == "default" and not ep.tls
    assert engine.describe() == "unix:///var/run/docker.sock (context default)"
    assert not engine.is_remote() and engine.engine_host() == "127.0.0.1"


def test_docker_context_use_selects_the_current_context(config: Path) -> None:
    docker_cli(config, "context", "create", "team-a", "--docker", "host=tcp://10.1.2.3:2375")
    docker_cli(config, "context", "use", "team-a")
    assert json.loads((config / "config.json").read_text())["currentContext"] == "team-a"
    ep = engine.endpoint()
    assert (ep.host, ep.context, ep.tls) == ("tcp://10.1.2.3:2375", "team-a", False)
    assert "currentContext" in ep.source
    assert engine.engine_url() == "tcp://10.1.2.3:2375"
    assert engine.is_remote() and engine.engine_host() == "10.1.2.3"
    docker_cli(config, "context", "use", "default")
    assert engine.endpoint().host == engine.DEFAULT_HOST


def test_docker_context_variable_wins_over_the_current_context(
        config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    docker_cli(config, "context", "create", "team-a", "--docker", "host=tcp://10.1.2.3:2375")
    docker_cli(config, "context", "create", "team-b", "--docker", "host=tcp://10.4.5.6:2375")
    docker_cli(config, "context", "use", "team-a")
    monkeypatch.setenv("DOCKER_CONTEXT", "team-b")
    ep = engine.endpoint()
    assert (ep.host, ep.context, ep.source) == ("tcp://10.4.5.6:2375", "team-b",
                                                "DOCKER_CONTEXT")
    monkeypatch.setenv("DOCKER_CONTEXT", "default")
    assert engine.endpoint().host == engine.DEFAULT_HOST


def test_a_context_is_found_without_a_config_file(
        config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`docker context create` in a fresh folder writes no config.json; DOCKER_CONTEXT still
    names the context."""
    docker_cli(config, "context", "create", "lab", "--docker", "host=tcp://10.7.7.7:2375")
    assert not (config / "config.json").exists()
    monkeypatch.setenv("DOCKER_CONTEXT", "lab")
    assert engine.endpoint().host == "tcp://10.7.7.7:2375"


def test_docker_host_wins_over_every_context(
        config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    docker_cli(config, "context", "create", "team-a", "--docker", "host=tcp://10.1.2.3:2375")
    docker_cli(config, "context", "use", "team-a")
    monkeypatch.setenv("DOCKER_CONTEXT", "team-a")
    monkeypatch.setenv("DOCKER_HOST", "tcp://10.9.9.9:2375")
    ep = engine.endpoint()
    assert (ep.host, ep.context, ep.source, ep.tls) == (
        "tcp://10.9.9.9:2375", "default", "DOCKER_HOST", False)
    assert engine.describe() == "tcp://10.9.9.9:2375 (context default, from DOCKER_HOST)"


def test_docker_tls_verify_uses_the_certificates_in_docker_cert_path(
        config: Path, certs: Certs, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:2376")
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
    monkeypatch.setenv("DOCKER_CERT_PATH", str(certs.folder))
    ep = engine.endpoint()
    assert ep.tls and ep.verify
    assert (ep.ca, ep.cert, ep.key) == (str(certs.ca), str(certs.cert), str(certs.key))
    kwargs = engine.client_kwargs(ep)
    tls = kwargs["tls"]
    assert kwargs["base_url"] == "tcp://127.0.0.1:2376"
    assert (tls.ca_cert, tls.cert, tls.verify) == (str(certs.ca), (str(certs.cert),
                                                                   str(certs.key)), True)
    assert "TLS verified" in engine.describe()


def test_an_empty_docker_tls_verify_is_off_and_docker_tls_alone_does_not_verify(
        config: Path, certs: Certs, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:2376")
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "")
    monkeypatch.setenv("DOCKER_CERT_PATH", str(certs.folder))
    assert not engine.endpoint().tls, "the docker CLI reads an empty value as unset"
    monkeypatch.setenv("DOCKER_TLS", "1")
    ep = engine.endpoint()
    assert ep.tls and not ep.verify and ep.ca is None
    assert ep.cert == str(certs.cert), "the client certificate is presented all the same"
    assert engine.client_kwargs(ep)["tls"].verify is False
    assert "TLS without verification" in engine.describe()


def test_without_docker_cert_path_the_certificates_come_from_the_config_folder(
        config: Path, certs: Certs, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ca.pem", "cert.pem", "key.pem"):
        shutil.copy(certs.folder / name, config / name)
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:2376")
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
    ep = engine.endpoint()
    assert (ep.ca, ep.cert, ep.key) == tuple(str(config / n)
                                             for n in ("ca.pem", "cert.pem", "key.pem"))


def test_tls_verification_without_a_ca_fails_in_one_line(
        config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:2376")
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
    monkeypatch.setenv("DOCKER_CERT_PATH", str(config / "nowhere"))
    with pytest.raises(EngineUnavailableError) as err:
        engine.client()
    line = err.value.one_line()
    assert "ca.pem" in line and "tcp://127.0.0.1:2376" in line and "\n" not in line
    assert "DOCKER_CERT_PATH" in line


def test_a_context_brings_its_tls_material_from_its_store(
        config: Path, certs: Certs, monkeypatch: pytest.MonkeyPatch) -> None:
    docker_cli(config, "context", "create", "secure", "--docker",
               f"host=tcp://127.0.0.1:2376,ca={certs.ca},cert={certs.cert},key={certs.key}")
    monkeypatch.setenv("DOCKER_CONTEXT", "secure")
    ep = engine.endpoint()
    store = config / "contexts" / "tls"
    assert ep.tls and ep.verify and ep.context == "secure"
    for path, original in ((ep.ca, certs.ca), (ep.cert, certs.cert), (ep.key, certs.key)):
        assert path is not None and Path(path).is_relative_to(store)
        assert Path(path).read_bytes() == original.read_bytes()
    tls = engine.client_kwargs(ep)["tls"]
    assert tls.ca_cert == ep.ca and tls.cert == (ep.cert, ep.key) and tls.verify is True


def test_a_context_that_skips_verification_or_holds_only_a_ca(
        config: Path, certs: Certs, monkeypatch: pytest.MonkeyPatch) -> None:
    docker_cli(config, "context", "create", "lax", "--docker",
               "host=tcp://127.0.0.1:2376,skip-tls-verify=true")
    docker_cli(config, "context", "create", "ca-only", "--docker",
               f"host=tcp://127.0.0.1:2376,ca={certs.ca}")
    monkeypatch.setenv("DOCKER_CONTEXT", "lax")
    ep = engine.endpoint()
    assert ep.tls and not ep.verify and ep.cert is None
    monkeypatch.setenv("DOCKER_CONTEXT", "ca-only")
    ep = engine.endpoint()
    assert ep.tls and ep.verify and ep.ca is not None and ep.cert is None


def test_an_unknown_context_fails_in_one_line_naming_it(
        config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_CONTEXT", "missing-one")
    with pytest.raises(EngineUnavailableError) as err:
        engine.client()
    assert "missing-one" in err.value.one_line() and "DOCKER_CONTEXT" in err.value.one_line()
    monkeypatch.delenv("DOCKER_CONTEXT")
    (config / "config.json").write_text(json.dumps({"currentContext": "gone"}))
    with pytest.raises(EngineUnavailableError) as err:
        engine.engine_url()
    assert "gone" in err.value.one_line() and "config.json" in err.value.one_line()


def test_an_engine_that_does_not_answer_is_named_with_its_context(
        config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    port = closed_port()
    monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{port}")
    with pytest.raises(EngineUnavailableError) as err:
        engine.client()
    line = err.value.one_line()
    assert f"tcp://127.0.0.1:{port}" in line and "context default" in line
    assert "refused" in line.lower() and "\n" not in line
    monkeypatch.delenv("DOCKER_HOST")
    docker_cli(config, "context", "create", "down", "--docker", f"host=tcp://127.0.0.1:{port}")
    docker_cli(config, "context", "use", "down")
    with pytest.raises(EngineUnavailableError) as err:
        engine.client()
    line = err.value.one_line()
    assert f"tcp://127.0.0.1:{port}" in line and "context down" in line and "\n" not in line


def test_an_ssh_engine_uses_the_ssh_client_or_names_the_extra(
        config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    docker_cli(config, "context", "create", "builder", "--docker",
               "host=ssh://dev@build.example.org")
    monkeypatch.setenv("DOCKER_CONTEXT", "builder")
    ep = engine.endpoint()
    assert ep.host == "ssh://dev@build.example.org" and not ep.tls
    assert engine.is_remote() and engine.engine_host() == "build.example.org"
    if importlib.util.find_spec("paramiko") is None:
        with pytest.raises(EngineUnavailableError) as err:
            engine.client()
        line = err.value.one_line()
        assert "pip install jupyter-containerize[ssh]" in line and "context builder" in line
    else:
        kwargs = engine.client_kwargs(ep)
        assert kwargs["use_ssh_client"] is (shutil.which("ssh") is not None)


def test_everything_that_selects_the_engine_is_in_the_client_cache_key(
        config: Path, certs: Certs, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:2376")
    plain = engine.endpoint()
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
    monkeypatch.setenv("DOCKER_CERT_PATH", str(certs.folder))
    verified = engine.endpoint()
    other = tmp_path / "other-certs"
    shutil.copytree(certs.folder, other)
    monkeypatch.setenv("DOCKER_CERT_PATH", str(other))
    moved = engine.endpoint()
    (other / "cert.pem").write_bytes((other / "cert.pem").read_bytes() + b"\n")
    replaced = engine.endpoint()
    assert len({plain, verified, moved, replaced}) == 4
    monkeypatch.setenv("DOCKER_CERT_PATH", str(certs.folder))
    assert engine.endpoint() == verified
