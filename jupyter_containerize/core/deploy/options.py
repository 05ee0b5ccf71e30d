"""The options of a serve, checked before anything starts: one line with the fix for each.

``--name`` is a container name, ``--port`` a port number, ``--host`` an address (or a name
resolved to one) of this machine on a local engine, ``--skops-trust`` dotted type names.
"""

from __future__ import annotations

import ipaddress
import re
import socket

from ..engine import client as engine
from ..errors import ContainerizeError


def valid_name(name: str) -> str:
    if not re.fullmatch(r"[a-z0-9][a-z0-9_.-]{0,62}", name or ""):
        raise ContainerizeError(
            f"{name!r} is not a valid deployment name",
            hint="use lowercase letters, digits, . _ - (at most 63), starting with a letter "
            "or digit, e.g. --name churn-model",
        )
    return name


_HOSTNAME = re.compile(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)"
                       r"(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?", re.IGNORECASE)
_SKOPS_TYPE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+")


def valid_port(port: object) -> int | None:
    """``--port``: None (a free one) or 1-65535."""
    if port is None:
        return None
    try:
        value = int(str(port).strip())
    except ValueError:
        value = -1
    if not 0 < value < 65536 or isinstance(port, bool):
        raise ContainerizeError(f"--port {port} is not a port number",
                                hint="use 1-65535, or omit --port for a free one")
    return value


def valid_host(host: object, local: bool = True) -> str:
    """``--host``: an IP address, or a name resolved to one (the engine binds addresses).
    On a local engine the address must be one of this machine's."""
    text = str(host if host is not None else "").strip()
    hint = "use an IP address of this machine (127.0.0.1, or 0.0.0.0 to expose it) or a " \
        "name that resolves to one, e.g. --host localhost"
    try:
        address = str(ipaddress.ip_address(text.strip("[]")))
    except ValueError:
        numeric = bool(re.fullmatch(r"[0-9.]+", text))
        if numeric or not _HOSTNAME.fullmatch(text):
            raise ContainerizeError(f"--host {text!r} is not an IP address or a host name",
                                    hint=hint) from None
        try:
            infos = socket.getaddrinfo(text, None, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            raise ContainerizeError(f"--host {text} does not resolve to an address",
                                    hint=hint) from None
        found = sorted({str(i[4][0]) for i in infos}, key=lambda a: (":" in a, a))
        address = found[0]
    if local and not ipaddress.ip_address(address).is_unspecified:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        try:
            with socket.socket(family) as sock:
                sock.bind((address, 0))
        except OSError:
            raise ContainerizeError(f"--host {text} is not an address of this machine",
                                    hint=hint) from None
    return address


def valid_skops_types(types: list[str] | tuple[str, ...] | None) -> list[str]:
    """``--skops-trust TYPE``: dotted names of types the user approves for skops loading."""
    out: list[str] = []
    for name in types or []:
        text = str(name).strip()
        if not _SKOPS_TYPE.fullmatch(text):
            raise ContainerizeError(
                f"--skops-trust {name!r} is not a type name",
                hint="give the full dotted name of one type, e.g. --skops-trust "
                "sklearn.ensemble._forest.RandomForestClassifier (repeat the option for more)",
            )
        if text not in out:
            out.append(text)
    return out


def allowed_hosts(host: str, *names: str) -> list[str]:
    """Host names the runtime accepts beside localhost and the container's own: the
    remote engine's name, an address the user bound other than a wildcard, ``names``."""
    out = [n for n in names if n]
    if engine.is_remote():
        out.append(engine.engine_host())
    if host not in ("", "0.0.0.0", "::", "127.0.0.1", "::1"):
        out.append(host)
    return sorted(set(out))
