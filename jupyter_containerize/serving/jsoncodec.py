"""JSON in and out of the runtime: orjson when the image has it (several times faster on
rows of numbers), the standard library otherwise, with the same errors either way."""

from __future__ import annotations

import json
from typing import Any

from .errors import ClientError

try:
    import orjson
except ImportError:  # pragma: no cover - the runtime layer installs it; the stdlib still works
    orjson = None  # type: ignore[assignment]

_OPTIONS = (orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS) if orjson is not None else 0


TOO_DEEP = "JSON nests arrays or objects too deeply (keep it under 1000 levels)"


def loads(raw: bytes) -> Any:
    """The request's JSON, or a 400 that says where it is malformed.

    The standard library has the last word: it names the position of a mistake, and it takes
    the NaN and Infinity literals some clients send, which orjson refuses. Whatever the body,
    the answer is a value or a ClientError: too deep nesting, numbers too long to convert and
    bytes that are not UTF-8 are client mistakes too.
    """
    if orjson is not None:
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            if "depth" in str(exc) or "recursion" in str(exc):
                raise ClientError(400, TOO_DEEP) from None
    try:
        text = raw.decode("utf-8-sig") if isinstance(raw, (bytes, bytearray)) else raw
    except UnicodeDecodeError as exc:
        raise ClientError(
            400, f"the JSON body is not valid UTF-8 (byte {exc.start}: {exc.reason})"
        ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ClientError(400, f"malformed JSON: {exc}") from None
    except RecursionError:
        raise ClientError(400, TOO_DEEP) from None
    except ValueError as exc:  # an integer of more digits than Python converts
        raise ClientError(400, f"malformed JSON: {' '.join(str(exc).split())[:200]}") from None


def dumps(payload: Any) -> bytes:
    """Compact JSON; NaN and infinities, which JSON has no words for, are written as null."""
    if orjson is not None:
        return orjson.dumps(payload, option=_OPTIONS)
    return json.dumps(_finite(payload), separators=(",", ":")).encode()


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else None
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value
