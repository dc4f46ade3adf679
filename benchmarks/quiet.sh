#!/usr/bin/env bash
# Issue 19's quotable measurements: run on a QUIET machine (nothing else running), from
# the repository root: `bash benchmarks/quiet.sh 2>&1 | tee benchmarks/results/quiet.log`.
# About 15-18 minutes on a 2-core machine (estimate: inference ~11, cold start ~3.5,
# images ~3). Each benchmark prints its table and writes JSON
# under benchmarks/results/; `uptime` before and after each shows the load they ran under.
set -uo pipefail  # no -e: one failing benchmark must not lose the others' figures
failed=0
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
export TOKENIZERS_PARALLELISM=false
uptime
# text: the issue's table, same-run "before" rows (--variants), profiles, limits, goals
python benchmarks/bench_inference.py --rounds 3 --variants --profile \
    --json benchmarks/results/inference.json || { echo "FAILED: bench_inference"; failed=1; }
uptime
# cold start: predict (fast start vs torch), import, --help, serve until /health
python benchmarks/bench_coldstart.py --runs 5 --json benchmarks/results/coldstart.json \
    || { echo "FAILED: bench_coldstart"; failed=1; }
uptime
# images: mobilenet-v2 / efficientnet-lite0, torch vs onnxruntime fp32/int8, parallel decode
python benchmarks/bench_images.py --rounds 2 --json benchmarks/results/images.json \
    || { echo "FAILED: bench_images"; failed=1; }
uptime
exit $failed
