"""``%containerize`` in a real kernel (nbclient) against the real engine, and its pure parts."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests
from IPython.core.error import UsageError
from kernel_support import Kernel

from jupyter_containerize.core.config import ContainerizeConfig
from jupyter_containerize.core.errors import ContainerizeError
from jupyter_containerize.magic.magics import (
    serve_target,
    session_notebook,
    settings,
    verb_parser,
)

engine = pytest.mark.engine


def _last(text: str, prefix: str) -> str:
    return next(ln for ln in reversed(text.splitlines()) if ln.startswith(prefix))[len(prefix):]


def _one_error_line(kernel: Kernel, line: str, starts: str) -> str:
    """Run a magic line that must fail: one output, one line, starting with ``starts``."""
    outputs = kernel.run(line)
    assert len(outputs) == 1, outputs
    text = str(outputs[0].get("text", ""))
    assert text.startswith(starts) and text.count("\n") == 1, text
    return text


@engine
def test_pip_install_in_the_kernel_is_captured_and_built(
    kernel: Kernel, docker_client: Any, test_labels: dict[str, str]
) -> None:
    kernel.text("%pip install -q six==1.16.0\nimport six")
    out = kernel.text("spec = %containerize capture\n"
                      "print('SIX', {d.name: d.version for d in spec.distributions}['six'],"
                      " 'six' in spec.imported, spec.live_kernel)")
    assert _last(out, "SIX ") == "1.16.0 True True", out

    out = kernel.text("ref = %containerize build\nprint('REF', ref)")
    ref = _last(out, "REF ")
    assert "==> smoke test" in out or "reusing" in out, out
    image = docker_client.images.get(ref)
    for key, value in test_labels.items():
        assert image.labels.get(key) == value
    from jupyter_containerize.core.engine import client as core_engine

    code = "import six; print(six.__version__)"
    status, version = core_engine.run_once(ref, ["python", "-c", code])
    assert (status, version.strip()) == (0, "1.16.0")
    lock = json.loads(Path(kernel.notebook).with_suffix(".lock.json").read_text())
    assert {p["name"]: p["version"] for p in lock["packages"]}["six"] == "1.16.0"
    assert not [w for w in lock["warnings"] if "pydevd" in w], lock["warnings"]


@engine
def test_run_with_a_parameter_shows_the_record(kernel: Kernel) -> None:
    out = kernel.text("rec = %containerize run -p n 3\nrec")
    assert ": succeeded in " in out, out
    assert "reproduce: " in out and "parameters changed the run (n)" in out, out
    out = kernel.text("import json\nprint('REC', rec.status, rec.parameters, "
                      "''.join(json.load(open(rec.output))['cells'][-1]['outputs'][0]['text']))")
    assert _last(out, "REC ").split() == ["succeeded", "{'n':", "3}", "6"], out
    run_id = kernel.text("print(rec.id)").strip()
    assert run_id in kernel.text("%containerize runs --limit 3")


@engine
def test_a_bad_option_is_one_usage_error_line(kernel: Kernel) -> None:
    text = _one_error_line(kernel, "%containerize build --lock nope",
                           "UsageError: argument --lock: invalid choice: 'nope'")
    assert "%containerize build -h" in text
    help_text = kernel.text("%containerize run -h")
    assert "usage: %containerize run" in help_text and "--parameter NAME VALUE" in help_text


@engine
def test_without_a_session_it_asks_for_the_notebook_path(kernel: Kernel) -> None:
    kernel.text("_saved_session = __session__\ndel __session__")
    try:
        outputs = kernel.run("%containerize build")
        assert len(outputs) == 1, outputs
        assert "pass the notebook path" in outputs[0]["text"], outputs
        out = kernel.text(f"lock = %containerize -q freeze {kernel.notebook}\nprint('LOCK', lock)")
        assert _last(out, "LOCK ").endswith("analysis.lock.json"), out
    finally:
        kernel.text("__session__ = _saved_session")


@engine
def test_config_sets_the_defaults_of_options(kernel: Kernel) -> None:
    lock_file = Path(kernel.notebook).with_suffix(".lock.json")
    kernel.text("%config ContainerizeConfig.lock_mode = 'imported'")
    try:
        out = kernel.text("ref = %containerize -q build --dry-run\nprint('REF', ref)")
        assert _last(out, "REF ").startswith("jupyter-containerize/analysis:"), out
        assert json.loads(lock_file.read_text())["mode"] == "imported"
        assert "expected any of ['full', 'imported']" in kernel.text(
            "%config ContainerizeConfig.lock_mode = 'slim'")
    finally:
        kernel.text("%config ContainerizeConfig.lock_mode = 'full'")
        kernel.text("%containerize -q freeze")
    assert json.loads(lock_file.read_text())["mode"] == "full"


MODEL_CELL = """
import numpy as np

class RowSum:
    def __init__(self, threshold):
        self.threshold = threshold

    def predict(self, X):
        return (np.asarray(X, dtype=float).sum(axis=1) > self.threshold).astype(int)

model = RowSum(threshold=1.0)
print('MODULE', type(model).__module__)
"""


@engine
def test_serve_takes_the_live_object_of_a_class_from_a_cell(
    kernel: Kernel, docker_client: Any, test_labels: dict[str, str]
) -> None:
    from jupyter_containerize.core import api

    assert _last(kernel.text(MODEL_CELL), "MODULE ") == "__main__"
    name = f"t-magic-obj-{uuid.uuid4().hex[:6]}"
    try:
        out = kernel.text(f"dep = %containerize serve model --name {name}\n"
                          "print('URL', dep.url)")
        assert "serving the live object model (__main__.RowSum), pickled by value" in out, out
        assert "environment: this kernel's, for " in out, out
        url = _last(out, "URL ")
        assert _last(kernel.text("print('FLAVOR', dep.flavor)"), "FLAVOR ") == "cloudpickle"
        got = requests.post(f"{url}/invocations",
                            json={"inputs": [[0.2, 0.3], [1.0, 0.5], [-2.0, 4.0]]}, timeout=30)
        assert got.status_code == 200, got.text
        assert got.json()["predictions"] == [0, 1, 1], got.text
        container = docker_client.containers.get(f"jc-{name}")
        assert all(container.labels.get(k) == v for k, v in test_labels.items())
    finally:
        api.stop(name)
    assert name not in {d.name for d in api.deployments()}


@engine
def test_serve_errors_of_a_live_object_are_one_usage_error_line(kernel: Kernel) -> None:
    _one_error_line(kernel, "%containerize serve not_defined_here --object",
                    "UsageError: not_defined_here is not a variable")
    kernel.text("import threading\nheld = threading.Lock()")
    _one_error_line(kernel, "%containerize -q serve held --name t-magic-lock",
                    "UsageError: cannot save t-magic-lock by value: cannot pickle")


@pytest.mark.hostile
def test_pipeline_and_schedule_in_the_magic_say_what_is_wrong_in_one_line(
        kernel: Kernel) -> None:
    _one_error_line(kernel, "%containerize pipeline run nowhere/pipeline.yaml",
                    "UsageError: pipeline file nowhere/pipeline.yaml does not exist")
    _one_error_line(kernel, "%containerize schedule add --cron '61 * * * *'",
                    "UsageError: the cron expression '61 * * * *' is not valid: Bad minute")
    text = _one_error_line(kernel, "%containerize schedule run",
                           "UsageError: `schedule run` never ends by itself")
    assert "jupyter containerize schedule run" in text
    listed = kernel.text("%containerize schedule list")
    assert "Traceback" not in listed and "Error" not in listed, listed


# --- pure parts: no kernel, no engine -------------------------------------------------------

def test_serve_name_prefers_the_live_object_and_says_so(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "model").write_text("x")
    ns = {"model": object(), "other": 1}
    kind, target, note = serve_target("model", ns)
    assert (kind, target) == ("object", ns["model"]) and "pass --file" in note
    assert serve_target("model", ns, "file")[:2] == ("file", Path("model"))
    assert serve_target("other", ns) == ("object", 1, "")
    assert serve_target("model.joblib", ns)[0] == "file"
    with pytest.raises(ContainerizeError, match="not a variable"):
        serve_target("missing", ns, "object")


def test_session_notebook_from_jupyter_or_vscode(tmp_path: Path) -> None:
    nb = tmp_path / "sub" / "a.ipynb"
    nb.parent.mkdir()
    nb.write_text("{}")
    assert session_notebook({"__session__": str(nb)}) == nb
    assert session_notebook({"__session__": "sub/a.ipynb"}, cwd=tmp_path) == nb
    assert session_notebook({"__session__": "elsewhere/a.ipynb"}, cwd=nb.parent) == nb
    assert session_notebook({"__vsc_ipynb_file__": str(nb)}) == nb
    assert session_notebook({"__session__": "gone.ipynb"}, cwd=tmp_path) is None
    assert session_notebook({"__session__": "a console"}) is None
    assert session_notebook({}) is None


def test_the_cli_parser_is_reused_with_notebook_optional() -> None:
    parser = verb_parser(ContainerizeConfig(lock_mode="imported", run_timeout=42.0))
    args = parser.parse_args(["run", "-p", "n", "3"])
    assert (args.notebook, args.parameters, args.lock) == (None, [["n", "3"]], "imported")
    assert args.timeout == 42.0
    assert parser.parse_args(["build", "x.ipynb", "--lock", "full"]).lock == "full"
    assert parser.parse_args(["build"]).lock == "imported"
    serve = parser.parse_args(["serve", "clf", "--object"])
    assert (serve.model, serve.object, serve.file) == ("clf", True, False)
    with pytest.raises(UsageError, match="invalid choice"):
        parser.parse_args(["nope"])
    with pytest.raises(UsageError, match="not allowed with argument"):
        parser.parse_args(["serve", "clf", "--object", "--file"])


def test_one_configuration_from_the_file_and_the_kernels_ipython_config(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The config file gives lock_mode and builder; the kernel's IPython configuration wins
    where it says something too; the parser's defaults are that configuration's."""
    from types import SimpleNamespace

    from traitlets.config import Config

    (tmp_path / "jupyter_containerize_config.py").write_text(
        'c.ContainerizeConfig.lock_mode = "imported"\nc.ContainerizeConfig.builder = "classic"\n')
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path))
    shell = SimpleNamespace(config=Config({"ContainerizeConfig": {"builder": "layers"}}))
    cfg = settings(shell)
    assert (cfg.lock_mode, cfg.builder) == ("imported", "layers")
    args = verb_parser(cfg).parse_args(["build"])
    assert (args.lock, args.builder) == ("imported", "layers")
