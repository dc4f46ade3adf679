"""Text and image classification pipelines."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from transferkit.errors import InputError
from transferkit.models.problems import problem_of
from transferkit.pipelines.base import Pipeline
from transferkit.utils.batching import TOKENIZER_LOCK


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


def token_lengths(model: Any, texts: Sequence[str]) -> list[int] | None:
    """Each text's token count under `model`'s tokenizer (None when it has none).

    Bucketing by tokens instead of characters: on sst2 test, batches of 32 sorted by
    characters are 23% padding, sorted by tokens 2.5% (benchmarks/bench_inference.py
    prints it). One extra pass of the Rust tokenizer costs far less than that padding."""
    holder, tok = model, getattr(model, "tokenizer", None)
    if tok is None:  # a Classifier: its backbone tokenizes (an ONNX model has its own)
        holder = getattr(model, "backbone", None)
        tok = getattr(holder, "tokenizer", None)
    if tok is None or not texts or not callable(tok):
        return None
    limit = getattr(holder, "max_length", None) or 512
    try:
        with TOKENIZER_LOCK:  # one thread at a time (utils.batching)
            ids = tok(list(texts), truncation=True, max_length=int(limit))["input_ids"]
    except (ValueError, TypeError, RuntimeError):  # the batch step reports the bad input
        return None
    return [len(x) for x in ids]


class TextClassificationPipeline(Pipeline):
    """Text in; out, by the model's problem (`transferkit.models.problems`):

    - single-label: `{"label", "score"}` (softmax; a list of the k best with `top_k`);
    - multi-label: the list of `{"label", "score"}` (sigmoid) whose probability passes its
      threshold, best first; `threshold=` (one value or one per label) replaces the
      model's thresholds, `top_k=` alone gives the k most probable labels;
    - regression: `{"score": value}` in the target's units.

    >>> # pipe = TextClassificationPipeline(load_model("sentiment-analysis"))
    >>> # pipe("great film") -> {'label': 'POSITIVE', 'score': 0.98}
    """

    task = "text-classification"

    def __init__(
        self,
        model: Any,
        *,
        batch_size: int = 32,
        top_k: int | None = None,
        threshold: float | list[float] | None = None,
    ) -> None:
        super().__init__(model, batch_size=batch_size, top_k=top_k)
        self.threshold = threshold

    def check(self, item: Any, position: int) -> str:
        return check_text(item, position)

    def sort_key(self, item: str) -> int:
        return len(item)

    def sort_keys(self, items: Sequence[Any]) -> list[int]:
        lengths = token_lengths(self.model, items)
        return super().sort_keys(items) if lengths is None else lengths

    def postprocess(self, outputs: torch.Tensor, **kwargs: Any) -> list[Any]:
        problem = problem_of(self.model)
        return problem.predictions(
            outputs.numpy(),
            self.model.labels,
            top_k=kwargs.get("top_k"),
            threshold=kwargs.get("threshold", self.threshold),
        )


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
        return problem_of(self.model).predictions(
            outputs.numpy(), self.model.labels, top_k=kwargs.get("top_k")
        )
