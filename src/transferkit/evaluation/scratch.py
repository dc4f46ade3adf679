"""The from-scratch baseline: the same architecture as the base, randomly initialised,
trained with the same loop (`transferkit.core.loop.run_loop`) on the same data.

- text: ``AutoModel.from_config(config)`` of the base encoder (same layers, widths and
  tokenizer, mean pooling), weights drawn by the model's own initialiser;
- images: a fresh ``MobileNetV2()`` / ``EfficientNetLite(variant)`` (our zoo classes'
  random initialisation), with the base's input transform.

Every parameter is trained (the "full" parameter groups of `adapt.strategies`), with
AdamW, warm-up then linear decay, gradient clipping, early stopping on validation and an
optional time limit. Each epoch records the training loss, the accuracy on a fixed
sample of the training data, the validation accuracy and the cumulative training
seconds (evaluation time excluded), so train/validation curves and "time to reach an
accuracy" can be drawn.

>>> # run = train_from_scratch("minilm-l6", train, val, seed=0, time_limit=60)
>>> # run.history[-1] -> {"epoch": 3, "loss": ..., "train_accuracy": ..., "val_accuracy": ..., "seconds": ...}
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from transferkit.errors import InputError

logger = logging.getLogger(__name__)

TRAIN_ACC_SAMPLE = 512  # examples of the training data scored after every epoch


@dataclass
class TrainRun:
    """A trained model and how its training went (one record per epoch in `history`)."""

    model: Any
    history: list[dict[str, float]] = field(default_factory=list)
    train_seconds: float = 0.0
    cpu_seconds: float = 0.0
    stop_reason: str = ""
    epochs_planned: int = 0
    hyperparameters: dict[str, Any] = field(default_factory=dict)


def scratch_defaults(modality: str, n: int) -> tuple[int, float, int]:
    """(epochs, lr, batch_size) for training from random initialisation.

    Higher rates than fine-tuning: nothing pretrained is there to be preserved. Text
    transformers from scratch need warm-up and ~1e-4 (BERT pre-training used 1e-4);
    CNNs from scratch train well with AdamW at 1e-3.
    """
    if modality == "image":
        return (15 if n <= 1000 else 6), 1e-3, 16
    return (10 if n <= 2000 else 3), 1e-4, 32


def random_backbone(backbone: Any, *, seed: int = 0) -> Any:
    """A backbone with the same architecture and preprocessing as `backbone`, weights
    randomly initialised (seeded)."""
    import torch

    from transferkit.models.backbone import ImageBackbone, TextBackbone

    torch.manual_seed(seed)
    spec = {"kind": "scratch", "architecture_of": backbone.spec}
    if isinstance(backbone, TextBackbone):
        from transformers import AutoModel

        model = backbone.model
        model = getattr(model, "base_model", model) if hasattr(model, "peft_config") else model
        config = model.config
        fresh = AutoModel.from_config(config)
        return TextBackbone(fresh, backbone.tokenizer, max_length=backbone.max_length, spec=spec)
    if isinstance(backbone, ImageBackbone):
        from torch import nn

        from transferkit.zoo.efficientnet_lite import EfficientNetLite
        from transferkit.zoo.mobilenet_v2 import MobileNetV2

        net = backbone.net
        if isinstance(net, MobileNetV2):
            fresh_net: Any = MobileNetV2()
        elif isinstance(net, EfficientNetLite):
            fresh_net = EfficientNetLite(net.variant)
        else:
            raise InputError(
                f"no random-initialisation recipe for the image network {type(net).__name__}; "
                "from-scratch baselines support MobileNetV2 and EfficientNet-Lite bases. "
                "Pass --no-scratch or another base."
            )
        fresh_net.classifier = nn.Identity()  # the Classifier adds a head sized to the labels
        kept = len(backbone.layer_groups())
        if kept < len(fresh_net.layer_groups()):  # a cut point: the same truncated network
            fresh_net.truncate(kept)
        return ImageBackbone(fresh_net, backbone.transform, spec=spec)
    raise InputError(
        f"no random-initialisation recipe for {type(backbone).__name__}; the from-scratch "
        "baseline supports Hugging Face text encoders and the zoo's image CNNs"
    )


def _accuracy(clf: Any, batches: Any, y: np.ndarray) -> float:
    import torch

    preds = []
    clf.eval()
    with torch.inference_mode():
        for batch in batches():
            preds.append(clf(batch).argmax(1).numpy())
    return float((np.concatenate(preds) == y).mean())


def train_classifier(
    clf: Any,
    train: Any,
    val: Any | None,
    *,
    seed: int = 0,
    epochs: int | None = None,
    lr: float | None = None,
    batch_size: int | None = None,
    time_limit: float | None = None,
    patience: int = 3,
    progress: bool = False,
) -> TrainRun:
    """Train every parameter of the Classifier `clf` on `train` (a LabelledData), with
    early stopping on `val` when given; weights of the best validation epoch are kept.

    `time_limit` (seconds) stops training, mid-epoch if needed; the run's `stop_reason`
    says so. Returns a TrainRun whose history records, per epoch: "epoch", "loss",
    "train_accuracy" (on up to 512 fixed training examples), "val_accuracy" (with `val`)
    and "seconds" (cumulative training time, evaluation excluded).
    """
    import torch

    from transferkit.core.loop import (
        Callback,
        EarlyStopping,
        LoopConfig,
        ProgressCallback,
        TimeLimit,
        run_loop,
    )
    from transferkit.core.strategies import param_groups

    backbone = clf.backbone
    image = train.modality == "image"
    e0, lr0, bs0 = scratch_defaults(train.modality, len(train))
    n_epochs, rate, bs = int(epochs or e0), float(lr or lr0), int(batch_size or bs0)
    classes = list(clf.labels)
    y = np.array([classes.index(lab) for lab in train.labels])
    yt = torch.as_tensor(y)

    def decode(items: list[Any]) -> Any:  # (n, 3, h, w) float32, decoded once
        return torch.cat(
            [
                backbone.preprocess(items[s : s + 64])["pixel_values"]
                for s in range(0, len(items), 64)
            ]
        )

    pixels = decode(train.items) if image else None
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.permutation(len(train))[:TRAIN_ACC_SAMPLE])
    val_y = np.array([classes.index(lab) for lab in val.labels]) if val is not None else None
    val_pixels = decode(val.items) if (image and val is not None) else None

    def batches_of(items: list[Any], px: Any, idx: np.ndarray) -> Any:
        def gen() -> Any:
            for s in range(0, len(idx), 64):
                part = idx[s : s + 64]
                if px is not None:
                    yield {"pixel_values": px[part]}
                else:
                    yield backbone.preprocess([items[i] for i in part])

        return gen

    train_batches = batches_of(train.items, pixels, sample)
    val_batches = (
        batches_of(val.items, val_pixels, np.arange(len(val))) if val is not None else None
    )

    def plan(epoch: int) -> list[list[int]]:
        order = np.random.default_rng(seed * 7919 + epoch).permutation(len(train))
        return [[int(i) for i in order[s : s + bs]] for s in range(0, len(order), bs)]

    loss_fn = torch.nn.CrossEntropyLoss()

    def step_loss(idx: list[int]) -> Any:
        if pixels is not None:
            px = pixels[idx]
            flip = torch.rand(len(idx)) < 0.5  # random horizontal flip, as `fit` does
            batch = {"pixel_values": torch.where(flip[:, None, None, None], px.flip(-1), px)}
        else:
            batch = backbone.preprocess([train.items[i] for i in idx])
        return loss_fn(clf(batch), yt[idx])

    clock = {"eval": 0.0, "start": time.time()}

    class _Record(Callback):
        """Adds train accuracy and training seconds to the epoch's history record."""

        def on_epoch_end(self, state: Any) -> None:
            t0 = time.time()
            record = state.history[-1]
            record["train_accuracy"] = _accuracy(clf, train_batches, y[sample])
            clock["eval"] += time.time() - t0
            record["seconds"] = time.time() - clock["start"] - clock["eval"]

    validate = None
    if val_batches is not None:

        def validate() -> float:
            t0 = time.time()
            acc = _accuracy(clf, val_batches, val_y)
            clock["eval"] += time.time() - t0
            return acc

    callbacks: list[Any] = [ProgressCallback(progress), _Record(), EarlyStopping(patience)]
    if time_limit is not None:
        callbacks.append(TimeLimit(max(1.0, time_limit)))
    groups, _ = param_groups(clf, "full", rate)
    t0, c0 = time.time(), time.process_time()
    clock["start"] = t0
    state = run_loop(
        clf,
        plan,
        step_loss,
        groups,
        LoopConfig(epochs=n_epochs, seed=seed),
        validate=validate,
        callbacks=callbacks,
    )
    return TrainRun(
        model=clf,
        history=[dict(r) for r in state.history],
        train_seconds=time.time() - t0,
        cpu_seconds=time.process_time() - c0,
        stop_reason=state.stop_reason,
        epochs_planned=n_epochs,
        hyperparameters={"epochs": n_epochs, "lr": rate, "batch_size": bs, "seed": seed},
    )


def train_from_scratch(
    base: Any,
    train: Any,
    val: Any | None = None,
    *,
    seed: int = 0,
    epochs: int | None = None,
    lr: float | None = None,
    batch_size: int | None = None,
    time_limit: float | None = None,
    progress: bool = False,
) -> TrainRun:
    """Build the base's architecture from random initialisation (a zoo name, a model
    folder, or an already loaded Backbone) with a head for `train`'s classes, and train
    it with `train_classifier`."""
    from transferkit.models.backbone import Backbone
    from transferkit.models.classifier import Classifier

    if isinstance(base, Backbone):
        template = base
    else:
        from transferkit.models.factory import load_backbone

        template = load_backbone(base)
    if template.modality != train.modality:
        raise InputError(
            f"base is a {template.modality} model but the data is {train.modality}; pick a "
            f"{train.modality} base"
        )
    clf = Classifier(random_backbone(template, seed=seed), train.classes)
    return train_classifier(
        clf,
        train,
        val,
        seed=seed,
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        time_limit=time_limit,
        progress=progress,
    )
