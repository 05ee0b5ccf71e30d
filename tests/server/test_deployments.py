"""The test-request proxy refuses what it does not forward, and names what to do."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.mark.hostile
async def test_a_route_that_is_not_proxied_is_400(api_call: Any) -> None:
    status, data = await api_call(
        "POST", "deployments", "churn", "invoke", body={}, params={"route": "admin"}
    )
    assert status == 400, data
    assert data["message"] == "route 'admin' is not proxied" and "invocations" in data["hint"]


@pytest.mark.hostile
@pytest.mark.engine
async def test_an_unknown_deployment_is_404(api_call: Any, docker_client: Any) -> None:
    status, data = await api_call("POST", "deployments", "nope-never-served", "invoke", body={})
    assert status == 404, data
    assert data["message"] == "no deployment named 'nope-never-served'"
    assert data["hint"] == "serve a model first"
