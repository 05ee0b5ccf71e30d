"""Registry credentials exactly where Docker keeps them, read and written with no engine.

The Docker credential configuration is ``$DOCKER_CONFIG/config.json`` (else
``~/.docker/config.json``): ``auths`` entries (``auth`` is base64 ``user:password``, or an
``identitytoken``), and ``credsStore`` / ``credHelpers`` naming a ``docker-credential-NAME``
program that answers ``get`` / ``store`` on its standard input and output. Secrets are handed
to the caller and never logged, printed or stored anywhere else.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from ..errors import RegistryError
from .reference import INDEX_NAME

INDEX_URL = f"https://index.{INDEX_NAME}/v1/"  # the key Docker stores Docker Hub under
TOKEN_USERNAME = "<token>"  # a helper's answer that is an identity token, not a password
KEPT = ("username", "password", "identitytoken", "registrytoken", "serveraddress")


class _NotFound(Exception):
    """The credential helper has nothing for that host."""


def docker_config_path() -> Path:
    """Where Docker keeps its configuration (and where ``docker login`` writes)."""
    root = os.environ.get("DOCKER_CONFIG") or str(Path.home() / ".docker")
    return Path(root) / "config.json"


def _read_config() -> dict[str, Any]:
    """The credential configuration; a missing or unreadable file holds none (as Docker
    reads it), a legacy ``~/.dockercfg`` is its ``auths``."""
    path = docker_config_path()
    legacy = Path.home() / ".dockercfg"
    try:
        if path.exists():
            doc = json.loads(path.read_text())
        elif not os.environ.get("DOCKER_CONFIG") and legacy.exists():
            doc = {"auths": json.loads(legacy.read_text())}
        else:
            return {}
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _hostname(key: str) -> str:
    name = key.replace("http://", "").replace("https://", "").split("/", 1)[0]
    return INDEX_NAME if name == f"index.{INDEX_NAME}" else name


def _helper(name: str, action: str, data: bytes) -> bytes:
    program = f"docker-credential-{name}"
    exe = shutil.which(program)
    if exe is None:
        raise RegistryError(f"the credential helper {program} is not installed",
                            hint="install it, or name another in ~/.docker/config.json")
    proc = subprocess.run([exe, action], input=data, capture_output=True, check=False)
    if proc.returncode != 0:
        said = (proc.stdout or proc.stderr).decode(errors="replace").strip()
        if "credentials not found" in said.lower():
            raise _NotFound(said)
        raise RegistryError(f"the credential helper {program} failed: {said[:200]}",
                            hint="check that it is installed and unlocked")
    return proc.stdout


def _from_helper(name: str, host: str) -> dict[str, str]:
    server = INDEX_URL if host == INDEX_NAME else host
    try:
        found = json.loads(_helper(name, "get", server.encode()))
    except ValueError as exc:
        raise RegistryError(f"the credential helper docker-credential-{name} answered "
                            "something that is not JSON",
                            hint="check that it is installed and unlocked") from exc
    if not found.get("Username") and not found.get("Secret"):
        raise _NotFound(host)
    if found.get("Username") == TOKEN_USERNAME:
        return {"serveraddress": server, "identitytoken": found.get("Secret", "")}
    return {"serveraddress": server, "username": found.get("Username", ""),
            "password": found.get("Secret", "")}


def _from_entry(key: str, entry: Any) -> dict[str, str]:
    if not isinstance(entry, dict):
        return {}
    if entry.get("identitytoken"):
        return {"identitytoken": str(entry["identitytoken"])}
    if "auth" not in entry:
        return {}  # kept by a credential helper
    try:
        user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
    except (binascii.Error, ValueError):
        return {}
    return {"username": user, "password": password, "serveraddress": key}


def credentials(host: str) -> dict[str, str] | None:
    """The Docker credential configuration's entry for ``host`` (helpers included), or None."""
    config = _read_config()
    host = _hostname(host) if host else INDEX_NAME
    key = INDEX_URL if host == INDEX_NAME else host
    helper = (config.get("credHelpers") or {}).get(key) or config.get("credsStore")
    found: dict[str, str] = {}
    if helper:
        try:
            found = _from_helper(str(helper), host)
        except _NotFound:
            found = {}
        except RegistryError as exc:
            raise RegistryError(f"could not read Docker credentials for {host}: {exc.message}",
                                hint="check the credential helper named in "
                                     "~/.docker/config.json") from exc
    if not found:
        auths = config.get("auths") or {}
        entry = auths.get(host)
        name = host
        if entry is None:
            name, entry = next(((k, v) for k, v in auths.items() if _hostname(k) == host),
                               (host, None))
        found = _from_entry(name, entry)
    kept = {k: v for k, v in found.items() if k in KEPT and v}
    return kept or None


def store_login(host: str, username: str, password: str) -> None:
    """Keep a login where ``docker login`` keeps it: the credential helper when one is
    configured (the file then holds an empty entry), else base64 in the file (mode 0600)."""
    path = docker_config_path()
    try:
        config = json.loads(path.read_text()) if path.exists() else {}
    except ValueError as exc:
        raise RegistryError(f"{path} is not valid JSON", hint="fix or move it, then log in"
                            ) from exc
    helper = (config.get("credHelpers") or {}).get(host) or config.get("credsStore")
    if helper:
        secret = json.dumps({"ServerURL": host, "Username": username, "Secret": password})
        try:
            _helper(str(helper), "store", secret.encode())
        except (RegistryError, _NotFound) as exc:
            raise RegistryError(f"the credential helper docker-credential-{helper} failed",
                                hint="check that it is installed and unlocked") from exc
        config.setdefault("auths", {})[host] = {}
    else:
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        config.setdefault("auths", {})[host] = {"auth": token}
    _write_private(path, json.dumps(config, indent="\t") + "\n")


def _write_private(path: Path, text: str) -> None:
    """Write a file readable only by its owner, atomically (as the docker CLI does)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".config.json.")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
