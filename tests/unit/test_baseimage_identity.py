"""Unit tests of core/image/base: identity, naming, parsing and the search order (no engine)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import docker.errors
import pytest

from jupyter_containerize.core import labels
from jupyter_containerize.core.errors import BaseImageError
from jupyter_containerize.core.image import base as bi
from jupyter_containerize.core.image.base import carry, debian

DPKG = "adduser\t3.134\nlibssl3:amd64\t3.0.22-1~deb12u2\npython3\t3.11.2-1+b1\n"


def test_identity_is_deterministic_and_order_free() -> None:
    pkgs = bi.parse_dpkg_query(DPKG)
    first = bi.base_identity("bookworm", pkgs)
    assert first == bi.base_identity("bookworm", list(reversed(pkgs)) + pkgs[:1])
    assert first.startswith("sha256:") and len(first) == 7 + 64


def test_identity_changes_with_each_input() -> None:
    pkgs = bi.parse_dpkg_query(DPKG)
    first = bi.base_identity("bookworm", pkgs)
    assert first != bi.base_identity("trixie", pkgs)
    assert first != bi.base_identity("bookworm", pkgs[:-1] + ["python3=3.11.2-1+b2"])
    carried = bi.base_identity("bookworm", pkgs, interpreter={"version": "3.12.1", "sha256": "a"})
    assert carried != first
    other = bi.base_identity("bookworm", pkgs, interpreter={"version": "3.12.1", "sha256": "b"})
    assert carried != other


def test_parse_dpkg_query_sorted_pairs() -> None:
    assert bi.parse_dpkg_query(DPKG + "\n") == [
        "adduser=3.134",
        "libssl3:amd64=3.0.22-1~deb12u2",
        "python3=3.11.2-1+b1",
    ]


def test_reference_naming() -> None:
    identity = "sha256:" + "0123456789ab" + "f" * 52
    ref = bi.base_reference("bookworm", "3.11.2", identity)
    assert ref == "jupyter-containerize/base:bookworm-py3.11.2-0123456789ab"
    assert labels.is_valid_reference(ref)


def test_versions_and_official_references() -> None:
    assert bi.minor_of("3.12.1") == "3.12" and bi.minor_of("3.13") == "3.13"
    with pytest.raises(BaseImageError):
        bi.minor_of("python")
    assert bi.official_references("3.11.7") == ["python:3.11.7-slim", "python:3.11-slim"]
    assert bi.official_references("3.11") == ["python:3.11-slim"]
    assert bi.site_packages_layout("3.12.1") == "lib/python3.12/site-packages"


def test_replace_in_binary_keeps_shared_tails() -> None:
    old, new = b"/root/.pyenv/versions/3.12.1", b"/usr/local"
    data = b"\0abc\0" + old + b"\0" + old + b"/lib\0xyz\0"
    out = carry.replace_in_binary(data, old, new)
    assert len(out) == len(data) and old not in out and b"/root" not in out
    first = out.index(b"/usr/local")
    assert out[first : out.index(b"\0", first)] == b"/usr/local"
    # the version tail a linker may share stays where it was
    tail = data.index(b"3.12.1\0")
    assert out[tail : tail + 7] == b"3.12.1\0"
    second = out.index(b"/usr/local/lib")
    assert out[second : out.index(b"\0", second)] == b"/usr/local/lib"


def test_replace_in_binary_refuses_longer_prefix() -> None:
    with pytest.raises(BaseImageError):
        carry.replace_in_binary(b"\0/opt/p\0", b"/opt/p", b"/usr/local")


def test_rewrite_prefix_text_and_links(tmp_path: Path) -> None:
    old = "/home/alice/.pyenv/versions/3.10.13"
    (tmp_path / "bin").mkdir()
    script = tmp_path / "bin" / "tool"
    script.write_text(f"#!{old}/bin/python3.10\nprint(1)\n")
    script.chmod(0o755)
    (tmp_path / "bin" / "link").symlink_to(f"{old}/bin/tool")
    assert carry._rewrite_prefix(tmp_path, [old], "/usr/local") == 1
    assert script.read_text().startswith("#!/usr/local/bin/python3.10\n")
    assert script.stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "bin" / "link").readlink().as_posix() == "tool"


def test_host_sources_parsing() -> None:
    deb822 = (
        "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\n"
        "Components: main\n\nTypes: deb\nURIs: http://mirror.example/security\n"
        "Suites: bookworm-security\nComponents: main\n"
    )
    stanzas = debian._deb822(deb822)
    assert stanzas[0] == ("http://mirror.example/debian", ["bookworm", "bookworm-updates"], "main")
    one = debian._one_line("deb [arch=amd64] http://m.example/debian bullseye main contrib # x\n")
    assert one == [("http://m.example/debian", ["bullseye"], "main contrib")]


def _base(version: str, route: str = "debian") -> bi.BaseImage:
    return bi.BaseImage(
        reference=f"r:{version}",
        image_id="sha256:x",
        identity="sha256:y",
        python_version=version,
        python_path="/usr/bin/python3",
        site_packages_layout=bi.site_packages_layout(version),
        glibc="2.36",
        route=route,
    )


def test_best_bootstrapped_prefers_exact_patch() -> None:
    bases = [_base("3.11.2"), _base("3.11.7", "carried"), _base("3.12.1")]
    assert bi.best_bootstrapped(bases, "3.11.7").python_version == "3.11.7"  # type: ignore[union-attr]
    got = bi.best_bootstrapped(bases, "3.11.9")
    assert got is not None and got.python_version == "3.11.2" and not got.exact
    assert bi.best_bootstrapped(bases, "3.10.13") is None


class _Images:
    def get(self, ref: str) -> Any:
        raise docker.errors.ImageNotFound(ref)

    def list(self, filters: Any = None) -> list[Any]:
        return []


class _Client:
    images = _Images()


def test_find_base_errors_name_the_routes() -> None:
    with pytest.raises(BaseImageError) as err:
        bi.find_base(_Client(), "3.12.1", pull=False)
    assert err.value.message == "no base image for Python 3.12"
    assert "--bootstrap --python 3.12" in err.value.hint and "--base IMAGE" in err.value.hint
    with pytest.raises(BaseImageError) as err:
        bi.find_base(_Client(), "3.12.1", configured="team/base:1", pull=False)
    assert "team/base:1" in err.value.message and err.value.hint



# a build as its own process, on an engine with no image and no registry it can reach; prints
# the pulls it tried
OFFLINE_BUILD = """
import json, sys
import docker.errors
from jupyter_containerize.core.errors import BaseImageError
from jupyter_containerize.core.image import base

class Images:
    pulls = []
    said = sys.argv[2]
    def get(self, ref):
        raise docker.errors.ImageNotFound(ref)
    def list(self, filters=None):
        return []
    def pull(self, repository, tag):
        self.pulls.append(repository + ":" + tag)
        raise docker.errors.APIError(self.said, explanation=self.said)

class Client:
    images = Images()

try:
    base.find_base(Client(), "3.12.1", configured=(sys.argv[1] or None))
except BaseImageError as exc:
    print(json.dumps([Images.pulls, exc.message]))
"""


UNREACHABLE = "dial tcp: lookup registry-1.docker.io: no such host"


def _offline_build(cache: Path, configured: str = "",
                   said: str = UNREACHABLE) -> tuple[list[str], str]:
    import json
    import os
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", OFFLINE_BUILD, configured, said], check=True,
                         capture_output=True, text=True,
                         env={**os.environ, "JUPYTER_CONTAINERIZE_CACHE_DIR": str(cache)})
    pulls, message = json.loads(out.stdout)
    return pulls, message


def test_an_official_base_that_could_not_be_pulled_is_not_tried_again_by_the_next_build(
        tmp_path: Path) -> None:
    # the registry did not answer for the first name: the second is not asked for
    official = ["python:3.12.1-slim"]
    assert _offline_build(tmp_path) == (official, "no base image for Python 3.12")
    assert _offline_build(tmp_path) == ([], "no base image for Python 3.12")
    # a base the user names is pulled whatever the record says
    for _ in range(2):
        pulls, message = _offline_build(tmp_path, "team/base:1")
        assert pulls == ["team/base:1"] and "team/base:1" in message
    # once the record is old, the official names are tried again
    record = tmp_path / "bases" / "failed-pulls.json"
    import json

    old = {ref: when - bi.find.RETRY_PULL_AFTER - 1
           for ref, when in json.loads(record.read_text()).items()}
    record.write_text(json.dumps(old))
    assert _offline_build(tmp_path)[0] == official


def test_a_registry_that_answers_is_asked_for_each_official_name(tmp_path: Path) -> None:
    said = "manifest for python:3.12.1-slim not found: manifest unknown"
    both = ["python:3.12.1-slim", "python:3.12-slim"]
    assert _offline_build(tmp_path, said=said)[0] == both
    assert _offline_build(tmp_path, said=said)[0] == []  # each recorded as failed
