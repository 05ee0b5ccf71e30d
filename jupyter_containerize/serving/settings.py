"""Settings of the serving runtime, all read from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Optional

DEFAULT_MODEL_DIR = "/opt/ml/model"


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
    access_log: bool = True
    # a deployment's replacement shares the port with the server it replaces (SO_REUSEPORT)
    # and so listens only once its model is ready; a readiness socket of its own
    reuse_port: bool = False
    ready_socket: Optional[str] = None

    @classmethod
    def from_env(cls, env: Optional[Mapping[str, str]] = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            host=env.get("SERVING_HOST", "0.0.0.0") or "0.0.0.0",
            port=_int(env, "SERVING_PORT", 8080),
            model_path=env.get("MODEL_PATH") or DEFAULT_MODEL_DIR,
            model_name=env.get("MODEL_NAME") or None,
            token=env.get("SERVING_TOKEN") or None,
            max_batch_size=max(1, _int(env, "MAX_BATCH_SIZE", 4096)),
            max_batch_wait_ms=max(0.0, _float(env, "MAX_BATCH_WAIT_MS", 2.0)),
            max_request_bytes=max(1, _int(env, "MAX_REQUEST_BYTES", 32 * 1024 * 1024)),
            access_log=_flag(env, "SERVING_ACCESS_LOG", True),
            reuse_port=_flag(env, "SERVING_REUSE_PORT", False),
            ready_socket=env.get("SERVING_READY_SOCKET") or None,
        )
