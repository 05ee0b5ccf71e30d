"""A small client of the distribution API for one registry host: transport, credentials
(basic, or the bearer token flow with the scopes each request needs), and reads (catalog,
tags, manifests resolved to one platform, blobs checked against their digests)."""

from __future__ import annotations

import hashlib
import json
import re
import ssl
from collections.abc import Callable
from typing import Any

import requests

from ..config import ContainerizeConfig
from ..errors import ContainerizeError, NotFoundError, PayloadTooLargeError, RegistryError
from ..options import DEFAULT_PLATFORM
from .credentials import credentials
from .manifest import INDEX_TYPES, MANIFEST_TYPES
from .reference import classify, login_hint
from .trust import (
    INSECURE_ENV,
    ContextAdapter,
    EngineInsecure,
    certs_d_roots,
    certs_dir,
    is_insecure,
    is_loopback,
    tls_context,
)

TIMEOUT = 30.0


def one_line(text: str, limit: int = 200) -> str:
    return " ".join(text.split())[:limit]


def registry_said(resp: requests.Response, limit: int = 160) -> str:
    """What a registry's error answer says, on one line: the distribution API's errors as
    ``CODE: message (detail)``, else the body's text."""
    try:
        found = resp.json().get("errors") or []
        said = "; ".join(
            f"{e.get('code', '?')}: {e.get('message', '')}"
            + (f" ({e['detail']})" if isinstance(e.get("detail"), str) and e["detail"] else "")
            for e in found if isinstance(e, dict))
    except (ValueError, AttributeError):
        said = ""
    return one_line(said or resp.text or f"HTTP {resp.status_code}", limit)


class RegistryClient:
    """A small client of the distribution API for one registry host."""

    def __init__(self, host: str, scheme: str | None = None,
                 auth: dict[str, str] | None = None, *, insecure: bool | None = None,
                 config: ContainerizeConfig | None = None,
                 engine_insecure: EngineInsecure | None = None) -> None:
        """``insecure`` None decides as :func:`trust.is_insecure` does; ``engine_insecure``
        (a caller with an engine) adds the engine's insecure registries."""
        self.host = host
        self.auth = auth if auth is not None else (credentials(host) or {})
        self.session = requests.Session()
        self._tokens: dict[str, str] = {}
        self.catalog_error: RegistryError | None = None
        folder = certs_dir(host)
        self.insecure = (bool(insecure) if insecure is not None
                         else is_insecure(host, config, engine_insecure))
        self.certs = folder
        self._probe = False
        if scheme:
            pass  # the caller knows
        elif folder is not None:
            scheme = "https"
        elif is_loopback(host):
            scheme = "http"
        elif self.insecure:
            scheme, self._probe = "https", True
        else:
            scheme = "https"
        self.scheme = scheme
        self.base = f"{scheme}://{host}"
        if scheme == "https":
            ctx = tls_context(folder)
            if self.insecure:  # as the engine does for an insecure registry: no verification
                self.session.verify = False
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            self.session.mount(self.base + "/", ContextAdapter(ctx))

    # -- transport

    def url(self, path: str) -> str:
        return path if "://" in path else self.base + path

    def request(self, method: str, path: str, *, headers: dict[str, str] | None = None,
                data: bytes | None = None, scope: str = "", params: dict[str, str] | None = None,
                ok: tuple[int, ...] = (), allow_redirects: bool = True,
                resumable: bool = False) -> requests.Response:
        """One request with credentials; a bearer challenge gets a token for ``scope`` and the
        request is sent again. Statuses in ``ok`` come back as they are; other errors raise.
        A connection dropped mid-request raises :class:`DroppedConnection` when ``resumable``
        (the caller goes on from what the registry has), else a one-line error."""
        self._resolve_scheme()
        headers = dict(headers or {})
        try:
            resp = self._send(method, path, headers, data, scope, params, None,
                              allow_redirects)
            challenge = resp.headers.get("WWW-Authenticate", "")
            if resp.status_code == 401 and "bearer" in challenge.lower():
                token = self._token(challenge, scope)
                resp = self._send(method, path, headers, data, scope, params, token,
                                  allow_redirects)
        except DroppedConnection as exc:
            if resumable:
                raise
            raise RegistryError(f"the connection to the registry {self.host} dropped",
                                hint="check the network or the proxy in front of the "
                                     "registry, then try again") from exc
        if resp.status_code in ok or resp.status_code < 400:
            return resp
        raise self.error(resp, path)

    def get(self, path: str, accept: tuple[str, ...] = (), ok404: bool = False,
            scope: str = "") -> requests.Response | None:
        headers = {"Accept": ", ".join(accept)} if accept else {}
        resp = self.request("GET", path, headers=headers, scope=scope,
                            ok=(404,) if ok404 else ())
        return None if resp.status_code == 404 else resp

    def error(self, resp: requests.Response, what: str = "") -> ContainerizeError:
        """One error with its fix from a registry's answer."""
        code = resp.status_code
        if code == 401:
            said = "refused the credentials" if self.auth else "needs credentials"
            return RegistryError(f"the registry {self.host} {said}", hint=login_hint(self.host))
        if code == 403:
            return RegistryError(f"the registry {self.host} denies this to the credentials used"
                                 f"{' (' + what + ')' if what else ''}",
                                 hint=f"{login_hint(self.host)} as a user allowed to push there")
        if code == 413:
            return PayloadTooLargeError(
                f"the registry {self.host} refused a request body as too large",
                hint="raise the body size limit of the registry or of the proxy in front of it")
        if code in (502, 503, 504):
            return RegistryError(f"the registry {self.host} is unavailable ({code})",
                                 hint=f"is the registry running at {self.host}? try again")
        return classify(f"{code} {resp.text}", self.host, what)

    def _auth_pair(self) -> tuple[str, str] | None:
        if self.auth.get("username") and self.auth.get("password"):
            return self.auth["username"], self.auth["password"]
        return None

    def _send(self, method: str, path: str, headers: dict[str, str], data: bytes | None,
              scope: str, params: dict[str, str] | None, token: str | None,
              allow_redirects: bool) -> requests.Response:
        headers = dict(headers)
        token = token or self._tokens.get(scope)
        auth = None
        if token:
            headers["Authorization"] = f"Bearer {token}"
        else:
            auth = self._auth_pair()
        try:
            return self.session.request(method, self.url(path), headers=headers, data=data,
                                        params=params, auth=auth, timeout=TIMEOUT,
                                        allow_redirects=allow_redirects)
        except requests.exceptions.SSLError as exc:
            raise self._tls_error(exc) from exc
        except requests.ConnectionError as exc:
            if _dropped(exc):
                raise DroppedConnection(str(exc)) from exc
            raise RegistryError(f"cannot reach the registry at {self.host}",
                                hint=f"is the registry running at {self.host}?") from exc
        except requests.Timeout as exc:
            raise RegistryError(f"the registry at {self.host} did not answer in time",
                                hint=f"is the registry running at {self.host}?") from exc

    def _tls_error(self, exc: Exception) -> RegistryError:
        text = str(exc)
        if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
            root = certs_d_roots()[0]
            return RegistryError(
                f"the registry {self.host}'s TLS certificate is not trusted",
                hint=f"put its CA certificate in {root}/{self.host}/ca.crt, or list "
                     f"{self.host} in {INSECURE_ENV}")
        if "certificate required" in text.lower() or "handshake failure" in text.lower() \
                or "bad certificate" in text.lower():
            return RegistryError(
                f"the registry {self.host} wants a client certificate",
                hint=f"put it in {certs_d_roots()[0]}/{self.host}/ as client.cert and "
                     "client.key")
        return RegistryError(f"TLS with the registry {self.host} failed: {one_line(text)}",
                             hint=f"check {certs_d_roots()[0]}/{self.host}/ and that it "
                                  "speaks HTTPS")

    def _resolve_scheme(self) -> None:
        """An insecure registry: HTTPS without verification if it speaks it, else HTTP."""
        if not self._probe:
            return
        self._probe = False
        try:
            self.session.get(self.base + "/v2/", timeout=TIMEOUT)
            return
        except requests.exceptions.SSLError:
            pass
        except requests.RequestException:
            return
        self.scheme, self.base = "http", f"http://{self.host}"

    def _token(self, challenge: str, scope: str) -> str:
        """The bearer token flow of the distribution spec (one or more scopes)."""
        params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
        realm = params.pop("realm", "")
        if not realm:
            raise RegistryError(f"the registry {self.host} sent a bearer challenge with no realm",
                                hint="report this to the registry's administrator")
        query: list[tuple[str, str]] = [("service", params.get("service", ""))]
        scopes = scope.split() or params.get("scope", "").split()
        query += [("scope", s) for s in scopes]
        auth = self._auth_pair()
        if auth is None and self.auth.get("identitytoken"):
            form = {"grant_type": "refresh_token", "refresh_token": self.auth["identitytoken"],
                    "service": params.get("service", ""), "scope": " ".join(scopes),
                    "client_id": "jupyter-containerize"}
            call: Callable[[], requests.Response] = lambda: self.session.post(  # noqa: E731
                realm, data=form, timeout=TIMEOUT)
        else:
            call = lambda: self.session.get(  # noqa: E731
                realm, params=query, auth=auth, timeout=TIMEOUT)
        try:
            resp = call()
        except requests.RequestException as exc:
            raise RegistryError(f"the token service {realm} did not answer",
                                hint=f"is the registry running at {self.host}?") from exc
        if resp.status_code in (401, 403):
            raise RegistryError(f"the registry {self.host} refused the credentials",
                                hint=login_hint(self.host))
        try:
            body = resp.json() if resp.ok else {}
        except ValueError:
            body = {}
        token = body.get("token") or body.get("access_token")
        if not token:
            raise RegistryError(f"the token service {realm} answered {resp.status_code}",
                                hint=login_hint(self.host))
        self._tokens[scope] = str(token)
        return str(token)

    # -- reading

    def repositories(self) -> list[str] | None:
        """Every repository of ``/v2/_catalog``, or None when the registry offers none."""
        found: list[str] = []
        path: str | None = "/v2/_catalog?n=1000"
        while path:
            try:
                resp = self.get(path, ok404=True, scope="registry:catalog:*")
            except RegistryError as exc:
                if found or "credentials" not in exc.message:
                    raise
                self.catalog_error = exc
                return None  # hosted registries deny the catalog even to good credentials
            if resp is None:
                return None
            found.extend(resp.json().get("repositories") or [])
            link = re.search(r"<([^>]+)>;\s*rel=\"?next\"?", resp.headers.get("Link", ""))
            path = link.group(1) if link else None
        return found

    def tags(self, name: str) -> list[str]:
        resp = self.get(f"/v2/{name}/tags/list", ok404=True, scope=f"repository:{name}:pull")
        return sorted((resp.json().get("tags") or []) if resp is not None else [])

    def manifest(self, name: str, ref: str,
                 platform: str = DEFAULT_PLATFORM) -> tuple[dict[str, Any], str]:
        """(image manifest, its digest); an index resolves to ``platform``. The bytes are
        checked against the digest asked for and the one the registry announces."""
        scope = f"repository:{name}:pull"
        resp = self.request("GET", f"/v2/{name}/manifests/{ref}",
                            headers={"Accept": ", ".join(MANIFEST_TYPES)}, scope=scope)
        digest = "sha256:" + hashlib.sha256(resp.content).hexdigest()
        announced = resp.headers.get("Docker-Content-Digest", "")
        if ref.startswith("sha256:") and ref != digest:
            raise RegistryError(f"the registry {self.host} sent a manifest for {name}@{ref} "
                                f"whose bytes hash to {digest}", hint="push the image again")
        if announced.startswith("sha256:") and announced != digest:
            raise RegistryError(f"the registry {self.host} announced {announced} for {name}:"
                                f"{ref} but sent bytes hashing to {digest}",
                                hint="push the image again")
        try:
            body: dict[str, Any] = resp.json()
        except ValueError as exc:
            raise RegistryError(f"the registry {self.host} sent a manifest that is not JSON",
                                hint="push the image again") from exc
        if body.get("mediaType") in INDEX_TYPES or "manifests" in body:
            chosen = _platform_entry(body.get("manifests") or [], platform)
            return self.manifest(name, chosen, platform)
        if body.get("schemaVersion") == 1:
            raise RegistryError(f"{name}:{ref} is an old schema 1 image",
                                hint="push it again with a current Docker engine")
        return body, digest

    def blob(self, name: str, digest: str) -> bytes:
        """A small blob's bytes, checked against its digest."""
        resp = self.request("GET", f"/v2/{name}/blobs/{digest}",
                            scope=f"repository:{name}:pull")
        got = "sha256:" + hashlib.sha256(resp.content).hexdigest()
        if got != digest:
            raise RegistryError(f"the registry {self.host} sent bytes hashing to {got} for "
                                f"blob {digest} of {name}", hint="push the image again")
        return resp.content

    def config(self, name: str, digest: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.blob(name, digest))
        return data

    def has_blob(self, name: str, digest: str, scope: str = "") -> bool:
        resp = self.request("HEAD", f"/v2/{name}/blobs/{digest}", ok=(404,),
                            scope=scope or f"repository:{name}:pull")
        return resp.status_code == 200


def _platform_entry(entries: list[dict[str, Any]], platform: str = DEFAULT_PLATFORM) -> str:
    want = platform.split("/")
    for entry in entries:
        plat = entry.get("platform") or {}
        have = [plat.get("os"), plat.get("architecture")]
        if len(want) > 2:
            have.append(plat.get("variant"))
        if have == want:
            return str(entry["digest"])
    if entries and platform == DEFAULT_PLATFORM:
        return str(entries[0]["digest"])
    if entries:
        offered = ", ".join(sorted({
            "/".join(x for x in ((e.get("platform") or {}).get("os"),
                                 (e.get("platform") or {}).get("architecture")) if x)
            for e in entries}))
        raise NotFoundError(f"the image offers no {platform} variant (it has {offered})",
                            hint="choose one of the platforms it offers")
    raise RegistryError("the registry sent an empty image index", hint="push the image again")


class DroppedConnection(Exception):
    """The connection dropped in the middle of a request (resumable)."""


def _dropped(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(s in text for s in ("connection aborted", "connection reset", "broken pipe",
                                   "remotedisconnected", "remote end closed",
                                   "connection broken", "protocolerror"))
