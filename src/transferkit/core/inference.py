"""The one batched inference helper: length-bucketed batches, outputs in input order.

Every caller that runs a model over many inputs (predictions for evaluation, frozen
features for the cache, rank's encoding pass, ONNX parity checks, pipelines, the
contrastive step's cached states) batches through here, so the bucketing rule lives once.

Why bucket: a batch of texts is padded to its longest member, so sorting by length
(longest first: the largest batch shape shows up at once, not at the end) wastes
little padding — about 2x faster on CPU for mixed-length sentences. Images (and
anything that is not a string) keep their order.

>>> length_order(["a", "abc", "ab"])
[1, 2, 0]
>>> index_batches(["a", "abc", "ab"], 2)
[[1, 2], [0]]
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from transferkit.utils.batching import (  # noqa: F401  (the helper's home is utils: torch-free)
    Key,
    Output,
    index_batches,
    length_order,
    map_batches,
    parallel_window,
    run_batched,
)


@contextlib.contextmanager
def parallel_batches(
    model: Any, device: Any, n_batches: int, workers: int | None = None
) -> Iterator[int]:
    """How many of `n_batches` to run at once (`map_batches`), set up for the duration.

    On the CPU: one batch per thread torch may use (`torch.set_num_threads`), at most
    `utils.batching.MAX_WORKERS`, or `workers`; torch runs each on threads // workers
    threads until the call ends (then restored), and a model with its own runtime (an
    onnxruntime session, whose threads are fixed when it opens) switches through its
    `worker_threads(n)`. On an accelerator, for one batch, or while another call of the
    process runs batches in parallel (`parallel_window`): 1, nothing changed."""
    import torch

    if getattr(device, "type", str(device)) != "cpu":
        yield 1
        return
    threads = int(torch.get_num_threads())
    with parallel_window(threads, n_batches, workers) as (n, per):
        if n == 1:
            yield 1
            return
        torch.set_num_threads(per)  # torch-side steps of an onnxruntime model too
        try:
            own = getattr(model, "worker_threads", None)
            with own(per) if own is not None else contextlib.nullcontext():
                yield n
        finally:
            torch.set_num_threads(threads)


def forward_on_device(model: Any, batch: Any, device: Any) -> np.ndarray:
    """``model(batch)`` on `device` (batch copied there; mixed precision on CUDA), as a
    float32 array on the CPU. Every batched caller runs its forward pass through here."""
    import torch

    from transferkit.core.devices import autocast, to_device

    with torch.inference_mode(), autocast(device):
        return model(to_device(batch, device)).float().cpu().numpy()


def predict_logits(clf: Any, items: Sequence[Any], batch_size: int = 64) -> np.ndarray:
    """(n, n_labels) float32 logits of the classifier `clf` on `items`, in eval mode, on
    the current device (`core.devices.device_scope`)."""
    from transferkit.core.devices import current_device, move_model

    device = current_device()
    move_model(clf, device).eval()

    def run(batch: list[Any]) -> np.ndarray:
        return forward_on_device(clf, clf.preprocess(batch), device)

    with parallel_batches(clf, device, -(-len(items) // batch_size)) as workers:
        return run_batched(run, items, batch_size=batch_size, workers=workers)  # type: ignore[return-value]


def encode_features(
    model: Any,
    items: Sequence[Any],
    *,
    batch_size: int = 64,
    flip: bool = False,
    progress: bool = False,
) -> np.ndarray:
    """(n, embedding_dim) float32 features of `items` through the body of `model` (a
    backbone or a classifier), in eval mode, on the current device; `flip`: images
    mirrored left-right."""
    from transferkit.core.devices import current_device, move_model

    backbone = getattr(model, "backbone", model)
    device = current_device()
    move_model(backbone, device)
    was_training = backbone.training
    backbone.eval()

    def run(batch_items: list[Any]) -> np.ndarray:
        batch = backbone.preprocess(batch_items)
        if flip:
            batch["pixel_values"] = batch["pixel_values"].flip(-1)  # (b, 3, h, w) mirrored
        return forward_on_device(backbone, batch, device)

    try:
        with parallel_batches(backbone, device, -(-len(items) // batch_size)) as workers:
            out = run_batched(run, items, batch_size=batch_size, progress=progress, workers=workers)
    finally:
        backbone.train(was_training)
    if len(items) == 0:
        return np.zeros((0, backbone.embedding_dim), dtype=np.float32)
    return out  # type: ignore[return-value]
