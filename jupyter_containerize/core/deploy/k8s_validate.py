"""Validation of Kubernetes and KServe manifests, offline.

Core kinds are checked against the Kubernetes OpenAPI schemas bundled with
``kubernetes-validate``; an InferenceService against KServe's CRD schema (``schemas/``) with
jsonschema. In strict mode an unknown key is an error in both.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Union

import yaml

from ..errors import ContainerizeError

ISVC_API = "serving.kserve.io/v1beta1"
ISVC_SCHEMA = Path(__file__).with_name("schemas") / "inferenceservice-v1beta1.json"
DNS_LABEL = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")
HINT_EXTRA = "pip install 'jupyter-containerize[k8s]'"

Manifest = dict[str, Any]
PathLike = Union[str, Path]


class ManifestError(ContainerizeError):
    """A deployment spec or manifest that cannot be exported, validated or applied."""


KUBERNETES_VERSION = "1.30"
_MAX_MESSAGE = 240


def _kv() -> Any:
    try:
        import kubernetes_validate
    except ImportError:
        raise ManifestError("kubernetes-validate is not installed", HINT_EXTRA) from None
    return kubernetes_validate


def _message(error: Any) -> str:
    where = ".".join(str(p) for p in error.absolute_path) or "(top level)"
    text = " ".join(str(error.message).split())
    if len(text) > _MAX_MESSAGE:
        text = text[: _MAX_MESSAGE - 3] + "..."
    return f"{where}: {text}"


def _sorted_messages(errors: Iterable[Any]) -> list[str]:
    return sorted({_message(e) for e in errors})


def _core_schema_errors(doc: Manifest, version: str, strict: bool) -> list[Any]:
    """Every error against the schema kubernetes-validate chose (it raises only the first)."""
    import importlib.resources

    import jsonschema
    from referencing import Registry, Resource

    folder = f"v{version}.0-local" + ("-strict" if strict else "")
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", doc["apiVersion"])
    root = importlib.resources.files("kubernetes_validate") / "kubernetes-json-schema" / folder
    schema = json.loads((root / f"{doc['kind'].lower()}-{group_version}.json").read_text())
    definitions = json.loads((root / "_definitions.json").read_text())
    registry = Resource.from_contents(schema) @ Registry()
    registry = Resource.from_contents(definitions) @ registry
    validator = jsonschema.Draft202012Validator(schema, registry=registry)
    return list(validator.iter_errors(doc))


def _core_errors(doc: Manifest, version: str, strict: bool) -> list[str]:
    kv = _kv()
    try:
        kv.validate(doc, version, strict=strict)
        return []
    except kv.SchemaNotFoundError:
        return [f"(top level): no schema for {doc.get('apiVersion')} {doc.get('kind')}"]
    except kv.ValidationError as first:
        try:
            found = _core_schema_errors(doc, first.version, strict)
        except Exception:  # the bundled files' layout is not public: keep the first error
            found = []
        return _sorted_messages(found) or [_message(first)]


def _strict_schema(node: Any) -> Any:
    """The schema with ``additionalProperties: false`` wherever properties are closed."""
    if isinstance(node, list):
        return [_strict_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _strict_schema(value) for key, value in node.items()}
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


@functools.lru_cache(maxsize=2)
def _isvc_validator(strict: bool) -> Any:
    import jsonschema

    schema = json.loads(ISVC_SCHEMA.read_text(encoding="utf-8"))
    if strict:
        schema = _strict_schema(schema)
    return jsonschema.Draft7Validator(schema)


def _policy_errors(doc: Manifest) -> list[str]:
    """Checks beyond the schemas: a name, and an image in every container."""
    errors = []
    name = (doc.get("metadata") or {}).get("name")
    if not isinstance(name, str) or not DNS_LABEL.fullmatch(name):
        errors.append(f"metadata.name: {name!r} is not a valid name (a DNS-1035 label)")
    for where, container in _containers(doc):
        if isinstance(container, dict) and not container.get("image"):
            errors.append(f"{where}: 'image' is a required property")
    return errors


def _containers(doc: Manifest) -> Iterator[tuple[str, Any]]:
    spec: dict[str, Any] = doc["spec"] if isinstance(doc.get("spec"), dict) else {}
    if doc.get("kind") == "Deployment":
        pod = (spec.get("template") or {}).get("spec") or {}
        where = "spec.template.spec.containers"
    elif doc.get("kind") == "InferenceService":
        pod = spec.get("predictor") or {}
        where = "spec.predictor.containers"
    else:
        return
    containers = pod.get("containers") if isinstance(pod, dict) else None
    for i, container in enumerate(containers if isinstance(containers, list) else []):
        yield f"{where}.{i}", container


def validate_manifest(
    doc: Any, strict: bool = True, kubernetes_version: str = KUBERNETES_VERSION
) -> list[str]:
    """Errors of one manifest (``path: message`` each), empty when it is valid."""
    if not isinstance(doc, dict) or not doc.get("apiVersion") or not doc.get("kind"):
        return ["(top level): a manifest is a mapping with apiVersion and kind"]
    if doc["apiVersion"] == ISVC_API and doc["kind"] == "InferenceService":
        found = _sorted_messages(_isvc_validator(strict).iter_errors(doc))
    elif doc["apiVersion"].startswith("serving.kserve.io/"):
        found = [f"apiVersion: only {ISVC_API} InferenceService is checked here"]
    else:
        found = _core_errors(doc, kubernetes_version, strict)
    return found + [e for e in _policy_errors(doc) if e not in found]


def documents(path: Path) -> list[Any]:
    try:
        return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
    except (OSError, yaml.YAMLError) as exc:
        raise ManifestError(f"cannot read {path}: {exc}") from exc


def validate_manifests(
    paths: Iterable[PathLike], strict: bool = True, kubernetes_version: str = KUBERNETES_VERSION
) -> list[str]:
    """Errors of every manifest in the YAML files ``paths``, each naming file, kind and field.

    Core kinds are checked with kubernetes-validate against Kubernetes ``kubernetes_version``;
    InferenceService against KServe's CRD schema. ``strict``: an unknown key is an error.
    """
    errors = []
    for path in map(Path, paths):
        for doc in documents(path):
            kind = doc.get("kind", "?") if isinstance(doc, dict) else "?"
            name = (doc.get("metadata") or {}).get("name", "?") if isinstance(doc, dict) else "?"
            for message in validate_manifest(doc, strict, kubernetes_version):
                errors.append(f"{path.name}: {kind}/{name}: {message}")
    return errors
