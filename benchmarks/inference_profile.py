"""Where inference time goes, and this machine's limits (used by bench_inference.py).

- `torch_profile(pipe, texts)`: torch.profiler over one pass of a torch pipeline (one
  batch at a time on one thread, as each parallel worker runs; ORT the same); op self
  times grouped into matmul (weights) / attention / LayerNorm+GELU / other ops, the rest of
  the wall time being Python, tokenisation and framework overhead.
- `ort_profile(folder, texts)`: onnxruntime's own profiler (`SessionOptions.enable_profiling`)
  over one pass of an exported folder's pipeline, node times grouped the same way (int8's
  per-token quantisation nodes in a group of their own).
- `padding_share(tokenizer, texts)`: the share of computed token positions that are padding
  with our length-bucketed batches of 32 (and with unsorted batches, for scale).
- `ort_gemm_rate(int8)`: onnxruntime's GEMM rate, fp32 MatMul or int8 MatMulInteger (the
  kernel family our int8 graphs use); `cpu_flags()`: AVX2 / AVX-512 / VNNI / AMX.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

GROUPS = ("matmul (weights)", "attention", "LayerNorm/GELU", "int8 quantise", "other ops")
_PROJ = ("query", "key", "value", "dense", "head", "pooler", "classifier")


def _group_torch(name: str) -> str:
    n = name.lower()
    if any(k in n for k in ("addmm", "aten::mm", "aten::linear", "aten::matmul")):
        return "matmul (weights)"
    if any(k in n for k in ("attention", "bmm", "softmax", "baddbmm")):
        return "attention"
    if any(k in n for k in ("layer_norm", "gelu")):
        return "LayerNorm/GELU"
    return "other ops"


def _group_ort(op: str, node: str) -> str:
    n = node.lower()
    if n.startswith("tkq_"):
        return "int8 quantise"
    if op in ("MatMul", "FusedMatMul", "Gemm", "MatMulIntegerToFloat", "MatMulInteger"):
        if any(k in n for k in _PROJ) or op.startswith("MatMulInteger"):
            return "matmul (weights)"
        return "attention"
    if op in ("Softmax", "Attention", "MultiHeadAttention"):
        return "attention"
    if op in (
        "LayerNormalization",
        "SkipLayerNormalization",
        "Gelu",
        "BiasGelu",
        "FastGelu",
        "Erf",
        "EmbedLayerNormalization",
    ):
        return "LayerNorm/GELU"
    return "other ops"


def _shares(groups: dict[str, float], wall: float) -> dict[str, float]:
    out = {g: round(groups.get(g, 0.0) / wall, 3) for g in GROUPS if groups.get(g)}
    out["Python/tokenise/overhead"] = round(max(0.0, wall - sum(groups.values())) / wall, 3)
    out["wall_s"] = round(wall, 2)
    return out


def torch_profile(pipe: Any, texts: list[str]) -> dict[str, float]:
    """Shares of one pass's wall time (a torch pipeline over `texts`), its batches run one
    at a time on one thread (`Pipeline.workers = 1`), as each of the parallel workers runs
    them, so that op times add up to the wall time."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    workers, pipe.workers = pipe.workers, 1
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        pipe(texts[:32])
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            t0 = time.perf_counter()
            pipe(texts)
            wall = time.perf_counter() - t0
    finally:
        pipe.workers = workers
        torch.set_num_threads(threads)
    groups: dict[str, float] = {}
    for ev in prof.key_averages():
        if ev.key.startswith("aten::") or ev.key.startswith("_"):
            g = _group_torch(ev.key)
            groups[g] = groups.get(g, 0.0) + ev.self_cpu_time_total / 1e6
    return _shares(groups, wall)


def ort_profile(
    folder: Path, task: str, texts: list[str], batch_size: int = 32
) -> dict[str, float]:
    """Shares of one pass's wall time (our pipeline on an exported folder), from
    onnxruntime's profiler; the profile file is written to a temporary folder."""
    import tempfile

    import onnxruntime as ort

    from transferkit.pipelines import pipeline

    pipe = pipeline(task, folder, batch_size=batch_size)
    pipe.workers = 1  # one batch at a time on a one-thread session, as torch_profile
    model = pipe.model
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.enable_profiling = True
    tmp = tempfile.mkdtemp(prefix="tk-ortprof-")
    so.profile_file_prefix = os.path.join(tmp, "ort")
    model.session = ort.InferenceSession(
        str(Path(folder) / "model.onnx"), so, providers=["CPUExecutionProvider"]
    )
    pipe(texts[:32])
    t0 = time.perf_counter()
    pipe(texts)
    wall = time.perf_counter() - t0
    events = json.loads(Path(model.session.end_profiling()).read_text())
    # the warm-up pass is in the file too: keep the node events of the timed pass only
    runs = [e for e in events if e.get("name") == "model_run"]
    start = runs[1]["ts"] if len(runs) > 1 else 0
    groups: dict[str, float] = {}
    for e in events:
        if e.get("cat") != "Node" or e.get("ts", 0) < start:
            continue
        if not str(e.get("name", "")).endswith("_kernel_time"):
            continue
        node = e["name"][: -len("_kernel_time")]
        g = _group_ort(e.get("args", {}).get("op_name", ""), node)
        groups[g] = groups.get(g, 0.0) + e["dur"] / 1e6
    return _shares(groups, wall)


def padding_share(tokenizer: Any, texts: list[str], batch_size: int = 32) -> dict[str, float]:
    """Share of computed positions that are padding: our length-sorted batches vs input order."""
    lengths = np.array(
        [len(x) for x in tokenizer(texts, truncation=True, max_length=256)["input_ids"]]
    )

    def share(order: np.ndarray) -> float:
        real = padded = 0
        for s in range(0, len(order), batch_size):
            chunk = lengths[order[s : s + batch_size]]
            real += int(chunk.sum())
            padded += int(chunk.max()) * len(chunk)
        return 1 - real / padded

    by_chars = np.argsort([-len(t) for t in texts], kind="stable")
    by_tokens = np.argsort(-lengths, kind="stable")
    return {
        "sorted_by_characters (ours)": round(share(by_chars), 4),
        "sorted_by_tokens": round(share(by_tokens), 4),
        "input_order": round(share(np.arange(len(texts))), 4),
    }


def ort_gemm_rate(int8: bool, seconds: float = 2.0) -> float:
    """Sustained GEMM rate in G(FL)OP/s of onnxruntime's CPU kernels (MLAS) on the same
    BERT-like shape as `bench_inference.matmul_gflops`: (800 × 384) · (384 × 1536).
    int8: u8 × s8 → int32 MatMulInteger, the kernel family behind our int8 matmuls;
    otherwise fp32 MatMul (on some CPUs MLAS beats torch's fp32 GEMM: the bound takes the
    faster of the two)."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    if int8:
        w = rng.integers(-127, 127, (384, 1536), dtype=np.int8)
        x = rng.integers(0, 255, (800, 384), dtype=np.uint8)
        op, xt, yt = "MatMulInteger", TensorProto.UINT8, TensorProto.INT32
    else:
        w = rng.standard_normal((384, 1536)).astype(np.float32)
        x = rng.standard_normal((800, 384)).astype(np.float32)
        op, xt, yt = "MatMul", TensorProto.FLOAT, TensorProto.FLOAT
    graph = helper.make_graph(
        [helper.make_node(op, ["x", "w"], ["y"])],
        "gemm",
        [helper.make_tensor_value_info("x", xt, [800, 384])],
        [helper.make_tensor_value_info("y", yt, [800, 1536])],
        [numpy_helper.from_array(w, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    so = ort.SessionOptions()
    so.intra_op_num_threads = int(os.environ.get("TK_BENCH_THREADS", "0") or 0)
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    for _ in range(5):
        sess.run(None, {"x": x})
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        sess.run(None, {"x": x})
        n += 1
    return 2 * 800 * 384 * 1536 * n / (time.perf_counter() - t0) / 1e9


def int8_gops(seconds: float = 2.0) -> float:
    return ort_gemm_rate(True, seconds)


def cpu_flags() -> dict[str, bool]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    flags = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    return {
        f: f in flags for f in ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")
    }
