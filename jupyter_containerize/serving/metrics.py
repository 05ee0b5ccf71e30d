"""The /metrics of one app: counts kept in plain dicts (the event loop is the only writer),
written in Prometheus' text format by prometheus_client from a registry of the app's own.

The counting is ours, not prometheus_client's metric objects: bucket bounds keep the labels
/metrics has always shown (``le="1"``, not ``le="1.0"``), and a request pays a dict update
instead of a lock (docs/decisions.md has the measurement).
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"
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

    def cumulative(self) -> list[tuple[str, float]]:
        """(le, observations at or below it) for every bound, then +Inf."""
        out: list[tuple[str, float]] = []
        running = 0
        for bound, count in zip(self.buckets, self.counts):
            running += count
            out.append((f"{bound:g}", running))
        out.append(("+Inf", self.count))
        return out


class Metrics(Collector):
    """Request counts by route and status, latency, errors, batch sizes and model swaps."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self.latency: dict[str, Histogram] = {}
        self.errors: dict[str, int] = defaultdict(int)
        self.batch_requests = Histogram(SIZE_BUCKETS)
        self.batch_rows = Histogram(SIZE_BUCKETS)
        self.swaps = 0
        self.models: dict[str, tuple[str, str]] = {}
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

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

    def model_loaded(self, name: str, flavor: str, sha256: str, replaced: bool) -> None:
        if replaced:
            self.swaps += 1
        self.models[name] = (flavor, sha256)

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "serving_requests", "HTTP requests by method, route and status.",
            labels=("method", "route", "status"),
        )
        for (method, route, status), count in sorted(self.requests.items()):
            requests.add_metric((method, route, str(status)), count)
        yield requests
        latency = HistogramMetricFamily(
            "serving_request_duration_seconds", "Time from request to response.",
            labels=("route",),
        )
        for route, hist in sorted(self.latency.items()):
            latency.add_metric((route,), hist.cumulative(), hist.total)
        yield latency
        errors = CounterMetricFamily(
            "serving_errors", "Error responses by kind (client 4xx, server 5xx).",
            labels=("kind",),
        )
        for kind in ("client", "server"):
            errors.add_metric((kind,), self.errors[kind])
        yield errors
        for name, doc, hist in (
            ("serving_batch_requests", "Requests merged into one predict call.",
             self.batch_requests),
            ("serving_batch_rows", "Rows in one predict call.", self.batch_rows),
        ):
            family = HistogramMetricFamily(name, doc)
            family.add_metric((), hist.cumulative(), hist.total)
            yield family
        yield CounterMetricFamily(
            "serving_model_swaps", "Models replaced in place.", value=self.swaps
        )
        info = InfoMetricFamily(
            "serving_model", "The model each name serves now.", labels=("name",)
        )
        for name, (flavor, sha) in sorted(self.models.items()):
            info.add_metric((name,), {"flavor": flavor, "sha256": sha})
        yield info

    def render(self) -> bytes:
        return generate_latest(self.registry)
