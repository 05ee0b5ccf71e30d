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

import http.client
import importlib.util
import json
import os
import shutil
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import lru_cache
from hashlib import sha256
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests.exceptions
import urllib3.exceptions
from docker.constants import IS_WINDOWS_PLATFORM
from docker.context import Context
from docker.context.config import get_context_id
from docker.models.images import Image
from docker.tls import TLSConfig

from .. import labels
from ..errors import BuildError, EngineUnavailableError, NotFoundError

DEFAULT_HOST = (
    "npipe:////./pipe/docker_engine" if IS_WINDOWS_PLATFORM else "unix:///var/run/docker.sock"
)
CONNECT_TIMEOUT = 30  # seconds for the first answer: an engine that does not answer says so soon
TIMEOUT = 600  # seconds for every later call (loads and builds take long)

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
                hint=_tls_hint(ep),
            )
        try:
            kwargs["tls"] = TLSConfig(
                client_cert=(ep.cert, ep.key) if ep.cert and ep.key else None,
                ca_cert=ep.ca, verify=ep.verify,
            )
        except docker.errors.TLSParameterError as exc:
            raise EngineUnavailableError(
                f"the TLS material for {ep.describe()} is unusable: {exc}", hint=_tls_hint(ep),
            ) from exc
    return kwargs


def _tls_hint(ep: Endpoint) -> str:
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


def _engine_hint(ep: Endpoint) -> str:
    from ..doctor import engine_fix  # doctor words every engine fix, for an installed user

    return engine_fix(ep)


def _root_cause(exc: BaseException) -> BaseException:
    """The innermost error under the SDK's and requests' wrappers (refused, TLS alert...)."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    deepest = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        deepest = cur
        nxt = cur.__cause__ or cur.__context__
        if nxt is None:
            reason = getattr(cur, "reason", None)
            inner = [a for a in cur.args if isinstance(a, BaseException)]
            nxt = reason if isinstance(reason, BaseException) else (inner[0] if inner else None)
        cur = nxt
    return deepest


def _short(exc: BaseException) -> str:
    root = _root_cause(exc)
    text = " ".join(str(root).split()) or type(root).__name__
    return text if len(text) <= 200 else text[:197] + "..."


class _EngineAPI(docker.APIClient):
    """The SDK's API client, verifying the engine as the docker CLI does: with the endpoint's
    own CA, or not at all when the endpoint says so. requests would otherwise let
    REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE (set for a proxy) replace that choice; proxies from
    the environment still apply."""

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any,
                                   cert: Any) -> Any:
        settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if self.verify is not True:  # a CA file, or False: the endpoint's own TLS settings
            settings["verify"] = self.verify
        return settings


class _EngineClient(docker.DockerClient):
    def __init__(self, **kwargs: Any) -> None:
        self.api = _EngineAPI(**kwargs)


@lru_cache(maxsize=8)
def _client(ep: Endpoint) -> docker.DockerClient:
    kwargs = client_kwargs(ep)
    try:
        cli = _EngineClient(timeout=CONNECT_TIMEOUT, **kwargs)
        cli.ping()
    except Exception as exc:  # any transport failure means the same thing to a user
        if ep.tls and isinstance(_root_cause(exc), ssl.SSLError):
            raise EngineUnavailableError(
                f"the TLS handshake with the engine at {ep.describe()} failed: {_short(exc)}",
                hint=_tls_hint(ep),
            ) from exc
        raise EngineUnavailableError(
            f"no Docker engine answers at {ep.describe()}: {_short(exc)}",
            hint=_engine_hint(ep),
        ) from exc
    cli.api.timeout = TIMEOUT
    return cli


def client() -> docker.DockerClient:
    """The connected client of the selected engine (one per endpoint), or
    EngineUnavailableError naming the endpoint and its context, with the fix."""
    return _client(endpoint())


def describe() -> str:
    """The selected engine in words: ``HOST (context NAME, from WHERE)``."""
    return endpoint().describe()


def engine_url() -> str:
    """The selected engine's address (DOCKER_HOST, the context's endpoint, or the socket)."""
    return endpoint().host


def is_remote() -> bool:
    return not engine_url().startswith(("unix://", "npipe://"))


def engine_host() -> str:
    """The host name that published ports answer on."""
    url = engine_url()
    if url.startswith(("tcp://", "ssh://", "http://", "https://")):
        rest = url.split("://", 1)[1].rsplit("@", 1)[-1]
        return rest.split(":", 1)[0].split("/", 1)[0]
    return "127.0.0.1"


def get_image(ref: str) -> Image | None:
    try:
        return client().images.get(ref)
    except docker.errors.ImageNotFound:
        return None
    except docker.errors.APIError as exc:
        if exc.status_code == 404:
            return None
        raise


def require_image(ref: str) -> Image:
    image = get_image(ref)
    if image is None:
        raise NotFoundError(f"image {ref} is not in the engine", hint="build or pull it first")
    return image


def chain_ids(diff_ids: list[str]) -> list[str]:
    """Layer chain IDs as the engine computes them (identity of a layer on its parents)."""
    out: list[str] = []
    for i, diff in enumerate(diff_ids):
        if i == 0:
            out.append(diff)
        else:
            out.append("sha256:" + sha256(f"{out[-1]} {diff}".encode()).hexdigest())
    return out


def known_chain_ids() -> set[str]:
    """Chain IDs of every layer the engine already holds (through its images).

    Images are listed, then inspected one by one; one that another client removes in
    between is skipped (its layers are no longer known anyway)."""
    api = client().api
    known: set[str] = set()
    for image_id in dict.fromkeys(api.images(all=True, quiet=True)):
        try:
            attrs = api.inspect_image(image_id)
        except docker.errors.NotFound:
            continue
        except docker.errors.APIError as exc:
            # 404, or a 500 "layer does not exist" for an image removed while inspected
            if exc.status_code == 404 or "does not exist" in str(exc.explanation or ""):
                continue
            raise
        layers = (attrs.get("RootFS") or {}).get("Layers") or []
        known.update(chain_ids(layers))
    return known


# what requests, urllib3 and the standard library raise when an engine drops a connection
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    requests.exceptions.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    urllib3.exceptions.ProtocolError,
    http.client.HTTPException,
    ConnectionError,
)


def _dropped(doing: str, exc: BaseException) -> BuildError:
    return BuildError(
        f"the engine closed the connection while {doing}; run the build again",
        hint=f"if it happens again, check the engine at {engine_url()} (its log, free disk): "
             f"{_short(exc)}",
    )


def load_archive(source: Path | Iterator[bytes]) -> list[str]:
    """Load a docker-archive (a file, or a stream of its bytes); returns the references."""
    if isinstance(source, Path):
        with open(source, "rb") as fh:
            return _load(fh)
    return _load(source)


def _load(data: Any) -> list[str]:
    loaded: list[str] = []
    try:
        for chunk in client().api.load_image(data):
            if "error" in chunk:
                raise BuildError(f"the engine refused the image: {chunk['error']}")
            stream = chunk.get("stream", "")
            if "Loaded image" in stream:
                loaded.append(stream.split(":", 1)[1].strip())
    except docker.errors.APIError as exc:
        raise BuildError(f"the engine refused the image: {exc.explanation}") from exc
    except CONNECTION_ERRORS as exc:
        raise _dropped("loading the image", exc) from exc
    return loaded


def save_image(ref: str, dest: Path, wanted: Callable[[str], bool] = lambda diff: True
               ) -> tuple[bytes, list[tuple[str, Path | None]]]:
    """Export an image: its config bytes and, per diff ID, the layer's file as the engine
    stores it (``<i>.layer``; None where ``wanted(diff_id)`` is false: not written)."""
    import tarfile
    import tempfile

    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile() as tmp:
        for chunk in require_image(ref).save(named=False):
            tmp.write(chunk)
        tmp.seek(0)
        with tarfile.open(fileobj=tmp) as tar:
            entry = json.load(tar.extractfile("manifest.json"))[0]  # type: ignore[arg-type]
            config = tar.extractfile(entry["Config"]).read()  # type: ignore[union-attr]
            diffs = json.loads(config)["rootfs"]["diff_ids"]
            if len(diffs) != len(entry["Layers"]):
                raise NotFoundError(f"the engine's export of {ref} lists "
                                    f"{len(entry['Layers'])} layers for {len(diffs)} diff IDs",
                                    hint="rebuild it with `jupyter containerize build "
                                         "--no-cache`")
            layers: list[tuple[str, Path | None]] = []
            for i, (diff, name) in enumerate(zip(diffs, entry["Layers"])):
                if not wanted(diff):
                    layers.append((diff, None))
                    continue
                out = dest / f"{i}.layer"
                with tar.extractfile(name) as src, open(out, "wb") as dst:  # type: ignore[union-attr]
                    while block := src.read(1 << 20):
                        dst.write(block)
                layers.append((diff, out))
    return config, layers


def classic_build(
    context_tar: Any,
    tag: str,
    labels_: dict[str, str],
    nocache: bool,
    log: Callable[[str], None],
) -> Image:
    """The Docker SDK's classic builder: the fallback that works with every engine."""
    api = client().api
    image_id = None
    try:
        stream = api.build(
            fileobj=context_tar,
            custom_context=True,
            tag=tag,
            labels=labels_,
            nocache=nocache,
            rm=True,
            forcerm=True,
            decode=True,
        )
        tail: list[str] = []
        for chunk in stream:
            if "stream" in chunk:
                line = chunk["stream"].rstrip()
                if line:
                    tail = (tail + [line])[-30:]
                    log(line)
            if "error" in chunk:
                raise BuildError(
                    "the image build failed: " + chunk["error"].strip(),
                    hint="see the build log lines above",
                    log="\n".join(tail),
                )
            if "aux" in chunk and "ID" in chunk["aux"]:
                image_id = chunk["aux"]["ID"]
    except docker.errors.APIError as exc:
        raise BuildError(f"the engine refused the build: {exc.explanation}") from exc
    except CONNECTION_ERRORS as exc:
        raise _dropped(f"building {tag}", exc) from exc
    return require_image(image_id or tag)


def run_once(
    image: str,
    command: list[str],
    *,
    user: str | None = None,
    environment: dict[str, str] | None = None,
    extra_labels: dict[str, str] | None = None,
) -> tuple[int, str]:
    """Run a short command in a throwaway container; returns (exit code, output)."""
    cli = client()
    container = cli.containers.create(
        image,
        command,
        user=user,
        environment=environment or {},
        network_disabled=True,
        labels={labels.MANAGED: "true", **(extra_labels or {})},
    )
    try:
        try:
            container.start()
        except docker.errors.APIError as exc:
            from .podman import lacking

            text = str(exc.explanation or exc)
            lacks = lacking(text)
            raise BuildError(
                f"a container of {image} did not start: {lacks[0] if lacks else text}",
                hint=lacks[1] if lacks else "see the engine's message",
            ) from exc
        status = container.wait(timeout=600)
        output = container.logs(stdout=True, stderr=True).decode("utf-8", "replace")
        return int(status.get("StatusCode", 1)), output
    finally:
        container.remove(force=True)


def managed_images(label_filter: dict[str, str] | None = None) -> list[Image]:
    filters = [f"{labels.MANAGED}=true"] + [f"{k}={v}" for k, v in (label_filter or {}).items()]
    return client().images.list(filters={"label": filters})


def iter_events(stream: Iterator[dict[str, Any]]) -> Iterator[str]:
    for chunk in stream:
        if "status" in chunk:
            yield " ".join(str(chunk.get(k, "")) for k in ("id", "status", "progress")).strip()
