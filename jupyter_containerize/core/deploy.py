"""Local deployments: one container per name, one URL for its life, in-place model swaps.

A deployment ``NAME`` is the container ``jc-NAME`` (restart policy unless-stopped) publishing
the serving port on a host port kept for the deployment's life. Serving the same environment
with another model copies the model into the running container and loads it there (the V2
repository extension): no restart, no closed connection. Another environment replaces the
container on the same port and reports the window and the requests that failed in it.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import docker.errors
import requests
from docker.models.containers import Container

from . import containers, engine
from . import labels as labels_mod
from .config import ContainerizeConfig
from .errors import ContainerizeError, NotFoundError, RunError
from .progress import Event, Reporter
from .serve import ServeResult, valid_name
from .serveimage import (
    _HEALTH,
    CODE_DIR,
    DEPLOYMENT,
    MODEL_DIR,
    MODEL_NAME,
    PORT,
    ROLE_SERVING,
    ServingImage,
)

PORT_LABEL = labels_mod.PREFIX + "deployment.port"
HOST_LABEL = labels_mod.PREFIX + "deployment.host"
STAGING = "/opt/ml/staging"


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

    def container_labels(self, port: int) -> dict[str, str]:
        m = self.image.model
        out = {
            labels_mod.MANAGED: "true", labels_mod.ROLE: ROLE_SERVING, DEPLOYMENT: self.name,
            MODEL_NAME: self.model_name, labels_mod.ENV_HASH: self.image.env_hash,
            labels_mod.MODEL_SHA256: m.sha256, labels_mod.MODEL_FLAVOR: m.flavor,
            PORT_LABEL: str(port), HOST_LABEL: self.host,
        }
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
        return env


def container_name(name: str) -> str:
    return f"jc-{name}"


def url_for(host: str, port: int) -> str:
    shown = engine.engine_host() if engine.is_remote() else (
        "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    )
    return f"http://{shown}:{port}"


def headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def find_container(name: str) -> Container | None:
    try:
        found = engine.client().containers.get(container_name(name))
    except docker.errors.NotFound:
        return None
    return found if found.labels.get(DEPLOYMENT) == name else None


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
    own = find_container(name)
    if own is not None and own.labels.get(PORT_LABEL) == str(port):
        return
    if not engine.is_remote() and _port_in_use(host, port):
        raise _port_error(host, port)


def _port_error(host: str, port: int) -> ContainerizeError:
    return ContainerizeError(
        f"port {port} is already in use on {host}",
        hint="pick another --port, or omit --port for a free one",
    )


def last_logs(container: Container, lines: int = 15) -> str:
    try:
        raw = container.logs(tail=lines).decode("utf-8", "replace").rstrip()
    except docker.errors.APIError:
        return "(no logs)"
    return raw or "(no output)"


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


def _create(spec: DeploySpec, port: int, cname: str) -> Container:
    try:
        return engine.client().containers.create(
            spec.image.reference, name=cname, detach=True,
            ports={f"{PORT}/tcp": (spec.host, port)},
            restart_policy={"Name": "unless-stopped"},
            environment=spec.environment(), labels=spec.container_labels(port),
        )
    except docker.errors.APIError as exc:
        raise RunError(f"the engine refused the container: {exc.explanation}") from exc


def _start(container: Container, spec: DeploySpec, port: int) -> None:
    try:
        container.start()
    except docker.errors.APIError as exc:
        containers.remove(container)
        text = str(exc.explanation or exc)
        if "already allocated" in text or "address already in use" in text:
            raise _port_error(spec.host, port) from exc
        hint = ""
        if "could not find bridge" in text:
            hint = ("the engine's bridge interface is gone (a second dockerd started with "
                    "--bridge none deletes docker0): restart dockerd")
        raise RunError(f"the serving container did not start: {text}", hint=hint) from exc


def _result(spec: DeploySpec, container: Container, port: int, status: str) -> ServeResult:
    url = url_for(spec.host, port)
    return ServeResult(
        name=spec.name, image=spec.image.reference, url=url, container=container.name,
        model_sha256=spec.image.model.sha256, flavor=spec.image.model.flavor, status=status,
        replicas=1, image_cached=spec.image.cached, urls=[url],
    )


def deploy_local(spec: DeploySpec) -> ServeResult:
    """Start, swap in place, or replace the deployment ``spec.name``."""
    old = find_container(spec.name)
    if old is not None:
        old.reload()
        port = int(old.labels.get(PORT_LABEL) or 0)
        if spec.port is not None and spec.port != port:
            containers.remove(old)
            return _fresh(spec, spec.port)
        if old.status == "running" and old.labels.get(labels_mod.ENV_HASH) == spec.image.env_hash:
            url = url_for(spec.host, port)
            current = served_sha(url, old.labels.get(MODEL_NAME, spec.model_name), spec.token)
            if current == spec.image.model.sha256:
                spec.rep.log(f"{spec.name} already serves this model: {url}")
                return _result(spec, old, port, "running")
            return swap_model(spec, old, port)
        return replace(spec, old, port)
    return _fresh(spec, spec.port)


def _fresh(spec: DeploySpec, port: int | None) -> ServeResult:
    local = not engine.is_remote()
    if port is not None and local and _port_in_use(spec.host, port):
        raise _port_error(spec.host, port)
    port = port or (free_port(spec.host) if local else _remote_port(spec))
    container = _create(spec, port, container_name(spec.name))
    with spec.rep.phase("start"):
        _start(container, spec, port)
        url = url_for(spec.host, port)
        ready = wait_ready(url, container, spec.cfg.ready_timeout)
    spec.rep.log(f"ready in {ready:.1f} s: {url}")
    return _result(spec, container, port, "running")


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


def swap_model(spec: DeploySpec, container: Container, port: int) -> ServeResult:
    """Copy the model in, load it beside the old one, persist it for restarts."""
    model = spec.image.model
    url = url_for(spec.host, port)
    staged = f"{STAGING}/{model.sha256[:12]}"
    target = f"{staged}/{model.path.name}"
    t0 = time.monotonic()
    with spec.rep.phase("swap"):
        containers.put_tree(container, target, model.path)
        for rel, path in spec.helpers:
            containers.put_tree(container, f"{CODE_DIR}/{rel}", path)
        model_name = container.labels.get(MODEL_NAME) or spec.model_name
        answer = requests.post(
            f"{url}/v2/repository/models/{model_name}/load",
            json={"parameters": {"path": target}}, headers=headers(spec.token),
            timeout=spec.cfg.ready_timeout,
        )
        if answer.status_code != 200:
            raise RunError(
                f"the new model did not load: {_error_text(answer)}",
                hint="the deployment still serves the previous model",
            )
        _persist(container, staged)
    window = time.monotonic() - t0
    spec.rep.emit(Event("log", f"model swapped in place in {window:.2f} s (no restart)",
                        data={"swap": "in place"}))
    result = _result(spec, container, port, "running")
    result.image = container.image.tags[0] if container.image.tags else result.image
    result.swap = {"mode": "in place", "seconds": round(window, 3), "failed": 0}
    return result


def _error_text(answer: requests.Response) -> str:
    try:
        return str(answer.json().get("error", answer.text))
    except ValueError:
        return answer.text[:300]


def _persist(container: Container, staged: str) -> None:
    """After a restart the container loads /opt/ml/model: make it the new model."""
    script = f"rm -rf {MODEL_DIR}/* && cp -a {staged}/. {MODEL_DIR}/"
    code, out = container.exec_run(["sh", "-c", script], user="root")
    if code != 0:
        raise RunError(f"the new model is served but not kept for restarts: {out[-200:]!r}")


class _Probe:
    """A client that asks /ping every 20 ms and counts what fails (the swap window)."""

    def __init__(self, url: str) -> None:
        self.url, self.sent, self.failed = url, 0, 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        session = requests.Session()
        while not self.stop.is_set():
            self.sent += 1
            try:
                if session.get(f"{self.url}/ping", timeout=1).status_code != 200:
                    self.failed += 1
            except requests.RequestException:
                self.failed += 1
                session = requests.Session()
            time.sleep(0.02)


def replace(spec: DeploySpec, old: Container, port: int) -> ServeResult:
    """A new environment: a new container on the same port; the window is reported."""
    url = url_for(spec.host, port)
    tmp_name = f"{container_name(spec.name)}-next"
    leftover = _get(tmp_name)
    if leftover is not None:
        containers.remove(leftover)
    with spec.rep.phase("rehearse"):
        rehearse(spec)
    new = _create(spec, port, tmp_name)
    probe = _Probe(url)
    probe.thread.start()
    t0 = time.monotonic()
    with spec.rep.phase("replace"):
        containers.remove(old)
        t1 = time.monotonic()
        _start(new, spec, port)
        t2 = time.monotonic()
        wait_ready(url, new, spec.cfg.ready_timeout)
        window = time.monotonic() - t0
        spec.rep.log(f"old removed in {t1 - t0:.2f} s, new started in {t2 - t1:.2f} s, "
                     f"ready after {window - (t2 - t0):.2f} s")
        probe.stop.set()
        probe.thread.join()
        new.rename(container_name(spec.name))
    new.reload()
    spec.rep.log(
        f"container replaced on port {port}: {probe.failed} of {probe.sent} probe requests "
        f"failed in a {window:.2f} s window"
    )
    result = _result(spec, new, port, "running")
    result.swap = {"mode": "replaced", "seconds": round(window, 3), "failed": probe.failed,
                   "sent": probe.sent}
    return result


def rehearse(spec: DeploySpec) -> float:
    """Start the new image once without a port and wait until it serves: a new environment
    that cannot load the model never replaces a working deployment, and the switch that
    follows starts from warm caches."""
    flt = f"{container_name(spec.name)}-rehearsal"
    leftover = _get(flt)
    if leftover is not None:
        containers.remove(leftover)
    trial = engine.client().containers.create(
        spec.image.reference, name=flt, detach=True, environment=spec.environment(),
        labels={labels_mod.MANAGED: "true", **spec.cfg.extra_labels},
    )
    t0 = time.monotonic()
    try:
        trial.start()
        while time.monotonic() - t0 < spec.cfg.ready_timeout:
            code, _ = trial.exec_run(["/opt/env/bin/python", "-c", _HEALTH])
            if code == 0:
                return time.monotonic() - t0
            trial.reload()
            if trial.status != "running":
                break
            time.sleep(0.2)
        raise RunError(
            "the new image does not serve the model; the deployment keeps the old one: "
            + " | ".join(last_logs(trial).splitlines()[-6:]),
            hint="fix the model or its environment and serve again",
        )
    finally:
        containers.remove(trial)


def _get(cname: str) -> Container | None:
    try:
        return engine.client().containers.get(cname)
    except docker.errors.NotFound:
        return None


def stop(name: str) -> str:
    """Remove the deployment ``name`` (container or swarm service)."""
    valid_name(name)
    container = find_container(name)
    if container is not None:
        containers.remove(container)
        return container.name
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
    flt = {"label": [f"{labels_mod.MANAGED}=true", f"{labels_mod.ROLE}={ROLE_SERVING}"]}
    out = []
    for c in engine.client().containers.list(all=True, filters=flt):
        name = c.labels.get(DEPLOYMENT)
        if not name or "com.docker.swarm.service.name" in c.labels:
            continue
        port = int(c.labels.get(PORT_LABEL) or 0)
        url = url_for(c.labels.get(HOST_LABEL, "127.0.0.1"), port)
        health = (c.attrs.get("State", {}).get("Health") or {}).get("Status")
        status = c.status + (f" ({health})" if health else "")
        sha = served_sha(url, c.labels.get(MODEL_NAME, name)) if c.status == "running" else ""
        out.append(ServeResult(
            name=name, image=c.image.tags[0] if c.image.tags else c.image.id[:19], url=url,
            container=c.name, model_sha256=sha or c.labels.get(labels_mod.MODEL_SHA256, ""),
            flavor=c.labels.get(labels_mod.MODEL_FLAVOR, ""), status=status, urls=[url],
        ))
    from . import swarm

    out += swarm.list_services()
    return sorted(out, key=lambda d: d.name)
