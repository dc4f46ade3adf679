"""The fast start of `transferkit predict` for text tasks: no torch when it is not needed.

Importing torch + transformers costs seconds on a small CPU, far more than predicting a
few sentences. So, for a text task on the CPU, `predict` first looks for the model's
fp32 ONNX export in the cache (`transferkit.export.cache`, the same folders that
`pipeline(..., runtime="onnx")` uses; LoRA merged, head included, parity checked when it
was written) and, when it is there, answers with onnxruntime + `tokenizers` alone
(`models.ready.ReadyTextModel`). A zoo model (the default `sentiment-analysis` model among
them) gets that copy written once, after the first `predict` on torch has answered; a
local folder uses one when `pipeline(task, folder, runtime="onnx")` or
`transferkit serve --runtime onnx` has made it.

It needs the `export` extra (onnx, onnxruntime); without it every call runs on torch, as
does every call with TRANSFERKIT_FAST_START=0.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

FAST_TASKS = ("sentiment-analysis", "text-classification", "feature-extraction")


def _gpu_present() -> bool:
    """An NVIDIA device node: `device="auto"` would then pick CUDA on torch."""
    return os.path.exists("/dev/nvidiactl") or os.path.exists("/dev/nvidia0")


def fast_start_allowed(task: str, device: str, engine: str) -> bool:
    """Whether `predict` may use (or prepare) the torch-free path for this call."""
    if os.environ.get("TRANSFERKIT_FAST_START", "1").strip() == "0":
        return False
    if task not in FAST_TASKS or engine != "local":
        return False
    from importlib.util import find_spec

    # without the export extra there is no copy to run or to write (and nothing to say)
    if any(find_spec(m) is None for m in ("onnx", "onnxruntime", "tokenizers")):
        return False
    return device == "cpu" or (device == "auto" and not _gpu_present())


def _clean_text(item: Any) -> bool:
    """Inputs the torch pipeline would accept as they are (anything else: torch path,
    which reports the bad input by position)."""
    if not isinstance(item, str) or not item.strip():
        return False
    try:
        item.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class ReadyPipe:
    """`pipeline(task, ...)`'s call surface over a `ReadyTextModel` (clean texts only)."""

    def __init__(self, model: Any, task: str, batch_size: int) -> None:
        self.model, self.task, self.batch_size = model, task, batch_size

    def __call__(self, items: Sequence[str], **kwargs: Any) -> list[Any]:
        if self.task == "feature-extraction":
            return self.model.features(items, batch_size=self.batch_size)
        return self.model.classify(
            items,
            kwargs.get("top_k"),
            batch_size=self.batch_size,
            threshold=kwargs.get("threshold"),
        )


def ready_pipe(task: str, ref: str | None, items: Sequence[Any], batch_size: int) -> Any | None:
    """A torch-free pipe for `ref` (None: the task's default model) when its export is
    cached and every input is a clean string; None otherwise (use the torch pipeline)."""
    from transferkit.export.cache import find_cached
    from transferkit.models.ready import ReadyTextModel, is_ready_text_folder
    from transferkit.zoo.registry import DEFAULT_MODELS

    if not items or not all(_clean_text(x) for x in items):
        return None
    folder = find_cached(ref or DEFAULT_MODELS[task], "onnx")
    if folder is None or not is_ready_text_folder(folder):
        return None
    model = ReadyTextModel(folder)
    wanted = "features" if task == "feature-extraction" else "logits"
    no_labels = not model.labels and model.problem.kind != "regression"
    if wanted not in model.outputs or (wanted == "logits" and no_labels):
        return None  # the torch path raises the clear error for this model/task pair
    return ReadyPipe(model, task, batch_size)


def prepare_ready(task: str, ref: str | None) -> None:
    """After a torch `predict` on a zoo model: write its fp32 ONNX copy (once) so that
    the next call starts without torch. Local folders are left alone (see module doc)."""
    import logging

    import typer

    from transferkit.errors import TransferkitError
    from transferkit.export.cache import cache_folder, cached_export, find_cached
    from transferkit.zoo.registry import DEFAULT_MODELS, REGISTRY

    name = ref or DEFAULT_MODELS[task]
    if os.path.isdir(name) or DEFAULT_MODELS.get(name, name) not in REGISTRY:
        return
    if find_cached(name, "onnx") is not None or cache_folder(name, "onnx") is None:
        return
    typer.echo(
        f"preparing a fast-start copy of {name!r} (once; later calls start without torch; "
        "TRANSFERKIT_FAST_START=0 turns this off)",
        err=True,
    )
    try:
        cached_export(name, "onnx")
    except (TransferkitError, ImportError, OSError) as e:  # an optimisation: say so, go on
        logging.getLogger(__name__).warning("fast-start copy of %s not written: %s", name, e)
