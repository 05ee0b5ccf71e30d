"""The server reads the configuration file every front end reads, jupyter_containerize_config.*,
and still honours c.ContainerizeConfig in the server's own configuration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

SETTINGS = 'c.ContainerizeConfig.allow_push = False\nc.ContainerizeConfig.lock_mode = "imported"\n'


@pytest.fixture(params=["jupyter_containerize_config.py", "jupyter_server_config.py"])
def config_file(request: Any, jp_config_dir: Path) -> str:
    """One file in the server's config folder, written before the server starts."""
    (jp_config_dir / request.param).write_text(SETTINGS, encoding="utf-8")
    return str(request.param)


@pytest.fixture
def jp_server_config(jp_server_config: Any, config_file: str) -> Any:
    return jp_server_config


async def test_push_is_403_when_the_file_switches_it_off(
    api_call: Any, config_file: str
) -> None:
    status, data = await api_call("POST", "jobs", body={"kind": "push",
                                                        "options": {"image": "nb:1"}})
    assert status == 403, (config_file, data)
    assert data["message"] == "push is switched off on this server"
    assert "allow_push" in data["hint"]
    assert (await api_call("GET", "jobs"))[1] == {"jobs": []}
    info = (await api_call("GET", "info"))[1]
    assert info["allow_push"] is False
    table = (await api_call("GET", "options"))[1]
    lock = next(o for o in table["verbs"]["build"]["options"] if o["name"] == "lock")
    assert lock["default"] == "imported"
