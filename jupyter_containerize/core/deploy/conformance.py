"""`serve --check`: the SageMaker and V2 contracts, checked against a running server.

Each check is ``{"name", "ok", "detail"}``; a failing health check says why, with the
container's last log lines.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests

from ..progress import Reporter
from .result import ServeResult
from .serveimage import MODEL_NAME

TIMEOUT = 10.0


def _row(metadata: dict[str, Any]) -> tuple[list[Any], str]:
    """One input row the model takes, from its metadata (zeros of the right width)."""
    spec = (metadata.get("inputs") or [{}])[0]
    shape = spec.get("shape") or [-1]
    width = int(shape[1]) if len(shape) > 1 and int(shape[1]) > 0 else 1
    datatype = spec.get("datatype") or "FP64"
    zero: Any = 0 if datatype.startswith(("INT", "UINT")) else 0.0
    return [zero] * width, datatype


def _check(name: str, call: Callable[[], tuple[bool, str]]) -> dict[str, Any]:
    try:
        ok, detail = call()
    except requests.RequestException as exc:
        ok, detail = False, f"no answer: {type(exc).__name__}"
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        ok, detail = False, f"unexpected answer: {exc}"
    return {"name": name, "ok": ok, "detail": detail}


def _status(answer: requests.Response, want: int = 200) -> tuple[bool, str]:
    return answer.status_code == want, f"HTTP {answer.status_code}"


def run_checks(
    url: str, model: str, token: str | None, logs: Callable[[], str]
) -> list[dict[str, Any]]:
    auth = {"Authorization": f"Bearer {token}"} if token else {}
    s = requests.Session()

    def get(path: str) -> requests.Response:
        return s.get(url + path, headers=auth, timeout=TIMEOUT)

    def health(path: str) -> tuple[bool, str]:
        answer = get(path)
        if answer.status_code == 200:
            return True, "HTTP 200"
        tail = " | ".join(logs().splitlines()[-5:])
        return False, f"HTTP {answer.status_code}: {answer.text[:120]}; last log lines: {tail}"

    checks = [
        _check("sagemaker ping", lambda: health("/ping")),
        _check("v2 health live", lambda: _status(get("/v2/health/live"))),
        _check("v2 health ready", lambda: health("/v2/health/ready")),
        _check("v2 model ready", lambda: health(f"/v2/models/{model}/ready")),
    ]
    meta: dict[str, Any] = {}

    def metadata() -> tuple[bool, str]:
        answer = get(f"/v2/models/{model}")
        meta.update(answer.json() if answer.ok else {})
        ok = answer.ok and meta.get("name") == model and bool(meta.get("inputs"))
        sha = (meta.get("parameters") or {}).get("sha256", "")
        return ok, f"HTTP {answer.status_code}, sha256 {sha[:12]}"

    checks.append(_check("v2 model metadata", metadata))
    row, datatype = _row(meta)
    checks += _predict_checks(s, url, model, auth, row, datatype)
    return checks


def _predict_checks(
    s: requests.Session, url: str, model: str, auth: dict[str, str], row: list[Any], dt: str
) -> list[dict[str, Any]]:
    def predictions(answer: requests.Response) -> tuple[bool, str]:
        if not answer.ok:
            return False, f"HTTP {answer.status_code}: {answer.text[:160]}"
        preds = answer.json()["predictions"]
        return len(preds) == 1, f"HTTP 200, predictions {preds!r}"[:120]

    def json_rows() -> tuple[bool, str]:
        return predictions(s.post(f"{url}/invocations", json={"instances": [row]},
                                  headers=auth, timeout=TIMEOUT))

    def csv_rows(path: str = "/invocations") -> tuple[bool, str]:
        body = ",".join(str(v) for v in row) + "\n"
        return predictions(s.post(f"{url}{path}", data=body, timeout=TIMEOUT,
                                  headers={**auth, "Content-Type": "text/csv"}))

    def infer() -> tuple[bool, str]:
        payload = {"inputs": [{"name": "input-0", "shape": [1, len(row)], "datatype": dt,
                               "data": row}]}
        answer = s.post(f"{url}/v2/models/{model}/infer", json=payload, headers=auth,
                        timeout=TIMEOUT)
        if not answer.ok:
            return False, f"HTTP {answer.status_code}: {answer.text[:160]}"
        outputs = answer.json()["outputs"]
        return bool(outputs) and outputs[0]["shape"][0] == 1, f"HTTP 200, outputs {len(outputs)}"

    return [
        _check("sagemaker invocations json", json_rows),
        _check("sagemaker invocations csv", csv_rows),
        # the path boto3's invoke_endpoint takes when endpoint_url names this server
        _check("sagemaker runtime api", lambda: csv_rows(f"/endpoints/{model}/invocations")),
        _check("v2 infer", infer),
    ]


def conformance(result: ServeResult, token: str | None, rep: Reporter) -> list[dict[str, Any]]:
    """The SageMaker and V2 contract checks against every URL of the deployment."""
    from .pod import get_container, last_logs

    container = get_container(result.container) if result.container else None
    logs = (lambda: last_logs(container)) if container is not None else (lambda: "")
    checks = []
    for url in result.urls or [result.url]:
        for check in run_checks(url, _model_name(result), token, logs):
            checks.append({**check, "url": url})
    return checks


def _model_name(result: ServeResult) -> str:
    from .pod import get_container

    container = get_container(result.container) if result.container else None
    if container is not None:
        return container.labels.get(MODEL_NAME, result.name)
    return result.name
