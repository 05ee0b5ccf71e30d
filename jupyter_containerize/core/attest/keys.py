"""Signing keys: Ed25519 or ECDSA P-256, kept as PEM files (the private one mode 0600 and
optionally passphrase-encrypted, the public one for whoever verifies).

A key's id is the sha256 (hex) of its public key's DER SubjectPublicKeyInfo, so anyone holding
the public key file can compute it (``openssl pkey -pubin -outform DER | sha256sum``).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Union

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from ..options import KEY_KINDS
from .errors import KeyFileError

PrivateKey = Union[ed25519.Ed25519PrivateKey, ec.EllipticCurvePrivateKey]
PublicKey = Union[ed25519.Ed25519PublicKey, ec.EllipticCurvePublicKey]
_MAX_KEY_BYTES = 64 * 1024
_MAKE_HINT = "make a key pair with create_key(folder, 'ed25519') and pass its path"


def create_key(
    folder: str | Path,
    kind: str = "ed25519",
    passphrase: str | bytes | None = None,
    *,
    name: str = "signing",
) -> dict[str, str]:
    """Write ``<name>.key`` (PKCS#8 PEM, mode 0600, encrypted when a passphrase is given) and
    ``<name>.pub`` (SubjectPublicKeyInfo PEM) in ``folder``; never overwrites a key.

    Returns ``{"private": path, "public": path, "keyid": hex, "kind": kind}``.
    """
    if kind not in KEY_KINDS:
        raise KeyFileError(
            f"key kind {kind!r} is not one of {', '.join(KEY_KINDS)}",
            hint="pass kind='ed25519' or kind='ecdsa-p256'",
        )
    folder = Path(folder)
    private_path, public_path = folder / f"{name}.key", folder / f"{name}.pub"
    for path in (private_path, public_path):
        if path.exists():
            raise KeyFileError(
                f"{path} already exists: a key is never overwritten",
                hint="choose another folder or name, or remove the old key pair yourself",
            )
    key: PrivateKey = (
        ed25519.Ed25519PrivateKey.generate() if kind == "ed25519"
        else ec.generate_private_key(ec.SECP256R1())
    )  # fmt: skip
    secret = passphrase.encode() if isinstance(passphrase, str) else passphrase
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(secret) if secret
        else serialization.NoEncryption()
    )  # fmt: skip
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(private_pem)
        os.chmod(private_path, 0o600)  # whatever the umask
        public_path.write_bytes(public_pem(key.public_key()))
    except OSError as exc:
        raise KeyFileError(
            f"cannot write a key pair in {folder}: {exc.strerror or exc}",
            hint="choose a folder you can write to",
        ) from exc
    return {"private": str(private_path), "public": str(public_path),
            "keyid": keyid(key.public_key()), "kind": kind}  # fmt: skip


def public_pem(key: PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def keyid(key: PublicKey) -> str:
    """sha256 (hex) of the public key's DER SubjectPublicKeyInfo."""
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def key_kind(key: PrivateKey | PublicKey) -> str:
    if isinstance(key, (ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey)):
        return "ed25519"
    return "ecdsa-p256"


def _read(path: str | Path, what: str) -> bytes:
    path = Path(path)
    try:
        if path.stat().st_size > _MAX_KEY_BYTES:
            raise KeyFileError(f"{what} {path} is too large to be a key file", hint=_MAKE_HINT)
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise KeyFileError(f"{what} {path} does not exist", hint=_MAKE_HINT) from exc
    except OSError as exc:
        raise KeyFileError(
            f"{what} {path} cannot be read: {exc.strerror or exc}",
            hint="check the path and that you may read the file",
        ) from exc


def _supported(key: object, path: str | Path, what: str) -> None:
    if isinstance(key, (ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey)):
        return
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        if isinstance(key.curve, ec.SECP256R1):
            return
        kind = f"an ECDSA key on curve {key.curve.name}"
    else:
        family = type(key).__name__.replace("PrivateKey", "").replace("PublicKey", "")
        kind = f"a key of type {family.strip('_') or type(key).__name__}"
    raise KeyFileError(
        f"{what} {path} is {kind}; only Ed25519 and ECDSA P-256 keys are supported",
        hint=_MAKE_HINT,
    )


def load_private_key(path: str | Path, passphrase: str | bytes | None = None) -> PrivateKey:
    """The signing key in the PEM file at ``path`` (decrypted with ``passphrase``)."""
    what = "signing key"
    data = _read(path, what)
    if b"PUBLIC KEY-----" in data and b"PRIVATE KEY-----" not in data:
        raise KeyFileError(
            f"{what} {path} is a public key, not a private key",
            hint="sign with the .key file; the .pub file is for verifying",
        )
    secret = passphrase.encode() if isinstance(passphrase, str) else passphrase
    try:
        key = serialization.load_pem_private_key(data, password=secret or None)
    except TypeError as exc:
        encrypted = "not encrypted" not in str(exc)
        raise KeyFileError(
            f"{what} {path} is {'encrypted' if encrypted else 'not encrypted'}",
            hint="pass its passphrase" if encrypted else "leave out the passphrase",
        ) from exc
    except (ValueError, UnsupportedAlgorithm) as exc:
        if secret and b"ENCRYPTED" in data:
            raise KeyFileError(
                f"{what} {path} cannot be decrypted with that passphrase",
                hint="pass the passphrase the key was created with",
            ) from exc
        raise KeyFileError(
            f"{what} {path} is not a PEM private key (damaged or another format)",
            hint=_MAKE_HINT,
        ) from exc
    _supported(key, path, what)
    return key  # type: ignore[return-value]


def load_public_key(path: str | Path) -> PublicKey:
    """The verification key in the PEM file at ``path`` (a ``.pub`` made by :func:`create_key`
    or any SubjectPublicKeyInfo PEM of an Ed25519 or P-256 key)."""
    what = "public key"
    data = _read(path, what)
    if b"PRIVATE KEY-----" in data:
        raise KeyFileError(
            f"{what} {path} holds a private key",
            hint="pass the .pub file; never hand the private key to whoever verifies",
        )
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise KeyFileError(
            f"{what} {path} is not a PEM public key (damaged or another format)",
            hint="pass the .pub file written beside the signing key",
        ) from exc
    _supported(key, path, what)
    return key  # type: ignore[return-value]
