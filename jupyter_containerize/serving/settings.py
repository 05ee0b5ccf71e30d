"""Settings of the serving runtime, all read from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Optional

DEFAULT_MODEL_DIR = "/opt/ml/model"
# the container's model root: the model (/opt/ml/model) and models staged for a swap beside it
CONTAINER_MODEL_ROOT = "/opt/ml"


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    return default if not raw else raw not in ("0", "false", "no")


def _list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in env.get(name, "").split(",") if x.strip())


def _admin_token(env: Mapping[str, str]) -> Optional[str]:
    """The admin token: from the file SERVING_ADMIN_TOKEN_FILE names, else SERVING_ADMIN_TOKEN."""
    file = env.get("SERVING_ADMIN_TOKEN_FILE", "").strip()
    if file:
        try:
            with open(file, encoding="utf-8") as handle:
                token = handle.read().strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise ValueError(f"SERVING_ADMIN_TOKEN_FILE {file} cannot be read: {reason}") from None
        if not token:
            raise ValueError(f"SERVING_ADMIN_TOKEN_FILE {file} is empty: write the token in it")
        return token
    return env.get("SERVING_ADMIN_TOKEN", "").strip() or None


def default_model_store(model_path: str) -> tuple[str, ...]:
    """Where load requests may read models: the container's model root when the model lies
    under it, else the directory holding the model."""
    real = os.path.realpath(model_path)
    root = os.path.realpath(CONTAINER_MODEL_ROOT)
    if real == root or real.startswith(root + os.sep):
        return (root,)
    folder = real if os.path.isdir(real) else os.path.dirname(real)
    # a model at the file system's root opens no more than itself
    return (folder,) if folder != os.path.dirname(folder) else (real,)


@dataclass(frozen=True)
class Settings:
    """Every knob of the runtime; see ``from_env`` for the variable names."""

    host: str = "0.0.0.0"
    port: int = 8080
    model_path: str = DEFAULT_MODEL_DIR
    model_name: Optional[str] = None
    token: Optional[str] = None
    max_batch_size: int = 4096
    max_batch_wait_ms: float = 2.0
    max_request_bytes: int = 32 * 1024 * 1024
    access_log: bool = False
    # repository routes (load, unload, index) answer only requests bearing this token
    admin_token: Optional[str] = None
    # Host header names served besides localhost, loopback addresses and the container's name
    allowed_hosts: tuple[str, ...] = ()
    # skops types the user approved beyond those skops trusts by itself
    skops_trusted: tuple[str, ...] = ()
    # directories load requests may read models from (symlinks resolved)
    model_store: tuple[str, ...] = ()
    # a deployment's replacement shares the port with the server it replaces (SO_REUSEPORT)
    # and so listens only once its model is ready; a readiness socket of its own
    reuse_port: bool = False
    ready_socket: Optional[str] = None

    @classmethod
    def from_env(cls, env: Optional[Mapping[str, str]] = None) -> Settings:
        env = os.environ if env is None else env
        model_path = env.get("MODEL_PATH") or DEFAULT_MODEL_DIR
        store = _list(env, "SERVING_MODEL_STORE") or default_model_store(model_path)
        return cls(
            host=env.get("SERVING_HOST", "0.0.0.0") or "0.0.0.0",
            port=_int(env, "SERVING_PORT", 8080),
            model_path=model_path,
            model_name=env.get("MODEL_NAME") or None,
            token=env.get("SERVING_TOKEN") or None,
            max_batch_size=max(1, _int(env, "MAX_BATCH_SIZE", 4096)),
            max_batch_wait_ms=max(0.0, _float(env, "MAX_BATCH_WAIT_MS", 2.0)),
            max_request_bytes=max(1, _int(env, "MAX_REQUEST_BYTES", 32 * 1024 * 1024)),
            access_log=_flag(env, "SERVING_ACCESS_LOG", False),
            admin_token=_admin_token(env),
            allowed_hosts=tuple(h.lower() for h in _list(env, "SERVING_ALLOWED_HOSTS")),
            skops_trusted=_list(env, "SERVING_SKOPS_TRUSTED"),
            model_store=tuple(os.path.realpath(d) for d in store),
            reuse_port=_flag(env, "SERVING_REUSE_PORT", False),
            ready_socket=env.get("SERVING_READY_SOCKET") or None,
        )
