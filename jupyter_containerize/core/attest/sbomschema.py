"""An SBOM checked against the CycloneDX JSON schema before it leaves us (attached to a pushed
image, written by ``freeze --export cyclonedx``).

The schema files and their neighbours (SPDX licence ids, JSF signatures, cryptography
definitions) are the ones the reference library, cyclonedx-python-lib, ships; jsonschema checks
them. The strict schema is used (no unknown property). Of the string formats, all are checked
but the IRI ones, whose grammar parser costs a tenth of a second per value and whose values
here are URLs we write ourselves."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from .errors import SbomSchemaError
from .sbom import SPEC_VERSION

_PREFIX = "http://cyclonedx.org/schema/"
_NEIGHBOURS = {  # the library's resource name -> the URL the schema refers to it by
    "SPDX_JSON": "spdx.SNAPSHOT.schema.json",
    "JSF": "jsf-0.82.SNAPSHOT.schema.json",
    "CRYPTOGRAPHY_DEFS": "cryptography-defs.SNAPSHOT.schema.json",
}
_SLOW_FORMATS = ("iri", "iri-reference")


@lru_cache(maxsize=1)
def _validator() -> Any:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.schema import _res as files
    from jsonschema import Draft7Validator, FormatChecker
    from referencing import Registry
    from referencing.jsonschema import DRAFT7

    def load(path: str) -> Any:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)

    resources = [(_PREFIX + url, DRAFT7.create_resource(load(getattr(files, name))))
                 for name, url in _NEIGHBOURS.items() if getattr(files, name, None)]
    version = SchemaVersion.from_version(SPEC_VERSION)
    checker = FormatChecker()
    for name in _SLOW_FORMATS:
        checker.checkers.pop(name, None)
    schema = files.BOM_JSON_STRICT.get(version)
    if schema is None:
        raise SbomSchemaError(f"the installed cyclonedx-python-lib has no CycloneDX "
                              f"{SPEC_VERSION} schema", hint="pip install -U cyclonedx-python-lib")
    return Draft7Validator(load(schema),
                           registry=Registry().with_resources(resources),
                           format_checker=checker)


def check_sbom(document: bytes | dict[str, Any], what: str, hint: str) -> dict[str, Any]:
    """The parsed document when it is valid CycloneDX of our version; else one
    :class:`SbomSchemaError` naming ``what``, where it fails and why, with ``hint``."""
    if isinstance(document, dict):
        doc = document
    else:
        try:
            doc = json.loads(document)
        except (ValueError, UnicodeDecodeError) as exc:
            raise SbomSchemaError(f"{what} is not JSON ({exc})", hint=hint) from None
    if not isinstance(doc, dict):
        raise SbomSchemaError(f"{what} is not a CycloneDX document (not a JSON object)",
                              hint=hint)
    from jsonschema.exceptions import best_match

    error = best_match(_validator().iter_errors(doc))
    if error is None:
        return doc
    where = "/".join(str(p) for p in error.absolute_path) or "the top level"
    reason = " ".join(error.message.split())
    if len(reason) > 120:
        reason = reason[:117] + "..."
    raise SbomSchemaError(f"{what} fails the CycloneDX {SPEC_VERSION} schema at {where}: "
                          f"{reason}", hint=hint)
