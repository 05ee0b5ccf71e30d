"""``GET options``: the one option table, with the defaults this server's configuration gives.

The Lab forms read their choices and defaults from here (a configured ``lock_mode`` is the
Build form's default), so the browser repeats none of them.
"""

from __future__ import annotations

import json

import tornado.web
from jupyter_server.auth.decorator import authorized

from ..core.options import table
from .handlers import ContainerizeHandler


class OptionsHandler(ContainerizeHandler):
    @tornado.web.authenticated
    @authorized
    def get(self) -> None:
        self.finish(json.dumps(table(self.containerize_config)))
