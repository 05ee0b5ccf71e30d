"""A distribution's ``Requires-Python`` is judged against the exact Python the image is built
for (the kernel's release, 3.11.7, not 3.11.0): a wheel that needs 3.11.5 installs, and for a
Python older than it needs the build stops in one line naming the distribution, both versions
and the way out."""

from __future__ import annotations

from pathlib import Path

import pytest
from jc_support import pure_wheel

from jupyter_containerize.core.errors import ContainerizeError
from jupyter_containerize.core.image import installer
from jupyter_containerize.core.image.assemble import exact_python


@pytest.fixture()
def needs_patch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("JUPYTER_CONTAINERIZE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("UV_OFFLINE", "1")
    (tmp_path / "wheels").mkdir()
    wheel = pure_wheel(tmp_path / "wheels", "patchy", ">=3.11.5")
    return {"patchy-1.0": f"patchy @ {wheel.as_uri()}"}


def test_a_newer_patch_release_installs_it(needs_patch: dict[str, str]) -> None:
    folders = installer.ensure(needs_patch, "3.11", "linux/amd64", None,
                               python_version="3.11.7")
    assert (folders["patchy-1.0"] / "lib/python3.11/site-packages/patchy/__init__.py").is_file()


@pytest.mark.hostile
def test_an_older_patch_release_stops_in_one_line(needs_patch: dict[str, str]) -> None:
    with pytest.raises(ContainerizeError) as caught:
        installer.ensure(needs_patch, "3.11", "linux/amd64", None, python_version="3.11.2")
    line = caught.value.one_line()
    assert line.startswith("patchy==1.0 needs Python >=3.11.5; the image is built for Python "
                           "3.11.2"), line
    assert "freeze again" in line
    assert "\n" not in line and "Traceback" not in line
    assert not (installer.store("3.11", "linux/amd64") / "patchy-1.0").exists()


def test_the_exact_python_is_the_base_patch_release_only_when_it_is_plain() -> None:
    assert exact_python("3.11.7", "3.11") == "3.11.7"
    assert exact_python("3.11", "3.11") == "3.11"
    assert exact_python("3.11.7+", "3.11") == "3.11"
    assert exact_python("3.12.1", "3.11") == "3.11"
