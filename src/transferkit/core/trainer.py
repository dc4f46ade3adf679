"""The one trainer: every gradient step in transferkit goes through `train`.

Transfer fine-tuning (partial, full, lora), the from-scratch baseline and the
contrastive body step share it, so they share the loop (`core.loop.run_loop`: AdamW,
warm-up then linear decay, gradient clipping), the callbacks (progress, early stopping,
time limit, checkpoint/resume), the BatchNorm handling and — through
`train_classifier` — the batching (length-bucketed text, pre-decoded images) and the
augmentation (random horizontal flips). A comparison of transfer with scratch is like
for like by construction.

- `train(module, step_loss, plan, groups, cfg)`: any loss over batches of indices.
- `train_classifier(clf, data, y, eval_data, groups, cfg)`: the loss of the problem's
  kind (`core.objectives`: cross-entropy, BCE with optional pos_weight, MSE/Huber on the
  standardised target) on a Classifier, the kind's validation score per epoch (best
  epoch kept), optional per-epoch train score and training seconds (`cfg.curves`) for
  compare's curves.

>>> # out = train_classifier(clf, data, y, val, groups, TrainConfig(epochs=3, batch_size=32))
>>> # out.history[-1] -> {"epoch": 3, "loss": ..., "val_accuracy": ...}
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

# BatchNorm momentum while training. EfficientNet-Lite ships TF's 0.99 decay (momentum
# 0.01): over the few hundred steps of a small fine-tune its running statistics stay mostly
# ImageNet's while the weights move on, and validation collapses (lite0 on 200 sklearn
# digits; benchmarks/results/rank.md). PyTorch's default 0.1 follows the new weights
# within an epoch.
FINE_TUNE_BN_MOMENTUM = 0.1

# Images are decoded once into memory, (n, 3, h, w) float32, up to this many.
PREDECODE_MAX_IMAGES = 3000

# Text batches are drawn from shuffled chunks of this many batches, sorted by length:
# less padding (~2x faster on CPU) while every epoch still sees a new order.
BUCKET_CHUNK_BATCHES = 50


@dataclass(frozen=True)
class TrainConfig:
    """How to train (the what — parameters and learning rates — travels as groups)."""

    epochs: int
    batch_size: int = 32
    seed: int = 0
    warmup: float = 0.1  # fraction of all steps spent warming up
    weight_decay: float = 0.01
    patience: int | None = 2  # early stopping on validation (None: off)
    time_limit: float | None = None  # seconds of training, then stop (mid-epoch if needed)
    checkpoint_dir: Path | None = None  # save every epoch there; resume when the key matches
    checkpoint_key: str = ""
    progress: bool = False
    curves: int = 0  # > 0: per epoch, accuracy on that many fixed training examples + seconds


@dataclass
class TrainOutcome:
    """How training went: one record per epoch, and why it stopped early (if it did)."""

    history: list[dict[str, float]] = field(default_factory=list)
    resumed_from: int = 0
    stop_reason: str = ""
    steps: int = 0
    loss: float = float("nan")
    train_seconds: float = 0.0
    cpu_seconds: float = 0.0


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


def _frozen_groups_eval(module: torch.nn.Module) -> None:
    """Frozen layer groups keep their BatchNorm statistics (and dropout off)."""
    backbone = getattr(module, "backbone", module)
    if not hasattr(backbone, "layer_groups"):
        return
    for g in backbone.layer_groups():
        if not any(p.requires_grad for p in g.parameters()):
            g.eval()


def train(
    module: torch.nn.Module,
    step_loss: Callable[[list[int]], torch.Tensor],
    plan: Callable[[int], list[list[int]]],
    groups: list[dict[str, Any]],
    cfg: TrainConfig,
    *,
    validate: Callable[[], float] | None = None,
    callbacks: Sequence[Any] = (),
    metric: str = "val_accuracy",
) -> TrainOutcome:
    """Train the parameters in `groups` (each {"params", "lr"}) of `module`.

    `plan(epoch)` gives the epoch's batches of example indices (a pure function of the
    epoch, so a resumed run sees the same batches); `step_loss(indices)` the loss of one.
    With `validate` (higher is better) the best epoch's weights are kept.
    The module trains on the current device (`core.devices`; `step_loss` puts its batch
    there); inside a torch.distributed process group each rank takes its share of every
    epoch's batches (`core.distributed`).
    """
    from transferkit.core.devices import current_device
    from transferkit.core.distributed import shard_plan, sync_callbacks
    from transferkit.core.loop import (
        Checkpoint,
        EarlyStopping,
        LoopConfig,
        ProgressCallback,
        TimeLimit,
        run_loop,
    )

    cbs: list[Any] = [ProgressCallback(cfg.progress), *callbacks]
    if cfg.patience is not None and validate is not None:
        cbs.append(EarlyStopping(cfg.patience))
    if cfg.time_limit is not None:
        cbs.append(TimeLimit(max(1.0, cfg.time_limit)))
    if cfg.checkpoint_dir is not None:
        cbs.append(Checkpoint(cfg.checkpoint_dir, cfg.checkpoint_key))
    cbs += sync_callbacks()
    module.to(current_device())
    loop_cfg = LoopConfig(
        epochs=cfg.epochs, warmup=cfg.warmup, weight_decay=cfg.weight_decay, seed=cfg.seed
    )
    t0, c0 = time.time(), time.process_time()
    with bn_momentum(module, FINE_TUNE_BN_MOMENTUM):
        state = run_loop(
            module,
            shard_plan(plan),
            step_loss,
            groups,
            loop_cfg,
            validate=validate,
            callbacks=cbs,
            on_train_mode=lambda: _frozen_groups_eval(module),
            metric=metric,
        )
    return TrainOutcome(
        history=state.history,
        resumed_from=state.resumed_from,
        stop_reason=state.stop_reason,
        steps=state.step,
        loss=state.loss,
        train_seconds=time.time() - t0,
        cpu_seconds=time.process_time() - c0,
    )


class ModelInputs:
    """Batches of a model's inputs by index: images decoded once (when few enough), text
    tokenised per batch; `augment` flips images at random (per image, p = 0.5)."""

    def __init__(self, backbone: Any, items: Sequence[Any], modality: str) -> None:
        self.backbone, self.items, self.modality = backbone, list(items), modality
        self.pixels: torch.Tensor | None = None
        if modality == "image" and len(items) <= PREDECODE_MAX_IMAGES:
            self.pixels = torch.cat(  # (n, 3, h, w) float32
                [
                    backbone.preprocess(self.items[s : s + 64])["pixel_values"]
                    for s in range(0, len(items), 64)
                ]
            )

    def __len__(self) -> int:
        return len(self.items)

    def batch(self, idx: list[int], *, augment: bool = False) -> dict[str, torch.Tensor]:
        if self.pixels is None:
            batch = self.backbone.preprocess([self.items[i] for i in idx])
            if not augment or "pixel_values" not in batch:
                return batch
            px = batch["pixel_values"]
        else:
            px = self.pixels[idx]
            if not augment:
                return {"pixel_values": px}
        flip = torch.rand(len(idx)) < 0.5  # random horizontal flip, per image
        return {"pixel_values": torch.where(flip[:, None, None, None], px.flip(-1), px)}

    def length(self, i: int) -> int:
        item = self.items[i]
        return len(item) if isinstance(item, str) else 0

    def logits(self, clf: Any, idx: Sequence[int], batch_size: int = 64) -> np.ndarray:
        """(len(idx), n_labels) logits, through the one batched inference helper."""
        from transferkit.core.devices import current_device, move_model
        from transferkit.core.inference import forward_on_device, run_batched

        device = current_device()
        move_model(clf, device).eval()

        def run(part: list[int]) -> np.ndarray:
            return forward_on_device(clf, self.batch(part), device)

        return run_batched(run, list(idx), batch_size=batch_size, key=self.length)  # type: ignore[return-value]


def epoch_plan(inputs: ModelInputs, batch_size: int, seed: int) -> Callable[[int], list[list[int]]]:
    """Seeded batches per epoch: text in length-bucketed batches (shuffled chunks sorted by
    length, batches in random order), images in plain shuffled batches."""
    text = inputs.modality == "text"

    def plan(epoch: int) -> list[list[int]]:
        rng = np.random.default_rng(seed * 7919 + epoch)
        idx = rng.permutation(len(inputs))
        bs = batch_size
        if not text:
            return [[int(i) for i in idx[s : s + bs]] for s in range(0, len(idx), bs)]
        span = bs * BUCKET_CHUNK_BATCHES
        chunks = [sorted(idx[s : s + span], key=inputs.length) for s in range(0, len(idx), span)]
        batches = [c[s : s + bs] for c in chunks for s in range(0, len(c), bs)]
        order = rng.permutation(len(batches))
        return [[int(i) for i in batches[j]] for j in order]

    return plan


def train_classifier(
    clf: Any,
    data: Any,
    y: np.ndarray,
    eval_data: Any | None,
    groups: list[dict[str, Any]],
    cfg: TrainConfig,
    *,
    eval_y: np.ndarray | None = None,
    objective: Any = None,
) -> TrainOutcome:
    """Train the Classifier `clf` on `data` (a LabelledData) with targets `y`, validated
    on `eval_data` (targets `eval_y`) after every epoch (best epoch kept).

    objective: a `core.objectives.Objective` (loss + validation score); None is
    single-label cross-entropy with `y` and `eval_y` class indices (`eval_y` defaults to
    the indices of `eval_data.labels`)."""
    from transferkit.core.devices import current_device, to_device
    from transferkit.core.distributed import ddp
    from transferkit.core.objectives import objective_for

    device = current_device()
    if objective is None:
        objective = objective_for("single-label", y, n_classes=len(data.classes), device=device)
    net = ddp(clf.to(device), device)  # clf itself outside a process group
    inputs = ModelInputs(clf.backbone, data.items, data.modality)
    yt = objective.targets(y).to(device)

    def step_loss(idx: list[int]) -> torch.Tensor:
        return objective.loss(net(to_device(inputs.batch(idx, augment=True), device)), yt[idx])

    clock = {"eval": 0.0, "start": time.time()}

    def timed(fn: Callable[[], float]) -> float:  # evaluation time is not training time
        t0 = time.time()
        value = fn()
        clock["eval"] += time.time() - t0
        return value

    validate = None
    if eval_data is not None:
        val = ModelInputs(clf.backbone, eval_data.items, eval_data.modality)
        if eval_y is None:
            eval_y = np.array([data.classes.index(x) for x in eval_data.labels])
        ey, all_val = eval_y, list(range(len(val)))

        def validate() -> float:
            return timed(lambda: objective.score(val.logits(clf, all_val), ey))

    callbacks: list[Any] = []
    if cfg.curves:
        callbacks.append(_curves(clf, inputs, y, objective, cfg, timed, clock))
    clock["start"] = time.time()
    return train(
        clf,
        step_loss,
        epoch_plan(inputs, cfg.batch_size, cfg.seed),
        groups,
        cfg,
        validate=validate,
        callbacks=callbacks,
        metric=objective.metric,
    )


def _curves(
    clf: Any,
    inputs: ModelInputs,
    y: np.ndarray,
    objective: Any,
    cfg: TrainConfig,
    timed: Callable[[Callable[[], float]], float],
    clock: dict[str, float],
) -> Any:
    """A callback adding the train score (on `cfg.curves` fixed training examples; key
    "train_accuracy" for single-label) and training seconds to each epoch's record."""
    from transferkit.core.loop import Callback

    rng = np.random.default_rng(cfg.seed)
    sample = np.sort(rng.permutation(len(inputs))[: cfg.curves]).tolist()
    key = "train_" + objective.metric.removeprefix("val_")

    class _Curves(Callback):
        def on_epoch_end(self, state: Any) -> None:
            record = state.history[-1]
            record[key] = timed(lambda: objective.score(inputs.logits(clf, sample), y[sample]))
            record["seconds"] = time.time() - clock["start"] - clock["eval"]

    return _Curves()
