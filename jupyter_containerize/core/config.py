"""Every knob, the Jupyter way: one Configurable fed by the front end's config."""

from __future__ import annotations

import functools
import os

from traitlets import Bool, Dict, Enum, Float, Int, List, Unicode, default
from traitlets.config import Configurable

from .options import BUILDERS, DEFAULT_PLATFORM, LOCK_MODES


class ContainerizeConfig(Configurable):
    """Configuration shared by the CLI, the server extension, the magic and the widget."""

    base_image = Unicode(
        "", help="Base image for environment images; empty picks one for the kernel's Python."
    ).tag(config=True)
    builder = Enum(
        list(BUILDERS),
        default_value="auto",
        help="How images are made: layers assembled outside the engine, or the classic builder.",
    ).tag(config=True)
    lock_mode = Enum(
        list(LOCK_MODES), default_value="full", help="Default lock mode."
    ).tag(config=True)
    platform = Unicode(DEFAULT_PLATFORM, help="Target platform of images.").tag(config=True)
    context_max_bytes = Int(
        200 * 1024 * 1024, help="Largest build context (project files) in bytes."
    ).tag(config=True)
    index_url = Unicode(
        "", help="Package index for image installs; empty uses the host's http(s) setting or PyPI."
    ).tag(config=True)
    ca_bundle = Unicode(
        "",
        help="CA bundle the image installs trust (a TLS-intercepting proxy's); empty: the "
        "host's. Used at build time only, never kept in an image.",
    ).tag(config=True)
    registry = Unicode("", help="Team registry host[:port][/namespace].").tag(config=True)
    insecure_registries = List(
        Unicode(),
        help="Registry hosts reached without TLS verification (as the engine's "
        "insecure-registries); the engine's own list is honoured too.",
    ).tag(config=True)
    team_repositories = List(
        Unicode(), help="Repositories to read when the registry has no catalog."
    ).tag(config=True)
    signing_key = Unicode(
        "", help="Private key (a .key made by `key create`) that signs what push sends; empty: "
        "push unsigned. Its passphrase comes only from $JUPYTER_CONTAINERIZE_KEY_PASSPHRASE.",
    ).tag(config=True)
    trusted_keys = List(
        Unicode(), help="Public keys (.pub files) whose signatures make an image trusted."
    ).tag(config=True)
    require_signed = Bool(
        False, help="Use only images signed by one of trusted_keys (pull, kernel install, "
        "run --image, serve --image).",
    ).tag(config=True)
    run_timeout = Float(3600.0, help="Default run timeout in seconds.").tag(config=True)
    schedule_overlap = Enum(
        ["skip", "queue"], "skip",
        help="A schedule's tick while its previous run still runs: skip it or queue it.",
    ).tag(config=True)
    schedule_missed = Enum(
        ["latest", "skip"], "latest",
        help="Ticks missed while no scheduler ran: run the latest once at start, or skip.",
    ).tag(config=True)
    swarm_volume_driver = Unicode(
        "local", help="Volume driver of a pipeline's working volume on Docker Swarm.",
    ).tag(config=True)
    swarm_volume_options = Dict(
        {}, help="Driver options of that volume. Empty: the manager's own disk, and every step "
        "runs on the manager; options of a filesystem every node mounts (NFS: type, o, device) "
        "let steps run on any node.",
    ).tag(config=True)
    ready_timeout = Float(60.0, help="Seconds a deployment may take to become ready.").tag(
        config=True
    )
    stop_grace = Float(
        5.0, help="Seconds a replaced serving container has to finish its requests."
    ).tag(config=True)
    request_max_bytes = Int(
        32 * 1024 * 1024, help="Largest request body a serving container accepts."
    ).tag(config=True)
    max_batch_size = Int(
        4096, help="Most rows merged into one predict call (large requests merge too)."
    ).tag(config=True)
    max_batch_wait_ms = Float(2.0, help="Longest wait for more requests to merge.").tag(
        config=True
    )
    allow_build = Bool(True, help="Allow building images (server).").tag(config=True)
    allow_push = Bool(True, help="Allow pushing images (server).").tag(config=True)
    allow_serve = Bool(True, help="Allow starting serving containers (server).").tag(config=True)
    extra_labels = Dict(
        value_trait=Unicode(), help="Labels added to every image and container we create."
    ).tag(config=True)

    @default("extra_labels")
    def _labels_from_env(self) -> dict[str, str]:
        """JUPYTER_CONTAINERIZE_LABELS="k=v,k2=v2" adds labels (CI runs label what they make)."""
        raw = os.environ.get("JUPYTER_CONTAINERIZE_LABELS", "")
        pairs = [p.split("=", 1) for p in raw.split(",") if "=" in p]
        return {k.strip(): v.strip() for k, v in pairs}


CONFIG_FILE_NAME = "jupyter_containerize_config"


def load_config() -> ContainerizeConfig:
    """ContainerizeConfig from `jupyter_containerize_config.{json,py}` in the Jupyter config
    path (the user's folder wins over system ones), read now. Front ends load it once, at
    start, and pass it down; the server extension reads the same file name."""
    from jupyter_core.paths import jupyter_config_path
    from traitlets.config.loader import (
        Config,
        ConfigFileNotFound,
        JSONFileConfigLoader,
        PyFileConfigLoader,
    )

    merged = Config()
    for folder in reversed(jupyter_config_path()):
        for loader in (JSONFileConfigLoader, PyFileConfigLoader):
            suffix = "json" if loader is JSONFileConfigLoader else "py"
            try:
                merged.merge(loader(f"{CONFIG_FILE_NAME}.{suffix}",
                                    path=folder).load_config())
            except ConfigFileNotFound:
                continue
    return ContainerizeConfig(config=merged)


@functools.cache
def process_config() -> ContainerizeConfig:
    """The configuration of this process, loaded from the files once (for callers of the
    library that pass none)."""
    return load_config()


def resolve(config: ContainerizeConfig | None) -> ContainerizeConfig:
    """The configuration a front end passed, else this process's one."""
    return config if config is not None else process_config()
