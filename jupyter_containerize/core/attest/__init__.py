"""The supply chain of an environment image: what is in it (a CycloneDX SBOM), how it was made
(an in-toto Statement with an SLSA Provenance predicate), who vouches for it (a DSSE envelope
signed with an Ed25519 or ECDSA P-256 key) and the lock in other tools' formats (pylock.toml,
requirements.txt with hashes).

Every function takes plain data (a lock dict, paths, bytes, digests) and returns plain data;
nothing here talks to an engine or a registry. This package sits between ``image`` and
``env`` in the core's layers.
"""
