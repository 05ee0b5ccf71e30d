"""Docker Swarm services: the engine's swarm state, a replicated service created or rolled to
a new spec (one replica at a time, the new one first), rolled back, listed and removed.

Specs come in as plain data and are made into the engine's types here; a refusal is one of
our errors, absence is None.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import docker.errors
from docker.models.services import Service
from docker.types import EndpointSpec, Healthcheck, RollbackConfig, ServiceMode, UpdateConfig

from ..errors import RunError
from . import client as engine
from .containers import KEPT_LOGS

SECOND = 10**9
SERVICE_LABEL = "com.docker.swarm.service.name"  # what the swarm labels a task's container


@dataclass
class ServiceSpec:
    """What a replicated service runs: one image, one published port per replica."""

    image: str
    name: str
    labels: dict[str, str]
    env: list[str]
    replicas: int
    port: int  # published on a host port of each replica's own (mode=host)
    health: list[str]  # the health check's command
    start_period: float  # seconds a replica may take before its health counts
    extra: dict[str, Any] = field(default_factory=dict)

    def kwargs(self) -> dict[str, Any]:
        return {
            "image": self.image, "name": self.name, "labels": self.labels,
            "container_labels": self.labels, "env": self.env,
            "log_driver": KEPT_LOGS.type, "log_driver_options": dict(KEPT_LOGS.config),
            "mode": ServiceMode("replicated", replicas=self.replicas),
            "endpoint_spec": EndpointSpec(
                ports=[{"Protocol": "tcp", "TargetPort": self.port, "PublishMode": "host"}]
            ),
            "healthcheck": Healthcheck(
                test=self.health, interval=SECOND, timeout=3 * SECOND, retries=3,
                start_period=int(self.start_period * SECOND),
            ),
            "update_config": UpdateConfig(
                parallelism=1, delay=0, order="start-first", failure_action="rollback",
                monitor=2 * SECOND,
            ),
            "rollback_config": RollbackConfig(
                parallelism=1, delay=0, order="start-first", failure_action="pause"
            ),
            **self.extra,
        }


def swarm_info() -> dict[str, Any]:
    """The engine's ``Swarm`` section of ``docker info``."""
    return dict(engine.client().info().get("Swarm") or {})


def get(name: str) -> Service | None:
    """The service ``name``; None when there is none or this engine is not a manager."""
    try:
        return engine.client().services.get(name)
    except docker.errors.APIError:  # not found, or not a swarm manager
        return None


def apply(existing: Service | None, spec: ServiceSpec) -> Service:
    """Create the service, or update ``existing`` to ``spec`` (a rolling update)."""
    kwargs = spec.kwargs()
    try:
        if existing is None:
            return engine.client().services.create(**kwargs)
        kwargs.pop("name")
        existing.update(**kwargs)
        return existing
    except docker.errors.APIError as exc:
        raise RunError(f"the swarm refused the service: {exc.explanation}") from exc


def reload(service: Service) -> None:
    service.reload()


def task_errors(service: Service) -> list[str]:
    """What the service's tasks reported as their errors, oldest first."""
    return [t["Status"].get("Err", "") for t in service.tasks() if t["Status"].get("Err")]


def rollback(service: Service) -> None:
    """``docker service rollback``: the previous spec, replica by replica."""
    api = engine.client().api
    answer = api._post_json(  # the SDK has no rollback call
        api._url("/services/{0}/update", service.id), data=service.attrs["Spec"],
        params={"version": service.version, "rollback": "previous"},
    )
    try:
        api._raise_for_status(answer)
    except docker.errors.APIError as exc:
        raise RunError(f"the swarm refused the rollback: {exc.explanation}") from exc


def remove(service: Service) -> None:
    try:
        service.remove()
    except docker.errors.NotFound:
        pass


def listed(label_filters: list[str]) -> list[Service]:
    return list(engine.client().services.list(filters={"label": label_filters}))
