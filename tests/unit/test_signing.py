"""Signing's own pieces, without a registry: keys made by `key create` (folder kept private,
passphrase only from the environment), the statement a push signs (the build's facts, else only
what is known), the SBOM found in the image's last layer and checked against its label, and the
checks that are off unless asked for."""

from __future__ import annotations

import hashlib
import io
import json
import stat
import tarfile
from pathlib import Path

import pytest

from jupyter_containerize.core import api
from jupyter_containerize.core.attest import keys
from jupyter_containerize.core.attest.errors import KeyFileError
from jupyter_containerize.core.attest.provenance import STATEMENT_TYPE
from jupyter_containerize.core.attest.sbom import IMAGE_SBOM_PATH, SBOM_DIGEST_LABEL
from jupyter_containerize.core.config import ContainerizeConfig
from jupyter_containerize.core.oci.blobstore import add_blob_bytes
from jupyter_containerize.core.oci.client import RegistryClient
from jupyter_containerize.core.oci.referrers import fallback_tag
from jupyter_containerize.core.share import signing

DIGEST = "sha256:" + "ab" * 32


@pytest.fixture(autouse=True)
def _dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTER_CONTAINERIZE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("JUPYTER_CONTAINERIZE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv(signing.PASSPHRASE_ENV, raising=False)


def test_key_create_keeps_its_default_folder_private_and_returns_no_secret() -> None:
    made = api.key_create(config=ContainerizeConfig())
    folder = Path(made["public"]).parent
    assert folder.name == "keys" and stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert made["kind"] == "ed25519"
    assert "PRIVATE" not in json.dumps(made)
    assert made["keyid"] == keys.keyid(keys.load_public_key(made["public"]))


def test_the_passphrase_comes_from_the_environment(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(signing.PASSPHRASE_ENV, "correct horse")
    made = api.key_create(kind="ecdsa-p256", folder=tmp_path / "k", config=ContainerizeConfig())
    assert b"ENCRYPTED" in Path(made["private"]).read_bytes()
    cfg = ContainerizeConfig(signing_key=made["private"])
    signing.check_signing_key(cfg)  # loads with the variable's passphrase
    monkeypatch.setenv(signing.PASSPHRASE_ENV, "wrong")
    with pytest.raises(KeyFileError) as err:
        signing.check_signing_key(cfg)
    assert signing.PASSPHRASE_ENV in err.value.hint
    monkeypatch.delenv(signing.PASSPHRASE_ENV)
    with pytest.raises(KeyFileError) as err:
        signing.check_signing_key(cfg)
    assert "encrypted" in err.value.message and signing.PASSPHRASE_ENV in err.value.hint


def test_the_statement_is_the_builds_provenance_when_its_facts_were_kept() -> None:
    facts = {"notebook_path": "nb.ipynb", "notebook_sha256": "1" * 64, "lock_sha256": "2" * 64,
             "base_image": "base:3.11", "base_digest": "sha256:" + "3" * 64,
             "build_path": "layers", "started": "2026-01-01T00:00:00Z",
             "finished": "2026-01-01T00:01:00Z", "platform": "linux/amd64",
             "sbom_sha256": "4" * 64, "engine": True, "image_ids": ["x"]}
    full = signing._statement(facts, "reg/x:1", DIGEST, None)
    params = full["predicate"]["buildDefinition"]["externalParameters"]
    assert params["notebook"] == {"path": "nb.ipynb", "sha256": "1" * 64}
    assert full["subject"] == [{"name": "reg/x:1", "digest": {"sha256": "ab" * 32}}]
    known = signing._statement(None, "reg/x:1", DIGEST, "sha256:" + "5" * 64)
    assert known["_type"] == STATEMENT_TYPE and known["subject"] == full["subject"]
    assert known["predicate"]["buildDefinition"]["externalParameters"] == {}
    assert known["predicate"]["runDetails"]["byproducts"][0]["digest"] == {"sha256": "5" * 64}
    partial = signing._statement({"notebook_path": "nb.ipynb"}, "reg/x:1", DIGEST, None)
    assert partial["predicate"]["buildDefinition"]["externalParameters"] == {}


def _layer(files: dict[str, bytes]) -> tuple[str, dict[str, object]]:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    digest = add_blob_bytes(buffer.getvalue())
    return digest, {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest,
                    "size": len(buffer.getvalue())}


def test_the_sbom_is_read_from_the_last_layer_and_checked_against_its_label() -> None:
    document = b'{"bomFormat": "CycloneDX"}'
    first, d1 = _layer({"blob": b"x"})
    last, d2 = _layer({IMAGE_SBOM_PATH.lstrip("/"): document})
    manifest = {"layers": [d1, d2]}
    reg = RegistryClient("127.0.0.1:1")  # never asked: the layers are in our store
    label = "sha256:" + hashlib.sha256(document).hexdigest()
    config = {"config": {"Labels": {SBOM_DIGEST_LABEL: label}},
              "rootfs": {"diff_ids": [first, last]}}
    assert signing.image_sbom(reg, "x", manifest, config) == document
    config["config"] = {"Labels": {SBOM_DIGEST_LABEL: "sha256:" + "0" * 64}}
    assert signing.image_sbom(reg, "x", manifest, config) is None  # does not match its label
    assert signing.image_sbom(reg, "x", manifest, {"rootfs": config["rootfs"]}) is None


def test_checks_are_off_unless_asked_for_and_need_trusted_keys() -> None:
    assert signing.verify_image("127.0.0.1:1/x:1", config=ContainerizeConfig()) is None
    with pytest.raises(KeyFileError) as err:
        signing.verify_image("127.0.0.1:1/x:1", verify=True, config=ContainerizeConfig())
    assert "trusted_keys" in err.value.hint


def test_the_fallback_tag_is_the_digest_with_a_dash() -> None:
    assert fallback_tag(DIGEST) == "sha256-" + "ab" * 32
    assert signing.FALLBACK_TAG.fullmatch(fallback_tag(DIGEST))
