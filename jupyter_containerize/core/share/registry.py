"""Push, pull and login: images shared through a team registry.

Credentials come only from the Docker credential configuration (``$DOCKER_CONFIG`` or
``~/.docker/config.json``, with its ``credsStore`` / ``credHelpers``; see
:mod:`~jupyter_containerize.core.oci.credentials`). They are passed to the engine per call and
never logged, printed or stored by us; ``login`` stores them exactly where ``docker login``
does.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable
from typing import IO, Any

from .. import labels
from ..config import ContainerizeConfig, resolve
from ..engine import client as engine
from ..engine import registries
from ..errors import ImageReferenceError, NotFoundError, RegistryError
from ..oci.client import RegistryClient
from ..oci.credentials import credentials, store_login
from ..oci.reference import (
    INDEX_NAME,
    check_reference,
    classify,
    host_of,
    registry_host,
)
from ..progress import Event, Reporter
from .signing import check_signing_key, sign_pushed, verify_image

Progress = Callable[[Any], None]


# ---------------------------------------------------------------- names and credentials


def registry_setting(registry: str | None, config: ContainerizeConfig | None = None) -> str:
    """The registry to use: the argument, else the configuration, else an error with the fix."""
    value = (registry or resolve(config).registry
             or os.environ.get("JUPYTER_CONTAINERIZE_REGISTRY", "")).strip().rstrip("/")
    if not value:
        raise RegistryError("no registry given",
                            hint="pass --registry HOST[:PORT][/NAMESPACE] or set "
                                 "ContainerizeConfig.registry")
    return value.split("://", 1)[-1]


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


def push(image: str, registry: str | None = None, progress: Progress | None = None, *,
         config: ContainerizeConfig | None = None) -> str:
    """Push ``image`` into the registry's namespace; returns ``repo@sha256:...``.

    The bytes go from our own store straight to the registry (``image.push``): blobs the
    registry holds are not sent again, and an image whose layers are incomplete in the
    engine is never pushed. The local image is tagged with the pushed name too.
    """
    from ..engine.parts import image_parts
    from ..image.push import push_parts

    cfg = resolve(config)
    reg = (registry_setting(registry, cfg) if (registry or not host_of(image))
           else registry_host(image))
    local = engine.get_image(image)
    if local is None:
        raise NotFoundError(f"image {image} is not in the engine",
                            hint="build it first, or pull it")
    name = _local_name(image, list(local.tags))
    target, tag = push_target(name, reg, (local.labels or {}).get(labels.OCI_VERSION))
    check_signing_key(cfg)  # a key that cannot sign stops the push before anything is sent
    parts = image_parts(image)
    digest = push_parts(parts, target, tag, progress, config=cfg)
    registries.tag(str(local.id), target, tag)  # when refused, only the local alias is missing
    sign_pushed([str(local.id)], target, tag, digest, progress=progress, config=cfg)
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


def pull(ref: str, progress: Progress | None = None, *, verify: bool | None = None,
         config: ContainerizeConfig | None = None) -> str:
    """Pull ``ref`` into the engine; returns it pinned as ``repo@sha256:...``. The engine
    decides trust (its own insecure registries); ``config`` is taken like every stage's entry
    takes it. With ``verify`` (or ``require_signed``) the registry's image is checked for a
    trusted signature first, and the pulled one must be that very digest."""
    rep = Reporter(progress)
    repo, tag, digest = check_reference(ref)
    host = host_of(repo) or INDEX_NAME
    checked = verify_image(ref, verify=verify, prefer_engine=False, config=config)
    if checked is not None:
        rep.emit(Event("log", f"pull: {ref} is signed by key {checked['keyid'][:16]} "
                              f"(checked in {checked['seconds']:.2f}s)", phase="pull",
                       data={k: v for k, v in checked.items() if k != "statement"}))
        digest = digest or checked["digest"]
    rep.emit(Event("phase", f"pulling {ref}", phase="pull"))
    started = time.perf_counter()
    stream = registries.pull(repo, digest or tag or "latest", credentials(host) or {},
                             lambda said: classify(said, host, ref))
    stats, got = _follow(stream, rep, "pull", host, ref)
    pinned = f"{repo}@{digest or got}" if (digest or got) else _pinned_from_engine(ref, repo)
    if checked is not None and tag:  # pulled by the checked digest: the tag names it here too
        registries.tag(str(engine.require_image(pinned).id), repo, tag)
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


def login(registry: str, username: str, password_stdin: str | IO[str], *,
          config: ContainerizeConfig | None = None) -> str:
    """``docker login HOST --username U --password-stdin``: the registry itself checks the
    credentials (basic, or its token service), so it works with no engine, as in a pod; they
    are stored where Docker stores them (a credential helper when one is configured)."""
    host = registry_host(registry)
    password = password_stdin if isinstance(password_stdin, str) else password_stdin.read()
    password = password.rstrip("\r\n")
    if not username or not password:
        raise RegistryError("login needs a username and a password on stdin",
                            hint=f"echo \"$TOKEN\" | jupyter containerize login {host} "
                                 "--username USER --password-stdin")
    client = RegistryClient(host, auth={"username": username, "password": password},
                            config=config, engine_insecure=registries.insecure_registries)
    client.request("GET", "/v2/")  # 401 (refused credentials) or unreachable: one line
    store_login(host, username, password)
    return f"Login Succeeded ({username} at {host})"
