"""Kubernetes and KServe manifests: export, validation with negative cases, apply."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from jupyter_containerize.core.deploy import k8s
from jupyter_containerize.core.deploy.k8s_validate import ISVC_SCHEMA

SPEC: dict[str, Any] = {
    "name": "classifier",
    "image": "registry.example/jupyter-containerize/classifier:serve-0123456789ab",
    "model_name": "classifier",
    "replicas": 2,
    "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
    "token_secret": "classifier-token",
    "min_replicas": 2,
    "max_replicas": 6,
    "target_cpu": 60,
    "model_sha256": "0f" * 32,
    "flavor": "joblib",
}


@pytest.fixture
def manifests() -> dict[str, dict[str, Any]]:
    return {m["kind"]: m for m in k8s.build_manifests(SPEC)}


def test_exported_manifests_validate_strictly(tmp_path: Path) -> None:
    paths = k8s.export_manifests(SPEC, tmp_path / "k8s")
    names = [p.name for p in paths]
    assert names == ["deployment.yaml", "service.yaml", "hpa.yaml", "inferenceservice.yaml"]
    assert k8s.validate_manifests(paths, strict=True) == []
    kinds = [yaml.safe_load(p.read_text())["kind"] for p in paths]
    assert kinds == ["Deployment", "Service", "HorizontalPodAutoscaler", "InferenceService"]


def test_defaults_validate(tmp_path: Path) -> None:
    paths = k8s.export_manifests({"name": "m", "image": "img:1"}, tmp_path)
    assert k8s.validate_manifests(paths) == []


def test_deployment_runs_non_root_with_probes(manifests: dict[str, Any]) -> None:
    dep = manifests["Deployment"]
    pod = dep["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    # the autoscaler chooses how many: an apply must not reset it
    assert dep["apiVersion"] == "apps/v1" and "replicas" not in dep["spec"]
    assert pod["securityContext"]["runAsUser"] == 1000
    assert container["securityContext"]["runAsNonRoot"] is True
    assert container["readinessProbe"]["httpGet"] == {
        "path": "/v2/health/ready", "port": 8080,
        "httpHeaders": [{"name": "Host", "value": "localhost"}]}
    assert container["livenessProbe"]["httpGet"] == {
        "path": "/v2/health/live", "port": 8080,
        "httpHeaders": [{"name": "Host", "value": "localhost"}]}
    assert container["startupProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["resources"]["requests"] == {"cpu": "250m", "memory": "256Mi"}
    assert container["resources"]["limits"] == {"cpu": "2", "memory": "1Gi"}
    token = {"name": "classifier-token", "key": "token"}
    assert {"name": "SERVING_TOKEN", "valueFrom": {"secretKeyRef": token}} in container["env"]
    selector = dep["spec"]["selector"]["matchLabels"]
    assert selector.items() <= dep["spec"]["template"]["metadata"]["labels"].items()
    annotations = dep["spec"]["template"]["metadata"]["annotations"]
    assert annotations["io.jupyter-containerize.model.sha256"] == "0f" * 32
    assert manifests["InferenceService"]["metadata"]["annotations"] == annotations


def test_service_hpa_and_inference_service(manifests: dict[str, Any]) -> None:
    svc = manifests["Service"]["spec"]
    assert svc["type"] == "ClusterIP"
    assert svc["ports"][0]["port"] == 80 and svc["ports"][0]["targetPort"] == 8080
    hpa = manifests["HorizontalPodAutoscaler"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 6)
    assert hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 60
    isvc = manifests["InferenceService"]
    assert isvc["apiVersion"] == "serving.kserve.io/v1beta1"
    (container,) = isvc["spec"]["predictor"]["containers"]
    assert container["image"] == SPEC["image"]
    assert container["ports"] == [{"containerPort": 8080, "protocol": "TCP"}]
    assert {"name": "PROTOCOL", "value": "v2"} in container["env"]


def _drop(doc: dict[str, Any], *path: Any) -> None:
    for key in path[:-1]:
        doc = doc[key]
    del doc[path[-1]]


def _set(value: Any, *path: Any) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        for key in path[:-1]:
            doc = doc[key]
        doc[path[-1]] = value

    return change


def _rename(old: str, new: str, *path: Any) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        for key in path:
            doc = doc[key]
        doc[new] = doc.pop(old)

    return change


POD = ("spec", "template", "spec")
PREDICTOR = ("spec", "predictor")
NEGATIVE = {
    "deployment without selector": (
        "Deployment",
        lambda d: _drop(d, "spec", "selector"),
        ["spec: 'selector' is a required property"],
    ),
    "container without image": (
        "Deployment",
        lambda d: _drop(d, *POD, "containers", 0, "image"),
        ["containers.0: 'image' is a required property"],
    ),
    "replicas as text": (
        "Deployment",
        _set("two", "spec", "replicas"),
        ["spec.replicas: 'two' is not of type 'integer'"],
    ),
    "misspelled containers": (
        "Deployment",
        _rename("containers", "contianers", *POD),
        ["'contianers' was unexpected", "'containers' is a required property"],
    ),
    "service port as text": (
        "Service",
        _set("eighty", "spec", "ports", 0, "port"),
        ["spec.ports.0.port: 'eighty' is not of type 'integer'"],
    ),
    "hpa without maxReplicas": (
        "HorizontalPodAutoscaler",
        lambda d: _drop(d, "spec", "maxReplicas"),
        ["spec: 'maxReplicas' is a required property"],
    ),
    "hpa misspelled metrics": (
        "HorizontalPodAutoscaler",
        _rename("metrics", "metircs", "spec"),
        ["'metircs' was unexpected"],
    ),
    "misspelled predictor": (
        "InferenceService",
        _rename("predictor", "predictr", "spec"),
        ["'predictr' was unexpected", "spec: 'predictor' is a required property"],
    ),
    "isvc minReplicas as text": (
        "InferenceService",
        _set("two", *PREDICTOR, "minReplicas"),
        ["spec.predictor.minReplicas: 'two' is not of type 'integer'"],
    ),
    "isvc container without name": (
        "InferenceService",
        lambda d: _drop(d, *PREDICTOR, "containers", 0, "name"),
        ["spec.predictor.containers.0: 'name' is a required property"],
    ),
    "isvc container without image": (
        "InferenceService",
        lambda d: _drop(d, *PREDICTOR, "containers", 0, "image"),
        ["spec.predictor.containers.0: 'image' is a required property"],
    ),
    "isvc misspelled key in a container": (
        "InferenceService",
        _rename("ports", "prots", *PREDICTOR, "containers", 0),
        ["'prots' was unexpected"],
    ),
    "isvc bad quantity": (
        "InferenceService",
        _set("lots", *PREDICTOR, "containers", 0, "resources", "limits", "cpu"),
        ["resources.limits.cpu: 'lots' does not match"],
    ),
    "isvc scaleMetric outside its enum": (
        "InferenceService",
        _set("gpu", *PREDICTOR, "scaleMetric"),
        ["spec.predictor.scaleMetric: 'gpu' is not one of"],
    ),
}


@pytest.mark.parametrize("case", sorted(NEGATIVE))
def test_negative_cases_fail_naming_the_problem(
    case: str, manifests: dict[str, Any], tmp_path: Path
) -> None:
    kind, change, expected = NEGATIVE[case]
    doc = manifests[kind]
    change(doc)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(doc))
    errors = k8s.validate_manifests([path])
    assert errors, case
    assert all(e.startswith(f"bad.yaml: {kind}/classifier: ") for e in errors)
    for text in expected:
        assert any(text in e for e in errors), (text, errors)


def test_unknown_keys_pass_only_without_strict(manifests: dict[str, Any]) -> None:
    dep, isvc = manifests["Deployment"], manifests["InferenceService"]
    dep["spec"]["template"]["spec"]["containers"][0]["imagePullPolcy"] = "Always"
    isvc["spec"]["predictor"]["minReplica"] = 1
    for doc, key in ((dep, "imagePullPolcy"), (isvc, "minReplica")):
        assert any(key in e for e in k8s.validate_manifest(doc, strict=True))
        assert k8s.validate_manifest(doc, strict=False) == []


def test_several_documents_and_names(manifests: dict[str, Any], tmp_path: Path) -> None:
    manifests["Service"]["metadata"]["name"] = "Not_A_Name"
    path = tmp_path / "all.yaml"
    path.write_text(yaml.safe_dump_all(list(manifests.values())))
    errors = k8s.validate_manifests([path])
    assert errors == [
        "all.yaml: Service/Not_A_Name: metadata.name: 'Not_A_Name' is not a valid "
        "name (a DNS-1035 label)"
    ]


def test_not_a_manifest_and_unknown_kind(tmp_path: Path) -> None:
    assert k8s.validate_manifest(["a list"]) != []
    errors = k8s.validate_manifest({"apiVersion": "example.com/v1", "kind": "Widget"})
    assert any("no schema for example.com/v1 Widget" in e for e in errors)
    broken = tmp_path / "broken.yaml"
    broken.write_text("kind: [unclosed\n")
    with pytest.raises(k8s.ManifestError, match="cannot read"):
        k8s.validate_manifests([broken])


@pytest.mark.parametrize(
    "change, text",
    [
        ({"name": "Bad_Name"}, "not a valid Kubernetes name"),
        ({"image": ""}, "image is required"),
        ({"replicas": "two"}, "replicas must be a non-negative integer"),
        ({"min_replicas": 5, "max_replicas": 2}, "min_replicas"),
        ({"resources": {"limit": {"cpu": "1"}}}, "resources.limit"),
    ],
)
def test_bad_specs_are_refused(change: dict[str, Any], text: str, tmp_path: Path) -> None:
    with pytest.raises(k8s.ManifestError, match=text):
        k8s.export_manifests({**SPEC, **change}, tmp_path)


def test_bundled_crd_schema_and_its_notes() -> None:
    schema = json.loads(ISVC_SCHEMA.read_text())
    assert set(schema["properties"]) >= {"apiVersion", "kind", "metadata", "spec", "status"}
    assert schema["properties"]["spec"]["required"] == ["predictor"]
    notes = (ISVC_SCHEMA.parent / "README.md").read_text()
    assert "Apache License 2.0" in notes and "0.20.0" in notes
    assert "Apache License" in (ISVC_SCHEMA.parent / "LICENSE-kserve").read_text()


def test_apply_without_the_client_says_which_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = k8s.export_manifests(SPEC, tmp_path)
    monkeypatch.setitem(sys.modules, "kubernetes", None)
    with pytest.raises(k8s.ManifestError, match="kubernetes client is not installed") as info:
        k8s.apply_manifests(paths, tmp_path / "kubeconfig")
    assert "jupyter-containerize[k8s]" in info.value.hint


def test_apply_refuses_invalid_manifests_before_connecting(
    manifests: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "kubernetes", None)
    manifests["Deployment"]["spec"]["replicas"] = "two"
    path = tmp_path / "deployment.yaml"
    path.write_text(yaml.safe_dump(manifests["Deployment"]))
    with pytest.raises(k8s.ManifestError, match="spec.replicas"):
        k8s.apply_manifests([path], tmp_path / "kubeconfig")


def _fake_kubernetes(calls: list[Any], missing: str = "") -> types.ModuleType:
    class Resources:
        def get(self, api_version: str, kind: str) -> tuple[str, str]:
            if kind == missing:
                raise LookupError(kind)
            return (api_version, kind)

    class DynamicClient:
        def __init__(self, api: Any) -> None:
            calls.append(("client", api))
            self.resources = Resources()

        def server_side_apply(self, resource: Any, **kwargs: Any) -> None:
            calls.append(("apply", resource, kwargs))

    module = types.ModuleType("kubernetes")
    module.config = types.SimpleNamespace(  # type: ignore[attr-defined]
        new_client_from_config=lambda config_file, context: ("api", config_file, context)
    )
    module.dynamic = types.SimpleNamespace(DynamicClient=DynamicClient)  # type: ignore[attr-defined]
    return module


def test_apply_server_side_applies_each_manifest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Any] = []
    monkeypatch.setitem(sys.modules, "kubernetes", _fake_kubernetes(calls))
    paths = k8s.export_manifests(SPEC, tmp_path)
    applied = k8s.apply_manifests(paths, tmp_path / "kc", namespace="models", context="dev")
    assert applied == [
        "Deployment/classifier",
        "Service/classifier",
        "HorizontalPodAutoscaler/classifier",
        "InferenceService/classifier",
    ]
    assert calls[0] == ("client", ("api", str(tmp_path / "kc"), "dev"))
    first = calls[1]
    assert first[1] == ("apps/v1", "Deployment")
    assert first[2]["namespace"] == "models"
    assert first[2]["field_manager"] == "jupyter-containerize"
    assert first[2]["body"]["kind"] == "Deployment"


def test_apply_without_kserve_in_the_cluster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Any] = []
    monkeypatch.setitem(sys.modules, "kubernetes", _fake_kubernetes(calls, "InferenceService"))
    paths = k8s.export_manifests(SPEC, tmp_path)
    with pytest.raises(k8s.ManifestError, match="does not serve serving.kserve.io") as info:
        k8s.apply_manifests(paths, tmp_path / "kc")
    assert "KServe" in info.value.hint
