"""serve: the serving image for a model (``serveimage``), then a deployment.

MODEL is a file (a run's artifact or any path) or a directory with predict.py; the
environment is the notebook's (built, or reused, with ``build``) or ``--image``. A deployment
is a local container (``deploy``) or, with ``--replicas``, a Docker Swarm service (``swarm``).
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import labels as labels_mod
from ..config import ContainerizeConfig, resolve
from ..engine import client as engine
from ..env.uv import use_ca_bundle
from ..errors import ContainerizeError, NotFoundError
from ..image import installer
from ..options import DEFAULT_PLATFORM
from ..progress import Reporter
from ..share.signing import verify_image
from .options import allowed_hosts, valid_host, valid_name, valid_port, valid_skops_types
from .result import ServeResult
from .serveimage import PORT, ModelSource, ServingImage, helper_files, serving_image


def model_sha256(path: Path) -> str:
    """What the serving runtime reports as the model's sha256 (computed without numpy)."""
    from ...serving.detect import file_sha256

    return file_sha256(path)


def default_name(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:63] or "model"


def _flavor(path: Path) -> str:
    from ...serving.detect import detect_flavor
    from ...serving.errors import ModelLoadError

    try:
        return detect_flavor(path)
    except ModelLoadError as exc:
        found = re.search(r"is an? (XGBoost|LightGBM) model but", str(exc))
        if found:  # the host lacks the library; the image may well have it
            return found.group(1).lower()
        raise ContainerizeError(
            f"cannot serve {path.name}: {exc}",
            hint="save the model with joblib/pickle/cloudpickle/skops/onnx, or give a "
            "directory with predict.py defining load() and predict()",
        ) from exc


def resolve_model(model: str | Path | None) -> ModelSource:
    """The model file (or predict.py directory), its sha256, flavor and source run."""
    if model is None:
        raise ContainerizeError(
            "no model given", hint="pass the model file, e.g. a run's artifact model.joblib"
        )
    if str(model).startswith(RUN_PREFIX):
        model = run_artifact(str(model))
    path = Path(model).expanduser().resolve()
    if not path.exists():
        raise NotFoundError(
            f"no model file at {model}",
            hint="give the path of a model file (a run's artifact, see `jupyter containerize "
            "runs`) or a directory with predict.py",
        )
    if path.is_dir() and not (path / "predict.py").is_file():
        from ...serving.detect import resolve_model_path
        from ...serving.errors import ModelLoadError

        try:
            path = resolve_model_path(str(path))
        except ModelLoadError as exc:
            raise ContainerizeError(
                f"cannot serve {model}: {exc}",
                hint="give a model file, or a directory with predict.py",
            ) from exc
    sha = model_sha256(path)
    run_id, notebook = _source_run(sha)
    return ModelSource(path, sha, _flavor(path), run_id, notebook)


RUN_PREFIX = "run:"


def run_artifact(ref: str) -> Path:
    """``run:ID`` (the run's one model file) or ``run:ID/PATH`` (one of its artifacts): the
    artifact's path, from the run's record in the job store."""
    from ..jobs.store import JobStore

    run_id, _, rel = ref[len(RUN_PREFIX):].partition("/")
    job = JobStore().get(run_id)  # an unknown id: one line that says how to list them
    record = job.result or {}
    folder = record.get("artifacts_dir")
    if job.kind != "run" or job.status != "succeeded" or not folder:
        raise NotFoundError(f"run {run_id} has no artifacts to serve ({job.kind}, {job.status})",
                            hint="serve an artifact of a succeeded run; `jupyter containerize "
                                 "runs` lists them")
    paths = [str(a.get("path", "")) for a in record.get("artifacts") or []]
    if rel:
        wanted = [p for p in paths if p == rel or p.endswith("/" + rel)]
        if not wanted:
            raise NotFoundError(f"run {run_id} wrote no artifact {rel}",
                                hint="it wrote: " + (", ".join(paths[:8]) or "nothing"))
        return Path(folder) / wanted[0]
    return Path(folder)  # the one model file in it is found like in any folder


def _source_run(sha: str) -> tuple[str, str]:
    """The run that wrote a file with this sha256, if the store has one."""
    try:
        from ..jobs.store import JobStore

        for job in JobStore().list(kind="run", limit=500):
            for art in (job.result or {}).get("artifacts") or []:
                if art.get("sha256") == sha:
                    return job.id, job.notebook or (job.result or {}).get("notebook", "")
    except Exception:  # a store that cannot be read only loses the label
        return "", ""
    return "", ""


def environment_image(
    notebook: str | Path | None, image: str | None, python: str | None, base: str | None,
    lock: str, rep: Reporter, progress: Callable[[Any], None] | None,
    config: ContainerizeConfig | None = None,
) -> tuple[str, str]:
    """(environment image reference, stem for naming) from --image or the notebook's build."""
    if image:
        if engine.get_image(image) is None:
            raise NotFoundError(
                f"image {image} is not in the engine", hint="build or pull it first"
            )
        verify_image(image, config=config)  # under require_signed: trusted signature or refused
        repo = image.split("@")[0].rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
        return image, repo.rsplit("/", 1)[-1]
    if notebook is None:
        raise ContainerizeError(
            "no environment to serve the model in",
            hint="pass --notebook NOTEBOOK (its kernel's environment is built) or --image REF",
        )
    from ..image import build

    res = build.build(notebook, python=python, base=base, lock=lock, progress=progress,
                      config=config)
    stem = Path(notebook).stem
    env_ref = f"{labels_mod.repository_name(stem)}:env-{res.env_hash[:12]}"
    if engine.get_image(env_ref) is None:
        env_ref = res.reference
    return env_ref, stem


def serve(
    model: str | Path | None = None, *, notebook: str | Path | None = None,
    image: str | None = None, name: str | None = None, port: int | None = None,
    host: str = "127.0.0.1", model_name: str | None = None, token: str | None = None,
    replicas: int | None = None, check: bool = False, export: str | Path | None = None,
    python: str | None = None, base: str | None = None, lock: str = "full",
    platform: str = DEFAULT_PLATFORM, progress: Callable[[Any], None] | None = None,
    config: ContainerizeConfig | None = None, skops_trust: list[str] | None = None,
) -> ServeResult:
    """Build (or reuse) the serving image for ``model`` and deploy it; returns the Deployment."""
    from . import local as deploy

    if name is not None:
        valid_name(name)
    port = valid_port(port)
    trusted = valid_skops_types(skops_trust)
    cfg = resolve(config)
    installer.use_index(cfg.index_url)
    use_ca_bundle(cfg.ca_bundle)
    rep = Reporter(progress)
    host = valid_host(host, local=not engine.is_remote())
    if replicas is not None:
        from ..engine.containers import podman_version
        from ..engine.podman import refuse_replicas

        refuse_replicas(podman_version())
    src = resolve_model(model)
    notebook = notebook or (src.notebook if (src.notebook and not image) else None)
    if port is not None and name and replicas is None:
        deploy.check_port(name, host, port)
    env_ref, stem = environment_image(notebook, image, python, base, lock, rep, progress,
                                      cfg)
    name = name or default_name(stem if notebook else src.path.stem)
    valid_name(name)
    helpers = helper_files(Path(notebook).resolve().parent if notebook else None)
    definitions = notebook_definitions(src, Path(notebook), rep) if notebook else None
    with rep.phase("serving image"):
        img = serving_image(
            env_ref, src, stem=stem, helpers=helpers, platform=platform, rep=rep, cfg=cfg,
            definitions=definitions,
        )
    rep.log(img.reference)
    if export:
        _export(img, name, model_name or name, replicas, export, rep, trusted)
    spec = deploy.DeploySpec(
        image=img, name=name, port=port, host=host, model_name=model_name or name, token=token,
        helpers=helpers, cfg=cfg, rep=rep, skops_trust=trusted, allowed_hosts=allowed_hosts(host),
    )
    if replicas is not None:
        from . import swarm

        spec.allowed_hosts = allowed_hosts(host, deploy.container_name(name))
        result = swarm.deploy_service(spec, replicas)
    else:
        result = deploy.deploy_local(spec)
    result.environment = env_ref
    if check:
        from .conformance import conformance

        result.checks = conformance(result, token, rep)
    result.timings = dict(rep.timings)
    return result


def notebook_definitions(src: ModelSource, notebook: Path, rep: Reporter) -> str | None:
    """The text of ``<model>.main.py``, taken from the notebook's cells, when a plainly
    pickled model names classes or functions the notebook defined (``__main__``) and no such
    file was written beside it; None when the model needs nothing of the notebook."""
    from ...serving.unpickle import main_source_for
    from . import notebookdefs

    if src.path.is_dir() or src.flavor not in ("joblib", "pickle") or main_source_for(src.path):
        return None
    names = notebookdefs.main_names(src.path)
    if names == set():
        return None
    taken = notebookdefs.take(notebook, names)
    if names is not None and taken.missing:
        raise ContainerizeError(
            f"{src.path.name} needs {', '.join(taken.missing)} from the notebook's session, "
            f"and no cell of {notebook.name} defines it",
            hint="define it in a cell (or a module beside the notebook) and save the model "
            "again, or save the live object with save_live_object",
        )
    if not taken.names:
        return None
    rep.log(f"took cells {', '.join(map(str, taken.cells))} of {notebook.name} "
            f"({', '.join(taken.names)}) so {src.path.name} can be unpickled")
    return taken.source


def _export(img: ServingImage, name: str, model_name: str, replicas: int | None,
            folder: str | Path, rep: Reporter, trusted: list[str]) -> None:
    from .k8s import export_manifests

    spec = {"name": name, "image": img.reference, "model_name": model_name, "port": PORT,
            # the autoscaler owns the count; --replicas N is the least it keeps
            "replicas": replicas or 1, "min_replicas": replicas or 1,
            "model_sha256": img.model.sha256,
            "flavor": img.model.flavor, "skops_trusted": trusted}
    written = export_manifests(spec, Path(folder))
    rep.log(f"manifests written: {written}")


def serve_object(
    obj: Any, notebook: str | Path | None = None, *, name: str, **options: Any
) -> ServeResult:
    """Serve a live object: pickled by value (classes from ``__main__`` and the notebook's
    helper modules travel inside the file), then :func:`serve`."""
    from ...serving.export import save_live_object
    from ..paths import data_dir

    valid_name(name)
    folder = data_dir() / "objects" / name
    folder.mkdir(parents=True, exist_ok=True)
    nb_dir = Path(notebook).resolve().parent if notebook else None
    try:
        path = save_live_object(obj, folder / "model.cloudpickle", notebook_dir=nb_dir)
    except RuntimeError as exc:  # cloudpickle missing in the kernel
        raise ContainerizeError(
            f"cannot save {name} by value: {exc}",
            hint="`%pip install cloudpickle` in the kernel, or save the model to a file "
            "and serve the file",
        ) from exc
    except (TypeError, AttributeError, pickle.PicklingError) as exc:  # a lock, a socket, ...
        raise ContainerizeError(
            f"cannot save {name} by value: {exc}",
            hint="serve an object without open handles (locks, files, connections), or save "
            "the model to a file and serve the file",
        ) from exc
    return serve(path, notebook=notebook, name=name, **options)
