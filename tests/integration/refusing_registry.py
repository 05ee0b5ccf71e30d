"""A registry that refuses OCI 1.1 artifacts, as some registries in use still do: a loopback
reverse proxy in front of the real test registry that forwards every request but answers a
manifest carrying a ``subject`` (an artifact about an image) or an index (the referrers
fallback tag) with the registry error those registries send."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

REFUSAL = {"errors": [{"code": "MANIFEST_INVALID", "message": "manifest invalid",
                       "detail": "artifacts and image indexes are not accepted here"}]}
_HOP = {"host", "connection", "transfer-encoding", "content-length", "keep-alive",
        "content-encoding", "accept-encoding"}


def _refused(body: bytes) -> bool:
    try:
        doc = json.loads(body)
    except ValueError:
        return False
    return isinstance(doc, dict) and ("subject" in doc or "manifests" in doc)


@contextmanager
def refusing_registry(upstream: str) -> Iterator[str]:
    """Serve the proxy on a free loopback port while the block runs; yields its host:port."""
    session = requests.Session()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                data = bytearray()
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        self.rfile.readline()
                        return bytes(data)
                    data += self.rfile.read(size)
                    self.rfile.readline()
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _forward(self) -> None:
            body = self._body()
            if self.command == "PUT" and "/manifests/" in self.path and _refused(body):
                data = json.dumps(REFUSAL).encode()
                self._answer(400, {"Content-Type": "application/json",
                                   "Content-Length": str(len(data))}, data)
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
            headers["Host"] = self.headers.get("Host", "")  # its Location URLs name the proxy
            headers["Accept-Encoding"] = "identity"
            resp = session.request(self.command, f"http://{upstream}{self.path}", data=body,
                                   headers=headers, allow_redirects=False, timeout=120)
            out = {k: v for k, v in resp.headers.items() if k.lower() not in _HOP}
            if self.command == "HEAD":
                out["Content-Length"] = resp.headers.get("Content-Length", "0")
            else:
                out["Content-Length"] = str(len(resp.content))
            self._answer(resp.status_code, out, resp.content)

        do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _forward

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        session.close()
