"""The settings of a build reach every uv run of its installs, also those started in the
install's worker threads: the configured index (ContainerizeConfig.index_url) and the CA
bundle of a TLS-intercepting proxy (ContainerizeConfig.ca_bundle)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from jupyter_containerize.core.env import uv
from jupyter_containerize.core.errors import ContainerizeError
from jupyter_containerize.core.image import installer


@pytest.fixture(autouse=True)
def fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("JUPYTER_CONTAINERIZE_CACHE_DIR", str(tmp_path / "cache"))
    yield
    uv.use_index("")
    uv.use_ca_bundle("")


@pytest.mark.hostile
def test_the_configured_index_reaches_the_install_threads() -> None:
    uv.use_index("http://127.0.0.1:9/simple")  # nothing listens there
    with pytest.raises(ContainerizeError) as caught:
        installer.ensure({"six-1.17.0": "six==1.17.0"}, "3.11", "linux/amd64", None,
                         no_cache=True)
    assert "127.0.0.1:9" in caught.value.one_line()


def test_the_configured_ca_bundle_is_the_one_uv_trusts(tmp_path: Path) -> None:
    bundle = tmp_path / "proxy-ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\nnot a certificate\n"
                      "-----END CERTIFICATE-----\n")
    uv.use_ca_bundle(str(bundle))
    uv.use_index("https://pypi.org/simple")
    proc = uv.run_uv(["pip", "compile", "--no-cache", "--python-version", "3.11", "req.in"],
                     {"req.in": ["six==1.17.0"]}, timeout=120)
    # uv was handed that bundle, and only that one (it says it trusts nothing else now)
    assert f"SSL_CERT_FILE`: {bundle}" in proc.stderr, proc.stderr
