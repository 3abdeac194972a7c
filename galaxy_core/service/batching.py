"""Micro-batching: requests that arrive together share one forward pass.

Each model set (one checkpoint, or several with a rule) has a `Batcher`: an asyncio task that takes
the first waiting request, keeps collecting until it holds `max_batch` images or `max_wait_ms` have
passed, runs one `Predictor.predict` on all of them in a worker thread, and hands each request its
rows. All batchers share one bound on images waiting (`Backlog`): beyond it a request is refused at
once (503 with Retry-After), so memory never grows with the number of clients.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import numpy as np

from galaxy_core.inference.predictor import Predictor


class Busy(Exception):
    """More images are waiting than the server accepts: the client should retry shortly."""


class Backlog:
    """Images accepted but not yet answered, over every batcher of the process."""

    def __init__(self, limit: int):
        self.limit, self.waiting = limit, 0

    def take(self, count: int) -> None:
        if self.waiting + count > self.limit:
            raise Busy(f"The server is busy ({self.waiting} images waiting, at most {self.limit}): retry in a moment.")
        self.waiting += count

    def give_back(self, count: int) -> None:
        self.waiting -= count


@dataclass
class _Request:
    images: np.ndarray
    future: asyncio.Future
    arrived: float = field(default_factory=time.perf_counter)


class Batcher:
    def __init__(self, predictor: Predictor, backlog: Backlog, max_batch: int = 16, max_wait_ms: float = 5.0):
        self.predictor, self.backlog = predictor, backlog
        self.max_batch, self.max_wait = max_batch, max_wait_ms / 1000.0
        self.queue: asyncio.Queue[_Request] = asyncio.Queue()
        self.batches_run = 0  # forward passes, for /health and the tests
        self.images_run = 0
        self._task: asyncio.Task | None = None

    async def predict(self, images: np.ndarray) -> list[dict]:
        """Per-image predictions for `images` (N, 256, 256, 3), computed in a batch with other requests."""
        self.backlog.take(len(images))
        try:
            if self._task is None or self._task.done():
                self._task = asyncio.get_running_loop().create_task(self._run())
            request = _Request(images, asyncio.get_running_loop().create_future())
            await self.queue.put(request)
            return await request.future
        finally:
            self.backlog.give_back(len(images))

    async def _run(self) -> None:
        while True:
            first = await self.queue.get()
            batch, count = [first], len(first.images)
            deadline = first.arrived + self.max_wait
            while count < self.max_batch:
                try:  # whatever queued up while the last batch ran joins at once
                    request = self.queue.get_nowait()
                except asyncio.QueueEmpty:
                    timeout = deadline - time.perf_counter()
                    if timeout <= 0:
                        break
                    try:
                        request = await asyncio.wait_for(self.queue.get(), timeout)
                    except asyncio.TimeoutError:
                        break
                batch.append(request)
                count += len(request.images)
            await self._answer(batch)

    async def _answer(self, batch: list[_Request]) -> None:
        images = np.concatenate([request.images for request in batch])
        try:
            results = await asyncio.to_thread(self.predictor.predict, images)
        except Exception as exc:  # noqa: BLE001 - handed to each waiting request, which reports it
            for request in batch:
                if not request.future.done():
                    request.future.set_exception(exc)
            return
        self.batches_run += 1
        self.images_run += len(images)
        start = 0
        for request in batch:
            rows = results[start : start + len(request.images)]
            start += len(request.images)
            if not request.future.done():  # a client that went away
                request.future.set_result(rows)
