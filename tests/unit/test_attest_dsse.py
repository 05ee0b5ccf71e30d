"""Signing keys and DSSE envelopes: create, load, sign, verify; every refusal says why."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jc_support import skip_or_fail
from securesystemslib.dsse import Envelope
from securesystemslib.signer import SSlibKey

from jupyter_containerize.core.attest.dsse import (
    PAYLOAD_TYPE,
    envelope_bytes,
    pae,
    sign,
    sign_statement,
    verify,
)
from jupyter_containerize.core.attest.errors import (
    BadSignatureError,
    EnvelopeFormatError,
    KeyFileError,
    SubjectMismatchError,
    UnknownKeyError,
    UnsignedError,
)
from jupyter_containerize.core.attest.keys import (
    KEY_KINDS,
    create_key,
    keyid,
    load_private_key,
    load_public_key,
)
from jupyter_containerize.core.attest.provenance import build_provenance
from jupyter_containerize.core.attest.sbom import IMAGE_SBOM_PATH, build_sbom, sbom_bytes
from jupyter_containerize.core.env.lockfile import lock_sha256
from jupyter_containerize.core.errors import ContainerizeError

DIGEST = "sha256:" + "1" * 64


def _statement(digest: str = DIGEST) -> dict[str, Any]:
    return build_provenance(
        image_name="team/classifier", image_digest=digest, notebook_path="c.ipynb",
        notebook_sha256="3" * 64, lock_sha256="4" * 64, build_path="layers",
        base_image="python:3.11-slim", base_digest="sha256:" + "2" * 64,
        started="2026-01-31T12:00:00Z", finished="2026-01-31T12:01:00Z",
    )  # fmt: skip


def test_pae_is_the_dsse_encoding() -> None:
    # the example of the DSSE protocol's specification
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )
    assert pae("t", b"") == b"DSSEv1 1 t 0 "
    assert pae("\u00e9", b"x") == "DSSEv1 2 \u00e9 1 x".encode()  # lengths count bytes


@pytest.mark.parametrize("kind", KEY_KINDS)
def test_created_key_signs_and_verifies(kind: str, tmp_path: Path) -> None:
    made = create_key(tmp_path / "keys", kind, passphrase="correct horse")
    private_path, public_path = Path(made["private"]), Path(made["public"])
    assert stat.S_IMODE(private_path.stat().st_mode) == 0o600
    assert private_path.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert public_path.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    private = load_private_key(private_path, "correct horse")
    public = load_public_key(public_path)
    der = public.public_bytes(serialization.Encoding.DER,
                              serialization.PublicFormat.SubjectPublicKeyInfo)  # fmt: skip
    assert made["keyid"] == keyid(public) == hashlib.sha256(der).hexdigest()
    envelope = json.loads(envelope_bytes(sign_statement(_statement(), private)))
    assert envelope["payloadType"] == PAYLOAD_TYPE
    assert envelope["signatures"][0]["keyid"] == made["keyid"]
    statement = verify(envelope, [public], DIGEST)
    assert statement["subject"][0]["digest"]["sha256"] == "1" * 64


@pytest.mark.parametrize("kind, scheme", [("ed25519", "ed25519"),
                                          ("ecdsa-p256", "ecdsa-sha2-nistp256")])  # fmt: skip
def test_envelope_verifies_with_an_independent_dsse_implementation(
    kind: str, scheme: str, tmp_path: Path
) -> None:
    """securesystemslib (the in-toto project's DSSE code) accepts what we sign."""
    made = create_key(tmp_path, kind)
    envelope = sign_statement(_statement(), load_private_key(made["private"]))
    public = load_public_key(made["public"])
    other = SSlibKey.from_crypto(public, keyid=made["keyid"], scheme=scheme)
    parsed = Envelope.from_dict(json.loads(envelope_bytes(envelope)))
    assert set(parsed.verify([other], 1)) == {made["keyid"]}
    assert json.loads(parsed.pae().split(b" ", 4)[4]) == _statement()


def test_unencrypted_key_and_two_signers(tmp_path: Path) -> None:
    first = create_key(tmp_path, "ed25519")
    second = create_key(tmp_path, "ecdsa-p256", name="release")
    assert Path(first["private"]).read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    keys = [load_private_key(first["private"]), load_private_key(second["private"])]
    envelope = sign_statement(_statement(), keys)
    assert len(envelope["signatures"]) == 2
    # either public key alone is enough
    assert verify(envelope, [load_public_key(second["public"])], DIGEST)
    assert verify(envelope, [load_public_key(first["public"])], "1" * 64)


@pytest.fixture()
def signed(tmp_path: Path) -> tuple[dict[str, Any], Any]:
    made = create_key(tmp_path, "ed25519")
    envelope = sign_statement(_statement(), load_private_key(made["private"]))
    return envelope, load_public_key(made["public"])


@pytest.mark.hostile
def test_unsigned_envelope_is_refused(signed: tuple[dict[str, Any], Any]) -> None:
    envelope, public = signed
    with pytest.raises(UnsignedError) as caught:
        verify({**envelope, "signatures": []}, [public], DIGEST)
    assert caught.value.one_line().startswith(
        "the envelope carries no signature: nobody vouches for this statement (do not use"
    )


@pytest.mark.hostile
def test_signature_by_an_unknown_key_is_refused(
    signed: tuple[dict[str, Any], Any], tmp_path: Path
) -> None:
    envelope, _ = signed
    stranger = create_key(tmp_path / "other", "ecdsa-p256")
    with pytest.raises(UnknownKeyError) as caught:
        verify(envelope, [load_public_key(stranger["public"])], DIGEST)
    signer = envelope["signatures"][0]["keyid"]
    assert caught.value.message == (
        f"the envelope is signed only by key {signer[:16]}, which is not among the 1 trusted key(s)"
    )


@pytest.mark.hostile
@pytest.mark.parametrize("tamper", ["payload", "signature", "payload_type"])
def test_bad_signature_is_refused(signed: tuple[dict[str, Any], Any], tamper: str) -> None:
    envelope, public = signed
    envelope = json.loads(json.dumps(envelope))
    if tamper == "payload":  # another image's digest swapped into the signed statement
        envelope["payload"] = base64.b64encode(
            json.dumps(_statement("sha256:" + "9" * 64)).encode()).decode()
    elif tamper == "signature":
        raw = bytearray(base64.b64decode(envelope["signatures"][0]["sig"]))
        raw[0] ^= 1
        envelope["signatures"][0]["sig"] = base64.b64encode(bytes(raw)).decode()
    else:
        envelope["payloadType"] = "application/json"
    with pytest.raises(BadSignatureError) as caught:
        verify(envelope, [public], "sha256:" + "9" * 64 if tamper == "payload" else DIGEST)
    assert caught.value.message.startswith(
        f"the signature by key {keyid(public)[:16]} does not match the payload"
    )


@pytest.mark.hostile
def test_statement_about_another_image_is_refused(signed: tuple[dict[str, Any], Any]) -> None:
    envelope, public = signed
    with pytest.raises(SubjectMismatchError) as caught:
        verify(envelope, [public], "sha256:" + "8" * 64)
    assert caught.value.message == (
        "the statement is about team/classifier@sha256:111111111111, not sha256:888888888888"
    )


@pytest.mark.hostile
@pytest.mark.parametrize("envelope, message", [
    (b"\xff\xfe not json", "the envelope is not JSON"),
    ("[]", "the envelope is not a JSON object"),
    ({"payloadType": PAYLOAD_TYPE, "payload": 5, "signatures": []},
     "the envelope has no valid payload"),
    ({"payloadType": PAYLOAD_TYPE, "payload": "%%%", "signatures": [{"sig": "AA=="}]},
     "the envelope's payload is not base64"),
])  # fmt: skip
def test_malformed_envelopes(envelope: Any, message: str, tmp_path: Path) -> None:
    public = load_public_key(create_key(tmp_path, "ed25519")["public"])
    with pytest.raises(EnvelopeFormatError) as caught:
        verify(envelope, [public], DIGEST)
    assert caught.value.message == message


@pytest.mark.hostile
def test_signed_payload_that_is_not_a_statement(tmp_path: Path) -> None:
    made = create_key(tmp_path, "ed25519")
    envelope = sign(b'{"hello": "world"}', load_private_key(made["private"]))
    with pytest.raises(EnvelopeFormatError) as caught:
        verify(envelope, [load_public_key(made["public"])], DIGEST)
    assert "is not an in-toto Statement v1" in caught.value.message


def _write_key(path: Path, key: Any, public: bool = False) -> Path:
    data = (key.public_key().public_bytes(serialization.Encoding.PEM,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
            if public else
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))  # fmt: skip
    path.write_bytes(data)
    return path


@pytest.mark.hostile
@pytest.mark.parametrize("case, message, hint", [
    ("missing", "signing key {p} does not exist", "make a key pair"),
    ("directory", "signing key {p} cannot be read: Is a directory", "check the path"),
    ("corrupt", "signing key {p} is not a PEM private key (damaged or another format)",
     "make a key pair"),
    ("truncated", "signing key {p} is not a PEM private key (damaged or another format)",
     "make a key pair"),
    ("rsa", "signing key {p} is a key of type RSA; only Ed25519 and ECDSA P-256 keys are supported",
     "make a key pair"),
    ("p384", "signing key {p} is an ECDSA key on curve secp384r1; only Ed25519 and ECDSA",
     "make a key pair"),
    ("public", "signing key {p} is a public key, not a private key", "sign with the .key file"),
    ("no passphrase", "signing key {p} is encrypted", "pass its passphrase"),
    ("wrong passphrase", "signing key {p} cannot be decrypted with that passphrase",
     "pass the passphrase the key was created with"),
    ("huge", "signing key {p} is too large to be a key file", "make a key pair"),
])  # fmt: skip
def test_unusable_signing_keys(case: str, message: str, hint: str, tmp_path: Path) -> None:
    path = tmp_path / "signing.key"
    passphrase = None
    if case == "directory":
        path.mkdir()
    elif case == "corrupt":
        path.write_bytes(b"-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n")
    elif case == "truncated":
        made = create_key(tmp_path / "k", "ecdsa-p256")
        path.write_bytes(Path(made["private"]).read_bytes()[:60])
    elif case == "rsa":
        _write_key(path, rsa.generate_private_key(public_exponent=65537, key_size=2048))
    elif case == "p384":
        _write_key(path, ec.generate_private_key(ec.SECP384R1()))
    elif case == "public":
        path = Path(create_key(tmp_path / "k", "ed25519")["public"])
    elif case in ("no passphrase", "wrong passphrase"):
        path = Path(create_key(tmp_path / "k", "ed25519", passphrase=b"s3cret")["private"])
        passphrase = "guess" if case == "wrong passphrase" else None
    elif case == "huge":
        path.write_bytes(b"A" * (1 << 20))
    with pytest.raises(KeyFileError) as caught:
        load_private_key(path, passphrase)
    assert caught.value.message.startswith(message.format(p=path))
    assert caught.value.hint.startswith(hint)
    assert isinstance(caught.value, ContainerizeError) and "\n" not in caught.value.one_line()


@pytest.mark.hostile
@pytest.mark.parametrize("case, message", [
    ("missing", "public key {p} does not exist"),
    ("private", "public key {p} holds a private key"),
    ("corrupt", "public key {p} is not a PEM public key (damaged or another format)"),
    ("rsa", "public key {p} is a key of type RSA; only Ed25519 and ECDSA P-256 keys are supported"),
])  # fmt: skip
def test_unusable_public_keys(case: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "signing.pub"
    if case == "private":
        path = Path(create_key(tmp_path, "ed25519")["private"])
    elif case == "corrupt":
        path.write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA user@host\n")
    elif case == "rsa":
        _write_key(path, rsa.generate_private_key(public_exponent=65537, key_size=2048), True)
    with pytest.raises(KeyFileError) as caught:
        load_public_key(path)
    assert caught.value.message == message.format(p=path)
    assert caught.value.hint


@pytest.mark.hostile
def test_create_key_never_overwrites_and_refuses_unknown_kinds(tmp_path: Path) -> None:
    made = create_key(tmp_path, "ed25519")
    before = Path(made["private"]).read_bytes()
    with pytest.raises(KeyFileError) as caught:
        create_key(tmp_path, "ed25519")
    assert caught.value.message == f"{made['private']} already exists: a key is never overwritten"
    assert Path(made["private"]).read_bytes() == before
    with pytest.raises(KeyFileError) as caught:
        create_key(tmp_path / "x", "rsa")
    assert caught.value.one_line() == (
        "key kind 'rsa' is not one of ed25519, ecdsa-p256 "
        "(pass kind='ed25519' or kind='ecdsa-p256')"
    )
    assert not (tmp_path / "x").exists()


@pytest.mark.hostile
def test_create_key_in_an_unwritable_place(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(KeyFileError) as caught:
        create_key(blocker / "keys", "ed25519")
    assert caught.value.message.startswith(f"cannot write a key pair in {blocker / 'keys'}: ")
    assert os.listdir(tmp_path) == ["file"]


def _openssl(*args: str) -> subprocess.CompletedProcess[bytes]:
    openssl = shutil.which("openssl")
    if openssl is None:
        skip_or_fail("openssl is not on PATH")
    assert openssl is not None
    return subprocess.run([openssl, *args], capture_output=True, timeout=60)


@pytest.mark.parametrize("kind", KEY_KINDS)
def test_openssl_computes_the_keyid_and_verifies_the_signature(kind: str, tmp_path: Path) -> None:
    """The recipe of docs/supply-chain.md: keyid and signature checked with openssl alone."""
    made = create_key(tmp_path, kind)
    envelope = sign_statement(_statement(), load_private_key(made["private"]))
    der = _openssl("pkey", "-pubin", "-in", made["public"], "-outform", "DER").stdout
    assert hashlib.sha256(der).hexdigest() == made["keyid"]
    message = tmp_path / "pae.bin"
    message.write_bytes(pae(envelope["payloadType"], base64.b64decode(envelope["payload"])))
    signature = tmp_path / "sig.bin"
    signature.write_bytes(base64.b64decode(envelope["signatures"][0]["sig"]))
    if kind == "ed25519":
        args = ["pkeyutl", "-verify", "-pubin", "-inkey", made["public"], "-rawin",
                "-in", str(message), "-sigfile", str(signature)]  # fmt: skip
    else:
        args = ["dgst", "-sha256", "-verify", made["public"], "-signature", str(signature),
                str(message)]  # fmt: skip
    done = _openssl(*args)
    assert done.returncode == 0 and b"Verified" in done.stdout + done.stderr, done
    message.write_bytes(message.read_bytes().replace(b"1111", b"1112", 1))
    assert _openssl(*args).returncode != 0


def test_the_signed_provenance_names_the_sbom_in_the_image(tmp_path: Path) -> None:
    """The chain a verifier walks: the SBOM's bytes -> its digest in the signed provenance."""
    lock = json.loads((Path(__file__).resolve().parents[2] / "examples" / "classifier"
                       / "classifier.lock.json").read_text())  # fmt: skip
    sbom = sbom_bytes(build_sbom(lock, image_name="team/classifier", image_digest=DIGEST,
                                 timestamp="2026-01-31T12:01:00Z"))  # fmt: skip
    sbom_digest = hashlib.sha256(sbom).hexdigest()
    statement = build_provenance(
        image_name="team/classifier", image_digest=DIGEST, notebook_path="c.ipynb",
        notebook_sha256="3" * 64, lock_sha256=lock_sha256(lock), build_path="classic",
        base_image="python:3.11-slim", base_digest="sha256:" + "2" * 64,
        started="2026-01-31T12:00:00Z", finished="2026-01-31T12:01:00Z", sbom_sha256=sbom_digest,
    )  # fmt: skip
    made = create_key(tmp_path, "ecdsa-p256", passphrase="pw")
    path = tmp_path / "classifier.provenance.dsse.json"
    path.write_bytes(envelope_bytes(sign_statement(statement, load_private_key(made["private"],
                                                                               "pw"))))  # fmt: skip
    verified = verify(path.read_bytes(), [load_public_key(made["public"])], DIGEST)
    byproduct = verified["predicate"]["runDetails"]["byproducts"][0]
    assert byproduct["uri"] == f"file://{IMAGE_SBOM_PATH}"
    assert byproduct["digest"]["sha256"] == hashlib.sha256(sbom).hexdigest()
    external = verified["predicate"]["buildDefinition"]["externalParameters"]
    assert external["lock"]["sha256"] == lock_sha256(lock)
