"""The one length-bucketed batching rule, torch-free: longest first, outputs in input order.

`transferkit.core.inference` runs models through it; the torch-free fast start
(`models.ready`) uses it directly, so the rule lives once.

Why bucket: a batch of texts is padded to its longest member, so sorting by length
(longest first: the largest batch shape shows up at once, not at the end) wastes
little padding. Images (and anything that is not a string) keep their order.

>>> length_order(["a", "abc", "ab"])
[1, 2, 0]
>>> index_batches(["a", "abc", "ab"], 2)
[[1, 2], [0]]
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections import deque
from collections.abc import Callable, Generator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np

Key = Callable[[Any], int]


def _text_length(item: Any) -> int:
    return len(item) if isinstance(item, str) else 0


def length_order(items: Sequence[Any], key: Key | None = None) -> list[int]:
    """Indices of `items`, longest first by `key` (default: a string's length, 0 for
    anything else, so non-text inputs keep their order: the sort is stable)."""
    k = key or _text_length
    return sorted(range(len(items)), key=lambda i: -k(items[i]))


def index_batches(items: Sequence[Any], batch_size: int, key: Key | None = None) -> list[list[int]]:
    """Length-bucketed batches of indices into `items` (see :func:`length_order`)."""
    order = length_order(items, key)
    return [order[s : s + batch_size] for s in range(0, len(order), batch_size)]


Output = np.ndarray | dict[str, np.ndarray]
# A Hugging Face fast tokenizer is not safe to call from two threads at once: each call
# resets its padding/truncation on the shared Rust object, which fails with "Already
# borrowed" while another thread encodes (huggingface/transformers#47085). Every
# tokenizer call of the library holds this lock; tokenizing is a few % of a batch.
TOKENIZER_LOCK = threading.Lock()


def tokenize(tokenizer: Any, texts: list[str], max_length: int, tensors: str) -> Any:
    """A batch of `texts` through a Hugging Face tokenizer, padded to its longest and
    truncated at `max_length`, as `tensors` ("pt" or "np"), holding `TOKENIZER_LOCK`."""
    with TOKENIZER_LOCK:
        return tokenizer(
            texts, padding=True, truncation=True, max_length=max_length, return_tensors=tensors
        )


T = TypeVar("T")
R = TypeVar("R")


MAX_WORKERS = 8  # batches at once, at most: each holds its own activations in memory
_window = threading.Lock()  # one call per process runs batches in parallel at a time
_threads_outside = [0]  # the thread count the open window's caller had (0: none open)


def threads_outside_window() -> int:
    """The thread count the caller running batches in parallel had before its window
    (`parallel_window`), or 0 when none is open: what a new session should use."""
    return _threads_outside[0]


@contextlib.contextmanager
def parallel_window(
    threads: int, n_batches: int, workers: int | None = None
) -> Generator[tuple[int, int], None, None]:
    """(batches at once, threads for each) for one call running `n_batches` with `threads`
    threads: `workers` (default: one per thread, at most `MAX_WORKERS`), each on
    threads // workers. One call per process holds the window at a time; a call made
    meanwhile (another thread of the caller's program) gets (1, threads): its batches
    one at a time, the thread count left alone, so concurrent callers never change each
    other's settings."""
    if workers == 1 or n_batches < 2 or not _window.acquire(blocking=False):
        yield 1, threads
        return
    try:
        n = min(workers or min(threads, MAX_WORKERS), n_batches)
        _threads_outside[0] = threads
        yield (n, max(1, threads // n)) if n > 1 else (1, threads)
    finally:
        _threads_outside[0] = 0
        _window.release()


def map_batches(
    fn: Callable[[T], R], batches: Sequence[T], workers: int = 1
) -> Generator[R, None, None]:
    """``fn(batch)`` for each of `batches`, yielded in their order, `workers` at a time.

    With workers > 1 the batches run in a thread pool: one batch per core, each on one
    thread, keeps both cores busy through the small ops, the tokenizer and Python that a
    single multi-threaded batch runs serially (torch and onnxruntime release the GIL in
    their kernels). At most 2 × workers batches are in flight; each runs in a copy of the
    caller's context (context variables such as the current device carry over). An error
    or Ctrl-C cancels the batches not yet started and waits for the running ones, so
    nothing keeps running after the call returns.
    """
    if workers <= 1 or len(batches) < 2:
        yield from map(fn, batches)
        return
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="transferkit-batch")
    pending: deque[Future[R]] = deque()
    try:
        for batch in batches:
            pending.append(pool.submit(contextvars.copy_context().run, fn, batch))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def run_batched(
    run: Callable[[list[Any]], Output],
    items: Sequence[Any],
    *,
    batch_size: int = 64,
    key: Key | None = None,
    progress: bool = False,
    description: str = "encoding",
    workers: int = 1,
) -> Output:
    """Call ``run(batch_items)`` over length-bucketed batches of `items`; return its
    outputs (an array with one row per item, or a dict of such arrays) in input order.
    workers > 1: that many batches at a time (:func:`map_batches`)."""
    from transferkit.utils.progress import progress_bar

    order: list[int] = []
    parts: list[Output] = []
    batches = index_batches(items, batch_size, key)
    done = map_batches(lambda idx: run([items[i] for i in idx]), batches, workers)
    with progress_bar(len(items), description, enabled=progress) as bar, contextlib.closing(done):
        for idx, out in zip(batches, done, strict=True):
            parts.append(out)
            order += idx
            bar.advance(len(idx))
    inverse = np.argsort(np.asarray(order, dtype=np.int64))  # rows back to input order
    if parts and isinstance(parts[0], dict):
        keys = parts[0].keys()
        return {k: np.concatenate([p[k] for p in parts])[inverse] for k in keys}  # type: ignore[index]
    if not parts:
        return np.zeros((0, 0), dtype=np.float32)
    return np.concatenate(parts)[inverse]  # type: ignore[arg-type]
