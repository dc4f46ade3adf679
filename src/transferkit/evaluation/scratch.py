"""The from-scratch baseline: the same architecture as the base, randomly initialised,
trained by the same trainer as `fit` (`transferkit.core.trainer`) on the same data:
the same loop, batching, augmentation and BatchNorm handling, so the comparison is like
for like.

- text: ``AutoModel.from_config(config)`` of the base encoder (same layers, widths and
  tokenizer, mean pooling), weights drawn by the model's own initialiser;
- images: a fresh ``MobileNetV2()`` / ``EfficientNetLite(variant)`` (our zoo classes'
  random initialisation), with the base's input transform.

Every parameter is trained (the "full" parameter groups of `core.strategies`), with
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
    """Train every parameter of the Classifier `clf` on `train` (a LabelledData) with the
    one trainer (`core.trainer.train_classifier`: the same batching, augmentation and
    BatchNorm handling as `fit`), early stopping on `val` when given; weights of the best
    validation epoch are kept.

    `time_limit` (seconds) stops training, mid-epoch if needed; the run's `stop_reason`
    says so. Returns a TrainRun whose history records, per epoch: "epoch", "loss",
    "train_accuracy" (on up to TRAIN_ACC_SAMPLE fixed training examples), "val_accuracy"
    (with `val`) and "seconds" (cumulative training time, evaluation excluded).
    """
    from transferkit.core.strategies import param_groups
    from transferkit.core.trainer import TrainConfig
    from transferkit.core.trainer import train_classifier as train_one

    e0, lr0, bs0 = scratch_defaults(train.modality, len(train))
    n_epochs, rate, bs = int(epochs or e0), float(lr or lr0), int(batch_size or bs0)
    classes = list(clf.labels)
    y = np.array([classes.index(lab) for lab in train.labels])
    groups, _ = param_groups(clf, "full", rate)
    cfg = TrainConfig(
        epochs=n_epochs,
        batch_size=bs,
        seed=seed,
        patience=patience,
        time_limit=time_limit,
        progress=progress,
        curves=TRAIN_ACC_SAMPLE,
    )
    out = train_one(clf, train, y, val, groups, cfg)
    return TrainRun(
        model=clf,
        history=[dict(r) for r in out.history],
        train_seconds=out.train_seconds,
        cpu_seconds=out.cpu_seconds,
        stop_reason=out.stop_reason,
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
