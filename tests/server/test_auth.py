"""Every route refuses a request without credentials: walks the extension's own route list."""

from __future__ import annotations

import re
from typing import Any

import pytest
import tornado.web
from tornado.httpclient import HTTPClientError

from jupyter_containerize.server.extension import routes
from jupyter_containerize.server.handlers import AUTH_RESOURCE, ContainerizeHandler

METHODS = ("get", "post", "put", "patch", "delete")


def _implemented(handler: type[tornado.web.RequestHandler]) -> list[str]:
    return [m for m in METHODS if getattr(handler, m) is not getattr(tornado.web.RequestHandler, m)]


def _concrete(pattern: str) -> str:
    """A URL that matches ``pattern``, its groups filled with a harmless value."""
    return re.sub(r"\(\?P<\w+>[^)]*\)|\([^)]*\)", "abc123", pattern).lstrip("/")


def _cases() -> list[tuple[str, str]]:
    return [(_concrete(p), m) for p, h in routes() for m in _implemented(h)]


def test_every_route_has_a_handler_method() -> None:
    for pattern, handler in routes():
        assert issubclass(handler, ContainerizeHandler), pattern
        assert handler.auth_resource == AUTH_RESOURCE
        assert _implemented(handler), pattern


@pytest.mark.parametrize("authorization", ["", "token wrong"], ids=["no-token", "wrong-token"])
@pytest.mark.parametrize(("url", "method"), _cases())
async def test_request_without_the_right_token_is_refused(
    jp_fetch: Any, url: str, method: str, authorization: str
) -> None:
    body = b"{}" if method in ("post", "put", "patch") else None
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch(
            url,
            method=method.upper(),
            body=body,
            headers={"Authorization": authorization},
            allow_nonstandard_methods=True,
        )
    assert info.value.code in (401, 403), (method, url, info.value.code)
