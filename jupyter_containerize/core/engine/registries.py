"""The engine's side of registries: its pulls, its local tags, the hosts it trusts without TLS.

What the engine says when a pull fails is handed to the caller's ``refused`` (which words it
as one error with its fix); no ``docker`` error leaves this module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import docker.errors

from ..errors import ContainerizeError
from . import client as engine


def pull(repository: str, ref: str, auth: dict[str, str],
         refused: Callable[[str], ContainerizeError]) -> Iterator[dict[str, Any]]:
    """The engine's progress stream of pulling ``repository:ref`` (or ``@digest``)."""
    try:
        yield from engine.client().api.pull(repository, tag=ref, stream=True, decode=True,
                                            auth_config=auth)
    except docker.errors.APIError as exc:
        raise refused(str(exc.explanation or exc)) from exc
    except docker.errors.DockerException as exc:
        raise refused(str(exc)) from exc


def tag(image_id: str, repository: str, tag_: str) -> bool:
    """Tag the engine's image ``repository:tag_``; False when the engine refuses."""
    try:
        return bool(engine.client().images.get(image_id).tag(repository, tag_))
    except docker.errors.APIError:
        return False


def insecure_registries() -> set[str]:
    """The engine's ``insecure-registries`` (its CIDR entries are not matched by name); none
    when no engine answers."""
    try:
        info = engine.client().info()
    except ContainerizeError:
        return set()  # no engine: the configuration alone decides
    configs = (info.get("RegistryConfig") or {}).get("IndexConfigs") or {}
    return {name for name, c in configs.items() if not c.get("Secure", True)}
