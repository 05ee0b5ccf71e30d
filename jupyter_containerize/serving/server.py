"""Start the serving runtime: settings from the environment, then uvicorn on the raw ASGI app."""

from __future__ import annotations

import logging
import socket
import sys
from typing import Any, Optional

from .app import ServingApp
from .detect import detect_flavor, resolve_model_path
from .errors import ModelLoadError
from .settings import Settings

log = logging.getLogger("jupyter_containerize.serving")
USAGE = "usage: python -m jupyter_containerize.serving serve"


def set_nodelay(transport: Any) -> None:
    """Send small responses at once instead of waiting for a delayed ACK."""
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:  # pragma: no cover - a socket closed meanwhile
            pass


def http_protocol() -> type:
    """uvicorn's fastest HTTP protocol available, setting TCP_NODELAY on every connection."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as base
    except ImportError:  # httptools missing: the pure-Python parser still works
        from uvicorn.protocols.http.h11_impl import H11Protocol as base

    class NoDelayProtocol(base):  # type: ignore[misc, valid-type]
        def connection_made(self, transport: Any) -> None:
            set_nodelay(transport)
            super().connection_made(transport)

    return NoDelayProtocol


def _check_model(settings: Settings) -> Optional[str]:
    """Fail fast, in one line, when the model file is missing or of no known flavor."""
    try:
        detect_flavor(resolve_model_path(settings.model_path))
    except ModelLoadError as exc:
        return str(exc)
    return None


def serve(settings: Settings) -> int:
    import uvicorn

    problem = _check_model(settings)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    failures: list[str] = []
    config = uvicorn.Config(
        None,
        host=settings.host,
        port=settings.port,
        http=http_protocol(),
        loop="asyncio",
        lifespan="on",
        access_log=settings.access_log,
        log_level="info",
        timeout_keep_alive=75,
        server_header=False,
    )
    server = uvicorn.Server(config)

    def on_fatal(message: str) -> None:
        failures.append(message)
        server.should_exit = True

    config.app = ServingApp(settings, on_fatal)
    server.run()
    if failures:
        print(f"error: {failures[0]}", file=sys.stderr)
        return 1
    return 0


def main(argv: Optional[list[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args not in ([], ["serve"]):
        print(USAGE, file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        settings = Settings.from_env()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return serve(settings)
