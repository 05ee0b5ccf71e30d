"""The classic builder's package index: a mirror is named in the Dockerfile, a password never."""

from __future__ import annotations

import pytest

from jupyter_containerize.core.errors import BuildError
from jupyter_containerize.core.image import dockerfile, installer


@pytest.fixture(autouse=True)
def _no_index(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("UV_INDEX_URL", raising=False)
    monkeypatch.delenv("PIP_INDEX_URL", raising=False)
    installer.use_index("")


def test_no_index_means_pypi() -> None:
    assert dockerfile.image_index(for_reading=False) is None
    text = dockerfile.render("/usr/bin/python3", "base:1", False)
    assert "PIP_INDEX_URL" not in text


def test_a_mirror_without_password_is_used_inside_the_image(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PIP_INDEX_URL", "https://mirror.example/simple")
    index = dockerfile.image_index(for_reading=False)
    assert index == "https://mirror.example/simple"
    text = dockerfile.render("/usr/bin/python3", "base:1", False, index=index)
    pip_lines = [ln for ln in text.splitlines() if "/bin/pip " in ln]
    assert len(pip_lines) == 2
    assert all("PIP_INDEX_URL=https://mirror.example/simple " in ln for ln in pip_lines)


def test_a_password_is_refused_by_a_build_and_dropped_from_an_eject(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PIP_INDEX_URL", "https://team:hunter2-pw@repo.example/simple")
    assert dockerfile.image_index(for_reading=True) == "https://repo.example/simple"
    with pytest.raises(BuildError) as err:
        dockerfile.image_index(for_reading=False)
    text = f"{err.value} {err.value.hint}"
    assert "https://***@repo.example/simple" in text and "layers builder" in text
    assert "hunter2-pw" not in text
