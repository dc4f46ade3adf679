"""An async micro-batcher: concurrent requests are answered by one pipeline call.

Requests put their items on a queue and await a future. One worker takes the first job,
then everything else already queued (up to `max_items` items, after waiting at most
`max_wait_s` for stragglers), runs the pipeline once on the concatenation in a single
worker thread (so two pipeline calls never overlap and the event loop stays free; within
the call, the pipeline runs its batches one per core on the CPU),
and hands each request its own slice of the results, in order.

While a batch runs, new requests pile up in the queue, so under load batches grow by
themselves without adding latency when the server is idle.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any


class MicroBatcher:
    """`await batcher.submit(items)` → the results of `run(items_of_many_requests)` for
    `items`. `run` takes a list and returns a list of the same length."""

    def __init__(
        self,
        run: Callable[[list[Any]], list[Any]],
        *,
        max_items: int = 64,
        max_wait_s: float = 0.002,
    ) -> None:
        self.run = run
        self.max_items = int(max_items)
        self.max_wait_s = float(max_wait_s)
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="transferkit-infer")
        self.batches = 0
        self.items = 0
        self._queue: asyncio.Queue[tuple[list[Any], asyncio.Future[list[Any]]]] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._worker: asyncio.Task[None] | None = None

    def _ensure_worker(self) -> asyncio.Queue[tuple[list[Any], asyncio.Future[list[Any]]]]:
        # The worker belongs to the running loop; a test client may start a new loop.
        loop = asyncio.get_running_loop()
        if (
            self._queue is None
            or self._loop is not loop
            or self._worker is None
            or self._worker.done()
        ):
            self._queue = asyncio.Queue()
            self._loop = loop
            self._worker = loop.create_task(self._work(self._queue))
        return self._queue

    async def submit(self, items: Sequence[Any]) -> list[Any]:
        queue = self._ensure_worker()
        fut: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        await queue.put((list(items), fut))
        return await fut

    async def _work(
        self, queue: asyncio.Queue[tuple[list[Any], asyncio.Future[list[Any]]]]
    ) -> None:
        loop = asyncio.get_running_loop()
        while True:
            jobs = [await queue.get()]
            n = len(jobs[0][0])
            deadline = loop.time() + self.max_wait_s
            while n < self.max_items:
                try:
                    job = queue.get_nowait()
                except asyncio.QueueEmpty:
                    left = deadline - loop.time()
                    if left <= 0:
                        break
                    try:
                        job = await asyncio.wait_for(queue.get(), left)
                    except TimeoutError:
                        break
                jobs.append(job)
                n += len(job[0])
            jobs = [(items, fut) for items, fut in jobs if not fut.cancelled()]
            if not jobs:
                continue
            flat = [x for items, _ in jobs for x in items]
            try:
                results = await loop.run_in_executor(self.executor, self.run, flat)
            except Exception as e:  # every waiting request learns of it; the worker lives on
                for _, fut in jobs:
                    if not fut.done():
                        fut.set_exception(e)
                continue
            self.batches += 1
            self.items += len(flat)
            start = 0
            for items, fut in jobs:
                if not fut.done():
                    fut.set_result(results[start : start + len(items)])
                start += len(items)

    def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
        self.executor.shutdown(wait=False, cancel_futures=True)
