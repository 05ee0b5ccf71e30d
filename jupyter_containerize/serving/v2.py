"""Open Inference Protocol V2 tensors: JSON data and the binary tensor data extension."""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from . import jsoncodec
from .errors import ClientError

DTYPES: dict[str, Any] = {
    "BOOL": np.bool_,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
    "BYTES": np.object_,
}
HEADER_LENGTH = "inference-header-content-length"


def datatype_of(dtype: Any) -> str:
    """The V2 datatype name for a numpy dtype (strings and objects are BYTES)."""
    dtype = np.dtype(dtype)
    for name, candidate in DTYPES.items():
        if name != "BYTES" and dtype == np.dtype(candidate):
            return name
    return "BYTES"


@dataclass
class InferRequest:
    id: Optional[str]
    parameters: dict[str, Any]
    inputs: list[tuple[str, np.ndarray]]
    outputs: list[dict[str, Any]] = field(default_factory=list)


def _split_body(body: bytes, header_length: Optional[str]) -> tuple[Any, bytes]:
    if header_length is None:
        return jsoncodec.loads(body), b""
    try:
        size = int(header_length)
    except ValueError:
        raise ClientError(400, "Inference-Header-Content-Length must be an integer") from None
    if not 0 <= size <= len(body):
        raise ClientError(400, f"Inference-Header-Content-Length {size} exceeds the body")
    return jsoncodec.loads(body[:size]), body[size:]


def _decode_bytes(raw: bytes, count: int, name: str) -> np.ndarray:
    out, offset = [], 0
    for _ in range(count):
        if offset + 4 > len(raw):
            raise ClientError(400, f"input {name!r}: BYTES binary data ends early")
        (length,) = struct.unpack_from("<I", raw, offset)
        out.append(raw[offset + 4 : offset + 4 + length])
        offset += 4 + length
    array = np.empty(count, dtype=object)
    array[:] = out
    return array


def _from_json_data(data: Any, datatype: str, name: str) -> np.ndarray:
    if datatype == "BYTES":
        flat = np.asarray(data, dtype=object).ravel()
        return np.array([v.encode() if isinstance(v, str) else v for v in flat] or [], dtype=object)
    try:
        return np.asarray(data, dtype=DTYPES[datatype]).ravel()
    except (ValueError, TypeError, OverflowError) as exc:
        text = " ".join(str(exc).split())[:200]
        raise ClientError(400, f"input {name!r}: data is not {datatype}: {text}") from None


def _binary_size(spec: dict[str, Any], name: str) -> Optional[int]:
    parameters = spec.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise ClientError(400, f"input {name!r}: parameters must be an object")
    size = parameters.get("binary_data_size")
    if size is None:
        return None
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ClientError(400, f"input {name!r}: binary_data_size must be a byte count")
    return size


def _decode_input(spec: Any, binary: bytes, offset: int) -> tuple[str, np.ndarray, int]:
    if not isinstance(spec, dict):
        raise ClientError(400, "each input must be an object with name, shape, datatype, data")
    name = str(spec.get("name", "input-0"))[:100]
    datatype, shape = spec.get("datatype"), spec.get("shape")
    if not isinstance(datatype, str) or datatype not in DTYPES:
        raise ClientError(400, f"input {name!r}: datatype must be one of {', '.join(DTYPES)}")
    if (
        not isinstance(shape, list)
        or len(shape) > 32
        or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
    ):
        raise ClientError(
            400, f"input {name!r}: shape must be a list of at most 32 non-negative integers"
        )
    count = math.prod(shape)
    size = _binary_size(spec, name)
    if size is not None:
        raw = binary[offset : offset + size]
        if len(raw) != size:
            raise ClientError(400, f"input {name!r}: binary data is shorter than its size")
        offset += size
        if datatype == "BYTES":
            flat = _decode_bytes(raw, count, name)
        else:
            flat = np.frombuffer(raw, dtype=np.dtype(DTYPES[datatype]).newbyteorder("<"))
    elif "data" in spec:
        flat = _from_json_data(spec["data"], datatype, name)
    else:
        raise ClientError(400, f"input {name!r} has neither data nor binary_data_size")
    if flat.size != count:
        raise ClientError(
            400, f"input {name!r}: shape {shape} needs {count} values, got {flat.size}"
        )
    return name, flat.reshape(shape), offset


def decode_request(body: bytes, header_length: Optional[str]) -> InferRequest:
    """Parse an infer request, with or without the binary tensor data extension."""
    head, binary = _split_body(body, header_length)
    if not isinstance(head, dict) or not isinstance(head.get("inputs"), list) or not head["inputs"]:
        raise ClientError(400, 'expected {"inputs": [{"name", "shape", "datatype", "data"}]}')
    inputs, offset = [], 0
    for spec in head["inputs"]:
        name, array, offset = _decode_input(spec, binary, offset)
        inputs.append((name, array))
    outputs = head.get("outputs") or []
    if not isinstance(outputs, list) or not all(isinstance(o, dict) for o in outputs):
        raise ClientError(400, 'outputs must be a list of {"name": ...} objects')
    parameters = head.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise ClientError(400, "parameters must be an object")
    return InferRequest(head.get("id"), parameters, inputs, outputs)


def _encode_binary(array: np.ndarray) -> bytes:
    if array.dtype == object or array.dtype.kind in "US":
        parts = []
        for value in array.ravel():
            raw = value if isinstance(value, bytes) else str(value).encode()
            parts.append(struct.pack("<I", len(raw)) + raw)
        return b"".join(parts)
    return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()


def _json_data(array: np.ndarray) -> list[Any]:
    flat = array.ravel()
    if flat.dtype == object or flat.dtype.kind in "US":
        return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in flat]
    return flat.tolist()


def encode_response(
    model_name: str, request_id: Optional[str], outputs: list[tuple[str, np.ndarray, bool]]
) -> tuple[bytes, Optional[int]]:
    """Response body and, when any output is binary, the JSON header's length."""
    described, chunks = [], []
    for name, array, binary in outputs:
        if array.dtype.kind == "U":
            array = array.astype(object)
        entry: dict[str, Any] = {
            "name": name,
            "shape": list(array.shape),
            "datatype": datatype_of(array.dtype),
        }
        if binary:
            raw = _encode_binary(array)
            entry["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        else:
            entry["data"] = _json_data(array)
        described.append(entry)
    head: dict[str, Any] = {"model_name": model_name, "model_version": "1", "outputs": described}
    if request_id is not None:
        head["id"] = request_id
    header = jsoncodec.dumps(head)
    if not chunks:
        return header, None
    return header + b"".join(chunks), len(header)
