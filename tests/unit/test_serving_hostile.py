"""The serving runtime against careless and hostile requests, as real server processes on
127.0.0.1 (no Docker): each case asserts the status, the one-line error, and that the
server's log holds no traceback for a client's mistake."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import pytest

pytest.importorskip("uvicorn")
joblib = pytest.importorskip("joblib")
pytest.importorskip("sklearn")

from sklearn.datasets import make_classification  # noqa: E402
from sklearn.ensemble import RandomForestClassifier  # noqa: E402

from jupyter_containerize.serving.security import HostCheck  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
N_FEATURES = 4
ADMIN_TOKEN = "admin-t0ken"
INFER_TOKEN = "infer-t0ken"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}
JSON = {"Content-Type": "application/json"}
SERVICE_NAMES = "model-svc,.svc.cluster.local"
DEEP = 5000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Runtime:
    """A serving runtime process whose stderr goes to a file the test reads at any time."""

    def __init__(self, model: Path, log: Path, **env: str) -> None:
        self.port = free_port()
        self.log_path = log
        full = {
            **os.environ,
            "MODEL_PATH": str(model),
            "SERVING_HOST": "127.0.0.1",
            "SERVING_PORT": str(self.port),
            **env,
        }
        for name in ("SERVING_ACCESS_LOG", "SERVING_TOKEN", "SERVING_ADMIN_TOKEN"):
            if name not in env:
                full.pop(name, None)  # the runtime's own defaults
        self._err = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jupyter_containerize.serving", "serve"],
            cwd=ROOT,
            env=full,
            stdout=subprocess.DEVNULL,
            stderr=self._err,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log()
            try:
                if self.request("GET", "/ping")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise TimeoutError(self.log())

    def request(
        self,
        method: str,
        path: str,
        body: Optional[bytes | str] = None,
        headers: Optional[dict[str, str]] = None,
    ) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._err.close()


def error_of(raw: bytes) -> str:
    answer = json.loads(raw)
    assert set(answer) == {"error"}, answer
    message = answer["error"]
    assert "\n" not in message and "Traceback" not in message
    return str(message)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The model store: the default model's directory, with a second model to load."""
    base = tmp_path_factory.mktemp("hostile")
    folder = base / "store"
    folder.mkdir()
    X, y = make_classification(n_samples=200, n_features=N_FEATURES, random_state=0)
    model = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)
    joblib.dump(model, folder / "rf.joblib")
    joblib.dump(model, folder / "second.joblib")
    outside = base / "outside"
    outside.mkdir()
    joblib.dump(model, outside / "elsewhere.joblib")
    (folder / "to-etc").symlink_to("/etc/passwd")
    (folder / "to-outside.joblib").symlink_to(outside / "elsewhere.joblib")
    linked = folder / "linked-dir"
    linked.mkdir()
    (linked / "model.joblib").symlink_to(outside / "elsewhere.joblib")
    return folder


@pytest.fixture(scope="module")
def runtime(store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    """An admin token, no inference token, two service names allowed."""
    log = tmp_path_factory.mktemp("logs") / "runtime.log"
    srv = Runtime(
        store / "rf.joblib",
        log,
        SERVING_ADMIN_TOKEN=ADMIN_TOKEN,
        SERVING_ALLOWED_HOSTS=SERVICE_NAMES,
    )
    srv.wait()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def guarded(store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    """An inference token and no admin token (the orchestrator gave none)."""
    log = tmp_path_factory.mktemp("logs") / "guarded.log"
    srv = Runtime(store / "rf.joblib", log, SERVING_TOKEN=INFER_TOKEN)
    srv.wait()
    yield srv
    srv.stop()


class LogWatch:
    """What a runtime logged during one case."""

    def __init__(self, srv: Runtime) -> None:
        self.srv = srv
        self.start = len(srv.log())

    def new(self) -> str:
        return self.srv.log()[self.start :]

    def assert_quiet(self) -> None:
        text = self.new()
        assert "Traceback" not in text and "RecursionError" not in text, text
        assert self.srv.proc.poll() is None, text


def nested(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


def v2(data: Any, shape: Any = None, datatype: Any = "FP64", **extra: Any) -> str:
    spec = {"name": "x", "shape": [1, N_FEATURES] if shape is None else shape,
            "datatype": datatype, "data": data, **extra}
    return json.dumps({"inputs": [spec]})


ROW = "[0.1, 0.2, 0.3, 0.4]"
INVOCATIONS = "/invocations"
INFER = "/v2/models/rf/infer"

BAD_BODIES = [
    # (id, path, body, content type, status, part of the one-line error)
    ("sm-nested-5000", INVOCATIONS, nested(DEEP), "application/json", 400, "too deeply"),
    ("sm-nested-instances", INVOCATIONS, '{"instances": ' + nested(DEEP) + "}",
     "application/json", 400, "too deeply"),
    ("sm-nested-500", INVOCATIONS, nested(500), "application/json", 400, "nest too deeply"),
    ("v2-nested-body", INFER, nested(DEEP), "application/json", 400, "too deeply"),
    ("v2-nested-data", INFER, v2("__DEEP__"), "application/json", 400, "too deeply"),
    ("v2-nested-data-100", INFER, v2(json.loads(nested(100))), "application/json", 400,
     "data is not FP64"),
    ("sm-huge-integer", INVOCATIONS, "[[" + "9" * 5000 + ", 1, 2, 3]]", "application/json", 400,
     "malformed JSON"),
    ("sm-infinity", INVOCATIONS, "[[1e400, 1, 2, 3]]", "application/json", 400, "infinity"),
    ("sm-string-numbers", INVOCATIONS, '[["a", "b", "c", "d"]]', "application/json", 400,
     "could not convert string to float"),
    ("sm-object-numbers", INVOCATIONS, '[[{"a": 1}, 1, 2, 3]]', "application/json", 400,
     "cannot predict"),
    ("v2-int64-overflow", INFER, v2([10**30, 1, 2, 3], datatype="INT64"), "application/json",
     400, "data is not INT64"),
    ("v2-string-data", INFER, v2(["a", "b", "c", "d"]), "application/json", 400,
     "data is not FP64"),
    ("v2-huge-shape", INFER, v2([1, 2, 3, 4], shape=[10**12, 10**12]), "application/json", 400,
     "needs 1000000000000000000000000 values"),
    ("v2-negative-shape", INFER, v2([1, 2, 3, 4], shape=[-1, 4]), "application/json", 400,
     "non-negative integers"),
    ("v2-bool-shape", INFER, v2([1, 2, 3, 4], shape=[True, 4]), "application/json", 400,
     "non-negative integers"),
    ("v2-binary-size-text", INFER, v2(None, parameters={"binary_data_size": "abc"}),
     "application/json", 400, "binary_data_size must be a byte count"),
    ("v2-parameters-list", INFER, v2([1, 2, 3, 4], parameters=[1]), "application/json", 400,
     "parameters must be an object"),
    ("v2-datatype-object", INFER, v2([1, 2, 3, 4], datatype={"x": 1}), "application/json",
     400, "datatype must be one of"),
    ("v2-no-inputs", INFER, '{"inputs": []}', "application/json", 400, '{"inputs"'),
    ("v2-wrong-width", INFER, v2([1, 2, 3], shape=[1, 3]), "application/json", 400,
     "expected 4 features per row, got 3"),
    ("sm-ragged", INVOCATIONS, "[[1, 2, 3, 4], [1, 2]]", "application/json", 400,
     "same number of values"),
    ("sm-wrong-width", INVOCATIONS, "[[1, 2]]", "application/json", 400,
     "expected 4 features per row, got 2"),
    ("sm-scalar", INVOCATIONS, '{"instances": 5}', "application/json", 400, "expected JSON"),
    ("sm-split-data-number", INVOCATIONS, '{"dataframe_split": {"data": 5}}',
     "application/json", 400, "cannot read the rows"),
    ("sm-split-columns-number", INVOCATIONS,
     '{"dataframe_split": {"columns": 5, "data": [[1, 2, 3, 4]]}}', "application/json", 400,
     "cannot read the rows"),
    ("sm-instances-dict-of-numbers", INVOCATIONS, '{"instances": {"a": 1, "b": 2}}',
     "application/json", 400, "cannot read the rows"),
    ("sm-empty-body", INVOCATIONS, "", "application/json", 400, "the request body is empty"),
    ("sm-blank-body", INVOCATIONS, "  \n ", "application/json", 400, "the request body is empty"),
    ("v2-empty-body", INFER, "", "application/json", 400, "the request body is empty"),
    ("sm-invalid-utf8", INVOCATIONS, b'[[1, 2, 3, "\xff\xfe"]]', "application/json", 400,
     "not valid UTF-8"),
    ("v2-invalid-utf8", INFER, b'{"inputs": [{"name": "\xc3\x28"}]}', "application/json", 400,
     "not valid UTF-8"),
    ("csv-invalid-utf8", INVOCATIONS, b"1,2,3,\xff\n", "text/csv", 400, "CSV body must be UTF-8"),
    ("sm-text-plain", INVOCATIONS, ROW, "text/plain", 415, "unsupported content type"),
    ("v2-text-plain", INFER, v2([1, 2, 3, 4]), "text/plain", 415, "unsupported content type"),
    ("v2-multipart", INFER, v2([1, 2, 3, 4]), "multipart/form-data", 415,
     "unsupported content type"),
    ("v2-form-urlencoded", INFER, v2([1, 2, 3, 4]), "application/x-www-form-urlencoded", 415,
     "-H 'Content-Type: application/json'"),
]


@pytest.mark.hostile
@pytest.mark.parametrize(
    ("path", "body", "media", "status", "message"),
    [pytest.param(*case[1:], id=case[0]) for case in BAD_BODIES],
)
def test_bad_body_is_a_one_line_4xx(
    runtime: Runtime, path: str, body: Any, media: str, status: int, message: str
) -> None:
    if body == v2("__DEEP__"):
        body = body.replace('"__DEEP__"', nested(DEEP))
    watch = LogWatch(runtime)
    got, raw = runtime.request("POST", path, body, {"Content-Type": media})
    assert got == status, raw
    assert message in error_of(raw)
    watch.assert_quiet()
    assert runtime.request("GET", "/ping")[0] == 200


@pytest.mark.hostile
def test_nan_is_passed_to_the_model_and_never_written(runtime: Runtime) -> None:
    """A random forest takes missing values: NaN rows are answered, with valid JSON."""
    watch = LogWatch(runtime)
    status, raw = runtime.request("POST", INVOCATIONS, "[[NaN, 1, 2, 3]]", JSON)
    assert status == 200 and len(json.loads(raw)["predictions"]) == 1
    status, raw = runtime.request("POST", INFER, v2([float("nan"), 1, 2, 3]), JSON)
    assert status == 200 and b"NaN" not in raw
    watch.assert_quiet()


def load(srv: Runtime, path: Any, headers: Optional[dict[str, str]] = None,
         name: str = "second") -> tuple[int, bytes]:
    body = json.dumps({"parameters": {"path": path}})
    return srv.request("POST", f"/v2/repository/models/{name}/load", body, headers)


@pytest.mark.hostile
@pytest.mark.parametrize(
    ("headers", "status", "message"),
    [
        pytest.param(JSON, 401, "Authorization: Bearer <admin token>", id="no-token"),
        pytest.param({**JSON, "Authorization": "Bearer wrong"}, 401, "admin token",
                     id="wrong-token"),
        pytest.param({**JSON, "Authorization": ADMIN_TOKEN}, 401, "admin token",
                     id="token-without-bearer"),
        pytest.param({**JSON, "X-Admin-Token": ADMIN_TOKEN}, 401, "Authorization: Bearer",
                     id="other-header"),
    ],
)
def test_load_refused_without_the_admin_token(
    runtime: Runtime, store: Path, headers: dict[str, str], status: int, message: str
) -> None:
    watch = LogWatch(runtime)
    got, raw = load(runtime, str(store / "second.joblib"), headers, name="unauthorized")
    assert got == status and message in error_of(raw)
    assert runtime.request("GET", "/v2/models/unauthorized")[0] == 404  # nothing was loaded
    watch.assert_quiet()


@pytest.mark.hostile
@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/v2/repository/index"), ("POST", "/v2/repository/models/rf/unload")],
)
def test_other_repository_routes_need_the_admin_token(
    runtime: Runtime, method: str, path: str
) -> None:
    got, raw = runtime.request(method, path, "{}", JSON)
    assert got == 401 and "admin token" in error_of(raw)


def test_load_with_the_admin_token(runtime: Runtime, store: Path) -> None:
    got, raw = load(runtime, str(store / "second.joblib"), ADMIN)
    assert got == 200 and json.loads(raw)["state"] == "READY"
    got, raw = load(runtime, "second.joblib", ADMIN, name="relative")
    assert got == 200, raw
    got, raw = runtime.request("POST", "/v2/repository/index", "", ADMIN)
    assert got == 200 and {"second", "relative", "rf"} <= {m["name"] for m in json.loads(raw)}


@pytest.mark.hostile
@pytest.mark.parametrize(
    ("headers", "status", "message"),
    [
        pytest.param({"Content-Type": "text/plain"}, 401, "admin token", id="cross-site-form"),
        pytest.param({"Content-Type": "text/plain", "Authorization": f"Bearer {ADMIN_TOKEN}"},
                     415, "application/json, not text/plain", id="text-plain-with-token"),
        pytest.param({"Authorization": f"Bearer {ADMIN_TOKEN}"}, 415,
                     "application/json, not none", id="no-content-type"),
        pytest.param({"Content-Type": "application/x-www-form-urlencoded",
                      "Authorization": f"Bearer {ADMIN_TOKEN}"}, 415,
                     "not application/x-www-form-urlencoded", id="form-urlencoded"),
    ],
)
def test_load_takes_only_json(
    runtime: Runtime, store: Path, headers: dict[str, str], status: int, message: str
) -> None:
    watch = LogWatch(runtime)
    got, raw = load(runtime, str(store / "second.joblib"), headers, name="crosssite")
    assert got == status and message in error_of(raw)
    assert runtime.request("GET", "/v2/models/crosssite")[0] == 404
    watch.assert_quiet()


@pytest.mark.hostile
@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        pytest.param("../../etc/passwd", 400, "may not contain '..'", id="dotdot"),
        pytest.param("__STORE__/../outside/elsewhere.joblib", 400, "may not contain '..'",
                     id="dotdot-inside-absolute"),
        pytest.param("/etc/passwd", 403, "outside the model store", id="absolute-elsewhere"),
        pytest.param("__OUTSIDE__", 403, "outside the model store", id="absolute-model-outside"),
        pytest.param("to-etc", 403, "outside the model store", id="symlink-to-etc"),
        pytest.param("to-outside.joblib", 403, "outside the model store",
                     id="symlink-to-model-outside"),
        pytest.param("linked-dir", 403, "leads outside the model store",
                     id="dir-holding-symlink-out"),
        pytest.param("rf.joblib\u0000.txt", 400, "NUL", id="nul-byte"),
        pytest.param(123, 400, '"parameters": {"path"', id="path-not-text"),
        pytest.param("", 400, '"parameters": {"path"', id="empty-path"),
    ],
)
def test_load_paths_stay_in_the_store(
    runtime: Runtime, store: Path, path: Any, status: int, message: str
) -> None:
    if isinstance(path, str):
        path = path.replace("__STORE__", str(store))
        path = path.replace("__OUTSIDE__", str(store.parent / "outside" / "elsewhere.joblib"))
    watch = LogWatch(runtime)
    got, raw = load(runtime, path, ADMIN, name="escaped")
    assert got == status, raw
    assert message in error_of(raw)
    assert runtime.request("GET", "/v2/models/escaped")[0] == 404
    watch.assert_quiet()


@pytest.mark.hostile
@pytest.mark.parametrize(
    "host",
    ["evil.example", "localhost.evil.example", "127.0.0.1.nip.io", "evil.example:8080",
     "model-svc.evil.example", "svc.cluster.local.evil"],
)
def test_rebound_host_names_are_refused(runtime: Runtime, host: str) -> None:
    watch = LogWatch(runtime)
    for method, path, body in (("GET", "/v2/models/rf", None),
                               ("POST", INVOCATIONS, "[" + ROW + "]"),
                               ("GET", "/metrics", None)):
        got, raw = runtime.request(method, path, body, {"Host": host, **JSON})
        assert got == 421, (path, raw)
        assert "SERVING_ALLOWED_HOSTS" in error_of(raw)
    watch.assert_quiet()


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1:{port}", "localhost:{port}", "LOCALHOST", "[::1]:{port}", "model-svc:8080",
     "model.team.svc.cluster.local", "10.1.2.3:8080", socket.gethostname()],
)
def test_allowed_host_names_are_served(runtime: Runtime, host: str) -> None:
    headers = {"Host": host.format(port=runtime.port), **JSON}
    got, raw = runtime.request("POST", INVOCATIONS, "[" + ROW + "]", headers)
    assert got == 200, raw


@pytest.mark.hostile
def test_health_answers_any_host(runtime: Runtime) -> None:
    for path in ("/ping", "/v2/health/live", "/v2/health/ready"):
        assert runtime.request("GET", path, None, {"Host": "evil.example"})[0] == 200


def test_host_check_wildcard_and_suffixes() -> None:
    assert HostCheck(["*"], hostname="box").allows("anything.example")
    check = HostCheck([".svc.cluster.local", "api.example:443"], hostname="box")
    assert check.allows("m.ns.svc.cluster.local:8080") and check.allows("api.example")
    assert check.allows("BOX:8080") and check.allows(None) and check.allows("[fe80::1]:80")
    assert not check.allows("svc.cluster.local.evil") and not check.allows("example")


@pytest.mark.hostile
@pytest.mark.parametrize(
    ("headers", "status"),
    [
        pytest.param({}, 401, id="no-token"),
        pytest.param({"Authorization": "Bearer wrong"}, 401, id="wrong-token"),
        pytest.param({"Authorization": f"Bearer {INFER_TOKEN}"}, 200, id="inference-token"),
    ],
)
def test_metrics_need_the_inference_token(
    guarded: Runtime, headers: dict[str, str], status: int
) -> None:
    got, raw = guarded.request("GET", "/metrics", None, headers)
    assert got == status
    if status == 200:
        assert b"serving_requests_total" in raw
    else:
        assert "Authorization: Bearer <token>" in error_of(raw)


def test_health_stays_open_with_a_token(guarded: Runtime) -> None:
    for path in ("/ping", "/v2/health/live", "/v2/health/ready", "/v2/models/rf/ready"):
        assert guarded.request("GET", path)[0] == 200, path


@pytest.mark.hostile
@pytest.mark.parametrize(
    ("path", "headers"),
    [
        pytest.param("/v2/repository/models/rf/load", JSON, id="load"),
        pytest.param("/v2/repository/models/rf/load",
                     {**JSON, "Authorization": f"Bearer {INFER_TOKEN}"}, id="load-infer-token"),
        pytest.param("/v2/repository/models/rf/unload", JSON, id="unload"),
        pytest.param("/v2/repository/index", JSON, id="index"),
    ],
)
def test_repository_routes_off_without_an_admin_token(
    guarded: Runtime, store: Path, path: str, headers: dict[str, str]
) -> None:
    watch = LogWatch(guarded)
    body = json.dumps({"parameters": {"path": str(store / "second.joblib")}})
    got, raw = guarded.request("POST", path, body, headers)
    assert got == 403
    assert error_of(raw) == (
        "repository routes are off: set SERVING_ADMIN_TOKEN_FILE (or SERVING_ADMIN_TOKEN) "
        "to turn them on"
    )
    watch.assert_quiet()


def test_admin_token_from_a_file(store: Path, tmp_path: Path) -> None:
    token_file = tmp_path / "admin-token"
    token_file.write_text("from-the-file\n")
    srv = Runtime(store / "rf.joblib", tmp_path / "log", SERVING_ADMIN_TOKEN_FILE=str(token_file),
                  SERVING_ADMIN_TOKEN="ignored-when-a-file-is-named")
    try:
        srv.wait()
        headers = {**JSON, "Authorization": "Bearer from-the-file"}
        assert load(srv, "second.joblib", headers)[0] == 200
        headers["Authorization"] = "Bearer ignored-when-a-file-is-named"
        assert load(srv, "second.joblib", headers)[0] == 401
    finally:
        srv.stop()


def assert_exits_with_one_line(srv: Runtime, code: int, *parts: str) -> str:
    try:
        assert srv.proc.wait(timeout=30) == code
    finally:
        srv.stop()
    took = time.monotonic() - srv.started
    assert took < 20, f"took {took:.1f} s to exit"
    text = srv.log()
    assert "Traceback" not in text, text
    errors = [line for line in text.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and text.rstrip().splitlines()[-1] == errors[0], text
    for part in parts:
        assert part in errors[0], errors[0]
    return errors[0]


@pytest.mark.hostile
def test_unreadable_admin_token_file_exits_with_one_line(store: Path, tmp_path: Path) -> None:
    srv = Runtime(store / "rf.joblib", tmp_path / "log",
                  SERVING_ADMIN_TOKEN_FILE=str(tmp_path / "missing"))
    line = assert_exits_with_one_line(srv, 2, "SERVING_ADMIN_TOKEN_FILE", "missing")
    assert "cannot be read" in line


@pytest.mark.hostile
@pytest.mark.parametrize("reuse_port", ["0", "1"], ids=["alone", "sharing-the-port"])
def test_text_file_named_joblib_exits_with_one_line(tmp_path: Path, reuse_port: str) -> None:
    model = tmp_path / "model.joblib"
    model.write_text("this is not a model\n")
    srv = Runtime(model, tmp_path / "log", SERVING_REUSE_PORT=reuse_port)
    line = assert_exits_with_one_line(srv, 1, "model.joblib is not a pickle or joblib file")
    assert "b'this is not a mo'" in line


@pytest.mark.hostile
def test_pickle_needing_a_missing_module_exits_with_one_line(tmp_path: Path) -> None:
    helper = tmp_path / "gone_helpers.py"
    helper.write_text("class Model:\n    def predict(self, X):\n        return [0 for _ in X]\n")
    subprocess.run(
        [sys.executable, "-c", "import pickle, gone_helpers; "
         "pickle.dump(gone_helpers.Model(), open('model.pkl', 'wb'))"],
        cwd=tmp_path, check=True,
    )
    helper.unlink()
    models = tmp_path / "models"
    models.mkdir()
    (tmp_path / "model.pkl").rename(models / "model.pkl")
    srv = Runtime(models, tmp_path / "log")
    assert_exits_with_one_line(srv, 1, "model.pkl", "needs module 'gone_helpers'")


@pytest.fixture(scope="module")
def skops_model(store: Path) -> Path:
    skops_io = pytest.importorskip("skops.io")
    path = store / "rf.skops"
    skops_io.dump(joblib.load(store / "rf.joblib"), path)
    return path


@pytest.mark.hostile
def test_skops_untrusted_types_refused_at_start(skops_model: Path, tmp_path: Path) -> None:
    srv = Runtime(skops_model, tmp_path / "log", SERVING_SKOPS_TRUSTED="numpy.float64")
    assert_exits_with_one_line(
        srv, 1, "rf.skops holds types skops does not trust: sklearn.tree._tree.Tree",
        "SERVING_SKOPS_TRUSTED",
    )


def test_skops_approved_types_load(skops_model: Path, tmp_path: Path) -> None:
    srv = Runtime(skops_model, tmp_path / "log", SERVING_SKOPS_TRUSTED="sklearn.tree._tree.Tree")
    try:
        srv.wait()
        status, raw = srv.request("POST", INVOCATIONS, "[" + ROW + "]", JSON)
        assert status == 200 and len(json.loads(raw)["predictions"]) == 1
    finally:
        srv.stop()


@pytest.mark.hostile
def test_skops_untrusted_types_refused_on_load(runtime: Runtime, skops_model: Path) -> None:
    watch = LogWatch(runtime)
    got, raw = load(runtime, skops_model.name, ADMIN, name="sk")
    assert got == 400
    assert error_of(raw) == (
        "rf.skops holds types skops does not trust: sklearn.tree._tree.Tree; approve those you "
        "trust (SERVING_SKOPS_TRUSTED, comma separated) to load it"
    )
    assert runtime.request("GET", "/v2/models/sk")[0] == 404
    watch.assert_quiet()


FAULTY_PREDICT = """
import warnings

def load(model_dir):
    return None

def predict(model, inputs):
    first = inputs[0][0]
    if first < 0:
        raise RuntimeError("the model broke on " + str(first))
    warnings.warn("row starting with " + str(first) + " looks odd", UserWarning)
    return [sum(row) for row in inputs]
"""


@pytest.mark.hostile
def test_server_errors_and_warnings_are_logged_once_per_kind(tmp_path: Path) -> None:
    model = tmp_path / "faulty"
    model.mkdir()
    (model / "predict.py").write_text(FAULTY_PREDICT)
    srv = Runtime(model, tmp_path / "log")
    try:
        srv.wait()
        for i in range(5):
            status, raw = srv.request("POST", INVOCATIONS, f"[[-{i + 1}, 1]]", JSON)
            assert status == 500
            assert error_of(raw) == "internal error while serving this request"
            assert srv.request("POST", INVOCATIONS, f"[[{i + 1}, 1]]", JSON)[0] == 200
        text = srv.log()
    finally:
        srv.stop()
    assert text.count("Traceback") == 1, text
    assert text.count("error serving POST /invocations: RuntimeError") == 1, text
    assert text.count("looks odd") == 1, text
    assert "POST /invocations HTTP" not in text  # no access log by default


@pytest.mark.hostile
def test_malformed_http_is_refused_and_logged_once(runtime: Runtime) -> None:
    watch = LogWatch(runtime)
    for _ in range(4):
        with socket.create_connection(("127.0.0.1", runtime.port), timeout=10) as sock:
            sock.sendall(b"GET /ping HTTP/1.1\r\nHost: localhost\r\nBad Header\0\r\n\r\n")
            assert sock.recv(100).startswith(b"HTTP/1.1 400")
    assert runtime.request("GET", "/ping")[0] == 200
    text = watch.new()
    assert text.count("Invalid HTTP request received.") <= 1, text
    watch.assert_quiet()


def _gzip(data: bytes) -> bytes:
    import gzip

    return gzip.compress(data, compresslevel=9)


@pytest.mark.hostile
@pytest.mark.parametrize(
    ("path", "body", "headers", "status", "message"),
    [
        pytest.param(INFER, nested(DEEP).encode() + b"\0\0\0\0",
                     {"Content-Type": "application/octet-stream",
                      "Inference-Header-Content-Length": str(2 * DEEP + 1)},
                     400, "too deeply", id="v2-binary-extension-nested-header"),
        pytest.param(INFER, v2([1, 2, 3, 4]).encode(),
                     {"Content-Type": "application/octet-stream",
                      "Inference-Header-Content-Length": "10**9"},
                     400, "must be an integer", id="v2-header-length-not-integer"),
        pytest.param(INVOCATIONS, _gzip(nested(DEEP).encode()),
                     {**JSON, "Content-Encoding": "gzip"}, 400, "too deeply", id="gzip-nested"),
        pytest.param(INVOCATIONS, _gzip(b" " * (33 << 20)),
                     {**JSON, "Content-Encoding": "gzip"}, 413, "MAX_REQUEST_BYTES",
                     id="gzip-bomb"),
        pytest.param(INVOCATIONS, b"not gzip", {**JSON, "Content-Encoding": "gzip"}, 400,
                     "not valid gzip", id="gzip-garbage"),
        pytest.param("/v2/repository/models/deep/load", nested(DEEP).encode(), ADMIN, 400,
                     "too deeply", id="load-nested-body"),
        pytest.param("/v2/repository/models/deep/load", b'{"parameters": "x"}', ADMIN, 400,
                     '"parameters": {"path"', id="load-parameters-not-object"),
    ],
)
def test_other_body_paths(
    runtime: Runtime, path: str, body: bytes, headers: dict[str, str], status: int, message: str
) -> None:
    watch = LogWatch(runtime)
    got, raw = runtime.request("POST", path, body, headers)
    assert got == status, raw
    assert message in error_of(raw)
    watch.assert_quiet()
    assert runtime.request("GET", "/ping")[0] == 200


def test_security_settings_from_the_environment(tmp_path: Path) -> None:
    from jupyter_containerize.serving.settings import Settings

    defaults = Settings.from_env({})
    assert defaults.access_log is False and defaults.admin_token is None
    assert defaults.model_store == (os.path.realpath("/opt/ml"),)
    assert Settings.from_env({"MODEL_PATH": str(tmp_path / "m.pkl")}).model_store == (
        os.path.realpath(tmp_path),)
    assert Settings.from_env({"MODEL_PATH": "/m.pkl"}).model_store == ("/m.pkl",)
    given = Settings.from_env({
        "SERVING_MODEL_STORE": f"{tmp_path}, /srv/models",
        "SERVING_ALLOWED_HOSTS": "Model-Svc, ,*",
        "SERVING_SKOPS_TRUSTED": "sklearn.tree._tree.Tree,numpy.dtype",
        "SERVING_ADMIN_TOKEN": " t0k ",
    })
    assert given.model_store == (os.path.realpath(tmp_path), "/srv/models")
    assert given.allowed_hosts == ("model-svc", "*")
    assert given.skops_trusted == ("sklearn.tree._tree.Tree", "numpy.dtype")
    assert given.admin_token == "t0k"


@pytest.mark.hostile
def test_empty_admin_token_file_is_refused(tmp_path: Path) -> None:
    from jupyter_containerize.serving.settings import Settings

    (tmp_path / "token").write_text("\n")
    with pytest.raises(ValueError, match="is empty: write the token in it"):
        Settings.from_env({"SERVING_ADMIN_TOKEN_FILE": str(tmp_path / "token")})


@pytest.mark.hostile
def test_client_mistakes_leave_no_traceback_in_the_whole_log(runtime: Runtime) -> None:
    """After every case above ran against it, the shared server's log has no traceback."""
    text = runtime.log()
    assert "Traceback" not in text and "RecursionError" not in text, text
