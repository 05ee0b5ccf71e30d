"""`doctor` and `base`: what is wrong on this machine, each with its fix."""

from __future__ import annotations

import base64
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .config import ContainerizeConfig, resolve
from .errors import ContainerizeError


def _check(name: str, fn: Callable[[], str]) -> tuple[bool, str]:
    try:
        return True, f"ok    {name}: {fn()}"
    except ContainerizeError as exc:
        return False, f"FAIL  {name}: {exc.one_line()}"
    except Exception as exc:  # a doctor reports; it does not crash
        return False, f"FAIL  {name}: {type(exc).__name__}: {exc}"


def _engine() -> str:
    from .engine import client as engine
    from .engine.endpoint import engine_fix
    from .errors import EngineUnavailableError

    ep = engine.endpoint()  # raises with the context's name when the context is unusable
    try:
        info = engine.client().version()
    except EngineUnavailableError as exc:
        if exc.message.startswith("no Docker engine answers"):  # TLS errors keep their own fix
            raise EngineUnavailableError(exc.message, hint=engine_fix(ep, exc.message)) from exc
        raise
    from .engine.podman import version_of

    if (podman := version_of(info)) is not None:  # Podman's Docker-compatible API
        return f"Podman {podman} (Docker API {info.get('ApiVersion')}) at {ep.describe()}"
    from .engine.imagestore import kind

    store = kind(engine.client().info())
    return f"Docker {info.get('Version')} at {ep.describe()}; {store}"


def _base(cfg: ContainerizeConfig) -> str:
    from .engine import client as engine
    from .image.base.find import find_base

    minor = "{}.{}".format(*sys.version_info[:2])
    base = find_base(engine.client(), minor, cfg.base_image or None)
    return f"{base.reference} (Python {base.python_version})"


def _ca() -> str:
    for var in ("SSL_CERT_FILE", "PIP_CERT", "REQUESTS_CA_BUNDLE"):
        if os.environ.get(var) and Path(os.environ[var]).exists():
            return f"{var}={os.environ[var]} (used at build time, not kept in images)"
    if Path("/etc/ssl/certs/ca-certificates.crt").exists():
        return "system bundle /etc/ssl/certs/ca-certificates.crt"
    raise ContainerizeError("no CA bundle found",
                            hint="set SSL_CERT_FILE to your proxy's CA bundle")


def _index(cfg: ContainerizeConfig) -> str:
    from .image.installer import index_url, shown_url, use_index

    use_index(cfg.index_url)
    url = index_url() or "https://pypi.org/simple"
    try:
        urllib.request.urlopen(_authorized(url.rstrip("/") + "/pip/"), timeout=10).close()
    except OSError as exc:
        raise ContainerizeError(f"package index {shown_url(url)} does not answer: {exc}",
                                hint="set UV_INDEX_URL / PIP_INDEX_URL to a reachable index "
                                "and SSL_CERT_FILE to its CA") from exc
    return shown_url(url)


def _authorized(url: str) -> urllib.request.Request:
    """A request for ``url`` with its user and password, if any, as basic authentication
    (urllib does not take them from the URL)."""
    from .image.installer import bare_url

    parts = urllib.parse.urlsplit(url)
    if parts.username is None:
        return urllib.request.Request(url)
    user = urllib.parse.unquote(parts.username)
    password = urllib.parse.unquote(parts.password or "")
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return urllib.request.Request(bare_url(url), headers={"Authorization": f"Basic {token}"})


def _registry(cfg: ContainerizeConfig) -> str:
    reg = cfg.registry or os.environ.get("JUPYTER_CONTAINERIZE_REGISTRY", "")
    if not reg:
        return "none configured (set ContainerizeConfig.registry to share images)"
    host = reg.split("://", 1)[-1].split("/", 1)[0]
    scheme = "http" if host.startswith(("127.", "localhost")) else "https"
    try:
        urllib.request.urlopen(f"{scheme}://{host}/v2/", timeout=5).close()
    except urllib.error.HTTPError as exc:
        if exc.code == 401:
            return f"{host} answers; {_login_state(host)}"
        raise ContainerizeError(
            f"registry {host} answers HTTP {exc.code} at /v2/: it is not a registry",
            hint=REGISTRY_FIX,
        ) from exc
    except (urllib.error.URLError, OSError) as exc:
        raise ContainerizeError(
            f"registry {host} does not answer: {getattr(exc, 'reason', exc)}",
            hint=REGISTRY_FIX,
        ) from exc
    return f"{host} answers"


REGISTRY_FIX = (
    "check that the registry runs and that its host and port are right in "
    "ContainerizeConfig.registry or JUPYTER_CONTAINERIZE_REGISTRY; "
    "for a private registry with its own CA, add the CA to the system trust store"
)


def _login_state(host: str) -> str:
    """Whether Docker's credential store has a login for ``host``, and how to make one."""
    from .share.registry import credentials

    try:
        found = credentials(host)
    except ContainerizeError as exc:
        return f"login required; {exc.one_line()}"
    if found and found.get("username"):
        return f"logged in as {found['username']}"
    return (f"login required: run `jupyter containerize login {host} -u USER "
            "--password-stdin` (or `docker login` it)")


def doctor(out: Callable[[str], Any], *, config: ContainerizeConfig | None = None) -> int:
    cfg = resolve(config)
    failed = 0
    engine_ok = True
    checks: tuple[tuple[str, Callable[[], str]], ...] = (
        ("engine", _engine), ("base image", lambda: _base(cfg)), ("CA / proxy", _ca),
        ("package index", lambda: _index(cfg)), ("registry", lambda: _registry(cfg)))
    for name, fn in checks:
        if name == "base image" and not engine_ok:
            failed += 1
            out(f"FAIL  {name}: not checked: it needs the engine (see the engine's fix above)")
            continue
        ok, line = _check(name, fn)
        engine_ok = engine_ok and (ok or name != "engine")
        failed += not ok
        out(line)
    return 1 if failed else 0


def base_command(bootstrap: bool, python: str | None, show: Callable[[Any], None],
                 force: bool = False, *, config: ContainerizeConfig | None = None) -> int:
    """`base`: list bases; `base --bootstrap`: reuse one for that Python or build it offline."""
    from .engine import client as engine
    from .image.base import bootstrap as do_bootstrap
    from .image.base import ensure_base, list_bases
    from .progress import Event

    if not bootstrap:
        for base in list_bases(engine.client()):
            print(f"{base.reference}  Python {base.python_version}")
        return 0
    exe = python if python and os.path.sep in python else None
    version = None if exe else (python or "{}.{}".format(*sys.version_info[:2]))
    say = lambda msg: show(Event("log", str(msg)))  # noqa: E731
    if force:
        base = do_bootstrap(engine.client(), python_version=version, python_executable=exe,
                            progress=say)
    else:
        if exe and version is None:
            from .image.base import interpreter_info

            version = interpreter_info(exe)["version"]
        base = ensure_base(engine.client(), version or "", python_executable=exe, progress=say)
    print(base.reference)
    return 0
