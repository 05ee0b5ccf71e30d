"""Adaptive micro-batching: concurrent requests become one predict call in a worker thread."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np

from .errors import ClientError
from .inputs import Inputs

# How long a burst of concurrency is remembered: after a quiet spell, a lone request runs at once.
_LOAD_MEMORY_S = 0.25


@dataclass
class _Item:
    model: Any
    method: str
    inputs: Inputs
    future: asyncio.Future[Any]
    key: tuple[Any, ...] = field(init=False)

    def __post_init__(self) -> None:
        self.key = (id(self.model), self.method, self.inputs.key)


def merge(parts: list[Any]) -> Any:
    if len(parts) == 1:
        return parts[0]
    if isinstance(parts[0], np.ndarray):
        return np.concatenate(parts)
    import pandas as pd

    return pd.concat(parts, ignore_index=True)


def _run(model: Any, method: str, data: Any) -> np.ndarray:
    return model.predict(data, method)


INLINE_MAX_S = 0.002


class MicroBatcher:
    """Merges queued requests for the same model and method into one predict call.

    A lone request with nothing else in flight runs at once; under concurrency the
    dispatcher waits up to ``max_wait_ms`` for as many requests as the last batch held.
    """

    def __init__(
        self,
        max_rows: int,
        max_wait_ms: float,
        on_batch: Optional[Callable[[int, int], None]] = None,
    ) -> None:
        self.max_rows = max_rows
        self.max_wait = max_wait_ms / 1000.0
        self.on_batch = on_batch
        self.pending: deque[_Item] = deque()
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="predict")
        self._wakeup = asyncio.Event()
        self._enough: Optional[asyncio.Future[None]] = None
        self._task: Optional[asyncio.Task[None]] = None
        self._last_requests = 1
        self._last_busy = 0.0
        self.in_flight = 0
        # seconds the last lone predict of each model took: fast models run a lone request
        # on the event loop itself, saving the hand-off to the predict thread and back
        self._seconds: dict[int, float] = {}

    async def predict(self, model: Any, method: str, inputs: Inputs) -> np.ndarray:
        loop = asyncio.get_running_loop()
        item = _Item(model, method, inputs, loop.create_future())
        if not getattr(model.adapter, "batchable", True):
            return await loop.run_in_executor(self.executor, _run, model, method, inputs.data)
        if self._inline(model, inputs):
            started = time.perf_counter()
            result = _run(model, method, inputs.data)
            self._seconds[id(model)] = time.perf_counter() - started
            if self.on_batch is not None:
                self.on_batch(1, inputs.rows)
            return result
        self.pending.append(item)
        self.in_flight += 1
        try:
            if self._task is None or self._task.done():
                self._task = loop.create_task(self._dispatch())
            self._wakeup.set()
            if self._enough is not None and len(self.pending) >= self._last_requests:
                if not self._enough.done():
                    self._enough.set_result(None)
            return await item.future
        finally:
            self.in_flight -= 1

    def _inline(self, model: Any, inputs: Inputs) -> bool:
        """Nothing else in flight or queued, and this model answers a lone request in under
        ``INLINE_MAX_S``: other requests wait at most that long for the loop."""
        return (self.in_flight == 0 and not self.pending
                and self._seconds.get(id(model), 1.0) < INLINE_MAX_S)

    def _expect_more(self) -> bool:
        if self.max_wait <= 0 or len(self.pending) >= self._last_requests:
            return False
        recently_busy = time.monotonic() - self._last_busy < _LOAD_MEMORY_S
        return self.in_flight > len(self.pending) or (recently_busy and self._last_requests > 1)

    async def _gather(self) -> None:
        loop = asyncio.get_running_loop()
        self._enough = loop.create_future()
        handle = loop.call_later(self.max_wait, self._release)
        try:
            await self._enough
        finally:
            handle.cancel()
            self._enough = None

    def _release(self) -> None:
        if self._enough is not None and not self._enough.done():
            self._enough.set_result(None)

    def _take(self) -> list[_Item]:
        first = self.pending.popleft()
        batch, rows = [first], first.inputs.rows
        kept: deque[_Item] = deque()
        while self.pending:
            item = self.pending.popleft()
            if item.key == first.key and rows + item.inputs.rows <= self.max_rows:
                batch.append(item)
                rows += item.inputs.rows
            else:
                kept.append(item)
        self.pending.extendleft(reversed(kept))
        return batch

    async def _dispatch(self) -> None:
        while True:
            if not self.pending:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            if self._expect_more():
                await self._gather()
            batch = self._take()
            self._last_requests = len(batch) + len(self.pending)
            if len(batch) > 1 or self.in_flight > len(batch):
                self._last_busy = time.monotonic()
            await self._execute(batch)

    async def _execute(self, batch: list[_Item]) -> None:
        loop = asyncio.get_running_loop()
        first = batch[0]
        rows = sum(item.inputs.rows for item in batch)
        if self.on_batch is not None:
            self.on_batch(len(batch), rows)
        data = merge([item.inputs.data for item in batch])
        try:
            started = time.perf_counter()
            result = await loop.run_in_executor(
                self.executor, _run, first.model, first.method, data
            )
            if len(batch) == 1:
                self._seconds[id(first.model)] = time.perf_counter() - started
        except Exception as exc:
            if len(batch) == 1:
                _settle(first.future, exc=exc)
                return
            await self._one_by_one(batch)
            return
        if len(batch) == 1 or np.ndim(result) == 0 or len(result) != rows:
            if len(batch) == 1:
                _settle(first.future, result=result)
                return
            await self._one_by_one(batch)
            return
        start = 0
        for item in batch:
            _settle(item.future, result=result[start : start + item.inputs.rows])
            start += item.inputs.rows

    async def _one_by_one(self, batch: list[_Item]) -> None:
        """A merged batch failed: answer each request alone, so only the bad one fails."""
        loop = asyncio.get_running_loop()
        for item in batch:
            try:
                result = await loop.run_in_executor(
                    self.executor, _run, item.model, item.method, item.inputs.data
                )
            except Exception as exc:
                _settle(item.future, exc=exc)
            else:
                _settle(item.future, result=result)

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self.executor.shutdown(wait=False)


def _settle(future: asyncio.Future[Any], result: Any = None, exc: Any = None) -> None:
    if future.done():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)


__all__ = ["ClientError", "MicroBatcher", "merge"]
