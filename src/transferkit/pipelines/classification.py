"""Text and image classification pipelines."""

from __future__ import annotations

from typing import Any

import torch

from transferkit.errors import InputError
from transferkit.pipelines.base import Pipeline


def check_text(item: Any, position: int) -> str:
    if item is None:
        raise InputError(f"input {position} is None; give a non-empty string")
    if not isinstance(item, str):
        raise InputError(
            f"input {position} is {type(item).__name__} {item!r:.60}; give a string (str(x))"
        )
    if not item.strip():
        raise InputError(f"input {position} is an empty string {item!r}; give some text")
    try:
        item.encode("utf-8")
    except UnicodeEncodeError as e:  # a lone surrogate ("\\ud800"): tokenizers fail on it
        raise InputError(
            f"input {position} is not valid Unicode text: character {e.start} is "
            f"{item[e.start]!r}, a lone surrogate; fix the text's encoding"
        ) from None
    return item


def top_labels(
    logits: torch.Tensor, labels: list[str], top_k: int | None
) -> list[dict[str, Any]] | list[list[dict[str, Any]]]:
    """Softmax + top-k. top_k None → one {"label","score"} per row; int → a list per row."""
    probs = logits.float().softmax(-1)
    k = 1 if top_k is None else max(1, min(int(top_k), probs.shape[-1]))
    scores, idx = probs.topk(k, dim=-1)
    rows = [
        [
            {"label": labels[j], "score": float(s)}
            for s, j in zip(sr.tolist(), ir.tolist(), strict=True)
        ]
        for sr, ir in zip(scores, idx, strict=True)
    ]
    return [r[0] for r in rows] if top_k is None else rows


class TextClassificationPipeline(Pipeline):
    """Text in, `{"label", "score"}` out (a list of them per input with `top_k`).

    >>> # pipe = TextClassificationPipeline(load_model("sentiment-analysis"))
    >>> # pipe("great film") -> {'label': 'POSITIVE', 'score': 0.98}
    """

    task = "text-classification"

    def check(self, item: Any, position: int) -> str:
        return check_text(item, position)

    def sort_key(self, item: str) -> int:
        return len(item)

    def postprocess(self, outputs: torch.Tensor, **kwargs: Any) -> list[Any]:
        return top_labels(outputs, self.model.labels, kwargs.get("top_k"))


class ImageClassificationPipeline(Pipeline):
    """Image (path, PIL image or array) in, a list of top-k `{"label", "score"}` out (k=5)."""

    task = "image-classification"

    def __init__(self, model: Any, *, batch_size: int = 16, top_k: int | None = 5) -> None:
        super().__init__(model, batch_size=batch_size, top_k=top_k)

    def check(self, item: Any, position: int) -> Any:
        from transferkit.data.images import load_image

        try:
            return load_image(item)
        except InputError as e:
            raise InputError(f"input {position}: {e}") from None
        except FileNotFoundError as e:
            raise InputError(f"input {position}: {e}") from None

    def postprocess(self, outputs: torch.Tensor, **kwargs: Any) -> list[Any]:
        return top_labels(outputs, self.model.labels, kwargs.get("top_k"))
