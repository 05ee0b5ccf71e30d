"""Start the serving runtime: settings from the environment, then uvicorn on the raw ASGI app."""

from __future__ import annotations

import logging
import os
import socket
import sys
from typing import TYPE_CHECKING, Optional

from .app import ServingApp
from .detect import detect_flavor, resolve_model_path
from .errors import ModelLoadError
from .logs import RepeatsCounted, WarningsOnce, one_line
from .settings import Settings

if TYPE_CHECKING:
    import uvicorn

log = logging.getLogger("jupyter_containerize.serving")
USAGE = "usage: python -m jupyter_containerize.serving serve"


def _check_model(settings: Settings) -> Optional[str]:
    """Fail fast, in one line, when the model file is missing or of no known flavor."""
    try:
        detect_flavor(resolve_model_path(settings.model_path))
    except ModelLoadError as exc:
        return one_line(str(exc))
    except OSError as exc:
        return f"cannot read {settings.model_path}: {exc.strerror or exc}"
    return None


def listen_sockets(settings: Settings) -> list[socket.socket]:
    """The serving socket, bound (uvicorn listens once the app has started), and the
    readiness socket when asked for. With ``reuse_port`` several servers share the port: a
    deployment's new container binds beside the old one, and the kernel spreads connections
    over the listening ones. The socket is made with its protocol named (TCP), as the
    connections it accepts inherit it: asyncio sets TCP_NODELAY only on those."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if settings.reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((settings.host, settings.port))
    except OSError:
        sock.close()
        raise
    out = [sock]
    if settings.ready_socket:
        if os.path.exists(settings.ready_socket):
            os.unlink(settings.ready_socket)  # left by this container's previous start
        ready = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        ready.bind(settings.ready_socket)
        out.append(ready)
    return out


def uvicorn_config(settings: Settings) -> uvicorn.Config:
    """uvicorn's settings, the app left to set. The HTTP protocol is uvicorn's fastest
    installed (httptools, else h11); asyncio sets TCP_NODELAY on the connections accepted
    from :func:`listen_sockets`, so small responses leave at once instead of waiting for a
    delayed ACK."""
    import uvicorn

    return uvicorn.Config(
        None,  # type: ignore[arg-type]  # the app is set once the config exists
        host=settings.host,
        port=settings.port,
        http="auto",
        loop="asyncio",
        lifespan="on",
        access_log=settings.access_log,
        log_level="info",
        timeout_keep_alive=75,
        server_header=False,
    )


def serve(settings: Settings) -> int:
    import uvicorn

    problem = _check_model(settings)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    try:
        sockets = listen_sockets(settings)
    except OSError as exc:
        print(f"error: cannot listen on {settings.host}:{settings.port}: {exc}", file=sys.stderr)
        return 1
    failures: list[str] = []
    config = uvicorn_config(settings)
    server = uvicorn.Server(config)
    logging.getLogger("uvicorn.error").addFilter(RepeatsCounted())

    def on_fatal(message: str) -> None:
        failures.append(message)
        server.should_exit = True

    config.app = ServingApp(settings, on_fatal)
    try:
        server.run(sockets=sockets)
    except SystemExit:  # uvicorn exits so when the app's start-up fails
        failures.append("the server did not start")
    finally:
        for sock in sockets:
            sock.close()
    if failures:
        # the one line an orchestrator shows: the last on stderr, the only one starting so
        print(f"error: {one_line(failures[0])}", file=sys.stderr, flush=True)
        return 1
    return 0


def main(argv: Optional[list[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args not in ([], ["serve"]):
        print(USAGE, file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    WarningsOnce().install()
    try:
        settings = Settings.from_env()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return serve(settings)
