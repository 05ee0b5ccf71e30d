"""The errors of the supply-chain documents: each says which check failed and what to do."""

from __future__ import annotations

from ..errors import ContainerizeError


class AttestError(ContainerizeError):
    """A supply-chain document cannot be made, read or trusted."""


class AttestInputError(AttestError):
    """An input (a lock, a digest, a dpkg status file, a timestamp) that is not what it must be."""


class ExportFormatError(AttestError):
    """An export format we do not write, or a lock that cannot be written in that format."""


class KeyFileError(AttestError):
    """A signing or verification key that is missing, unreadable, of the wrong kind or damaged."""


class VerificationError(AttestError):
    """A signed envelope that must not be trusted."""

    http_status = 422


class EnvelopeFormatError(VerificationError):
    """The envelope is not a DSSE envelope of an in-toto Statement."""


class UnsignedError(VerificationError):
    """The envelope carries no signature."""


class UnknownKeyError(VerificationError):
    """Every signature was made by a key that is not among the trusted ones."""


class BadSignatureError(VerificationError):
    """A signature by a trusted key does not match the payload."""


class SubjectMismatchError(VerificationError):
    """The signed statement is about another image."""


class SbomSchemaError(AttestError):
    """An SBOM that is not valid CycloneDX: it is neither attached nor exported."""
