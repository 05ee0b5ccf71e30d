"""Serving runtime that runs inside a serving container.

Started as ``python -m jupyter_containerize.serving serve`` (or ``serve`` alone, as SageMaker
does). It speaks the SageMaker contract and the Open Inference Protocol V2 REST, and imports
nothing else of this project, so the image builder can copy this package on its own.
"""

from __future__ import annotations

# Installed by the image builder into their own directory, placed after the user's
# site-packages on sys.path, so the user's versions of any of these win.
RUNTIME_REQUIREMENTS: list[str] = [
    "uvicorn==0.54.0; python_version >= '3.10'",
    "uvicorn==0.39.0; python_version < '3.10'",
    "httptools==0.9.0",
    "h11==0.16.0",
    "click==8.5.1; python_version >= '3.10'",
    "click==8.1.8; python_version < '3.10'",
    "cloudpickle==3.1.3",
    # request and response JSON several times faster than the standard library's
    "orjson==3.13.0; python_version >= '3.10'",
    "orjson==3.10.18; python_version < '3.10'",
    "typing_extensions==4.16.0; python_version < '3.11'",
    # /metrics in Prometheus' text format
    "prometheus_client==0.26.0",
]

__all__ = ["RUNTIME_REQUIREMENTS"]
