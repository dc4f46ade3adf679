"""Adapt a pretrained model to labelled data: `fit` (strategies probe, partial, full,
lora, contrastive, auto) and `evaluate`.

>>> from transferkit.adapt import fit          # doctest: +SKIP
>>> r = fit("train.csv", out="my-model")       # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transferkit.adapt.assess import evaluate
    from transferkit.adapt.fitting import FitResult, fit

__all__ = ["fit", "FitResult", "evaluate"]


def __getattr__(name: str) -> Any:
    if name in ("fit", "FitResult"):
        from transferkit.adapt import fitting as module

        return getattr(module, name)
    if name == "evaluate":
        from transferkit.adapt.assess import evaluate

        return evaluate
    raise AttributeError(f"module 'transferkit.adapt' has no attribute {name!r}")
