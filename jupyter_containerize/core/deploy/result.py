"""What a serve returns: a Deployment with what this serve did."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..models import Deployment


@dataclass
class ServeResult(Deployment):
    """A Deployment, with what this serve did: image reuse, swap window, conformance checks."""

    image_cached: bool = False
    environment: str = ""  # the environment image the serving image was made from
    urls: list[str] = field(default_factory=list)
    swap: dict[str, Any] | None = None
    checks: list[dict[str, Any]] | None = None
    timings: dict[str, float] = field(default_factory=dict)
    note: str = ""  # what this serve found and did besides the plain path, for the user
