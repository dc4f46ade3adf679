"""What a candidate costs: parameters, measured latency and peak memory on this machine,
and estimated adaptation time for the user's data size.

Latency is measured, not looked up: a warm-up pass, then the best of ``repeats`` timed
passes over one batch of the user's own examples (so text length matters), with the
model truncated at its cut point (the forward pass stops after the last kept group).

Peak memory is the parameter and buffer bytes of the kept groups plus the activation
memory measured during that batch: the C heap in use (glibc ``mallinfo2``: in-use
arena blocks + mmapped blocks, which is where torch's CPU tensors live) sampled after
every leaf module, minus what was in use before. Sampling at module boundaries misses
temporaries inside one op, so it is a close lower bound. Where ``mallinfo2`` does not
exist (not glibc), activation memory is reported as None.

Fine-tuning time is estimated as ``3 x forward latency x examples x epochs``: a training
step costs about three forward passes (backward ≈ 2 x forward, the 6N-vs-2N FLOPs rule
of Kaplan et al. 2020, "Scaling Laws for Neural Language Models"); a probe costs one
forward pass over the data (the linear head is negligible).
"""

from __future__ import annotations

import ctypes
import time
from collections.abc import Sequence
from typing import Any

from transferkit.select.candidates import LoadedModel, forward_cuts

__all__ = ["FINETUNE_EPOCHS", "count_params", "measure_cost", "prepare"]

FINETUNE_EPOCHS = 3  # the estimate assumes a short fine-tune, as `fit` does by default
_TRAIN_STEP_FORWARDS = 3.0  # forward + backward ≈ 3 forward passes


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()
        )
    ]


def _heap_reader() -> Any:
    """A function returning the C heap bytes in use, or None where glibc is not there."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        fn = libc.mallinfo2
    except (OSError, AttributeError):
        return None
    fn.restype = _MallInfo2

    def in_use() -> int:
        info = fn()
        return int(info.uordblks + info.hblkhd)

    return in_use


def count_params(model: LoadedModel, cut: int | None) -> tuple[int, int]:
    """(parameters, parameter + buffer bytes) of the part of the backbone a cut keeps."""
    if model.features_only:
        return int(model.encoder.params), int(model.encoder.weights_bytes)
    modules = [model.encoder] if cut is None else model.encoder.layer_groups()[:cut]
    seen: set[int] = set()
    n = nbytes = 0
    for mod in modules:
        for is_param, tensors in ((True, mod.parameters()), (False, mod.buffers())):
            for t in tensors:
                if id(t) in seen:  # shared weights count once
                    continue
                seen.add(id(t))
                nbytes += t.numel() * t.element_size()
                n += t.numel() if is_param else 0
    return n, nbytes


def _forward(model: LoadedModel, prepared: Any, cut: int | None) -> None:
    if model.features_only:
        model.encoder.encode(prepared)
    else:
        forward_cuts(model, prepared, [cut], stop_early=True)


def _activation_bytes(model: LoadedModel, prepared: Any, cut: int | None) -> int | None:
    """One forward pass (it doubles as the warm-up), sampling the C heap after each leaf."""
    in_use = _heap_reader()
    if in_use is None or model.features_only:
        _forward(model, prepared, cut)
        return None
    peak = [0]
    base = in_use()

    def hook(*_: Any) -> None:
        peak[0] = max(peak[0], in_use() - base)

    leaves = [m for m in model.encoder.modules() if not any(True for _ in m.children())]
    handles = [m.register_forward_hook(hook) for m in leaves]
    try:
        _forward(model, prepared, cut)
    finally:
        for h in handles:
            h.remove()
    return max(peak[0], 0)


def prepare(model: LoadedModel, sample: Sequence[Any]) -> tuple[Any, float]:
    """(the batch `measure_cost` runs on, seconds its preprocessing took). Prepare once
    per model and reuse it for every cut: preprocessing does not depend on the cut."""
    t0 = time.perf_counter()
    prepared = list(sample) if model.features_only else model.encoder.preprocess(list(sample))
    seconds = 0.0 if model.features_only else time.perf_counter() - t0
    return prepared, seconds  # features-only engines tokenise inside encode()


def measure_cost(
    model: LoadedModel,
    sample: Sequence[Any],
    cut: int | None,
    *,
    n_train: int,
    repeats: int = 2,
    prepared: Any = None,
    preprocess_s: float = 0.0,
) -> dict[str, Any]:
    """Cost of candidate (`model`, `cut`) measured on `sample` (one batch of user inputs).

    Returns a JSON-ready dict: ``params``, ``latency_ms`` (per example, at this batch
    size, preprocessing included), ``batch_size``, ``peak_memory_mb`` (weights + measured activations for the
    batch; activations None where not measurable), ``probe_s`` and ``finetune_s``
    (estimates for `n_train` examples; ``finetune_s`` is None for features-only models).
    Pass ``prepared, preprocess_s = prepare(model, sample)`` to reuse one batch.
    """
    if prepared is None:
        prepared, preprocess_s = prepare(model, sample)
    params, weight_bytes = count_params(model, cut)
    act = _activation_bytes(model, prepared, cut)  # also the warm-up pass
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        _forward(model, prepared, cut)
        best = min(best, time.perf_counter() - t0)
    per_example = (best + preprocess_s) / max(len(sample), 1)
    mb = 2**20
    return {
        "params": params,
        "latency_ms": round(per_example * 1e3, 3),
        "batch_size": len(sample),
        "weights_mb": round(weight_bytes / mb, 2),
        "activations_mb": None if act is None else round(act / mb, 2),
        "peak_memory_mb": round((weight_bytes + (act or 0)) / mb, 2),
        "probe_s": round(per_example * n_train, 2),
        "finetune_s": None
        if model.features_only
        else round(per_example * _TRAIN_STEP_FORWARDS * n_train * FINETUNE_EPOCHS, 1),
        "finetune_epochs": None if model.features_only else FINETUNE_EPOCHS,
    }
