"""The only importer of ``docker`` for the stages: connect to the selected engine (see
:mod:`.endpoint` for how it is chosen), inspect, load, export, classic build, run once,
labels.

Every module gets its client from :func:`client`, one per selected endpoint.
"""
from __future__ import annotations

import http.client
import json
import ssl
from collections.abc import Callable, Iterator
from functools import lru_cache
from hashlib import sha256
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests.exceptions
import urllib3.exceptions
from docker.models.images import Image

from .. import labels
from ..errors import BuildError, EngineUnavailableError, NotFoundError
from .endpoint import (
    DEFAULT_HOST,
    SOURCE_CHECKOUT,
    Endpoint,
    client_kwargs,
    config_dir,
    endpoint,
    engine_fix,
    tls_hint,
)

CONNECT_TIMEOUT = 30  # seconds for the first answer: an engine that does not answer says so soon
TIMEOUT = 600  # seconds for every later call (loads and builds take long)


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
                hint=tls_hint(ep),
            ) from exc
        raise EngineUnavailableError(
            f"no Docker engine answers at {ep.describe()}: {_short(exc)}",
            hint=engine_fix(ep),
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


# the endpoint's names, where callers of the client look for them
__all__ = [
    "DEFAULT_HOST", "SOURCE_CHECKOUT", "Endpoint", "client", "client_kwargs", "config_dir",
    "endpoint", "engine_fix",
]
