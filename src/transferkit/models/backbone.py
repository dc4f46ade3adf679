"""One `Backbone` surface for text and image encoders.

A backbone turns raw inputs into one feature vector per example:

    batch = backbone.preprocess(["a text", "another"])   # tensors, no grad needed
    feats = backbone(batch)                              # (batch, embedding_dim)

and exposes its ordered `layer_groups()` (bottom → top) for partial freezing and
discriminative learning rates, and a JSON `spec` saying how it was built.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from transferkit.errors import InputError


class Backbone(nn.Module):
    """Base class: subclasses set `modality`, `embedding_dim` and `spec`, and implement
    `preprocess`, `forward` and `layer_groups`."""

    modality: str = ""
    embedding_dim: int = 0

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__()
        self.spec = dict(spec)  # how to rebuild this backbone: {"kind": "zoo"|"path"|"hub", ...}

    def preprocess(self, inputs: Sequence[Any]) -> dict[str, torch.Tensor]:  # pragma: no cover
        raise NotImplementedError

    def layer_groups(self) -> list[nn.Module]:  # pragma: no cover
        raise NotImplementedError

    def freeze(self, n_groups: int | None = None) -> None:
        """Freeze the lowest `n_groups` layer groups (all of them when None); unfreeze the rest."""
        groups = self.layer_groups()
        n = len(groups) if n_groups is None else n_groups
        if not 0 <= n <= len(groups):
            raise InputError(
                f"n_groups={n_groups} is out of range: this backbone has {len(groups)} layer groups "
                f"(0 = train everything, {len(groups)} = freeze everything)"
            )
        for i, group in enumerate(groups):
            for p in group.parameters():
                p.requires_grad = i >= n

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device


def _mean_pool(token_states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    # token_states: (batch, tokens, hidden); mask: (batch, tokens)
    m = mask.unsqueeze(-1).to(token_states.dtype)
    return (token_states * m).sum(1) / m.sum(1).clamp(min=1e-9)


class TextBackbone(Backbone):
    """A Hugging Face encoder (`AutoModel`) + its tokenizer, mean-pooled over tokens.

    Long inputs are truncated to `max_length` tokens (the model's limit) by default.
    """

    modality = "text"

    def __init__(self, model: Any, tokenizer: Any, *, max_length: int, spec: dict[str, Any]):
        super().__init__(spec)
        self.model: Any = model
        self.tokenizer = tokenizer
        self.max_length = int(max_length)
        self.embedding_dim = int(model.config.hidden_size)

    def preprocess(self, inputs: Sequence[Any]) -> dict[str, torch.Tensor]:
        texts = list(inputs)
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise InputError(
                    f"input {i} is {type(t).__name__} {t!r:.60}; text models take strings. "
                    "Convert it with str() or drop it."
                )
        enc = self.tokenizer(
            texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        )
        return dict(enc)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        wanted = ("input_ids", "attention_mask", "token_type_ids")
        out = self.model(**{k: v for k, v in batch.items() if k in wanted})
        return _mean_pool(out.last_hidden_state, batch["attention_mask"])  # (batch, hidden)

    def layer_groups(self) -> list[nn.Module]:
        base: Any = getattr(self.model, "base_model", self.model)
        # peft wraps the model: reach the transformer underneath
        while hasattr(base, "model") and not hasattr(base, "embeddings"):
            base = base.model
        if not hasattr(base, "embeddings") or not hasattr(base, "encoder"):
            raise InputError(
                f"cannot find embeddings/encoder layers in {type(base).__name__}; "
                "partial freezing supports BERT-like encoders. Use strategy 'full' or 'probe'."
            )
        return [base.embeddings, *base.encoder.layer]


class ImageBackbone(Backbone):
    """A CNN with `forward_features` (pooled), fed by an `ImageTransform`."""

    modality = "image"

    def __init__(self, net: Any, transform: Any, *, spec: dict[str, Any]):
        super().__init__(spec)
        self.net: Any = net
        self.transform = transform
        self.embedding_dim = int(net.num_features)

    def preprocess(self, inputs: Sequence[Any]) -> dict[str, torch.Tensor]:
        from transferkit.data.images import load_image

        images = [load_image(x) for x in inputs]
        return {"pixel_values": self.transform(images)}

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.net.forward_features(batch["pixel_values"])  # (batch, num_features)

    def layer_groups(self) -> list[nn.Module]:
        return list(self.net.layer_groups())
