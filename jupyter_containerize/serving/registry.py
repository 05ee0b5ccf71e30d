"""The models a server answers for: startup load, readiness, and atomic in-place swaps."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Optional

from .errors import ClientError, ModelLoadError
from .logs import one_line
from .metrics import Metrics
from .model import ServedModel, load_model

log = logging.getLogger("jupyter_containerize.serving")


class Registry:
    """Name -> ServedModel. Loads run in their own thread so predictions never wait on them."""

    def __init__(
        self,
        metrics: Metrics,
        default_name: Optional[str] = None,
        skops_trusted: tuple[str, ...] = (),
    ) -> None:
        self.metrics = metrics
        self.skops_trusted = skops_trusted
        self.models: dict[str, ServedModel] = {}
        self.default_name = default_name
        self.last_rows: dict[str, Any] = {}
        self.failure: Optional[str] = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="load")
        self._lock = asyncio.Lock()

    @property
    def ready(self) -> bool:
        return self.default_name is not None and self.default_name in self.models

    def default(self) -> ServedModel:
        if not self.ready:
            raise ClientError(503, "the model is not loaded yet")
        return self.models[self.default_name]  # type: ignore[index]

    def get(self, name: str) -> ServedModel:
        model = self.models.get(name)
        if model is None:
            known = ", ".join(sorted(self.models)) or "none loaded yet"
            raise ClientError(404, f"unknown model {name!r}; this server serves: {known}")
        return model

    def remember_row(self, name: str, data: Any) -> None:
        """Keep one row of the last request: the warm-up input of the next swap."""
        head = data.iloc[:1] if hasattr(data, "iloc") else data[:1]
        self.last_rows[name] = head.copy() if hasattr(head, "copy") else head

    async def load(self, path: str, name: Optional[str] = None) -> ServedModel:
        """Load and warm up beside the current model, then swap it in atomically."""
        async with self._lock:
            loop = asyncio.get_running_loop()
            key = name or self.default_name
            last = self.last_rows.get(key) if key else None
            model = await loop.run_in_executor(
                self._executor, load_model, path, name, last, self.skops_trusted
            )
            replaced = model.name in self.models
            self.models[model.name] = model
            if self.default_name is None:
                self.default_name = model.name
            self.metrics.model_loaded(model.name, model.flavor, model.sha256, replaced)
            log.info(
                "model %s ready: %s flavor %s sha256 %s",
                model.name,
                model.path.name,
                model.flavor,
                model.sha256[:12],
            )
            return model

    async def load_at_startup(self, path: str, name: Optional[str]) -> bool:
        """Load the model the server is for; on failure keep one line saying why (the server
        prints it as it exits)."""
        try:
            await self.load(path, name)
        except ModelLoadError as exc:
            self.failure = one_line(str(exc))
            return False
        except Exception as exc:  # anything else still ends the server, never hangs it
            self.failure = one_line(f"cannot load {path}: {type(exc).__name__}: {exc}")
            return False
        return True

    def close(self) -> None:
        self._executor.shutdown(wait=False)
