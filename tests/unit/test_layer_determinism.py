"""The same distribution gives the same layer on any host: bytecode compiled the same whatever
interpreter of the minor compiles it, and scripts' RECORD lines match their re-pointed #!."""

from __future__ import annotations

import base64
import hashlib
import shutil
import sys
from pathlib import Path

import packaging

from jupyter_containerize.core.image import imagefs, installer, layers

SITE = f"lib/python{sys.version_info[0]}.{sys.version_info[1]}/site-packages"


def _dist(root: Path, shebang: str) -> Path:
    """A real distribution's files (``packaging``) in a store folder, with one script."""
    folder = root / "dist"
    shutil.copytree(Path(packaging.__file__).parent, folder / SITE / "packaging",
                    ignore=shutil.ignore_patterns("__pycache__"))
    script = f"#!{shebang}\nimport sys\nfrom packaging import version\n"
    (folder / "bin").mkdir()
    (folder / "bin" / "pkgtool").write_text(script)
    digest = base64.urlsafe_b64encode(hashlib.sha256(script.encode()).digest()).rstrip(b"=")
    info = folder / SITE / "packaging-0.dist-info"
    info.mkdir()
    (info / "RECORD").write_text(f"bin/pkgtool,sha256={digest.decode()},{len(script)}\n"
                                 "packaging-0.dist-info/RECORD,,\n")
    return folder


def _layer_digest(folder: Path, out: Path) -> str:
    return layers.write_layer(imagefs.dist_entries(folder, imagefs.ENV), out, 0).diff_id


def test_two_hosts_make_the_same_layer(tmp_path: Path) -> None:
    one = _dist(tmp_path / "host-one", "/home/alice/.venv/bin/python")
    two = _dist(tmp_path / "host-two", "/opt/other/python3")
    interpreters = [sys.executable, str(Path(sys.base_prefix) / "bin" / "python3")]
    for folder, python in zip((one, two), interpreters):
        installer._compile(python, SITE, [folder])
    assert list((one / SITE / "packaging").glob("__pycache__/*.pyc")), "nothing was compiled"
    assert _layer_digest(one, tmp_path / "1.tar") == _layer_digest(two, tmp_path / "2.tar")


def test_a_rewritten_script_has_its_record_line_rewritten(tmp_path: Path) -> None:
    folder = _dist(tmp_path, "/home/alice/.venv/bin/python")
    entries = {e.name: e for e in imagefs.dist_entries(folder, imagefs.ENV)}
    script = entries["opt/env/bin/pkgtool"].data
    assert script is not None and script.startswith(b"#!/opt/env/bin/python\n")
    record = entries[f"opt/env/{SITE}/packaging-0.dist-info/RECORD"].data
    assert record is not None
    digest = base64.urlsafe_b64encode(hashlib.sha256(script).digest()).rstrip(b"=").decode()
    assert f"bin/pkgtool,sha256={digest},{len(script)}" in record.decode()
    assert b"alice" not in record
