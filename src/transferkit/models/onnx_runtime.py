"""Run an exported folder on onnxruntime behind the same surface as a torch model.

`OnnxModel` answers what the pipelines ask of a `Classifier`/`Backbone`: `labels`,
`modality`, `preprocess(inputs) -> batch`, `model(batch) -> tensor`, `eval()`, and
`.backbone` (a view returning the pooled features), so `pipeline(task, folder)` runs
unchanged on an exported folder.

>>> # model = load_onnx_model("out/sst2-int8")
>>> # model(model.preprocess(["great film"])).softmax(-1)
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from transferkit.errors import InputError, ModelNotFoundError, require_extra
from transferkit.models.onnx_folder import (  # noqa: F401  (re-exported names)
    CONFIG_NAME,
    ONNX_FILE,
    ONNX_FORMAT,
    WorkerSessions,
    is_onnx_folder,
    open_session,
    session_options,
)
from transferkit.models.problems import Problem
from transferkit.utils.batching import tokenize
from transferkit.utils.checks import check_texts


class OnnxModel:
    """An exported model on onnxruntime. `output` picks "logits" (classification) or
    "features" (pooled, unnormalised embeddings)."""

    def __init__(
        self, path: str | os.PathLike[str], *, output: str | None = None, threads: int | None = None
    ) -> None:
        require_extra("onnxruntime", "export")

        self.path = Path(path)
        if not is_onnx_folder(self.path):
            raise ModelNotFoundError(
                f"{str(self.path)!r} is not an exported ONNX folder (needs {ONNX_FILE} and a "
                f"{CONFIG_NAME} with format {ONNX_FORMAT!r}); make one with `transferkit export`"
            )
        self.config: dict[str, Any] = json.loads((self.path / CONFIG_NAME).read_text())
        self.session = open_session(self.path, self.config, threads)
        self._sessions = WorkerSessions(self.path, self.config)  # for `worker_threads`
        self._worker_session: Any = None  # set while a call runs batches in parallel
        outputs = list(self.config["outputs"])
        self.output = output or outputs[0]
        if self.output not in outputs:
            raise InputError(
                f"{self.path} has outputs {outputs}; {self.output!r} is not one of them"
            )
        self.modality: str = self.config["modality"]
        self.labels: list[str] | None = self.config.get("labels")
        # how the logits decode; exports made before multi-label/regression are single-label
        self.problem = Problem.from_config(self.config)
        self.embedding_dim = int(self.config.get("embedding_dim") or 0)
        self.input_names: list[str] = list(self.config["inputs"])
        self._tokenizer: Any = None
        self._transform: Any = None
        self.spec = {"kind": "onnx", "path": str(self.path)}
        self.max_length = int(self.config.get("max_length") or 512)

    # -- the surface pipelines use -------------------------------------------------
    @property
    def task(self) -> str:
        return (
            f"{self.modality}-classification" if self.output == "logits" else "feature-extraction"
        )

    @property
    def tokenizer(self) -> Any:
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(str(self.path))
        return self._tokenizer

    @property
    def transform(self) -> Any:
        if self._transform is None:
            from transferkit.data.images import ImageTransform

            pre = self.config["preprocessing"]
            self._transform = ImageTransform(
                pre["resize"], pre["crop"], tuple(pre["mean"]), tuple(pre["std"])
            )
        return self._transform

    @property
    def backbone(self) -> OnnxModel:
        """The same session answering pooled features (shared, not loaded twice)."""
        if "features" not in self.config["outputs"]:
            raise InputError(
                f"{self.path} was exported without pooled features (a Hugging Face classifier's "
                "own head); export the base model for feature-extraction"
            )
        view = object.__new__(OnnxModel)
        view.__dict__.update(self.__dict__)
        view.output = "features"
        view._worker_session = None
        return view

    def preprocess(self, inputs: Sequence[Any]) -> dict[str, torch.Tensor]:
        if self.modality == "image":
            from transferkit.data.images import load_image

            return {"pixel_values": self.transform([load_image(x) for x in inputs])}
        enc = tokenize(self.tokenizer, check_texts(inputs), self.max_length, "np")
        return {n: torch.from_numpy(np.asarray(enc[n], dtype=np.int64)) for n in self.input_names}

    def run(self, batch: dict[str, Any]) -> dict[str, np.ndarray]:
        """All graph outputs for one batch, as numpy arrays keyed by name."""
        feed = {n: np.ascontiguousarray(np.asarray(batch[n])) for n in self.input_names}
        names = list(self.config["outputs"])
        return dict(zip(names, self._session().run(names, feed), strict=True))

    def __call__(self, batch: dict[str, Any]) -> torch.Tensor:
        feed = {n: np.ascontiguousarray(np.asarray(batch[n])) for n in self.input_names}
        (out,) = self._session().run([self.output], feed)
        return torch.from_numpy(out)

    forward = __call__

    def _session(self) -> Any:
        """The workers' session while a call runs batches in parallel, else the own one."""
        return self._worker_session or self.session

    @contextlib.contextmanager
    def worker_threads(self, threads: int) -> Iterator[None]:
        """Run on a session of the same graph with `threads` threads for the duration,
        while the caller runs several batches at once (`core.inference.parallel_batches`;
        one such call per process at a time). The session opens on first use and is kept."""
        self._worker_session = self._sessions.get(threads)
        try:
            yield
        finally:
            self._worker_session = None

    def eval(self) -> OnnxModel:  # the torch-module call pipelines make; nothing to switch
        return self

    def card(self) -> dict[str, Any]:
        """What the folder says about itself (for `/models` and reports)."""
        keep = (
            "modality",
            "labels",
            "problem",
            "outputs",
            "inputs",
            "precision",
            "quantisation",
            "parity",
            "source",
            "embedding_dim",
            "max_length",
            "created",
            "versions",
        )
        return {
            "name": self.path.name,
            "kind": "onnx",
            "task": self.task,
            **{k: self.config[k] for k in keep if k in self.config},
        }


def load_onnx_model(path: str | os.PathLike[str], *, output: str | None = None) -> OnnxModel:
    """Load an exported folder (see `export_onnx`)."""
    return OnnxModel(path, output=output)
