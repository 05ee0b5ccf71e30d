"""The ``%containerize`` panel: rendered in a real kernel, its Build button building for real."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kernel_support import Kernel, write_notebook

from jupyter_containerize.core.models import EnvironmentSpec, RunRecord
from jupyter_containerize.widget import (
    ContainerizePanel,
    environment_html,
    parse_value,
)


@pytest.mark.engine
def test_panel_renders_and_its_build_button_builds(kernel: Kernel, docker_client: Any) -> None:
    out = kernel.text(
        "p = get_ipython().run_line_magic('containerize', '')\n"
        "print('KINDS', sorted({type(c).__name__ for c in p.children}))\n"
        "print('BUTTONS', [b.description for b in p.buttons])\n"
        "print('PARAMS', [(w.description, w.value) for w in p.parameters.children])\n"
        "print('ENV', p.environment.value)\n"
        "p"
    )
    assert "'Output'" in out and "'IntProgress'" not in out and "'ProgressView'" in out, out
    assert "BUTTONS ['Build', 'Run', 'Serve', 'Push']" in out, out
    assert "PARAMS [('n', '2')]" in out, out
    assert "<b>Python</b> 3.11" in out and "distributions" in out, out
    out = kernel.text("p.build_button.click()\nprint('DISABLED', p.build_button.disabled)\n"
                      "ref = p.wait(600)\nprint('REF', ref, p.last_error or '-')\n"
                      "print('SHOWN', p.image in p.result.value, p.build_button.disabled)")
    assert "DISABLED True" in out, out
    ref, error = out.split("REF ", 1)[1].splitlines()[0].split()
    assert error == "-", out
    assert docker_client.images.get(ref).id
    assert "SHOWN True False" in out, out


@pytest.mark.engine
def test_panel_errors_are_one_line_with_the_hint(kernel: Kernel) -> None:
    out = kernel.text("p2 = get_ipython().run_line_magic('containerize', '')\n"
                      "p2.notebook.value = ''\np2.build_button.click()\np2.wait(60)\n"
                      "print('ERR', p2.last_error)\nprint('STATUS', p2.status.value)")
    assert "ERR the panel does not know the notebook (type the saved notebook's path" in out
    assert "STATUS <span style='color:#c00'>error: " in out, out


# --- pure parts --------------------------------------------------------------------------

def test_run_form_from_the_parameters_cell(tmp_path: Path) -> None:
    nb = write_notebook(tmp_path / "a.ipynb")
    spec = EnvironmentSpec(python_version="3.11.7", python_executable="/x/python",
                           imported=["six"], live_kernel=True, warnings=["w1"])
    panel = ContainerizePanel(nb, capture=lambda: spec)
    assert [(w.description, w.value) for w in panel.parameters.children] == [("n", "2")]
    assert "3.11.7" in panel.environment.value and "w1" in panel.environment.value
    panel.notebook.value = str(tmp_path / "missing.ipynb")
    assert panel.parameters.children == ()


def test_helpers() -> None:
    assert parse_value("3") == 3 and parse_value("'a'") == "a" and parse_value("abc") == "abc"
    spec = EnvironmentSpec(python_version="3.12.1", python_executable="p")
    assert "nothing yet" in environment_html(spec)
    record = RunRecord(id="r1", notebook="n", image="i", status="succeeded", duration=1.5,
                       output="o.ipynb", reproduction={"text": "reproduced: 2 of 2"})
    assert record.summary().splitlines() == [
        "run r1: succeeded in 1.5s", "  notebook:  o.ipynb", "  reproduce: reproduced: 2 of 2"]
