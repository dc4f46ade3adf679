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

CONFIG_NAME = "transferkit.json"  # the same names as models.onnx_runtime (not imported:
ONNX_FILE = "model.onnx"  # that module imports torch)
ONNX_FORMAT = "transferkit-onnx"


def is_ready_text_folder(path: str | os.PathLike[str]) -> bool:
    """True when `path` is an exported text folder this runner can serve."""
    p = Path(path)
    if not ((p / ONNX_FILE).is_file() and (p / "tokenizer.json").is_file()):
        return False
    try:
        cfg = json.loads((p / CONFIG_NAME).read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return cfg.get("format") == ONNX_FORMAT and cfg.get("modality") == "text"


class ReadyTextModel:
    """An exported text folder on onnxruntime + `tokenizers`, without torch.

    `classify(texts, top_k)` answers like the text-classification pipeline; `features(texts)`
    like the feature-extraction pipeline (L2-normalised float32 vectors)."""

    def __init__(self, path: str | os.PathLike[str], *, threads: int | None = None) -> None:
        require_extra("onnxruntime", "export")
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.path = Path(path)
        if not is_ready_text_folder(self.path):
            raise ModelNotFoundError(
                f"{str(self.path)!r} is not an exported text folder ({ONNX_FILE}, tokenizer.json "
                f"and a {CONFIG_NAME} with format {ONNX_FORMAT!r}); make one with "
                "`transferkit export`"
            )
        self.config: dict[str, Any] = json.loads((self.path / CONFIG_NAME).read_text())
        from transferkit.models.safety import verify_checksums

        verify_checksums(self.path, self.config, "delete the folder and export it again")
        self.labels: list[str] | None = self.config.get("labels")
        self.input_names: list[str] = list(self.config["inputs"])
        self.outputs: list[str] = list(self.config["outputs"])
        self.tokenizer = Tokenizer.from_file(str(self.path / "tokenizer.json"))
        self.tokenizer.enable_truncation(int(self.config.get("max_length") or 512))
        padding = self.tokenizer.padding  # the saved file's setting; we pad per batch
        self.pad_id = (
            int(padding["pad_id"]) if padding else self.tokenizer.token_to_id("[PAD]") or 0
        )
        self.tokenizer.no_padding()
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.intra_op_num_threads = int(threads or len(os.sched_getaffinity(0)) or 1)
        so.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            str(self.path / ONNX_FILE), so, providers=["CPUExecutionProvider"]
        )

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
        order = sorted(range(len(encs)), key=lambda i: -len(encs[i].ids))
        parts = []
        for s in range(0, len(order), batch_size):
            chunk = [encs[i] for i in order[s : s + batch_size]]
            parts.append(self.session.run([output], self._feed(chunk))[0])
        out = np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)
        return out[np.argsort(np.asarray(order, dtype=np.int64))]

    def classify(
        self, texts: Sequence[str], top_k: int | None = None, batch_size: int = 32
    ) -> list[Any]:
        """Softmax + top-k per text: a {"label", "score"} each, or a list of k with top_k."""
        if not self.labels:
            raise InputError(f"{self.path} has no labels (a feature extractor); use features()")
        logits = self.run(texts, "logits", batch_size).astype(np.float64)
        z = np.exp(logits - logits.max(-1, keepdims=True))
        probs = z / z.sum(-1, keepdims=True)
        k = 1 if top_k is None else max(1, min(int(top_k), probs.shape[-1]))
        idx = np.argsort(-probs, axis=-1, kind="stable")[:, :k]
        rows = [
            [{"label": self.labels[j], "score": float(p[j])} for j in r]
            for p, r in zip(probs, idx, strict=True)
        ]
        return [r[0] for r in rows] if top_k is None else rows

    def features(self, texts: Sequence[str], batch_size: int = 32) -> list[np.ndarray]:
        """One L2-normalised float32 vector per text (mean-pooled, as the pipeline)."""
        f = self.run(texts, "features", batch_size).astype(np.float32)
        f = f / np.maximum(np.linalg.norm(f, axis=-1, keepdims=True), 1e-12)
        return list(f)
