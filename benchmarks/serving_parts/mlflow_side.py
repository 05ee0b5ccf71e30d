"""The serving benchmark's baseline: MLflow's serving container, as MLflow documents it.

MLflow lives in a venv of its own (``benchmarks/.venv-mlflow``), never in the development
venv. ``mlflow models build-docker --env-manager local`` builds ``FROM python:<X.Y.Z>-slim``,
which cannot be pulled here: a stand-in is built from our bootstrapped Debian base with the
host's CA bundle, a venv on PATH and PIP_CERT, tagged with the exact name MLflow asks for
only while MLflow builds, then untagged.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from common import LABEL, Timed, run

HERE = Path(__file__).resolve().parent.parent
VENV = HERE / ".venv-mlflow"
PACKAGES = ["mlflow", "scikit-learn==1.7.2", "joblib==1.5.2"]
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
REPO = "jupyter-containerize-bench/mlflow-serving"
STANDIN_REPO = "jupyter-containerize-bench/python-standin"
BASE_PREFIX = "jupyter-containerize/base:bookworm-py3.11."
LABELS = [f"{LABEL}=serving", "io.jupyter-containerize.managed=true"]

_LOG_MODEL = """
import json, sys, joblib, mlflow, mlflow.sklearn
model = joblib.load(sys.argv[1])
mlflow.set_experiment("serving-benchmark")
with mlflow.start_run():
    info = mlflow.sklearn.log_model(
        model, name="model", skops_trusted_types=["sklearn.tree._tree.Tree"]
    )
print(json.dumps({"uri": info.model_uri}))
"""

_STANDIN = """FROM {base}
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
RUN python3 -m venv /opt/python && /opt/python/bin/python -m pip --version
ENV PATH=/opt/python/bin:$PATH PIP_CERT=/etc/ssl/certs/ca-certificates.crt
"""


def python() -> Path:
    return VENV / "bin" / "python"


def ensure_venv(log: list[str]) -> float:
    """Create the MLflow venv when absent; seconds spent (0 when it was there)."""
    if python().exists() and run([str(python()), "-c", "import mlflow"]).returncode == 0:
        return 0.0
    made = run(["python3.11", "-m", "venv", str(VENV)]).check()
    installed = run([str(python()), "-m", "pip", "install", "-q", *PACKAGES], timeout=1800)
    installed.check()
    log.append(f"MLflow venv created in {made.seconds + installed.seconds:.0f} s")
    return made.seconds + installed.seconds


def versions() -> dict[str, str]:
    code = (
        "import json, platform, mlflow, sklearn; print(json.dumps({'python': "
        "platform.python_version(), 'mlflow': mlflow.__version__, "
        "'scikit-learn': sklearn.__version__}))"
    )
    return json.loads(run([str(python()), "-c", code]).check().stdout)


def _image_exists(ref: str) -> bool:
    return run(["docker", "image", "inspect", ref]).returncode == 0


def _base() -> str:
    out = run(["docker", "images", "--format", "{{.Repository}}:{{.Tag}}"]).check().stdout
    bases = sorted(line for line in out.split() if line.startswith(BASE_PREFIX))
    if not bases:
        raise RuntimeError(
            "no jupyter-containerize/base:bookworm-py3.11.* image for MLflow's stand-in "
            "(make one with `jupyter containerize base --bootstrap`)"
        )
    return bases[-1]


def _labels() -> list[str]:
    return [arg for label in LABELS for arg in ("--label", label)]


def build_standin(py_version: str, work: Path) -> str:
    """The stand-in for python:<py_version>-slim, under a name of ours; returns that name."""
    ref = f"{STANDIN_REPO}:{py_version}"
    if _image_exists(ref):
        return ref
    ctx = work / "standin"
    ctx.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(CA_BUNDLE, ctx / "ca-certificates.crt")
    (ctx / "Dockerfile").write_text(_STANDIN.format(base=_base()))
    run(["docker", "build", "-q", "-t", ref, *_labels(), str(ctx)], timeout=900).check()
    return ref


def log_model(model: Path, work: Path) -> str:
    """Log the benchmark's model with MLflow (SQLite tracking store); its models:/ URI."""
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}"}
    out = run([str(python()), "-c", _LOG_MODEL, str(model)], env=env, cwd=work, timeout=600)
    return str(json.loads(out.check().stdout.strip().splitlines()[-1])["uri"])


def _relabel(source: str, target: str) -> None:
    """``target`` = ``source`` plus our labels (metadata only, no new layer)."""
    with tempfile.TemporaryDirectory() as ctx:
        Path(ctx, "Dockerfile").write_text(f"FROM {source}\n")
        run(["docker", "build", "-q", "-t", target, *_labels(), ctx]).check()


def image(
    model: Path, model_sha: str, work: Path, reuse: bool, log: list[str]
) -> dict[str, object]:
    """The MLflow serving image of ``model``: built (timed) or, with ``reuse``, a cached one."""
    v = versions()
    ref = f"{REPO}:{model_sha[:12]}-mlflow{v['mlflow']}"
    if reuse and _image_exists(ref):
        log.append(f"MLflow image reused: {ref}")
        return {"ref": ref, "build_seconds": None, "cached": True, **v}
    work.mkdir(parents=True, exist_ok=True)
    standin = build_standin(v["python"], work)
    official = f"python:{v['python']}-slim"
    if _image_exists(official) and not _is_ours(official):
        raise RuntimeError(f"{official} exists and is not our stand-in: refusing to retag it")
    uri = log_model(model, work)
    run(["docker", "tag", standin, official]).check()
    temp = f"{REPO}:building"
    try:
        built = _build_docker(uri, temp, work)
    finally:
        run(["docker", "rmi", official])  # untag: nothing may mistake it for the real one
    _relabel(temp, ref)
    run(["docker", "rmi", temp])
    log.append(f"MLflow image built in {built.seconds:.0f} s (build-docker --env-manager local)")
    return {"ref": ref, "build_seconds": built.seconds, "cached": False, **v}


def _is_ours(ref: str) -> bool:
    out = run(["docker", "image", "inspect", "--format", "{{json .Config.Labels}}", ref])
    return out.returncode == 0 and LABEL in out.stdout


def _build_docker(uri: str, tag: str, work: Path) -> Timed:
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}"}
    mlflow = str(VENV / "bin" / "mlflow")
    args = [mlflow, "models", "build-docker", "-m", uri, "-n", tag, "--env-manager", "local"]
    done = run(args, env=env, cwd=work, timeout=3600)
    (work / "build-docker.log").write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        raise RuntimeError(f"mlflow models build-docker failed: see {work / 'build-docker.log'}")
    return done
