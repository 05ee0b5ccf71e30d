"""A deployment's admin token: the secret the serving runtime asks for on its repository routes
(loading and unloading models), so only the CLI that started the deployment can swap its model.

One random token per deployment, made when the deployment starts fresh and kept in the data
directory (``deployments/NAME/admin-token``, mode 0600, its folder 0700) for later serves of
the same name; removed with the deployment. A container reads it from that file bind-mounted
read-only (``SERVING_ADMIN_TOKEN_FILE``) where the engine runs on this machine and the file can
be made readable by the container's user without opening it to other users of the host; from
``SERVING_ADMIN_TOKEN`` otherwise (and when the engine refuses the mount: one in a root or VM
of its own does not see this machine's files). It never enters an image, a log line or a job record.
"""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path
from typing import Any

from ..engine import client as engine
from ..engine import containers
from ..paths import data_dir, write_atomic

IN_CONTAINER = "/run/jc-serving/admin-token"
ENV_FILE = "SERVING_ADMIN_TOKEN_FILE"
ENV_VALUE = "SERVING_ADMIN_TOKEN"


def folder(name: str) -> Path:
    return data_dir() / "deployments" / name


def path(name: str) -> Path:
    return folder(name) / "admin-token"


def read(name: str) -> str | None:
    """The admin token of the deployment ``name`` (None when it has none)."""
    try:
        return path(name).read_text(encoding="ascii").strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def create(name: str) -> str:
    """A new admin token for a deployment starting fresh, written with mode 0600."""
    token = secrets.token_urlsafe(32)
    where = folder(name)
    where.mkdir(parents=True, exist_ok=True)
    os.chmod(where, 0o700)
    write_atomic(path(name), token.encode("ascii"))  # a temporary file made 0600, renamed
    os.chmod(path(name), 0o600)
    return token


def ensure(name: str) -> str:
    return read(name) or create(name)


def remove(name: str) -> None:
    shutil.rmtree(folder(name), ignore_errors=True)


def _mountable() -> bool:
    """The engine reads this machine's files, and the container user can read a 0600 file
    whose folder only we can open (ours when we are that uid; chowned when we are root)."""
    if engine.is_remote() or os.getuid() not in (0, containers.UID):
        return False
    security = containers.security_options()
    if security is None:  # an engine that does not say: the variable always works
        return False
    return not any("rootless" in opt for opt in security)


def variable(token: str) -> dict[str, str]:
    return {ENV_VALUE: token}


def wiring(name: str, token: str) -> tuple[dict[str, str], list[Any]]:
    """(environment, mounts) that hand ``token`` to a serving container of ``name``."""
    if _mountable():
        source = path(name)
        if read(name) != token:
            return variable(token), []
        if os.getuid() == 0:
            os.chown(source, containers.UID, containers.UID)  # its 0700 folder stays root's
        mount = containers.bind_mount(str(source), IN_CONTAINER, read_only=True)
        return {ENV_FILE: IN_CONTAINER}, [mount]
    return variable(token), []
