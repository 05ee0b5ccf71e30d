"""Notebook 7 server of the widget test (playwright-notebook7.config.js starts it).

The root is a temporary folder (CONTAINERIZE_NB7_ROOT when run.sh sets it) holding a copy of
the example notebook whose kernel is ``python3``: the kernel of this virtualenv, which has our
package, so ``%containerize`` can show its panel there.
"""

import json
import os
import tempfile
from pathlib import Path

c = get_config()  # type: ignore[name-defined]  # noqa: F821

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "classifier" / "classifier.ipynb"

root = Path(os.environ.get("CONTAINERIZE_NB7_ROOT") or tempfile.mkdtemp(prefix="jc-nb7-"))
root.mkdir(parents=True, exist_ok=True)
notebook = json.loads(EXAMPLE.read_text(encoding="utf-8"))
notebook["metadata"]["kernelspec"] = {
    "name": "python3",
    "display_name": "Python 3 (ipykernel)",
    "language": "python",
}
(root / EXAMPLE.name).write_text(json.dumps(notebook, indent=1) + "\n", encoding="utf-8")

c.ServerApp.root_dir = str(root)
c.ServerApp.ip = "127.0.0.1"
c.ServerApp.port = int(os.environ.get("CONTAINERIZE_NB7_PORT", "18310"))
c.ServerApp.port_retries = 0
c.ServerApp.allow_root = True
c.ServerApp.open_browser = False
c.IdentityProvider.token = os.environ.get("JLAB_TEST_TOKEN", "containerize-ui-token")
c.ServerApp.terminals_enabled = False
