"""Layers made outside the engine: deterministic bytes, owners, shebangs, project files."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from jupyter_containerize.core.env import project
from jupyter_containerize.core.errors import ContextTooLargeError, SecretFoundError
from jupyter_containerize.core.image import imagefs, layers


def _dist(tmp: Path) -> Path:
    folder = tmp / "dist"
    (folder / "bin").mkdir(parents=True)
    (folder / "bin" / "tool").write_text("#!/home/someone/.venv/bin/python3\nprint('hi')\n")
    (folder / "bin" / "tool").chmod(0o755)
    site = folder / "lib/python3.11/site-packages/pkg"
    site.mkdir(parents=True)
    (site / "__init__.py").write_text("X = 1\n")
    return folder


def test_same_inputs_give_the_same_layer_bytes(tmp_path: Path) -> None:
    folder = _dist(tmp_path)
    a = layers.write_layer(imagefs.dist_entries(folder, "/opt/env"), tmp_path / "a.tar", 0)
    (folder / "bin" / "tool").touch()  # a new mtime must not change the layer
    b = layers.write_layer(imagefs.dist_entries(folder, "/opt/env"), tmp_path / "b.tar", 0)
    assert a.diff_id == b.diff_id
    assert (tmp_path / "a.tar").read_bytes() == (tmp_path / "b.tar").read_bytes()


def test_scripts_point_at_the_image_interpreter_and_no_host_path(tmp_path: Path) -> None:
    folder = _dist(tmp_path)
    layers.write_layer(imagefs.dist_entries(folder, "/opt/env"), tmp_path / "l.tar", 0)
    with tarfile.open(tmp_path / "l.tar") as tar:
        names = tar.getnames()
        script = tar.extractfile("opt/env/bin/tool").read()  # type: ignore[union-attr]
        member = tar.getmember("opt/env/bin/tool")
    assert script.startswith(b"#!/opt/env/bin/python\n")
    assert b"/home/someone" not in (tmp_path / "l.tar").read_bytes()
    assert member.mode == 0o755 and member.uid == 0 and member.mtime == 0
    assert "opt" in names and "opt/env/lib/python3.11/site-packages/pkg/__init__.py" in names
    assert names == sorted(names)


def test_project_files_are_owned_by_the_user(tmp_path: Path) -> None:
    (tmp_path / "nb.ipynb").write_text("{}")
    entries = imagefs.project_entries(tmp_path, ["nb.ipynb"], "nb.ipynb", b'{"x": 1}')
    layers.write_layer(entries, tmp_path / "p.tar", 0, {"home/jovyan": layers.USER,
                                                        "home/jovyan/work": layers.USER})
    with tarfile.open(tmp_path / "p.tar") as tar:
        m = tar.getmember("home/jovyan/work/nb.ipynb")
        assert (m.uid, m.gid) == (1000, 1000)
        assert tar.extractfile(m).read() == b'{"x": 1}'  # type: ignore[union-attr]


def test_project_leaves_out_secrets_noise_and_our_outputs(tmp_path: Path) -> None:
    for name in ("nb.ipynb", "helper.py", ".env", "id_rsa", "nb.lock.json", "run.run.json",
                 ".ipynb_checkpoints/nb-checkpoint.ipynb", "__pycache__/x.pyc", "data/big.csv",
                 ".aws/credentials", "venv2/pyvenv.cfg", "venv2/lib/x.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    (tmp_path / ".dockerignore").write_text("data/\n")
    files = project.collect(tmp_path, 10_000)
    assert files.files == [".dockerignore", "helper.py", "nb.ipynb"]
    assert any(".env" in line for line in files.left_out)
    assert any("id_rsa" in line for line in files.left_out)


def test_context_over_the_cap_names_the_largest_files(tmp_path: Path) -> None:
    (tmp_path / "nb.ipynb").write_text("{}")
    (tmp_path / "huge.bin").write_bytes(b"0" * 5000)
    with pytest.raises(ContextTooLargeError) as err:
        project.collect(tmp_path, 1000)
    assert "huge.bin" in err.value.one_line() and "--data" in err.value.one_line()


def test_outputs_that_look_like_credentials_stop_the_build() -> None:
    token = "ghp_" + "a1B2" * 10
    nb = {"cells": [{"cell_type": "code", "outputs": [{"output_type": "stream",
                                                        "text": f"token={token}\n"}]}]}
    assert project.scan_outputs(nb) == [(0, "GitHub token")]
    with pytest.raises(SecretFoundError) as err:
        project.check_outputs(nb, allow=False)
    assert "cell 1: GitHub token" in err.value.message and "--strip-outputs" in err.value.hint
    assert project.scan_outputs(project.strip_outputs(nb)) == []


def test_library_configuration_comes_from_the_jupyter_config_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from jupyter_containerize.core.config import load_config

    (tmp_path / "jupyter_containerize_config.py").write_text(
        'c.ContainerizeConfig.registry = "registry.example.org/team"\n'
        "c.ContainerizeConfig.context_max_bytes = 1234\n")
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path))
    cfg = load_config()
    assert cfg.registry == "registry.example.org/team" and cfg.context_max_bytes == 1234
