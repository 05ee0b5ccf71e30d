"""Base images: find one for a kernel's Python (:mod:`.find`), or bootstrap one offline by
mmdebstrap (:mod:`.debian`) or by carrying the kernel's own interpreter (:mod:`.carry`);
:mod:`.ensure` reuses or makes one; :mod:`.registry` reads one from a registry for builds
with no engine. :mod:`.model` holds what they share."""

from __future__ import annotations

from .carry import find_interpreter, interpreter_info
from .ensure import bootstrap, ensure_base
from .find import best_bootstrapped, find_base, list_bases, official_references
from .model import (
    BASE_INTERPRETER,
    BaseImage,
    base_identity,
    base_reference,
    minor_of,
    parse_dpkg_query,
    site_packages_layout,
)

__all__ = [
    "BASE_INTERPRETER",
    "BaseImage",
    "base_identity",
    "base_reference",
    "best_bootstrapped",
    "bootstrap",
    "ensure_base",
    "find_base",
    "find_interpreter",
    "interpreter_info",
    "list_bases",
    "minor_of",
    "official_references",
    "parse_dpkg_query",
    "site_packages_layout",
]
