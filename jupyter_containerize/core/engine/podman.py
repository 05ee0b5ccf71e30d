"""Podman's Docker-compatible API (``podman system service``): telling it from a Docker
engine, and saying in one line what it lacks where a verb needs something it does not do.

Build, run, serve (one container) and kernels work against it as against a Docker engine.
What it lacks: Docker Swarm (``serve --replicas``), device requests (``--gpus`` is accepted
and ignored by its API, so a run would silently get no GPU), and on some hosts a container
init binary (kernels start with ``init``) or limits it may ask for (rootful Podman asks each
container for 1048576 open files, above many hosts' hard limit).
"""

from __future__ import annotations

from typing import Any

from ..errors import ContainerizeError, RunError


def version_of(version: dict[str, Any]) -> str | None:
    """Podman's version from the engine's ``docker version`` answer; None for another engine."""
    for component in version.get("Components") or []:
        if str(component.get("Name", "")).lower().startswith("podman"):
            return str(component.get("Version") or version.get("Version") or "")
    return None


def refuse_replicas(version: str | None) -> None:
    """``--replicas`` makes a Docker Swarm service: Podman (``version``, None for another
    engine) has no Swarm."""
    if version is not None:
        raise ContainerizeError(
            f"the engine is Podman {version}, which has no Docker Swarm for --replicas",
            hint="omit --replicas for one container, or point DOCKER_HOST at a Docker engine "
            "that is a swarm manager",
        )


def refuse_gpus(version: str | None) -> None:
    """Podman's Docker API accepts device requests and ignores them: no GPU would be given."""
    if version is not None:
        raise RunError(
            f"the engine is Podman {version}, whose Docker API ignores --gpus (device "
            "requests): the container would run without a GPU",
            hint="drop --gpus, or use a Docker engine with the NVIDIA toolkit (Podman gives "
            "GPUs by CDI: `podman run --device nvidia.com/gpu=all`)",
        )


# what Podman or its runtime answers, and what it lacks then
_LACKS = (
    (("container-init binary not found", "catatonit"),
     "Podman has no container init binary (catatonit), which a kernel container needs",
     "install it (Debian: apt-get install catatonit), or set init_path in containers.conf"),
    (("error setting rlimit",),
     "Podman asks the container for more open files or processes than its service may have",
     'set default_ulimits = ["nofile=N:N", "nproc=N:N"] under [containers] in '
     "containers.conf, N at most the service's hard limits (ulimit -Hn, ulimit -Hu), and "
     "restart `podman system service`"),
)


def lacking(text: str) -> tuple[str, str] | None:
    """(what Podman lacks, what to do) for an engine message that says so, else None."""
    for needles, message, hint in _LACKS:
        if any(n in text for n in needles):
            return message, hint
    return None
