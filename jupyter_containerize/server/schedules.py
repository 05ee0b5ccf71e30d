"""Schedules over REST: ``/containerize/api/schedules``.

``GET schedules`` lists them; ``POST schedules {notebook, cron, timezone?, image?, newest?,
python?, parameters?, timeout?, overlap?, missed?, webhook?, notify?, webhook_token_env?}``
adds one (the options of ``schedule add``, checked against the table before anything starts;
it builds the image it pins unless given ``image`` or ``newest``, so it needs ``allow_build``);
``GET schedules/ID`` answers one with the runs its ticks started; ``PATCH schedules/ID
{status: paused|active}`` pauses or resumes it; ``DELETE schedules/ID`` removes it. The server
extension runs the ticks.
"""

from __future__ import annotations

import json
from typing import Any

import tornado.web
from jupyter_server.auth.decorator import authorized

from ..core import api
from ..core.errors import VerbDisabledError
from ..core.options import verb
from ..core.optionspec import OptionError
from .handlers import ContainerizeHandler, off_loop
from .verbs import BadRequest

ADD = "schedule add"
STATUSES = {"paused": api.schedule_pause, "active": api.schedule_resume}


def check_body(body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """``(notebook, options)`` of a POST, checked against the table: a 400 names what is
    wrong."""
    spec = verb(ADD)
    allowed = {o.name: o for o in spec.rest_options()}
    unknown = sorted(set(body) - set(allowed) - {"notebook"})
    if unknown:
        raise OptionError(f"schedule add takes no option {unknown[0]!r}",
                          f"it takes: notebook, {', '.join(sorted(allowed))}")
    notebook = body.get("notebook")
    if not isinstance(notebook, str) or not notebook:
        raise BadRequest("'notebook' is missing", "give the notebook's path in the server")
    options = {name: allowed[name].check(ADD, value) for name, value in body.items()
               if name != "notebook" and value is not None}
    for opt in allowed.values():
        if opt.required and not options.get(opt.name):
            raise OptionError(f"schedule add needs the option {opt.name!r}",
                              f"add {opt.name!r}, e.g. \"0 6 * * *\"")
    return notebook, options


class _ScheduleJSON(ContainerizeHandler):
    def wake_scheduler(self) -> None:
        """The server's scheduler looks at the schedules now, not at its next pass."""
        scheduler = getattr(self.extensionapp, "scheduler", None)
        if scheduler is not None:
            scheduler.wake()

    def schedule_json(self, sched: Any) -> dict[str, Any]:
        data: dict[str, Any] = sched.to_json()
        data["path"] = self.extensionapp.relative_path(data["target"])  # type: ignore[attr-defined]
        return data


class SchedulesHandler(_ScheduleJSON):
    """``GET schedules``; ``POST schedules``: add one."""

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        found = await off_loop(lambda: api.schedule_list(store=self.store,
                                                         config=self.containerize_config))
        self.finish(json.dumps({"schedules": [self.schedule_json(s) for s in found]}))

    @tornado.web.authenticated
    @authorized
    async def post(self) -> None:
        cfg = self.containerize_config
        switch = verb(ADD).switch
        if switch and not getattr(cfg, switch):
            raise VerbDisabledError("schedule add is switched off on this server",
                                    f"an administrator set ContainerizeConfig.{switch} = False")
        path, options = check_body(self.json_body())
        notebook = self.extensionapp.notebook_path(  # type: ignore[attr-defined]
            path, pipelines=True)
        sched = await off_loop(lambda: api.schedule_add(notebook, store=self.store, config=cfg,
                                                        **options))
        self.wake_scheduler()
        self.set_status(201)
        self.finish(json.dumps(self.schedule_json(sched)))


class ScheduleHandler(_ScheduleJSON):
    """``GET``, ``PATCH {status}`` and ``DELETE schedules/ID``."""

    @tornado.web.authenticated
    @authorized
    async def get(self, schedule_id: str) -> None:
        def one() -> dict[str, Any]:
            sched = next((s for s in api.schedule_list(store=self.store) if s.id == schedule_id),
                         None)
            if sched is None:
                api.schedule_pause(schedule_id, store=self.store)  # raises the one 404
            data = self.schedule_json(sched)
            data["runs"] = [self.job_json(j) for j in self.store.list("run", limit=100000)
                            if (j.params or {}).get("schedule") == schedule_id]
            return data

        self.finish(json.dumps(await off_loop(one)))

    @tornado.web.authenticated
    @authorized
    async def patch(self, schedule_id: str) -> None:
        body = self.json_body()
        status = body.get("status")
        if set(body) != {"status"} or status not in STATUSES:
            raise BadRequest("send {\"status\": \"paused\"} or {\"status\": \"active\"}",
                             "paused stops the ticks; active resumes them from now")
        change = STATUSES[str(status)]
        sched = await off_loop(lambda: change(schedule_id, store=self.store,
                                              config=self.containerize_config))
        self.wake_scheduler()
        self.finish(json.dumps(self.schedule_json(sched)))

    @tornado.web.authenticated
    @authorized
    async def delete(self, schedule_id: str) -> None:
        sched = await off_loop(lambda: api.schedule_remove(schedule_id, store=self.store,
                                                           config=self.containerize_config))
        self.finish(json.dumps(self.schedule_json(sched)))
