"""The serving runtime, as a real server in a subprocess on 127.0.0.1 (no Docker)."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pytest

pytest.importorskip("uvicorn")
joblib = pytest.importorskip("joblib")
pytest.importorskip("sklearn")

from sklearn.datasets import make_classification  # noqa: E402
from sklearn.ensemble import RandomForestClassifier  # noqa: E402

from jupyter_containerize.serving import RUNTIME_REQUIREMENTS  # noqa: E402
from jupyter_containerize.serving.batching import MicroBatcher  # noqa: E402
from jupyter_containerize.serving.inputs import from_array  # noqa: E402
from jupyter_containerize.serving.server import listen_sockets, uvicorn_config  # noqa: E402
from jupyter_containerize.serving.settings import Settings  # noqa: E402

N_FEATURES = 20
ROOT = Path(__file__).resolve().parents[2]
ADMIN_TOKEN = "admin-s3cret"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """A serving runtime process and a keep-alive client for it."""

    def __init__(self, model_path: Path, **env: str) -> None:
        self.port = free_port()
        full_env = {
            **os.environ,
            "MODEL_PATH": str(model_path),
            "SERVING_HOST": "127.0.0.1",
            "SERVING_PORT": str(self.port),
            "SERVING_ACCESS_LOG": "0",
            **env,
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jupyter_containerize.serving", "serve"],
            cwd=ROOT,
            env=full_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def wait(self, path: str = "/ping", timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(self.proc.stderr.read().decode())  # type: ignore[union-attr]
            try:
                if self.request("GET", path)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"server did not answer {path}")

    def request(
        self, method: str, path: str, body: Any = None, headers: Optional[dict[str, str]] = None
    ) -> tuple[int, bytes, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            if body is not None and not isinstance(body, (bytes, str)):
                body = json.dumps(body)
                headers = {"Content-Type": "application/json", **(headers or {})}
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, response.read(), response
        finally:
            conn.close()

    def json(self, method: str, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
        status, raw, _ = self.request(method, path, body, **kw)
        return status, json.loads(raw)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def train(path: Path, n_estimators: int = 20, seed: int = 0) -> np.ndarray:
    X, y = make_classification(n_samples=400, n_features=N_FEATURES, random_state=0)
    model = RandomForestClassifier(n_estimators=n_estimators, random_state=seed).fit(X, y)
    joblib.dump(model, path)
    return X


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("serving")


@pytest.fixture(scope="module")
def rows(workdir: Path) -> np.ndarray:
    return train(workdir / "rf.joblib")


@pytest.fixture(scope="module")
def server(workdir: Path, rows: np.ndarray) -> Iterator[Server]:
    srv = Server(
        workdir / "rf.joblib", MAX_REQUEST_BYTES=str(1 << 20), SERVING_ADMIN_TOKEN=ADMIN_TOKEN
    )
    srv.wait()
    yield srv
    srv.stop()


def metric(text: str, name: str) -> float:
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    assert found, f"{name} not in metrics"
    return float(found.group(1))


def test_runtime_requirements_are_exact_pins() -> None:
    assert any(r.startswith("uvicorn==") for r in RUNTIME_REQUIREMENTS)
    assert all("==" in r for r in RUNTIME_REQUIREMENTS)


def test_health_and_metadata(server: Server) -> None:
    for path in ("/ping", "/v2/health/live", "/v2/health/ready", "/v2/models/rf/ready"):
        assert server.request("GET", path)[0] == 200, path
    status, meta = server.json("GET", "/v2")
    assert status == 200 and "binary_tensor_data" in meta["extensions"]
    status, meta = server.json("GET", "/v2/models/rf")
    assert meta["name"] == "rf" and meta["platform"] == "sklearn"
    assert meta["inputs"][0] == {"name": "input-0", "datatype": "FP64", "shape": [-1, 20]}
    assert {o["name"] for o in meta["outputs"]} == {"predict", "predict_proba"}


def test_sagemaker_json_shapes(server: Server, rows: np.ndarray) -> None:
    two = rows[:2].tolist()
    cols = [f"f{i}" for i in range(N_FEATURES)]
    bodies = [
        {"instances": two},
        {"inputs": two},
        two,
        {"dataframe_split": {"columns": cols, "data": two}},
        {"dataframe_records": [dict(zip(cols, r)) for r in two]},
    ]
    answers = [server.json("POST", "/invocations", body) for body in bodies]
    assert all(status == 200 for status, _ in answers), answers
    assert len({json.dumps(a) for _, a in answers}) == 1
    assert len(answers[0][1]["predictions"]) == 2
    status, proba = server.json("POST", "/invocations?method=predict_proba", {"instances": two})
    assert status == 200 and np.allclose(np.sum(proba["predictions"], axis=1), 1.0)


def test_sagemaker_runtime_path_names_the_model(server: Server, rows: np.ndarray) -> None:
    """/endpoints/NAME/invocations (the SageMaker runtime API's path) reaches model NAME."""
    two = {"instances": rows[:2].tolist()}
    direct = server.json("POST", "/invocations", two)
    assert server.json("POST", "/endpoints/rf/invocations", two) == direct
    status, answer = server.json("POST", "/endpoints/other/invocations", two)
    assert status == 404 and "unknown model 'other'" in answer["error"]
    status, _ = server.json("GET", "/endpoints/rf/invocations")
    assert status == 405


def test_sagemaker_csv(server: Server, rows: np.ndarray) -> None:
    csv_body = "\n".join(",".join(map(repr, r)) for r in rows[:3].tolist())
    status, raw, _ = server.request("POST", "/invocations", csv_body, {"Content-Type": "text/csv"})
    assert status == 200 and len(json.loads(raw)["predictions"]) == 3
    accept = {"Content-Type": "text/csv", "Accept": "text/csv"}
    status, raw, _ = server.request("POST", "/invocations", csv_body, accept)
    assert status == 200 and len(raw.decode().split()) == 3


def test_v2_json_infer(server: Server, rows: np.ndarray) -> None:
    body = {
        "id": "a1",
        "inputs": [{"name": "x", "shape": [2, 20], "datatype": "FP32", "data": rows[:2].tolist()}],
        "outputs": [{"name": "predict"}, {"name": "predict_proba"}],
    }
    status, answer = server.json("POST", "/v2/models/rf/infer", body)
    assert status == 200 and answer["id"] == "a1" and answer["model_name"] == "rf"
    by_name = {o["name"]: o for o in answer["outputs"]}
    assert by_name["predict"]["shape"] == [2] and by_name["predict"]["datatype"] == "INT64"
    assert (
        by_name["predict_proba"]["shape"] == [2, 2] and len(by_name["predict_proba"]["data"]) == 4
    )


def test_v2_tritonclient_binary_round_trip(server: Server, rows: np.ndarray) -> None:
    httpclient = pytest.importorskip("tritonclient.http")
    client = httpclient.InferenceServerClient(f"127.0.0.1:{server.port}")
    assert client.is_server_live() and client.is_model_ready("rf")
    tensor = httpclient.InferInput("input-0", [5, N_FEATURES], "FP64")
    tensor.set_data_from_numpy(rows[:5])
    result = client.infer("rf", [tensor])
    assert result.get_output("predict")["parameters"]["binary_data_size"] == 40
    status, expected = server.json("POST", "/invocations", rows[:5].tolist())
    assert result.as_numpy("predict").tolist() == expected["predictions"]
    wanted = [httpclient.InferRequestedOutput("predict_proba", binary_data=True)]
    proba = client.infer("rf", [tensor], outputs=wanted).as_numpy("predict_proba")
    assert proba.shape == (5, 2)
    client.close()


@pytest.mark.parametrize(
    ("path", "body", "headers", "status", "message"),
    [
        (
            "/invocations",
            "[[1, 2, 3, 4]]",
            {"Content-Type": "application/json"},
            400,
            "expected 20 features per row, got 4",
        ),
        ("/invocations", "{not json", {"Content-Type": "application/json"}, 400, "malformed JSON"),
        (
            "/invocations",
            "x=1",
            {"Content-Type": "application/x-www-form-urlencoded"},
            415,
            "application/json or text/csv",
        ),
        ("/invocations", '{"rows": []}', {"Content-Type": "application/json"}, 400, '"instances"'),
        ("/invocations", "1,2\n3", {"Content-Type": "text/csv"}, 400, "same number"),
        ("/v2/models/nope/infer", "{}", {}, 404, "unknown model 'nope'"),
        (
            "/v2/models/rf/infer",
            '{"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP64", "data": [1, 2]}]}',
            {},
            400,
            "needs 3 values, got 2",
        ),
        (
            "/v2/models/rf/infer",
            '{"inputs": [{"name": "x", "shape": [1], "datatype": "F64", "data": [1]}]}',
            {},
            400,
            "datatype must be one of",
        ),
        ("/v2/repository/models/rf/load", '{"parameters": {}}', ADMIN, 400, "parameters"),
        (
            "/v2/repository/models/rf/load",
            '{"parameters": {"path": "nonexistent/m.pkl"}}',
            ADMIN,
            400,
            "no model at",
        ),
    ],
)
def test_bad_requests(
    server: Server, path: str, body: str, headers: dict[str, str], status: int, message: str
) -> None:
    got, raw, _ = server.request("POST", path, body, headers)
    assert got == status, raw
    assert message in json.loads(raw)["error"]
    assert server.request("GET", "/ping")[0] == 200


def _raw_exchange(port: int, head: bytes, parts: list[bytes]) -> tuple[int, dict[str, Any]]:
    """Send a request part by part, stopping when the server has answered, as clients should."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        for part in parts:
            try:
                sock.sendall(part)
            except OSError:
                break
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, json.loads(response.read())


def test_body_limits(server: Server) -> None:
    declared = (
        b"POST /invocations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 5000000\r\n\r\n"
    )
    status, answer = _raw_exchange(server.port, declared, [b"[[1"])
    assert status == 413 and "MAX_REQUEST_BYTES" in answer["error"]
    chunked = (
        b"POST /invocations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"1," * 150_000
    parts = [f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"] * 8
    status, answer = _raw_exchange(server.port, chunked, parts)
    assert status == 413 and "over the limit" in answer["error"]
    assert server.request("GET", "/ping")[0] == 200


def test_unknown_route_and_method(server: Server) -> None:
    assert server.request("GET", "/nowhere")[0] == 404
    assert server.request("GET", "/invocations")[0] == 405


def test_metrics(server: Server, rows: np.ndarray) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    server.json("POST", "/invocations", rows[:1].tolist())
    status, raw, response = server.request("GET", "/metrics")
    text = raw.decode()
    assert status == 200 and response.getheader("Content-Type").startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    key = (("method", "POST"), ("route", "/invocations"), ("status", "200"))
    assert samples[("serving_requests_total", key)] >= 1
    route = (("route", "/invocations"),)
    assert samples[("serving_request_duration_seconds_count", route)] >= 1
    bounds = [dict(k)["le"] for n, k in samples if n == "serving_request_duration_seconds_bucket"
              and dict(k)["route"] == "/invocations"]
    assert bounds[:3] == ["0.0005", "0.001", "0.0025"] and bounds[-3:] == ["5", "10", "+Inf"]
    assert samples[("serving_errors_total", (("kind", "client"),))] >= 0
    assert samples[("serving_errors_total", (("kind", "server"),))] >= 0
    assert samples[("serving_batch_requests_count", ())] >= 1
    info = [dict(k) for n, k in samples if n == "serving_model_info"]
    assert [(i["name"], i["flavor"]) for i in info] == [("rf", "joblib")]
    assert len(info[0]["sha256"]) == 64


def _load(server: Server, rows: list[list[float]], count: int, failures: list[str]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    body = json.dumps({"instances": rows})
    for _ in range(count):
        try:
            conn.request("POST", "/invocations", body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            data = response.read()
            if response.status != 200 or len(json.loads(data)["predictions"]) != len(rows):
                failures.append(f"{response.status} {data[:200]!r}")
        except Exception as exc:  # every failure counts, whatever it is
            failures.append(repr(exc))
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.close()


SLOW_PREDICT = """
import time

def load(model_dir):
    return None

def predict(model, inputs):
    time.sleep(0.05)
    return [sum(row) for row in inputs]
"""


def test_micro_batching_merges_concurrent_requests(workdir: Path, rows: np.ndarray) -> None:
    # a model slow enough that requests arriving while it predicts must queue: merging is
    # then what the batcher does, however loaded the machine is
    model = workdir / "slow"
    model.mkdir(exist_ok=True)
    (model / "predict.py").write_text(SLOW_PREDICT)
    slow = Server(model)
    try:
        slow.wait()
        failures: list[str] = []
        threads = [
            threading.Thread(target=_load, args=(slow, rows[i : i + 1].tolist(), 15, failures))
            for i in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert failures == []
        text = slow.request("GET", "/metrics")[1].decode()
    finally:
        slow.stop()
    single = metric(text, 'serving_batch_requests_bucket{le="1"}')
    calls = metric(text, "serving_batch_requests_count")
    assert metric(text, "serving_batch_requests_sum") == 8 * 15
    assert calls > single, "no batch merged requests"
    assert calls < 8 * 15 / 2, f"{calls:.0f} predict calls for 120 requests from 8 clients"


def test_swap_under_keep_alive_load_fails_nothing(
    server: Server, workdir: Path, rows: np.ndarray
) -> None:
    failures: list[str] = []
    threads = [
        threading.Thread(target=_load, args=(server, rows[i : i + 3].tolist(), 200, failures))
        for i in range(4)
    ]
    for thread in threads:
        thread.start()
    shas = []
    for i, trees in enumerate((5, 30)):
        path = workdir / f"rf-{i}.joblib"
        train(path, n_estimators=trees, seed=i + 1)
        status, answer = server.json(
            "POST",
            "/v2/repository/models/rf/load",
            {"parameters": {"path": str(path)}},
            headers=ADMIN,
        )
        assert status == 200, answer
        shas.append(answer["sha256"])
        time.sleep(0.2)
    for thread in threads:
        thread.join()
    assert failures == []
    assert server.json("GET", "/v2/models/rf")[1]["parameters"]["sha256"] == shas[-1]
    assert metric(server.request("GET", "/metrics")[1].decode(), "serving_model_swaps_total") == 2


def test_token_auth(workdir: Path, rows: np.ndarray) -> None:
    srv = Server(workdir / "rf.joblib", SERVING_TOKEN="s3cret")
    try:
        srv.wait()
        assert srv.request("GET", "/v2/health/ready")[0] == 200
        status, raw, response = srv.request("POST", "/invocations", rows[:1].tolist())
        assert status == 401 and "Bearer" in json.loads(raw)["error"]
        bad = {"Authorization": "Bearer wrong"}
        assert srv.request("POST", "/v2/models/rf/infer", "{}", bad)[0] == 401
        good = {"Authorization": "Bearer s3cret"}
        assert srv.request("POST", "/invocations", rows[:1].tolist(), good)[0] == 200
    finally:
        srv.stop()


def test_nodelay_is_set_on_the_servers_accepted_connections() -> None:
    """The server as serve() configures it, on a real socket: the connection it accepted
    sends small responses at once (TCP_NODELAY, which asyncio sets on TCP transports)."""
    import uvicorn

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})

    settings = Settings(host="127.0.0.1", port=0)
    config = uvicorn_config(settings)
    config.app = app
    config.lifespan = "off"
    server = uvicorn.Server(config)
    [listener] = listen_sockets(settings)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        conn = http.client.HTTPConnection(*listener.getsockname(), timeout=10)
        conn.request("GET", "/")
        response = conn.getresponse()
        assert response.status == 200 and response.read() == b"ok"
        accepted = [c.transport.get_extra_info("socket") for c in server.server_state.connections]
        assert accepted, "the server holds no connection"
        assert all(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for s in accepted)
        conn.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listener.close()


class _Recorder:
    class adapter:  # noqa: N801 - stands in for a model's adapter
        batchable = True

    def __init__(self) -> None:
        self.batches: list[int] = []

    def predict(self, data: np.ndarray, method: str) -> np.ndarray:
        self.batches.append(len(data))
        time.sleep(0.01)
        return data[:, 0]


def test_batcher_limits_rows_but_admits_a_large_request() -> None:
    async def run() -> list[int]:
        model = _Recorder()
        batcher = MicroBatcher(max_rows=256, max_wait_ms=2)
        sizes = (300, 100, 100, 100, 1)
        jobs = [batcher.predict(model, "predict", from_array(np.ones((n, 2)))) for n in sizes]
        results = await asyncio.gather(*jobs)
        assert [len(r) for r in results] == list(sizes)
        batcher.close()
        return model.batches

    batches = asyncio.run(run())
    assert batches[0] == 300 and max(batches[1:]) <= 256 and sum(batches) == 601
    assert len(batches) < 5


def test_batcher_runs_a_lone_request_at_once() -> None:
    async def run() -> float:
        batcher = MicroBatcher(max_rows=256, max_wait_ms=500)
        started = time.perf_counter()
        await batcher.predict(_Recorder(), "predict", from_array(np.ones((1, 2))))
        batcher.close()
        return time.perf_counter() - started

    assert asyncio.run(run()) < 0.2
