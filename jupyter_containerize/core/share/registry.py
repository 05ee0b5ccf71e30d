"""Push, pull and login: images shared through a team registry.

Credentials come only from the Docker credential configuration (``$DOCKER_CONFIG`` or
``~/.docker/config.json``, with its ``credsStore`` / ``credHelpers``), read through the Docker
SDK. They are passed to the engine per call and never logged, printed or stored by us;
``login`` stores them exactly where ``docker login`` does.
"""

from __future__ import annotations

import base64
import json
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

import docker.auth
import docker.credentials
import docker.errors

from .. import labels
from ..config import load_config
from ..engine import client as engine
from ..errors import ContainerizeError, ImageReferenceError, NotFoundError, RegistryError
from ..progress import Event, Reporter

Progress = Callable[[Any], None]
REFERENCE_HINT = "use lowercase letters, digits and . _ - separators, e.g. HOST:5000/team/model"


# ---------------------------------------------------------------- names and credentials


def registry_setting(registry: str | None) -> str:
    """The registry to use: the argument, else the configuration, else an error with the fix."""
    value = (registry or load_config().registry
             or os.environ.get("JUPYTER_CONTAINERIZE_REGISTRY", "")).strip().rstrip("/")
    if not value:
        raise RegistryError("no registry given",
                            hint="pass --registry HOST[:PORT][/NAMESPACE] or set "
                                 "ContainerizeConfig.registry")
    return value.split("://", 1)[-1]


def registry_host(registry: str) -> str:
    """``host[:port]`` of ``host[:port][/namespace]`` or of an image reference."""
    return registry.split("://", 1)[-1].split("/", 1)[0]


def host_of(ref: str) -> str | None:
    """The registry host an image reference names, or None (a local name)."""
    first, _, rest = ref.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first
    return None


def check_reference(ref: str) -> tuple[str, str | None, str | None]:
    """(repository, tag, digest) or ImageReferenceError with the rule."""
    try:
        return labels.split_reference(ref)
    except ValueError as exc:
        raise ImageReferenceError(f"{ref!r} is not a valid image reference: {exc}",
                                  hint=REFERENCE_HINT) from exc


def credentials(host: str) -> dict[str, str] | None:
    """The Docker credential configuration's entry for ``host`` (helpers included), or None."""
    try:
        config = docker.auth.load_config()
        found = docker.auth.resolve_authconfig(config, host)
    except (docker.errors.DockerException, docker.credentials.StoreError) as exc:
        raise RegistryError(f"could not read Docker credentials for {host}: {exc}",
                            hint="check the credential helper named in ~/.docker/config.json"
                            ) from exc
    if not found:
        return None
    keep = ("username", "password", "identitytoken", "registrytoken", "serveraddress")
    return {k.lower(): v for k, v in found.items() if k.lower() in keep and v}


def login_hint(host: str) -> str:
    return f"run `jupyter containerize login {host}`"


def classify(text: str, host: str, ref: str = "") -> ContainerizeError:
    """One error with its fix from what an engine or registry said."""
    low = text.lower()
    if any(s in low for s in ("connection refused", "no such host", "connection reset",
                              "i/o timeout", "dial tcp", "max retries exceeded")):
        return RegistryError(f"cannot reach the registry at {host}",
                             hint=f"is the registry running at {host}?")
    if "unauthorized" in low or "authentication required" in low or "incorrect username" in low \
            or "no basic auth credentials" in low or "denied" in low:
        return RegistryError(f"the registry {host} refused the credentials",
                             hint=login_hint(host))
    if "name_invalid" in low or "invalid reference" in low or "name invalid" in low \
            or "invalid repository name" in low:
        return ImageReferenceError(f"the registry {host} refuses the name {ref or '?'}",
                                   hint=REFERENCE_HINT)
    if "manifest unknown" in low or "not found" in low or "name_unknown" in low:
        return NotFoundError(f"{ref or 'the image'} is not in the registry {host}",
                             hint=f"push it first, or list what there is with "
                                  f"`jupyter containerize images --registry {host}`")
    first = " ".join(text.split())[:300]
    return RegistryError(f"the registry {host} answered: {first}", hint="see the message")


# ---------------------------------------------------------------- push


def push_target(name: str, registry: str, tag_hint: str | None) -> tuple[str, str]:
    """(repository in the registry, tag) the local image ``name`` is pushed as."""
    registry = registry.rstrip("/")
    repo, tag, _digest = check_reference(name)
    if repo.startswith(registry + "/"):
        target = repo
    else:
        path = repo.split("/", 1)[1] if host_of(repo) else repo
        target = f"{registry}/{path}"
    tag = tag or tag_hint or "latest"
    check_reference(f"{target}:{tag}")
    return target, tag


def _local_name(image: str, tags: list[str]) -> str:
    """A name to push under: the one given, or the image's first tag when given an ID."""
    if not re.fullmatch(r"(sha256:)?[0-9a-f]{12,64}", image):
        return image
    if not tags:
        raise ImageReferenceError(f"image {image} has no name to push it under",
                                  hint="tag it (docker tag) or push it by its name")
    return tags[0]


def push(image: str, registry: str | None = None, progress: Progress | None = None) -> str:
    """Push ``image`` into the registry's namespace; returns ``repo@sha256:...``.

    The bytes go from our own store straight to the registry (core.publish): blobs the
    registry holds are not sent again, and an image whose layers are incomplete in the
    engine is never pushed. The local image is tagged with the pushed name too.
    """
    from .publish import image_parts, push_parts

    reg = registry_setting(registry) if (registry or not host_of(image)) else registry_host(image)
    local = engine.get_image(image)
    if local is None:
        raise NotFoundError(f"image {image} is not in the engine",
                            hint="build it first, or pull it")
    name = _local_name(image, list(local.tags))
    target, tag = push_target(name, reg, (local.labels or {}).get(labels.OCI_VERSION))
    parts = image_parts(image)
    digest = push_parts(parts, target, tag, progress)
    try:
        local.tag(target, tag)
    except docker.errors.APIError:
        pass  # the push stands; only the local alias is missing
    return f"{target}@{digest}"


def _follow(stream: Iterable[dict[str, Any]], rep: Reporter, verb: str, host: str,
            ref: str) -> tuple[dict[str, int], str | None]:
    """Read an engine push/pull stream: counts per outcome, the digest, errors raised."""
    layers: dict[str, str] = {}
    digest = None
    for chunk in stream:
        if "error" in chunk:
            detail = chunk.get("errorDetail", {}).get("message") or chunk["error"]
            raise classify(str(detail), host, ref)
        aux = chunk.get("aux") or {}
        if aux.get("Digest"):
            digest = aux["Digest"]
        status = str(chunk.get("status", ""))
        found = re.search(r"Digest: (sha256:[0-9a-f]{64})", status)
        if found:
            digest = found.group(1)
        layer = chunk.get("id")
        if not layer or not re.fullmatch(r"[0-9a-f]{12,64}", str(layer)):
            continue
        before = layers.get(layer)
        layers[layer] = _outcome(status, before)
        if layers[layer] != before and layers[layer] in ("pushed", "exists", "pulled", "mounted"):
            done = sum(v in ("pushed", "exists", "pulled", "mounted") for v in layers.values())
            rep.progress(verb, done, max(done, len(layers)), f"{layer} {status.lower()}")
    counts = {k: sum(v == k for v in layers.values())
              for k in ("pushed", "exists", "pulled", "mounted")}
    counts["layers"] = len(layers)
    return counts, digest


def _outcome(status: str, before: str | None) -> str:
    low = status.lower()
    if "already exists" in low:
        return "exists"
    if low.startswith("mounted from"):
        return "mounted"
    if low == "pushed":
        return "pushed"
    if low in ("pull complete", "download complete") and before != "exists":
        return "pulled"
    return before or "pending"


def _summary(rep: Reporter, verb: str, stats: dict[str, int], seconds: float,
             pinned: str) -> None:
    sent = stats["pushed"] if verb == "push" else stats["pulled"]
    word = "sent" if verb == "push" else "downloaded"
    message = (f"{verb}: {stats['layers']} layers, {sent} {word}, "
               f"{stats['exists'] + stats['mounted']} layer exists, {seconds:.1f}s; {pinned}")
    rep.emit(Event("log", message, phase=verb,
                   data={**stats, "seconds": round(seconds, 3), "reference": pinned}))


# ---------------------------------------------------------------- pull


def pull(ref: str, progress: Progress | None = None) -> str:
    """Pull ``ref`` into the engine; returns it pinned as ``repo@sha256:...``."""
    rep = Reporter(progress)
    repo, tag, digest = check_reference(ref)
    host = host_of(repo) or docker.auth.INDEX_NAME
    rep.emit(Event("phase", f"pulling {ref}", phase="pull"))
    started = time.perf_counter()
    try:
        stream = engine.client().api.pull(repo, tag=digest or tag or "latest", stream=True,
                                          decode=True, auth_config=credentials(host) or {})
        stats, got = _follow(stream, rep, "pull", host, ref)
    except docker.errors.APIError as exc:
        raise classify(str(exc.explanation or exc), host, ref) from exc
    except docker.errors.DockerException as exc:
        raise classify(str(exc), host, ref) from exc
    pinned = f"{repo}@{digest or got}" if (digest or got) else _pinned_from_engine(ref, repo)
    _summary(rep, "pull", stats, time.perf_counter() - started, pinned)
    return pinned


def _pinned_from_engine(ref: str, repo: str) -> str:
    image = engine.require_image(ref)
    for item in image.attrs.get("RepoDigests") or []:
        if item.startswith(repo + "@"):
            return str(item)
    raise RegistryError(f"the engine knows no registry digest for {ref}",
                        hint="pull it by digest (REPO@sha256:...)")


# ---------------------------------------------------------------- login


def docker_config_path() -> Path:
    """Where Docker keeps its configuration (and where ``docker login`` writes)."""
    root = os.environ.get("DOCKER_CONFIG") or str(Path.home() / ".docker")
    return Path(root) / "config.json"


def login(registry: str, username: str, password_stdin: str | IO[str]) -> str:
    """``docker login HOST --username U --password-stdin``: the registry itself checks the
    credentials (basic, or its token service), so it works with no engine, as in a pod; they
    are stored where Docker stores them (a credential helper when one is configured)."""
    from .distribution import RegistryClient

    host = registry_host(registry)
    password = password_stdin if isinstance(password_stdin, str) else password_stdin.read()
    password = password.rstrip("\r\n")
    if not username or not password:
        raise RegistryError("login needs a username and a password on stdin",
                            hint=f"echo \"$TOKEN\" | jupyter containerize login {host} "
                                 "--username USER --password-stdin")
    client = RegistryClient(host, auth={"username": username, "password": password})
    client.request("GET", "/v2/")  # 401 (refused credentials) or unreachable: one line
    _store_login(host, username, password)
    return f"Login Succeeded ({username} at {host})"


def _store_login(host: str, username: str, password: str) -> None:
    path = docker_config_path()
    try:
        config = json.loads(path.read_text()) if path.exists() else {}
    except ValueError as exc:
        raise RegistryError(f"{path} is not valid JSON", hint="fix or move it, then log in"
                            ) from exc
    helper = (config.get("credHelpers") or {}).get(host) or config.get("credsStore")
    if helper:
        try:
            docker.credentials.Store(helper).store(server=host, username=username,
                                                   secret=password)
        except docker.credentials.StoreError as exc:
            raise RegistryError(f"the credential helper docker-credential-{helper} failed",
                                hint="check that it is installed and unlocked") from exc
        config.setdefault("auths", {})[host] = {}
    else:
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        config.setdefault("auths", {})[host] = {"auth": token}
    _write_private(path, json.dumps(config, indent="\t") + "\n")


def _write_private(path: Path, text: str) -> None:
    """Write a file readable only by its owner, atomically (as the docker CLI does)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".config.json.")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
