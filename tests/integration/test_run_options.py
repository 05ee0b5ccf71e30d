"""`run` with careless options: one line that names the accepted forms, exit 2, before the
job store, a build or the engine is touched (so these need no engine: the engine address is
pointed at nothing to prove it)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import cli, notebook

from jupyter_containerize.core.run import options as runoptions

NO_ENGINE = "unix:///nonexistent/engine.sock"
MEMORY_FORMS = "use bytes, or a number with b, k, m or g, e.g. 512m, 2g, 1.5g, 1073741824"
TIMEOUT = "--timeout must be a positive number of seconds"
CPUS = "--cpus must be a number of CPUs of at least 0.01"
NAME = "a parameter name must be a Python identifier"

BAD = [
    (["--timeout", "0"], TIMEOUT, "e.g. --timeout 600"),
    (["--timeout", "-5"], TIMEOUT, "e.g. --timeout 600"),
    (["--timeout", "-0.5"], TIMEOUT, "e.g. --timeout 600"),
    (["--timeout", "soon"], TIMEOUT, "e.g. --timeout 600"),
    (["--timeout", "nan"], TIMEOUT, "e.g. --timeout 600"),
    (["--timeout", "inf"], TIMEOUT, "e.g. --timeout 600"),
    (["--timeout", ""], TIMEOUT, "e.g. --timeout 600"),
    (["--memory", "lots"], "--memory 'lots' is not an amount of memory", MEMORY_FORMS),
    (["--memory=-1g"], "is not an amount of memory", MEMORY_FORMS),
    (["--memory", "1.5"], "is not an amount of memory", MEMORY_FORMS),
    (["--memory", "12x"], "is not an amount of memory", MEMORY_FORMS),
    (["--memory", "1e9"], "is not an amount of memory", MEMORY_FORMS),
    (["--memory", "0"], "below the engine's minimum of 6m", "at least 6m"),
    (["--memory", "5m"], "below the engine's minimum of 6m", "at least 6m"),
    (["--memory", "99999999999999t"], "is too large", "e.g. 512m"),
    (["--cpus", "lots"], CPUS, "e.g. --cpus 0.5"),
    (["--cpus", "0"], CPUS, "e.g. --cpus 0.5"),
    (["--cpus", "-2"], CPUS, "e.g. --cpus 0.5"),
    (["--cpus", "0.001"], CPUS, "e.g. --cpus 0.5"),
    (["--cpus", "inf"], CPUS, "e.g. --cpus 0.5"),
    (["-p", "1x", "2"], f"-p '1x': {NAME}", "e.g. -p learning_rate 0.1"),
    (["-p", "learning-rate", "0.1"], NAME, "not a keyword"),
    (["-p", "class", "1"], NAME, "not a keyword"),
    (["-p", "", "1"], NAME, "e.g. -p learning_rate 0.1"),
    (["-p", "a b", "1"], NAME, "e.g. -p learning_rate 0.1"),
    (["-p", "seed", "1", "-p", "seed", "2"], "-p seed is given twice", "give each parameter once"),
]


@pytest.fixture
def nb(tmp_path: Path) -> Path:
    return notebook(tmp_path / "project" / "small.ipynb", "print('hello')")


@pytest.mark.hostile
@pytest.mark.parametrize(("options", "message", "fix"), BAD,
                         ids=[" ".join(o) or "empty" for o, _, _ in BAD])
def test_bad_option_is_one_line_before_anything_starts(
        options: list[str], message: str, fix: str, nb: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    proc = cli("run", str(nb), *options, timeout=120,
               env={"JUPYTER_CONTAINERIZE_DATA_DIR": str(data), "DOCKER_HOST": NO_ENGINE})
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ") and message in lines[0] and fix in lines[0], lines[0]
    assert proc.stdout == ""
    assert not data.exists(), "no job store, no run folder for a run that never started"
    assert sorted(p.name for p in nb.parent.iterdir()) == ["small.ipynb"], "nothing written"


@pytest.mark.hostile
def test_a_value_that_is_not_text_is_refused() -> None:
    """A ``-p`` value from a command line in another encoding (undecodable bytes)."""
    with pytest.raises(runoptions.RunOptionError, match="not valid UTF-8 text"):
        runoptions.parameter_pairs([("name", "caf\udce9")])


@pytest.mark.hostile
def test_parameters_from_the_api_that_cannot_be_passed_are_refused() -> None:
    with pytest.raises(runoptions.RunOptionError, match="cannot be passed to the notebook"):
        runoptions.check(parameters={"model": object()})
    with pytest.raises(runoptions.RunOptionError, match="Python identifier"):
        runoptions.check(parameters={"2fast": 1})


@pytest.mark.parametrize(("text", "amount"), [
    ("512m", 512 * 2**20), ("2g", 2 * 2**30), ("1.5g", int(1.5 * 2**30)),
    ("1073741824", 2**30), ("40M", 40 * 2**20), ("512mb", 512 * 2**20),
    ("1GiB", 2**30), ("8192k", 8 * 2**20), (" 64 m ", 64 * 2**20),
])
def test_memory_in_the_engine_forms(text: str, amount: int) -> None:
    assert runoptions.parse_memory(text) == amount


def test_good_options_pass() -> None:
    checked = runoptions.check(timeout="12.5", cpus="0.5", memory="40m",
                               parameters={"seed": 1, "label": "x"})
    assert (checked.timeout, checked.cpus, checked.memory) == (12.5, 0.5, 40 * 2**20)
