"""Running uv as every install and resolve does: its binary, the package index (the
configured one, never with its password in a process list or a message), and the platform tag
of an image platform."""

from __future__ import annotations

import functools
import os
import subprocess
import tempfile
import urllib.parse
from contextvars import ContextVar
from pathlib import Path

from ..errors import InstallError

_ARCH = {"linux/amd64": "x86_64", "linux/arm64": "aarch64", "linux/arm64/v8": "aarch64"}
NEWEST_MANYLINUX = (2, 40)  # the newest glibc tag the installer knows


def platform_tag(platform: str, glibc: str | None = None) -> str:
    """uv's --python-platform for an image platform whose C library is ``glibc`` (the
    base image's): the newest manylinux wheels it can run, never an older, fatter fallback."""
    arch = _ARCH.get(platform)
    if arch is None:
        known = ", ".join(sorted(_ARCH))
        raise InstallError(f"platform {platform} is not supported", hint=f"use {known}")
    try:
        major, minor = (int(x) for x in (glibc or "2.28").split(".")[:2])
    except ValueError:
        major, minor = 2, 28
    major, minor = min((major, minor), NEWEST_MANYLINUX)
    return f"{arch}-manylinux_{major}_{minor}"


@functools.cache
def uv_bin() -> str:
    from uv import find_uv_bin

    return str(find_uv_bin())


_INDEX_VARS = ("UV_INDEX_URL", "PIP_INDEX_URL")
# ContainerizeConfig.index_url of the build or serve under way in this thread (use_index)
_CONFIGURED_INDEX: ContextVar[str] = ContextVar("jupyter_containerize_index_url", default="")


def use_index(url: str) -> None:
    """Make ``url`` (``ContainerizeConfig.index_url``; empty: none) the index of the image
    installs that follow in this thread; each build, freeze and serve sets its own."""
    _CONFIGURED_INDEX.set(url)


# ContainerizeConfig.ca_bundle of the build under way in this thread (use_ca_bundle)
_CONFIGURED_CA: ContextVar[str] = ContextVar("jupyter_containerize_ca_bundle", default="")


def use_ca_bundle(path: str) -> None:
    """Make ``path`` (``ContainerizeConfig.ca_bundle``; empty: the host's) the CA bundle the
    image installs that follow in this thread trust: a TLS-intercepting proxy's."""
    _CONFIGURED_CA.set(path)


def ca_bundle(default: str = "") -> str:
    """The configured CA bundle, else ``default``."""
    return _CONFIGURED_CA.get() or default


def index_url() -> str | None:
    """The package index for image installs: the configured one, else an http(s) index the
    host's UV_INDEX_URL / PIP_INDEX_URL names (never a file://), else none (PyPI)."""
    for url in (_CONFIGURED_INDEX.get(), *(os.environ.get(v, "") for v in _INDEX_VARS)):
        if url.startswith(("http://", "https://")):
            return url
    return None


def bare_url(url: str, user: str = "") -> str:
    """``url`` without its user and password (``user``, when given, stands in their place)."""
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}@{host}" if user else host))


def shown_url(url: str) -> str:
    """``url`` fit for a message or a log: any user and password replaced by ``***``."""
    return bare_url(url, user="***")


def run_uv(
    args: list[str], files: dict[str, list[str]] | None = None, timeout: float | None = None
) -> subprocess.CompletedProcess[str]:
    """``uv ARGS`` as every image install runs it: no uv configuration files of the user's,
    the user's index given through the environment (so its credentials never show in a
    process list), and each argument named in ``files`` replaced by a temporary file holding
    those lines."""
    env = {**os.environ, "UV_NO_CONFIG": "1"}
    url = index_url()
    if url:
        env["UV_INDEX_URL"] = url
    if ca_bundle():
        env["SSL_CERT_FILE"] = ca_bundle()
    with tempfile.TemporaryDirectory(prefix="jc-uv-") as tmp:
        cmd = [uv_bin(), "--color", "never"]  # plain text to read, whatever a kernel forces
        for arg in args:
            if files and arg in files:
                path = Path(tmp, arg)
                path.write_text("\n".join(files[arg]) + "\n")
                arg = str(path)
            cmd.append(arg)
        try:
            return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise InstallError(f"uv could not run: {exc}", hint="reinstall the uv package") from exc


def uv_reason(stderr: str) -> str:
    """The lines of uv's error output that say why (its progress lines left out)."""
    lines = [line.strip(" ×╰─▶") for line in stderr.splitlines() if line.strip()]
    useful = [line for line in lines if not line.startswith(("Using ", "Resolved "))]
    return " ".join(useful[-3:]) or "uv failed"
