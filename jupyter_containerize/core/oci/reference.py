"""Image references and registry hosts, and the one error a registry's words mean."""

from __future__ import annotations

from .. import labels
from ..errors import ContainerizeError, ImageReferenceError, NotFoundError, RegistryError

REFERENCE_HINT = "use lowercase letters, digits and . _ - separators, e.g. HOST:5000/team/model"
DOCKER_HUB = ("docker.io", "index.docker.io", "registry-1.docker.io")
INDEX_NAME = "docker.io"  # the host a reference without one names


def registry_host(registry: str) -> str:
    """``host[:port]`` of ``host[:port][/namespace]`` or of an image reference."""
    return registry.split("://", 1)[-1].split("/", 1)[0]


def host_of(ref: str) -> str | None:
    """The registry host an image reference names, or None (a local name)."""
    first, _, rest = ref.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first
    return None


def check_reference(ref: str) -> tuple[str, str | None, str | None]:
    """(repository, tag, digest) or ImageReferenceError with the rule."""
    try:
        return labels.split_reference(ref)
    except ValueError as exc:
        raise ImageReferenceError(f"{ref!r} is not a valid image reference: {exc}",
                                  hint=REFERENCE_HINT) from exc


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


def login_hint(host: str) -> str:
    return f"run `jupyter containerize login {host}`"


def unreachable(text: str) -> bool:
    """Whether what an engine or registry said means the registry did not answer."""
    low = text.lower()
    return any(s in low for s in ("connection refused", "no such host", "connection reset",
                                  "i/o timeout", "dial tcp", "max retries exceeded"))


def classify(text: str, host: str, ref: str = "") -> ContainerizeError:
    """One error with its fix from what an engine or registry said."""
    low = text.lower()
    if unreachable(text):
        return RegistryError(f"cannot reach the registry at {host}",
                             hint=f"is the registry running at {host}?")
    if "unauthorized" in low or "authentication required" in low or "incorrect username" in low \
            or "no basic auth credentials" in low or "denied" in low:
        return RegistryError(f"the registry {host} refused the credentials",
                             hint=login_hint(host))
    if "name_invalid" in low or "invalid reference" in low or "name invalid" in low \
            or "invalid repository name" in low:
        return ImageReferenceError(f"the registry {host} refuses the name {ref or '?'}",
                                   hint=REFERENCE_HINT)
    if "manifest unknown" in low or "not found" in low or "name_unknown" in low:
        return NotFoundError(f"{ref or 'the image'} is not in the registry {host}",
                             hint=f"push it first, or list what there is with "
                                  f"`jupyter containerize images --registry {host}`")
    first = " ".join(text.split())[:300]
    return RegistryError(f"the registry {host} answered: {first}", hint="see the message")
