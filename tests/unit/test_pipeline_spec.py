"""The pipeline file, checked before anything starts: the example reads as its steps in
dependency order; every mistake (bad YAML, a key the schema does not know, a value of the wrong
type, a cycle, an input no earlier step writes, ...) is one line naming the file, the step and
the fix, from the library and from the CLI alike (exit 2, no job in the store)."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import nbformat
import pytest

from jupyter_containerize.cli.app import main
from jupyter_containerize.core.pipeline import graph, spec
from jupyter_containerize.core.pipeline.errors import PipelineError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "pipeline"


def _notebook(path: Path, params: str = "rows = 1\n") -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    cell = nbformat.v4.new_code_cell(params)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, nbformat.v4.new_code_cell("print(rows)")]
    nbformat.write(nb, path)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for name in ("a", "b", "c"):
        _notebook(tmp_path / f"{name}.ipynb")
    return tmp_path


def _write(folder: Path, text: str) -> Path:
    path = folder / "pipeline.yaml"
    path.write_text(textwrap.dedent(text))
    return path


GOOD = """\
steps:
  - {name: a, notebook: a.ipynb, outputs: [out/one.csv]}
  - {name: b, notebook: b.ipynb, needs: [a], inputs: [a/out/one.csv], outputs: [two.csv]}
  - {name: c, notebook: c.ipynb, needs: [b], inputs: [a/./out/one.csv, b/two.csv]}
"""


def test_the_example_reads_as_three_steps_in_order(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLE, tmp_path / "pipeline")
    pipe = spec.load(tmp_path / "pipeline" / "pipeline.yaml")
    assert pipe.order == ["prepare", "train", "report"] and pipe.name == "line-fit"
    assert pipe.concurrency == 2
    assert pipe.steps["train"].inputs == [("prepare", "numbers.csv")]
    assert pipe.steps["train"].retries == 1 and pipe.steps["report"].memory == "256m"
    assert pipe.upstream["report"] == {"prepare", "train"}
    assert pipe.steps["prepare"].notebook == (tmp_path / "pipeline" / "prepare.ipynb").resolve()


def test_inputs_reach_through_the_graph_and_are_normalised(folder: Path) -> None:
    pipe = spec.load(_write(folder, GOOD))
    assert pipe.steps["c"].inputs == [("a", "out/one.csv"), ("b", "two.csv")]
    assert pipe.order == ["a", "b", "c"]


def test_independent_steps_keep_the_files_order() -> None:
    needs = {"z": [], "y": [], "x": ["z", "y"], "w": []}
    assert graph.order(needs) == ["z", "y", "w", "x"]
    assert graph.cycle(needs) is None
    assert graph.upstream({"a": [], "b": ["a"], "c": ["b"]})["c"] == {"a", "b"}


BAD = {
    "yaml": ("steps:\n  - name: a\n   notebook: a.ipynb\n",
             "pipeline.yaml line 3 column 4: not valid YAML", "fix the YAML there"),
    "key-twice": ("steps: []\nsteps: []\n",
                  "pipeline.yaml line 2: the key 'steps' is given twice", "keep one of them"),
    "empty": ("# nothing\n", "pipeline.yaml is empty", "give it steps:"),
    "not-a-mapping": ("- a\n- b\n", "pipeline.yaml: the file must be a mapping, not",
                      "steps: [{name: prepare"),
    "no-steps": ("name: x\n", "pipeline.yaml: the file has no 'steps'", "add a list of steps"),
    "top-typo": ("step: []\n", "pipeline.yaml: unknown key 'step'", "did you mean 'steps'?"),
    "no-steps-listed": ("steps: []\n", "'steps' must be at least 1 entries", "a list of steps"),
    "no-notebook": ("steps:\n  - name: a\n",
                    "pipeline.yaml: step 'a': the step has no 'notebook'",
                    "add the notebook's path, relative to the pipeline file"),
    "step-typo": ("steps:\n  - {name: a, notebook: a.ipynb, need: [b]}\n",
                  "step 'a': unknown key 'need'", "did you mean 'needs'?"),
    "timeout-type": ("steps:\n  - {name: a, notebook: a.ipynb, timeout: 10m}\n",
                     "step 'a': 'timeout' must be a number, not '10m'", "timeout: 600"),
    "timeout-negative": ("steps:\n  - {name: a, notebook: a.ipynb, timeout: -5}\n",
                         "step 'a': timeout must be a positive number of seconds, not -5",
                         "e.g. timeout: 600"),
    "memory": ("steps:\n  - {name: a, notebook: a.ipynb, memory: lots}\n",
               "step 'a': memory 'lots' is not an amount of memory", "e.g. memory: 512m"),
    "memory-small": ("steps:\n  - {name: a, notebook: a.ipynb, memory: 1k}\n",
                     "step 'a': memory '1k' is below the engine's minimum of 6m",
                     "memory: 512m"),
    "cpus": ("steps:\n  - {name: a, notebook: a.ipynb, cpus: 0}\n",
             "step 'a': cpus must be a number of CPUs of at least 0.01, not 0", "cpus: 0.5"),
    "retries": ("steps:\n  - {name: a, notebook: a.ipynb, retries: 11}\n",
                "step 'a': 'retries' must be at most 10, not 11", "from 0 to 10"),
    "retries-type": ("steps:\n  - {name: a, notebook: a.ipynb, retries: yes}\n",
                     "step 'a': 'retries' must be a whole number, not true", "retries: 1"),
    "lock": ("steps:\n  - {name: a, notebook: a.ipynb, lock: slim}\n",
             "step 'a': 'lock' cannot be 'slim'", "use 'full' or 'imported'"),
    "concurrency": ("concurrency: 0\nsteps:\n  - {name: a, notebook: a.ipynb}\n",
                    "pipeline.yaml: 'concurrency' must be at least 1, not 0", "from 1 to 64"),
    "step-name": ("steps:\n  - {name: a/b, notebook: a.ipynb}\n",
                  "step 'a/b': 'name' cannot be 'a/b'", "letters, digits"),
    "not-a-notebook": ("steps:\n  - {name: a, notebook: a.py}\n",
                       "step 'a': 'notebook' cannot be 'a.py'", "e.g. notebook: prepare.ipynb"),
    "missing-notebook": ("steps:\n  - {name: a, notebook: gone.ipynb}\n",
                         "step 'a': notebook gone.ipynb does not exist",
                         "relative to the pipeline file"),
    "parameter-name": ("steps:\n  - {name: a, notebook: a.ipynb, parameters: {1x: 2}}\n",
                       "step 'a': parameter '1x' is not a Python identifier",
                       "letters, digits and _"),
    "parameter-undeclared": ("steps:\n  - {name: a, notebook: a.ipynb, parameters: {rws: 2}}\n",
                             "step 'a': parameter rws is not declared by a.ipynb "
                             "(declared: rows)", "add it there"),
    "same-name": ("steps:\n  - {name: a, notebook: a.ipynb}\n  - {name: a, notebook: b.ipynb}\n",
                  "pipeline.yaml: two steps are named 'a'", "a name of its own"),
    "unknown-need": ("steps:\n  - {name: a, notebook: a.ipynb}\n"
                     "  - {name: b, notebook: b.ipynb, needs: [aa]}\n",
                     "step 'b' needs 'aa', which is no step of the pipeline",
                     "did you mean a?"),
    "needs-itself": ("steps:\n  - {name: a, notebook: a.ipynb, needs: [a]}\n",
                     "step 'a' needs itself", "remove a from its needs"),
    "cycle": ("steps:\n  - {name: a, notebook: a.ipynb, needs: [c]}\n"
              "  - {name: b, notebook: b.ipynb, needs: [a]}\n"
              "  - {name: c, notebook: c.ipynb, needs: [b]}\n",
              "pipeline.yaml: the steps' needs form a cycle: 'a' needs 'c' needs 'b' needs 'a'",
              "remove one of these needs"),
    "input-not-upstream": ("steps:\n  - {name: a, notebook: a.ipynb, outputs: [x.csv]}\n"
                           "  - {name: b, notebook: b.ipynb, inputs: [a/x.csv]}\n",
                           "step 'b' reads a/x.csv, but 'a' is not a step it needs",
                           "add a to the needs of b"),
    "input-never-written": ("steps:\n  - {name: a, notebook: a.ipynb, outputs: [x.csv]}\n"
                            "  - {name: b, notebook: b.ipynb, needs: [a], inputs: [a/y.csv]}\n",
                            "step 'b' reads a/y.csv, a file no earlier step writes ('a' "
                            "declares outputs: x.csv)", "add y.csv to the outputs of a"),
    "input-no-step": ("steps:\n  - {name: a, notebook: a.ipynb, inputs: [z/x.csv]}\n",
                      "step 'a' reads z/x.csv, but there is no step 'z'", "the steps are: a"),
    "input-form": ("steps:\n  - {name: a, notebook: a.ipynb, inputs: [x.csv]}\n",
                   "step 'a': 'inputs[0]' cannot be 'x.csv'", "each STEP/PATH"),
    "step-not-a-mapping": ("steps: [prepare]\n",
                           "pipeline.yaml: step 1: the step must be a mapping, not 'prepare'",
                           "a step is a mapping with name: and notebook:"),
    "gpus": ("steps:\n  - {name: a, notebook: a.ipynb, gpus: lots}\n",
             "step 'a': gpus 'lots' is not understood", "e.g. gpus: all"),
    "output-outside": ("steps:\n  - {name: a, notebook: a.ipynb, outputs: [../x.csv]}\n",
                       "step 'a': output '../x.csv' is not a path inside the notebook's folder",
                       "without .."),
}


@pytest.mark.hostile
@pytest.mark.parametrize("case", sorted(BAD))
def test_each_mistake_is_one_line_with_its_fix(case: str, folder: Path) -> None:
    text, message, hint = BAD[case]
    with pytest.raises(PipelineError) as exc:
        spec.load(_write(folder, text))
    assert message in exc.value.message, exc.value.message
    assert hint in exc.value.hint, exc.value.hint
    assert "\n" not in exc.value.one_line()


@pytest.mark.hostile
@pytest.mark.parametrize("case", ["cycle", "input-never-written", "timeout-type"])
def test_the_cli_says_it_in_one_line_and_starts_nothing(
        case: str, folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    text, message, hint = BAD[case]
    data = tmp_path / "data"
    monkeypatch.setenv("JUPYTER_CONTAINERIZE_DATA_DIR", str(data))
    code = main(["pipeline", "run", str(_write(folder, text))])
    err = capsys.readouterr().err
    assert code == 2
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and message in lines[0] and hint in lines[0], err
    assert "Traceback" not in err
    assert not (data / "jobs.sqlite").exists()  # no store, no job, no build


@pytest.mark.hostile
def test_a_missing_file_and_a_bad_concurrency_are_one_line(
        folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTER_CONTAINERIZE_DATA_DIR", str(tmp_path / "data"))
    assert main(["pipeline", "run", str(folder / "nope.yaml")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: pipeline file ") and "nope.yaml does not exist" in err
    assert main(["pipeline", "run", str(_write(folder, GOOD)), "--concurrency", "65"]) == 2
    err = capsys.readouterr().err
    assert "error: --concurrency 65 is not a number of steps at once" in err
    assert "from 1 to 64" in err and not (tmp_path / "data" / "jobs.sqlite").exists()


def _record(store: object, pipe: spec.Pipeline, steps: dict[str, dict[str, object]],
            kind: str = "pipeline", file: str | None = None) -> str:
    from jupyter_containerize.core.jobs.store import JobStore

    assert isinstance(store, JobStore)
    job = store.create(kind, notebook=file or str(pipe.file))
    store.update(job.id, status="failed", result={"steps": steps})
    return job.id


def test_resume_reuses_what_succeeded_and_still_has_its_files(folder: Path,
                                                              tmp_path: Path) -> None:
    from jupyter_containerize.core.jobs.store import JobStore
    from jupyter_containerize.core.pipeline.runner import _previous

    pipe = spec.load(_write(folder, GOOD))
    store = JobStore(tmp_path / "jobs.sqlite")
    arts = tmp_path / "a-artifacts"
    (arts / "out").mkdir(parents=True)
    (arts / "out" / "one.csv").write_text("x\n")
    ok = {"status": "succeeded", "run": "r1", "artifacts_dir": str(arts)}
    run_id = _record(store, pipe, {"a": ok, "b": {"status": "failed", "run": "r2"},
                                   "c": {"status": "succeeded", "run": "r3"}})
    kept = _previous(store, run_id, pipe)
    # c succeeded before, but b above it runs again: so does c
    assert list(kept) == ["a"] and kept["a"]["reused"] and kept["a"]["run"] == "r1"
    (arts / "out" / "one.csv").unlink()  # pruned: a runs again
    assert _previous(store, run_id, pipe) == {}


@pytest.mark.hostile
def test_resume_refuses_what_is_not_this_pipelines_run(folder: Path, tmp_path: Path) -> None:
    from jupyter_containerize.core.jobs.store import JobStore
    from jupyter_containerize.core.pipeline.runner import _previous

    pipe = spec.load(_write(folder, GOOD))
    store = JobStore(tmp_path / "jobs.sqlite")
    cases = {
        "nope": ("--resume nope: there is no such pipeline run", "the id on the last line"),
        _record(store, pipe, {}, kind="run"): ("is a run job, not a pipeline run",
                                               "the id on the last line"),
        _record(store, pipe, {}, file="/elsewhere/p.yaml"): (
            "ran /elsewhere/p.yaml, not", "pipeline run /elsewhere/p.yaml --resume"),
    }
    for run_id, (message, hint) in cases.items():
        with pytest.raises(PipelineError) as exc:
            _previous(store, run_id, pipe)
        assert message in exc.value.message and hint in exc.value.hint
