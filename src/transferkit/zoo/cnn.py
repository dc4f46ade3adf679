"""What our two ImageNet CNNs (MobileNetV2, EfficientNet-Lite) share: a replaceable
linear head on pooled features, and torchvision's weight initialisation."""

from __future__ import annotations

import torch
from torch import nn


class ImageNetCNN(nn.Module):
    """Base of the zoo's CNNs. Subclasses set ``num_features``, ``dropout`` and
    ``classifier`` and define ``forward_features`` ((B, 3, H, W) → (B, num_features))."""

    num_features: int
    dropout: float
    classifier: nn.Module

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) normalised images → (B, num_classes) logits."""
        return self.classifier(self.forward_features(x))

    @property
    def num_classes(self) -> int:
        """Outputs of the last Linear in ``classifier``."""
        linears = [m for m in self.classifier.modules() if isinstance(m, nn.Linear)]
        if not linears:
            raise AttributeError(
                "classifier holds no nn.Linear (the head was removed); call "
                "reset_classifier(num_classes) to attach one"
            )
        return linears[-1].out_features

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the head by a new randomly initialised
        ``Linear(num_features, num_classes)`` (after dropout)."""
        self.classifier = nn.Sequential(
            nn.Dropout(p=self.dropout), nn.Linear(self.num_features, num_classes)
        )
        init_weights(self.classifier)


def init_weights(module: nn.Module) -> None:
    """torchvision's initialisation (He-normal fan-out convs, unit BatchNorm, small-normal
    Linear), so from-scratch baselines match the reference and each other."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)
