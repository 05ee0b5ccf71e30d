"""Kernels that run inside an image: a jupyter_client kernel provisioner and its kernelspecs.

``kernel install REF`` writes a kernelspec whose ``metadata.kernel_provisioner`` names the
``containerize-docker`` provisioner below (an entry point of this package). On a local engine
the kernel's working directory is bind-mounted at the same path (a kernel
must see the live files) and its five ports are published on 127.0.0.1 only; inside, ipykernel
listens on 0.0.0.0 on fixed ports with the manager's key. On a remote engine the folder is
copied in at start, and files written stay in the container. Interrupt is SIGINT through the
engine (``docker kill --signal``, forwarded by the container's init), and every shutdown or
restart removes the container.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import tempfile
from pathlib import Path
from typing import Any, cast

from jupyter_client.connect import KernelConnectionInfo
from jupyter_client.provisioning import KernelProvisionerBase
from traitlets import Unicode

from .. import labels
from ..config import ContainerizeConfig, resolve
from ..engine import client as engine
from ..engine import containerfiles, containers
from ..errors import ContainerizeError, NotFoundError, RunError
from ..image import imagefs

PROVISIONER = "containerize-docker"
PORT_NAMES = ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")
CONTAINER_PORTS = dict(zip(PORT_NAMES, range(50001, 50006)))
CONNECTION_FILE = "/tmp/.containerize-kernel/connection.json"
KERNEL_ENV = ("JPY_SESSION_NAME", "JPY_PARENT_PID")


class ContainerProvisioner(KernelProvisionerBase):  # type: ignore[misc]
    """Runs a kernel in a container of ``image``; see the module's docstring."""

    image = Unicode(help="Image the kernel runs in.").tag(config=True)
    user = Unicode("", help="uid:gid inside; empty: the host user's on a local engine, "
                            "else 1000:1000.").tag(config=True)

    container: Any = None
    _host_ports: dict[str, int] | None = None
    _cwd: str = ""

    @property
    def has_process(self) -> bool:
        return self.container is not None

    async def pre_launch(self, **kwargs: Any) -> dict[str, Any]:
        kwargs.pop("extra_arguments", None)
        kwargs = await super().pre_launch(**kwargs)
        argv = list(self.kernel_spec.argv)
        kwargs["cmd"] = [a.replace("{connection_file}", CONNECTION_FILE) for a in argv]
        return kwargs

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> KernelConnectionInfo:
        info: KernelConnectionInfo = await asyncio.to_thread(self._launch, cmd, kwargs)
        self.connection_info = info
        return info

    def _launch(self, cmd: list[str], kwargs: dict[str, Any]) -> KernelConnectionInfo:
        km: Any = self.parent
        remote = engine.is_remote()
        self._cwd = os.path.realpath(kwargs.get("cwd") or os.getcwd())
        inside = {"ip": "0.0.0.0", "transport": "tcp", **CONTAINER_PORTS,
                  "key": km.session.key.decode(), "signature_scheme": km.session.signature_scheme,
                  "kernel_name": km.kernel_name}
        self.container = self._create(cmd, kwargs.get("env") or {}, remote)
        containerfiles.put_bytes(self.container, CONNECTION_FILE, json.dumps(inside).encode())
        if remote:
            containerfiles.put_tree(self.container, imagefs.WORK, Path(self._cwd))
            self.log.warning("The kernel runs on a remote engine: %s was copied into the "
                             "container; files it writes stay in the container.", self._cwd)
        containers.start(self.container)
        self.container.reload()
        ports = self.container.attrs["NetworkSettings"]["Ports"] or {}
        try:
            self._host_ports = {name: int(ports[f"{port}/tcp"][0]["HostPort"])
                                for name, port in CONTAINER_PORTS.items()}
        except (KeyError, IndexError, TypeError) as exc:
            logs = containers.tail_logs(self.container, 20) or ""
            raise RunError(f"the kernel container published no ports: {logs.strip()}",
                           hint="check the image with `docker run`") from exc
        info: dict[str, Any] = {
            "ip": engine.engine_host(), "transport": "tcp", **self._host_ports,
            "key": km.session.key, "signature_scheme": km.session.signature_scheme,
            "kernel_name": km.kernel_name,
        }
        return cast(KernelConnectionInfo, info)

    def _create(self, cmd: list[str], env: dict[str, str], remote: bool) -> Any:
        bind_ip = "0.0.0.0" if remote else "127.0.0.1"
        ports = {f"{port}/tcp": (bind_ip, (self._host_ports or {}).get(name))
                 for name, port in CONTAINER_PORTS.items()}
        user = self.user or ("1000:1000" if remote else f"{os.getuid()}:{os.getgid()}")
        environment = {k: v for k, v in env.items()
                       if k in KERNEL_ENV or k in (self.kernel_spec.env or {})}
        environment.update(USER="jovyan")
        if user.split(":")[0] not in ("0", "1000"):
            environment.update(HOME="/tmp", IPYTHONDIR="/tmp/.ipython")
        options: dict[str, Any] = {
            "name": f"jc-kernel-{(self.kernel_id or 'x')[:12]}-{os.urandom(3).hex()}",
            "labels": {labels.MANAGED: "true", labels.ROLE: "kernel",
                       labels.PREFIX + "kernel.id": str(self.kernel_id),
                       **resolve(None).extra_labels},
            "environment": environment, "ports": ports, "user": user, "init": True,
            "working_dir": imagefs.WORK if remote else self._cwd,
        }
        if not remote:
            options["volumes"] = {self._cwd: {"bind": self._cwd, "mode": "rw"}}
        return containers.create_detached(self.image, cmd, **options)

    async def poll(self) -> int | None:
        return await asyncio.to_thread(self._poll)

    def _poll(self) -> int | None:
        if self.container is None:
            return 0
        if not containers.refresh(self.container):
            return 1
        if self.container.status in ("running", "created", "restarting"):
            return None
        return int(self.container.attrs.get("State", {}).get("ExitCode", 1))

    async def wait(self) -> int | None:
        if self.container is None:
            return None
        while (code := await self.poll()) is None:
            await asyncio.sleep(0.1)
        return code

    async def send_signal(self, signum: int) -> None:
        if signum == 0 or self.container is None:
            return
        name = signal.Signals(signum).name
        await asyncio.to_thread(self._kill, name)

    def _kill(self, name: str) -> None:
        containers.signal(self.container, name)  # gone or not running: nothing to signal

    async def kill(self, restart: bool = False) -> None:
        if self.container is not None:
            await asyncio.to_thread(self._kill, "SIGKILL")

    async def terminate(self, restart: bool = False) -> None:
        if self.container is not None:
            await asyncio.to_thread(self._kill, "SIGTERM")

    async def cleanup(self, restart: bool = False) -> None:
        """Remove the container; a restart keeps the published ports for the next one."""
        if self.container is not None:
            await asyncio.to_thread(containers.remove, self.container)
            self.container = None
        if not restart:
            self._host_ports = None

    async def get_provisioner_info(self) -> dict[str, Any]:
        info: dict[str, Any] = await super().get_provisioner_info()
        info.update(image=self.image, container=getattr(self.container, "id", None),
                    host_ports=self._host_ports, cwd=self._cwd)
        return info

    async def load_provisioner_info(self, provisioner_info: dict[str, Any]) -> None:
        await super().load_provisioner_info(provisioner_info)
        self.image = provisioner_info.get("image", self.image)
        self._host_ports = provisioner_info.get("host_ports")
        self._cwd = provisioner_info.get("cwd", "")
        cid = provisioner_info.get("container")
        if cid:
            self.container = containers.get(cid)

    def resolve_path(self, path: str) -> str | None:
        if engine.is_remote() or not self._cwd:
            return None
        return os.path.normpath(os.path.join(self._cwd, os.path.expanduser(path)))


# ---------------------------------------------------------------- kernelspecs


def _spec_manager() -> Any:
    from jupyter_client.kernelspec import KernelSpecManager

    return KernelSpecManager()


def default_name(ref: str) -> str:
    repo, _, rest = ref.partition("@")
    base = repo.rsplit("/", 1)[-1].replace(":", "-")
    tail = rest.split(":", 1)[-1][:12] if rest else ""
    name = re.sub(r"[^a-z0-9._-]+", "-", f"containerize-{base}{'-' + tail if tail else ''}".lower())
    return name.strip("-.")


def install(ref: str, name: str | None = None, display_name: str | None = None,
            progress: Any = None, *, config: ContainerizeConfig | None = None) -> str:
    """Write a kernelspec that runs in ``ref``; pulls it first when the engine lacks it.

    Returns the kernelspec's folder. The spec names the image pinned by digest when the
    engine knows one, so the kernel does not move when a tag does."""
    from ..oci.reference import check_reference, host_of
    from .registry import pull
    from .signing import verify_image

    check_reference(ref)
    image = engine.get_image(ref)
    if image is None and host_of(ref):
        pinned = pull(ref, progress=progress, config=config)
        image = engine.get_image(pinned)
    if image is None:
        raise NotFoundError(f"image {ref} is not in the engine",
                            hint="build it, or pull it from the team's registry")
    verify_image(ref, config=config)  # under require_signed: a trusted signature, or refused
    repo = ref.split("@")[0].rsplit(":", 1)[0] if ":" in ref.rsplit("/", 1)[-1] else \
        ref.split("@")[0]
    pinned_ref = next((d for d in image.attrs.get("RepoDigests") or []
                       if d.split("@")[0] == repo), ref)
    lab = image.labels or {}
    name = name or default_name(ref)
    if not re.fullmatch(r"[a-zA-Z0-9._-]+", name):
        raise ContainerizeError(f"{name!r} is not a kernel name",
                            hint="use letters, digits, . _ and -")
    spec = {
        "argv": [f"{imagefs.ENV}/bin/python", "-m", "ipykernel_launcher", "-f",
                 "{connection_file}"],
        "display_name": display_name or f"Python {lab.get(labels.PYTHON, '')} in {ref}",
        "language": "python",
        "interrupt_mode": "signal",
        "metadata": {
            "kernel_provisioner": {"provisioner_name": PROVISIONER,
                                   "config": {"image": pinned_ref}},
            "containerize": {"image": ref, "image_id": str(image.id),
                             "notebook": lab.get(labels.NOTEBOOK, "")},
        },
    }
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "kernel.json").write_text(json.dumps(spec, indent=1) + "\n")
        return str(_spec_manager().install_kernel_spec(tmp, kernel_name=name, user=True))


def list_kernels() -> list[dict[str, Any]]:
    """Our kernelspecs: name, image, display name, folder."""
    found = []
    for name, entry in sorted(_spec_manager().get_all_specs().items()):
        meta = entry.get("spec", {}).get("metadata") or {}
        prov = meta.get("kernel_provisioner") or {}
        if prov.get("provisioner_name") != PROVISIONER:
            continue
        found.append({"name": name, "image": (prov.get("config") or {}).get("image", ""),
                      "display_name": entry["spec"].get("display_name", ""),
                      "resource_dir": entry.get("resource_dir", "")})
    return found


def remove_kernel(name: str) -> str:
    """Remove one of our kernelspecs; returns the folder removed."""
    if name not in {k["name"] for k in list_kernels()}:
        raise NotFoundError(f"no kernel {name!r} made by `kernel install`",
                            hint="see `jupyter containerize kernel list`")
    return str(_spec_manager().remove_kernel_spec(name))
