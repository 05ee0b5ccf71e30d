"""DSSE envelopes: sign a payload (an in-toto Statement) and verify one against trusted keys.

The signature covers the pre-authentication encoding (PAE) of the DSSE protocol, never the
bare payload: ``"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body``, lengths as ASCII
decimal byte counts. Ed25519 signs PAE directly; ECDSA P-256 signs it with SHA-256 and an
ASN.1 DER signature. A signature's ``keyid`` is :func:`.keys.keyid` of the signer's key.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from .errors import (
    BadSignatureError,
    EnvelopeFormatError,
    KeyFileError,
    SubjectMismatchError,
    UnknownKeyError,
    UnsignedError,
)
from .keys import PrivateKey, PublicKey, keyid
from .lockdata import digest_hex
from .provenance import STATEMENT_TYPE, statement_bytes, subject_digests

PAYLOAD_TYPE = "application/vnd.in-toto+json"
MEDIA_TYPE = "application/vnd.dsse.envelope.v1+json"
_NOT_TRUSTED = "do not use this image; ask its publisher for the attestation made when it was built"


def pae(payload_type: str, payload: bytes) -> bytes:
    """The DSSE v1 pre-authentication encoding of ``payload`` of ``payload_type``."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)


def _sign_bytes(key: PrivateKey, message: bytes) -> bytes:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(message)
    return key.sign(message, ec.ECDSA(hashes.SHA256()))


def _check(key: PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, message)
        else:
            key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def sign(
    payload: bytes,
    keys: PrivateKey | Sequence[PrivateKey],
    payload_type: str = PAYLOAD_TYPE,
) -> dict[str, Any]:
    """A DSSE envelope of ``payload`` signed by each of ``keys``."""
    signers = list(keys) if isinstance(keys, Sequence) else [keys]
    if not signers:
        raise KeyFileError("no signing key given", hint="pass a key from load_private_key")
    message = pae(payload_type, payload)
    return {
        "payloadType": payload_type,
        "payload": base64.b64encode(payload).decode(),
        "signatures": [
            {"keyid": keyid(k.public_key()),
             "sig": base64.b64encode(_sign_bytes(k, message)).decode()}
            for k in signers
        ],
    }  # fmt: skip


def sign_statement(
    statement: Mapping[str, Any], keys: PrivateKey | Sequence[PrivateKey]
) -> dict[str, Any]:
    """A DSSE envelope of an in-toto Statement (see :mod:`.provenance`)."""
    return sign(statement_bytes(statement), keys)


def envelope_bytes(envelope: Mapping[str, Any]) -> bytes:
    """The envelope as a file's bytes: JSON with sorted keys and one final newline."""
    return (json.dumps(envelope, sort_keys=True, indent=2) + "\n").encode()


def _b64(text: object) -> bytes:
    if not isinstance(text, str):
        raise ValueError("not a string")
    if re.fullmatch(r"[A-Za-z0-9+/]*={0,2}", text):
        return base64.b64decode(text, validate=True)
    if re.fullmatch(r"[A-Za-z0-9_-]*={0,2}", text):  # DSSE allows URL-safe base64 too
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    raise ValueError("not base64")


def read_envelope(data: Mapping[str, Any] | bytes | str) -> dict[str, Any]:
    """An envelope from its JSON (bytes or text) or a dict; the fields checked, not the trust."""
    hint = "pass the DSSE envelope (JSON with payloadType, payload and signatures)"
    if isinstance(data, (bytes, str)):
        try:
            data = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise EnvelopeFormatError("the envelope is not JSON", hint=hint) from exc
    if not isinstance(data, Mapping):
        raise EnvelopeFormatError("the envelope is not a JSON object", hint=hint)
    for key, kind in (("payloadType", str), ("payload", str), ("signatures", list)):
        if not isinstance(data.get(key), kind):
            raise EnvelopeFormatError(f"the envelope has no valid {key}", hint=hint)
    return dict(data)


def verify(
    envelope: Mapping[str, Any] | bytes | str,
    public_keys: Sequence[PublicKey],
    expected_subject_digest: str,
) -> dict[str, Any]:
    """The in-toto Statement inside ``envelope`` once it is proven to be signed by one of
    ``public_keys`` and to be about the image ``expected_subject_digest``.

    Raises, each with its own one-line reason: :class:`UnsignedError` (no signature),
    :class:`UnknownKeyError` (signed only by keys not trusted), :class:`BadSignatureError`
    (a trusted key's signature does not match), :class:`SubjectMismatchError` (the statement
    is about another image), :class:`EnvelopeFormatError` (not an in-toto DSSE envelope).
    """
    expected = digest_hex(expected_subject_digest, "expected image digest")
    env = read_envelope(envelope)
    if not public_keys:
        raise KeyFileError("no trusted public key given", hint="pass the publisher's .pub file")
    if not env["signatures"]:
        raise UnsignedError(
            "the envelope carries no signature: nobody vouches for this statement",
            hint=_NOT_TRUSTED,
        )
    try:
        payload = _b64(env["payload"])
    except (ValueError, binascii.Error) as exc:
        raise EnvelopeFormatError(
            "the envelope's payload is not base64", hint=_NOT_TRUSTED
        ) from exc
    trusted = {keyid(k): k for k in public_keys}
    message = pae(env["payloadType"], payload)
    unknown: list[str] = []
    failed: list[str] = []
    for signature in env["signatures"]:
        sig_keyid = signature.get("keyid") if isinstance(signature, Mapping) else None
        sig_keyid = sig_keyid if isinstance(sig_keyid, str) else ""
        candidates = [trusted[sig_keyid]] if sig_keyid in trusted else (
            [] if sig_keyid else list(trusted.values())
        )  # fmt: skip
        if not candidates:
            unknown.append(sig_keyid)
            continue
        try:
            raw = _b64(signature.get("sig"))
        except (ValueError, binascii.Error):
            raw = b""
        if any(_check(k, raw, message) for k in candidates):
            return _statement(env, payload, expected)
        failed.append(sig_keyid or "(no keyid)")
    if failed:
        raise BadSignatureError(
            f"the signature by key {failed[0][:16]} does not match the payload: "
            "the statement was changed after it was signed, or signed over other bytes",
            hint=_NOT_TRUSTED,
        )
    raise UnknownKeyError(
        f"the envelope is signed only by key {', '.join(k[:16] for k in unknown)}, "
        f"which is not among the {len(trusted)} trusted key(s)",
        hint="pass the publisher's public key, or do not trust this image",
    )


def _statement(env: Mapping[str, Any], payload: bytes, expected: str) -> dict[str, Any]:
    if env["payloadType"] != PAYLOAD_TYPE:
        raise EnvelopeFormatError(
            f"the envelope's payload is {env['payloadType']!r}, not an in-toto statement",
            hint=f"pass an envelope whose payloadType is {PAYLOAD_TYPE}",
        )
    try:
        statement = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise EnvelopeFormatError("the signed payload is not JSON", hint=_NOT_TRUSTED) from exc
    if not isinstance(statement, dict) or statement.get("_type") != STATEMENT_TYPE:
        raise EnvelopeFormatError(
            f"the signed payload is not an in-toto Statement v1 ({STATEMENT_TYPE})",
            hint=_NOT_TRUSTED,
        )
    subjects = subject_digests(statement)
    if expected not in {sha for _, sha in subjects}:
        about = ", ".join(f"{name or 'unnamed'}@sha256:{sha[:12]}" for name, sha in subjects)
        raise SubjectMismatchError(
            f"the statement is about {about or 'no image'}, not sha256:{expected[:12]}",
            hint="verify the attestation made for this image's digest, or do not trust it",
        )
    return statement
