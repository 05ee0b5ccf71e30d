"""The OCI distribution API spoken directly: push an image from our own files, read one.

No engine is involved. A push sends each blob the registry lacks (a HEAD says what it has; a
cross-repository mount reuses a blob another repository of the same registry holds), in
chunked PATCH uploads that resume after a dropped connection, hashing the bytes as they are
read so a blob that does not match its digest is never sent complete; the manifest goes last.
A read resolves an index to one platform and keeps config blobs in the cache by digest.

Trust is what the engine would trust: CA roots and client certificate pairs from
``certs.d/HOST/`` (``/etc/docker/certs.d``, the rootless ``~/.config/docker/certs.d``, or
``$JUPYTER_CONTAINERIZE_CERTS_D``); loopback hosts speak plain HTTP unless a ``certs.d``
folder names them; hosts listed in ``$JUPYTER_CONTAINERIZE_INSECURE_REGISTRIES`` (or passed
``insecure=True``) are tried over HTTPS without verification, then over HTTP. Credentials
come from the Docker credential configuration (:func:`registry.credentials`): basic, or the
bearer token flow with the scopes each request needs.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import re
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Union
from urllib.parse import urlencode, urljoin

import requests
from requests.adapters import HTTPAdapter

from ..errors import (
    ContainerizeError,
    ImageReferenceError,
    NotFoundError,
    PayloadTooLargeError,
    RegistryError,
)
from ..progress import Event, Reporter
from .registry import check_reference, classify, credentials, host_of, login_hint

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MANIFEST_TYPES = (DOCKER_MANIFEST, OCI_MANIFEST, DOCKER_LIST, OCI_INDEX)
INDEX_TYPES = (DOCKER_LIST, OCI_INDEX)
TIMEOUT = 30.0
CHUNK_SIZE = 16 << 20
RETRIES = 3
CERTS_D_ENV = "JUPYTER_CONTAINERIZE_CERTS_D"
INSECURE_ENV = "JUPYTER_CONTAINERIZE_INSECURE_REGISTRIES"
DOCKER_HUB = ("docker.io", "index.docker.io", "registry-1.docker.io")

Opener = Callable[[], IO[bytes]]
Progress = Callable[[Any], None]


def is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    name = name.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


# ---------------------------------------------------------------- trust


def certs_d_roots() -> list[Path]:
    """Where per-registry certificates live: the override, else the engine's folders."""
    override = os.environ.get(CERTS_D_ENV)
    if override:
        return [Path(p) for p in override.split(os.pathsep) if p]
    config_home = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
    return [Path("/etc/docker/certs.d"), Path(config_home) / "docker" / "certs.d"]


def certs_dir(host: str) -> Path | None:
    """The ``certs.d/HOST`` folder for ``host``, or None."""
    for root in certs_d_roots():
        folder = root / host
        if folder.is_dir():
            return folder
    return None


def insecure_hosts() -> set[str]:
    """Hosts trusted without TLS verification: the configuration's and the environment's
    (``$JUPYTER_CONTAINERIZE_INSECURE_REGISTRIES``)."""
    from ..config import load_config

    hosts = {h.strip() for h in os.environ.get(INSECURE_ENV, "").split(",") if h.strip()}
    return hosts | set(load_config().insecure_registries)


def is_insecure(host: str) -> bool:
    """Whether ``host`` is reached without TLS verification: configured so, or one of the
    engine's insecure registries (asked only for a host that is not loopback and has no
    ``certs.d`` folder, so a registry-only verb never needs an engine)."""
    if host in insecure_hosts():
        return True
    if is_loopback(host) or certs_dir(host) is not None:
        return False
    return host in _engine_insecure()


def _engine_insecure() -> set[str]:
    """The engine's ``insecure-registries`` (its CIDR entries are not matched by name)."""
    from ..engine import client as engine

    try:
        info = engine.client().info()
    except ContainerizeError:
        return set()  # no engine: the configuration alone decides
    configs = (info.get("RegistryConfig") or {}).get("IndexConfigs") or {}
    return {name for name, c in configs.items() if not c.get("Secure", True)}


def tls_context(folder: Path | None) -> ssl.SSLContext:
    """The system's roots plus ``*.crt`` of ``folder``; its ``*.cert``/``*.key`` pairs."""
    ctx = ssl.create_default_context()
    if folder is None:
        return ctx
    for crt in sorted(folder.glob("*.crt")):
        try:
            ctx.load_verify_locations(cafile=str(crt))
        except (ssl.SSLError, OSError) as exc:
            raise RegistryError(f"{crt} is not a readable CA certificate: {exc}",
                                hint="replace it with the registry's CA certificate (PEM)"
                                ) from exc
    for cert in sorted(folder.glob("*.cert")):
        key = cert.with_suffix(".key")
        if not key.exists():
            raise RegistryError(f"client certificate {cert} has no {key.name}",
                                hint=f"put its private key beside it as {key}")
        try:
            ctx.load_cert_chain(str(cert), str(key))
        except (ssl.SSLError, OSError) as exc:
            raise RegistryError(f"client certificate {cert} cannot be loaded: {exc}",
                                hint="check that the .cert and .key files are a PEM pair"
                                ) from exc
    return ctx


class _ContextAdapter(HTTPAdapter):
    """An HTTPS adapter verifying with one SSL context (CA roots and client certificates)."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self._context = context
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["ssl_context"] = self._context
        super().init_poolmanager(*args, **kwargs)


# ---------------------------------------------------------------- the client


def _one_line(text: str, limit: int = 200) -> str:
    return " ".join(text.split())[:limit]


class RegistryClient:
    """A small client of the distribution API for one registry host."""

    def __init__(self, host: str, scheme: str | None = None,
                 auth: dict[str, str] | None = None, *, insecure: bool | None = None) -> None:
        self.host = host
        self.auth = auth if auth is not None else (credentials(host) or {})
        self.session = requests.Session()
        self._tokens: dict[str, str] = {}
        self.catalog_error: RegistryError | None = None
        folder = certs_dir(host)
        self.insecure = bool(insecure) if insecure is not None else is_insecure(host)
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
            self.session.mount(self.base + "/", _ContextAdapter(ctx))

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
        return RegistryError(f"TLS with the registry {self.host} failed: {_one_line(text)}",
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
                 platform: str = "linux/amd64") -> tuple[dict[str, Any], str]:
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


def _platform_entry(entries: list[dict[str, Any]], platform: str = "linux/amd64") -> str:
    want = platform.split("/")
    for entry in entries:
        plat = entry.get("platform") or {}
        have = [plat.get("os"), plat.get("architecture")]
        if len(want) > 2:
            have.append(plat.get("variant"))
        if have == want:
            return str(entry["digest"])
    if entries and platform == "linux/amd64":
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


# ---------------------------------------------------------------- blobs


@dataclass(frozen=True)
class Blob:
    """Content by digest: ``source`` is a path, bytes, or a callable opening a binary stream."""

    digest: str
    size: int
    media_type: str = OCI_LAYER
    source: Union[Path, str, bytes, Opener, None] = None
    name: str = ""  # what messages call it (a layer's file or comment)

    @classmethod
    def from_bytes(cls, data: bytes, media_type: str, name: str = "") -> Blob:
        return cls("sha256:" + hashlib.sha256(data).hexdigest(), len(data), media_type, data,
                   name)

    @classmethod
    def from_file(cls, path: Path | str, media_type: str = OCI_LAYER,
                  digest: str | None = None, name: str = "") -> Blob:
        """A file as a blob; its digest is computed when not given (one read)."""
        path = Path(path)
        if digest is None:
            h = hashlib.sha256()
            with open(path, "rb") as fh:
                while chunk := fh.read(1 << 20):
                    h.update(chunk)
            digest = "sha256:" + h.hexdigest()
        return cls(digest, path.stat().st_size, media_type, path, name or str(path))

    def open(self) -> IO[bytes]:
        import io

        if isinstance(self.source, (str, Path)):
            return open(self.source, "rb")
        if isinstance(self.source, bytes):
            return io.BytesIO(self.source)
        if callable(self.source):
            return self.source()
        raise ValueError(f"blob {self.digest} has no source to read")

    def label(self) -> str:
        return self.name or self.digest[:19]

    def descriptor(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


class _Reader:
    """Reads a blob from any offset, hashing each byte once, in order, as it first passes."""

    def __init__(self, blob: Blob) -> None:
        self.blob = blob
        self.hash = hashlib.sha256()
        self.hashed = 0
        self.fh: IO[bytes] | None = None
        self.pos = 0

    def read_at(self, offset: int, n: int) -> bytes:
        while offset > self.hashed:  # never skip a byte of the hash
            if not self.read_at(self.hashed, min(offset - self.hashed, 1 << 20)):
                break
        if self.fh is None or offset != self.pos:
            self._seek(offset)
        assert self.fh is not None
        data = self.fh.read(min(n, self.blob.size - offset))
        if offset + len(data) > self.hashed:
            self.hash.update(data[self.hashed - offset:])
            self.hashed = offset + len(data)
        self.pos = offset + len(data)
        return data

    def _seek(self, offset: int) -> None:
        if self.fh is not None:
            try:
                self.fh.seek(offset)
                self.pos = offset
                return
            except (OSError, ValueError):
                self.fh.close()
        self.fh = self.blob.open()
        left = offset
        while left:  # a stream that cannot seek: read again from the start
            skipped = self.fh.read(min(left, 1 << 20))
            if not skipped:
                break
            left -= len(skipped)
        self.pos = offset - left

    def verify(self) -> None:
        """The whole blob was read: its hash and size must be what the descriptor says."""
        got = "sha256:" + self.hash.hexdigest()
        if got != self.blob.digest or self.hashed != self.blob.size:
            raise ContainerizeError(
                f"layer {self.blob.label()} does not match its digest {self.blob.digest} "
                f"(its bytes hash to {got}, {self.hashed} of {self.blob.size} bytes): "
                "the file changed or is corrupt",
                hint="rebuild with `build --no-cache`, then push again")

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()
            self.fh = None


# ---------------------------------------------------------------- push


@dataclass
class PushStats:
    """What one push did: blobs sent, already there, mounted; bytes sent; resumed uploads."""

    sent: int = 0
    skipped: int = 0
    mounted: int = 0
    bytes_sent: int = 0
    resumed: int = 0
    digest: str = ""
    reference: str = ""
    outcomes: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "outcomes"} | {
            "outcomes": dict(self.outcomes)}


def split_target(reference: str) -> tuple[str, str, str | None, str | None]:
    """(host, repository name in the registry, tag, digest) of a full reference."""
    repo, tag, digest = check_reference(reference)
    host = host_of(repo)
    if not host:
        raise ImageReferenceError(f"{reference!r} names no registry",
                                  hint="use HOST[:PORT]/NAME[:TAG], e.g. "
                                       "registry.example.com:5000/team/model:1")
    name = repo[len(host) + 1:]
    if host in DOCKER_HUB:
        host = "registry-1.docker.io"
        name = name if "/" in name else f"library/{name}"
    return host, name, tag, digest


def image_manifest(config: Blob, layers: list[Blob],
                   annotations: dict[str, str] | None = None) -> bytes:
    """An OCI image manifest's exact bytes: the same a load into an engine names."""
    from ..image.layers import oci_manifest

    return oci_manifest(config.descriptor(), [b.descriptor() for b in layers], annotations)


def push_image(reference: str, config: bytes, layers: list[Blob], *,
               config_media_type: str = OCI_CONFIG,
               annotations: dict[str, str] | None = None,
               mount_from: list[str] | None = None,
               progress: Progress | None = None,
               insecure: bool | None = None,
               chunk_size: int = CHUNK_SIZE,
               client: RegistryClient | None = None,
               stats: PushStats | None = None) -> str:
    """Push an image made of ``config`` and ``layers`` to ``reference``; returns the manifest
    digest. Without a tag the manifest is pushed by digest only. ``stats`` (when given) is
    filled with what was sent; the progress callback gets one event per blob and a summary."""
    host, name, tag, want_digest = split_target(reference)
    reg = client or RegistryClient(host, insecure=insecure)
    rep = Reporter(progress)
    st = stats if stats is not None else PushStats()
    sources = _mount_sources(host, name, mount_from or [])
    scope = " ".join([f"repository:{name}:pull,push"]
                     + [f"repository:{s}:pull" for s in sources])
    config_blob = Blob.from_bytes(config, config_media_type, "config")
    blobs = list(layers) + [config_blob]
    rep.emit(Event("phase", f"pushing {host}/{name}:{tag or '(by digest)'}", phase="push"))
    started = time.perf_counter()
    done: set[str] = set()
    held = _held_blobs(reg, name, blobs, scope)
    for i, blob in enumerate(blobs, 1):
        if blob.digest in done:
            continue
        done.add(blob.digest)
        outcome = ("exists" if blob.digest in held
                   else _push_blob(reg, name, blob, sources, scope, chunk_size, st, rep))
        st.outcomes[blob.digest] = outcome
        if outcome == "exists":
            st.skipped += 1
        elif outcome == "mounted":
            st.mounted += 1
        else:
            st.sent += 1
        rep.emit(Event("progress", f"{blob.label()} {outcome}", phase="push", current=i,
                       total=len(blobs), data={"digest": blob.digest, "outcome": outcome,
                                               "size": blob.size}))
    body = image_manifest(config_blob, list(layers), annotations)
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    if want_digest and want_digest != digest:
        raise ImageReferenceError(f"the manifest's digest is {digest}, not {want_digest}",
                                  hint="push by tag, or by the digest of this manifest")
    ref = tag or digest
    resp = reg.request("PUT", f"/v2/{name}/manifests/{ref}", data=body, scope=scope,
                       headers={"Content-Type": OCI_MANIFEST}, ok=(400, 413))
    if resp.status_code == 413:
        raise PayloadTooLargeError(f"the registry {host} refused the manifest of {name} as "
                                   "too large", hint="raise the registry's body size limit")
    if resp.status_code == 400:
        raise _manifest_refused(reg, resp, f"{host}/{name}:{ref}")
    announced = resp.headers.get("Docker-Content-Digest", "")
    if announced and announced != digest:
        raise RegistryError(f"the registry {host} stored the manifest of {name}:{ref} as "
                            f"{announced}, not {digest}",
                            hint="the registry rewrote the manifest; push again or pin "
                                 f"{announced}")
    st.digest, st.reference = digest, f"{host}/{name}@{digest}"
    seconds = time.perf_counter() - started
    rep.emit(Event("log", f"push: {len(done)} blobs, {st.sent} sent, {st.skipped} already "
                          f"there, {st.mounted} mounted, {st.bytes_sent} bytes, "
                          f"{seconds:.1f}s; {st.reference}", phase="push",
                   data={**st.to_json(), "seconds": round(seconds, 3)}))
    return digest


def _manifest_refused(reg: RegistryClient, resp: requests.Response,
                      ref: str) -> ContainerizeError:
    text = resp.text
    if "BLOB_UNKNOWN" in text or "MANIFEST_BLOB_UNKNOWN" in text:
        return RegistryError(f"the registry {reg.host} lacks a blob the manifest of {ref} "
                             "names", hint="push again (a blob may have been deleted meanwhile)")
    if "NAME_INVALID" in text or "TAG_INVALID" in text:
        return classify(text, reg.host, ref)
    return RegistryError(f"the registry {reg.host} refused the manifest of {ref}: "
                         f"{_one_line(text)}", hint="see the registry's message")


def _mount_sources(host: str, name: str, mount_from: list[str]) -> list[str]:
    """Repositories of the same registry (names in it) a blob may be mounted from."""
    out: list[str] = []
    for item in mount_from:
        repo = item.split("@", 1)[0]
        if repo.rsplit("/", 1)[-1].count(":") == 1:
            repo = repo.rsplit(":", 1)[0]
        other = host_of(repo)
        if other is not None:
            if other != host:
                continue
            repo = repo[len(other) + 1:]
        if repo and repo != name and repo not in out:
            out.append(repo)
    return out


def _held_blobs(reg: RegistryClient, name: str, blobs: list[Blob], scope: str) -> set[str]:
    """The blobs the repository already has, asked for all at once (HEADs in parallel)."""
    from concurrent.futures import ThreadPoolExecutor

    digests = sorted({b.digest for b in blobs})
    if not digests:
        return set()
    reg.has_blob(name, digests[0], scope)  # one first: any token is fetched once, here
    with ThreadPoolExecutor(max_workers=8) as pool:
        found = list(pool.map(lambda d: reg.has_blob(name, d, scope), digests))
    return {d for d, yes in zip(digests, found) if yes}


def _push_blob(reg: RegistryClient, name: str, blob: Blob, sources: list[str], scope: str,
               chunk_size: int, st: PushStats, rep: Reporter) -> str:
    """'exists', 'mounted' or 'sent'."""
    if reg.has_blob(name, blob.digest, scope):
        return "exists"
    location = ""
    for source in sources:
        resp = reg.request("POST", f"/v2/{name}/blobs/uploads/", scope=scope,
                           params={"mount": blob.digest, "from": source},
                           headers={"Content-Length": "0"}, ok=(401, 403, 404))
        if resp.status_code == 201:
            return "mounted"
        if resp.status_code != 202 or not resp.headers.get("Location"):
            continue  # no right to read the source: upload instead
        if location:  # an upload session this mount attempt opened: not needed
            reg.request("DELETE", location, scope=scope, ok=(400, 404, 405))
        location = urljoin(reg.base + "/", resp.headers.get("Location", ""))
    _upload(reg, name, blob, scope, chunk_size, st, location, rep)
    return "sent"


def _upload(reg: RegistryClient, name: str, blob: Blob, scope: str, chunk_size: int,
            st: PushStats, location: str, rep: Reporter) -> None:
    """POST (unless a session is open), chunked PATCHes following Location, PUT ?digest=."""
    reader = _Reader(blob)
    start = f"/v2/{name}/blobs/uploads/"
    try:
        if not location:
            location = _start_upload(reg, start, scope)
        offset = 0
        failures = 0
        while True:
            if offset >= blob.size and blob.size:
                break
            chunk = reader.read_at(offset, chunk_size)
            if offset + len(chunk) < blob.size and not chunk:
                reader.verify()  # the source is shorter than the descriptor says
            if offset + len(chunk) >= blob.size:
                reader.verify()  # the last bytes go only when the whole blob is right
            try:
                location = _patch(reg, location, chunk, offset, scope, blob)
                st.bytes_sent += len(chunk)
                offset += len(chunk)
                failures = 0
                if not blob.size:
                    break
            except DroppedConnection as exc:
                failures += 1
                if failures > RETRIES:
                    raise RegistryError(
                        f"the connection to {reg.host} dropped {failures} times while sending "
                        f"layer {blob.label()}",
                        hint="check the network or proxy, then push again: what the registry "
                             "already has is not sent again") from exc
                time.sleep(0.2 * failures)
                st.resumed += 1
                location, offset = _resume(reg, location, start, scope)
                rep.emit(Event("log", f"{blob.label()}: connection dropped, resuming at byte "
                                      f"{offset}", phase="push",
                               data={"digest": blob.digest, "resume_at": offset}))
        sep = "&" if "?" in location else "?"
        reg.request("PUT", f"{location}{sep}{urlencode({'digest': blob.digest})}",
                    scope=scope, headers={"Content-Length": "0"})
    except PayloadTooLargeError as exc:
        raise PayloadTooLargeError(
            f"the registry {reg.host} refused layer {blob.label()} ({blob.size} bytes) as too "
            "large", hint="raise the body size limit of the registry or of the proxy in front "
                          "of it (chunks are at most "
                          f"{chunk_size >> 20 or 1} MiB)") from exc
    finally:
        reader.close()


def _start_upload(reg: RegistryClient, path: str, scope: str) -> str:
    resp = reg.request("POST", path, scope=scope, headers={"Content-Length": "0"})
    where = resp.headers.get("Location")
    if resp.status_code != 202 or not where:
        raise RegistryError(f"the registry {reg.host} did not open an upload "
                            f"({resp.status_code})", hint="see the registry's log")
    return urljoin(reg.base + "/", where)


def _patch(reg: RegistryClient, location: str, chunk: bytes, offset: int, scope: str,
           blob: Blob) -> str:
    headers = {"Content-Type": "application/octet-stream",
               "Content-Length": str(len(chunk))}
    if chunk:
        headers["Content-Range"] = f"{offset}-{offset + len(chunk) - 1}"
    resp = reg.request("PATCH", location, data=chunk, headers=headers, scope=scope,
                       ok=(416,), resumable=True)
    if resp.status_code == 416:
        raise DroppedConnection(f"the registry refused the range at {offset}")
    return urljoin(location, resp.headers.get("Location") or location)


def _resume(reg: RegistryClient, location: str, start: str, scope: str) -> tuple[str, int]:
    """(upload URL, offset) to go on from: what the registry says it has, else a new upload."""
    try:
        resp = reg.request("GET", location, scope=scope, ok=(400, 404, 416), resumable=True)
    except DroppedConnection:
        resp = None
    if resp is not None and resp.status_code in (200, 204):
        got = re.fullmatch(r"(?:bytes=)?0-(\d+)", resp.headers.get("Range", "").strip())
        where = urljoin(location, resp.headers.get("Location") or location)
        return where, int(got.group(1)) + 1 if got else 0
    return _start_upload(reg, start, scope), 0  # the registry dropped the session


# ---------------------------------------------------------------- read


def read_image(reference: str, *, platform: str = "linux/amd64", insecure: bool | None = None,
               client: RegistryClient | None = None
               ) -> tuple[dict[str, Any], str, dict[str, Any]]:
    """(image manifest, manifest digest, image config) of ``reference`` without pulling it.

    An index resolves to ``platform``; config blobs are cached on disk by digest and checked
    against it each time they are read."""
    host, name, tag, digest = split_target(reference)
    reg = client or RegistryClient(host, insecure=insecure)
    manifest, manifest_digest = reg.manifest(name, digest or tag or "latest", platform)
    cfg_digest = str((manifest.get("config") or {}).get("digest") or "")
    if not re.fullmatch(r"sha256:[0-9a-f]{64}", cfg_digest):
        raise RegistryError(f"the manifest of {reference} names no sha256 config",
                            hint="push the image again")
    return manifest, manifest_digest, json.loads(_cached_blob(reg, name, cfg_digest))


def _cached_blob(reg: RegistryClient, name: str, digest: str) -> bytes:
    """A config blob from our blob store, else from the registry (checked) and kept there."""
    from ..engine.imagestore import add_blob_bytes, read_blob

    data = read_blob(digest)
    if data is None:
        data = reg.blob(name, digest)
        add_blob_bytes(data)
    return data


__all__ = ["Blob", "PushStats", "RegistryClient", "push_image", "read_image", "image_manifest",
           "split_target", "OCI_LAYER", "OCI_LAYER_GZIP", "OCI_CONFIG", "OCI_MANIFEST"]
