"""A torch-free runner for exported text folders: the fast start of `transferkit predict`.

Importing torch and transformers takes most of a `predict` call's time on a small CPU
(seconds), while onnxruntime, the Rust `tokenizers` library and numpy import in a fraction
of that. An exported text folder (`transferkit export`, or the cache behind
`pipeline(..., runtime="onnx")`) holds everything needed: `model.onnx` (LoRA already merged,
head included) and `tokenizer.json`. `ReadyTextModel` tokenizes, runs and post-processes with
those alone, giving the same results as `pipeline(task, folder)` (same graph, same tokens).

>>> # m = ReadyTextModel("out/sst2-onnx")
>>> # m.classify(["great film"]) -> [{'label': 'POSITIVE', 'score': 0.99...}]
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from transferkit.errors import InputError, ModelNotFoundError, require_extra
from transferkit.models.onnx_folder import (
    CONFIG_NAME,
    ONNX_FILE,
    ONNX_FORMAT,
    WorkerSessions,
    default_threads,
    is_onnx_folder,
    open_session,
)
from transferkit.models.problems import Problem
from transferkit.utils.batching import parallel_window, run_batched


def is_ready_text_folder(path: str | os.PathLike[str]) -> bool:
    """True when `path` is an exported text folder this runner can serve."""
    p = Path(path)
    if not (is_onnx_folder(p) and (p / "tokenizer.json").is_file()):
        return False
    return json.loads((p / CONFIG_NAME).read_text()).get("modality") == "text"


class ReadyTextModel:
    """An exported text folder on onnxruntime + `tokenizers`, without torch.

    `classify(texts, top_k)` answers like the text-classification pipeline; `features(texts)`
    like the feature-extraction pipeline (L2-normalised float32 vectors)."""

    def __init__(self, path: str | os.PathLike[str], *, threads: int | None = None) -> None:
        require_extra("onnxruntime", "export")
        from tokenizers import Tokenizer

        self.path = Path(path)
        if not is_ready_text_folder(self.path):
            raise ModelNotFoundError(
                f"{str(self.path)!r} is not an exported text folder ({ONNX_FILE}, tokenizer.json "
                f"and a {CONFIG_NAME} with format {ONNX_FORMAT!r}); make one with "
                "`transferkit export`"
            )
        self.config: dict[str, Any] = json.loads((self.path / CONFIG_NAME).read_text())
        self.labels: list[str] | None = self.config.get("labels")
        self.problem = Problem.from_config(self.config)
        self.input_names: list[str] = list(self.config["inputs"])
        self.outputs: list[str] = list(self.config["outputs"])
        self.tokenizer = Tokenizer.from_file(str(self.path / "tokenizer.json"))
        self.tokenizer.enable_truncation(int(self.config.get("max_length") or 512))
        padding = self.tokenizer.padding  # the saved file's setting; we pad per batch
        self.pad_id = (
            int(padding["pad_id"]) if padding else self.tokenizer.token_to_id("[PAD]") or 0
        )
        self.tokenizer.no_padding()
        self.session = open_session(self.path, self.config, threads)  # checksums verified
        self.threads = int(threads or default_threads())
        self._sessions = WorkerSessions(self.path, self.config)  # for parallel batches

    def _feed(self, encs: Sequence[Any]) -> dict[str, np.ndarray]:
        """Encodings (unpadded) → int64 arrays padded to the longest, as the graph takes."""
        width = max(len(e.ids) for e in encs)
        pad = self.pad_id
        cols = {
            "input_ids": [e.ids + [pad] * (width - len(e.ids)) for e in encs],
            "attention_mask": [e.attention_mask + [0] * (width - len(e.ids)) for e in encs],
            "token_type_ids": [e.type_ids + [0] * (width - len(e.ids)) for e in encs],
        }
        return {n: np.asarray(cols[n], dtype=np.int64) for n in self.input_names}

    def run(self, texts: Sequence[str], output: str, batch_size: int = 32) -> np.ndarray:
        """`output` ("logits" or "features") for `texts`, in input order. Tokenised once;
        batches are bucketed by token count, so almost no position is padding."""
        if output not in self.outputs:
            raise InputError(f"{self.path} has outputs {self.outputs}; {output!r} is not one")
        encs = self.tokenizer.encode_batch(list(texts))
        # several batches: one per core at a time, each on a one-thread session (as the
        # pipelines do, `utils.batching.parallel_window`)
        n_batches = -(-len(encs) // batch_size)
        with parallel_window(self.threads, n_batches) as (workers, per):
            session = self.session if workers == 1 else self._sessions.get(per)

            def one(chunk: list[Any]) -> np.ndarray:
                return session.run([output], self._feed(chunk))[0]

            return run_batched(  # type: ignore[return-value]
                one, encs, batch_size=batch_size, key=lambda e: len(e.ids), workers=workers
            )

    def classify(
        self,
        texts: Sequence[str],
        top_k: int | None = None,
        batch_size: int = 32,
        threshold: float | Sequence[float] | None = None,
    ) -> list[Any]:
        """Decoded by the folder's problem, exactly as the text-classification pipeline
        (`Problem.predictions`): a label and its score, the labels passing their thresholds,
        or a score in the target's units."""
        if not self.labels and self.problem.kind != "regression":
            raise InputError(f"{self.path} has no labels (a feature extractor); use features()")
        logits = self.run(texts, "logits", batch_size)
        return self.problem.predictions(logits, self.labels or [], top_k=top_k, threshold=threshold)

    def features(self, texts: Sequence[str], batch_size: int = 32) -> list[np.ndarray]:
        """One L2-normalised float32 vector per text (mean-pooled, as the pipeline)."""
        f = self.run(texts, "features", batch_size).astype(np.float32)
        f = f / np.maximum(np.linalg.norm(f, axis=-1, keepdims=True), 1e-12)
        return list(f)
