"""Image pipeline speed: images/s on hymenoptera val (decode + resize + forward), one run.

For mobilenet-v2 and efficientnet-lite0 (ImageNet heads, `image-classification`):

- torch: `pipeline("image-classification", name)` over the files (paths in, top-5 out);
  its batches run one per core at a time, each on one thread, so one batch's decode and
  resize overlap another's forward (PIL and torch release the GIL);
- torch, one batch at a time: the same pipeline with `workers = 1` (as before issue 19's
  parallel batches): decode, resize and forward of each batch in turn, on every thread;
- onnxruntime fp32: the same pipeline on a folder written by `transferkit export`;
- onnxruntime int8 (this benchmark only): the fp32 graph through onnxruntime's
  `quantize_static` (QDQ, per-channel weights, calibrated on 32 *train* images), with its
  top-1 agreement with torch on val.

All interleaved over rounds. The bound: FLOPs per image (conv/linear multiply-adds × 2,
counted with forward hooks) ÷ this machine's fp32 GEMM GFLOP/s (the faster of torch and
onnxruntime on a BERT-sized GEMM) — optimistic for depthwise
convolutions, which are memory-bound, so read "of bound" as an upper-limit share.

    python benchmarks/bench_images.py [--rounds 3] [--json benchmarks/results/images.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "images" / "hymenoptera"
BATCH = 16
MODELS = ("mobilenet-v2", "efficientnet-lite0")


def gflop_per_image(model: torch.nn.Module, crop: int) -> float:
    """2 × multiply-adds of every Conv2d and Linear for one image at `crop` pixels."""
    total = 0

    def hook(mod: torch.nn.Module, inp: Any, out: torch.Tensor) -> None:
        nonlocal total
        if isinstance(mod, torch.nn.Conv2d):
            k = mod.kernel_size[0] * mod.kernel_size[1] * mod.in_channels // mod.groups
            total += 2 * out.numel() * k
        elif isinstance(mod, torch.nn.Linear):
            total += 2 * mod.in_features * mod.out_features

    hooks = [m.register_forward_hook(hook) for m in model.modules()]
    with torch.inference_mode():
        model({"pixel_values": torch.zeros(1, 3, crop, crop)})
    for h in hooks:
        h.remove()
    return total / 1e9


def int8_folder(fp32: Path, dst: Path, calib: list[str], transform: Any) -> Path:
    """A copy of the exported fp32 folder whose graph is statically quantised (QDQ)."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    from transferkit.data.images import load_image
    from transferkit.models.safety import record_checksums

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(
                [{"pixel_values": transform([load_image(f)]).numpy()} for f in calib]
            )

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.batches, None)

    shutil.copytree(fp32, dst)
    logging.getLogger().disabled = True  # ORT logs a "pre-process first" hint on root
    quantize_static(
        str(fp32 / "model.onnx"),
        str(dst / "model.onnx"),
        Reader(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        weight_type=QuantType.QInt8,
        activation_type=QuantType.QUInt8,
    )
    cfg = json.loads((dst / "transferkit.json").read_text())
    cfg["precision"] = "int8 (bench: onnxruntime quantize_static, QDQ)"
    cfg["checksums"] = record_checksums(dst, ["model.onnx"])
    (dst / "transferkit.json").write_text(json.dumps(cfg, indent=2) + "\n")
    return dst


def build(work: Path, files: list[str], calib: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    from transferkit.export import export_onnx
    from transferkit.pipelines import pipeline

    systems: dict[str, Any] = {}
    info: dict[str, Any] = {}
    for name in MODELS:
        pipe = pipeline("image-classification", name, batch_size=BATCH)
        crop = pipe.model.backbone.transform.crop
        info[name] = {"gflop_per_image": gflop_per_image(pipe.model, crop)}
        folder = work / f"{name}-fp32"
        export_onnx(name, folder)
        q = int8_folder(folder, work / f"{name}-int8", calib, pipe.model.backbone.transform)
        systems[f"{name}: torch"] = lambda xs, p=pipe: p(xs, batch_size=BATCH)
        serial = pipeline("image-classification", name, batch_size=BATCH)
        serial.workers = 1  # before: one batch (decode, resize, forward) at a time
        systems[f"{name}: torch, one batch at a time"] = lambda xs, p=serial: p(xs)
        for label, path in (("onnx fp32", folder), ("onnx int8", q)):
            p2 = pipeline("image-classification", path, batch_size=BATCH)
            systems[f"{name}: {label}"] = lambda xs, p=p2: p(xs, batch_size=BATCH)
    return systems, info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--limit", type=int, default=None, help="first N images (smoke runs)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from transferkit.data.images import list_image_folder

    files = [str(f) for f in list_image_folder(DATA / "val")[0]][: args.limit]
    calib = [str(f) for f in list_image_folder(DATA / "train")[0]][::8][:32]
    work = Path(tempfile.mkdtemp(prefix="tk-bench-img-"))
    systems, info = build(work, files, calib)
    answers = {k: fn(files) for k, fn in systems.items()}  # warm-up + answers for agreement
    seconds: dict[str, list[float]] = {k: [] for k in systems}
    for _ in range(args.rounds):
        for name, fn in systems.items():
            t0 = time.perf_counter()
            fn(files)
            seconds[name].append(time.perf_counter() - t0)
    from bench_inference import matmul_gflops
    from inference_profile import ort_gemm_rate

    gflops = max(matmul_gflops(), ort_gemm_rate(False))  # the faster fp32 GEMM kernel
    rows = []
    for name, s in seconds.items():
        model = name.split(":")[0]
        rate = len(files) / statistics.median(s)
        bound = gflops / info[model]["gflop_per_image"]
        top1 = [a[0]["label"] for a in answers[name]]
        ref = [a[0]["label"] for a in answers[f"{model}: torch"]]
        rows.append(
            {
                "system": name,
                "images_per_s": round(rate, 1),
                "vs_torch": round(
                    rate * statistics.median(seconds[f"{model}: torch"]) / len(files), 2
                ),
                "of_fp32_bound": round(rate / bound, 3),
                "top1_agreement_with_torch": round(
                    float(np.mean([a == b for a, b in zip(top1, ref, strict=True)])), 4
                ),
                "seconds": [round(x, 2) for x in s],
            }
        )
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}",
        "load_at_end": [round(x, 2) for x in os.getloadavg()],
        "images": len(files),
        "batch": BATCH,
        "rounds": args.rounds,
        "matmul_gflops": round(gflops, 1),
        "models": {
            k: {
                "gflop_per_image": round(v["gflop_per_image"], 3),
                "fp32_bound_images_per_s": round(gflops / v["gflop_per_image"], 1),
            }
            for k, v in info.items()
        },
        "rows": rows,
    }
    print(
        f"\nhymenoptera val: {len(files)} images (decode + resize + forward), batch {BATCH}, median of "
        f"{args.rounds} interleaved rounds; {result['machine']}; load {result['load_at_end'][0]}; {result['date']}"
    )
    print("| system | images/s | × torch | of fp32 bound | top-1 = torch |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['system']} | {r['images_per_s']:.1f} | {r['vs_torch']:.2f} | {r['of_fp32_bound']:.2f} | "
            f"{r['top1_agreement_with_torch']:.3f} |"
        )
    for k, v in result["models"].items():
        print(
            f"bound {k}: {v['gflop_per_image']:.3f} GFLOP/image at {gflops:.1f} GFLOP/s -> "
            f"{v['fp32_bound_images_per_s']:.0f} images/s (GEMM rate; depthwise convs cannot reach it)"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
