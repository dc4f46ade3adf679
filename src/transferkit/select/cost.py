"""What a candidate costs: parameters, measured latency and peak memory on this machine,
and estimated adaptation time for the user's data size.

Latency is measured, not looked up, and costs no extra forward pass: `rank` reads it
off the pass that encodes the user's data for the scores (:func:`cost_from_stats`;
``encode_all_cuts(..., stats=...)`` times how long each batch takes to reach each
cut's output). So it is the mean per-example time over all of the user's examples, at
the encoding batch size, preprocessing included.

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

from typing import Any

from transferkit.select.candidates import LoadedModel

__all__ = ["cost_from_stats", "finetune_epochs", "count_params"]


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

    Returns a JSON-ready dict: ``params``, ``latency_ms`` (per example, at this batch
    size, preprocessing included), ``batch_size``, ``weights_mb``, ``activations_mb``
    (None where not measurable), ``peak_memory_mb`` (weights + activations), ``probe_s``
    and ``finetune_s`` (estimates for `n_train` examples; ``finetune_s`` is None for
    features-only models) and ``finetune_epochs``. ``latency_ms`` is (preprocessing + forward time
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
