"""freeze + build against a real engine: exact versions, reuse, last-layer rebuilds, errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from helpers import (
    EXAMPLE,
    EXAMPLE_PYTHON,
    assert_one_line_error,
    cli,
    local_package,
    make_venv,
    notebook,
    run_in_image,
    versions_in,
)

from jupyter_containerize.core import api, labels
from jupyter_containerize.core.engine import client as engine
from jupyter_containerize.core.env.lock import CAPTURE_SCRIPT
from jupyter_containerize.core.models import EnvironmentSpec

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def kernel_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A venv with a PyPI package and a local editable package, used by a live kernel."""
    root = tmp_path_factory.mktemp("kernel-env")
    pkg = local_package(root / "project" / "teamhelpers_src")
    python = make_venv(root / "venv", sys.executable, "ipykernel", "tomli==2.0.1", "-e", str(pkg))
    nb = notebook(root / "project" / "analysis.ipynb",
                  "import tomli, teamhelpers\nprint(teamhelpers.greet())")
    return {"python": str(python), "notebook": nb, "root": root}


def _capture_in_kernel(python: str, after_start: str) -> EnvironmentSpec:
    """Start a real kernel, pip-install a package into it, capture from inside."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    kdir = Path(python).parents[1] / "share" / "jupyter" / "kernels"
    (kdir / "captured").mkdir(parents=True, exist_ok=True)
    (kdir / "captured" / "kernel.json").write_text(json.dumps({
        "argv": [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "captured", "language": "python"}))
    km = KernelManager(kernel_name="captured",
                       kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kdir)]))
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=60)
    try:
        subprocess.run([python, "-m", "pip", "install", "-q", after_start], check=True,
                       capture_output=True)
        out: list[str] = []
        code = (CAPTURE_SCRIPT.read_text() + "\nimport json, tomli\n"
                "print(json.dumps(capture_environment(imported_modules())))")
        reply = kc.execute_interactive(code, output_hook=lambda m: out.append(
            m["content"].get("text", "")) if m["msg_type"] == "stream" else None, timeout=60)
        assert reply["content"]["status"] == "ok", reply
        data = json.loads("".join(out))
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    data["live_kernel"] = True
    return EnvironmentSpec.from_json(data)


def test_live_kernel_environment_arrives_exactly(kernel_env: dict[str, object]) -> None:
    python = str(kernel_env["python"])
    spec = _capture_in_kernel(python, "six==1.16.0")
    names = {d.name.lower() for d in spec.distributions}
    assert "six" in names, "a package installed after the kernel started must be captured"
    res = api.build(kernel_env["notebook"], spec=spec)  # type: ignore[arg-type]
    assert not res.cached
    wanted = versions_in(python, "six", "tomli", "teamhelpers", "ipykernel")
    code = ("import json, importlib.metadata as m, six, tomli, teamhelpers; "
            f"print(json.dumps({{n: m.version(n) for n in {sorted(wanted)!r}}}))")
    assert json.loads(run_in_image(res.reference, code).splitlines()[-1]) == wanted
    assert run_in_image(res.reference, "import teamhelpers; print(teamhelpers.greet())") == "hello"
    assert run_in_image(res.reference, "import os; print(os.getuid())") == "1000"
    image = engine.require_image(res.reference)
    assert image.labels[labels.NOTEBOOK] == "analysis.ipynb"
    assert image.labels[labels.MANAGED] == "true"
    assert image.labels[labels.PYTHON_KERNEL] == spec.python_version
    for value in image.labels.values():
        assert str(kernel_env["root"]) not in value, "no host path in a label"
    # an edit to the editable project (same version) is a new environment
    pkg = Path(str(kernel_env["root"])) / "project" / "teamhelpers_src" / "teamhelpers"
    (pkg / "__init__.py").write_text("def greet():\n    return 'hello again'\n")
    edited = api.build(kernel_env["notebook"], spec=spec)  # type: ignore[arg-type]
    assert edited.env_hash != res.env_hash
    out = run_in_image(edited.reference, "import teamhelpers; print(teamhelpers.greet())")
    assert out == "hello again"


def test_rebuilds_reuse_the_image_and_an_edit_changes_only_the_last_layer(
        tmp_path: Path) -> None:
    project = tmp_path / "classifier"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("*.lock.json", "model.*"))
    nb = project / "classifier.ipynb"
    first = api.build(nb, python=str(EXAMPLE_PYTHON))
    again = api.build(nb, python=str(EXAMPLE_PYTHON))
    assert again.cached and again.reference == first.reference
    doc = json.loads(nb.read_text())
    edit = f"# Edited title {uuid.uuid4().hex}\n"  # an edit no earlier run has built
    doc["cells"][0]["source"] = edit + "".join(doc["cells"][0]["source"])
    nb.write_text(json.dumps(doc))
    edited = api.build(nb, python=str(EXAMPLE_PYTHON))
    assert edited.reference != first.reference and not edited.cached
    old = engine.require_image(first.reference).attrs["RootFS"]["Layers"]
    new = engine.require_image(edited.reference).attrs["RootFS"]["Layers"]
    assert old[:-1] == new[:-1] and old[-1] != new[-1]
    out = run_in_image(edited.reference, "import sklearn, pandas; print(sklearn.__version__)")
    assert out == versions_in(str(EXAMPLE_PYTHON), "scikit-learn")["scikit-learn"]


def test_same_inputs_give_the_same_image_from_a_clean_engine(tmp_path: Path) -> None:
    nb = notebook(tmp_path / "p" / "same.ipynb", "import sklearn")
    first = api.build(nb, python=str(EXAMPLE_PYTHON))
    env_ref = first.reference.rsplit(":", 1)[0] + ":env-" + first.env_hash[:12]
    engine.client().images.remove(first.reference, force=True)
    engine.client().images.remove(env_ref, force=True)
    second = api.build(nb, python=str(EXAMPLE_PYTHON))
    assert not second.cached
    assert second.reference == first.reference and second.image_id == first.image_id
    assert engine.require_image(second.reference).id == first.image_id


def test_cli_prints_the_reference_last_and_dry_run_builds_nothing(tmp_path: Path) -> None:
    nb = notebook(tmp_path / "dry" / "dry.ipynb", "import joblib")
    proc = cli("build", str(nb), "--python", str(EXAMPLE_PYTHON), "--dry-run")
    assert proc.returncode == 0, proc.stderr
    ref = proc.stdout.strip().splitlines()[-1]
    assert ref.startswith("jupyter-containerize/dry:") and engine.get_image(ref) is None


def test_another_minor_builds_for_real(tmp_path: Path) -> None:
    py312 = Path.home() / ".pyenv/versions/3.12.1/bin/python3.12"
    if not py312.exists():
        pytest.skip("no Python 3.12 interpreter on this machine")
    from jupyter_containerize.core.image.base import ensure_base

    ensure_base(engine.client(), "3.12.1", python_executable=str(py312))
    python = make_venv(tmp_path / "v312", str(py312), "ipykernel", "tomli==2.0.1")
    nb = notebook(tmp_path / "p312" / "p312.ipynb", "import tomli")
    res = api.build(nb, python=str(python))
    assert run_in_image(res.reference, "import sys, tomli; print(sys.version.split()[0])") \
        == "3.12.1"


@pytest.mark.parametrize("case", ["engine down", "not json", "missing", "not python",
                                  "missing base", "bad tag", "no linux build"])
def test_bad_input_is_one_line_with_the_fix(tmp_path: Path, case: str) -> None:
    nb = notebook(tmp_path / "bad" / "bad.ipynb", "import joblib")
    args = ["build", str(nb), "--python", str(EXAMPLE_PYTHON)]
    env = {}
    expect: tuple[str, ...] = ()
    if case == "engine down":
        env, expect = {"DOCKER_HOST": "tcp://127.0.0.1:9"}, ("no Docker engine", "DOCKER_HOST")
    elif case == "not json":
        nb.write_text("{not json")
        expect = ("not valid JSON",)
    elif case == "missing":
        args[1], expect = str(tmp_path / "nope.ipynb"), ("does not exist",)
    elif case == "not python":
        args[3], expect = "/bin/true", ("not a Python",)
    elif case == "missing base":
        args += ["--base", "nobody/nothing:1"]
        expect = ("nobody/nothing:1",)
    elif case == "bad tag":
        args += ["--tag", "Not A Name"]
        expect = ("not a valid image reference",)
    elif case == "no linux build":
        lock = json.loads((EXAMPLE / "classifier.lock.json").read_text()) \
            if (EXAMPLE / "classifier.lock.json").exists() else None
        if lock is None:
            api.freeze(EXAMPLE / "classifier.ipynb", python=str(EXAMPLE_PYTHON))
            lock = json.loads((EXAMPLE / "classifier.lock.json").read_text())
        lock["packages"].append({"name": "pywin32", "version": "306", "source": "index",
                                 "requirement": "pywin32==306", "imported_as": []})
        (nb.parent / "bad.lock.json").write_text(json.dumps(lock))
        args = ["build", str(nb), "--locked"]
        expect = ("pywin32",)
    proc = cli(*args, env=env)
    assert_one_line_error(proc, *expect)
    if case == "not json":
        assert nb.read_text() == "{not json", "nothing lost"


def test_a_mac_kernel_names_what_has_no_linux_build_before_building(tmp_path: Path) -> None:
    """A lock captured on macOS/arm64: the build names pywin32-like packages up front."""
    nb = notebook(tmp_path / "mac" / "mac.ipynb", "import joblib")
    api.freeze(nb, python=str(EXAMPLE_PYTHON))
    lock_file = nb.with_name("mac.lock.json")
    lock = json.loads(lock_file.read_text())
    lock["python"].update(system="Darwin", machine="arm64")
    lock["packages"].append({"name": "pyobjc-core", "version": "10.3.1", "source": "index",
                             "requirement": "pyobjc-core==10.3.1", "imported_as": []})
    lock_file.write_text(json.dumps(lock))
    events: list[str] = []
    with pytest.raises(Exception) as err:
        api.build(nb, locked=True, progress=lambda e: events.append(e.message))
    assert any("pyobjc-core publishes no wheel for linux/amd64" in m for m in events), events
    assert "pyobjc-core" in str(err.value)


def test_both_build_paths_give_the_same_environment(tmp_path: Path) -> None:
    """The classic builder (fallback, and what `freeze --dockerfile` ejects) and the layers
    path: same distributions and versions, same user, same labels."""
    nb = notebook(tmp_path / "paths" / "paths.ipynb", "import joblib")
    layered = api.build(nb, python=str(EXAMPLE_PYTHON), lock="imported")
    classic = api.build(nb, python=str(EXAMPLE_PYTHON), lock="imported", builder="classic",
                        tag=layered.reference + "-classic")
    assert classic.builder == "classic" and layered.builder == "layers"
    code = ("import json, os, importlib.metadata as m; print(json.dumps([os.getuid(), "
            "sorted((d.metadata['Name'].lower(), d.version) for d in m.distributions())]))")
    got = [json.loads(run_in_image(r.reference, code).splitlines()[-1])
           for r in (layered, classic)]
    assert got[0] == got[1] and got[0][0] == 1000
    dists = dict(map(tuple, got[0][1]))
    assert dists["joblib"] == versions_in(str(EXAMPLE_PYTHON), "joblib")["joblib"]
    for r in (layered, classic):
        status, out = engine.run_once(r.reference, ["/opt/containerize/tool/bin/python", "-c",
                                                     "import papermill; print('ok')"])
        assert status == 0 and out.strip().endswith("ok"), out
    label_keys = [set(engine.require_image(r.reference).labels) for r in (layered, classic)]
    assert label_keys[0] == label_keys[1]


def test_doctor_reports_each_component_with_its_fix() -> None:
    ok = cli("doctor")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "ok    engine: Docker" in ok.stdout and "ok    base image:" in ok.stdout
    down = cli("doctor", env={"DOCKER_HOST": "tcp://127.0.0.1:9"})
    assert down.returncode == 1
    line = next(ln for ln in down.stdout.splitlines() if ln.startswith("FAIL  engine"))
    assert "DOCKER_HOST" in line and "Traceback" not in down.stdout + down.stderr


def test_apt_txt_packages_go_under_the_layers(tmp_path: Path) -> None:
    """apt.txt keeps the layers path: its packages are a base of their own, built once."""
    from jupyter_containerize.core.image.aptbase import APT_PACKAGES, ROLE_APT_BASE

    nb = notebook(tmp_path / "apt" / "aptnb.ipynb", "import joblib")
    (nb.parent / "apt.txt").write_text("# OpenMP, which LightGBM's wheel needs\nlibgomp1\n")
    code = "import ctypes, os; ctypes.CDLL('libgomp.so.1'); print(os.getuid())"

    def apt_bases() -> dict[str, list[str]]:
        found = engine.client().images.list(
            filters={"label": [f"{labels.ROLE}={ROLE_APT_BASE}", f"{APT_PACKAGES}=libgomp1"]})
        return {im.id: im.attrs["RootFS"]["Layers"] for im in found}

    first = api.build(nb, python=str(EXAMPLE_PYTHON), lock="imported")
    assert first.builder == "layers"
    assert run_in_image(first.reference, code).splitlines()[-1] == "1000"
    layers_of = engine.require_image(first.reference).attrs["RootFS"]["Layers"]
    under = [i for i, ls in apt_bases().items() if layers_of[: len(ls)] == ls]
    assert len(under) == 1, "the image must sit on exactly one apt base"

    # an edit of the notebook: a new image on the same apt base, which is not built again
    nb.write_text(nb.read_text().replace("import joblib", "import joblib, json"))
    second = api.build(nb, python=str(EXAMPLE_PYTHON), lock="imported")
    assert second.builder == "layers" and second.reference != first.reference
    assert second.env_hash == first.env_hash
    later = engine.require_image(second.reference).attrs["RootFS"]["Layers"]
    assert later[: len(apt_bases()[under[0]])] == apt_bases()[under[0]]
    assert run_in_image(second.reference, code).splitlines()[-1] == "1000"
