"""Jupyter server for the browser tests (the tests upload the example notebook into it)."""

import os

from jupyterlab.galata import configure_jupyter_server

c = get_config()  # type: ignore[name-defined]  # noqa: F821
configure_jupyter_server(c)

c.ServerApp.ip = "127.0.0.1"
c.ServerApp.port = int(os.environ.get("CONTAINERIZE_UI_PORT", "18300"))
c.ServerApp.port_retries = 0
c.ServerApp.allow_root = True
c.ServerApp.open_browser = False
c.IdentityProvider.token = os.environ.get("JLAB_TEST_TOKEN", "containerize-ui-token")
