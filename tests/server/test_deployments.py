"""The test-request proxy: the browser reaches a deployment through the server."""

from __future__ import annotations

import json
import socket
from typing import Any

import tornado.web
from tornado.httpserver import HTTPServer


class _Invocations(tornado.web.RequestHandler):
    def post(self) -> None:
        rows = json.loads(self.request.body)["instances"]
        self.finish({"predictions": [len(r) for r in rows]})


def _fake_model() -> tuple[HTTPServer, str]:
    """A stand-in serving container on a free local port (call inside the test's loop)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)
    server = HTTPServer(tornado.web.Application([("/invocations", _Invocations)]))
    server.add_sockets([sock])
    return server, f"http://127.0.0.1:{sock.getsockname()[1]}"


def _served(extension: Any, name: str, url: str) -> None:
    store = extension.runner.store
    job = store.create("serve", str(extension.root_dir / "nb.ipynb"), {"model": "m.joblib"})
    store.update(job.id, status="succeeded", result={"name": name, "url": url, "image": "i"})


async def test_invoke_proxies_to_the_deployment(api_call, extension) -> None:
    server, url = _fake_model()
    _served(extension, "churn", url)
    deployments = (await api_call("GET", "deployments"))[1]["deployments"]
    assert [d["name"] for d in deployments] == ["churn"]
    body = {"instances": [[1, 2, 3], [4, 5]]}
    status, data = await api_call("POST", "deployments", "churn", "invoke", body=body)
    server.stop()
    assert status == 200 and data == {"predictions": [3, 2]}


async def test_invoke_errors_say_what_to_do(api_call, extension) -> None:
    status, data = await api_call("POST", "deployments", "nope", "invoke", body={})
    assert status == 404 and "serve a model first" in data["hint"]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    _served(extension, "gone", dead)
    status, data = await api_call("POST", "deployments", "gone", "invoke", body={})
    assert status == 502 and "still running" in data["hint"]
    status, data = await api_call(
        "POST", "deployments", "gone", "invoke", body={}, params={"route": "admin"}
    )
    assert status == 400 and "invocations" in data["hint"]
