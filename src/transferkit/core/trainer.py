"""Gradient strategies (partial, full, lora) on a Classifier: batching, augmentation,
validation, early stopping, time budget and checkpoint/resume around `run_loop`."""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from transferkit.core.strategies import Plan
from transferkit.data.datasets import LabelledData

# BatchNorm momentum while fine-tuning. EfficientNet-Lite ships TF's 0.99 decay (momentum
# 0.01): over the few hundred steps of a small fine-tune its running statistics stay mostly
# ImageNet's while the weights move on, and validation collapses (lite0 on 200 sklearn
# digits: 0.20 before, 0.83 after; benchmarks/results/rank.md). PyTorch's default 0.1
# follows the new weights within an epoch.
FINE_TUNE_BN_MOMENTUM = 0.1


@contextlib.contextmanager
def bn_momentum(module: torch.nn.Module, momentum: float) -> Iterator[None]:
    """Raise every BatchNorm's momentum to at least `momentum` inside the block; restore it
    after (momentum is not saved with the weights)."""
    norms = [
        m
        for m in module.modules()
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.momentum is not None
    ]
    before = [m.momentum for m in norms]
    for m in norms:
        m.momentum = max(float(m.momentum), momentum)
    try:
        yield
    finally:
        for m, b in zip(norms, before, strict=True):
            m.momentum = b


def train_gradient(
    clf: Any,
    data: LabelledData,
    y: np.ndarray,
    eval_data: LabelledData | None,
    plan: Plan,
    groups: list[dict[str, Any]],
    *,
    seed: int,
    budget: float | None,
    t_start: float,
    ckpt_dir: Path | None,
    fingerprint: str,
    progress: bool,
    base_name: str,
    patience: int | None,
) -> dict[str, Any]:
    from transferkit.core.loop import (
        Checkpoint,
        EarlyStopping,
        LoopConfig,
        ProgressCallback,
        TimeLimit,
        run_loop,
    )

    backbone = clf.backbone
    image = data.modality == "image"
    pixels = None
    if image and len(data) <= 3000:  # decode once; (n, 3, h, w) float32 in memory
        pixels = torch.cat(
            [
                backbone.preprocess(data.items[s : s + 64])["pixel_values"]
                for s in range(0, len(data), 64)
            ]
        )
    lengths = [len(x) if isinstance(x, str) else 0 for x in data.items]
    yt = torch.as_tensor(y)

    def plan_epoch(epoch: int) -> list[list[int]]:
        rng = np.random.default_rng(seed * 7919 + epoch)
        idx = rng.permutation(len(data))
        bs = plan.batch_size
        if not image:  # length-bucketed batches: less padding, ~2x faster on CPU
            chunks = [
                sorted(idx[s : s + bs * 50], key=lambda i: lengths[i])
                for s in range(0, len(idx), bs * 50)
            ]
            batches = [c[s : s + bs] for c in chunks for s in range(0, len(c), bs)]
            order = rng.permutation(len(batches))
            return [[int(i) for i in batches[j]] for j in order]
        return [[int(i) for i in idx[s : s + bs]] for s in range(0, len(idx), bs)]

    loss_fn = torch.nn.CrossEntropyLoss()

    def step_loss(idx: list[int]) -> torch.Tensor:
        if pixels is not None:
            px = pixels[idx]
            flip = torch.rand(len(idx)) < 0.5  # random horizontal flip, per image
            px = torch.where(flip[:, None, None, None], px.flip(-1), px)
            batch = {"pixel_values": px}
        else:
            batch = backbone.preprocess([data.items[i] for i in idx])
        return loss_fn(clf(batch), yt[idx])

    from transferkit.core.inference import predict_logits

    validate = None
    if eval_data is not None:
        ey = np.array([data.classes.index(x) for x in eval_data.labels])

        def validate() -> float:
            return float((predict_logits(clf, eval_data.items).argmax(1) == ey).mean())

    def frozen_eval() -> None:  # frozen layers keep their BatchNorm statistics
        for g in backbone.layer_groups():
            if not any(p.requires_grad for p in g.parameters()):
                g.eval()

    callbacks: list[Any] = [ProgressCallback(progress)]
    if patience is not None:
        callbacks.append(EarlyStopping(patience))
    if budget is not None:
        callbacks.append(TimeLimit(max(1.0, budget - (time.time() - t_start))))
    if ckpt_dir is not None:
        key = hashlib.sha256(
            json.dumps(
                [fingerprint, base_name, plan.strategy, plan.epochs, plan.lr, plan.batch_size, seed]
            ).encode()
        ).hexdigest()[:24]
        callbacks.append(Checkpoint(ckpt_dir, key))
    with bn_momentum(clf, FINE_TUNE_BN_MOMENTUM):
        state = run_loop(
            clf,
            plan_epoch,
            step_loss,
            groups,
            LoopConfig(epochs=plan.epochs, seed=seed),
            validate=validate,
            callbacks=callbacks,
            on_train_mode=frozen_eval,
        )
    return {"history": state.history, "resumed": state.resumed_from, "stop": state.stop_reason}
