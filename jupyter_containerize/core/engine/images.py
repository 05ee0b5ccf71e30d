"""Images in an engine by name and label: find, pull, import a root filesystem, probe with a
throwaway container, remove; what containers and services use; the engine's disk accounting.

Each function takes the engine's client where a caller may work on an engine of its own (a
test's, a second engine), else uses :func:`~.client.client`. Absence is ``None`` or ``False``;
every other failure is one of our errors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import docker
import docker.errors
from docker.models.images import Image

from ..errors import BuildError, ContainerizeError, NotFoundError
from . import client as engine


def find(client: docker.DockerClient, reference: str) -> Image | None:
    """The image ``reference`` names in that engine, or None."""
    try:
        return client.images.get(reference)
    except docker.errors.ImageNotFound:
        return None
    except docker.errors.APIError as exc:
        if exc.status_code == 404:
            return None
        raise ContainerizeError(f"the engine could not look up {reference}: {exc.explanation}",
                                hint="see the engine's log") from exc


def pull(client: docker.DockerClient, reference: str) -> Image:
    """Pull ``repository:tag``; NotFoundError when no registry gives it."""
    repository, tag = reference.rsplit(":", 1)
    try:
        return client.images.pull(repository, tag=tag)
    except docker.errors.APIError as exc:
        raise NotFoundError(f"{reference} cannot be pulled: {exc.explanation}",
                            hint="check the name and that its registry answers") from exc
    except engine.CONNECTION_ERRORS as exc:
        raise NotFoundError(f"pulling {reference} broke off: {exc}",
                            hint="check that the engine and the registry answer") from exc


def labelled(client: docker.DockerClient, label: str) -> list[Image]:
    """The images carrying ``label`` (``key`` or ``key=value``); one another process removes
    while they are listed is left out."""
    for _ in range(4):
        try:
            return list(client.images.list(filters={"label": label}))
        except docker.errors.ImageNotFound:
            continue  # removed between the listing and its details: list again
    return list(client.images.list(filters={"label": label}))


def run_output(client: docker.DockerClient, image_id: str, entrypoint: list[str],
               labels: dict[str, str]) -> str:
    """What a throwaway container of ``image_id`` (no network) prints on stdout running
    ``entrypoint``; BuildError when it does not start or exits non-zero."""
    try:
        out = client.containers.run(image_id, entrypoint=entrypoint, remove=True,
                                    network_disabled=True, labels=labels)
    except (docker.errors.ContainerError, docker.errors.APIError) as exc:
        raise BuildError(f"{' '.join(entrypoint[:1])} failed in {image_id[:19]}: {exc}",
                         hint="see the engine's message") from exc
    return bytes(out).decode("utf-8", "replace")


def import_rootfs(client: docker.DockerClient, tar: Path, reference: str,
                  changes: list[str]) -> Image:
    """``docker import`` of a root filesystem tar as ``reference``, with Dockerfile
    ``changes`` (LABEL, ENV, CMD) applied; BuildError when the engine makes no image."""
    repository, tag = reference.rsplit(":", 1)
    try:
        client.api.import_image_from_file(str(tar), repository=repository, tag=tag,
                                          changes=changes)
    except docker.errors.APIError as exc:
        raise BuildError(f"docker import of {reference} failed: {exc.explanation}",
                         hint="see the engine's log") from exc
    image = find(client, reference)
    if image is None:
        raise BuildError(f"docker import of {reference} failed", hint="see the engine's log")
    return image


def remove(name: str) -> bool:
    """Remove the image (tag or ID) from the selected engine, pruning its untagged parents;
    False when it was gone already, ContainerizeError when the engine refuses."""
    try:
        engine.client().images.remove(name, noprune=False)
    except docker.errors.APIError as exc:
        if exc.status_code == 404:
            return False
        raise ContainerizeError(f"the engine kept {name}: {exc.explanation}",
                                hint="see which container or image still needs it",
                                reason=str(exc.explanation)) from exc
    return True


def remove_quietly(name: str) -> None:
    """Remove the image if the engine lets us; a refusal or a dropped engine is ignored (a
    later prune finds what is left)."""
    try:
        engine.client().images.remove(name, noprune=False)
    except (docker.errors.APIError, *engine.CONNECTION_ERRORS):
        return


def in_use() -> set[str]:
    """Image IDs any container (running or not) or swarm service of the engine uses."""
    cli = engine.client()
    used = {str(c.attrs.get("Image", "")) for c in cli.containers.list(all=True)}
    try:
        services = cli.services.list()
    except docker.errors.APIError:  # not a swarm manager: no deployments there
        services = []
    for service in services:
        spec = service.attrs.get("Spec", {}).get("TaskTemplate", {}).get("ContainerSpec", {})
        image = engine.get_image(str(spec.get("Image", "")).split("@")[0]) if spec else None
        if image is not None:
            used.add(str(image.id))
    return used


def disk_usage() -> dict[str, Any]:
    """``docker system df`` as the engine answers it; empty when it does not."""
    try:
        return dict(engine.client().df())
    except docker.errors.APIError:
        return {}

