"""Changing what a local deployment serves, on its port.

- Same environment: the model is copied into the running container and loaded beside the
  old one (the V2 repository extension), then kept for restarts: no restart, no closed
  connection.
- New environment: a new serving container joins the port owner's network namespace and
  binds the serving port beside the old one (SO_REUSEPORT), listening only once its model is
  ready; it is probed through its own readiness socket, then the old one stops gracefully
  (SIGTERM: no new connections, requests in flight finish). A probe counts the requests that
  failed meanwhile; the window reported is how long both servers listened.
"""

from __future__ import annotations

import threading
import time

import requests

from ..engine import containerfiles, containers
from ..engine.containers import Container
from ..errors import RunError
from ..progress import Event
from .pod import (
    READY_SOCKET,
    DeploySpec,
    container_name,
    crashed,
    create_serving,
    get_container,
    headers,
    load_error,
    load_hint,
    result_for,
    start,
    url_for,
)
from .result import ServeResult
from .serveimage import CODE_DIR, MODEL_DIR, MODEL_NAME

STAGING = "/opt/ml/staging"
# asks the server of this container (not the one it shares the port with) whether it is ready
_READY = (
    "import socket, sys; s = socket.socket(socket.AF_UNIX); s.settimeout(3); "
    f"s.connect({READY_SOCKET!r}); s.sendall(b'GET /v2/health/ready HTTP/1.0\\r\\n\\r\\n'); "
    "sys.exit(0 if s.recv(64).split()[1:2] == [b'200'] else 1)"
)


def swap_model(spec: DeploySpec, container: Container, port: int) -> ServeResult:
    """Copy the model in, load it beside the old one, persist it for restarts."""
    model = spec.image.model
    url = url_for(spec.host, port)
    staged = f"{STAGING}/{model.sha256[:12]}"
    target = f"{staged}/{model.path.name}"
    t0 = time.monotonic()
    with spec.rep.phase("swap"):
        containerfiles.put_tree(container, target, model.path)
        for rel, path in spec.helpers:
            containerfiles.put_tree(container, f"{CODE_DIR}/{rel}", path)
        model_name = container.labels.get(MODEL_NAME) or spec.model_name
        try:
            answer = requests.post(
                f"{url}/v2/repository/models/{model_name}/load",
                json={"parameters": {"path": target}}, headers=headers(spec.admin_token),
                timeout=spec.cfg.ready_timeout,
            )
        except requests.RequestException as exc:
            raise RunError(
                f"the deployment {spec.name} stopped answering while loading the new model: "
                f"{type(exc).__name__}",
                hint="see `jupyter containerize deployments`; serve again to start it fresh",
            ) from exc
        if answer.status_code in (401, 403):
            raise RunError(
                f"the deployment {spec.name} refused the admin token on its repository route "
                f"({answer.status_code}): {_error_text(answer)}",
                hint=f"`jupyter containerize stop {spec.name}` and serve again: a fresh "
                "deployment gets a new admin token",
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
    result = result_for(spec, container, port, "running")
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
    code, out = containers.run_inside(container, ["sh", "-c", script], user="root")
    if code != 0:
        raise RunError(f"the new model is served but not kept for restarts: {out[-200:]!r}")


class Probe:
    """A client that asks /ping every 20 ms and notes when requests fail."""

    def __init__(self, url: str) -> None:
        self.url, self.sent = url, 0
        self.failures: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Probe:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def failed(self) -> int:
        return len(self.failures)

    @property
    def failure_span(self) -> float:
        """Seconds from the first failed request to the last (0 when none failed)."""
        return self.failures[-1] - self.failures[0] if self.failures else 0.0

    def _run(self) -> None:
        session = requests.Session()
        while not self._stop.is_set():
            self.sent += 1
            try:
                ok = session.get(f"{self.url}/ping", timeout=1).status_code == 200
            except requests.RequestException:
                ok = False
                session = requests.Session()
            if not ok:
                self.failures.append(time.monotonic())
            time.sleep(0.02)


def wait_inside(container: Container, timeout: float) -> float:
    """Wait until this container's own server is ready (its readiness socket answers 200)."""
    t0 = time.monotonic()
    stopped = False
    while time.monotonic() - t0 < timeout:
        code, _ = containers.run_inside(container, ["/opt/env/bin/python", "-S", "-c", _READY])
        if code == 0:
            return time.monotonic() - t0
        if crashed(container):
            stopped = True
            break
        time.sleep(0.05)
    problem = load_error(container)
    containers.remove(container)
    what = "did not load in its new container" if stopped else \
        f"was not ready in its new container after {timeout:.0f} s"
    raise RunError(
        f"the model {what}: {problem}; the deployment keeps serving the previous one",
        hint=load_hint(problem),
    )


def retire(old: Container, grace: float) -> None:
    """Stop the old server gracefully (SIGTERM; SIGKILL after ``grace`` s), then remove it."""
    try:
        containers.stop(old, grace)
    finally:
        containers.remove(old)


def replace(spec: DeploySpec, owner: Container, old: Container | None,
            port: int) -> ServeResult:
    """A new environment: a new serving container beside the old one, on the same port."""
    url = url_for(spec.host, port)
    tmp_name = f"{container_name(spec.name)}-next"
    leftover = get_container(tmp_name)
    if leftover is not None:
        containers.remove(leftover)
    new = create_serving(spec, owner, port, tmp_name)
    with Probe(url) as probe, spec.rep.phase("replace"):
        start(new, spec, port)
        ready = wait_inside(new, spec.cfg.ready_timeout)
        t0 = time.monotonic()
        if old is not None:
            retire(old, spec.cfg.stop_grace)
        overlap = time.monotonic() - t0
        new.rename(container_name(spec.name))
    new.reload()
    spec.rep.log(
        f"container replaced on port {port}: new server ready in {ready:.1f} s, both listened "
        f"for {overlap:.2f} s; {probe.failed} of {probe.sent} probe requests failed"
    )
    result = result_for(spec, new, port, "running")
    result.swap = {"mode": "replaced", "seconds": round(overlap, 3), "failed": probe.failed,
                   "sent": probe.sent, "failure_seconds": round(probe.failure_span, 3)}
    return result
