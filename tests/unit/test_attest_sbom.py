"""The CycloneDX SBOM of an environment image: valid against the CycloneDX 1.6 JSON schema
(checked with cyclonedx-python-lib's strict validator), complete, deterministic."""

from __future__ import annotations

import copy
import json
import sysconfig
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from packageurl import PackageURL

from jupyter_containerize.core.attest.errors import AttestInputError, SbomSchemaError
from jupyter_containerize.core.attest.sbom import (
    build_sbom,
    deb_purl,
    licences_from_metadata,
    oci_purl,
    parse_dpkg_status,
    pypi_purl,
    sbom_bytes,
)
from jupyter_containerize.core.attest.sbomschema import check_sbom
from jupyter_containerize.core.env.lockfile import lock_bytes, lock_sha256
from jupyter_containerize.core.labels import LOCK_SHA256, NOTEBOOK_SHA256

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "classifier"
DPKG_STATUS = Path("/var/lib/dpkg/status")
NOTEBOOK_SHA = "ab" * 32
IMAGE_DIGEST = "sha256:" + "cd" * 32
WHEEL_SHA = "4721f391ed90541fddacab5acf947aa0d3dc7d27b2e1e8eda2be8970586c3274"


def _valid(doc: dict[str, Any]) -> None:
    """Fail unless the document validates against the CycloneDX 1.6 JSON schema."""
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(doc))
    if error is not None:
        detail = getattr(error, "data", error)
        pytest.fail(f"not a valid CycloneDX 1.6 document: {getattr(detail, 'message', detail)}")


@pytest.fixture(scope="module")
def lock() -> dict[str, Any]:
    data = json.loads((EXAMPLE / "classifier.lock.json").read_text())
    six = {"name": "six", "version": "1.17.0", "source": "index", "requirement": "six==1.17.0",
           "imported_as": [], "files": [{"name": "six-1.17.0-py2.py3-none-any.whl",
                                         "sha256": WHEEL_SHA, "index": "https://pypi.org/simple",
                                         "url": "https://files.example/six.whl"}]}  # fmt: skip
    data["packages"].append(six)
    return data  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def dpkg_text() -> str:
    return DPKG_STATUS.read_text(encoding="utf-8")


def test_sbom_lists_every_python_and_debian_package(lock: dict[str, Any], dpkg_text: str) -> None:
    doc = build_sbom(lock, image_name="127.0.0.1:5000/team/classifier:1", image_digest=IMAGE_DIGEST,
                     notebook_sha256=NOTEBOOK_SHA, dpkg_status=dpkg_text,
                     timestamp="2026-01-31T12:00:00+01:00")  # fmt: skip
    _valid(doc)
    assert doc["specVersion"] == "1.6" and doc["metadata"]["timestamp"] == "2026-01-31T11:00:00Z"
    purls = {c.get("purl") for c in doc["components"]}
    for package in lock["packages"]:
        assert pypi_purl(package["name"], package["version"]) in purls
    installed = parse_dpkg_status(dpkg_text)
    assert len(installed) > 50  # the machine's own Debian
    libc = next(e for e in installed if e["name"] == "libc6")
    assert deb_purl("libc6", libc["version"], libc["architecture"]) in purls
    plus = libc["version"].replace("+", "%2B")
    assert f"pkg:deb/debian/libc6@{plus}?arch={libc['architecture']}" in purls
    assert all(deb_purl(e["name"], e["version"], e["architecture"]) in purls for e in installed)
    assert len(doc["components"]) == len(lock["packages"]) + len(installed) + 1  # + python
    props = {p["name"]: p["value"] for p in doc["metadata"]["properties"]}
    assert props[NOTEBOOK_SHA256] == NOTEBOOK_SHA
    assert props[LOCK_SHA256] == lock_sha256(lock)
    root = doc["metadata"]["component"]
    assert root["type"] == "container" and root["version"] == IMAGE_DIGEST
    assert root["purl"] == ("pkg:oci/classifier@sha256:" + "cd" * 32
                            + "?repository_url=127.0.0.1:5000/team/classifier")  # fmt: skip
    six = next(c for c in doc["components"] if c["name"] == "six")
    assert six["hashes"] == [{"alg": "SHA-256", "content": WHEEL_SHA}]
    assert six["externalReferences"][0]["hashes"][0]["content"] == WHEEL_SHA


def test_lock_digest_property_matches_the_file_on_disk() -> None:
    path = EXAMPLE / "classifier.lock.json"
    lock = json.loads(path.read_text())
    assert lock_bytes(lock) == path.read_bytes()  # the lock on disk is in canonical form
    props = build_sbom(lock)["metadata"]["properties"]
    import hashlib

    assert {"name": LOCK_SHA256, "value": hashlib.sha256(path.read_bytes()).hexdigest()} in props


def test_sbom_is_deterministic(lock: dict[str, Any], dpkg_text: str) -> None:
    kwargs: dict[str, Any] = {"image_name": "clf", "notebook_sha256": NOTEBOOK_SHA,
                              "dpkg_status": dpkg_text, "timestamp": "2026-01-31T12:00:00Z"}
    first = sbom_bytes(build_sbom(lock, **kwargs))
    assert sbom_bytes(build_sbom(copy.deepcopy(lock), **kwargs)) == first
    stanzas = dpkg_text.strip().split("\n\n")
    kwargs2 = {**kwargs, "dpkg_status": "\n\n".join(reversed(stanzas)) + "\n"}
    assert sbom_bytes(build_sbom(lock, **kwargs2)) == first  # dpkg's order does not matter
    shuffled = copy.deepcopy(lock)
    shuffled["packages"].reverse()  # another lock (its sha256 differs), the same components
    assert build_sbom(shuffled, **kwargs)["components"] == json.loads(first)["components"]
    kwargs["timestamp"] = "2026-02-01T00:00:00Z"
    later = json.loads(sbom_bytes(build_sbom(lock, **kwargs)))
    assert later["serialNumber"] != json.loads(first)["serialNumber"]
    assert "timestamp" not in build_sbom(lock)["metadata"]


def test_purls_match_the_reference_implementation() -> None:
    for name, version in [("Zope_Interface", "1.0+local"), ("ruamel.yaml", "0.18.6"),
                          ("numpy", "2.4.6")]:  # fmt: skip
        assert pypi_purl(name, version) == PackageURL("pypi", None, name, version).to_string()
    for name, version, arch in [("libc6", "2.36-9+deb12u4", "amd64"),
                                ("tzdata", "2024a-0+deb12u1", "all"),
                                ("perl-base", "5.36.0-7+deb12u1", "amd64"),
                                ("libgcc-s1", "12.2.0-14", "amd64"),
                                ("login", "1:4.13+dfsg1-1+b1", "amd64")]:  # fmt: skip
        reference = PackageURL("deb", "debian", name, version, {"arch": arch}).to_string()
        assert deb_purl(name, version, arch) == reference
    vcs = {"vcs_url": "git+https://example.org/tk.git@" + "a" * 40}
    assert pypi_purl("tk", "1.0", vcs) == PackageURL("pypi", None, "tk", "1.0", vcs).to_string()
    repository = {"repository_url": "127.0.0.1:5000/team/classifier"}
    assert oci_purl("127.0.0.1:5000/team/classifier:1", IMAGE_DIGEST) == PackageURL(
        "oci", None, "classifier", IMAGE_DIGEST, repository).to_string()


def test_licences_from_installed_metadata(lock: dict[str, Any]) -> None:
    site = sysconfig.get_paths()["purelib"]
    licences = licences_from_metadata([site])
    assert licences["cryptography"] == {"expression": "Apache-2.0 OR BSD-3-Clause"}
    assert "packaging" in licences
    doc = build_sbom(lock, licences=licences)
    _valid(doc)
    packaging = next(c for c in doc["components"] if c["name"] == "packaging")
    assert packaging["licenses"]
    named = build_sbom(lock, licences={"NumPy": "BSD-3-Clause"})
    _valid(named)
    numpy = next(c for c in named["components"] if c["name"] == "numpy")
    assert numpy["licenses"] == [{"license": {"name": "BSD-3-Clause"}}]


def test_non_index_sources_and_removed_debian_packages() -> None:
    lock = {"python": {"version": "3.11.7"}, "packages": [
        {"name": "tk", "version": "1.0", "source": "vcs",
         "requirement": "tk @ git+https://example.org/tk.git@" + "a" * 40},
        {"name": "helpers", "version": "0.1", "source": "editable",
         "requirement": {"path": "lib"}},
    ]}  # fmt: skip
    status = ("Package: gone\nStatus: deinstall ok config-files\nVersion: 1\nArchitecture: all\n\n"
              "Package: bash\nStatus: install ok installed\nArchitecture: amd64\n"
              "Description: shell\n more text: here\nVersion: 5.2.15-2+b7\n")  # fmt: skip
    doc = build_sbom(lock, dpkg_status=status)
    _valid(doc)
    by_name = {c["name"]: c for c in doc["components"]}
    assert "gone" not in by_name
    assert by_name["bash"]["purl"] == "pkg:deb/debian/bash@5.2.15-2%2Bb7?arch=amd64"
    assert by_name["tk"]["purl"].startswith("pkg:pypi/tk@1.0?vcs_url=git%2Bhttps://example.org")
    assert "purl" not in by_name["helpers"]


@pytest.mark.hostile
@pytest.mark.parametrize("status, message", [
    ("", "the base's dpkg status file names no package"),
    ("\x00\x01binary", "the base's dpkg status file names no package"),
    ("Package: bash\nStatus: install ok installed\nArchitecture: amd64\n",
     "stanza 1 (bash) of the dpkg status file has no Version"),
])  # fmt: skip
def test_bad_dpkg_status(status: str, message: str) -> None:
    with pytest.raises(AttestInputError) as caught:
        build_sbom({"python": {"version": "3.11.7"}, "packages": []}, dpkg_status=status)
    assert caught.value.message == message
    assert "/var/lib/dpkg/status" in caught.value.hint


@pytest.mark.hostile
@pytest.mark.parametrize("lock, message", [
    ({}, "the lock has no package list"),
    ({"packages": "x"}, "the lock has no package list"),
    ({"packages": [{"name": "a"}]}, "package 0 of the lock has no version"),
    ({"packages": [{"name": "a", "version": "1"}]}, "the lock does not say which Python it is for"),
    ({"python": {"version": "3.11"}, "packages": [{"name": "a", "version": "1"},
                                                  {"name": "A", "version": "1"}]},
     "the lock lists pkg:pypi/a@1 more than once"),
])  # fmt: skip
def test_bad_lock(lock: dict[str, Any], message: str) -> None:
    with pytest.raises(AttestInputError) as caught:
        build_sbom(lock)
    assert caught.value.message == message and caught.value.hint


@pytest.mark.hostile
@pytest.mark.parametrize("kwargs, message", [
    ({"notebook_sha256": "abc"}, "notebook sha256 'abc' is not a sha256 digest"),
    ({"image_digest": "sha512:" + "a" * 64}, "image digest 'sha512:"),
    ({"timestamp": "yesterday"}, "time 'yesterday' is not an ISO 8601 date and time"),
    ({"timestamp": "2026-01-31T12:00:00"}, "time 2026-01-31T12:00:00 has no time zone"),
])  # fmt: skip
def test_bad_digests_and_times(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(AttestInputError) as caught:
        build_sbom({"python": {"version": "3.11.7"}, "packages": []}, **kwargs)
    assert caught.value.message.startswith(message)
    assert "\n" not in caught.value.one_line()


def test_our_check_agrees_with_the_reference_validator(lock: dict[str, Any],
                                                        dpkg_text: str) -> None:
    """What the runtime check accepts, the reference library's strict validator accepts too,
    and a document it rejects for a wrong type, the reference rejects too."""
    doc = build_sbom(lock, dpkg_status=dpkg_text, notebook_sha256=NOTEBOOK_SHA)
    assert check_sbom(sbom_bytes(doc), "the SBOM", "h") == json.loads(sbom_bytes(doc))
    _valid(doc)
    broken = copy.deepcopy(doc)
    broken["components"][0]["type"] = "gadget"
    with pytest.raises(SbomSchemaError):
        check_sbom(broken, "the SBOM", "h")
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(broken)) is not None


@pytest.mark.hostile
@pytest.mark.parametrize(
    ("document", "wanted"),
    [
        (b"{not json", "the SBOM is not JSON"),
        (b"[]", "not a CycloneDX document"),
        (b'{"bomFormat": "SPDX", "specVersion": "1.6", "version": 1}',
         "fails the CycloneDX 1.6 schema at bomFormat"),
        (b'{"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1, "extra": true}',
         "at the top level: Additional properties are not allowed (\'extra\' was unexpected)"),
        (b'{"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,'
         b' "components": [{"type": "library"}]}', "at components/0: \'name\' is a required"),
    ],
)
def test_an_sbom_that_fails_its_schema_is_one_line_with_the_fix(document: bytes,
                                                                 wanted: str) -> None:
    with pytest.raises(SbomSchemaError) as caught:
        check_sbom(document, "the SBOM", "build the image again")
    assert wanted in caught.value.message and "\n" not in caught.value.message
    assert caught.value.hint == "build the image again"
