"""`serve --replicas N` on a Docker Swarm manager: a service, rolling updates, rollback.

Without the ingress mesh (no IPVS in the kernel) each replica publishes the serving port on a
host port of its own (``mode=host``, no fixed port); the URLs are read from the tasks'
containers. Updates replace one replica at a time, starting the new one first and moving on
once its health check passes; a failing update rolls back by itself.
"""

from __future__ import annotations

import time
from typing import Any

from .. import labels as labels_mod
from ..engine import client as engine
from ..engine import containers, services
from ..engine.containers import Container
from ..engine.services import SERVICE_LABEL, Service, ServiceSpec
from ..errors import ContainerizeError, NotFoundError, RunError
from . import admintoken
from .pod import DeploySpec, container_name, served_sha, url_for
from .result import ServeResult
from .serveimage import _HEALTH, DEPLOYMENT, MODEL_NAME, PORT, ROLE_SERVING


def _active() -> bool:
    return services.swarm_info().get("LocalNodeState") == "active"


def _service(name: str) -> Service | None:
    svc = services.get(container_name(name))
    if svc is None:
        return None
    return svc if (svc.attrs["Spec"].get("Labels") or {}).get(DEPLOYMENT) == name else None


def _service_spec(spec: DeploySpec, replicas: int) -> ServiceSpec:
    labels = {k: v for k, v in spec.container_labels(0).items() if "deployment." not in k}
    return ServiceSpec(
        image=spec.image.reference, name=container_name(spec.name), labels=labels,
        # a service's replicas may run on other nodes: the admin token travels in the spec
        env=[f"{k}={v}" for k, v in spec.environment().items()]
        + [f"{admintoken.ENV_VALUE}={spec.admin_token}"],
        replicas=replicas, port=PORT,
        health=["CMD", "/opt/env/bin/python", "-c", _HEALTH],
        start_period=spec.cfg.ready_timeout,
    )


def deploy_service(spec: DeploySpec, replicas: int) -> ServeResult:
    """Create the service, or roll it to the new image one replica at a time."""
    if replicas < 1:
        raise ContainerizeError(f"--replicas {replicas} is not a count", hint="use 1 or more")
    if not services.is_manager():
        raise ContainerizeError(
            "--replicas needs a Docker Swarm manager, and this engine is not one",
            hint="run `docker swarm init` (or point DOCKER_HOST at a manager), or omit "
            "--replicas for a single container",
        )
    svc = _service(spec.name)
    before = (svc.attrs.get("UpdateStatus") or {}) if svc is not None else {}
    spec.admin_token = admintoken.ensure(spec.name) if svc is not None else \
        admintoken.create(spec.name)
    with spec.rep.phase("swarm"):
        svc = services.apply(svc, _service_spec(spec, replicas))
        image_id = engine.require_image(spec.image.reference).id
        found = converge(spec.name, image_id, replicas, spec.cfg.ready_timeout * 2, before)
    urls = [replica_url(c) for c in found]
    _wait_models(urls, spec.model_name, spec.image.model.sha256, spec.token,
                 spec.cfg.ready_timeout)
    spec.rep.log(f"{replicas} replicas ready: {', '.join(urls)}")
    return ServeResult(
        name=spec.name, image=spec.image.reference, url=urls[0], container="",
        model_sha256=spec.image.model.sha256, flavor=spec.image.model.flavor,
        status="running", replicas=replicas, image_cached=spec.image.cached, urls=urls,
    )


def replicas_of(name: str) -> list[Container]:
    return containers.listed([f"{SERVICE_LABEL}={container_name(name)}"], running_only=True)


def replica_url(container: Container) -> str:
    port = containers.published_port(container, PORT)
    if port is None:
        raise RunError(f"replica {container.name} publishes no port")
    return url_for("0.0.0.0", port)


def _state(svc: Service) -> tuple[str, str]:
    status = svc.attrs.get("UpdateStatus") or {}
    return str(status.get("State", "")), str(status.get("Message", ""))


FAILED = ("rollback_started", "rollback_completed", "paused", "rollback_paused")


def converge(
    name: str, image_id: str, replicas: int, timeout: float, before: dict[str, Any]
) -> list[Container]:
    """Wait until ``replicas`` healthy containers run ``image_id`` and no update is running.

    ``before`` is the service's update status before this change: a rollback reported after
    it means this update failed."""
    deadline = time.monotonic() + timeout
    svc = _service(name)
    while svc is not None and time.monotonic() < deadline:
        services.reload(svc)
        state, message = _state(svc)
        if state in FAILED and (svc.attrs.get("UpdateStatus") or {}) != before:
            raise RunError(
                f"the update of {name} failed and was rolled back: {message}",
                hint=f"see `docker service ps {container_name(name)} --no-trunc`",
            )
        ready = [c for c in replicas_of(name) if c.attrs.get("Image") == image_id
                 and (c.attrs["State"].get("Health") or {}).get("Status") == "healthy"]
        others = [c for c in replicas_of(name) if c.attrs.get("Image") != image_id]
        if len(ready) >= replicas and not others and state not in ("updating",):
            return sorted(ready, key=lambda c: c.name)
        time.sleep(0.25)
    raise RunError(
        f"the service {container_name(name)} did not reach {replicas} ready replicas "
        f"in {timeout:.0f} s: {_task_errors(name)}",
        hint=f"see `docker service ps {container_name(name)} --no-trunc`",
    )


def _task_errors(name: str) -> str:
    svc = _service(name)
    if svc is None:
        return "the service is gone"
    errors = services.task_errors(svc)
    return errors[-1] if errors else "no task error reported"


def _wait_models(urls: list[str], model: str, sha: str, token: str | None, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = list(urls)
    while pending and time.monotonic() < deadline:
        pending = [u for u in pending if served_sha(u, model, token) != sha]
        if pending:
            time.sleep(0.2)
    if pending:
        raise RunError(f"replicas at {', '.join(pending)} do not serve model {sha[:12]}")


def rollback(name: str, timeout: float = 120.0) -> ServeResult:
    """Return the service to its previous spec (the previous model), replica by replica."""
    svc = _service(name)
    if svc is None:
        raise NotFoundError(f"no swarm deployment named {name!r}",
                            hint="see `jupyter containerize deployments`")
    previous = svc.attrs.get("PreviousSpec")
    if not previous:
        raise ContainerizeError(f"{name} has no previous version to roll back to")
    services.rollback(svc)
    image = previous["TaskTemplate"]["ContainerSpec"]["Image"].split("@")[0]
    replicas = int(previous.get("Mode", {}).get("Replicas", {}).get("Replicas", 1))
    image_id = engine.require_image(image).id
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        services.reload(svc)
        if _state(svc)[0] == "rollback_completed":
            break
        time.sleep(0.25)
    found = converge_after_rollback(name, image_id, replicas, deadline)
    urls = [replica_url(c) for c in found]
    sha = engine.require_image(image).labels.get(labels_mod.MODEL_SHA256, "")
    labels = previous.get("Labels") or {}
    _wait_models(urls, labels.get(MODEL_NAME, name), sha, None, timeout)
    return ServeResult(name=name, image=image, url=urls[0], model_sha256=sha,
                       status="running", replicas=replicas, urls=urls)


def converge_after_rollback(
    name: str, image_id: str, replicas: int, deadline: float
) -> list[Container]:
    while time.monotonic() < deadline:
        ready = [c for c in replicas_of(name) if c.attrs.get("Image") == image_id
                 and (c.attrs["State"].get("Health") or {}).get("Status") == "healthy"]
        if len(ready) >= replicas and len(replicas_of(name)) == len(ready):
            return sorted(ready, key=lambda c: c.name)
        time.sleep(0.25)
    raise RunError(f"the rollback of {name} did not finish in time: {_task_errors(name)}")


def remove_service(name: str) -> bool:
    if not _active():
        return False
    svc = _service(name)
    if svc is None:
        return False
    services.remove(svc)
    return True


def list_services() -> list[ServeResult]:
    if not _active() or not services.is_manager():
        return []
    out = []
    for svc in services.listed([f"{labels_mod.MANAGED}=true",
                                f"{labels_mod.ROLE}={ROLE_SERVING}"]):
        spec = svc.attrs["Spec"]
        labels = spec.get("Labels") or {}
        name = labels.get(DEPLOYMENT, svc.name)
        urls = [replica_url(c) for c in replicas_of(name)]
        shas = sorted({served_sha(u, labels.get(MODEL_NAME, name)) for u in urls})
        want = int(spec.get("Mode", {}).get("Replicas", {}).get("Replicas", 0))
        state = _state(svc)[0]
        out.append(ServeResult(
            name=name, image=spec["TaskTemplate"]["ContainerSpec"]["Image"].split("@")[0],
            url=urls[0] if urls else "", model_sha256=",".join(s for s in shas if s),
            flavor=labels.get(labels_mod.MODEL_FLAVOR, ""), replicas=want, urls=urls,
            status=f"swarm {len(urls)}/{want} running" + (f", {state}" if state else ""),
        ))
    return out
