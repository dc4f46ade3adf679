"""Feature extraction: one L2-normalised embedding per input (mean pooling for text)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from transferkit.pipelines.base import Pipeline
from transferkit.pipelines.classification import (
    ImageClassificationPipeline,
    check_text,
    token_lengths,
)


class FeatureExtractionPipeline(Pipeline):
    """Text or image in, a float32 numpy vector (embedding_dim,) out; a list in, a list out.

    For text this equals sentence-transformers' `encode(..., normalize_embeddings=True)` on
    the same weights. `normalize=False` returns the raw pooled features.
    """

    task = "feature-extraction"

    def __init__(self, model: Any, *, batch_size: int = 32, normalize: bool = True) -> None:
        super().__init__(model, batch_size=batch_size)
        self.normalize = normalize

    def check(self, item: Any, position: int) -> Any:
        if self.model.modality == "text":
            return check_text(item, position)
        return ImageClassificationPipeline.check(self, item, position)  # type: ignore[arg-type]

    def sort_key(self, item: Any) -> int:
        return len(item) if isinstance(item, str) else 0

    def sort_keys(self, items: Sequence[Any]) -> list[int]:
        lengths = token_lengths(self.model, items) if self.model.modality == "text" else None
        return super().sort_keys(items) if lengths is None else lengths

    def postprocess(self, outputs: torch.Tensor, **kwargs: Any) -> list[np.ndarray]:
        feats = outputs.float()
        if self.normalize:
            feats = torch.nn.functional.normalize(feats, p=2, dim=-1)
        return list(feats.numpy())

    def encode(self, inputs: list[Any], **kwargs: Any) -> np.ndarray:
        """All embeddings stacked: (n_inputs, embedding_dim)."""
        return np.stack(self(list(inputs), **kwargs))
