"""Local deployments: one URL per name for its life, in-place model swaps, replacements.

A deployment ``NAME`` is a port owner ``jc-NAME-net`` publishing the serving port on a host
port kept for the deployment's life, and the serving container ``jc-NAME`` in the owner's
network namespace (``pod``); both restart unless stopped. Serving the same environment with
another model swaps it inside the running container; another environment starts a new
serving container beside the old one on the same port and retires the old one (``swap``).
"""

from __future__ import annotations

import socket
import time

import docker.errors
import requests
from docker.models.containers import Container

from . import containers, engine, swap
from . import labels as labels_mod
from .errors import NotFoundError, RunError
from .pod import (
    HOST_LABEL,
    PORT_LABEL,
    ROLE_NET,
    DeploySpec,
    container_name,
    create_owner,
    create_serving,
    find_container,
    find_owner,
    get_container,
    headers,
    health,
    last_logs,
    namespace_lost,
    port_error,
    result_for,
    start,
    url_for,
)
from .serve import ServeResult, valid_name
from .serveimage import DEPLOYMENT, MODEL_NAME, PORT, ROLE_SERVING

__all__ = ["DeploySpec", "container_name", "deploy_local", "deployments", "served_sha",
           "stop", "url_for"]


def free_port(host: str) -> int:
    """A free port on this host (the engine's, when it is local)."""
    with socket.socket() as sock:
        sock.bind((host if host not in ("", "::") else "0.0.0.0", 0))
        return int(sock.getsockname()[1])


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def check_port(name: str, host: str, port: int) -> None:
    """Fail before any build when another process holds the port (local engine)."""
    own = find_owner(name) or find_container(name)
    if own is not None and own.labels.get(PORT_LABEL) == str(port):
        return
    if not engine.is_remote() and _port_in_use(host, port):
        raise port_error(host, port)


def wait_ready(url: str, container: Container, timeout: float, token: str | None = None) -> float:
    """Poll /ping until 200; raise with the container's last log lines otherwise."""
    t0 = time.monotonic()
    session = requests.Session()
    while time.monotonic() - t0 < timeout:
        try:
            if session.get(f"{url}/ping", timeout=2).status_code == 200:
                return time.monotonic() - t0
        except requests.RequestException:
            pass
        container.reload()
        if container.status in ("exited", "dead"):
            raise RunError(
                f"the serving container exited ({container.attrs['State'].get('ExitCode')}): "
                + " | ".join(last_logs(container).splitlines()[-6:]),
                hint="fix the model or its environment; logs: docker logs " + container.name,
            )
        time.sleep(0.05)
    raise RunError(
        f"the deployment did not become ready in {timeout:.0f} s: "
        + " | ".join(last_logs(container).splitlines()[-6:]),
        hint="raise ready_timeout in the configuration, or see docker logs " + container.name,
    )


def deploy_local(spec: DeploySpec) -> ServeResult:
    """Start, swap in place, or replace the deployment ``spec.name``."""
    owner, current = find_owner(spec.name), find_container(spec.name)
    held = owner or current
    if held is None:
        return _fresh(spec, spec.port)
    port = int(held.labels.get(PORT_LABEL) or 0)
    if spec.port is not None and spec.port != port:
        _remove(spec.name)
        return _fresh(spec, spec.port)
    if owner is not None:
        _ensure_running(owner, spec, port)
    if current is not None and _serves_env(spec, current, owner):
        url = url_for(spec.host, port)
        served = served_sha(url, current.labels.get(MODEL_NAME, spec.model_name), spec.token)
        if served == spec.image.model.sha256:
            spec.rep.log(f"{spec.name} already serves this model: {url}")
            return result_for(spec, current, port, "running")
        return swap.swap_model(spec, current, port)
    if owner is None and current is not None:
        return _replace_unowned(spec, current, port)
    assert owner is not None
    return swap.replace(spec, owner, current, port)


def _serves_env(spec: DeploySpec, current: Container, owner: Container | None) -> bool:
    """The serving container runs this environment, reachable on the deployment's port."""
    if current.status != "running" or (owner is not None and namespace_lost(current, owner)):
        return False
    return current.labels.get(labels_mod.ENV_HASH) == spec.image.env_hash


def _ensure_running(owner: Container, spec: DeploySpec, port: int) -> None:
    """Start a port owner someone stopped (its serving container then needs replacing)."""
    if owner.status == "running":
        return
    try:
        owner.start()
    except docker.errors.APIError as exc:
        raise port_error(spec.host, port) from exc
    owner.reload()


def _replace_unowned(spec: DeploySpec, old: Container, port: int) -> ServeResult:
    """A deployment made before port owners publishes the port itself: the old container
    goes, then a port owner and a serving container start on the same port."""
    t0 = time.monotonic()
    with swap.Probe(url_for(spec.host, port)) as probe:
        containers.remove(old)
        result = _fresh(spec, port)
    window = time.monotonic() - t0
    spec.rep.log(f"container replaced on port {port}: {probe.failed} of {probe.sent} probe "
                 f"requests failed in a {window:.2f} s window (the last replacement with a gap)")
    result.swap = {"mode": "replaced", "seconds": round(window, 3), "failed": probe.failed,
                   "sent": probe.sent, "failure_seconds": round(probe.failure_span, 3)}
    return result


def _fresh(spec: DeploySpec, port: int | None) -> ServeResult:
    local = not engine.is_remote()
    if port is not None and local and _port_in_use(spec.host, port):
        raise port_error(spec.host, port)
    port = port or (free_port(spec.host) if local else _remote_port(spec))
    url = url_for(spec.host, port)
    with spec.rep.phase("start"):
        owner = create_owner(spec, port)
        start(owner, spec, port)
        try:
            serving = create_serving(spec, owner, port, container_name(spec.name))
            start(serving, spec, port)
        except Exception:
            containers.remove(owner)
            raise
        ready = wait_ready(url, serving, spec.cfg.ready_timeout)
    spec.rep.log(f"ready in {ready:.1f} s: {url}")
    return result_for(spec, serving, port, "running")


def _remote_port(spec: DeploySpec) -> int:
    """On a remote engine the engine picks a free port once; the deployment keeps it."""
    probe = engine.client().containers.create(
        spec.image.reference, ["true"], ports={f"{PORT}/tcp": (spec.host, None)},
        labels={labels_mod.MANAGED: "true", **spec.cfg.extra_labels},
    )
    try:
        probe.start()
        probe.reload()
        return int(probe.attrs["NetworkSettings"]["Ports"][f"{PORT}/tcp"][0]["HostPort"])
    finally:
        containers.remove(probe)


def _remove(name: str) -> list[str]:
    """Remove the deployment's containers: serving ones first, then the port owner."""
    found = [find_container(name), get_container(f"{container_name(name)}-next"),
             find_owner(name)]
    removed = []
    for c in found:
        if c is not None and c.labels.get(DEPLOYMENT) == name:
            containers.remove(c)
            removed.append(c.name)
    return removed


def stop(name: str) -> str:
    """Remove the deployment ``name`` (its containers, or its swarm service)."""
    valid_name(name)
    if _remove(name):
        return container_name(name)
    from . import swarm

    if swarm.remove_service(name):
        return container_name(name)
    raise NotFoundError(
        f"no deployment named {name!r}", hint="see `jupyter containerize deployments`"
    )


def served_sha(url: str, model_name: str, token: str | None = None) -> str:
    """The sha256 of the model a server answers with now ("" when it does not answer)."""
    try:
        answer = requests.get(f"{url}/v2/models/{model_name}", headers=headers(token), timeout=3)
        return str(answer.json().get("parameters", {}).get("sha256", "")) if answer.ok else ""
    except (requests.RequestException, ValueError):
        return ""


def deployments() -> list[ServeResult]:
    """Every deployment: image, URL, the model sha256 it serves now, status."""
    flt = {"label": [f"{labels_mod.MANAGED}=true", DEPLOYMENT]}
    pods: dict[str, dict[str, Container]] = {}
    for c in engine.client().containers.list(all=True, filters=flt):
        name = c.labels.get(DEPLOYMENT)
        if not name or "com.docker.swarm.service.name" in c.labels:
            continue
        role = c.labels.get(labels_mod.ROLE)
        if role == ROLE_NET:
            pods.setdefault(name, {})["owner"] = c
        elif role == ROLE_SERVING and c.name == container_name(name):
            pods.setdefault(name, {})["serving"] = c
    out = [_listed(name, p.get("serving"), p.get("owner")) for name, p in pods.items()]
    from . import swarm

    out += swarm.list_services()
    return sorted(out, key=lambda d: d.name)


def _listed(name: str, serving: Container | None, owner: Container | None) -> ServeResult:
    held = serving or owner
    assert held is not None
    port = int(held.labels.get(PORT_LABEL) or 0)
    url = url_for(held.labels.get(HOST_LABEL, "127.0.0.1"), port)
    status = health(serving, owner)
    lab = serving.labels if serving is not None else {}
    sha = served_sha(url, lab.get(MODEL_NAME, name)) if status.startswith("running") else ""
    image = ""
    if serving is not None:
        image = serving.image.tags[0] if serving.image.tags else serving.image.id[:19]
    return ServeResult(
        name=name, image=image, url=url, container=held.name,
        model_sha256=sha or lab.get(labels_mod.MODEL_SHA256, ""),
        flavor=lab.get(labels_mod.MODEL_FLAVOR, ""), status=status, urls=[url],
    )
