"""Pipelines are preprocess → forward → postprocess, each testable alone.

A call's return type depends only on its signature: one input in → one result out;
a list in → a list out, in the same order.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import torch

from transferkit.core.inference import index_batches, map_batches, parallel_batches
from transferkit.errors import InputError
from transferkit.utils.progress import progress_bar


class Pipeline:
    """Base pipeline. Subclasses implement `check`, `preprocess`, `forward`, `postprocess`."""

    task = ""

    def __init__(self, model: Any, *, batch_size: int = 32, top_k: int | None = None) -> None:
        from transferkit.utils.checks import check_number

        check_number(batch_size, "batch_size", low=1, integer=True, example=32)
        check_number(top_k, "top_k", low=1, integer=True, example=3)
        self.model = model
        self.batch_size = int(batch_size)
        self.top_k = top_k
        # where forward runs; `pipeline(..., device=)` moves the model and sets it
        self.device = torch.device("cpu")
        # batches run at once on the CPU; None: one per thread torch may use, each on one
        # thread (`core.inference.parallel_batches`); 1: one at a time on all threads
        self.workers: int | None = None

    # -- steps ---------------------------------------------------------------
    def check(self, item: Any, position: int) -> Any:
        """Validate one input; return it (possibly loaded) or raise InputError naming it."""
        return item

    def sort_key(self, item: Any) -> int:
        """Length used to bucket similar inputs into one batch (0: keep order)."""
        return 0

    def sort_keys(self, items: Sequence[Any]) -> list[int]:
        """`sort_key` of every input, computed together (text pipelines count tokens)."""
        return [self.sort_key(x) for x in items]

    def preprocess(self, items: Sequence[Any]) -> dict[str, torch.Tensor]:
        return self.model.preprocess(items)

    @torch.inference_mode()
    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The model's outputs for one batch, float32 on the CPU (the batch is copied to
        `self.device`; mixed precision on CUDA)."""
        from transferkit.core.devices import autocast, to_device

        with autocast(self.device):
            return self.model(to_device(batch, self.device)).float().cpu()

    def postprocess(self, outputs: torch.Tensor, **kwargs: Any) -> list[Any]:
        raise NotImplementedError

    # -- call ----------------------------------------------------------------
    def __call__(
        self,
        inputs: Any,
        *,
        batch_size: int | None = None,
        errors: str = "raise",
        progress: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Run the pipeline.

        errors: "raise" (a bad input raises InputError naming its position) or "report"
        (a bad input gives `{"error": message}` at its position; the others still run).
        """
        from transferkit.utils.checks import check_number

        if errors not in ("raise", "report"):
            raise InputError(f"errors={errors!r}; use 'raise' or 'report'")
        check_number(batch_size, "batch_size", low=1, integer=True, example=32)
        check_number(self.workers, "workers", low=1, integer=True, example=1)
        check_number(kwargs.get("top_k"), "top_k", low=1, integer=True, example=3)
        single = not isinstance(inputs, list | tuple)
        items = [inputs] if single else list(inputs)
        if not single and not items:
            raise InputError("inputs is an empty list; pass at least one input")
        results: list[Any] = [None] * len(items)
        good: list[tuple[int, Any]] = []
        for i, item in enumerate(items):
            try:
                good.append((i, self.check(item, i)))
            except InputError as e:
                if errors == "raise" or single:
                    raise
                results[i] = {"error": str(e)}
        # Bucket by length: sort, pad per batch, restore order (less padding, faster).
        bs = batch_size or self.batch_size
        kw = {"top_k": self.top_k, **kwargs}
        keys = self.sort_keys([x for _, x in good])
        buckets = index_batches(keys, bs, key=int)  # indices into `good`, longest first
        chunks = [[good[j] for j in idx] for idx in buckets]
        report = errors == "report" and not single
        # on the CPU, one batch per core at a time, each on one thread (`map_batches`)
        with (
            progress_bar(len(good), self.task, enabled=progress) as bar,
            parallel_batches(self.model, self.device, len(chunks), self.workers) as workers,
            contextlib.closing(
                map_batches(lambda c: self._run_chunk(c, kw, report=report), chunks, workers)
            ) as done,
        ):
            for chunk, outs in zip(chunks, done, strict=True):
                for i, out in outs:
                    results[i] = out
                bar.advance(len(chunk))
        return results[0] if single else results

    def _run_chunk(
        self, chunk: list[tuple[int, Any]], kw: dict[str, Any], *, report: bool
    ) -> list[tuple[int, Any]]:
        """(position, result) for one batch. When the batch fails (an input the tokenizer or
        the image decoder rejects) and errors are reported, each item runs alone so only
        the bad ones get `{"error": ...}`."""
        try:
            outputs = self.forward(self.preprocess([x for _, x in chunk]))
            return list(zip([i for i, _ in chunk], self.postprocess(outputs, **kw), strict=True))
        except (ValueError, TypeError, RuntimeError, OSError, IndexError) as e:
            if not report and len(chunk) == 1:
                i = chunk[0][0]
                raise InputError(f"input {i} cannot be processed ({type(e).__name__}: {e})") from e
            if not report:
                for one in chunk:  # find and name the bad input
                    self._run_chunk([one], kw, report=False)
                raise
            if len(chunk) == 1:
                return [(chunk[0][0], {"error": f"{type(e).__name__}: {str(e)[:200]}"})]
            return [r for one in chunk for r in self._run_chunk([one], kw, report=True)]
