"""GET options: the one option table, with the defaults the server's configuration gives; the
Lab forms read their choices and defaults from it."""

from __future__ import annotations

from typing import Any

import pytest

from jupyter_containerize.core.options import LOCK_MODES


def _option(table: dict[str, Any], verb: str, name: str) -> dict[str, Any]:
    return next(o for o in table["verbs"][verb]["options"] if o["name"] == name)


async def test_the_table_lists_every_job_verb_and_its_choices(api_call: Any) -> None:
    status, table = await api_call("GET", "options")
    assert status == 200, table
    assert sorted(table["verbs"]) == ["build", "pipeline run", "pull", "push", "run", "serve"]
    lock = _option(table, "build", "lock")
    assert lock["choices"] == list(LOCK_MODES) and lock["default"] == "full"
    assert lock["help"] and lock["trait"] == "lock_mode"
    assert table["verbs"]["push"]["switch"] == "allow_push"
    assert _option(table, "serve", "model")["required"] is True


class TestConfigured:
    @pytest.fixture
    def containerize_config(self) -> dict[str, Any]:
        return {"lock_mode": "imported", "registry": "registry.example:5000/team",
                "run_timeout": 120.0}

    async def test_configured_values_are_the_defaults(self, api_call: Any) -> None:
        table = (await api_call("GET", "options"))[1]
        assert _option(table, "build", "lock")["default"] == "imported"
        assert _option(table, "run", "lock")["default"] == "imported"
        assert _option(table, "run", "timeout")["default"] == 120.0
        assert _option(table, "push", "registry")["default"] == "registry.example:5000/team"


@pytest.mark.hostile
@pytest.mark.parametrize(
    ("options", "message", "hint"),
    [
        ({"lock": "most"}, "build option 'lock' cannot be 'most'", "use one of: full, imported"),
        ({"no_cache": "yes"}, "option 'no_cache' has the wrong type",
         "'no_cache' must be true or false"),
        ({"colour": "red"}, "build takes no option 'colour'", "build takes: "),
    ],
    ids=["lock-choice", "bool-type", "unknown-option"],
)
async def test_a_body_the_table_refuses_is_400_with_its_line(
    api_call: Any, notebook: str, options: dict[str, Any], message: str, hint: str
) -> None:
    body = {"kind": "build", "notebook": notebook, "options": options}
    status, data = await api_call("POST", "jobs", body=body)
    assert status == 400, data
    assert data["message"] == message and data["hint"].startswith(hint)
    assert "Traceback" not in str(data)
    assert (await api_call("GET", "jobs"))[1] == {"jobs": []}


@pytest.mark.hostile
@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"timeout": -5}, "--timeout must be a positive number"),
        ({"cpus": 0}, "--cpus must be a number of CPUs"),
        ({"memory": "lots"}, "--memory 'lots' is not an amount of memory"),
        ({"parameters": {"1x": 2}}, "a parameter name must be a Python identifier"),
    ],
    ids=["timeout", "cpus", "memory", "parameter-name"],
)
async def test_run_values_are_checked_before_any_job(
    api_call: Any, notebook: str, options: dict[str, Any], words: str
) -> None:
    body = {"kind": "run", "notebook": notebook, "options": options}
    status, data = await api_call("POST", "jobs", body=body)
    assert status == 400, data
    assert words in data["message"] and data["hint"] and "\n" not in data["message"]
    assert (await api_call("GET", "jobs"))[1] == {"jobs": []}
