"""drift() and `freeze --check` compare the lock with the same new lock (env.freezing.next_lock)."""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat
import pytest

from jupyter_containerize.core import api
from jupyter_containerize.core.env.drift import drift
from jupyter_containerize.core.errors import LockDriftError
from jupyter_containerize.core.models import Distribution, EnvironmentSpec


def _spec(*pins: tuple[str, str]) -> EnvironmentSpec:
    dists = [
        Distribution(name=n, version=v, top_level=[n]) for n, v in (("ipykernel", "6.29.5"), *pins)
    ]
    return EnvironmentSpec(
        python_version="3.11.7", python_executable="/x/bin/python", distributions=dists
    )


@pytest.fixture
def notebook(tmp_path: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import six")]
    path = tmp_path / "analysis.ipynb"
    nbformat.write(nb, path)
    return path


def test_no_lock_is_not_frozen(notebook: Path) -> None:
    assert drift(notebook, _spec()) == {"frozen": False}


def test_drift_and_check_see_the_same_changes(notebook: Path) -> None:
    spec = _spec(("six", "1.16.0"))
    lock = api.freeze(notebook, spec=spec, lock="imported", platform="linux/arm64")
    written = lock.read_bytes()
    same = drift(notebook, spec)
    assert same == {
        "frozen": True, "drifted": False, "changes": [], "lock": lock.name, "mode": "imported"
    }  # fmt: skip

    later = copy.deepcopy(spec)
    later.distributions[1].version = "1.17.0"
    found = drift(notebook, later)
    assert found["drifted"] and found["changes"] == ["~ six 1.16.0 -> 1.17.0"]
    with pytest.raises(LockDriftError) as info:
        api.freeze(notebook, spec=later, lock="imported", platform="linux/arm64", check=True)
    assert info.value.data["diff"] == found["changes"]
    assert lock.read_bytes() == written  # neither writes the lock
