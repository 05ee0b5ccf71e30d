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

# everything the tests create carries this run's label; run.sh removes it at the end
run_id = os.environ.get("JC_TEST_RUN_ID")
if run_id:
    c.ContainerizeConfig.extra_labels = {"io.jupyter-containerize.test-run": run_id}

# a configured default the Lab forms must follow (the Build form's lock select, from the
# server's options route)
c.ContainerizeConfig.lock_mode = "imported"

# the team registry of the sharing tests (run.sh points DOCKER_CONFIG at a temporary folder
# and the team spec logs in there before it pushes)
c.ContainerizeConfig.registry = os.environ.get("JC_TEST_REGISTRY", "127.0.0.1:5000")
