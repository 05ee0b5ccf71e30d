"""How the image installs call uv: files for requirement lines, the user's index by the
environment, and messages that never show an index password."""

from __future__ import annotations

import socket

import pytest

from jupyter_containerize.core.errors import InstallError
from jupyter_containerize.core.image import installer


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://pypi.org/simple", "https://pypi.org/simple"),
        ("https://team:pw@repo.example/simple/", "https://***@repo.example/simple/"),
        ("http://token@10.0.0.1:8080/simple", "http://***@10.0.0.1:8080/simple"),
    ],
)
def test_shown_url_hides_user_and_password(url: str, shown: str) -> None:
    assert installer.shown_url(url) == shown


def test_index_from_the_environment_only_when_http(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("UV_INDEX_URL", raising=False)
    monkeypatch.setenv("PIP_INDEX_URL", "file:///srv/wheels")
    assert installer.index_url() is None
    monkeypatch.setenv("PIP_INDEX_URL", "https://a.example/simple")
    monkeypatch.setenv("UV_INDEX_URL", "https://b.example/simple")
    assert installer.index_url() == "https://b.example/simple"


def test_requirement_lines_go_through_a_file() -> None:
    done = installer.run_uv(["pip", "compile", "requirements.in", "--no-index", "--quiet",
                             "--no-header", "--no-annotate"], {"requirements.in": []})
    assert done.returncode == 0, done.stderr


def test_unreachable_private_index_is_named_without_its_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.delenv("UV_INDEX_URL", raising=False)
    monkeypatch.setenv("PIP_INDEX_URL", f"http://team:canary-pw-7@127.0.0.1:{port}/simple")
    monkeypatch.setenv("UV_HTTP_RETRIES", "0")
    with pytest.raises(InstallError) as err:
        installer.resolve(["requests==2.32.3"], "3.11", "linux/amd64")
    text = f"{err.value} {err.value.hint} {getattr(err.value, 'log', '')}"
    assert f"http://***@127.0.0.1:{port}/simple could not be reached" in str(err.value)
    assert "canary-pw-7" not in text


def test_configured_index_wins_over_the_hosts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIP_INDEX_URL", "https://host.example/simple")
    try:
        installer.use_index("https://team.example/simple")
        assert installer.index_url() == "https://team.example/simple"
    finally:
        installer.use_index("")
    assert installer.index_url() == "https://host.example/simple"


@pytest.mark.hostile
@pytest.mark.parametrize(
    ("stderr", "pin"),
    [
        ("  ╰─▶ Because jc-no-such-dist-4711 was not found in the package registry and you "
         "require jc-no-such-dist-4711==1.0, we can conclude that your requirements are "
         "unsatisfiable.", "jc-no-such-dist-4711"),
        ("  ╰─▶ Because there is no version of numpy==9.9.9 and you require numpy==9.9.9, we "
         "can conclude that your requirements are unsatisfiable.", "numpy==9.9.9"),
    ],
)
def test_a_pin_the_index_lacks_is_named_with_the_fix(stderr: str, pin: str) -> None:
    err = installer._install_error(stderr, "linux/amd64")
    assert str(err).startswith(f"{pin} is not on the package index ")
    assert "correct its pin" in (err.hint or "") and "apt.txt" not in (err.hint or "")
