"""serve's options checked before anything starts (--host, --port, --skops-trust), the admin
token's file, the model hash the CLI computes without the runtime's libraries, and the
Kubernetes Deployment leaving its replica count to the autoscaler."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from jupyter_containerize.core.deploy import admintoken, k8s
from jupyter_containerize.core.deploy.serve import (
    model_sha256,
    valid_host,
    valid_port,
    valid_skops_types,
)
from jupyter_containerize.core.errors import ContainerizeError

CLI = Path(sys.executable).with_name("jupyter-containerize")


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CLI), *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def _one_line(proc: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("good,expected", [
    ("127.0.0.1", "127.0.0.1"), ("localhost", "127.0.0.1"), ("0.0.0.0", "0.0.0.0"),
])
def test_host_addresses_and_names_are_accepted(good: str, expected: str) -> None:
    assert valid_host(good) == expected


@pytest.mark.hostile
@pytest.mark.parametrize("bad,says", [
    ("999.1.1.1", "is not an IP address or a host name"),
    ("1.2.3", "is not an IP address or a host name"),
    ("bad host", "is not an IP address or a host name"),
    ("", "is not an IP address or a host name"),
    ("no-such-host.invalid", "does not resolve to an address"),
    ("10.255.255.1", "is not an address of this machine"),
])
def test_bad_host_is_one_line(bad: str, says: str) -> None:
    with pytest.raises(ContainerizeError) as err:
        valid_host(bad)
    assert says in str(err.value) and "--host localhost" in err.value.one_line()


@pytest.mark.hostile
@pytest.mark.parametrize("bad", ["0", "65536", "-1", "http", "80.5", True])
def test_bad_port_is_one_line(bad: object) -> None:
    with pytest.raises(ContainerizeError) as err:
        valid_port(bad)
    assert "is not a port number" in str(err.value) and "1-65535" in err.value.one_line()


def test_ports_in_range_are_accepted() -> None:
    assert [valid_port(p) for p in (None, "8080", 1, 65535)] == [None, 8080, 1, 65535]


@pytest.mark.hostile
@pytest.mark.parametrize("args,needle", [
    (["--host", "999.1.1.1"], "--host '999.1.1.1' is not an IP address or a host name"),
    (["--host", "10.255.255.1"], "--host 10.255.255.1 is not an address of this machine"),
    (["--port", "0"], "--port 0 is not a port number"),
    (["--port", "99999"], "--port 99999 is not a port number"),
    (["--port", "web"], "--port web is not a port number"),
    (["--skops-trust", "os.system; rm"], "is not a type name"),
])
def test_cli_refuses_bad_options_before_anything_starts(tmp_path: Path, args: list[str],
                                                        needle: str) -> None:
    """No engine is reached: the options fail first, in one line, with the fix."""
    model = tmp_path / "model.joblib"
    model.write_text("not a model\n")
    proc = _cli("serve", str(model), "--image", "never-built:1", *args,
                env={"JUPYTER_CONTAINERIZE_DATA_DIR": str(tmp_path / "data")})
    _one_line(proc, needle)
    assert proc.returncode == 1


def test_skops_types_are_dotted_names_kept_in_order() -> None:
    given = ["sklearn.tree._classes.DecisionTreeClassifier", "numpy.dtype",
             "numpy.dtype"]
    assert valid_skops_types(given) == given[:2]
    assert valid_skops_types(None) == []


@pytest.mark.hostile
@pytest.mark.parametrize("bad", ["", "RandomForest", "a..b", "x.y z", "__import__('os')"])
def test_bad_skops_type_is_refused(bad: str) -> None:
    with pytest.raises(ContainerizeError, match="is not a type name"):
        valid_skops_types([bad])


def test_admin_token_file_is_private_and_removed(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTER_CONTAINERIZE_DATA_DIR", str(tmp_path))
    token = admintoken.create("svc")
    path = admintoken.path("svc")
    assert path.read_text() == token and len(token) >= 40
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert admintoken.ensure("svc") == token  # later serves of the same name reuse it
    assert admintoken.create("svc") != token  # a fresh deployment gets a new one
    admintoken.remove("svc")
    assert admintoken.read("svc") is None and not path.parent.exists()


def test_model_hash_is_the_files_sha256(tmp_path: Path) -> None:
    """What the runtime reports for a model: a file's sha256, or a custom model folder's
    files in name order, each after its relative path."""
    import hashlib

    single = tmp_path / "model.joblib"
    data = os.urandom(3 << 20)
    single.write_bytes(data)
    assert model_sha256(single) == hashlib.sha256(data).hexdigest()
    folder = tmp_path / "custom"
    (folder / "sub").mkdir(parents=True)
    (folder / "predict.py").write_text("def load():\n    pass\n")
    (folder / "sub" / "weights.bin").write_bytes(b"\0" * 1000)
    expected = hashlib.sha256(b"predict.py\0def load():\n    pass\n"
                              + b"sub/weights.bin\0" + b"\0" * 1000).hexdigest()
    assert model_sha256(folder) == expected


def test_model_resolves_without_numpy(tmp_path: Path) -> None:
    """What a plain install does: core.serve resolves a model with numpy impossible to import."""
    model = tmp_path / "model.joblib"
    model.write_text("text\n")
    code = ("import sys; sys.modules['numpy'] = None; sys.modules['pandas'] = None; "
            "sys.modules['sklearn'] = None; "
            "from jupyter_containerize.core.deploy.serve import resolve_model; "
            "print(resolve_model(sys.argv[1]).flavor)")
    out = subprocess.run([sys.executable, "-c", code, str(model)], capture_output=True,
                         text=True, env={**os.environ,
                                         "JUPYTER_CONTAINERIZE_DATA_DIR": str(tmp_path / "d")})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "joblib"


SPEC: dict[str, Any] = {"name": "classifier", "image": "reg.example/classifier:serve-1",
                        "replicas": 3, "min_replicas": 2, "max_replicas": 6,
                        "skops_trusted": ["sklearn.tree._classes.DecisionTreeClassifier"]}


def test_deployment_leaves_replicas_to_the_autoscaler(tmp_path: Path) -> None:
    """With an autoscaler exported, an apply must not reset the count it chose."""
    found = {m["kind"]: m for m in k8s.build_manifests(SPEC)}
    assert "replicas" not in found["Deployment"]["spec"]
    hpa = found["HorizontalPodAutoscaler"]["spec"]
    assert hpa["scaleTargetRef"]["name"] == "classifier"
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 6)
    paths = k8s.export_manifests(SPEC, tmp_path / "auto")
    assert [p.name for p in paths] == ["deployment.yaml", "service.yaml", "hpa.yaml",
                                       "inferenceservice.yaml"]
    assert k8s.validate_manifests(paths, strict=True) == []
    # without an autoscaler the Deployment holds the count itself
    fixed = {m["kind"]: m for m in k8s.build_manifests({**SPEC, "autoscale": False})}
    assert "HorizontalPodAutoscaler" not in fixed
    assert fixed["Deployment"]["spec"]["replicas"] == 3
    paths = k8s.export_manifests({**SPEC, "autoscale": False}, tmp_path / "fixed")
    assert [p.name for p in paths] == ["deployment.yaml", "service.yaml",
                                       "inferenceservice.yaml"]
    assert k8s.validate_manifests(paths, strict=True) == []


def test_manifests_name_the_service_hosts_and_trusted_types() -> None:
    found = {m["kind"]: m for m in k8s.build_manifests({**SPEC, "namespace": "ml"})}
    for kind, containers in (
        ("Deployment", found["Deployment"]["spec"]["template"]["spec"]["containers"]),
        ("InferenceService", found["InferenceService"]["spec"]["predictor"]["containers"]),
    ):
        env = {e["name"]: e.get("value") for e in containers[0]["env"]}
        hosts = env["SERVING_ALLOWED_HOSTS"].split(",")
        assert {"classifier", "classifier.ml.svc.cluster.local",
                "classifier-predictor.ml.svc"} <= set(hosts), kind
        assert env["SERVING_SKOPS_TRUSTED"] == "sklearn.tree._classes.DecisionTreeClassifier"
        probe = containers[0]["readinessProbe"]["httpGet"]
        assert {"name": "Host", "value": "localhost"} in probe["httpHeaders"]


def test_deployment_environment_and_labels_carry_the_options() -> None:
    from jupyter_containerize.core.config import ContainerizeConfig
    from jupyter_containerize.core.deploy.pod import AUTH_LABEL, SKOPS_LABEL, DeploySpec
    from jupyter_containerize.core.deploy.serveimage import ModelSource, ServingImage
    from jupyter_containerize.core.progress import Reporter

    image = ServingImage("jc/x:serve-1", "e" * 64,
                         ModelSource(Path("m.skops"), "a" * 64, "skops"), True, "r")
    spec = DeploySpec(image=image, name="x", port=None, host="127.0.0.1", model_name="x",
                      token="t", helpers=[], cfg=ContainerizeConfig(), rep=Reporter(None),
                      skops_trust=["a.B", "c.D"], allowed_hosts=["jc-x"])
    env = spec.environment()
    assert env["SERVING_SKOPS_TRUSTED"] == "a.B,c.D" and env["SERVING_ALLOWED_HOSTS"] == "jc-x"
    assert "SERVING_ADMIN_TOKEN" not in env  # handed over by file or by its own variable
    labels = spec.container_labels(8080)
    assert labels[AUTH_LABEL] == "token" and labels[SKOPS_LABEL] == "a.B,c.D"
    assert "t" not in labels.values()  # the inference token itself is never a label


def test_untrusted_skops_types_hint_names_the_option() -> None:
    from jupyter_containerize.core.deploy.pod import load_hint

    line = ("boosted.skops holds types skops does not trust: sklearn.tree._tree.Tree, a.B; "
            "approve those you trust (SERVING_SKOPS_TRUSTED, comma separated) to load it")
    assert "--skops-trust sklearn.tree._tree.Tree --skops-trust a.B" in load_hint(line)
    assert "fix the model file" in load_hint("could not unpickle model.joblib")
