"""Raw ASGI helpers: headers, bounded body reading, JSON and error responses."""

from __future__ import annotations

import zlib
from collections.abc import Awaitable
from typing import Any, Callable, Optional

from . import jsoncodec
from .errors import ClientError

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

JSON_TYPE = b"application/json"


def header(scope: Scope, name: bytes) -> Optional[str]:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


def too_large(limit: int) -> ClientError:
    return ClientError(413, f"request body is over the limit of {limit} bytes (MAX_REQUEST_BYTES)")


def _inflate(body: bytes, encoding: str, limit: int) -> bytes:
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "deflate"):
        raise ClientError(415, f"unsupported Content-Encoding {encoding!r}: use gzip or deflate")
    window = 16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS
    inflater = zlib.decompressobj(window)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise ClientError(400, f"body is not valid {encoding}: {exc}") from None
    if len(out) > limit:
        raise too_large(limit)
    return out


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The request body, refused with 413 from Content-Length or as soon as it passes ``limit``."""
    declared = header(scope, b"content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise too_large(limit)
        except ValueError:
            raise ClientError(400, "Content-Length must be an integer") from None
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientError(400, "client disconnected before sending the whole body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    encoding = (header(scope, b"content-encoding") or "").strip().lower()
    return _inflate(body, encoding, limit)


async def respond(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes = JSON_TYPE,
    extra: Optional[list[tuple[bytes, bytes]]] = None,
) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    if extra:
        headers.extend(extra)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def respond_json(
    send: Send, status: int, payload: Any, extra: Optional[list[tuple[bytes, bytes]]] = None
) -> None:
    await respond(send, status, jsoncodec.dumps(payload), extra=extra)


async def respond_error(send: Send, status: int, message: str) -> None:
    extra = [(b"connection", b"close")] if status == 413 else None
    if status == 401:
        extra = [(b"www-authenticate", b'Bearer realm="model"')]
    await respond_json(send, status, {"error": message}, extra=extra)
