"""Docker Swarm services: the engine's swarm state, a replicated service created or rolled to
a new spec (one replica at a time, the new one first), rolled back, listed and removed.

Specs come in as plain data and are made into the engine's types here; a refusal is one of
our errors, absence is None.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import docker.errors
from docker.models.services import Service
from docker.types import (
    EndpointSpec,
    Healthcheck,
    Mount,
    Resources,
    RestartPolicy,
    RollbackConfig,
    ServiceMode,
    UpdateConfig,
)

from ..errors import RunError
from . import client as engine
from . import containers
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


def is_manager() -> bool:
    """Whether this engine is a swarm manager (services and jobs can be created here)."""
    return bool(swarm_info().get("ControlAvailable"))


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


# a job's task states that are final: it ran to an end, or never could
ENDED = ("complete", "failed", "rejected", "shutdown", "orphaned", "remove")


def create_job(image: str, name: str, command: list[str], *, labels: dict[str, str],
               env: dict[str, str], mounts: list[Mount], constraints: list[str],
               cpus: float | None = None, memory: int | None = None,
               grace: float = 10.0) -> Service:
    """A replicated job: one task that runs ``command`` once, never restarted."""
    resources = None
    if cpus or memory:
        resources = Resources(cpu_limit=int(cpus * 1e9) if cpus else None,
                              mem_limit=memory or None)
    try:
        return engine.client().services.create(
            image, command, name=name, labels=labels, container_labels=labels,
            env=[f"{k}={v}" for k, v in env.items()], mounts=mounts,
            constraints=constraints or None, resources=resources,
            mode=ServiceMode("replicated-job", replicas=1, concurrency=1),
            restart_policy=RestartPolicy(condition="none"),
            stop_grace_period=int(grace * SECOND),
            log_driver=KEPT_LOGS.type, log_driver_options=dict(KEPT_LOGS.config))
    except docker.errors.APIError as exc:
        raise RunError(f"the swarm refused the job {name}: {exc.explanation}",
                       hint="check that this engine is a swarm manager (docker info)") from exc


def job_task(service: Service) -> dict[str, Any] | None:
    """The job's task as the swarm reports it: ``state``, ``exit`` (its exit code, when it
    ran), ``error`` and ``container`` (its ID, once made); None before the swarm made one."""
    try:
        tasks = service.tasks()
    except docker.errors.APIError:
        return None
    if not tasks:
        return None
    status = tasks[-1].get("Status") or {}
    container = status.get("ContainerStatus") or {}
    return {"state": status.get("State", ""), "exit": container.get("ExitCode"),
            "error": status.get("Err") or "", "message": status.get("Message") or "",
            "container": container.get("ContainerID") or ""}


def follow_job_logs(service: Service, on_line: Callable[[str], None]) -> threading.Thread:
    """Stream the job's output line by line to ``on_line`` (a daemon thread; the swarm's
    stream may go on after the task ended)."""
    return containers.pump_lines(
        lambda: service.logs(follow=True, stdout=True, stderr=True), on_line,
        f"logs-{service.name}")


def _task_containers(service: Service) -> list[containers.Container]:
    return containers.listed([f"com.docker.swarm.service.id={service.id}"])


def stop_job(service: Service, grace: float) -> None:
    """Stop the job's task: SIGTERM, SIGKILL after ``grace`` seconds (removing a job does not
    stop a task that still runs)."""
    for container in _task_containers(service):
        containers.stop(container, grace)


def remove_job(service: Service) -> None:
    """Remove the job and its task's container on this node (the swarm keeps a finished
    job's containers after the job is gone)."""
    remove(service)
    for container in _task_containers(service):
        containers.remove(container)


def node_id() -> str:
    """This engine's node in the swarm."""
    return str(swarm_info().get("NodeID") or "")
