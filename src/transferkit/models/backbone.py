"""One `Backbone` surface for text and image encoders.

A backbone turns raw inputs into one feature vector per example:

    batch = backbone.preprocess(["a text", "another"])   # tensors, no grad needed
    feats = backbone(batch)                              # (batch, embedding_dim)

and exposes its ordered `layer_groups()` (bottom → top) for partial freezing and
discriminative learning rates, and a JSON `spec` saying how it was built.

`truncate(k)` keeps only the bottom k layer groups — a *cut point* (``"minilm-l6@4"``):
the layers above are dropped from the network, so it is smaller and faster, and its
features are those of layer group k, pooled as the whole model pools its output.
The spec records ``"cut": k`` so a saved model rebuilds the same truncated network.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from transferkit.errors import InputError
from transferkit.utils.batching import tokenize
from transferkit.utils.checks import check_texts
from transferkit.zoo.cuts import check_cut


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

    def truncate(self, cut: int) -> None:
        """Keep the bottom `cut` layer groups and delete the rest (subclasses)."""
        raise InputError(
            f"{type(self).__name__} has no cut points; use the whole model "
            f"({spec_label(self.spec)!r} without '@{cut}')"
        )

    def _check_cut(self, cut: Any) -> int:
        return check_cut(cut, len(self.layer_groups()), spec_label(self.spec))

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device


def spec_label(spec: dict[str, Any]) -> str:
    """The reference a spec came from, for messages: a zoo name, a folder or a hub id."""
    return str(spec.get("name") or spec.get("path") or spec.get("id") or "the model")


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
        enc = tokenize(self.tokenizer, check_texts(inputs), self.max_length, "pt")
        return dict(enc)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        wanted = ("input_ids", "attention_mask", "token_type_ids")
        out = self.model(**{k: v for k, v in batch.items() if k in wanted})
        return _mean_pool(out.last_hidden_state, batch["attention_mask"])  # (batch, hidden)

    def _encoder_model(self) -> Any:
        base: Any = getattr(self.model, "base_model", self.model)
        # peft wraps the model: reach the transformer underneath
        while hasattr(base, "model") and not hasattr(base, "embeddings"):
            base = base.model
        if not hasattr(base, "embeddings") or not hasattr(base, "encoder"):
            raise InputError(
                f"cannot find embeddings/encoder layers in {type(base).__name__}; "
                "partial freezing and cut points support BERT-like encoders. "
                "Use strategy 'full' or 'probe' on the whole model."
            )
        return base

    def layer_groups(self) -> list[nn.Module]:
        base = self._encoder_model()
        return [base.embeddings, *base.encoder.layer]

    def truncate(self, cut: int) -> None:
        """Keep the embeddings and encoder layers 1..cut-1; the layers above are deleted."""
        cut = self._check_cut(cut)
        base = self._encoder_model()
        base.encoder.layer = base.encoder.layer[: cut - 1]  # a prefix keeps the key names
        base.config.num_hidden_layers = cut - 1
        self.spec = {**self.spec, "cut": cut}


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

    def truncate(self, cut: int) -> None:
        """Keep the stem and stages 1..cut-1; the stages above and the last conv are
        deleted, and features are the kept stage's output, global-average-pooled (their
        size is that stage's channels: `embedding_dim` changes)."""
        cut = self._check_cut(cut)
        if not hasattr(self.net, "truncate"):
            raise InputError(
                f"{type(self.net).__name__} has no cut points; use the whole model "
                f"({spec_label(self.spec)!r})"
            )
        self.net.truncate(cut)
        self.embedding_dim = int(self.net.num_features)
        self.spec = {**self.spec, "cut": cut}


def merge_lora(module: Any, *, copy: bool = True) -> Any:
    """A LoRA-adapted encoder (peft) with its adapter folded into plain weights
    (W + B·A·alpha/r); anything else is returned as it is. `copy=False` merges in place
    (for a model loaded for inference only: it must not be saved back as LoRA)."""
    if not hasattr(module, "peft_config"):
        return module
    import copy as copying

    return (copying.deepcopy(module) if copy else module).merge_and_unload()
