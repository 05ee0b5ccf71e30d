"""The import check against a real engine: a distribution that imports on this machine but not
in the image (it needs a shared library the base lacks) fails the build in one line with the
fix, and the build leaves no image a rebuild could answer with."""

from __future__ import annotations

import ctypes.util
import sys
from pathlib import Path

import pytest
from helpers import assert_one_line_error, cli, make_venv, notebook
from jc_support import pyproject

from jupyter_containerize.core.engine import client as engine

pytestmark = pytest.mark.engine

# the module loads the X11 client library, as plotting and GUI packages do
MODULE = "import ctypes\n_X11 = ctypes.CDLL('libX11.so.6')\n\ndef shown():\n    return 'ok'\n"


@pytest.fixture(scope="module")
def needs_x11(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    if not ctypes.util.find_library("X11"):
        pytest.skip("this machine has no libX11 for the package to import with")
    root = tmp_path_factory.mktemp("import-check")
    src = root / "teamviewer_src"
    (src / "teamviewer").mkdir(parents=True)
    (src / "pyproject.toml").write_text(pyproject("teamviewer", "0.1.0"))
    (src / "teamviewer" / "__init__.py").write_text(MODULE)
    python = make_venv(root / "venv", sys.executable, str(src))
    nb = notebook(root / "project" / "viewer.ipynb", "import teamviewer\nteamviewer.shown()")
    return {"python": python, "notebook": nb}


def test_a_module_the_image_cannot_import_fails_the_build_and_no_image_is_left(
        docker_client: object, needs_x11: dict[str, Path]) -> None:
    args = ("build", str(needs_x11["notebook"]), "--python", str(needs_x11["python"]))
    first = cli(*args)
    assert_one_line_error(first, "module teamviewer does not import in the image",
                          "libX11.so.6")
    assert "libx11-6 to apt.txt" in first.stderr, first.stderr
    # nothing a rebuild would reuse: the failed image and its environment are gone
    left = [t for image in engine.client().images.list(name="jupyter-containerize/viewer")
            for t in image.tags]
    assert left == []
    again = cli(*args)
    assert "reusing" not in again.stdout + again.stderr
    assert_one_line_error(again, "module teamviewer does not import in the image")
