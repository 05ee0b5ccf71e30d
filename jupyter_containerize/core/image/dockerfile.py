"""Render a readable Dockerfile + context (eject, and the classic builder's input).

Pure rendering from the lock; the classic path hands the same context to the engine.
"""

from __future__ import annotations

import io
import shutil
import tarfile
from pathlib import Path
from typing import Any

from ..attest.sbom import IMAGE_SBOM_PATH, SBOM_DIGEST_LABEL
from ..config import ContainerizeConfig, resolve
from ..engine import client as engine
from ..env import localproject
from ..env.lock import lock_path
from ..env.uv import ca_bundle, use_ca_bundle
from ..errors import BuildError
from ..models import BuildResult
from ..options import DEFAULT_PLATFORM
from . import imagefs, installer
from .plan import BuildPlan

HOST_CA = "/etc/ssl/certs/ca-certificates.crt"


def local_wheels(root: Path, lock: dict) -> dict[str, str]:
    """Wheels of the lock's local and editable projects (built out of the user's tree, kept
    under their source's digest); returns name -> wheel path."""
    return {name: str(w.path) for name, w in localproject.local_wheels(root, lock).items()}


def requirement_lines(lock: dict, wheels: dict[str, str], wheel_dir: str) -> list[str]:
    lines = []
    for pkg in lock.get("packages", []):
        if pkg["name"] in wheels:
            lines.append(f"{wheel_dir}/{Path(wheels[pkg['name']]).name}")
        else:
            lines.append(str(pkg["requirement"]))
    return lines


def render(
    python_path: str,
    base: str,
    has_ca: bool,
    labels: dict[str, str] | None = None,
    apt: list[str] | None = None,
    index: str | None = None,
    sbom: bool = False,
) -> str:
    """The Dockerfile: base, apt.txt, environments, then project files (last layer).

    ``index``: a package index with no password in it (see :func:`image_index`); ``sbom``:
    the context holds ``sbom.cdx.json``, copied to the image's SBOM path last."""
    env = imagefs.image_env("")
    cert = "PIP_CERT=/tmp/containerize/ca.crt " if has_ca else ""
    if index:
        cert += f"PIP_INDEX_URL={index} "
    lines = [f"FROM {base}", "USER root"]
    if apt:
        lines.append(apt_install(apt))
    lines += [
        "COPY containerize/ /tmp/containerize/",
        # the user's environment gets no pip of its own: pip runs from the tool environment
        f"RUN {python_path} -m venv --without-pip {imagefs.ENV} "
        f"&& {python_path} -m venv {imagefs.TOOL} \\",
        f" && {cert}{imagefs.TOOL}/bin/pip install --no-deps --no-cache-dir "
        "-r /tmp/containerize/tool-requirements.txt \\",
        f" && {cert}{imagefs.TOOL}/bin/pip --python {imagefs.ENV}/bin/python install --no-deps "
        "--no-cache-dir -r /tmp/containerize/requirements.txt \\",
        # then the tool environment holds papermill's pins only, as on the layers path (the
        # SBOM lists exactly what the environments hold)
        f" && {imagefs.TOOL}/bin/python -m pip uninstall -y -q pip setuptools \\",
        f" && mkdir -p {imagefs.TOOL}/share/jupyter/kernels/{imagefs.KERNEL_NAME} \\",
        f" && cp /tmp/containerize/kernel.json {imagefs.TOOL}/share/jupyter/kernels/"
        f"{imagefs.KERNEL_NAME}/ \\",
        f" && mkdir -p {imagefs.WORK} && chown 1000:1000 {imagefs.HOME} {imagefs.WORK} \\",
        " && rm -rf /tmp/containerize",
    ]
    lines += [f'ENV {k}="{v}"' for k, v in env.items() if k != "PATH"]
    lines.append(f'ENV PATH="{imagefs.ENV}/bin:$PATH"')
    for key, value in sorted((labels or {}).items()):
        lines.append(f"LABEL {key}={_quote(value)}")
    lines += [
        f"WORKDIR {imagefs.WORK}",
        f"COPY --chown=1000:1000 project/ {imagefs.WORK}/",
        *([f"COPY sbom.cdx.json {IMAGE_SBOM_PATH}"] if sbom else []),
        f"USER {imagefs.RUNNER_USER}",
        f'CMD ["{imagefs.ENV}/bin/python"]',
    ]
    return "\n".join(lines) + "\n"


def image_index(for_reading: bool) -> str | None:
    """The index pip uses inside the image: the configured one, never with a password in it.

    pip runs inside the image here, so a password would sit in the Dockerfile and the image's
    history: a build refuses (the layers path installs outside the image and keeps it there);
    an ejected Dockerfile, written for reading, names the index without it."""
    url = installer.index_url()
    if url is None or installer.bare_url(url) == url:
        return url
    if for_reading:
        return installer.bare_url(url)
    raise BuildError(
        f"the classic builder would put the password of {installer.shown_url(url)} into the "
        "image's history",
        hint="build with the default layers builder, which installs outside the image",
    )


def apt_install(packages: list[str]) -> str:
    """The RUN line that installs apt.txt's packages (here and in the apt base's Dockerfile)."""
    return (
        "RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y "
        "--no-install-recommends " + " ".join(sorted(packages)) + " && rm -rf /var/lib/apt/lists/*"
    )


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_context(dest: Path, plan_like: dict[str, Any]) -> None:
    """Files of the build context next to the Dockerfile."""
    c = dest / "containerize"
    (c / "wheels").mkdir(parents=True, exist_ok=True)
    for wheel in plan_like["wheels"].values():
        shutil.copy2(wheel, c / "wheels")
    (c / "requirements.txt").write_text("\n".join(plan_like["requirements"]) + "\n")
    (c / "tool-requirements.txt").write_text("\n".join(plan_like["tool"]) + "\n")
    spec = imagefs.meta_entries(plan_like["python_path"], "3")[-3].data or b"{}"
    (c / "kernel.json").write_bytes(spec)
    if plan_like.get("ca"):
        shutil.copy2(plan_like["ca"], c / "ca.crt")
    proj = dest / "project"
    proj.mkdir(exist_ok=True)
    for rel in plan_like["files"]:
        (proj / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(plan_like["root"] / rel, proj / rel)
    if plan_like.get("notebook_bytes") is not None:
        (proj / plan_like["notebook_rel"]).write_bytes(plan_like["notebook_bytes"])
    (dest / "Dockerfile").write_text(plan_like["dockerfile"])


def _context(
    plan: BuildPlan, dest: Path, labels: dict[str, str] | None, for_reading: bool = False,
    sbom: bytes | None = None,
) -> None:
    wheels = local_wheels(plan.root, plan.lock)
    ca = ca_bundle(HOST_CA)
    has_ca = Path(ca).is_file()
    write_context(
        dest,
        {
            "wheels": wheels,
            "requirements": requirement_lines(plan.lock, wheels, "/tmp/containerize/wheels"),
            "tool": plan.tool_pins,
            "python_path": plan.base.python_path,
            "ca": ca if has_ca else "",
            "files": plan.files.files,
            "root": plan.root,
            "notebook_rel": plan.notebook_rel,
            "notebook_bytes": plan.notebook_bytes,
            "dockerfile": render(
                plan.base.python_path, plan.base.reference, has_ca, labels,
                None if plan.apt_in_base else plan.apt, image_index(for_reading),
                sbom=sbom is not None,
            ),
        },
    )
    if sbom is not None:
        (dest / "sbom.cdx.json").write_bytes(sbom)


def eject(
    nb_path: Path, lock: dict, dest: Path, *, config: ContainerizeConfig | None = None
) -> Path:
    """`freeze --dockerfile DIR`: write the Dockerfile and its context for a user to read."""
    from ..progress import Reporter
    from .base.find import find_base

    cfg = resolve(config)
    installer.use_index(cfg.index_url)
    use_ca_bundle(cfg.ca_bundle)
    base = find_base(engine.client(), lock["python"]["version"], cfg.base_image or None)
    plan = BuildPlan(
        nb_path,
        None,
        lock,
        lock_path(nb_path),
        base,
        lock.get("platform") or cfg.platform or DEFAULT_PLATFORM,
        cfg,
        Reporter(None),
        False,
    )
    dest.mkdir(parents=True, exist_ok=True)
    _context(plan, dest, None, for_reading=True)
    return dest / "Dockerfile"


def classic(plan: BuildPlan, reference: str, author: str | None, result: BuildResult) -> None:
    """The Docker SDK's classic builder, from the rendered context."""
    import tempfile

    from . import sbomfile

    labels = plan.labels(author, "classic")
    with plan.rep.phase("sbom"):
        base_attrs = engine.require_image(plan.base.reference).attrs
        sbom = sbomfile.image_sbom(plan, sbomfile.base_dpkg_status(plan, base_attrs))
        result.sbom_digest = labels[SBOM_DIGEST_LABEL] = sbomfile.digest(sbom)
    with tempfile.TemporaryDirectory() as tmp:
        _context(plan, Path(tmp), None, sbom=sbom)
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            tar.add(tmp, arcname=".")
        buf.seek(0)
        with plan.rep.phase("classic build"):
            image = engine.classic_build(buf, reference, labels, plan.no_cache, plan.rep.log)
    result.image_id = image.id
