"""Capture: the example kernel, an editable install in a fresh venv, conda and vcs metadata."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jupyter_containerize.core.env import capture
from jupyter_containerize.core.env.interpreter import kernel_python
from jupyter_containerize.core.env.lock import capture_python
from jupyter_containerize.core.errors import PythonNotFoundError
from jupyter_containerize.core.models import EnvironmentSpec

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_PYTHON = ROOT / ".venv-example" / "bin" / "python"
FIXTURES = ROOT / "tests" / "fixtures"


def _by_name(data: dict) -> dict[str, dict]:
    return {d["name"]: d for d in data["distributions"]}


@pytest.fixture(scope="module")
def example_spec() -> EnvironmentSpec:
    if not EXAMPLE_PYTHON.exists():
        pytest.fail("the example kernel venv .venv-example is missing (run the set-up script)")
    return capture_python(str(EXAMPLE_PYTHON))


def test_example_kernel_sees_scikit_learn(example_spec: EnvironmentSpec) -> None:
    sklearn = example_spec.by_name()["scikit-learn"]
    assert sklearn.top_level == ["sklearn"]
    assert sklearn.source == "index"
    assert sklearn.installer == "pip"
    assert any(r.startswith("numpy") for r in sklearn.requires)
    assert example_spec.python_version.count(".") == 2
    assert example_spec.prefix.endswith(".venv-example")
    assert example_spec.libc.startswith("glibc ")
    assert example_spec.live_kernel is False
    assert example_spec.by_name()["python-dateutil"].top_level == ["dateutil"]
    assert example_spec.by_name()["pyzmq"].top_level == ["zmq"]


def test_capture_is_sorted_and_json_round_trips(example_spec: EnvironmentSpec) -> None:
    names = [d.name.lower().replace("_", "-") for d in example_spec.distributions]
    assert names == sorted(names)
    again = EnvironmentSpec.from_json(json.loads(json.dumps(example_spec.to_json())))
    assert again == example_spec


def test_not_a_python() -> None:
    with pytest.raises(PythonNotFoundError) as info:
        capture_python("/bin/false")
    assert info.value.message == "/bin/false is not a Python interpreter"
    assert "--python" in info.value.hint
    with pytest.raises(PythonNotFoundError):
        capture_python("/no/such/python")


def test_kernel_python_of_the_example() -> None:
    found = kernel_python(ROOT / "examples" / "classifier" / "classifier.ipynb")
    assert found is not None and Path(found) == EXAMPLE_PYTHON


def test_kernel_python_unknown_kernel(tmp_path: Path) -> None:
    nb = tmp_path / "x.ipynb"
    nb.write_text(json.dumps({"metadata": {"kernelspec": {"name": "no-such-kernel-here"}}}))
    assert kernel_python(nb) is None
    nb.write_text("{}")
    assert kernel_python(nb) is None


def test_editable_install_in_a_fresh_venv(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    (project / "src" / "tinyproj").mkdir(parents=True)
    (project / "src" / "tinyproj" / "__init__.py").write_text("VALUE = 1\n")
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=64"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "tinyproj"\nversion = "0.1.0"\n'
    )
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "setuptools>=64", "wheel"], check=True)
    subprocess.run([*pip, "--no-build-isolation", "-e", str(project)], check=True)
    spec = capture_python(str(python))
    dist = spec.by_name()["tinyproj"]
    assert dist.source == "editable"
    assert Path(dist.path or "") == project
    assert dist.top_level == ["tinyproj"]


def _fixture_capture(*folders: str) -> dict:
    return capture.capture_environment(path=[str(FIXTURES / f) for f in folders])


def test_conda_metadata() -> None:
    data = _fixture_capture("conda-site-packages")
    dists = _by_name(data)
    assert {d["source"] for d in dists.values()} == {"conda"}
    numpy = dists["numpy"]
    assert numpy["url"].startswith("file:///home/conda/feedstock_root/build_artifacts/")
    assert numpy["top_level"] == ["numpy"]
    assert dists["six"]["top_level"] == ["six"]
    assert dists["PyYAML"]["top_level"] == ["_yaml", "yaml"]
    assert "/conda-bld/" in dists["requests"]["url"]
    assert 'PySocks!=1.5.7,>=1.5.6; extra == "socks"' in dists["requests"]["requires"]


def test_conda_build_path_without_conda_installer(tmp_path: Path) -> None:
    source = FIXTURES / "conda-site-packages" / "requests-2.31.0.dist-info"
    target = tmp_path / source.name
    target.mkdir()
    for item in source.iterdir():
        target.joinpath(item.name).write_bytes(item.read_bytes())
    (target / "INSTALLER").write_text("pip\n")
    data = capture.capture_environment(path=[str(tmp_path)])
    assert _by_name(data)["requests"]["source"] == "conda"


def test_vcs_url_and_record_metadata() -> None:
    data = _fixture_capture("vcs-site-packages", "vcs-site-packages-later")
    dists = _by_name(data)
    mylib = dists["mylib"]
    assert mylib["source"] == "vcs"
    assert mylib["url"] == "git+https://github.com/example/mylib.git"
    assert mylib["revision"] == "3f786850e387550fdab836ed7e6dc881de23001b"
    assert mylib["top_level"] == ["mylib"]
    subpkg = dists["subpkg"]
    assert subpkg["url"] == "git+https://github.com/example/monorepo#subdirectory=python/subpkg"
    tiny = dists["tinyurl"]
    assert tiny["source"] == "url"
    assert tiny["revision"].startswith("sha256=2c26b4")
    assert tiny["top_level"] == ["_tinyurl_speedups", "tinyurl"]
    assert "broken" not in dists
    assert any("has no name" in w for w in data["warnings"])


def test_first_on_path_wins() -> None:
    data = _fixture_capture("vcs-site-packages", "vcs-site-packages-later")
    assert _by_name(data)["six"]["version"] == "1.16.0"
    assert any("six 1.15.0" in w and "shadowed" in w for w in data["warnings"])
    data = _fixture_capture("vcs-site-packages-later", "vcs-site-packages")
    assert _by_name(data)["six"]["version"] == "1.15.0"


def test_record_top_level_rules() -> None:
    name = capture._module_name
    assert name("sklearn", True) == "sklearn"
    assert name("six.py", False) == "six"
    assert name("_cffi_backend.cpython-311-x86_64-linux-gnu.so", False) == "_cffi_backend"
    for entry, is_dir in [
        ("numpy-2.0.dist-info", True),
        ("__pycache__", True),
        ("bin", True),
        ("distutils-precedence.pth", False),
        ("scikit_learn.libs", True),
        ("..", True),
        ("README.txt", False),
    ]:
        assert name(entry, is_dir) is None


def test_capture_is_fast(tmp_path: Path) -> None:
    for i in range(100):
        info = tmp_path / f"pkg{i}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: pkg{i}\nVersion: 1.0\n\n")
        (info / "INSTALLER").write_text("pip\n")
        (info / "RECORD").write_text(f"pkg{i}/__init__.py,,\n{info.name}/METADATA,,\n")
    start = time.perf_counter()
    data = capture.capture_environment(path=[str(tmp_path)])
    assert len(data["distributions"]) == 100
    assert time.perf_counter() - start < 0.5


def test_imported_modules_in_process() -> None:
    names = capture.imported_modules()
    assert "pytest" in names and "jupyter_containerize" in names
    assert "os" not in names and "sys" not in names and "json" not in names
    assert not any(n.startswith("_") for n in names)


@pytest.mark.parametrize("minor", ["3.8", "3.13"])
def test_script_runs_on_other_minors(minor: str) -> None:
    found = sorted(Path.home().glob(f".pyenv/versions/{minor}.*/bin/python{minor}"))
    if not found:
        pytest.skip(f"no Python {minor} on this machine")
    spec = capture_python(str(found[0]))
    assert spec.python_minor == minor
    assert "pip" in spec.by_name()
