"""Exported ONNX folders without torch: their names, how to recognise one, and the
onnxruntime session both runners open (`models.onnx_runtime.OnnxModel` behind the
pipelines, `models.ready.ReadyTextModel` behind the fast start of `predict`).

>>> # session = open_session(Path("out/sst2-onnx"), config, threads=None)
"""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

ONNX_FORMAT = "transferkit-onnx"
ONNX_FILE = "model.onnx"
CONFIG_NAME = "transferkit.json"


def is_onnx_folder(path: str | os.PathLike[str]) -> bool:
    """True when `path` is a folder written by `export_onnx`."""
    p = Path(path)
    if not (p / ONNX_FILE).is_file() or not (p / CONFIG_NAME).is_file():
        return False
    try:
        return json.loads((p / CONFIG_NAME).read_text()).get("format") == ONNX_FORMAT
    except (OSError, json.JSONDecodeError):
        return False


def default_threads() -> int:
    """torch's thread count when torch is already loaded (so `torch.set_num_threads` and
    benchmarks' --threads apply to both runtimes), else the CPUs this process may use;
    while a call runs batches in parallel, the count it had before."""
    from transferkit.utils.batching import threads_outside_window

    outside = threads_outside_window()
    if outside:
        return outside
    torch = sys.modules.get("torch")
    if torch is not None:
        return int(torch.get_num_threads() or 1)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def session_options(threads: int | None = None) -> Any:
    """ORT options: all graph optimisations; intra-op threads as `default_threads`, one
    inter-op thread (the graph is sequential)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = int(threads or default_threads())
    so.inter_op_num_threads = 1
    return so


def open_session(path: Path, config: dict[str, Any], threads: int | None) -> Any:
    """An onnxruntime session on `path`/model.onnx, after its SHA-256 is checked; a
    damaged or foreign graph is one error naming the file and the fix."""
    import onnxruntime as ort

    from transferkit.models.safety import DamagedModelError, verify_checksums

    fix = "export the model again (transferkit export MODEL --onnx --out DIR --overwrite)"
    verify_checksums(path, config, fix)
    try:
        return ort.InferenceSession(
            str(path / ONNX_FILE), session_options(threads), providers=["CPUExecutionProvider"]
        )
    except Exception as e:  # onnxruntime raises its own classes (InvalidProtobuf, Fail, ...)
        raise DamagedModelError(
            f"{path / ONNX_FILE} cannot be loaded by onnxruntime ({type(e).__name__}: "
            f"{str(e).splitlines()[0][:120]}); {fix}"
        ) from None


class WorkerSessions:
    """Sessions of one graph by thread count, each opened on first use and kept: while a
    call runs several batches at once (`utils.batching.parallel_window`), each batch runs
    on a session with that call's threads per batch — onnxruntime fixes a session's
    threads when it opens, and one session may run from several threads at once."""

    def __init__(self, path: Path, config: dict[str, Any]) -> None:
        self.path, self.config = path, config
        self._by_threads: dict[int, Any] = {}
        self._lock = threading.Lock()

    def get(self, threads: int) -> Any:
        with self._lock:
            if threads not in self._by_threads:
                self._by_threads[threads] = open_session(self.path, self.config, threads)
            return self._by_threads[threads]
