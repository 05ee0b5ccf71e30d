"""Kubernetes and KServe manifests for a serving image: export, validate, apply.

``export_manifests`` writes a Deployment, a Service, a HorizontalPodAutoscaler and a KServe
InferenceService as YAML. ``validate_manifests`` checks the core kinds against the Kubernetes
OpenAPI schemas bundled with ``kubernetes-validate`` (offline) and the InferenceService against
the CRD's own OpenAPI schema (``schemas/``) with jsonschema; in strict mode an unknown key fails
in both. ``apply_manifests`` sends them to a cluster with the ``kubernetes`` client
(server-side apply). Both packages come with the ``k8s`` extra and are imported lazily.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Optional

import yaml

from .. import labels
from .k8s_validate import (
    DNS_LABEL,
    HINT_EXTRA,
    ISVC_API,
    KUBERNETES_VERSION,
    Manifest,
    ManifestError,
    PathLike,
    documents,
    validate_manifest,
    validate_manifests,
)

__all__ = [
    "KUBERNETES_VERSION",
    "ManifestError",
    "apply_manifests",
    "build_manifests",
    "export_manifests",
    "validate_manifest",
    "validate_manifests",
]

PORT = 8080
SERVICE_PORT = 80
UID = 1000
TOKEN_KEY = "token"
FIELD_MANAGER = "jupyter-containerize"
DEFAULT_RESOURCES: dict[str, dict[str, str]] = {
    "requests": {"cpu": "500m", "memory": "512Mi"},
    "limits": {"cpu": "2", "memory": "2Gi"},
}
FILES = {
    "Deployment": "deployment.yaml",
    "Service": "service.yaml",
    "HorizontalPodAutoscaler": "hpa.yaml",
    "InferenceService": "inferenceservice.yaml",
}
# ---------------------------------------------------------------------------------- export


def _normalise(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec with its defaults filled in; ManifestError naming the first bad field."""
    s = dict(spec)
    name = s.get("name")
    if not isinstance(name, str) or not DNS_LABEL.fullmatch(name):
        raise ManifestError(
            f"name {name!r} is not a valid Kubernetes name",
            "use at most 63 lower-case letters, digits and '-', starting with a letter",
        )
    if not isinstance(s.get("image"), str) or not s["image"]:
        raise ManifestError("image is required", "pass the serving image's reference")
    s.setdefault("port", PORT)
    s.setdefault("model_name", name)
    s.setdefault("replicas", 1)
    s.setdefault("min_replicas", 1)
    s.setdefault("max_replicas", max(4, s["min_replicas"]))
    s.setdefault("target_cpu", 70)
    s.setdefault("token_secret", None)
    s.setdefault("namespace", None)
    s.setdefault("autoscale", True)
    s.setdefault("skops_trusted", [])
    trusted = s["skops_trusted"]
    if not isinstance(trusted, (list, tuple)) or not all(isinstance(t, str) for t in trusted):
        raise ManifestError(f"skops_trusted must be a list of type names, got {trusted!r}")
    for key in ("port", "replicas", "min_replicas", "max_replicas", "target_cpu"):
        if not isinstance(s[key], int) or isinstance(s[key], bool) or s[key] < 0:
            raise ManifestError(f"{key} must be a non-negative integer, got {s[key]!r}")
    if not 1 <= s["min_replicas"] <= s["max_replicas"]:
        raise ManifestError("min_replicas must be at least 1 and at most max_replicas")
    s["resources"] = _resources(s.get("resources"))
    return s


def _resources(given: Optional[dict[str, Any]]) -> dict[str, dict[str, str]]:
    out = copy.deepcopy(DEFAULT_RESOURCES)
    for part, values in (given or {}).items():
        if part not in out or not isinstance(values, dict):
            raise ManifestError(f"resources.{part} is not 'requests' or 'limits' with values")
        out[part].update({k: str(v) for k, v in values.items()})
    return out


def _labels(s: dict[str, Any]) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": s["name"],
        "app.kubernetes.io/managed-by": FIELD_MANAGER,
        labels.MANAGED: "true",
    }


def _annotations(s: dict[str, Any]) -> dict[str, str]:
    """The model's identity, where the spec carries it (``serve --export`` does)."""
    found = {labels.MODEL_SHA256: s.get("model_sha256"), labels.MODEL_FLAVOR: s.get("flavor")}
    return {key: str(value) for key, value in found.items() if value}


def _metadata(s: dict[str, Any]) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": s["name"], "labels": _labels(s)}
    if _annotations(s):
        meta["annotations"] = _annotations(s)
    if s["namespace"]:
        meta["namespace"] = s["namespace"]
    return meta


def allowed_hosts(s: dict[str, Any]) -> list[str]:
    """The names clients reach the pods by: the Service (and KServe's predictor Service),
    short and qualified in the namespace (``default`` when the spec names none)."""
    namespace = s["namespace"] or "default"
    out = []
    for service_name in (s["name"], f"{s['name']}-predictor"):
        out += [service_name, f"{service_name}.{namespace}", f"{service_name}.{namespace}.svc",
                f"{service_name}.{namespace}.svc.cluster.local"]
    return out


def _probe(path: str, port: int, period: int, failures: int) -> dict[str, Any]:
    # the kubelet sends the pod's IP as Host; the runtime accepts localhost
    return {
        "httpGet": {"path": path, "port": port,
                    "httpHeaders": [{"name": "Host", "value": "localhost"}]},
        "periodSeconds": period,
        "failureThreshold": failures,
        "timeoutSeconds": 2,
    }


def _env(s: dict[str, Any]) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [
        {"name": "MODEL_NAME", "value": s["model_name"]},
        {"name": "SERVING_PORT", "value": str(s["port"])},
        {"name": "SERVING_ALLOWED_HOSTS", "value": ",".join(allowed_hosts(s))},
    ]
    if s["skops_trusted"]:
        env.append({"name": "SERVING_SKOPS_TRUSTED", "value": ",".join(s["skops_trusted"])})
    if s["token_secret"]:
        ref = {"name": s["token_secret"], "key": TOKEN_KEY}
        env.append({"name": "SERVING_TOKEN", "valueFrom": {"secretKeyRef": ref}})
    return env


def _container(s: dict[str, Any], name: str, startup: bool) -> dict[str, Any]:
    port = s["port"]
    container: dict[str, Any] = {
        "name": name,
        "image": s["image"],
        "ports": [{"containerPort": port, "protocol": "TCP"}],
        "env": _env(s),
        "resources": s["resources"],
        "readinessProbe": _probe("/v2/health/ready", port, 5, 3),
        "livenessProbe": _probe("/v2/health/live", port, 10, 3),
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": UID,
            "runAsGroup": UID,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    if startup:
        # ready only after the model loaded and answered its warm-up: up to 5 minutes
        container["startupProbe"] = _probe("/v2/health/ready", port, 2, 150)
    return container


def deployment(s: dict[str, Any]) -> Manifest:
    selector = {"app.kubernetes.io/name": s["name"]}
    pod_security: dict[str, Any] = {
        "runAsNonRoot": True, "runAsUser": UID, "runAsGroup": UID, "fsGroup": UID
    }
    pod_security["seccompProfile"] = {"type": "RuntimeDefault"}
    spec: dict[str, Any] = {
        "selector": {"matchLabels": selector},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0}},
        "template": {
            "metadata": {"labels": _labels(s), "annotations": _annotations(s)},
            "spec": {
                "securityContext": pod_security,
                "containers": [_container(s, "model", startup=True)],
            },
        },
    }
    if not s["autoscale"]:
        # with an autoscaler the count is its own: a replicas field here would reset what it
        # chose at every apply (server-side apply with force_conflicts takes the field back)
        spec = {"replicas": s["replicas"], **spec}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": _metadata(s),
            "spec": spec}


def service(s: dict[str, Any]) -> Manifest:
    port = {"name": "http", "port": SERVICE_PORT, "targetPort": s["port"], "protocol": "TCP"}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(s),
        "spec": {
            "type": "ClusterIP",
            "selector": {"app.kubernetes.io/name": s["name"]},
            "ports": [port],
        },
    }


def autoscaler(s: dict[str, Any]) -> Manifest:
    target = {"type": "Utilization", "averageUtilization": s["target_cpu"]}
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _metadata(s),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": s["name"]},
            "minReplicas": s["min_replicas"],
            "maxReplicas": s["max_replicas"],
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": target}}],
        },
    }


def inference_service(s: dict[str, Any]) -> Manifest:
    container = _container(s, "kserve-container", startup=False)
    # KServe reads a custom container's protocol from its PROTOCOL variable (v1 or v2)
    container["env"].append({"name": "PROTOCOL", "value": "v2"})
    return {
        "apiVersion": ISVC_API,
        "kind": "InferenceService",
        "metadata": _metadata(s),
        "spec": {
            "predictor": {
                "minReplicas": s["min_replicas"],
                "maxReplicas": s["max_replicas"],
                "scaleMetric": "cpu",
                "scaleTarget": s["target_cpu"],
                "containers": [container],
            }
        },
    }


def build_manifests(spec: dict[str, Any]) -> list[Manifest]:
    """The four manifests of ``spec`` (see ``export_manifests``), in apply order."""
    s = _normalise(spec)
    scaler = [autoscaler(s)] if s["autoscale"] else []
    return [deployment(s), service(s), *scaler, inference_service(s)]


def export_manifests(spec: dict[str, Any], out_dir: PathLike) -> list[Path]:
    """Write the manifests of a serving deployment as YAML files in ``out_dir``.

    ``spec``: ``name`` and ``image`` (required), ``port`` (8080), ``model_name`` (``name``),
    ``replicas`` (1), ``resources`` (``{"requests"|"limits": {"cpu", "memory"}}``, merged over
    DEFAULT_RESOURCES), ``token_secret`` (a Secret whose ``token`` key becomes SERVING_TOKEN),
    ``min_replicas`` (1), ``max_replicas`` (4), ``target_cpu`` (70 %), ``namespace``;
    ``model_sha256`` and ``flavor``, when given, become annotations; ``skops_trusted`` (type
    names a .skops model may load); ``autoscale`` (True: a HorizontalPodAutoscaler owns the
    replica count, so the Deployment names none; False: no autoscaler, ``replicas`` set).
    Returns deployment.yaml, service.yaml, hpa.yaml (with autoscale) and inferenceservice.yaml.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for manifest in build_manifests(spec):
        path = out / FILES[manifest["kind"]]
        path.write_text(yaml.safe_dump(manifest, sort_keys=False), encoding="utf-8")
        paths.append(path)
    return paths


# ----------------------------------------------------------------------------------- apply


def _kubernetes() -> Any:
    try:
        from kubernetes import config, dynamic
    except ImportError:
        raise ManifestError("the kubernetes client is not installed", HINT_EXTRA) from None
    return config, dynamic


def _connect(kubeconfig: PathLike, context: Optional[str]) -> Any:
    config, dynamic = _kubernetes()
    try:
        api = config.new_client_from_config(config_file=str(kubeconfig), context=context)
        return dynamic.DynamicClient(api)
    except Exception as exc:  # config errors, connection errors, discovery errors
        raise ManifestError(
            f"cannot reach the cluster of {kubeconfig}: {exc}",
            "check the kubeconfig, its context and that the cluster answers",
        ) from exc


def _apply_one(client: Any, doc: Manifest, namespace: Optional[str]) -> str:
    what = f"{doc['kind']}/{doc['metadata']['name']}"
    try:
        resource = client.resources.get(api_version=doc["apiVersion"], kind=doc["kind"])
    except Exception as exc:
        hint = "install KServe in the cluster" if doc["apiVersion"] == ISVC_API else ""
        raise ManifestError(f"the cluster does not serve {doc['apiVersion']} {what}", hint) from exc
    try:
        client.server_side_apply(
            resource,
            body=doc,
            namespace=namespace or doc["metadata"].get("namespace") or "default",
            field_manager=FIELD_MANAGER,
            force_conflicts=True,
        )
    except Exception as exc:
        reason = getattr(exc, "reason", None) or exc
        raise ManifestError(f"applying {what} failed: {reason}") from exc
    return what


def apply_manifests(
    paths: Iterable[PathLike],
    kubeconfig: PathLike,
    namespace: Optional[str] = None,
    context: Optional[str] = None,
) -> list[str]:
    """Validate, then server-side apply every manifest in order; ``Kind/name`` of each.

    Needs the ``kubernetes`` package (the ``k8s`` extra). ``namespace`` overrides the
    manifests' own, which default to ``default``.
    """
    files = [Path(p) for p in paths]
    errors = validate_manifests(files)
    if errors:
        raise ManifestError(
            f"{len(errors)} invalid manifest field(s), first: {errors[0]}",
            "run validate_manifests for the full list",
        )
    client = _connect(kubeconfig, context)
    return [_apply_one(client, doc, namespace) for path in files for doc in documents(path)]
