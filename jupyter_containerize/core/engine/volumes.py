"""Named volumes: created labelled as ours, removed once nothing uses them."""

from __future__ import annotations

import time

import docker.errors
from docker.types import Mount

from .. import labels
from ..errors import RunError
from . import client as engine


def create(name: str, labels_: dict[str, str], driver: str = "local",
           options: dict[str, str] | None = None) -> str:
    """Create the volume ``name``; returns its name."""
    try:
        volume = engine.client().volumes.create(
            name, driver=driver or "local", driver_opts=dict(options or {}),
            labels={labels.MANAGED: "true", **labels_})
    except docker.errors.APIError as exc:
        raise RunError(f"the engine refused the volume {name}: {exc.explanation}",
                       hint="check the volume settings (driver and options)") from exc
    return str(volume.name)


def mount(name: str, target: str, driver: str = "local",
          options: dict[str, str] | None = None) -> Mount:
    """``name`` at ``target``; with a driver or options, a node that lacks the volume creates
    it the same way (a service's tasks on other nodes)."""
    if (driver or "local") == "local" and not options:
        return Mount(target, name, type="volume")
    return Mount(target, name, type="volume", driver_config=docker.types.DriverConfig(
        driver or "local", dict(options or {})))


def remove(name: str, wait: float = 30.0) -> bool:
    """Remove the volume, waiting up to ``wait`` seconds for the containers that still use it
    to go; False when it is still in use then."""
    deadline = time.monotonic() + wait
    while True:
        try:
            engine.client().volumes.get(name).remove()
            return True
        except docker.errors.NotFound:
            return True
        except docker.errors.APIError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.25)
