"""The only importer of ``docker``: connect, inspect, load, classic build, labels, cleanup."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from functools import lru_cache
from hashlib import sha256
from pathlib import Path
from typing import Any

import docker
import docker.errors
from docker.models.images import Image

from . import labels
from .errors import BuildError, EngineUnavailableError, NotFoundError

ENGINE_HINT = (
    "start a Docker engine (Debian: `bash scripts/services.sh`, or Docker Desktop) "
    "or set DOCKER_HOST to one that runs"
)


def engine_url() -> str:
    """DOCKER_HOST, else the current Docker context's endpoint, else the default socket."""
    if os.environ.get("DOCKER_HOST"):
        return os.environ["DOCKER_HOST"]
    config_dir = Path(os.environ.get("DOCKER_CONFIG", Path.home() / ".docker"))
    try:
        current = json.loads((config_dir / "config.json").read_text()).get("currentContext")
    except (OSError, ValueError):
        current = None
    if current and current != "default":
        meta = config_dir / "contexts" / "meta" / sha256(current.encode()).hexdigest()
        try:
            host = json.loads((meta / "meta.json").read_text())["Endpoints"]["docker"]["Host"]
            return str(host)
        except (OSError, ValueError, KeyError):
            pass
    return "unix:///var/run/docker.sock"


@lru_cache(maxsize=4)
def _client(url: str) -> docker.DockerClient:
    try:
        cli = docker.DockerClient(base_url=url, timeout=600)
        cli.ping()
    except Exception as exc:  # any transport failure means the same thing to a user
        raise EngineUnavailableError(
            f"no Docker engine answers at {url}", hint=ENGINE_HINT
        ) from exc
    return cli


def client() -> docker.DockerClient:
    """A connected client, or EngineUnavailableError with the fix."""
    return _client(engine_url())


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
    """Chain IDs of every layer the engine already holds (through its images)."""
    known: set[str] = set()
    for image in client().images.list(all=True):
        layers = image.attrs.get("RootFS", {}).get("Layers") or []
        known.update(chain_ids(layers))
    return known


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
    return loaded


def save_layers(ref: str, dest: Path) -> list[Path]:
    """Export an image's layer tars (for a full archive when the engine lacks them)."""
    import tarfile
    import tempfile

    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile() as tmp:
        for chunk in require_image(ref).save(named=False):
            tmp.write(chunk)
        tmp.seek(0)
        with tarfile.open(fileobj=tmp) as tar:
            manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
            paths = []
            for i, name in enumerate(manifest[0]["Layers"]):
                out = dest / f"{i}.tar"
                with tar.extractfile(name) as src, open(out, "wb") as dst:  # type: ignore[union-attr]
                    while block := src.read(1 << 20):
                        dst.write(block)
                paths.append(out)
    return paths


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
        container.start()
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
