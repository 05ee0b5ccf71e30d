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

import requests

from .. import labels as labels_mod
from ..engine import client as engine
from ..engine import containers
from ..engine.containers import Container
from ..engine.services import SERVICE_LABEL
from ..errors import ContainerizeError, NotFoundError, RunError
from . import admintoken, swap, swarm
from .options import valid_name
from .pod import (
    ADMIN_LABEL,
    AUTH_LABEL,
    HOST_LABEL,
    PORT_LABEL,
    ROLE_NET,
    SKOPS_LABEL,
    DeploySpec,
    container_name,
    crashed,
    create_owner,
    create_serving,
    find_container,
    find_owner,
    get_container,
    headers,
    health,
    last_logs,
    load_error,
    load_hint,
    namespace_lost,
    port_error,
    result_for,
    served_sha,
    start,
    url_for,
)
from .result import ServeResult
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
    """Poll /ping until 200. A server that stops (the container exits or restarts) fails at
    once with the runtime's own line; one that never answers fails after ``timeout``."""
    t0 = time.monotonic()
    session = requests.Session()
    while time.monotonic() - t0 < timeout:
        try:
            if session.get(f"{url}/ping", timeout=2).status_code == 200:
                return time.monotonic() - t0
        except requests.RequestException:
            pass
        if crashed(container):
            line = load_error(container)
            raise RunError(
                f"the model did not load: {line}",
                hint=load_hint(line) + "; nothing of this deployment is left running",
            )
        time.sleep(0.05)
    raise RunError(
        f"the deployment did not become ready in {timeout:.0f} s: "
        + " | ".join(last_logs(container).splitlines()[-6:]),
        hint="raise ready_timeout in the configuration if the model loads slowly; nothing of "
        "this deployment is left running",
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
    gone = _gone(current, owner)
    if gone:  # nothing serves: no swap to measure, a fresh start on the same port
        _remove(spec.name)
        result = _fresh(spec, port)
        result.note = (f"the previous serving container of {spec.name} was gone ({gone}); "
                       "started a fresh one on the same port")
        spec.rep.log(result.note)
        return result
    assert current is not None
    spec.admin_token = admintoken.ensure(spec.name)
    url = url_for(spec.host, port)
    model_name = current.labels.get(MODEL_NAME, spec.model_name)
    _check_token(spec, current, url, model_name)
    if _swappable(spec, current):
        if served_sha(url, model_name, spec.token) == spec.image.model.sha256:
            spec.rep.log(f"{spec.name} already serves this model: {url}")
            return result_for(spec, current, port, "running")
        return swap.swap_model(spec, current, port)
    if owner is None:
        return _replace_unowned(spec, current, port)
    return swap.replace(spec, owner, current, port)


def _gone(current: Container | None, owner: Container | None) -> str:
    """Why the deployment has no serving container that answers ("" when it has one)."""
    if current is None:
        return "no serving container"
    if current.status != "running" or current.attrs.get("State", {}).get("Restarting"):
        code = current.attrs.get("State", {}).get("ExitCode")
        return f"{current.status}" + (f", exit code {code}" if code is not None else "")
    if owner is not None and namespace_lost(current, owner):
        return "its port owner restarted under it"
    return ""


def _check_token(spec: DeploySpec, current: Container, url: str, model_name: str) -> None:
    """A deployment served with --token is served again only with that token."""
    needs = current.labels.get(AUTH_LABEL) == "token"
    again = f"serve again with the --token it was served with, or `jupyter containerize " \
        f"stop {spec.name}` and serve it anew"
    if needs and not spec.token:
        raise ContainerizeError(
            f"deployment {spec.name} requires a token on its inference routes (it was served "
            "with --token) and none was given", hint=again)
    if needs and _status(url, model_name, spec.token) == 401:
        raise ContainerizeError(
            f"the --token given is not the one deployment {spec.name} was served with",
            hint=again)


def _swappable(spec: DeploySpec, current: Container) -> bool:
    """The running container serves this environment with these settings (token or none,
    trusted skops types, an admin token), so the model can change inside it."""
    lab = current.labels
    return (lab.get(labels_mod.ENV_HASH) == spec.image.env_hash
            and lab.get(ADMIN_LABEL) == "1"
            and lab.get(AUTH_LABEL) == ("token" if spec.token else "none")
            and lab.get(SKOPS_LABEL, "") == ",".join(spec.skops_trust))


def _status(url: str, model_name: str, token: str | None) -> int:
    try:
        return requests.get(f"{url}/v2/models/{model_name}", headers=headers(token),
                            timeout=3).status_code
    except requests.RequestException:
        return 0


def _ensure_running(owner: Container, spec: DeploySpec, port: int) -> None:
    """Start a port owner someone stopped (its serving container then needs replacing)."""
    if owner.status == "running":
        return
    if containers.start_refusal(owner) is not None:
        raise port_error(spec.host, port)
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
    """A port owner and a serving container, with a new admin token. When the model does not
    load, both go again (the port is free) and the runtime's line is the error."""
    local = not engine.is_remote()
    if port is not None and local and _port_in_use(spec.host, port):
        raise port_error(spec.host, port)
    port = port or (free_port(spec.host) if local else _remote_port(spec))
    url = url_for(spec.host, port)
    spec.admin_token = admintoken.create(spec.name)
    with spec.rep.phase("start"):
        owner = create_owner(spec, port)
        serving: Container | None = None
        try:
            start(owner, spec, port)
            serving = create_serving(spec, owner, port, container_name(spec.name))
            start(serving, spec, port)
            ready = wait_ready(url, serving, spec.cfg.ready_timeout)
        except BaseException:
            for made in (serving, owner):
                if made is not None:
                    containers.remove(made)
            admintoken.remove(spec.name)
            raise
    spec.rep.log(f"ready in {ready:.1f} s: {url}")
    return result_for(spec, serving, port, "running")


def _remote_port(spec: DeploySpec) -> int:
    """On a remote engine the engine picks a free port once; the deployment keeps it."""
    return containers.engine_picked_port(spec.image.reference, PORT, spec.host,
                                         dict(spec.cfg.extra_labels))


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
        admintoken.remove(name)
        return container_name(name)
    if swarm.remove_service(name):
        admintoken.remove(name)
        return container_name(name)
    raise NotFoundError(
        f"no deployment named {name!r}", hint="see `jupyter containerize deployments`"
    )


def deployments() -> list[ServeResult]:
    """Every deployment: image, URL, the model sha256 it serves now, status."""
    pods: dict[str, dict[str, Container]] = {}
    for c in containers.listed([f"{labels_mod.MANAGED}=true", DEPLOYMENT]):
        name = c.labels.get(DEPLOYMENT)
        if not name or SERVICE_LABEL in c.labels:
            continue
        role = c.labels.get(labels_mod.ROLE)
        if role == ROLE_NET:
            pods.setdefault(name, {})["owner"] = c
        elif role == ROLE_SERVING and c.name == container_name(name):
            pods.setdefault(name, {})["serving"] = c
    out = [_listed(name, p.get("serving"), p.get("owner")) for name, p in pods.items()]
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
