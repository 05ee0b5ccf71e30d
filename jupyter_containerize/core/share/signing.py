"""Signed provenance for shared images: keys, signing at push, verification where images are used.

A push with ``ContainerizeConfig.signing_key`` set signs a provenance statement whose subject is
the pushed manifest's digest (DSSE, see :mod:`~jupyter_containerize.core.attest.dsse`) and
attaches it, with the image's SBOM when it has one, as OCI 1.1 artifacts of the image
(:mod:`~jupyter_containerize.core.oci.referrers`). ``pull --verify``, ``kernel install``,
``run --image`` and ``serve --image`` (always, under ``require_signed``) accept an image only
when an envelope signed by one of ``trusted_keys`` says it is about that very digest.
The private key is read only to sign; its passphrase comes only from
``$JUPYTER_CONTAINERIZE_KEY_PASSPHRASE``; neither is ever written, logged or returned.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tarfile
import time
from pathlib import Path
from typing import IO, Any

from ..._version import __version__
from ..attest import dsse, keys, provenance, sbom
from ..attest.errors import (
    AttestInputError,
    BadSignatureError,
    KeyFileError,
    SbomSchemaError,
    SubjectMismatchError,
    UnknownKeyError,
    UnsignedError,
    VerificationError,
)
from ..attest.sbomschema import check_sbom
from ..attest.store import load_facts
from ..config import ContainerizeConfig, resolve
from ..engine import client as engine
from ..engine import registries
from ..errors import ContainerizeError, RegistryError
from ..labels import PREFIX
from ..oci.blobstore import blob_path
from ..oci.client import RegistryClient
from ..oci.manifest import OCI_MANIFEST
from ..oci.reference import check_reference, host_of, split_target
from ..oci.referrers import artifact_data, attach, referrers
from ..paths import data_dir
from ..progress import Event, Reporter

PASSPHRASE_ENV = "JUPYTER_CONTAINERIZE_KEY_PASSPHRASE"
ATTESTATION_TYPE = dsse.MEDIA_TYPE  # artifactType of a signed provenance
SBOM_TYPE = sbom.MEDIA_TYPE
SIGNER = PREFIX + "signer.keyid"  # annotation: who signed (for listings; never trusted)
SUBJECT_NAME = PREFIX + "subject.name"  # annotation: the name the image was pushed as
FALLBACK_TAG = re.compile(r"sha256-[0-9a-f]{64}")
SBOM_LAYER_MAX = 64 << 20  # a layer read from the registry to find the SBOM in


# ---------------------------------------------------------------- keys


def default_key_folder() -> Path:
    return data_dir() / "keys"


def create_key(kind: str = "ed25519", folder: str | Path | None = None) -> dict[str, str]:
    """A new key pair (its passphrase, when any, from ``$JUPYTER_CONTAINERIZE_KEY_PASSPHRASE``);
    returns the public key's path, the key id, the kind and the private key's path."""
    where = Path(folder) if folder else default_key_folder()
    made = keys.create_key(where, kind, os.environ.get(PASSPHRASE_ENV) or None)
    if folder is None:
        where.chmod(0o700)  # like the credentials: only the owner reads the folder
    return {"public": made["public"], "keyid": made["keyid"], "kind": made["kind"],
            "private": made["private"]}


def _signing_key(cfg: ContainerizeConfig) -> keys.PrivateKey:
    try:
        return keys.load_private_key(cfg.signing_key, os.environ.get(PASSPHRASE_ENV) or None)
    except KeyFileError as exc:
        if "passphrase" in exc.hint:
            raise KeyFileError(exc.message, hint=f"set {PASSPHRASE_ENV} to the key's passphrase"
                               ) from None
        raise KeyFileError(exc.message, hint="set ContainerizeConfig.signing_key to a .key "
                                             "made by `jupyter containerize key create`") from None


def check_signing_key(config: ContainerizeConfig | None = None) -> None:
    """Before a push: a configured signing key must load (else nothing is pushed unsigned)."""
    cfg = resolve(config)
    if cfg.signing_key:
        _signing_key(cfg)


def trusted_keys(cfg: ContainerizeConfig) -> list[keys.PublicKey]:
    if not cfg.trusted_keys:
        raise KeyFileError("no trusted public key is configured, so no signature can be checked",
                           hint="list the publishers' .pub files in "
                                "ContainerizeConfig.trusted_keys")
    found = []
    for path in cfg.trusted_keys:
        try:
            found.append(keys.load_public_key(path))
        except KeyFileError as exc:
            raise KeyFileError(exc.message, hint="fix ContainerizeConfig.trusted_keys: "
                                                 + exc.hint) from None
    return found


# ---------------------------------------------------------------- signing at push


def image_sbom(reg: RegistryClient, name: str, manifest: dict[str, Any],
               image_config: dict[str, Any]) -> bytes | None:
    """The SBOM file the image carries (checked against its label), or None. Layers are read
    from our blob store (uncompressed, by diff ID), else a small one from the registry; the
    search starts at the last layer, where a build puts it."""
    want = ((image_config.get("config") or {}).get("Labels") or {}).get(sbom.SBOM_DIGEST_LABEL)
    if not want:
        return None
    diff_ids = list((image_config.get("rootfs") or {}).get("diff_ids") or [])
    descriptors = list(manifest.get("layers") or [])
    for diff, desc in reversed(list(zip(diff_ids, descriptors))):
        path = blob_path(str(diff))
        if path is not None:
            with open(path, "rb") as fh:
                found = _member(fh)
        elif int(desc.get("size", 0)) <= SBOM_LAYER_MAX:
            found = _member(io.BytesIO(reg.blob(name, str(desc["digest"]))))
        else:
            continue
        if found is not None:
            return found if "sha256:" + hashlib.sha256(found).hexdigest() == want else None
    return None


def _member(fh: IO[bytes]) -> bytes | None:
    member = sbom.IMAGE_SBOM_PATH.lstrip("/")
    with tarfile.open(fileobj=fh, mode="r:*") as tar:
        for info in tar:
            if info.name.lstrip("./") == member and info.isfile():
                data = tar.extractfile(info)
                return data.read() if data else None
    return None


def _statement(facts: dict[str, Any] | None, subject: str, digest: str,
               sbom_digest: str | None) -> dict[str, Any]:
    """The build's provenance when its facts were kept, else a statement of what is known."""
    facts = dict(facts or {})
    if sbom_digest and "sbom_sha256" not in facts:
        facts["sbom_sha256"] = sbom_digest
    wanted = ("notebook_path", "notebook_sha256", "lock_sha256", "build_path", "base_image",
              "base_digest", "started", "finished", "platform", "builder_id",
              "builder_versions", "invocation_id", "sbom_sha256")
    args = {k: facts[k] for k in wanted if facts.get(k) is not None}
    try:
        return provenance.build_provenance(image_name=subject, image_digest=digest, **args)
    except (TypeError, AttestInputError):
        pass  # facts missing or partial: say only what is known
    details: dict[str, Any] = {
        "builder": {"id": provenance.DEFAULT_BUILDER_ID,
                    "version": {provenance.TOOL: __version__}},
        "metadata": {},
    }
    if sbom_digest:
        details["byproducts"] = [{"name": "sbom.cdx.json", "uri": f"file://{sbom.IMAGE_SBOM_PATH}",
                                  "digest": {"sha256": sbom_digest.split(":", 1)[-1]},
                                  "mediaType": sbom.MEDIA_TYPE}]
    return {
        "_type": provenance.STATEMENT_TYPE,
        "subject": [{"name": subject, "digest": {"sha256": digest.split(":", 1)[1]}}],
        "predicateType": provenance.PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {"buildType": provenance.BUILD_TYPE,
                                "externalParameters": {}, "resolvedDependencies": []},
            "runDetails": details,
        },
    }


def sign_pushed(image_ids: list[str], target: str, tag: str, digest: str, *,
                progress: Any = None, config: ContainerizeConfig | None = None
                ) -> dict[str, Any] | None:
    """When a signing key is configured: attach a signed provenance (and the SBOM) to the
    image just pushed as ``target@digest`` (``image_ids``: the IDs its build facts may be kept
    under). Returns what was attached; None when no key is configured."""
    cfg = resolve(config)
    if not cfg.signing_key:
        return None
    key = _signing_key(cfg)
    rep = Reporter(progress)
    host, name, _tag, _digest = split_target(f"{target}@{digest}")
    reg = RegistryClient(host, config=cfg, engine_insecure=registries.insecure_registries)
    resp = reg.request("GET", f"/v2/{name}/manifests/{digest}",
                       headers={"Accept": OCI_MANIFEST}, scope=f"repository:{name}:pull")
    manifest = resp.json()
    subject = {"mediaType": str(manifest.get("mediaType") or OCI_MANIFEST), "digest": digest,
               "size": len(resp.content)}
    cfg_digest = str((manifest.get("config") or {}).get("digest") or "")
    image_config = reg.config(name, cfg_digest) if cfg_digest else {}
    named = f"{target}:{tag}" if tag else target
    document = image_sbom(reg, name, manifest, image_config)
    sbom_digest = "sha256:" + hashlib.sha256(document).hexdigest() if document else None
    if document is not None:  # only a valid SBOM is attached, and nothing is signed without it
        try:
            check_sbom(document, f"the SBOM the image carries ({sbom.IMAGE_SBOM_PATH})",
                       hint="build the image again with `jupyter containerize build` (it writes "
                            "a valid SBOM), then push it again")
        except SbomSchemaError as exc:
            raise SbomSchemaError(f"{target}@{digest[:19]} is pushed but not signed: "
                                  f"{exc.message}", hint=exc.hint) from None
    facts = next((f for f in map(load_facts, [*image_ids, cfg_digest, digest]) if f), None)
    statement = _statement(facts, named, digest, sbom_digest)
    envelope = dsse.sign_statement(statement, key)
    keyid = envelope["signatures"][0]["keyid"]
    note = {SIGNER: keyid, SUBJECT_NAME: named,
            "in-toto.io/predicate-type": provenance.PREDICATE_TYPE}
    try:
        done = {"keyid": keyid, "attestation": attach(reg, name, subject, ATTESTATION_TYPE,
                                                      dsse.envelope_bytes(envelope),
                                                      dsse.MEDIA_TYPE, note)}
        if document is not None:
            done["sbom"] = attach(reg, name, subject, SBOM_TYPE, document, sbom.MEDIA_TYPE,
                                  {SUBJECT_NAME: named})
    except RegistryError as exc:
        raise RegistryError(f"{target}@{digest[:19]} is pushed but not signed: {exc.message}",
                            hint=exc.hint) from None
    rep.emit(Event("log", f"push: signed provenance by key {keyid[:16]}"
                          f"{' and the SBOM' if document is not None else ''} attached to "
                          f"{target}@{digest[:19]}", phase="push", data=done))
    return done


def sign_built(push: str, image_ids: list[str], digest: str, *, progress: Any = None,
               config: ContainerizeConfig | None = None) -> dict[str, Any] | None:
    """``build --push TARGET`` (with or without an engine): sign what it pushed."""
    repo, tag, _digest = check_reference(push)
    return sign_pushed(image_ids, repo, tag or "", digest, progress=progress, config=config)


# ---------------------------------------------------------------- verification where used


def _refused(ref: str, exc: ContainerizeError) -> ContainerizeError:
    out = type(exc)(f"{ref} refused: {exc.message}", hint=exc.hint)
    return out


def _pinned(ref: str, cfg: ContainerizeConfig, reg_for: Any,
            prefer_engine: bool) -> tuple[str, str, str]:
    """(host, repository name, manifest digest) of the image ``ref`` names: the engine's copy
    when it has one (checked against the registry's manifest), else the registry's."""
    repo, _tag, digest = check_reference(ref)
    local = engine.get_image(ref) if (prefer_engine and not digest) else None
    if local is None or (host_of(repo) and not _repo_digests(local, repo)):
        host, name, tag, digest = split_target(ref)
        if not digest:
            _manifest, digest = reg_for(host).manifest(name, tag or "latest", cfg.platform)
        if local is not None:  # pushed from here: the engine's image must be the registry's
            _check_local(local, ref, host, name, digest, cfg, reg_for)
        return host, name, digest
    mine = _repo_digests(local, repo) or _repo_digests(local, "")
    if not mine:
        raise UnsignedError(f"{ref} refused: the engine's image was not pulled from a registry "
                            "(built or changed here), so no signature can be about it",
                            hint="push it signed and use the pushed reference, or pull the "
                                 "signed image")
    host, name, _t, pinned = split_target(mine[0])
    digest = str(pinned)
    _check_local(local, ref, host, name, digest, cfg, reg_for)
    return host, name, digest


def _repo_digests(local: Any, repo: str) -> list[str]:
    """The engine's ``repo@sha256:...`` names of an image (any registry's when ``repo`` is "")."""
    found = [str(d) for d in local.attrs.get("RepoDigests") or [] if host_of(d.split("@")[0])]
    return [d for d in found if d.startswith(repo + "@")] if repo else found


def _check_local(local: Any, ref: str, host: str, name: str, digest: str,
                 cfg: ContainerizeConfig, reg_for: Any) -> None:
    """The engine's image is the registry's ``digest``: its ID is that manifest's config
    digest (the layer store) or the manifest digest itself (the containerd store)."""
    manifest, _d = reg_for(host).manifest(name, digest, cfg.platform)
    config_digest = (manifest.get("config") or {}).get("digest")
    if str(local.id) not in (config_digest, digest):
        raise BadSignatureError(
            f"{ref} refused: the engine's image {str(local.id)[:19]} is not the image "
            f"{digest[:19]} the registry holds (a layer or the config was changed)",
            hint="remove it and pull the signed image again")


def verify_image(ref: str, *, verify: bool | None = None, prefer_engine: bool = True,
                 config: ContainerizeConfig | None = None) -> dict[str, Any] | None:
    """Check ``ref`` when ``verify`` or ``require_signed``: an envelope signed by a trusted key
    whose statement is about the image's manifest digest. Returns {digest, keyid, seconds};
    None when no check is asked for; raises a one-line :class:`VerificationError` otherwise."""
    cfg = resolve(config)
    if not (verify or cfg.require_signed):
        return None
    started = time.perf_counter()
    public = trusted_keys(cfg)
    clients: dict[str, RegistryClient] = {}

    def reg_for(host: str) -> RegistryClient:
        if host not in clients:
            clients[host] = RegistryClient(host, config=cfg,
                                           engine_insecure=registries.insecure_registries)
        return clients[host]

    host, name, digest = _pinned(ref, cfg, reg_for, prefer_engine)
    reg = reg_for(host)
    found = [d for d in referrers(reg, name, digest) if d.get("artifactType") == ATTESTATION_TYPE]
    if not found:
        raise _unsigned(reg, name, ref, digest)
    errors: list[ContainerizeError] = []
    ids = {keys.keyid(k) for k in public}
    for descriptor in found:
        data = artifact_data(reg, name, descriptor)
        try:
            statement = dsse.verify(data, public, digest)
        except VerificationError as exc:
            errors.append(exc)
            continue
        signed = {str(s.get("keyid")) for s in dsse.read_envelope(data)["signatures"]
                  if isinstance(s, dict)}
        return {"digest": digest, "keyid": min(signed & ids or {""}), "statement": statement,
                "seconds": round(time.perf_counter() - started, 3)}
    rank = (BadSignatureError, SubjectMismatchError, UnknownKeyError, UnsignedError)
    errors.sort(key=lambda e: next((i for i, t in enumerate(rank) if isinstance(e, t)), 9))
    raise _refused(ref, errors[0])


def _unsigned(reg: RegistryClient, name: str, ref: str, digest: str) -> ContainerizeError:
    """No attestation for this digest: a changed image when a signed one was pushed under the
    same name (the fallback tags say so), else an unsigned image."""
    _repo, tag, _d = check_reference(ref)
    wanted = f"{reg.host}/{name}:{tag}" if tag else ""
    for other in reg.tags(name) if wanted else []:
        if not FALLBACK_TAG.fullmatch(other) or other == digest.replace(":", "-"):
            continue
        listed = referrers(reg, name, other.replace("-", ":", 1))
        if any((d.get("annotations") or {}).get(SUBJECT_NAME) == wanted for d in listed):
            return BadSignatureError(
                f"{ref} refused: it now names {digest[:19]}, but the image signed under that "
                f"name is {other.replace('-', ':', 1)[:19]} (a layer or the config was changed "
                "after signing)", hint="do not use it; push the signed build again or ask its "
                                       "publisher")
    return UnsignedError(f"{ref} refused: no signed provenance is attached to {digest[:19]}",
                         hint="ask its publisher to push it with a signing key "
                              "(ContainerizeConfig.signing_key), or do not use it")


def signatures(reg: RegistryClient, name: str, digest: str) -> dict[str, Any]:
    """What a listing shows (read, not verified): signers' key ids and whether an SBOM is
    attached."""
    try:
        found = referrers(reg, name, digest) if digest else []
    except ContainerizeError:
        found = []
    signers = sorted({str((d.get("annotations") or {}).get(SIGNER, "")) for d in found
                      if d.get("artifactType") == ATTESTATION_TYPE} - {""})
    return {"signers": signers, "sbom": any(d.get("artifactType") == SBOM_TYPE for d in found)}
