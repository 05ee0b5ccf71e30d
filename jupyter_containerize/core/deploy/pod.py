"""A local deployment's containers: the port owner and the serving container in its network.

The port owner ``jc-NAME-net`` (role ``deployment-net``) publishes the host port for the
deployment's life and only sleeps; the serving container ``jc-NAME`` joins its network
namespace (``network_mode=container:``), as a pod's containers share its pause container's.
The port stays put while serving containers come and go: a replacement binds the serving
port beside the one it replaces (SO_REUSEPORT) and listens only once its model is ready.

Both restart unless stopped. A serving container that restarts joins the owner's namespace
again; an owner that restarts on its own gets a new namespace and leaves the serving
container without network until that restarts too (``namespace_lost``; ``deployments`` shows
it unhealthy and serving again repairs it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from .. import labels as labels_mod
from ..config import ContainerizeConfig
from ..engine import client as engine
from ..engine import containers
from ..engine.containers import Container
from ..errors import ContainerizeError, RunError
from ..image import imagefs
from ..progress import Reporter
from . import admintoken
from .result import ServeResult
from .serveimage import DEPLOYMENT, MODEL_NAME, PORT, ROLE_SERVING, ServingImage

PORT_LABEL = labels_mod.PREFIX + "deployment.port"
HOST_LABEL = labels_mod.PREFIX + "deployment.host"
AUTH_LABEL = labels_mod.PREFIX + "deployment.auth"  # "token" when inference needs --token
ADMIN_LABEL = labels_mod.PREFIX + "deployment.admin-token"  # "1": repository routes need it
SKOPS_LABEL = labels_mod.PREFIX + "deployment.skops-trusted"
LOGS = containers.KEPT_LOGS
ROLE_NET = "deployment-net"
READY_SOCKET = "/tmp/jc-serving.sock"
# the owner's only process: wait for a signal, leave on SIGTERM
_PAUSE = "import signal, sys; signal.signal(signal.SIGTERM, lambda *_: sys.exit(0)); signal.pause()"


@dataclass
class DeploySpec:
    image: ServingImage
    name: str
    port: int | None
    host: str
    model_name: str
    token: str | None
    helpers: list[tuple[str, Path]]
    cfg: ContainerizeConfig
    rep: Reporter
    labels: dict[str, str] = field(default_factory=dict)
    skops_trust: list[str] = field(default_factory=list)
    allowed_hosts: list[str] = field(default_factory=list)
    admin_token: str = ""

    def container_labels(self, port: int) -> dict[str, str]:
        m = self.image.model
        out = {
            labels_mod.MANAGED: "true", labels_mod.ROLE: ROLE_SERVING, DEPLOYMENT: self.name,
            MODEL_NAME: self.model_name, labels_mod.ENV_HASH: self.image.env_hash,
            labels_mod.MODEL_SHA256: m.sha256, labels_mod.MODEL_FLAVOR: m.flavor,
            PORT_LABEL: str(port), HOST_LABEL: self.host,
            AUTH_LABEL: "token" if self.token else "none", ADMIN_LABEL: "1",
            SKOPS_LABEL: ",".join(self.skops_trust),
        }
        out.update(self.cfg.extra_labels)
        out.update(self.labels)
        return out

    def owner_labels(self, port: int) -> dict[str, str]:
        out = {labels_mod.MANAGED: "true", labels_mod.ROLE: ROLE_NET, DEPLOYMENT: self.name,
               PORT_LABEL: str(port), HOST_LABEL: self.host}
        out.update(self.cfg.extra_labels)
        out.update(self.labels)
        return out

    def environment(self) -> dict[str, str]:
        env = {
            "MODEL_NAME": self.model_name,
            "MAX_BATCH_SIZE": str(self.cfg.max_batch_size),
            "MAX_BATCH_WAIT_MS": str(self.cfg.max_batch_wait_ms),
            "MAX_REQUEST_BYTES": str(self.cfg.request_max_bytes),
        }
        if self.token:
            env["SERVING_TOKEN"] = self.token
        if self.skops_trust:
            env["SERVING_SKOPS_TRUSTED"] = ",".join(self.skops_trust)
        if self.allowed_hosts:
            env["SERVING_ALLOWED_HOSTS"] = ",".join(self.allowed_hosts)
        return env


def container_name(name: str) -> str:
    return f"jc-{name}"


def owner_name(name: str) -> str:
    return f"jc-{name}-net"


def url_for(host: str, port: int) -> str:
    shown = engine.engine_host() if engine.is_remote() else (
        "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    )
    return f"http://{shown}:{port}"


def headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def load_error(container: Container) -> str:
    """The runtime's one line saying why it stopped (its last ``error:`` line), else the last
    line it wrote."""
    lines = [ln.strip() for ln in last_logs(container, 40).splitlines() if ln.strip()]
    for line in reversed(lines):
        if line.startswith("error:"):
            return line[len("error:"):].strip()[:400]
    return lines[-1][:400] if lines else "(no output)"


def load_hint(line: str) -> str:
    """What to do about the runtime's line: skops types are approved with --skops-trust."""
    found = re.search(r"skops does not trust: ([\w.,\s]+?)(;|$)", line)
    if found:
        types = [t.strip() for t in found.group(1).split(",") if t.strip()]
        flags = " ".join(f"--skops-trust {t}" for t in types)
        return (f"if you trust the types it names, serve again with {flags}; otherwise save "
                "the model without them")
    return "the line above is the serving runtime's; fix the model file (or its environment) " \
        "and serve again"


def crashed(container: Container) -> bool:
    """The container exited, or restarted: its server stopped at least once."""
    container.reload()
    return container.status in ("exited", "dead", "restarting") or bool(
        container.attrs.get("RestartCount")
    )


def get_container(cname: str) -> Container | None:
    return containers.get(cname)


def find_container(name: str) -> Container | None:
    """The serving container of the deployment ``name``."""
    found = get_container(container_name(name))
    return found if found is not None and found.labels.get(DEPLOYMENT) == name else None


def find_owner(name: str) -> Container | None:
    """The port owner of the deployment ``name`` (None for one made before owners)."""
    found = get_container(owner_name(name))
    if found is None or found.labels.get(DEPLOYMENT) != name:
        return None
    return found


def last_logs(container: Container, lines: int = 15) -> str:
    raw = containers.tail_logs(container, lines)
    if raw is None:
        return "(no logs)"
    return raw.rstrip() or "(no output)"


def port_error(host: str, port: int) -> ContainerizeError:
    return ContainerizeError(
        f"port {port} is already in use on {host}",
        hint="pick another --port, or omit --port for a free one",
    )


def _create(image: str, **options: Any) -> Container:
    return containers.create_detached(image, **options)


def create_owner(spec: DeploySpec, port: int) -> Container:
    """The port owner: publishes the serving port, sleeps, keeps the namespace."""
    return _create(
        spec.image.reference, command=[f"{imagefs.ENV}/bin/python", "-S", "-c", _PAUSE],
        name=owner_name(spec.name), user=str(containers.UID),
        ports={f"{PORT}/tcp": (spec.host, port)}, restart_policy={"Name": "unless-stopped"},
        healthcheck={"Test": ["NONE"]}, labels=spec.owner_labels(port), log_config=LOGS,
    )


def create_serving(spec: DeploySpec, owner: Container, port: int, cname: str) -> Container:
    """A serving container in the owner's network namespace, sharing the serving port."""
    env = {**spec.environment(), "SERVING_REUSE_PORT": "1", "SERVING_READY_SOCKET": READY_SOCKET}
    secret_env, mounts = admintoken.wiring(spec.name, spec.admin_token)
    options = dict(
        name=cname, network_mode=f"container:{owner.id}", restart_policy={"Name": "unless-stopped"},
        labels=spec.container_labels(port), log_config=LOGS,
    )
    if mounts:
        try:
            return _create(spec.image.reference, environment={**env, **secret_env},
                           mounts=mounts, **options)
        except RunError as exc:  # an engine that does not see this machine's files
            if "mount" not in str(exc).lower():
                raise
        secret_env = admintoken.variable(spec.admin_token)
    return _create(spec.image.reference, environment={**env, **secret_env}, **options)


def start(container: Container, spec: DeploySpec, port: int) -> None:
    """Start a container; on failure remove it and say why in one line."""
    text = containers.start_refusal(container)
    if text is None:
        return
    containers.remove(container)
    if "already allocated" in text or "address already in use" in text:
        raise port_error(spec.host, port)
    hint = ""
    if "could not find bridge" in text:
        hint = ("the engine's bridge interface is gone (a second dockerd started with "
                "--bridge none deletes docker0): restart dockerd")
    raise RunError(f"the container did not start: {text}", hint=hint)


def _started_at(container: Container) -> str:
    """State.StartedAt with its fraction padded to nanoseconds, so strings compare."""
    raw = str(container.attrs.get("State", {}).get("StartedAt") or "")
    head, _, frac = raw.rstrip("Z").partition(".")
    return f"{head}.{frac.ljust(9, '0')}"


def namespace_lost(serving: Container, owner: Container) -> bool:
    """True when the owner started after the serving container: the namespace it joined is
    gone, and it has no network until it restarts."""
    return _started_at(owner) > _started_at(serving)


def health(serving: Container | None, owner: Container | None) -> str:
    """A deployment's status: the serving container's, or unhealthy with why."""
    if owner is not None and owner.status != "running":
        return f"unhealthy (port owner {owner.status})"
    if serving is None:
        return "unhealthy (no serving container)"
    if serving.status != "running":
        return f"unhealthy (serving container {serving.status})"
    if owner is not None and namespace_lost(serving, owner):
        return "unhealthy (port owner restarted: serve again)"
    state = (serving.attrs.get("State", {}).get("Health") or {}).get("Status")
    return serving.status + (f" ({state})" if state else "")


def result_for(spec: DeploySpec, container: Container, port: int, status: str) -> ServeResult:
    url = url_for(spec.host, port)
    return ServeResult(
        name=spec.name, image=spec.image.reference, url=url, container=container.name,
        model_sha256=spec.image.model.sha256, flavor=spec.image.model.flavor, status=status,
        replicas=1, image_cached=spec.image.cached, urls=[url],
    )


def served_sha(url: str, model_name: str, token: str | None = None) -> str:
    """The sha256 of the model a server answers with now ("" when it does not answer)."""
    try:
        answer = requests.get(f"{url}/v2/models/{model_name}", headers=headers(token), timeout=3)
        return str(answer.json().get("parameters", {}).get("sha256", "")) if answer.ok else ""
    except (requests.RequestException, ValueError):
        return ""
