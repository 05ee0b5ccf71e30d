"""The lock: full and imported modes, sources, determinism, diffs, ipykernel, preflight."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from jupyter_containerize.core.env import capture
from jupyter_containerize.core.env import lock as locks
from jupyter_containerize.core.errors import ContainerizeError, NotFoundError
from jupyter_containerize.core.models import Distribution, EnvironmentSpec

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_PYTHON = ROOT / ".venv-example" / "bin" / "python"
FIXTURES = ROOT / "tests" / "fixtures"


@pytest.fixture(scope="module")
def example_spec() -> EnvironmentSpec:
    if not EXAMPLE_PYTHON.exists():
        pytest.fail("the example kernel venv .venv-example is missing (run the set-up script)")
    return locks.capture_python(str(EXAMPLE_PYTHON))


def _names(lock: dict) -> set[str]:
    return {p["name"].lower().replace("_", "-") for p in lock["packages"]}


def _spec(*dists: Distribution, version: str = "3.11.7") -> EnvironmentSpec:
    return EnvironmentSpec(python_version=version, python_executable="/x/bin/python",
                           distributions=list(dists))  # fmt: skip


def _fixture_spec(*folders: str) -> EnvironmentSpec:
    data = capture.capture_environment(path=[str(FIXTURES / f) for f in folders])
    data["python_version"] = "3.11.7"
    return EnvironmentSpec.from_json(data)


def test_imported_closure_of_the_example(example_spec: EnvironmentSpec) -> None:
    lock = locks.make_lock(example_spec, "imported", ["sklearn"])
    names = _names(lock)
    assert {"scikit-learn", "numpy", "scipy", "joblib", "threadpoolctl"} <= names
    assert "pandas" not in names and "ipykernel" in names and "papermill" not in names
    sklearn = next(p for p in lock["packages"] if p["name"] == "scikit-learn")
    assert sklearn["imported_as"] == ["sklearn"]
    assert sklearn["requirement"] == "scikit-learn==1.7.2"
    assert lock["added"] == [] and lock["warnings"] == []
    full = locks.make_lock(example_spec, "full", ["sklearn"])
    assert "pandas" in _names(full) and len(full["packages"]) == len(example_spec.distributions)


def test_lock_shape_and_order(example_spec: EnvironmentSpec) -> None:
    lock = locks.make_lock(example_spec, "full", ["sklearn", "pandas", "joblib", "os"])
    assert lock["lock_version"] == 1 and lock["mode"] == "full"
    assert lock["python"]["version"] == example_spec.python_version
    assert lock["platform"] == "linux/amd64"
    keys = [p["name"].lower().replace("_", "-") for p in lock["packages"]]
    assert keys == sorted(keys)
    assert lock["imported"] == ["joblib", "os", "pandas", "sklearn"]
    assert str(ROOT) not in json.dumps(lock)


def test_unprovided_import_is_a_warning(example_spec: EnvironmentSpec, tmp_path: Path) -> None:
    (tmp_path / "helpers.py").write_text("")
    lock = locks.make_lock(
        example_spec, "imported", ["sklearn", "foo", "json", "helpers"], notebook_dir=tmp_path
    )
    assert lock["warnings"] == ["module foo is imported but no installed distribution provides it"]


def test_deterministic_bytes(example_spec: EnvironmentSpec, tmp_path: Path) -> None:
    one = locks.write_lock(locks.make_lock(example_spec, "full", ["sklearn"]), tmp_path / "a.json")
    two = locks.write_lock(locks.make_lock(example_spec, "full", ["sklearn"]), tmp_path / "b.json")
    assert one.read_bytes() == two.read_bytes()
    lock = locks.read_lock(one)
    assert locks.lock_sha256(lock) == locks.lock_sha256(
        locks.make_lock(example_spec, "full", ["sklearn"])
    )
    assert one.read_text().endswith("}\n")


def test_read_lock_errors(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="does not exist"):
        locks.read_lock(tmp_path / "none.lock.json")
    bad = tmp_path / "bad.lock.json"
    bad.write_text("{")
    with pytest.raises(ContainerizeError, match="not valid JSON"):
        locks.read_lock(bad)
    bad.write_text('{"lock_version": 99}')
    with pytest.raises(ContainerizeError, match="version 1"):
        locks.read_lock(bad)


def test_lock_path() -> None:
    assert locks.lock_path("/a/b/my nb.ipynb") == Path("/a/b/my nb.lock.json")


def test_diff_locks(example_spec: EnvironmentSpec) -> None:
    old = locks.make_lock(example_spec, "full", ["sklearn"])
    new = copy.deepcopy(old)
    new["packages"] = [p for p in new["packages"] if p["name"] != "six"]
    numpy = next(p for p in new["packages"] if p["name"] == "numpy")
    numpy["version"], numpy["requirement"] = "2.5.0", "numpy==2.5.0"
    new["packages"].append({"name": "statsmodels", "version": "0.14.4", "source": "index",
                            "requirement": "statsmodels==0.14.4", "imported_as": []})  # fmt: skip
    old["packages"].append({"name": "six", "version": "1.16.0", "source": "index",
                            "requirement": "six==1.16.0", "imported_as": []})  # fmt: skip
    assert locks.diff_locks(old, new) == [
        "~ numpy 2.4.6 -> 2.5.0",
        "- six 1.16.0",
        "+ statsmodels 0.14.4",
    ]
    assert locks.diff_locks(old, old) == []


def test_conda_packages_map_to_index_pins() -> None:
    spec = _fixture_spec("conda-site-packages")
    lock = locks.make_lock(spec, "imported", ["yaml", "numpy", "requests"])
    by = {p["name"]: p for p in lock["packages"]}
    assert by["numpy"]["requirement"] == "numpy==1.26.4" and by["numpy"]["source"] == "conda"
    assert by["PyYAML"]["imported_as"] == ["yaml"]
    assert (
        "numpy 1.26.4: a conda package, installed as numpy==1.26.4 from the index" in lock["mapped"]
    )
    # requests needs charset-normalizer and idna, which this environment lacks; socks is an extra
    assert "requests requires charset-normalizer, which is not installed" in lock["warnings"]
    assert not any("PySocks" in w for w in lock["warnings"])
    assert "ipykernel" in _names(lock) and "ipykernel" in " ".join(lock["added"])


def test_vcs_url_and_local_requirements(tmp_path: Path) -> None:
    spec = _fixture_spec("vcs-site-packages")
    project = tmp_path / "libs" / "helper"
    project.mkdir(parents=True)
    spec.distributions += [
        Distribution("helper", "0.1", source="editable", path=str(project)),
        Distribution("gone", "2.0", source="local", path="/no/such/project"),
        Distribution("mystery", "1.0", source="unknown"),
        Distribution("ipykernel", "6.31.0"),
    ]
    lock = locks.make_lock(spec, "full", [], notebook_dir=tmp_path)
    req = {p["name"]: p["requirement"] for p in lock["packages"]}
    assert req["mylib"] == (
        "mylib @ git+https://github.com/example/mylib.git@3f786850e387550fdab836ed7e6dc881de23001b"
    )
    assert req["subpkg"].endswith(
        "@9b2e6f0d3c2c0b8f1e4a5d6c7b8a9f0e1d2c3b4a#subdirectory=python/subpkg"
    )
    assert req["tinyurl"].startswith("tinyurl @ https://files.example.org/")
    assert req["tinyurl"].endswith(
        "#sha256=2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
    )
    assert req["helper"] == {"path": "libs/helper"}
    assert req["gone"] == {"path": "/no/such/project"}
    assert req["mystery"] == "mystery==1.0"
    text = "\n".join(lock["warnings"])
    assert "gone 2.0 (local) was installed from /no/such/project, which no longer exists" in text
    assert "outside the notebook's folder" in text
    assert "mystery 1.0: where it came from is unknown" in text
    view = locks.requirements_view(lock)
    assert "-e ./libs/helper\n" in view and "six==1.16.0\n" in view


def test_markers_and_extras() -> None:
    spec = _spec(
        Distribution(
            "app",
            "1",
            requires=[
                "lib[fast]>=1",
                'winonly; sys_platform == "win32"',
                'old; python_version < "3.8"',
            ],
        ),  # fmt: skip
        Distribution("lib", "1", requires=['speed; extra == "fast"', 'docs; extra == "docs"']),
        Distribution("speed", "1"),
        Distribution("docs", "1"),
        Distribution("winonly", "1"),
        Distribution("old", "1"),
    )
    warnings: list[str] = []
    assert locks.dependency_closure(spec, ["app"], warnings) == {"app", "lib", "speed"}
    assert warnings == []


def test_ipykernel_added_when_absent() -> None:
    spec = _spec(Distribution("six", "1.16.0", top_level=["six"]),
                 Distribution("tornado", "6.4.1", top_level=["tornado"]))  # fmt: skip
    lock = locks.make_lock(spec, "full", ["six"])
    by = {p["name"].lower(): p for p in lock["packages"]}
    assert "ipykernel" in by and by["tornado"]["version"] == "6.4.1"
    added = set(lock["added"])
    assert any(a.startswith("ipykernel==") for a in added)
    assert not any(a.startswith(("tornado==", "six==", "papermill==")) for a in added)


def test_preflight_names_packages_without_a_build() -> None:
    spec = _spec(Distribution("six", "1.16.0"), Distribution("pywin32", "306"),
                 Distribution("ipykernel", "6.31.0"))  # fmt: skip
    lock = locks.make_lock(spec, "full", [])
    assert locks.captured_platform(lock) == "linux/amd64"
    assert locks.preflight(lock, "linux/amd64") == []
    assert locks.preflight(lock, "linux/amd64", force=True) == ["pywin32"]
    assert locks.preflight(lock, "linux/arm64") == ["pywin32"]


def test_a_live_kernels_own_machinery_is_not_counted_as_imported() -> None:
    spec = EnvironmentSpec(
        python_version="3.11.7", python_executable="/x/bin/python", live_kernel=True,
        imported=["pandas", "tornado"],
        distributions=[
            Distribution("ipykernel", "6.31.0", requires=["tornado>=6"], top_level=["ipykernel"]),
            Distribution("tornado", "6.5", top_level=["tornado"]),
            Distribution("pandas", "2.3.3", top_level=["pandas"]),
        ],
    )
    assert locks.make_lock(spec, "full")["imported"] == ["pandas"]
    assert locks.make_lock(spec, "full", ["tornado"])["imported"] == ["pandas", "tornado"]
