"""Export a transferkit model (text or image, fine-tuned or LoRA) to ONNX, optionally int8.

The exported folder is self-contained and loads with `load_model(folder)` /
`pipeline(task, folder)`, which then run on onnxruntime instead of torch:

    out/
      transferkit.json   {"format": "transferkit-onnx", labels, modality, inputs, outputs,
                          precision, quantisation, parity, source config}
      model.onnx         graph with inputs by name and outputs "logits" and/or "features"
      tokenizer files    (text models) so the folder needs no torch model at run time

One graph serves both tasks: a classifier's graph outputs `logits` (batch, n_labels) and
the pooled `features` (batch, embedding_dim) before L2 normalisation, so the same folder
answers text-classification and feature-extraction without computing anything twice.

int8 (`int8=True`, text models): SmoothQuant + token-wise int8 matmuls, everything else
fp32 — see `transferkit.export.quantise`.

>>> # report = export_onnx("sentiment-analysis", "out/sst2-int8", int8=True,
>>> #                      parity_data="../shared/data/text/sst2/test.csv")
>>> # pipeline("sentiment-analysis", "out/sst2-int8")("great film")
"""

from __future__ import annotations

import json
import logging
import os
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from transferkit.errors import InputError, require_extra
from transferkit.export.quantise import _CALIBRATION_TEXTS, quantise_int8
from transferkit.models.onnx_runtime import CONFIG_NAME, ONNX_FILE, ONNX_FORMAT, OnnxModel
from transferkit.models.problems import MULTI, SINGLE, Problem, problem_of

logger = logging.getLogger(__name__)

TEXT_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


# ---------------------------------------------------------------- wrappers
class _TextGraph(nn.Module):
    """Encoder → mean pooling → (head). Inputs by name: transformers 5 models reject
    positional tensors in the order torch.onnx passes them, so we call with keywords."""

    def __init__(
        self, encoder: nn.Module, head: nn.Module | None, names: Sequence[str], pooled: bool
    ):
        super().__init__()
        self.encoder, self.head, self.names, self.pooled = encoder, head, tuple(names), pooled

    def forward(self, *tensors: torch.Tensor) -> Any:
        kw = dict(zip(self.names, tensors, strict=True))
        if not self.pooled:  # a Hugging Face sequence classifier: its own pooling and head
            return self.encoder(**kw).logits
        hidden = self.encoder(**kw).last_hidden_state  # (batch, tokens, hidden)
        m = kw["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (batch, tokens, 1)
        feats = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)  # (batch, hidden)
        return (self.head(feats), feats) if self.head is not None else feats


class _ImageGraph(nn.Module):
    def __init__(self, net: nn.Module, head: nn.Module | None):
        super().__init__()
        self.net, self.head = net, head

    def forward(self, pixel_values: torch.Tensor) -> Any:
        feats = self.net.forward_features(pixel_values)  # (batch, num_features)
        return (self.head(feats), feats) if self.head is not None else feats


def _graph_for(model: Any) -> tuple[nn.Module, dict[str, Any]]:
    """Build the export wrapper and the folder's description for a loaded model."""
    from transferkit.models.backbone import ImageBackbone, TextBackbone, merge_lora
    from transferkit.models.classifier import Classifier, HFTextClassifier

    if isinstance(model, HFTextClassifier):
        names = _text_input_names(model.tokenizer)
        graph = _TextGraph(merge_lora(model.model), None, names, pooled=False)
        return graph, {
            "modality": "text",
            "labels": model.labels,
            "problem": model.problem.to_config(),
            "outputs": ["logits"],
            "max_length": model.max_length,
            "inputs": list(names),
        }
    backbone, head, labels = model, None, None
    if isinstance(model, Classifier):
        backbone, head, labels = model.backbone, model.head, model.labels
    if isinstance(backbone, TextBackbone):
        names = _text_input_names(backbone.tokenizer)
        graph = _TextGraph(merge_lora(backbone.model), head, names, pooled=True)
        info = {"modality": "text", "inputs": list(names), "max_length": backbone.max_length}
    elif isinstance(backbone, ImageBackbone):
        graph = _ImageGraph(merge_lora(backbone.net), head)
        info = {
            "modality": "image",
            "inputs": ["pixel_values"],
            "preprocessing": backbone.transform.to_dict(),
        }
    else:
        raise InputError(
            f"cannot export a {type(model).__name__}; export takes a transferkit classifier, a "
            "Hugging Face sequence classifier, or a text/image backbone"
        )
    info["outputs"] = ["logits", "features"] if head is not None else ["features"]
    info["labels"] = labels
    if head is not None:  # how the logits decode (`models.problems`), read back by OnnxModel
        info["problem"] = problem_of(model).to_config()
    info["embedding_dim"] = backbone.embedding_dim
    return graph, info


def _text_input_names(tokenizer: Any) -> tuple[str, ...]:
    names = tuple(getattr(tokenizer, "model_input_names", None) or ("input_ids", "attention_mask"))
    unknown = [n for n in names if n not in TEXT_INPUTS]
    if unknown:
        raise InputError(
            f"tokenizer inputs {unknown} are not supported by export; known: {TEXT_INPUTS}"
        )
    return names


def _dummy_inputs(info: dict[str, Any], tokenizer: Any) -> tuple[torch.Tensor, ...]:
    if info["modality"] == "image":
        crop = int(info["preprocessing"].get("crop", 224))
        return (torch.zeros(2, 3, crop, crop),)
    enc = tokenizer(
        ["a short example", "a slightly longer example sentence here"],
        padding=True,
        return_tensors="pt",
    )
    return tuple(enc[n] for n in info["inputs"])


def _torch_export(
    graph: nn.Module, dummy: tuple[torch.Tensor, ...], info: dict[str, Any], path: Path, opset: int
) -> None:
    names = list(info["inputs"])
    axes: dict[str, dict[int, str]] = {n: {0: "batch", 1: "tokens"} for n in names}
    if info["modality"] == "image":
        axes = {"pixel_values": {0: "batch"}}
    for out in info["outputs"]:
        axes[out] = {0: "batch"}
    graph.eval()
    with warnings.catch_warnings(), torch.no_grad():
        # The TorchScript exporter warns about tracing internals we do not control.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            graph,
            dummy,
            str(path),
            input_names=names,
            output_names=info["outputs"],
            dynamic_axes=axes,
            opset_version=opset,
            dynamo=False,
            do_constant_folding=True,
        )
    graph.eval()  # exporting can leave modules in training mode (dropout on): not here


# ---------------------------------------------------------------- fusion
_FUSABLE = ("bert", "roberta", "xlm-roberta", "electra")  # onnxruntime's "bert" optimiser


def fuse_transformer(path: Path, encoder_config: Any) -> dict[str, Any] | None:
    """onnxruntime's transformer fusions on the graph at `path`, in place, once at export
    (so loading stays cheap): LayerNorm + residual → SkipLayerNormalization, bias + GELU →
    BiasGelu, and attention → Attention where the exported pattern matches. Python fusions
    only (opt_level 0): the graph stays portable; onnxruntime still applies its own
    optimisations when a session opens it. Returns the fused-operator counts, or None when
    the encoder is not BERT-like."""
    model_type = str(getattr(encoder_config, "model_type", ""))
    if model_type not in _FUSABLE:
        return None
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    root = logging.getLogger()
    was, root.disabled = root.disabled, True  # the optimiser logs shape-inference notes on root
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            opt = optimize_model(
                str(path),
                model_type="bert",
                num_heads=int(encoder_config.num_attention_heads),
                hidden_size=int(encoder_config.hidden_size),
                optimization_options=FusionOptions("bert"),
                opt_level=0,
            )
            opt.save_model_to_file(str(path))
    finally:
        root.disabled = was
    return {k: v for k, v in opt.get_fused_operator_statistics().items() if v}


# ---------------------------------------------------------------- parity
_SMOKE_TEXTS = [
    "a gripping, beautifully acted film",
    "dull, lifeless and far too long",
    "it is neither good nor bad, just there",
    "the best thing i have seen all year",
]


def _parity_inputs(
    info: dict[str, Any],
    data: str | os.PathLike[str] | None,
    text_column: str | None,
    limit: int | None,
) -> tuple[list[Any], list[str] | None, str]:
    """Inputs (and their labels when the data has them) for the parity check."""
    if data is None:
        if info["modality"] == "text":
            return list(_SMOKE_TEXTS), None, "4 built-in sentences"
        rng = np.random.default_rng(0)
        crop = int(info["preprocessing"].get("crop", 224))
        imgs = [rng.integers(0, 256, (crop, crop, 3), dtype=np.uint8) for _ in range(4)]
        return imgs, None, "4 random images"
    path = Path(data)
    if info["modality"] == "image":
        from transferkit.data.images import list_image_folder

        files, labels, _ = list_image_folder(path)
        files, labels = files[:limit], labels[:limit]
        return [str(f) for f in files], labels, str(path)
    from transferkit.data.tables import LABEL_COLUMNS, TEXT_COLUMNS, pick_column, read_table

    df = read_table(path)
    col = pick_column(df, text_column, TEXT_COLUMNS, "text", str(path))
    texts = [str(t) for t in df[col].tolist()][:limit]
    try:
        lab_col = pick_column(df, None, LABEL_COLUMNS, "label", str(path))
        # an empty cell (NaN) is an empty label set for multi-label data, not "nan"
        labels = ["" if v != v else str(v) for v in df[lab_col].tolist()][:limit]
    except Exception:  # no label column: agreement only, no accuracy
        labels = None
    return texts, labels, str(path)


def _batched(
    model: Any, inputs: list[Any], run: Any, batch_size: int = 32
) -> dict[str, np.ndarray]:
    """Run `run(batch)` over length-bucketed batches; outputs restored to input order."""
    from transferkit.core.inference import run_batched

    out = run_batched(lambda items: run(model.preprocess(items)), inputs, batch_size=batch_size)
    return out  # type: ignore[return-value]


def parity_check(
    model: Any,
    exported: OnnxModel,
    inputs: list[Any],
    labels: list[str] | None = None,
    *,
    source: str = "",
) -> dict[str, Any]:
    """Compare the torch model with its export on `inputs`: the largest absolute logit
    (or feature) difference, the share of identical predictions, accuracy of both when
    `labels` are given, and the lowest cosine similarity of the pooled features."""
    graph, info = _graph_for(model)
    graph.eval()
    names = info["inputs"]

    def torch_run(batch: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
        with torch.inference_mode():
            out = graph(*[batch[n] for n in names])
        out = out if isinstance(out, tuple) else (out,)
        return {k: v.float().numpy() for k, v in zip(info["outputs"], out, strict=True)}

    ref = _batched(model, inputs, torch_run)
    got = _batched(exported, inputs, exported.run)
    report: dict[str, Any] = {"data": source, "n": len(inputs)}
    if "features" in ref:
        a, b = ref["features"], got["features"]
        cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)
        report["max_feature_diff"] = float(np.abs(a - b).max())
        report["min_feature_cosine"] = float(cos.min())
    if "logits" in ref:
        a, b = ref["logits"], got["logits"]
        report["max_logit_diff"] = float(np.abs(a - b).max())
        problem = problem_of(model)
        if problem.kind != SINGLE:
            report.update(_parity_by_problem(problem, a, b))
            if labels is not None:
                report.update(_quality_by_problem(problem, a, b, labels, info["labels"]))
            return report
        pa, pb = a.argmax(1), b.argmax(1)
        report["agreement"] = float((pa == pb).mean())
        if labels is not None and info["labels"]:
            by_name = {str(lab).lower(): i for i, lab in enumerate(info["labels"])}
            y = np.array([by_name.get(str(lab).lower(), -1) for lab in labels])
            if (y >= 0).all():
                report["accuracy_torch"] = float((pa == y).mean())
                report["accuracy_onnx"] = float((pb == y).mean())
                report["accuracy_change_points"] = round(
                    100 * (report["accuracy_onnx"] - report["accuracy_torch"]), 3
                )
    return report


def _parity_by_problem(problem: Problem, a: np.ndarray, b: np.ndarray) -> dict[str, Any]:
    """Parity of torch outputs `a` and ONNX outputs `b` decoded by the model's problem:
    multi-label — the share of inputs with the same label set (`agreement`), the share of
    identical per-label decisions and the largest probability difference; regression —
    the largest difference in target units and the Pearson correlation of the two."""
    if problem.kind == MULTI:
        da, db = problem.indicators(a), problem.indicators(b)
        return {
            "agreement": float((da == db).all(axis=1).mean()),
            "label_agreement": float((da == db).mean()),
            "max_prob_diff": float(np.abs(problem.scores(a) - problem.scores(b)).max()),
        }
    va, vb = problem.scores(a), problem.scores(b)
    both_vary = va.size > 1 and va.std() > 0 and vb.std() > 0
    return {
        "max_abs_diff": float(np.abs(va - vb).max()),
        "correlation": float(np.corrcoef(va, vb)[0, 1]) if both_vary else None,
    }


def _quality_by_problem(
    problem: Problem, a: np.ndarray, b: np.ndarray, truth: list[str], labels: list[str]
) -> dict[str, Any]:
    """The task's headline figure for torch and ONNX on labelled parity data: micro-F1
    (multi-label; label sets joined by "|") or Spearman and MAE (regression). Data whose
    targets do not read that way gives {} (agreement figures only), as for classes."""
    from transferkit.core.metrics import multilabel_report, regression_report

    if problem.kind == MULTI:
        column = {lab.lower(): j for j, lab in enumerate(labels)}
        y = np.zeros((len(truth), len(labels)), dtype=int)
        for r, cell in enumerate(truth):
            for lab in (x.strip().lower() for x in str(cell).split("|") if x.strip()):
                if lab not in column:
                    return {}
                y[r, column[lab]] = 1
        f1 = [multilabel_report(y, problem.indicators(o), labels)["micro_f1"] for o in (a, b)]
        return {
            "micro_f1_torch": f1[0],
            "micro_f1_onnx": f1[1],
            "micro_f1_change_points": round(100 * (f1[1] - f1[0]), 3),
        }
    try:
        y = np.asarray(truth, dtype=float)
    except ValueError:
        return {}
    if y.size < 2 or not np.isfinite(y).all():
        return {}
    ra, rb = (regression_report(y, problem.scores(o)) for o in (a, b))
    return {
        "spearman_torch": ra["spearman"],
        "spearman_onnx": rb["spearman"],
        "mae_torch": ra["mae"],
        "mae_onnx": rb["mae"],
    }


# ---------------------------------------------------------------- export
def export_onnx(
    model: Any,
    out: str | os.PathLike[str],
    *,
    int8: bool = False,
    parity_data: str | os.PathLike[str] | None = None,
    text_column: str | None = None,
    parity_limit: int | None = None,
    calibration_data: str | os.PathLike[str] | None = None,
    scheme: str = "tokenwise",
    opset: int = 17,
    fuse: bool = True,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Export `model` (a reference `load_model` accepts, or a loaded classifier/backbone) to
    folder `out`, atomically; return the folder's description including the parity check.

    int8: quantise matmuls to int8 (text models; see `quantise_int8`), with SmoothQuant
    scales calibrated on `calibration_data` (a table of texts; default: 16 built-in
    sentences — never calibrate on the test set you report). parity_data: a table of
    texts (with a label column for accuracy) or an image folder `root/<class>/*`; without
    it a few built-in inputs are compared. A LoRA adapter is merged into the weights first.
    fuse: apply onnxruntime's transformer fusions to BERT-like fp32 text graphs
    (`fuse_transformer`); the fused operators are recorded in the folder's JSON. Not for
    int8: measured side by side (sst2, one thread, CPU seconds), fusing before the
    token-wise int8 rewrite made the int8 graph 9% slower, while it made fp32 3% faster.
    `out` must be new, empty, or (with `overwrite=True`) a transferkit folder, and never
    the source model (`utils.paths.check_out_dir`). The SHA-256 of `model.onnx` is
    recorded in the folder's JSON and checked when it is loaded.
    """
    require_extra("onnx", "export")
    require_extra("onnxruntime", "export")
    from transferkit.models.io import atomic_write_dir, dumps_json, portable, versions
    from transferkit.models.safety import record_checksums
    from transferkit.utils.checks import check_number
    from transferkit.utils.paths import check_out_dir

    check_number(parity_limit, "limit", low=1, integer=True, what="number of examples")
    sources = (model,) if isinstance(model, str | os.PathLike) else ()
    out = check_out_dir(
        out, overwrite=overwrite, inputs=(parity_data, calibration_data), sources=sources
    )

    source_ref = None
    if isinstance(model, str | os.PathLike):
        from transferkit.models.factory import load_backbone, load_model, resolve

        source_ref = os.fspath(model)
        spec = resolve(model)
        if spec["kind"] == "onnx":
            raise InputError(
                f"{source_ref!r} is already an exported ONNX folder; export its source model"
            )
        try:
            model = load_model(spec)
        except InputError:  # a zoo encoder without a head: export its features
            model = load_backbone(spec)
    graph, info = _graph_for(model)
    model.eval()
    if int8 and info["modality"] != "text":
        raise InputError(
            "int8 export supports text models (transformer matmuls); export image "
            "models in fp32 (drop --int8)"
        )
    tokenizer = getattr(getattr(model, "backbone", model), "tokenizer", None)
    dummy = _dummy_inputs(info, tokenizer)
    t0 = time.perf_counter()

    def write(tmp: Path) -> None:
        fp32 = tmp / ("fp32.onnx" if int8 else ONNX_FILE)
        _torch_export(graph, dummy, info, fp32, opset)
        fused = None
        if fuse and info["modality"] == "text" and not int8:
            fused = fuse_transformer(fp32, getattr(getattr(graph, "encoder", None), "config", None))
        if int8:
            feeds = _calibration_feeds(info, tokenizer, calibration_data, text_column)
            quant = quantise_int8(fp32, tmp / ONNX_FILE, calibration=feeds, scheme=scheme)
            quant["calibration_data"] = (
                str(calibration_data) if calibration_data else "built-in sentences"
            )
            fp32.unlink()
        else:
            quant = None
        if tokenizer is not None:
            tokenizer.save_pretrained(str(tmp))
        config = {
            "format": ONNX_FORMAT,
            "format_version": 1,
            **info,
            "precision": "int8" if int8 else "fp32",
            "quantisation": quant,
            "fusions": fused,
            "opset": opset,
            "source": {
                "ref": source_ref,
                "spec": getattr(getattr(model, "backbone", model), "spec", None),
                "config": getattr(model, "config", None),
            },
            "versions": {**versions(), "onnxruntime": _ort_version()},
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        config = portable(json.loads(dumps_json(config)), out)
        (tmp / CONFIG_NAME).write_text(dumps_json(config) + "\n")
        exported = OnnxModel(tmp)
        inputs, labels, where = _parity_inputs(info, parity_data, text_column, parity_limit)
        config["parity"] = parity_check(model, exported, inputs, labels, source=where)
        config["export_seconds"] = round(time.perf_counter() - t0, 1)
        config["checksums"] = record_checksums(tmp, [ONNX_FILE])
        config = portable(json.loads(dumps_json(config)), out)
        (tmp / CONFIG_NAME).write_text(dumps_json(config) + "\n")

    target = atomic_write_dir(out, write)
    model.eval()
    config = json.loads((target / CONFIG_NAME).read_text())
    logger.info(
        "exported %s to %s; parity %s", source_ref or type(model).__name__, target, config["parity"]
    )
    return config


def _calibration_feeds(
    info: dict[str, Any],
    tokenizer: Any,
    data: str | os.PathLike[str] | None,
    text_column: str | None,
    n: int = 256,
) -> list[dict[str, np.ndarray]]:
    """Tokenised batches of 32 calibration texts (the first `n` of `data`, or built-ins)."""
    texts = list(_CALIBRATION_TEXTS)
    if data is not None:
        texts, _, _ = _parity_inputs(info, data, text_column, n)
    feeds = []
    for s in range(0, len(texts), 32):
        enc = tokenizer(
            texts[s : s + 32],
            padding=True,
            truncation=True,
            max_length=info["max_length"],
            return_tensors="np",
        )
        feeds.append({k: np.asarray(enc[k], dtype=np.int64) for k in info["inputs"]})
    return feeds


def _ort_version() -> str:
    import onnxruntime

    return str(onnxruntime.__version__)
