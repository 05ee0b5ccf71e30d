"""The benchmarks' shared helpers: the table, the results JSON, timed commands, wrk parsing.

The benchmarks themselves run by hand (`--quick` for a short run); these check what every one
of them prints and writes.
"""

from __future__ import annotations

import json
import shutil
import sys
import urllib.request
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import common  # noqa: E402
import push  # noqa: E402
import report  # noqa: E402
from serving_parts import load as serving_load  # noqa: E402


def _table() -> common.Table:
    t = common.Table("serving")
    t.add("1 row, c16: req/s", 900.0, 300.0, ">= 3x", True)
    t.add("image size", 400.0, 1000.0, "<= 0.5x", True, "MB")
    t.add("in-process predict", 4.4, None, "", None, "ms")
    return t


def test_table_has_measure_ours_baseline_ratio_target() -> None:
    lines = _table().lines()
    assert lines[0].split("|")[1:6] == [" measure ", " ours ", " baseline ", " ratio ", " target "]
    assert "| 1 row, c16: req/s | 900.00 | 300.00 | 3.00x | >= 3x | yes |" in lines
    assert "| image size | 400.00 MB | 1000.00 MB | 0.40x | <= 0.5x | yes |" in lines
    assert "| in-process predict | 4.40 ms | - | - |  | - |" in lines


def test_results_json_has_rows_commit_and_machine(tmp_path: Path) -> None:
    facts = common.machine_facts()
    assert {"cpus", "memory_bytes", "kernel", "docker", "commit"} <= set(facts)
    path = common.write_results("serving", _table(), facts, quick=False,
                                extra={"details": {"x": 1}}, results_dir=tmp_path)
    assert path == tmp_path / "serving.json"
    data = json.loads(path.read_text())
    assert data["benchmark"] == "serving" and data["quick"] is False
    assert data["machine"]["cpus"] == facts["cpus"]
    assert data["rows"][0] == {"measure": "1 row, c16: req/s", "ours": 900.0, "baseline": 300.0,
                               "ratio": 3.0, "target": ">= 3x", "met": True, "unit": ""}
    assert data["rows"][2]["ratio"] is None
    assert data["details"] == {"x": 1}
    quick = common.write_results("serving", _table(), facts, quick=True, results_dir=tmp_path)
    assert quick.name == "serving.quick.json"


def test_run_times_a_subprocess_and_check_reports_failures() -> None:
    done = common.run([sys.executable, "-c", "print('hi')"])
    assert done.returncode == 0 and done.stdout.strip() == "hi" and done.seconds > 0
    failed = common.run([sys.executable, "-c", "import sys; sys.exit('broken')"])
    with pytest.raises(RuntimeError, match="broken"):
        failed.check()
    assert common.median([3.0, 1.0, 2.0]) == 2.0 and common.median([1.0, 2.0]) == 1.5


WRK = """Running 3s test @ http://127.0.0.1:4000/invocations
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    12.10ms    3.20ms  40.00ms   80.00%
  Latency Distribution
     50%   11.50ms
     75%   13.00ms
     90%  890.00us
     99%    1.20s
  2400 requests in 3.00s, 400.00KB read
  Socket errors: connect 0, read 1, write 0, timeout 2
  Non-2xx or 3xx responses: 4
Requests/sec:    799.50
Transfer/sec:    133.00KB
"""


def test_wrk_output_is_parsed() -> None:
    point = serving_load.parse_wrk(WRK)
    assert point == {"rps": 799.5, "p50_ms": 11.5, "p90_ms": 0.89, "p99_ms": 1200.0,
                     "requests": 2400, "errors": 7}


def test_report_prints_each_table_with_its_notes(tmp_path: Path) -> None:
    common.write_results("push", _table(), common.machine_facts(), quick=False,
                         extra={"notes": ["ours sends uncompressed layers"]},
                         results_dir=tmp_path)
    common.write_results("push", _table(), common.machine_facts(), quick=True,
                         extra={"notes": ["quick, not shown"]}, results_dir=tmp_path)
    text = report.section(tmp_path)
    assert text.startswith("**push** (")
    assert "| 1 row, c16: req/s | 900.00 | 300.00 | 3.00x | >= 3x | yes |" in text
    assert text.endswith("\n\n- ours sends uncompressed layers")
    assert "quick, not shown" not in text


def test_push_benchmark_names_tags_and_new_layers() -> None:
    assert push.tag_of("jupyter-containerize/bench-push:abc123") == "abc123"
    assert push.tag_of("127.0.0.1:5000/team/model") == "latest"
    manifest = {"layers": [{"digest": "sha256:a", "size": 10}, {"digest": "sha256:b", "size": 5}]}
    assert push.layer_bytes(manifest) == {"sha256:a": 10, "sha256:b": 5}


@pytest.mark.skipif(shutil.which("docker-registry") is None,
                    reason="docker-registry is not installed (scripts/services.sh installs it)")
def test_push_benchmark_starts_and_stops_a_fresh_registry(tmp_path: Path) -> None:
    reg = push.Registry(tmp_path / "reg")
    try:
        with urllib.request.urlopen(f"http://{reg.host}/v2/", timeout=5) as resp:
            assert resp.status == 200  # no auth
        assert reg.stored() == 0
    finally:
        reg.stop()
    assert reg.proc.poll() is not None
