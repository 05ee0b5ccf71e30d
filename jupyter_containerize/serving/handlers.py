"""Route handlers: SageMaker /invocations and the V2 inference and repository routes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Optional, Protocol
from urllib.parse import parse_qs

import numpy as np

from . import inputs as parsing
from . import jsoncodec
from .detect import resolve_model_path
from .errors import ClientError, ModelLoadError
from .http import Receive, Scope, Send, header, read_body, respond, respond_json
from .logs import one_line
from .model import ServedModel
from .registry import Registry
from .security import check_in_store, media_type, require_json, store_path
from .settings import Settings
from .v2 import DTYPES, HEADER_LENGTH, datatype_of, decode_request, encode_response


class ServingApp(Protocol):
    """What the routes use of the app (app.ServingApp), named here so neither module
    imports the other in a circle."""

    settings: Settings

    @property
    def models(self) -> Registry: ...

    async def predict(
        self, model: ServedModel, method: str, inputs: parsing.Inputs
    ) -> np.ndarray: ...

SERVER_NAME = "jupyter-containerize"
EXTENSIONS = ["binary_tensor_data", "model_repository"]


EMPTY_BODY = "the request body is empty: send the rows to predict on"


@contextmanager
def reading(what: str) -> Iterator[None]:
    """A body that parses but does not hold what it should is the client's mistake (400)."""
    try:
        yield
    except ClientError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError) as exc:
        raise ClientError(400, f"cannot read {what}: {one_line(str(exc), 200)}") from None
    except RecursionError:
        raise ClientError(400, f"cannot read {what}: it nests too deeply") from None


def _json_ready(result: np.ndarray) -> list[Any]:
    if result.dtype == object:
        return [
            v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in result.tolist()
        ]
    return result.tolist()


async def invocations(
    app: ServingApp, scope: Scope, receive: Receive, send: Send, name: Optional[str] = None
) -> None:
    """SageMaker's /invocations: the default model, or the one named by the runtime API's
    /endpoints/NAME/invocations."""
    media = media_type(scope)
    if media not in ("", "application/json", "text/csv"):
        raise ClientError(
            415, f"unsupported content type {media[:100]!r}: send application/json or text/csv"
        )
    body = await read_body(scope, receive, app.settings.max_request_bytes)
    model = app.models.get(name) if name is not None else app.models.default()
    n, names = model.n_features, model.adapter.feature_names
    if not body.strip():
        raise ClientError(400, EMPTY_BODY)
    with reading("the rows"):
        if media == "text/csv":
            parsed = parsing.parse_csv(body, n)
        else:
            parsed = parsing.parse_json_rows(jsoncodec.loads(body), names, n)
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    method = query.get("method", ["predict"])[0]
    result = await app.predict(model, method, parsed)
    accept = (header(scope, b"accept") or "").lower()
    if "text/csv" in accept and "json" not in accept:
        lines = [
            ",".join(map(str, r)) if isinstance(r, list) else str(r) for r in _json_ready(result)
        ]
        await respond(send, 200, ("\n".join(lines) + "\n").encode(), b"text/csv")
        return
    await respond_json(send, 200, {"predictions": _json_ready(result)})


def _to_model_input(model: ServedModel, tensors: list[tuple[str, np.ndarray]]) -> parsing.Inputs:
    n = model.n_features
    arrays = []
    for _, array in tensors:
        if array.dtype == object:
            array = np.array(
                [
                    v.decode("utf-8", "replace") if isinstance(v, bytes) else v
                    for v in array.ravel()
                ],
                dtype=object,
            ).reshape(array.shape)
        arrays.append(array)
    if len(arrays) > 1:
        if any(a.ndim > 2 or (a.ndim == 2 and a.shape[1] != 1) for a in arrays):
            raise ClientError(400, "several inputs must each be one column of shape [N] or [N, 1]")
        columns = [str(name) for name, _ in tensors]
        data = np.column_stack([a.reshape(-1) for a in arrays]).tolist()
        return parsing.from_columns(columns, data, model.adapter.feature_names, n)
    array = arrays[0]
    if array.ndim == 1 and n is not None:
        array = array.reshape(1, -1) if n > 1 and array.size == n else array.reshape(-1, 1)
    parsing.check_features(array, n)
    return parsing.from_array(array)


def _requested(model: ServedModel, request: Any) -> list[tuple[str, bool]]:
    all_binary = bool(request.parameters.get("binary_data_output", False))
    if not request.outputs:
        method = str(request.parameters.get("method", "predict"))
        return [(method, all_binary)]
    wanted = []
    for output in request.outputs:
        name = str(output.get("name", ""))
        if name not in model.adapter.methods:
            offered = ", ".join(model.adapter.methods)
            raise ClientError(400, f"unknown output {name!r}; this model offers {offered}")
        binary = bool((output.get("parameters") or {}).get("binary_data", all_binary))
        wanted.append((name, binary))
    return wanted


async def infer(app: ServingApp, scope: Scope, receive: Receive, send: Send, name: str) -> None:
    model = app.models.get(name)
    media = media_type(scope)
    # no form types: a web page may post those to any site without asking first
    if media not in ("", "application/json", "application/octet-stream"):
        raise ClientError(
            415,
            f"unsupported content type {media[:100]!r}: send application/json (curl: -H "
            "'Content-Type: application/json'), or application/octet-stream with "
            "Inference-Header-Content-Length",
        )
    body = await read_body(scope, receive, app.settings.max_request_bytes)
    if not body.strip():
        raise ClientError(400, EMPTY_BODY)
    with reading("the inference request"):
        request = decode_request(body, header(scope, HEADER_LENGTH.encode()))
        parsed = _to_model_input(model, request.inputs)
        wanted = _requested(model, request)
    outputs = []
    for method, binary in wanted:
        result = await app.predict(model, method, parsed)
        outputs.append((method, np.asarray(result), binary))
    payload, header_length = encode_response(model.name, request.id, outputs)
    if header_length is None:
        await respond(send, 200, payload)
        return
    extra = [(b"inference-header-content-length", str(header_length).encode())]
    await respond(send, 200, payload, b"application/octet-stream", extra)


def model_metadata(model: ServedModel) -> dict[str, Any]:
    adapter = model.adapter
    n = model.n_features
    datatype = datatype_of(adapter.input_dtype) if n is not None else "BYTES"
    shape = [-1, n] if n is not None else [-1]
    outputs = []
    for method in adapter.methods:
        dtype, out_shape = model.outputs.get(method, (np.float64, [-1]))
        outputs.append({"name": method, "datatype": datatype_of(dtype), "shape": out_shape})
    return {
        "name": model.name,
        "versions": ["1"],
        "platform": adapter.platform,
        "inputs": [{"name": "input-0", "datatype": datatype, "shape": shape}],
        "outputs": outputs,
        "parameters": {
            "flavor": model.flavor,
            "sha256": model.sha256,
            "feature_names": adapter.feature_names,
        },
    }


def server_metadata(version: str) -> dict[str, Any]:
    return {"name": SERVER_NAME, "version": version, "extensions": EXTENSIONS}


async def repository_load(
    app: ServingApp, scope: Scope, receive: Receive, send: Send, name: str
) -> None:
    require_json(scope)
    body = await read_body(scope, receive, app.settings.max_request_bytes)
    payload: Any = jsoncodec.loads(body) if body.strip() else {}
    parameters = payload.get("parameters") if isinstance(payload, dict) else None
    raw = parameters.get("path") if isinstance(parameters, dict) else None
    store = app.settings.model_store
    path = store_path(raw, store)
    try:
        check_in_store(str(resolve_model_path(path)), str(raw), store)
        model = await app.models.load(path, name)
    except ModelLoadError as exc:
        raise ClientError(400, one_line(str(exc))) from None
    except OSError as exc:
        raise ClientError(400, f"cannot read {raw}: {exc.strerror or exc}") from None
    await respond_json(
        send,
        200,
        {"name": model.name, "sha256": model.sha256, "flavor": model.flavor, "state": "READY"},
    )


async def read_optional_json(app: ServingApp, scope: Scope, receive: Receive) -> Any:
    """A repository route's optional body: JSON when there is one."""
    body = await read_body(scope, receive, app.settings.max_request_bytes)
    if not body.strip():
        return None
    require_json(scope)
    return jsoncodec.loads(body)


def repository_index(app: ServingApp) -> list[dict[str, Any]]:
    return [
        {"name": m.name, "version": "1", "state": "READY"} for m in app.models.models.values()
    ]


__all__ = ["DTYPES", "infer", "invocations", "model_metadata", "repository_load"]
