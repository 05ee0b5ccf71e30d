"""Which registries are trusted how: what the engine would trust.

CA roots and client certificate pairs come from ``certs.d/HOST/`` (``/etc/docker/certs.d``,
the rootless ``~/.config/docker/certs.d``, or ``$JUPYTER_CONTAINERIZE_CERTS_D``); loopback
hosts speak plain HTTP unless a ``certs.d`` folder names them; hosts listed in
``ContainerizeConfig.insecure_registries`` or ``$JUPYTER_CONTAINERIZE_INSECURE_REGISTRIES``
(or, when the caller has an engine, the engine's own insecure registries) are reached without
TLS verification.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

from requests.adapters import HTTPAdapter

from ..config import ContainerizeConfig, resolve
from ..errors import RegistryError

CERTS_D_ENV = "JUPYTER_CONTAINERIZE_CERTS_D"
INSECURE_ENV = "JUPYTER_CONTAINERIZE_INSECURE_REGISTRIES"

# the engine's insecure registries, asked only when needed (a caller with an engine passes it)
EngineInsecure = Callable[[], set[str]]


def is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    name = name.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def certs_d_roots() -> list[Path]:
    """Where per-registry certificates live: the override, else the engine's folders."""
    override = os.environ.get(CERTS_D_ENV)
    if override:
        return [Path(p) for p in override.split(os.pathsep) if p]
    config_home = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
    return [Path("/etc/docker/certs.d"), Path(config_home) / "docker" / "certs.d"]


def certs_dir(host: str) -> Path | None:
    """The ``certs.d/HOST`` folder for ``host``, or None."""
    for root in certs_d_roots():
        folder = root / host
        if folder.is_dir():
            return folder
    return None


def insecure_hosts(config: ContainerizeConfig | None = None) -> set[str]:
    """Hosts trusted without TLS verification: the configuration's and the environment's
    (``$JUPYTER_CONTAINERIZE_INSECURE_REGISTRIES``)."""
    hosts = {h.strip() for h in os.environ.get(INSECURE_ENV, "").split(",") if h.strip()}
    return hosts | set(resolve(config).insecure_registries)


def is_insecure(host: str, config: ContainerizeConfig | None = None,
                engine_insecure: EngineInsecure | None = None) -> bool:
    """Whether ``host`` is reached without TLS verification: configured so, or one of the
    engine's insecure registries (asked only for a host that is not loopback and has no
    ``certs.d`` folder, so a registry-only verb never needs an engine)."""
    if host in insecure_hosts(config):
        return True
    if is_loopback(host) or certs_dir(host) is not None or engine_insecure is None:
        return False
    return host in engine_insecure()


def tls_context(folder: Path | None) -> ssl.SSLContext:
    """The system's roots plus ``*.crt`` of ``folder``; its ``*.cert``/``*.key`` pairs."""
    ctx = ssl.create_default_context()
    if folder is None:
        return ctx
    for crt in sorted(folder.glob("*.crt")):
        try:
            ctx.load_verify_locations(cafile=str(crt))
        except (ssl.SSLError, OSError) as exc:
            raise RegistryError(f"{crt} is not a readable CA certificate: {exc}",
                                hint="replace it with the registry's CA certificate (PEM)"
                                ) from exc
    for cert in sorted(folder.glob("*.cert")):
        key = cert.with_suffix(".key")
        if not key.exists():
            raise RegistryError(f"client certificate {cert} has no {key.name}",
                                hint=f"put its private key beside it as {key}")
        try:
            ctx.load_cert_chain(str(cert), str(key))
        except (ssl.SSLError, OSError) as exc:
            raise RegistryError(f"client certificate {cert} cannot be loaded: {exc}",
                                hint="check that the .cert and .key files are a PEM pair"
                                ) from exc
    return ctx


class ContextAdapter(HTTPAdapter):
    """An HTTPS adapter verifying with one SSL context (CA roots and client certificates)."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self._context = context
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["ssl_context"] = self._context
        super().init_poolmanager(*args, **kwargs)
