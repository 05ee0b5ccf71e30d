"""The serving image: the environment image plus a runtime layer and a model layer.

- the runtime layer: the serving runtime's dependencies installed into a directory of their
  own (``/opt/containerize/serving``), appended to ``sys.path`` by a ``.pth`` file in the
  user's site-packages, so where the user pins one of them the user's version wins; our
  serving package's source beside them (the entrypoint puts it first, so a copy of this
  project installed in the user's environment never shadows it); an entrypoint that answers
  SageMaker's ``serve`` and runs any other command as it is;
- the model layer: the model under ``/opt/ml/model`` and the notebook folder's helper modules
  under ``/opt/ml/code``, so pickles that refer to them load.

Layers are made and loaded as the build's layers path makes them (``layers``, ``engine``);
the tag is content-addressed (environment hash, model sha256, runtime version, helpers), so
an existing image is reused without a build.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import labels as labels_mod
from ..config import ContainerizeConfig
from ..engine import client as engine
from ..engine import imagestore
from ..errors import BuildError
from ..image import imagefs, installer, layers
from ..progress import Reporter

SERVING_DIR = "/opt/containerize/serving"
SOURCE_DIR = SERVING_DIR + "/src"
ENTRYPOINT = SERVING_DIR + "/bin/entrypoint"
MODEL_DIR = "/opt/ml/model"
CODE_DIR = "/opt/ml/code"
PORT = 8080
LAYOUT_VERSION = "2"  # 2: runtime layers cached per Python minor (1 reused one stale layer)
ROLE_SERVING = "serving"
DEPLOYMENT = labels_mod.PREFIX + "deployment"
MODEL_NAME = labels_mod.PREFIX + "model.name"
NOISE = {"__pycache__", ".ipynb_checkpoints", ".git", ".venv", "venv", "node_modules"}

_ENTRYPOINT_SCRIPT = f"""#!/bin/sh
# SageMaker runs `IMAGE serve`; anything else runs as a command in the environment.
if [ "$#" -eq 0 ] || [ "$1" = serve ]; then
  export PYTHONPATH="{SOURCE_DIR}:{CODE_DIR}${{PYTHONPATH:+:$PYTHONPATH}}"
  exec {imagefs.ENV}/bin/python -m jupyter_containerize.serving serve
fi
exec "$@"
"""
_INIT = b'"""Only the serving runtime of jupyter-containerize is in this image."""\n'
_HEALTH = f"import urllib.request as u; u.urlopen('http://127.0.0.1:{PORT}/ping', timeout=3)"


@dataclass
class ModelSource:
    path: Path
    sha256: str
    flavor: str
    source_run: str = ""
    notebook: str = ""


def runtime_requirements(minor: str) -> dict[str, str]:
    """RUNTIME_REQUIREMENTS for this Python minor, as installer keys -> pins."""
    from packaging.requirements import Requirement

    from ...serving import RUNTIME_REQUIREMENTS

    out = {}
    for line in RUNTIME_REQUIREMENTS:
        req = Requirement(line)
        if req.marker and not req.marker.evaluate({"python_version": minor}):
            continue
        version = next(iter(req.specifier)).version
        pin = f"{req.name}=={version}"
        out[installer.dist_key(req.name, version, pin)] = pin
    return out


def _serving_sources() -> list[Path]:
    folder = Path(__file__).resolve().parents[2] / "serving"
    return sorted(folder.glob("*.py"))


def runtime_version(minor: str) -> str:
    digest = hashlib.sha256(LAYOUT_VERSION.encode())
    digest.update(json.dumps(sorted(runtime_requirements(minor).values())).encode())
    for src in _serving_sources():
        digest.update(src.name.encode() + b"\0" + src.read_bytes())
    return digest.hexdigest()


def _runtime_entries(folders: dict[str, Path], minor: str) -> list[layers.Entry]:
    entries = [
        e for key in sorted(folders) for e in imagefs.dist_entries(folders[key], SERVING_DIR)
    ]
    src = SOURCE_DIR.strip("/") + "/jupyter_containerize"
    entries.append(layers.Entry(f"{src}/__init__.py", data=_INIT))
    for path in _serving_sources():
        entries.append(layers.Entry(f"{src}/serving/{path.name}", source=path))
    pth = "\n".join([imagefs.site(SERVING_DIR, minor), SOURCE_DIR, CODE_DIR]) + "\n"
    site = imagefs.site(imagefs.ENV, minor).strip("/")
    entries.append(layers.Entry(f"{site}/zz-jupyter-containerize-serving.pth", data=pth.encode()))
    entries.append(
        layers.Entry(ENTRYPOINT.strip("/"), data=_ENTRYPOINT_SCRIPT.encode(), mode=0o755)
    )
    return entries


def runtime_layer(minor: str, platform: str, rep: Reporter) -> tuple[layers.Layer, str]:
    """The runtime layer (cached by its inputs) and the runtime version it carries."""
    from ..image.assemble import _cached_layer
    from ..paths import cache_dir

    version = runtime_version(minor)
    with rep.phase("runtime"):
        folders = installer.ensure(
            runtime_requirements(minor),
            minor,
            platform,
            installer.compile_python_for(minor, None),
            log=rep.log,
        )
        work = cache_dir() / "layers"
        work.mkdir(parents=True, exist_ok=True)
        layer = _cached_layer(  # no dot in the stem: its suffix is replaced by .tar/.json
            work / f"serving-{minor.replace('.', '_')}-{version[:24]}",
            lambda out: layers.write_layer(_runtime_entries(folders, minor), out, 0),
            "serving runtime",
        )
    return layer, version


def helper_files(folder: Path | None) -> list[tuple[str, Path]]:
    """The notebook folder's Python modules and packages (relative path, file)."""
    if folder is None or not folder.is_dir():
        return []
    found = [(p.name, p) for p in sorted(folder.glob("*.py")) if p.is_file()]
    for pkg in sorted(folder.iterdir()):
        if pkg.name in NOISE or not (pkg / "__init__.py").is_file():
            continue
        for p in sorted(pkg.rglob("*.py")):
            rel = p.relative_to(folder)
            if not NOISE & set(rel.parts):
                found.append((rel.as_posix(), p))
    return found


def model_entries(src: ModelSource, helpers: list[tuple[str, Path]],
                  definitions: str | None = None) -> list[layers.Entry]:
    model_dir = MODEL_DIR.strip("/")
    entries = [layers.Entry(model_dir, kind="dir", mode=0o755)]
    if src.path.is_dir():
        for p in sorted(src.path.rglob("*")):
            rel = p.relative_to(src.path)
            if p.is_file() and not NOISE & set(rel.parts):
                entries.append(layers.Entry(f"{model_dir}/{rel.as_posix()}", source=p))
    else:
        entries.append(layers.Entry(f"{model_dir}/{src.path.name}", source=src.path))
        from ...serving.unpickle import main_source_for

        main = main_source_for(src.path)
        if main is not None:
            entries.append(layers.Entry(f"{model_dir}/{main.name}", source=main))
        elif definitions:
            entries.append(layers.Entry(f"{model_dir}/{src.path.stem}.main.py",
                                        data=definitions.encode()))
    code = CODE_DIR.strip("/")
    entries.append(layers.Entry(code, kind="dir", mode=0o755))
    entries += [layers.Entry(f"{code}/{rel}", source=p) for rel, p in helpers]
    return entries


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


@dataclass
class ServingImage:
    reference: str
    env_hash: str
    model: ModelSource
    cached: bool
    runtime: str


def serving_image(
    env_ref: str,
    src: ModelSource,
    *,
    stem: str,
    helpers: list[tuple[str, Path]],
    platform: str,
    rep: Reporter,
    cfg: ContainerizeConfig,
    definitions: str | None = None,
) -> ServingImage:
    """Environment image + runtime layer + model layer; reused when it already exists.
    ``definitions``: the text of ``<model>.main.py`` taken from the notebook's cells."""
    env_img = engine.require_image(env_ref)
    env_attrs = env_img.attrs
    env_labels = env_img.labels or {}
    env_hash = env_labels.get(labels_mod.ENV_HASH) or env_img.id
    minor = _image_minor(env_labels, env_ref)
    rt_version = runtime_version(minor)
    helper_digest = _digest(
        [(rel, hashlib.sha256(p.read_bytes()).hexdigest()) for rel, p in helpers]
    )
    key = _digest(
        {"env": env_hash, "model": src.sha256, "runtime": rt_version, "helpers": helper_digest,
         "file": src.path.name,
         **({"definitions": hashlib.sha256(definitions.encode()).hexdigest()}
            if definitions else {})}
    )
    reference = f"{labels_mod.repository_name(stem)}:serve-{key[:12]}"
    if engine.get_image(reference) is not None:
        rep.log(f"reusing {reference}")
        return ServingImage(reference, env_hash, src, True, rt_version)
    runtime, _ = runtime_layer(minor, platform, rep)
    with rep.phase("model layer"), tempfile.TemporaryDirectory() as tmp:
        model = layers.write_layer(
            model_entries(src, helpers, definitions), Path(tmp) / "model.tar", 0
        )
        model.comment = f"model {src.path.name}"
        config = _config(env_attrs, env_labels, [runtime, model], env_hash, key, src, stem, cfg)
        with rep.phase("load"):
            _load(env_ref, layers.ImageSpec(reference, [runtime, model], config), Path(tmp))
    return ServingImage(reference, env_hash, src, False, rt_version)


def _image_minor(env_labels: dict[str, str], env_ref: str) -> str:
    version = env_labels.get(labels_mod.PYTHON) or ""
    if not version:
        code = "import sys; print('.'.join(map(str, sys.version_info[:2])))"
        status, out = engine.run_once(env_ref, [f"{imagefs.ENV}/bin/python", "-c", code])
        if status != 0:
            raise BuildError(
                f"{env_ref} has no Python at {imagefs.ENV}/bin/python",
                hint="serve from an image this project built (`jupyter containerize build`)",
            )
        version = out.strip().splitlines()[-1]
    return ".".join(version.split(".")[:2])


def _config(
    env_attrs: dict[str, Any], env_labels: dict[str, str], new: list[layers.Layer],
    env_hash: str, key: str, src: ModelSource, stem: str, cfg: ContainerizeConfig,
) -> dict[str, Any]:
    created = env_labels.get(labels_mod.OCI_CREATED) or datetime.now(timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    lab = {k: v for k, v in env_labels.items() if not k.startswith(labels_mod.NOTEBOOK)}
    lab.update({
        labels_mod.MANAGED: "true", labels_mod.ROLE: ROLE_SERVING, labels_mod.ENV_HASH: env_hash,
        labels_mod.MODEL_SHA256: src.sha256, labels_mod.MODEL_FLAVOR: src.flavor,
        labels_mod.OCI_TITLE: stem, labels_mod.OCI_CREATED: created,
        labels_mod.OCI_VERSION: key[:12],
    })
    if src.source_run:
        lab[labels_mod.SOURCE_RUN] = src.source_run
    lab.update(cfg.extra_labels)
    config = layers.image_config(
        env_attrs, new, env={"SERVING_PORT": str(PORT)}, user=imagefs.RUNNER_USER,
        workdir=CODE_DIR, labels=lab, cmd=["serve"], created=created,
    )
    config["config"]["Entrypoint"] = [ENTRYPOINT]
    config["config"]["ExposedPorts"] = {f"{PORT}/tcp": {}}
    config["config"]["Healthcheck"] = {
        "Test": ["CMD", f"{imagefs.ENV}/bin/python", "-c", _HEALTH],
        "Interval": 10 * 10**9, "Timeout": 5 * 10**9, "Retries": 3, "StartPeriod": 60 * 10**9,
    }
    return config


def _load(env_ref: str, spec: layers.ImageSpec, tmp: Path) -> None:
    imagestore.load([spec], env_ref, tmp, lambda _line: None)
