"""/metrics of the serving runtime, read with Prometheus' own text parser."""

from __future__ import annotations

import pytest

pytest.importorskip("prometheus_client")

from prometheus_client import REGISTRY  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from jupyter_containerize.serving.metrics import Metrics  # noqa: E402


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = metrics.render().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_two_apps_count_apart_and_leave_the_process_registry_alone() -> None:
    before = {m.name for m in REGISTRY.collect()}
    one, two = Metrics(), Metrics()
    one.observe_request("POST", "/invocations", 200, 0.002)
    one.observe_request("POST", "/invocations", 200, 0.003)
    two.observe_request("GET", "/ping", 503, 0.0001)
    key = (("method", "POST"), ("route", "/invocations"), ("status", "200"))
    assert samples(one)[("serving_requests_total", key)] == 2
    assert ("serving_requests_total", key) not in samples(two)
    assert samples(two)[("serving_errors_total", (("kind", "server"),))] == 1
    assert samples(one)[("serving_errors_total", (("kind", "server"),))] == 0
    assert {m.name for m in REGISTRY.collect()} == before


def test_bucket_bounds_labels_and_swaps_as_before() -> None:
    metrics = Metrics()
    metrics.observe_request("POST", '/v2/models/a"b\\c/infer', 404, 0.2)
    metrics.observe_batch(3, 100)
    metrics.model_loaded("rf", "joblib", "a" * 64, replaced=False)
    metrics.model_loaded("rf", "skops", "b" * 64, replaced=True)
    got = samples(metrics)
    text = metrics.render().decode()
    assert 'serving_batch_requests_bucket{le="1"} 0.0' in text
    assert got[("serving_batch_requests_bucket", (("le", "4"),))] == 1
    assert got[("serving_batch_rows_bucket", (("le", "128"),))] == 1
    assert got[("serving_batch_rows_sum", ())] == 100
    route = (("le", "0.25"), ("route", '/v2/models/a"b\\c/infer'))
    assert got[("serving_request_duration_seconds_bucket", route)] == 1
    assert got[("serving_errors_total", (("kind", "client"),))] == 1
    assert got[("serving_model_swaps_total", ())] == 1
    info = (("flavor", "skops"), ("name", "rf"), ("sha256", "b" * 64))
    assert got[("serving_model_info", info)] == 1
    assert [k for k in got if k[0] == "serving_model_info"] == [("serving_model_info", info)]
