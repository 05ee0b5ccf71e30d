"""Prometheus text-format metrics, kept in plain dicts (the event loop is the only writer)."""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable

LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)


class Histogram:
    def __init__(self, buckets: Iterable[float]) -> None:
        self.buckets = tuple(buckets)
        self.counts = [0] * (len(self.buckets) + 1)
        self.total = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.total += value
        self.count += 1

    def render(self, name: str, labels: str = "") -> list[str]:
        sep = "," if labels else ""
        lines, running = [], 0
        for bound, count in zip(self.buckets, self.counts):
            running += count
            lines.append(f'{name}_bucket{{{labels}{sep}le="{bound:g}"}} {running}')
        lines.append(f'{name}_bucket{{{labels}{sep}le="+Inf"}} {self.count}')
        suffix = f"{{{labels}}}" if labels else ""
        lines.append(f"{name}_sum{suffix} {self.total:.6f}")
        lines.append(f"{name}_count{suffix} {self.count}")
        return lines


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Metrics:
    """Request counts by route and status, latency, errors, batch sizes and model swaps."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self.latency: dict[str, Histogram] = {}
        self.errors: dict[str, int] = defaultdict(int)
        self.batch_requests = Histogram(SIZE_BUCKETS)
        self.batch_rows = Histogram(SIZE_BUCKETS)
        self.swaps = 0
        self.models: dict[str, tuple[str, str]] = {}

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests[(method, route, status)] += 1
        if route not in self.latency:
            self.latency[route] = Histogram(LATENCY_BUCKETS)
        self.latency[route].observe(seconds)
        if status >= 500:
            self.errors["server"] += 1
        elif status >= 400:
            self.errors["client"] += 1

    def observe_batch(self, requests: int, rows: int) -> None:
        self.batch_requests.observe(requests)
        self.batch_rows.observe(rows)

    def render(self) -> str:
        lines = [
            "# HELP serving_requests_total HTTP requests by method, route and status.",
            "# TYPE serving_requests_total counter",
        ]
        for (method, route, status), count in sorted(self.requests.items()):
            lines.append(
                f'serving_requests_total{{method="{method}",route="{_escape(route)}",'
                f'status="{status}"}} {count}'
            )
        lines += [
            "# HELP serving_request_duration_seconds Time from request to response.",
            "# TYPE serving_request_duration_seconds histogram",
        ]
        for route, hist in sorted(self.latency.items()):
            lines += hist.render("serving_request_duration_seconds", f'route="{_escape(route)}"')
        lines += [
            "# HELP serving_errors_total Error responses by kind (client 4xx, server 5xx).",
            "# TYPE serving_errors_total counter",
        ]
        for kind in ("client", "server"):
            lines.append(f'serving_errors_total{{kind="{kind}"}} {self.errors[kind]}')
        lines += [
            "# HELP serving_batch_requests Requests merged into one predict call.",
            "# TYPE serving_batch_requests histogram",
        ]
        lines += self.batch_requests.render("serving_batch_requests")
        lines += [
            "# HELP serving_batch_rows Rows in one predict call.",
            "# TYPE serving_batch_rows histogram",
        ]
        lines += self.batch_rows.render("serving_batch_rows")
        lines += [
            "# HELP serving_model_swaps_total Models replaced in place.",
            "# TYPE serving_model_swaps_total counter",
            f"serving_model_swaps_total {self.swaps}",
            "# HELP serving_model_info The model each name serves now.",
            "# TYPE serving_model_info gauge",
        ]
        for name, (flavor, sha) in sorted(self.models.items()):
            lines.append(
                f'serving_model_info{{name="{_escape(name)}",flavor="{flavor}",sha256="{sha}"}} 1'
            )
        return "\n".join(lines) + "\n"
