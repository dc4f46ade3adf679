#!/usr/bin/env bash
# On a machine with a CUDA GPU (and a CUDA build of torch): the inference benchmark on the
# GPU vs the CPU, then a full-data sst2 fine-tune on the GPU, printing the same tables as
# the CPU benchmarks. Run from the repository root, ../shared/data beside it:
#     bash benchmarks/gpu.sh [results-folder]
set -euo pipefail
OUT=${1:-benchmarks/results/gpu}
DATA=../shared/data/text/sst2
mkdir -p "$OUT"
python - <<'PY'
import torch
from transferkit.core.devices import describe, resolve_device, what_torch_sees
print(what_torch_sees())
print("auto ->", describe(resolve_device("auto")))
assert torch.cuda.is_available(), "no CUDA GPU: this script is for a GPU machine"
PY
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
uptime | tee -a "$OUT/gpu.txt"
# 1. Inference: single process on CPU vs CUDA (bf16/fp16 autocast), then Ray Data with 1 worker
#    holding the GPU (the 100M-row arithmetic follows from its rows/s).
python benchmarks/bench_ray.py --device cpu --workers 1 --threads "$(nproc)" --json "$OUT/infer_cpu.json"
python benchmarks/bench_ray.py --device cuda --workers 1 --json "$OUT/infer_cuda.json"
# 2. Full-data sst2 fine-tune (67k rows, 2 epochs, lr 5e-5), local engine on the GPU, then
#    the same data-parallel on every GPU of the machine (Ray Train, NCCL).
/usr/bin/time -v transferkit fit "$DATA/train.csv" --eval "$DATA/test.csv" --base minilm-l6 \
  --strategy full --epochs 2 --lr 5e-5 --device cuda --out "$OUT/sst2-full-cuda" --json \
  2> "$OUT/fit_cuda.time" | tee "$OUT/fit_cuda.json"
NGPU=$(nvidia-smi -L | wc -l)
if [ "$NGPU" -gt 1 ]; then
  transferkit fit "$DATA/train.csv" --eval "$DATA/test.csv" --base minilm-l6 --strategy full \
    --epochs 2 --lr 5e-5 --device cuda --engine ray --workers "$NGPU" \
    --out "$OUT/sst2-full-ray" --json | tee "$OUT/fit_ray_cuda.json"
fi
# 3. The GPU-fitted model on the CPU: same labels (device-independent folder).
transferkit evaluate "$OUT/sst2-full-cuda" "$DATA/test.csv" --device cpu --json | tee "$OUT/eval_on_cpu.json"
uptime | tee -a "$OUT/gpu.txt"
