"""The only importer of ``docker``: connect, inspect, load, classic build, labels, cleanup.

The engine is the one the docker CLI would use, chosen in the CLI's order:

1. ``DOCKER_HOST``, with TLS when ``DOCKER_TLS_VERIFY`` (verified) or ``DOCKER_TLS`` is set,
   using ca.pem, cert.pem and key.pem from ``DOCKER_CERT_PATH`` (default: the config folder);
2. else the context named by ``DOCKER_CONTEXT``;
3. else the config's ``currentContext`` (``docker context use NAME``);
4. else the default socket.

Contexts are read from the store ``docker context create`` writes in the config folder
(``DOCKER_CONFIG``, default ``~/.docker``), their TLS material included; ``ssh://`` endpoints
go through the ssh client (the ``ssh`` extra). Every module gets its client from
:func:`client`, one per selected endpoint.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import docker.errors
from docker.constants import IS_WINDOWS_PLATFORM
from docker.context import Context
from docker.context.config import get_context_id
from docker.tls import TLSConfig

from ..errors import EngineUnavailableError

DEFAULT_HOST = (
    "npipe:////./pipe/docker_engine" if IS_WINDOWS_PLATFORM else "unix:///var/run/docker.sock"
)

@dataclass(frozen=True)
class Endpoint:
    """The engine the docker CLI would talk to now, with its TLS material and why it was
    chosen. It is the key of the client cache: whatever selects an engine is in it."""

    host: str
    context: str = "default"
    source: str = ""  # "DOCKER_HOST", "DOCKER_CONTEXT", "currentContext in PATH" or "" (default)
    tls: bool = False
    verify: bool = False
    ca: str | None = None
    cert: str | None = None
    key: str | None = None
    # (path, mtime, size) of each TLS file: replaced certificates make a new client
    material: tuple[tuple[str, int, int], ...] = ()

    @property
    def is_ssh(self) -> bool:
        return self.host.startswith("ssh://")

    def describe(self) -> str:
        """``HOST (context NAME, from WHERE, TLS ...)``: what doctor and errors show."""
        parts = [f"context {self.context}"]
        if self.source:
            parts.append(f"from {self.source}")
        if self.tls:
            parts.append("TLS verified" if self.verify else "TLS without verification")
        return f"{self.host} ({', '.join(parts)})"


def config_dir() -> Path:
    """Docker's configuration folder: DOCKER_CONFIG, else ~/.docker (contexts live in it)."""
    return Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")


def endpoint() -> Endpoint:
    """The engine as the docker CLI selects it: DOCKER_HOST, else DOCKER_CONTEXT, else the
    config's currentContext (``docker context use``), else the default socket."""
    host = os.environ.get("DOCKER_HOST")
    if host:
        return _from_env(host)
    name = os.environ.get("DOCKER_CONTEXT")
    source = "DOCKER_CONTEXT"
    if not name:
        name = _current_context()
        source = f"currentContext in {config_dir() / 'config.json'}"
    if not name or name == "default":
        return Endpoint(DEFAULT_HOST, source=source if name else "")
    return _from_context(name, source)


def _current_context() -> str | None:
    try:
        config = json.loads((config_dir() / "config.json").read_text())
    except (OSError, ValueError):  # the docker CLI, too, goes on without an unreadable config
        return None
    name = config.get("currentContext") if isinstance(config, dict) else None
    return name if isinstance(name, str) and name else None


def _networked(host: str) -> bool:
    return not host.startswith(("unix://", "npipe://", "ssh://", "fd://"))


def _from_env(host: str) -> Endpoint:
    """DOCKER_HOST with DOCKER_TLS_VERIFY / DOCKER_TLS / DOCKER_CERT_PATH, as the CLI reads
    them: any non-empty value switches on, the certificates are ca.pem, cert.pem, key.pem."""
    verify = bool(os.environ.get("DOCKER_TLS_VERIFY"))
    tls = (verify or bool(os.environ.get("DOCKER_TLS"))) and _networked(host)
    if not tls:
        return Endpoint(host, source="DOCKER_HOST")
    folder = Path(os.environ.get("DOCKER_CERT_PATH") or config_dir())
    cert, key = folder / "cert.pem", folder / "key.pem"
    pair = cert.is_file() and key.is_file()
    return _with_material(Endpoint(
        host, source="DOCKER_HOST", tls=True, verify=verify,
        ca=str(folder / "ca.pem") if verify else None,
        cert=str(cert) if pair else None, key=str(key) if pair else None,
    ))


def _from_context(name: str, source: str) -> Endpoint:
    """A named context from the store ``docker context create`` writes in the config folder:
    contexts/meta/<id>/meta.json for the endpoint, contexts/tls/<id>/docker/ for TLS."""
    context_id = get_context_id(name)
    store = config_dir() / "contexts"
    meta_file = store / "meta" / context_id / "meta.json"
    listed = "`docker context ls` lists the contexts"
    try:
        meta = json.loads(meta_file.read_text())
        docker_ep = dict(meta["Endpoints"]["docker"])
    except FileNotFoundError:
        raise EngineUnavailableError(
            f"Docker context {name} (from {source}) does not exist in {config_dir()}",
            hint=f"{listed}; create it with `docker context create` or choose another",
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise EngineUnavailableError(
            f"Docker context {name} has no usable docker endpoint in {meta_file}: {exc}",
            hint=f"{listed}; recreate it with `docker context create {name} --docker ...`",
        ) from exc
    # the docker CLI verifies unless the context says otherwise
    skip = bool(docker_ep.get("SkipTLSVerify", False))
    host = str(Context(name, endpoints={"docker": docker_ep}).Host or DEFAULT_HOST)
    tls_dir = store / "tls" / context_id / "docker"
    ca, cert, key = (tls_dir / f for f in ("ca.pem", "cert.pem", "key.pem"))
    has = {p: p.is_file() for p in (ca, cert, key)}
    if not _networked(host) or not (skip or any(has.values())):
        return Endpoint(host, context=name, source=source)
    pair = has[cert] and has[key]
    return _with_material(Endpoint(
        host, context=name, source=source, tls=True, verify=not skip,
        ca=str(ca) if has[ca] else None,
        cert=str(cert) if pair else None, key=str(key) if pair else None,
    ))


def _with_material(ep: Endpoint) -> Endpoint:
    seen = []
    for path in (ep.ca, ep.cert, ep.key):
        if path:
            try:
                st = os.stat(path)
            except OSError:
                continue
            seen.append((path, st.st_mtime_ns, st.st_size))
    return replace(ep, material=tuple(seen))


def client_kwargs(ep: Endpoint) -> dict[str, Any]:
    """The Docker SDK's arguments for ``ep``: base URL, TLSConfig, the ssh transport."""
    kwargs: dict[str, Any] = {"base_url": ep.host}
    if ep.is_ssh:
        if importlib.util.find_spec("paramiko") is None:
            raise EngineUnavailableError(
                f"the engine at {ep.describe()} is reached over ssh, which needs paramiko",
                hint="pip install jupyter-containerize[ssh]",
            )
        # the ssh binary, as the docker CLI uses it (~/.ssh/config, agents, ProxyJump)
        kwargs["use_ssh_client"] = shutil.which("ssh") is not None
        return kwargs
    if ep.tls:
        if ep.ca and ep.verify and not os.path.isfile(ep.ca):
            raise EngineUnavailableError(
                f"TLS verification of {ep.describe()} needs {ep.ca}, which does not exist",
                hint=tls_hint(ep),
            )
        try:
            kwargs["tls"] = TLSConfig(
                client_cert=(ep.cert, ep.key) if ep.cert and ep.key else None,
                ca_cert=ep.ca, verify=ep.verify,
            )
        except docker.errors.TLSParameterError as exc:
            raise EngineUnavailableError(
                f"the TLS material for {ep.describe()} is unusable: {exc}", hint=tls_hint(ep),
            ) from exc
    return kwargs


def tls_hint(ep: Endpoint) -> str:
    if ep.source == "DOCKER_HOST":
        folder = os.environ.get("DOCKER_CERT_PATH") or str(config_dir())
        if ep.cert is None:
            return (f"no client certificate was offered: put cert.pem and key.pem beside "
                    f"ca.pem in {folder} (DOCKER_CERT_PATH)")
        return (f"check that {folder} holds ca.pem, cert.pem and key.pem the engine accepts "
                "(DOCKER_CERT_PATH)")
    fix = (f"`docker context create {ep.context} --docker host=...,ca=...,cert=...,key=...` "
           "(after `docker context rm`)")
    if ep.cert is None:
        return f"the context offers no client certificate: recreate it with {fix}"
    return f"check the context's certificates (`docker context inspect {ep.context}`) or {fix}"


SOURCE_CHECKOUT = "in a source checkout of jupyter-containerize, `bash scripts/services.sh`"


def engine_fix(ep: Endpoint, message: str = "") -> str:
    """What a user of the installed package does when no engine answers at ``ep``."""
    if "permission denied" in message.lower():
        return ("let your user reach the engine's socket: `sudo usermod -aG docker $USER`, then "
                "log in again (or run rootless Podman and point DOCKER_HOST at its socket)")
    if ep.source == "DOCKER_HOST":
        return (f"start the engine at {ep.host}, or set DOCKER_HOST to one that runs, or unset "
                "it to use the local engine")
    if ep.source:  # a context chose it
        return (f"start the engine of context {ep.context}, or choose another one with "
                "`docker context use NAME` or DOCKER_CONTEXT=NAME; `docker context ls` lists "
                "them")
    return ("start Docker (`sudo systemctl start docker`, or open Docker Desktop) or Podman "
            "(`systemctl --user start podman.socket`, then `export DOCKER_HOST="
            "unix://$XDG_RUNTIME_DIR/podman/podman.sock`); for an engine on another machine set "
            f"DOCKER_HOST or DOCKER_CONTEXT; {SOURCE_CHECKOUT} starts one for development")
