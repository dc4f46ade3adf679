"""Task pipelines with the calling convention of transformers.

>>> from transferkit import pipeline
>>> clf = pipeline("sentiment-analysis")                 # doctest: +SKIP
>>> clf(["I love it", "I hate it"])                      # doctest: +SKIP
[{'label': 'POSITIVE', 'score': 0.99}, {'label': 'NEGATIVE', 'score': 0.99}]
"""

from __future__ import annotations

import difflib
import os
from typing import Any

from transferkit.errors import InputError
from transferkit.pipelines.base import Pipeline
from transferkit.pipelines.classification import (
    ImageClassificationPipeline,
    TextClassificationPipeline,
)
from transferkit.pipelines.features import FeatureExtractionPipeline

TASKS: dict[str, type[Pipeline]] = {
    "sentiment-analysis": TextClassificationPipeline,
    "text-classification": TextClassificationPipeline,
    "feature-extraction": FeatureExtractionPipeline,
    "image-classification": ImageClassificationPipeline,
}

__all__ = ["pipeline", "TASKS", "Pipeline"]


def check_task(task: str) -> str:
    if task not in TASKS:
        close = difflib.get_close_matches(str(task), list(TASKS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise InputError(f"unknown task {task!r}.{hint} Tasks: {', '.join(TASKS)}.")
    return task


def pipeline(
    task: str, model: str | os.PathLike[str] | Any | None = None, **kwargs: Any
) -> Pipeline:
    """Build the pipeline for `task` on `model` (zoo name, folder, hub id, or a loaded
    model); `model=None` takes the task's default model. Extra keyword arguments
    (batch_size, top_k, normalize) go to the pipeline.

    runtime="onnx" or "onnx-int8" runs the same pipeline on onnxruntime: the model is
    exported once into the cache (`transferkit.export.cache`) and reused; an exported
    folder passed as `model` runs on onnxruntime anyway.

    device: "auto" (a CUDA GPU when torch sees one, else the CPU), "cpu", "cuda",
    "cuda:N" or "mps"; a torch model is moved there and runs under mixed precision on
    CUDA (`core.devices`). onnxruntime models run on the CPU.
    """
    from transferkit.core.devices import move_model, resolve_device
    from transferkit.models.factory import load_backbone, load_model
    from transferkit.zoo.registry import DEFAULT_MODELS

    check_task(task)
    device = resolve_device(kwargs.pop("device", "auto"))
    cls = TASKS[task]
    ref = DEFAULT_MODELS[task] if model is None else model
    runtime = kwargs.pop("runtime", "torch")
    if runtime != "torch":
        if not isinstance(ref, str | os.PathLike):
            raise InputError(
                f"runtime={runtime!r} needs a model reference (name or folder), not a loaded "
                f"{type(ref).__name__}; or export it with transferkit.export.export_onnx"
            )
        from transferkit.export.cache import cached_export

        ref = cached_export(ref, runtime)
    loaded: Any
    if isinstance(ref, str | os.PathLike):
        loaded = load_backbone(ref) if cls is FeatureExtractionPipeline else load_model(ref)
        _merge_lora(loaded)  # we own this copy: fold the adapter in, inference gets faster
    elif cls is FeatureExtractionPipeline and hasattr(ref, "backbone"):
        loaded = ref.backbone
    else:
        loaded = ref
    pipe_model: Any = loaded.eval()
    if cls is TextClassificationPipeline and pipe_model.modality != "text":
        raise InputError(
            f"task {task!r} needs a text model; this one takes {pipe_model.modality}s. "
            "Use task 'image-classification'."
        )
    if cls is ImageClassificationPipeline and pipe_model.modality != "image":
        raise InputError(
            f"task {task!r} needs an image model; this one takes text. "
            "Use task 'text-classification'."
        )
    import torch

    if runtime != "torch" or not isinstance(pipe_model, torch.nn.Module):
        device = resolve_device("cpu")
    pipe = cls(move_model(pipe_model, device), **kwargs)
    pipe.device = device
    return pipe


def _merge_lora(model: Any) -> None:
    """Fold a LoRA adapter into the base weights of a model loaded for inference only.

    A merged model computes the same outputs with fewer matmuls; it must not be saved
    back as a LoRA model, which is why only copies the pipeline loaded itself are merged.
    """
    from transferkit.models.backbone import Backbone, merge_lora
    from transferkit.models.classifier import Classifier

    if isinstance(model, Classifier):
        backbone: Any = model.backbone
    elif isinstance(model, Backbone):
        backbone = model
    else:  # HF classifiers, onnxruntime models: nothing to merge
        return
    if getattr(backbone, "model", None) is not None:
        backbone.model = merge_lora(backbone.model, copy=False)
