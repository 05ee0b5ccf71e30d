"""The image's file-system layout and the layers that carry it."""

from __future__ import annotations

import json
from pathlib import Path

from .layers import USER, Entry, tree_entries

ENV = "/opt/env"
TOOL = "/opt/containerize/tool"
HOME = "/home/jovyan"
WORK = HOME + "/work"
KERNEL_NAME = "python3"
RUNNER_USER = "1000:1000"

# papermill lives in a tool environment of its own, never among the user's pins.
TOOL_REQUIREMENTS = ["papermill==2.7.0"]


def site(prefix: str, minor: str) -> str:
    return f"{prefix}/lib/python{minor}/site-packages"


def venv_entries(prefix: str, python_path: str, version: str) -> list[Entry]:
    """A virtual environment's skeleton whose interpreter is the base image's."""
    minor = ".".join(version.split(".")[:2])
    cfg = (
        f"home = {str(Path(python_path).parent)}\ninclude-system-site-packages = false\n"
        f"version = {version}\n"
    )
    p = prefix.strip("/")
    return [
        Entry(f"{p}/pyvenv.cfg", data=cfg.encode()),
        Entry(f"{p}/bin/python", kind="symlink", target=python_path, mode=0o777),
        Entry(f"{p}/bin/python3", kind="symlink", target="python", mode=0o777),
        Entry(f"{p}/bin/python{minor}", kind="symlink", target="python", mode=0o777),
        Entry(f"{p}/lib/python{minor}/site-packages", kind="dir", mode=0o755),
        Entry(f"{p}/lib64", kind="symlink", target="lib", mode=0o777),
    ]


def meta_entries(python_path: str, version: str) -> list[Entry]:
    """Both environments' skeletons, the kernelspec papermill starts, the user's home."""
    spec = {
        "argv": [f"{ENV}/bin/python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (image environment)",
        "language": "python",
    }
    kernel = f"{TOOL.strip('/')}/share/jupyter/kernels/{KERNEL_NAME}/kernel.json"
    return [
        *venv_entries(ENV, python_path, version),
        *venv_entries(TOOL, python_path, version),
        Entry(kernel, data=json.dumps(spec, indent=1, sort_keys=True).encode()),
        Entry(HOME.strip("/"), kind="dir", mode=0o755, owner=USER),
        Entry(WORK.strip("/"), kind="dir", mode=0o755, owner=USER),
    ]


def dist_entries(folder: Path, prefix: str) -> list[Entry]:
    """One installed distribution's files under an environment prefix, scripts re-pointed."""
    shebang = f"#!{prefix}/bin/python\n".encode()

    def rewrite(rel: str, path: Path) -> bytes | None:
        if not rel.startswith("bin/"):
            return None
        with open(path, "rb") as fh:
            head = fh.read(2)
            if head != b"#!":
                return None
            data = head + fh.read()
        first, _, rest = data.partition(b"\n")
        return shebang + rest if b"python" in first else None

    entries = tree_entries(folder, prefix.strip("/"), rewrite=rewrite)
    return _records_match(entries, prefix.strip("/"))


def _records_match(entries: list[Entry], prefix: str) -> list[Entry]:
    """Scripts whose ``#!`` line was re-pointed get their RECORD lines' hash and size again,
    so a layer holds no trace of the host's interpreter path (and is the same on any host)."""
    import base64
    import hashlib

    changed = {}
    for e in entries:
        rel = e.name[len(prefix) + 1:]
        if e.data is not None and rel.startswith("bin/"):
            digest = base64.urlsafe_b64encode(hashlib.sha256(e.data).digest()).rstrip(b"=")
            changed[rel] = f"{rel},sha256={digest.decode()},{len(e.data)}"
    if not changed:
        return entries
    for e in entries:
        if e.name.endswith(".dist-info/RECORD") and e.source is not None:
            lines = e.source.read_text().splitlines()
            out = [changed.get(ln.split(",", 1)[0], ln) for ln in lines]
            e.data = ("\n".join(out) + "\n").encode()
    return entries


def project_entries(
    root: Path, files: list[str], notebook_rel: str, notebook_bytes: bytes | None
) -> list[Entry]:
    """The project files under the working directory, owned by the user."""
    entries = []
    for rel in files:
        src = root / rel
        data = notebook_bytes if (rel == notebook_rel and notebook_bytes is not None) else None
        mode = 0o755 if src.stat().st_mode & 0o100 else 0o644
        entries.append(
            Entry(f"{WORK.strip('/')}/{rel}", source=src, data=data, mode=mode, owner=USER)
        )
    return entries


def image_env(minor: str) -> dict[str, str]:
    return {
        "PATH": f"{ENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "VIRTUAL_ENV": ENV,
        "HOME": HOME,
        "JUPYTER_PATH": f"{TOOL}/share/jupyter",
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
    }


def top_level_modules(folder: Path, minor: str) -> list[str]:
    """Importable top-level names a distribution folder provides (for the smoke test)."""
    root = folder / f"lib/python{minor}/site-packages"
    names = set()
    for child in root.iterdir() if root.is_dir() else []:
        n = child.name
        if n.endswith((".dist-info", ".data", ".pth")) or n.startswith(("_", ".")):
            continue
        if n in ("tests", "test", "bin", "share", "include") or "-" in n:
            continue
        if child.is_dir() and (child / "__init__.py").exists():
            names.add(n)
        elif child.suffix in (".py",) or (child.suffix == ".so" and "." in child.stem):
            names.add(n.split(".")[0])
    return sorted(names)
