"""A real local HTTP receiver for webhooks: answers each POST with the next status of
``answers`` (then 200), and keeps what it was sent."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class WebhookReceiver:
    """``bodies``/``headers``: every POST; ``delivered``: the bodies it answered 2xx;
    ``refused``: how many it did not. HEAD (a reachability check) gets ``head``."""

    def __init__(self, answers: list[int] | None = None, head: int = 200) -> None:
        self.answers = list(answers or [])
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.delivered: list[dict[str, Any]] = []
        self.refused = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_HEAD(self) -> None:  # noqa: N802
                self.send_response(head)
                self.end_headers()

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length))
                receiver.bodies.append(body)
                receiver.headers.append(dict(self.headers))
                status = receiver.answers.pop(0) if receiver.answers else 200
                if status < 300:
                    receiver.delivered.append(body)
                else:
                    receiver.refused += 1
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
