"""The one text the CLI, the magic and the panel show for progress events and for what a verb
returns (build, freeze, run, serve, runs, deployments)."""

from __future__ import annotations

from jupyter_containerize.core.models import BuildResult, Deployment, Job, RunRecord, image_row
from jupyter_containerize.core.progress import Event, event_text, freeze_summary


def test_events_as_lines() -> None:
    assert event_text(Event("phase", "resolve", phase="resolve")) == ("==> resolve", "\n")
    assert event_text(Event("log", "pip says hi\n")) == ("  pip says hi", "\n")
    moving = event_text(Event("progress", phase="layers", current=3, total=10))
    assert moving == ("  [#########---------------------] 3/10 layers", "\r")
    assert event_text(Event("progress", phase="layers", current=10, total=10))[1] == "\n"
    assert event_text(Event("progress", phase="layers", current=3, total=10), bars=False) is None
    assert event_text(Event("log", "Executing Cell 3---------")) is None
    assert event_text(Event("log", "   ")) is None


def test_freeze_and_build_summaries() -> None:
    lock = {"python": {"version": "3.11.7"}, "packages": [{}, {}], "mode": "imported",
            "warnings": ["w1"], "mapped": ["m1"]}
    assert freeze_summary(lock) == ["Python 3.11.7, 2 distributions (imported lock)",
                                    "  warning: w1", "  warning: m1"]
    built = BuildResult(reference="r", builder="layers", python="3.11.7",
                        timings={"resolve": 1.25, "layers": 3.0}, warnings=["slow"])
    assert built.summary() == ["built (layers): Python 3.11.7; resolve 1.2s, layers 3.0s",
                               "  warning: slow"]
    assert BuildResult(reference="r", cached=True, python="3.11.7").summary()[0] == (
        "reused: Python 3.11.7; ")


def test_run_serve_and_listing_lines() -> None:
    record = RunRecord(id="r1", notebook="n", image="i", status="failed", duration=2.0,
                       output="o.ipynb", error={"message": "boom"},
                       artifacts=[{"path": "m.joblib", "size": 3, "sha256": "ab" * 32}])
    assert record.summary().splitlines() == [
        "run r1: failed in 2.0s", "  notebook:  o.ipynb",
        f"  artifact:  m.joblib (3 bytes, sha256 {'ab' * 6})", "  error:     boom"]
    assert "error" not in record.summary(with_error=False)
    dep = Deployment(name="clf", image="img", url="http://127.0.0.1:9000", status="running",
                     model_sha256="c" * 64)
    assert dep.summary() == [f"deployment clf: running, model sha256 {'c' * 12}",
                             "  image: img", "http://127.0.0.1:9000"]
    assert dep.row().split() == ["clf", "running", "c" * 12, "http://127.0.0.1:9000", "img"]
    assert Deployment.HEADER.split()[0] == "NAME" and dep.failed_checks() == []
    job = Job(id="j1", kind="run", status="succeeded", created="2026-01-01T00:00:00",
              notebook="a.ipynb", result={"reproduction": {"verdict": "reproduced"}})
    assert job.row().split() == ["j1", "succeeded", "2026-01-01T00:00:00", "a.ipynb",
                                 "reproduced"]
    row = {"reference": "h/x:1", "created": "2026-01-01T00:00:00Z", "size": 5e6,
           "python": "3.11", "author": "me", "notebook": None, "packages": ["a", "b"],
           "model": {}}
    assert image_row(row).split() == ["h/x:1", "2026-01-01T00:00:00", "5", "MB", "py", "3.11",
                                      "me", "-", "a,b"]
