"""The team's images as the registry holds them, read WITHOUT pulling (DESIGN section 8).

Registry HTTP API v2 with ``requests``: ``/v2/_catalog`` where the registry offers it (else the
configured ``team_repositories``), ``/v2/<name>/tags/list``, the manifest (Docker schema 2 or
OCI, an index resolved to linux/amd64), then the config blob whose labels say who built what.
Basic credentials come from the Docker credential configuration; a registry that answers 401
with ``WWW-Authenticate: Bearer`` gets the token flow.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

import requests

from . import labels
from .config import ContainerizeConfig, load_config
from .errors import NotFoundError, RegistryError
from .registry import classify, credentials, login_hint, registry_host

MANIFEST_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.index.v1+json",
)
INDEX_TYPES = MANIFEST_TYPES[2:]
TIMEOUT = 30.0


def is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    name = name.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class RegistryClient:
    """A small client of the distribution API for one registry host."""

    def __init__(self, host: str, scheme: str | None = None,
                 auth: dict[str, str] | None = None) -> None:
        self.host = host
        self.base = f"{scheme or ('http' if is_loopback(host) else 'https')}://{host}"
        self.auth = auth if auth is not None else (credentials(host) or {})
        self.session = requests.Session()
        self._tokens: dict[str, str] = {}
        self.catalog_error: RegistryError | None = None

    # -- transport

    def get(self, path: str, accept: tuple[str, ...] = (), ok404: bool = False,
            scope: str = "") -> requests.Response | None:
        headers = {"Accept": ", ".join(accept)} if accept else {}
        resp = self._send(path, headers, scope)
        if resp.status_code == 401 and "bearer" in resp.headers.get("WWW-Authenticate", "").lower():
            token = self._token(resp.headers["WWW-Authenticate"], scope)
            resp = self._send(path, headers, scope, token)
        if resp.status_code == 404 and ok404:
            return None
        if resp.status_code == 401:
            what = "refused the credentials" if self.auth else "needs credentials"
            raise RegistryError(f"the registry {self.host} {what}", hint=login_hint(self.host))
        if resp.status_code >= 400:
            raise classify(f"{resp.status_code} {resp.text}", self.host, path)
        return resp

    def _send(self, path: str, headers: dict[str, str], scope: str,
              token: str | None = None) -> requests.Response:
        headers = dict(headers)
        token = token or self._tokens.get(scope)
        auth = None
        if token:
            headers["Authorization"] = f"Bearer {token}"
        elif self.auth.get("username") and self.auth.get("password"):
            auth = (self.auth["username"], self.auth["password"])
        try:
            return self.session.get(self.base + path, headers=headers, auth=auth,
                                    timeout=TIMEOUT)
        except requests.ConnectionError as exc:
            raise RegistryError(f"cannot reach the registry at {self.host}",
                                hint=f"is the registry running at {self.host}?") from exc
        except requests.Timeout as exc:
            raise RegistryError(f"the registry at {self.host} did not answer in time",
                                hint=f"is the registry running at {self.host}?") from exc

    def _token(self, challenge: str, scope: str) -> str:
        """The bearer token flow of the distribution spec (docker's token auth)."""
        params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
        realm = params.pop("realm", "")
        if not realm:
            raise RegistryError(f"the registry {self.host} sent a bearer challenge with no realm",
                                hint="report this to the registry's administrator")
        query = {"service": params.get("service", "")}
        if params.get("scope") or scope:
            query["scope"] = params.get("scope") or scope
        auth = None
        if self.auth.get("username") and self.auth.get("password"):
            auth = (self.auth["username"], self.auth["password"])
        try:
            resp = self.session.get(realm, params=query, auth=auth, timeout=TIMEOUT)
        except requests.RequestException as exc:
            raise RegistryError(f"the token service {realm} did not answer",
                                hint=f"is the registry running at {self.host}?") from exc
        if resp.status_code in (401, 403):
            raise RegistryError(f"the registry {self.host} refused the credentials",
                                hint=login_hint(self.host))
        body = resp.json() if resp.ok else {}
        token = body.get("token") or body.get("access_token")
        if not token:
            raise RegistryError(f"the token service {realm} answered {resp.status_code}",
                                hint=login_hint(self.host))
        self._tokens[scope] = str(token)
        return str(token)

    # -- API

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

    def manifest(self, name: str, ref: str) -> tuple[dict[str, Any], str]:
        """(image manifest, its digest); an index resolves to linux/amd64."""
        scope = f"repository:{name}:pull"
        resp = self.get(f"/v2/{name}/manifests/{ref}", accept=MANIFEST_TYPES, scope=scope)
        assert resp is not None
        body = resp.json()
        digest = resp.headers.get("Docker-Content-Digest", "")
        if body.get("mediaType") in INDEX_TYPES or "manifests" in body:
            chosen = _platform_entry(body.get("manifests") or [])
            return self.manifest(name, chosen)
        if body.get("schemaVersion") == 1:
            raise RegistryError(f"{name}:{ref} is an old schema 1 image",
                                hint="push it again with a current Docker engine")
        return body, digest or (ref if ref.startswith("sha256:") else "")

    def config(self, name: str, digest: str) -> dict[str, Any]:
        resp = self.get(f"/v2/{name}/blobs/{digest}", scope=f"repository:{name}:pull")
        assert resp is not None
        data: dict[str, Any] = resp.json()
        return data


def _platform_entry(entries: list[dict[str, Any]]) -> str:
    for entry in entries:
        plat = entry.get("platform") or {}
        if plat.get("os") == "linux" and plat.get("architecture") == "amd64":
            return str(entry["digest"])
    if entries:
        return str(entries[0]["digest"])
    raise RegistryError("the registry sent an empty image index", hint="push the image again")


def describe(host: str, name: str, tag: str, manifest: dict[str, Any], digest: str,
             config: dict[str, Any]) -> dict[str, Any]:
    """One catalog row: what the labels say, and the compressed size."""
    lab = (config.get("config") or {}).get("Labels") or {}
    size = sum(int(layer.get("size", 0)) for layer in manifest.get("layers") or [])
    size += int((manifest.get("config") or {}).get("size", 0))
    packages = [p for p in lab.get(labels.PACKAGES, "").split(",") if p]
    model = {k: v for k, v in (("sha256", lab.get(labels.MODEL_SHA256)),
                               ("flavor", lab.get(labels.MODEL_FLAVOR))) if v}
    return {
        "reference": f"{host}/{name}:{tag}",
        "pinned": f"{host}/{name}@{digest}" if digest else "",
        "repository": f"{host}/{name}", "tag": tag, "digest": digest,
        "author": lab.get(labels.AUTHOR, ""), "notebook": lab.get(labels.NOTEBOOK, ""),
        "python": lab.get(labels.PYTHON, ""), "packages": packages, "model": model,
        "created": lab.get(labels.OCI_CREATED) or config.get("created", ""),
        "role": lab.get(labels.ROLE, ""), "managed": lab.get(labels.MANAGED) == "true",
        "size": size,
    }


def images(registry: str | None = None, *, repositories: list[str] | None = None,
           client: RegistryClient | None = None,
           config: ContainerizeConfig | None = None) -> list[dict[str, Any]]:
    """Every tagged image of the team's repositories, described from manifests and configs.

    ``registry`` is ``host[:port][/namespace]``; a namespace keeps only repositories under it.
    With no registry given or configured, the engine's own images (ours) are described.
    """
    cfg = config or load_config()
    setting = (registry or cfg.registry).strip().rstrip("/").split("://", 1)[-1]
    if not setting:
        return local_images()
    host = registry_host(setting)
    namespace = setting[len(host):].strip("/")
    reg = client or RegistryClient(host)
    names = repositories if repositories is not None else reg.repositories()
    if names is None:
        names = list(cfg.team_repositories)
        if not names and reg.catalog_error is not None:
            raise reg.catalog_error
        if not names:
            raise NotFoundError(f"the registry {host} offers no catalog",
                                hint="list the team's repositories in "
                                     "ContainerizeConfig.team_repositories")
    names = [n.split("/", 1)[1] if n.startswith(host + "/") else n for n in names]
    if namespace:
        names = [n for n in names if n == namespace or n.startswith(namespace + "/")]
    rows = []
    for name in sorted(set(names)):
        for tag in reg.tags(name):
            manifest, digest = reg.manifest(name, tag)
            cfg_digest = (manifest.get("config") or {}).get("digest")
            image_config = reg.config(name, cfg_digest) if cfg_digest else {}
            rows.append(describe(host, name, tag, manifest, digest, image_config))
    rows.sort(key=lambda r: (r["created"], r["reference"]), reverse=True)
    return rows


def local_images() -> list[dict[str, Any]]:
    """The engine's images this project built, described the same way (no registry)."""
    from . import engine

    rows = []
    for image in engine.managed_images():
        lab = image.labels or {}
        if lab.get(labels.ROLE) == "base":
            continue
        for ref in image.tags or [image.short_id]:
            config = {"config": {"Labels": lab}, "created": image.attrs.get("Created", "")}
            row = describe("", "", "", {}, "", config)
            repo, _, tag = ref.rpartition(":")
            row.update(reference=ref, repository=repo, tag=tag, pinned="",
                       digest=image.id, size=int(image.attrs.get("Size", 0)))
            rows.append(row)
    rows.sort(key=lambda r: (r["created"], r["reference"]), reverse=True)
    return rows
