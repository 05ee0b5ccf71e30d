"""Who may ask what: Host names (DNS rebinding), tokens, content types, load paths."""

from __future__ import annotations

import hmac
import ipaddress
import os
import socket
from collections.abc import Iterable
from typing import Optional

from .errors import ClientError
from .http import Scope, header

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
ADMIN_HINT = "set SERVING_ADMIN_TOKEN_FILE (or SERVING_ADMIN_TOKEN) to turn them on"


def host_name(value: str) -> str:
    """The name of a Host header value: without port, brackets, trailing dot; lower case."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        return value[1:end] if end > 0 else value
    if value.count(":") == 1:
        value = value.split(":", 1)[0]
    return value.rstrip(".")


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class HostCheck:
    """Host names this server answers to. A browser tricked by DNS rebinding sends the
    attacker's name; addresses given as IP literals cannot be rebound, so they pass."""

    def __init__(self, allowed: Iterable[str], hostname: Optional[str] = None) -> None:
        names = {*LOOPBACK_NAMES}
        own = socket.gethostname() if hostname is None else hostname
        if own:
            names.add(own.lower())
        self.any = False
        self.suffixes: list[str] = []
        for entry in allowed:
            entry = entry.strip().lower()
            if entry == "*":
                self.any = True
            elif entry.startswith("."):
                self.suffixes.append(entry.rstrip("."))
            elif entry:
                names.add(host_name(entry))
        self.names = frozenset(names)

    def allows(self, value: Optional[str]) -> bool:
        if self.any or value is None:  # no Host: not a browser (HTTP/1.0 probes)
            return True
        name = host_name(value)
        if name in self.names or _is_ip(name):
            return True
        return any(name.endswith(suffix) for suffix in self.suffixes)

    def check(self, scope: Scope) -> None:
        value = header(scope, b"host")
        if not self.allows(value):
            shown = host_name(value or "")[:100]
            raise ClientError(
                421, f"host {shown!r} is not served here: add it to SERVING_ALLOWED_HOSTS"
            )


def bearer_matches(scope: Scope, *tokens: Optional[bytes]) -> bool:
    given = (header(scope, b"authorization") or "").encode("latin-1")
    ok = False
    for token in tokens:
        if token is not None:
            ok |= hmac.compare_digest(given, b"Bearer " + token)
    return ok


def check_admin(scope: Scope, admin_token: Optional[bytes]) -> None:
    """Repository routes: refused when no admin token is set, else only with that token."""
    if admin_token is None:
        raise ClientError(403, f"repository routes are off: {ADMIN_HINT}")
    if not bearer_matches(scope, admin_token):
        raise ClientError(
            401, "repository routes need the header Authorization: Bearer <admin token>"
        )


def media_type(scope: Scope) -> str:
    return (header(scope, b"content-type") or "").split(";")[0].strip().lower()


def require_json(scope: Scope) -> None:
    media = media_type(scope)
    if media != "application/json":
        shown = media or "none"
        raise ClientError(415, f"this route takes Content-Type: application/json, not {shown}")


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def store_path(raw: object, store: tuple[str, ...]) -> str:
    """The real path of a load request's model, which must lie in the model store.

    Relative paths are taken from the store's first directory; ``..`` is refused outright,
    and symlinks are resolved before the check, so none leads out of the store.
    """
    if not isinstance(raw, str) or not raw.strip():
        raise ClientError(400, 'expected {"parameters": {"path": "<model file in the container>"}}')
    if "\0" in raw:
        raise ClientError(400, "the model path holds a NUL character")
    if ".." in raw.replace("\\", "/").split("/"):
        raise ClientError(400, "the model path may not contain '..': give it inside the store")
    if not store:
        raise ClientError(403, "no model store is set: set SERVING_MODEL_STORE")
    candidate = raw if os.path.isabs(raw) else os.path.join(store[0], raw)
    real = os.path.realpath(candidate)
    if not any(_inside(real, root) for root in store):
        raise ClientError(
            403,
            f"{raw} is outside the model store ({', '.join(store)}): copy the model there "
            "or set SERVING_MODEL_STORE",
        )
    return real


def check_in_store(path: str, shown: str, store: tuple[str, ...]) -> None:
    """A file picked inside a directory of the store must not lead out of it either."""
    real = os.path.realpath(path)
    if not any(_inside(real, root) for root in store):
        raise ClientError(403, f"{shown} leads outside the model store ({', '.join(store)})")
