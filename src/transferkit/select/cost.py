"""What a candidate costs: parameters, measured latency and peak memory on this machine,
and estimated adaptation time for the user's data size.

Latency is measured, not looked up, and costs no extra forward pass: `rank` reads it
off the pass that encodes the user's data for the scores (:func:`cost_from_stats`;
``encode_all_cuts(..., stats=...)`` times how long each batch takes to reach each
cut's output). So it is the mean per-example time over all of the user's examples, at
the encoding batch size, preprocessing included. :func:`measure_cost` is the
standalone variant (a warm-up and timed passes over one batch) for a model on its own.

Peak memory is the parameter and buffer bytes of the kept groups plus the activation
memory measured during one batch: the C heap in use (glibc ``mallinfo2``: in-use
arena blocks + mmapped blocks, which is where torch's CPU tensors live) sampled after
every leaf module, minus what was in use before. Sampling at module boundaries misses
temporaries inside one op, so it is a close lower bound. Where ``mallinfo2`` does not
exist (not glibc), activation memory is reported as None.

Fine-tuning time is estimated as ``3 x forward latency x examples x epochs``: a training
step costs about three forward passes (backward ≈ 2 x forward, the 6N-vs-2N FLOPs rule
of Kaplan et al. 2020, "Scaling Laws for Neural Language Models"); a probe costs one
forward pass over the data (the linear head is negligible). Contrastive tuning (text) is
estimated as its steps x 32 texts x 3 forward passes, then a probe
(``core.strategies.contrastive_steps``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from transferkit.select.candidates import LoadedModel, forward_cuts, heap_reader

__all__ = ["cost_from_stats", "finetune_epochs", "count_params", "measure_cost", "prepare"]


def finetune_epochs(modality: str, n_train: int) -> int:
    """Epochs `fit` runs by default when fully fine-tuning `n_train` examples (the
    estimate assumes what fit will do: 8 epochs on small text data, 2 on large)."""
    from transferkit.core.strategies import default_hparams

    return default_hparams("full", modality, n_train)[0]


_TRAIN_STEP_FORWARDS = 3.0  # forward + backward ≈ 3 forward passes


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
    in_use = heap_reader()
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
    return _cost_dict(
        model,
        cut,
        per_example_s=per_example,
        batch_size=len(sample),
        weight_bytes=weight_bytes,
        params=params,
        act=act,
        n_train=n_train,
    )


def _cost_dict(
    model: LoadedModel,
    cut: int | None,
    *,
    per_example_s: float,
    batch_size: int,
    weight_bytes: int,
    params: int,
    act: int | None,
    n_train: int,
) -> dict[str, Any]:
    from transferkit.core.strategies import contrastive_steps

    mb = 2**20
    epochs = None if model.features_only else finetune_epochs(model.modality, n_train)
    probe_s = per_example_s * n_train
    contrastive_s = None
    if not model.features_only and model.modality == "text":
        train_s = contrastive_steps(n_train) * 32 * per_example_s * _TRAIN_STEP_FORWARDS
        contrastive_s = round(train_s + probe_s, 1)
    return {
        "params": params,
        "latency_ms": round(per_example_s * 1e3, 3),
        "batch_size": batch_size,
        "weights_mb": round(weight_bytes / mb, 2),
        "activations_mb": None if act is None else round(act / mb, 2),
        "peak_memory_mb": round((weight_bytes + (act or 0)) / mb, 2),
        "probe_s": round(probe_s, 2),
        "contrastive_s": contrastive_s,
        "finetune_s": None
        if model.features_only
        else round(per_example_s * _TRAIN_STEP_FORWARDS * n_train * epochs, 1),
        "finetune_epochs": epochs,
    }


def cost_from_stats(
    model: LoadedModel, cut: int | None, stats: dict[str, Any], *, n_train: int, batch_size: int
) -> dict[str, Any]:
    """Cost of candidate (`model`, `cut`) from the encoding pass's `stats` (see
    ``encode_all_cuts(..., stats=...)``): no forward pass is run here.

    Same keys as :func:`measure_cost`. ``latency_ms`` is (preprocessing + forward time
    up to the cut's output) / examples encoded.
    """
    key = "full" if cut is None else str(cut)
    n = max(int(stats["n"]), 1)
    per_example = (float(stats["preprocess_s"]) + float(stats["forward_s"][key])) / n
    params, weight_bytes = count_params(model, cut)
    acts = stats.get("activation_bytes")
    return _cost_dict(
        model,
        cut,
        per_example_s=per_example,
        batch_size=min(batch_size, n),
        weight_bytes=weight_bytes,
        params=params,
        act=None if not acts else acts.get(key),
        n_train=n_train,
    )
