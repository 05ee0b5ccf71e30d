"""The webhook a schedule calls when a tick's run ends: a JSON POST, retried, never fatal.

The body is ``{schedule, run, status, notebook, started, ended, output, due, image, error}``.
A connection error, a timeout, a 429 or a 5xx answer is retried with a doubling wait; another
4xx is not (the receiver refused the body, sending it again will not help). However it ends,
the outcome is returned and logged, and the schedule goes on. ``token_env`` names an
environment variable whose value, when set, is sent as ``Authorization: Bearer ...``: the
token itself is never stored.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

import requests

from .cron import ScheduleError

ATTEMPTS = 4
BACKOFF = 0.5  # seconds before the second attempt; doubled each time after
TIMEOUT = 10.0
CHECK_TIMEOUT = 5.0
_log = logging.getLogger(__name__)


def check_url(url: str) -> str:
    """``url`` when it is http(s) and something answers there (any HTTP status counts);
    one-line :class:`ScheduleError` when it is malformed, refused, unknown or silent."""
    parts = urlparse(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ScheduleError(f"the webhook {url!r} is not an http(s) URL",
                            hint="give one like https://hooks.example.org/containerize")
    try:
        requests.head(url, timeout=CHECK_TIMEOUT, allow_redirects=False)
    except requests.RequestException as exc:
        raise ScheduleError(f"the webhook {url} does not answer: {_reason(exc)}",
                            hint="start the receiver or correct the URL; nothing was added"
                            ) from None
    return url


def _reason(exc: BaseException) -> str:
    if isinstance(exc, requests.ConnectionError):
        text = str(exc)
        if "refused" in text.lower():
            return "connection refused"
        if "resolve" in text.lower() or "name or service" in text.lower():
            return "unknown host"
        return "cannot connect"
    if isinstance(exc, requests.Timeout):
        return "no answer in time"
    return type(exc).__name__


def send(url: str, body: dict[str, Any], *, token_env: str = "", attempts: int = ATTEMPTS,
         backoff: float = BACKOFF, sleep: Callable[[float], None] = time.sleep,
         log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """POST ``body`` to ``url``; returns ``{delivered, attempts, status, error}``."""
    say = log or _log.warning
    headers = {"Content-Type": "application/json", "User-Agent": "jupyter-containerize"}
    token = os.environ.get(token_env, "") if token_env else ""
    if token:
        headers["Authorization"] = f"Bearer {token}"
    outcome: dict[str, Any] = {"delivered": False, "attempts": 0, "status": None, "error": ""}
    wait = backoff
    for attempt in range(1, max(1, attempts) + 1):
        outcome["attempts"] = attempt
        retry = True
        try:
            answer = requests.post(url, json=body, headers=headers, timeout=TIMEOUT)
            outcome["status"] = answer.status_code
            if answer.status_code < 400:
                outcome.update(delivered=True, error="")
                return outcome
            outcome["error"] = f"HTTP {answer.status_code}"
            retry = answer.status_code == 429 or answer.status_code >= 500
        except requests.RequestException as exc:
            outcome["error"] = _reason(exc)
        if not retry or attempt == attempts:
            break
        sleep(wait)
        wait *= 2
    say(f"webhook {url} for run {body.get('run') or '-'} not delivered after "
        f"{outcome['attempts']} attempt(s): {outcome['error']}")
    return outcome
