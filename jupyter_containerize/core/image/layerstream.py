"""Layers go into the engine while later distributions still install.

A build with many distributions to install places them in the store in waves, in the lock's
layer order (:func:`waves`). A first *partial* image (the base and the first layer) loads while
the distributions download; as soon as a wave is in the store, a background thread writes its
layers and loads a partial image of the layers so far: the engine registers them while the next wave
compiles, and the build's own load at the end sends only the last wave's layers, the project
layer and the configs. Each partial load sends only what the loads before it did
not (the shared :class:`~.imagestore.Holding` is updated by every load).

Streaming only ever saves time: a partial load that fails ends the streaming with a log line,
and the final load sends whatever the engine does not hold. Partial images carry the managed
label and are removed once the build's own images hold their layers (``prune`` removes any
that a killed build left behind).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from .. import labels as labels_mod
from ..engine import imagestore
from ..errors import ContainerizeError
from . import layers

ROLE_PARTIAL = "partial"
WAVE_MIN = 6  # distributions: fewer than this in a wave is not worth a load of its own
WAVES_MAX = 4


def waves(keys: list[str], most: int = WAVES_MAX, least: int = WAVE_MIN) -> list[list[str]]:
    """``keys`` (in layer order) cut into at most ``most`` waves of at least ``least`` each."""
    count = max(1, min(most, len(keys) // least))
    size = -(-len(keys) // count) if keys else 0
    return [keys[i:i + size] for i in range(0, len(keys), size)] if keys else []


class LayerStream:
    """Loads partial images (base + the layers written so far) in a background thread."""

    def __init__(
        self,
        repository: str,
        base_ref: str,
        make_config: Callable[[list[layers.Layer], dict[str, str]], dict[str, Any]],
        labels: dict[str, str],
        work: Path,
        log: Callable[[str], None],
        holding: imagestore.Holding,
    ) -> None:
        self.repository = repository
        self.base_ref = base_ref
        self.make_config = make_config
        self.labels = {**labels, labels_mod.ROLE: ROLE_PARTIAL}
        self.work = work
        self.log = log
        self.holding = holding
        self.tags: list[str] = []
        self.sent = 0  # layers loaded so far
        self.failed = False
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="layer-stream")
        self._pending: list[Future[None]] = []

    def add(self, make_layers: Callable[[], list[layers.Layer]]) -> None:
        """Next in the background: write the layers ready so far (``make_layers`` returns the
        first layers of the build's image) and load an image of them."""
        if not self.failed:
            self._pending.append(self._pool.submit(self._write_and_load, make_layers))

    def _write_and_load(self, make_layers: Callable[[], list[layers.Layer]]) -> None:
        image_layers = make_layers()
        if self.failed or len(image_layers) <= self.sent:
            return
        tag = f"{self.repository}:partial-{os.getpid()}-{len(self.tags) + 1}"
        self.tags.append(tag)
        spec = layers.ImageSpec(tag, image_layers, self.make_config(image_layers, self.labels))
        self.log(f"loading layers {self.sent + 1}-{len(image_layers)} while later "
                 "distributions install")
        self.sent = len(image_layers)
        try:
            imagestore.load([spec], self.base_ref, self.work, lambda s: None, self.holding)
        except ContainerizeError as exc:
            self.failed = True
            self.log(f"loading layers early failed ({exc.message}); they go with the image")

    def finish(self) -> imagestore.Holding:
        """Wait for the writes and loads under way (raising what a write raised); what the
        engine holds now."""
        for future in self._pending:
            future.result()
        self._pool.shutdown()
        return self.holding

    def close(self) -> None:
        """Wait for the work under way, quietly: the build is ending (or failing) anyway."""
        for future in self._pending:
            future.exception()
        self._pool.shutdown()

    def remove_partials(self) -> None:
        """Remove the partial images (their layers stay: the build's images hold them)."""
        from ..engine import images

        for tag in self.tags:
            images.remove_quietly(tag)  # gone already, or the engine went away: prune finds it
