"""int8 quantisation of an exported transformer graph, kept close to fp32.

Two steps, both on the ONNX graph:

1. SmoothQuant (Xiao et al. 2023, `smooth_for_int8`): per input channel scales move
   activation outliers into the weights, calibrated on a few sentences.
2. Token-wise int8 (`tokenwise_int8`, as in ZeroQuant, Yao et al. 2022): a scale per
   token and per output channel, instead of onnxruntime's one scale per activation tensor.

Everything else stays fp32: embeddings, LayerNorm, Softmax, GELU, the attention score
matmuls and the classifier head. How close it stays to fp32 (identical predictions,
accuracy change) against onnxruntime's own dynamic quantisation: BENCHMARKS.md, "Use /
Ship: inference speed", measured by benchmarks/bench_inference.py.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from transferkit.errors import InputError

_CALIBRATION_TEXTS = [  # generic sentences: activation ranges are mostly a property of the model
    "the film is a charming and often funny look at family life",
    "a tedious, badly written mess that never finds its footing",
    "the battery lasts all day and the screen is bright",
    "customer service never answered my emails",
    "what is the capital city of australia ?",
    "how many people live in new york ?",
    "this is one of the most original stories in years",
    "i would not recommend this product to anyone",
    "the plot is predictable but the acting keeps it afloat",
    "an intelligent , moving and thoroughly entertaining drama",
    "it 's not a bad movie , just a forgettable one",
    "the camera takes sharp pictures even in low light",
    "who wrote the novel moby dick ?",
    "slow , boring and far too long",
    "a masterpiece of suspense with a terrific final act",
    "the software crashes every time i open a large file",
]


def _quantisable_matmuls(model: Any) -> list[Any]:
    """MatMul nodes with a constant 2-D weight, except the classifier head."""
    inits = {i.name: i for i in model.graph.initializer}
    out = []
    for node in model.graph.node:
        if node.op_type != "MatMul" or len(node.input) < 2 or node.input[1] not in inits:
            continue
        if "logits" in node.output or "/head" in node.name:
            continue
        if len(inits[node.input[1]].dims) == 2:
            out.append(node)
    return out


def _activation_absmax(
    path: Path, names: list[str], feeds: list[dict[str, np.ndarray]]
) -> dict[str, np.ndarray]:
    """Per-channel max |x| of intermediate tensors `names` over calibration batches."""
    import onnx
    import onnxruntime as ort

    model = onnx.load(str(path))
    for n in names:
        model.graph.output.append(
            onnx.helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None)
        )
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    amax: dict[str, np.ndarray] = {}
    for feed in feeds:
        for n, v in zip(names, sess.run(names, feed), strict=True):
            m = np.abs(v.reshape(-1, v.shape[-1])).max(0)  # (channels,)
            amax[n] = np.maximum(amax[n], m) if n in amax else m
    return amax


def smooth_for_int8(
    src: Path, dst: Path, feeds: list[dict[str, np.ndarray]], *, alpha: float = 0.5
) -> int:
    """SmoothQuant (Xiao et al. 2023): move activation outliers into the weights before
    int8. For each weight matmul Y = X·W with X (…, in) and W (in, out), per input
    channel s_j = max|X_j|^alpha / max|W_j,:|^(1-alpha); insert X' = X · (1/s) (one Mul,
    shared by matmuls that read the same X, e.g. Q/K/V) and scale W' = diag(s)·W, so
    X'·W' = X·W exactly in fp32 while X' has no outlier channels for the per-tensor
    activation scale of dynamic quantisation. Returns the number of matmuls smoothed."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(src))
    inits = {i.name: i for i in model.graph.initializer}
    groups: dict[str, list[Any]] = {}
    for node in _quantisable_matmuls(model):
        groups.setdefault(node.input[0], []).append(node)
    amax = _activation_absmax(src, list(groups), feeds)
    new_nodes = []
    for x, nodes in groups.items():
        weights = [numpy_helper.to_array(inits[n.input[1]]) for n in nodes]  # (in, out) each
        w_max = np.max([np.abs(w).max(1) for w in weights], axis=0)  # (in,)
        s = (np.maximum(amax[x], 1e-5) ** alpha) / (np.maximum(w_max, 1e-5) ** (1 - alpha))
        s = np.clip(s, 1e-2, 1e2).astype(np.float32)
        inv = numpy_helper.from_array((1.0 / s).astype(np.float32), f"{x}_smooth_inv")
        model.graph.initializer.append(inv)
        new_nodes.append(
            onnx.helper.make_node("Mul", [x, inv.name], [f"{x}_smoothed"], name=f"{x}_smooth")
        )
        for node, w in zip(nodes, weights, strict=True):
            # a fresh initializer per matmul: a weight may be shared elsewhere unscaled
            wi = numpy_helper.from_array(
                (w * s[:, None]).astype(np.float32), f"{node.input[1]}_smoothed"
            )
            model.graph.initializer.append(wi)
            node.input[0], node.input[1] = f"{x}_smoothed", wi.name
    # insert each Mul right before its first consumer so the graph stays topologically sorted
    order = list(model.graph.node)
    for mul in new_nodes:
        first = next(i for i, n in enumerate(order) if mul.output[0] in n.input)
        order.insert(first, mul)
    del model.graph.node[:]
    model.graph.node.extend(order)
    used = {i for n in model.graph.node for i in n.input}
    keep = [i for i in model.graph.initializer if i.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(keep)
    onnx.save(model, str(dst))
    return sum(len(v) for v in groups.values())


def tokenwise_int8(
    src: str | os.PathLike[str], dst: str | os.PathLike[str], nodes: Sequence[str]
) -> int:
    """Rewrite each weight MatMul named in `nodes` as an int8 matmul with a scale per token
    (row of X) and per output channel (column of W), instead of ORT dynamic quantisation's
    one scale per whole activation tensor — ZeroQuant's token-wise activations with
    channel-wise weights (Yao et al. 2022). One outlier token in a padded batch then no
    longer coarsens every other token's grid, and results do not depend on batch-mates.

        X2  = X reshaped to (rows, in)                      rows = batch · tokens
        s_x = max_j |X2_ij| / 127                           (rows,)   per token
        q   = QuantizeLinear(X2, s_x, 128, axis=0)          uint8 (rows, in)
        W_q = round(W / s_w), s_w = max_i |W_ij| / 127      int8 (in, out), per column
        Y   = MatMulIntegerToFloat(q, W_q; zp 128, s_w) · s_x  → reshaped to (…, out)

    The quantised X is computed once per input and shared (Q, K and V read the same X).
    Returns the number of matmuls rewritten.
    """
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(src))
    inits = {i.name: i for i in model.graph.initializer}
    wanted = set(nodes)
    model.graph.initializer.extend(
        [
            numpy_helper.from_array(np.array(1 / 127.0, np.float32), "tk_inv127"),
            numpy_helper.from_array(np.array(1e-8, np.float32), "tk_eps"),
            numpy_helper.from_array(np.array(1.0, np.float32), "tk_one"),
            numpy_helper.from_array(np.array(128, np.uint8), "tk_zp_u8"),
            numpy_helper.from_array(np.array([0], np.int64), "tk_0"),
            numpy_helper.from_array(np.array([-1], np.int64), "tk_m1"),
            numpy_helper.from_array(np.array([1], np.int64), "tk_ax1"),
        ]
    )
    done: dict[str, str] = {}  # X name -> prefix of its quantised tensors
    out: list[Any] = []
    for node in model.graph.node:
        if node.name not in wanted:
            out.append(node)
            continue
        x, w_name = node.input[0], node.input[1]
        w = numpy_helper.to_array(inits[w_name]).astype(np.float32)  # (in, out)
        c_in = w.shape[0]
        p = node.name.strip("/").replace("/", "_")
        if x not in done:
            done[x] = f"tkq_{len(done)}"
            out += _token_quantise_nodes(model, x, done[x], c_in)
        out += _int8_matmul_nodes(model, done[x], p, w, node.output[0])
    del model.graph.node[:]
    model.graph.node.extend(out)
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    used = {i for n in model.graph.node for i in n.input}
    keep = [i for i in model.graph.initializer if i.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(keep)
    onnx.save(model, str(dst))
    return len(wanted)


def _token_quantise_nodes(model: Any, x: str, k: str, c_in: int) -> list[Any]:
    """Nodes that quantise input `x` once, a scale per token (row): `{k}_q` (uint8, rows ×
    in), `{k}_scol` (rows × 1 scales) and `{k}_lead` (x's leading dimensions)."""
    from onnx import helper, numpy_helper

    zp = numpy_helper.from_array(np.array([128], np.uint8))
    model.graph.initializer.append(
        numpy_helper.from_array(np.array([-1, c_in], np.int64), f"{k}_2d")
    )
    return [
        helper.make_node("Reshape", [x, f"{k}_2d"], [f"{k}_x2"], name=f"{k}_x2"),
        helper.make_node("Abs", [f"{k}_x2"], [f"{k}_abs"], name=f"{k}_abs"),
        helper.make_node(
            "ReduceMax", [f"{k}_abs"], [f"{k}_amax"], name=f"{k}_amax", axes=[1], keepdims=0
        ),
        helper.make_node("Max", [f"{k}_amax", "tk_eps"], [f"{k}_amx"], name=f"{k}_amx"),
        helper.make_node("Mul", [f"{k}_amx", "tk_inv127"], [f"{k}_s"], name=f"{k}_s"),
        helper.make_node("Shape", [f"{k}_s"], [f"{k}_n"], name=f"{k}_n"),
        helper.make_node("ConstantOfShape", [f"{k}_n"], [f"{k}_zp"], name=f"{k}_zp", value=zp),
        helper.make_node(
            "QuantizeLinear", [f"{k}_x2", f"{k}_s", f"{k}_zp"], [f"{k}_q"], name=f"{k}_q", axis=0
        ),
        helper.make_node("Unsqueeze", [f"{k}_s", "tk_ax1"], [f"{k}_scol"], name=f"{k}_scol"),
        helper.make_node("Shape", [x], [f"{k}_shape"], name=f"{k}_shape"),
        helper.make_node("Slice", [f"{k}_shape", "tk_0", "tk_m1"], [f"{k}_lead"], name=f"{k}_lead"),
    ]


def _int8_matmul_nodes(model: Any, k: str, p: str, w: np.ndarray, output: str) -> list[Any]:
    """Nodes for one weight matmul on the quantised input `k`: int8 weights with a scale per
    output channel, MatMulIntegerToFloat, the token scales, and the original shape back."""
    from onnx import helper, numpy_helper

    c_out = w.shape[1]
    sw = np.maximum(np.abs(w).max(0), 1e-12) / 127.0  # (out,)
    wq = np.clip(np.round(w / sw), -127, 127).astype(np.int8)
    model.graph.initializer.extend(
        [
            numpy_helper.from_array(wq, f"{p}_wq"),
            numpy_helper.from_array(sw.astype(np.float32), f"{p}_sw"),
            numpy_helper.from_array(np.array([c_out], np.int64), f"{p}_cout"),
        ]
    )
    return [
        helper.make_node(
            "MatMulIntegerToFloat",
            [f"{k}_q", f"{p}_wq", "tk_one", f"{p}_sw", "tk_zp_u8"],
            [f"{p}_y2"],
            name=f"{p}_mm",
            domain="com.microsoft",
        ),
        helper.make_node("Mul", [f"{p}_y2", f"{k}_scol"], [f"{p}_y2s"], name=f"{p}_y2s"),
        helper.make_node(
            "Concat", [f"{k}_lead", f"{p}_cout"], [f"{p}_oshape"], name=f"{p}_oshape", axis=0
        ),
        helper.make_node("Reshape", [f"{p}_y2s", f"{p}_oshape"], [output], name=f"{p}_y"),
    ]


def quantise_int8(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    calibration: list[dict[str, np.ndarray]] | None = None,
    smooth_alpha: float | None = 0.5,
    scheme: str = "tokenwise",
    keep_fp32: Sequence[str] = (),
) -> dict[str, Any]:
    """int8 `src` → `dst`: SmoothQuant (`smooth_for_int8`, calibrated on `calibration`
    feeds; skipped when None or `smooth_alpha` is None), then the weight matmuls in int8.

    scheme "tokenwise" (default, `tokenwise_int8`): a scale per token and per output
    channel. scheme "dynamic": onnxruntime's `quantize_dynamic` (weights per channel, one
    activation scale per tensor) — faster kernels, but on MiniLM-SST2 it agreed with fp32
    on only 97.4% of sst2 test, against 99.2% for tokenwise + SmoothQuant.

    Kept in fp32: everything but those matmuls (embeddings' Gather, LayerNorm, Softmax,
    GELU, the attention score matmuls), the classifier head, and matmuls whose ONNX node
    name matches a regex in `keep_fp32`. Returns what was done, for the folder's JSON.
    """
    import re

    import onnx

    if scheme not in ("tokenwise", "dynamic"):
        raise InputError(f"scheme={scheme!r}; use 'tokenwise' or 'dynamic'")
    src, dst = Path(src), Path(dst)
    smoothed = 0
    if smooth_alpha is not None and calibration:
        tmp = dst.with_name(dst.stem + ".smooth.onnx")
        smoothed = smooth_for_int8(src, tmp, calibration, alpha=smooth_alpha)
        src = tmp
    nodes = [n.name for n in _quantisable_matmuls(onnx.load(str(src)))]
    keep = [n for n in nodes if any(re.search(p, n) for p in keep_fp32)]
    chosen = [n for n in nodes if n not in keep]
    if scheme == "tokenwise":
        tokenwise_int8(src, dst, chosen)
        acts = "uint8, one scale per token (row), computed at run time (QuantizeLinear per row)"
    else:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        root = logging.getLogger()
        was, root.disabled = root.disabled, True  # ORT logs a "pre-process first" hint on root
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                quantize_dynamic(
                    str(src),
                    str(dst),
                    weight_type=QuantType.QInt8,
                    per_channel=True,
                    nodes_to_quantize=chosen,
                    op_types_to_quantize=["MatMul"],
                )
        finally:
            root.disabled = was
        acts = "uint8, one scale per tensor, computed at run time"
    if src.name.endswith(".smooth.onnx"):
        src.unlink()
    return {
        "scheme": scheme,
        "weights": "int8 symmetric, one scale per output channel",
        "activations": acts,
        "smoothquant_alpha": smooth_alpha if smoothed else None,
        "smoothed_matmuls": smoothed,
        "calibration_batches": len(calibration or []),
        "quantised_matmuls": len(chosen),
        "fp32_matmuls": keep,
        "fp32_ops": "embeddings, LayerNorm, Softmax, GELU, attention scores, classifier head",
    }
