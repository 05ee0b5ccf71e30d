"""Containers in the engine: create, start, signal, wait, follow logs, look up, remove.

Files move in and out with :mod:`.containerfiles`. Every container carries
``io.jupyter-containerize.managed=true`` so a crash leaves something ``prune`` can find.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any

import docker.errors
import requests.exceptions
from docker.models.containers import Container
from docker.types import DeviceRequest, LogConfig, Mount

from .. import labels
from ..errors import RunError
from . import client as engine
from . import podman

UID = 1000
# containers that live on keep at most 3 x 10 MB of logs
KEPT_LOGS = LogConfig(type=LogConfig.types.JSON, config={"max-size": "10m", "max-file": "3"})


def device_requests(gpus: str | None) -> list[DeviceRequest]:
    """``--gpus`` as the docker CLI spells it: ``all``, a count, or ``device=0,1``."""
    if not gpus:
        return []
    spec = gpus.strip()
    if spec.startswith('"') and spec.endswith('"'):
        spec = spec[1:-1]
    if spec == "all":
        return [DeviceRequest(count=-1, capabilities=[["gpu"]])]
    if spec.isdigit():
        return [DeviceRequest(count=int(spec), capabilities=[["gpu"]])]
    if spec.startswith("device="):
        ids = [d for d in spec[len("device="):].split(",") if d]
        return [DeviceRequest(device_ids=ids, capabilities=[["gpu"]])]
    raise RunError(f"--gpus {gpus!r} is not understood", hint="use all, a count, or device=0,1")


@lru_cache(maxsize=8)
def _version_at(endpoint: Any) -> str | None:
    return podman.version_of(engine.client().version())


def podman_version() -> str | None:
    """The selected engine's Podman version, or None when it is not Podman."""
    return _version_at(engine.endpoint())


def create(
    image: str, command: list[str], *, name: str, labels_: dict[str, str],
    environment: dict[str, str], working_dir: str | None = None, cpus: float | None = None,
    memory: str | None = None, gpus: str | None = None,
) -> Container:
    """A created (not started) container labelled as ours."""
    options: dict[str, Any] = {
        "name": name, "labels": {labels.MANAGED: "true", **labels_},
        "environment": environment, "detach": True,
    }
    if working_dir:
        options["working_dir"] = working_dir
    if cpus:
        options["nano_cpus"] = int(float(cpus) * 1e9)
    if memory:
        options["mem_limit"] = memory
    if gpus:
        options["device_requests"] = device_requests(gpus)
        podman.refuse_gpus(podman_version())
    try:
        return engine.client().containers.create(image, command, **options)
    except docker.errors.ImageNotFound as exc:
        raise RunError(f"image {image} is not in the engine", hint="build it first") from exc
    except docker.errors.APIError as exc:
        raise RunError(f"the engine refused the container: {exc.explanation}") from exc


def start(container: Container) -> None:
    try:
        container.start()
    except docker.errors.APIError as exc:
        explanation = str(exc.explanation or exc)
        lacks = podman.lacking(explanation)
        if lacks is not None:
            raise RunError(f"the container did not start: {lacks[0]}", hint=lacks[1]) from exc
        hint = "the image lacks papermill's tool environment; rebuild it with `build`"
        if "gpu" in explanation.lower():
            hint = "this engine has no GPU runtime: drop --gpus or install the NVIDIA toolkit"
        raise RunError(f"the container did not start: {explanation}", hint=hint) from exc


def wait(container: Container, timeout: float | None, cancel: threading.Event | None) -> int | str:
    """Exit code, or ``"timed out"`` / ``"cancelled"`` (the container then still runs)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        if cancel is not None and cancel.is_set():
            return "cancelled"
        step = 1.0
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                return "timed out"
            step = max(0.05, min(step, left))
        try:
            result = container.wait(timeout=step)
            return int(result.get("StatusCode", 1))
        except (requests.exceptions.RequestException, docker.errors.APIError) as exc:
            if isinstance(exc, docker.errors.NotFound):
                return 137
            continue


def kill(container: Container) -> None:
    try:
        container.kill()
    except docker.errors.APIError:
        pass


def remove(container: Container) -> None:
    try:
        container.remove(force=True)
    except docker.errors.APIError:
        pass


def is_running(container_id: str) -> bool:
    try:
        container = engine.client().containers.get(container_id)
    except docker.errors.NotFound:
        return False
    return container.status in ("running", "created", "restarting")


def pump_lines(chunks: Callable[[], Iterable[bytes]], on_line: Callable[[str], None],
               name: str) -> threading.Thread:
    """A daemon thread that reads ``chunks()`` to its end and gives ``on_line`` each line."""

    def pump() -> None:
        pending = b""
        try:
            for chunk in chunks():
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    on_line(line.decode("utf-8", "replace").rstrip("\r"))
        except (docker.errors.APIError, requests.exceptions.RequestException):
            pass
        if pending:
            on_line(pending.decode("utf-8", "replace"))

    thread = threading.Thread(target=pump, name=name, daemon=True)
    thread.start()
    return thread


def follow_logs(container: Container, on_line: Callable[[str], None]) -> threading.Thread:
    """Stream the container's output line by line to ``on_line`` in a daemon thread."""
    return pump_lines(
        lambda: container.logs(stream=True, follow=True, stdout=True, stderr=True), on_line,
        f"logs-{container.short_id}")


def remove_labelled(label_filters: dict[str, str]) -> int:
    """Remove our containers carrying these labels (tests, prune)."""
    filters = [f"{labels.MANAGED}=true"] + [f"{k}={v}" for k, v in label_filters.items()]
    found = engine.client().containers.list(all=True, filters={"label": filters})
    for container in found:
        remove(container)
    return len(found)


# ---------------------------------------------------------------- any container of ours


def get(name_or_id: str) -> Container | None:
    """The container of that name or ID, or None."""
    try:
        return engine.client().containers.get(name_or_id)
    except docker.errors.NotFound:
        return None


def listed(label_filters: list[str], *, running_only: bool = False) -> list[Container]:
    """Containers carrying every label filter (``KEY`` or ``KEY=VALUE``)."""
    filters: dict[str, Any] = {"label": label_filters}
    if running_only:
        filters["status"] = "running"
    return list(engine.client().containers.list(all=not running_only, filters=filters))


def refresh(container: Container) -> bool:
    """Read the container's state again; False when it is gone."""
    try:
        container.reload()
    except docker.errors.NotFound:
        return False
    return True


def create_detached(image: str, command: list[str] | None = None, **options: Any) -> Container:
    """A created (not started) container; the engine's refusal as one line."""
    try:
        return engine.client().containers.create(image, command, detach=True, **options)
    except docker.errors.ImageNotFound as exc:
        raise RunError(f"image {image} is not in the engine",
                       hint=f"pull it: jupyter containerize pull {image}") from exc
    except docker.errors.APIError as exc:
        explanation = str(exc.explanation or exc)
        lacks = podman.lacking(explanation)
        if lacks is not None:
            raise RunError(lacks[0], hint=lacks[1]) from exc
        raise RunError(f"the engine refused the container: {explanation}",
                       hint="see the engine's message") from exc


def start_refusal(container: Container) -> str | None:
    """Start the container: None when it started, else what the engine said."""
    try:
        container.start()
    except docker.errors.APIError as exc:
        return str(exc.explanation or exc)
    return None


def stop(container: Container, grace: float) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds (a container gone needs no stopping; the
    caller removes it in any case)."""
    try:
        container.stop(timeout=max(1, round(grace)))
    except docker.errors.APIError:
        pass


def signal(container: Container, name: str) -> None:
    """Send the signal ``name``; a container gone or not running has nothing to signal."""
    try:
        container.kill(signal=name)
    except docker.errors.APIError as exc:
        if exc.status_code not in (404, 409):
            raise RunError(f"the engine could not signal the container: {exc.explanation}",
                           hint="see the engine's message") from exc


def run_inside(container: Container, command: list[str], user: str = "") -> tuple[int, bytes]:
    """(exit code, output) of ``command`` in the running container; -1 when it has exited."""
    try:
        code, out = container.exec_run(command, user=user)
    except docker.errors.APIError:
        return -1, b""
    return int(code if code is not None else -1), bytes(out or b"")


def tail_logs(container: Container, lines: int) -> str | None:
    """The last lines the container printed; None when the engine cannot say."""
    try:
        return bytes(container.logs(tail=lines)).decode("utf-8", "replace")
    except docker.errors.APIError:
        return None


def bind_mount(source: str, target: str, read_only: bool = True) -> Mount:
    """A bind mount of this machine's ``source`` at ``target``."""
    return Mount(target, source, type="bind", read_only=read_only)


def published_port(container: Container, port: int) -> int | None:
    """The host port the container publishes ``port`` on (its first IPv4 one)."""
    found = ((container.attrs.get("NetworkSettings") or {}).get("Ports") or {}).get(
        f"{port}/tcp") or []
    ipv4 = [p for p in found if ":" not in (p.get("HostIp") or "")] or found
    return int(ipv4[0]["HostPort"]) if ipv4 else None


def engine_picked_port(image: str, port: int, host: str, labels_: dict[str, str]) -> int:
    """A host port the engine picks as free for ``port`` (a throwaway container asks it)."""
    probe = create_detached(image, ["true"], ports={f"{port}/tcp": (host, None)},
                            labels={labels.MANAGED: "true", **labels_})
    try:
        refused = start_refusal(probe)
        if refused is not None:
            raise RunError(f"the engine could not publish a port: {refused}",
                           hint="see the engine's message")
        probe.reload()
        picked = published_port(probe, port)
        if picked is None:
            raise RunError("the engine published no port", hint="see the engine's message")
        return picked
    finally:
        remove(probe)


def security_options() -> list[str] | None:
    """The engine's security options (``rootless`` among them); None when it does not say."""
    try:
        return [str(opt) for opt in engine.client().info().get("SecurityOptions") or []]
    except Exception:  # an engine that does not answer says nothing
        return None

