"""`predict --engine ray` vs the single-process pipeline on sst2 test, and what it costs.

Measures, on the same rows and the same default sentiment model:

- single process: `pipeline("sentiment-analysis")` over all rows (model load apart);
- Ray Data with 1 and 2 workers (`transferkit.ray.predict_file` → parquet): Ray's start-up
  (`ray.init`) apart, and the job itself (actors start and load the model, read → predict
  → write) — rows/s, and the rows at which Ray's fixed cost is paid back;
- optionally (`--fit-rows N`; `--rows 0` skips the predict part) a local vs 1- vs
  2-worker Ray Train fit (full fine-tune of minilm-l6, 1 epoch) on N rows of sst2 train,
  scored on sst2 dev: accuracy, effective batch, learning rate, wall seconds;
- the arithmetic for 100 million rows on a cluster, from the rows/s per worker measured.

    nice -n 10 python benchmarks/bench_ray.py [--rows 1821] [--workers 1,2] [--device cpu]
        [--fit-rows 0 [--fit-runs 0,1,2] [--fit-lr LR]] [--json benchmarks/results/ray.json]

The machine is shared: print `uptime` beside the figures (the script does).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "text" / "sst2"


def single_process(texts: list[str], device: str) -> dict[str, float]:
    from transferkit.pipelines import pipeline

    t0 = time.perf_counter()
    pipe = pipeline("sentiment-analysis", device=device)
    pipe(texts[:8])  # warm
    t1 = time.perf_counter()
    pipe(texts)
    t2 = time.perf_counter()
    return {"load_s": t1 - t0, "seconds": t2 - t1, "rows_per_s": len(texts) / (t2 - t1)}


def on_ray(rows: Path, workers: int, device: str) -> dict[str, float]:
    import ray

    from transferkit.ray import predict_file

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    src = str(ROOT / "src")
    t0 = time.perf_counter()
    ray.init(
        num_cpus=workers,
        num_gpus=1 if device.startswith("cuda") else 0,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": src, "TOKENIZERS_PARALLELISM": "false"}},
    )
    startup = time.perf_counter() - t0
    try:
        with tempfile.TemporaryDirectory() as tmp:
            r = predict_file(
                "sentiment-analysis",
                rows,
                Path(tmp) / "p.parquet",
                workers=workers,
                device=device,
            )
    finally:
        ray.shutdown()
    return {"startup_s": startup, "seconds": r.seconds, "rows_per_s": r.rows_per_second}


def run_fit(train: Path, evalset: Path, workers: int, lr: float | None) -> dict[str, float]:
    """One `transferkit fit` (workers 0: the local engine) in a fresh process, 1 torch
    thread per process (Ray sets the same in its workers)."""
    engine = ["--engine", "ray", "--workers", str(workers)] if workers else []
    engine += ["--lr", str(lr)] if lr is not None else []
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable, "-c", "from transferkit.cli import main; main()", "fit", str(train),
            "--eval", str(evalset), "--base", "minilm-l6", "--strategy", "full", "--epochs", "1",
            "--device", "cpu", *engine, "--out", f"{tmp}/m", "--json", "--no-progress",
        ]  # fmt: skip
        env = os.environ | {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        t0 = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env).stdout
        wall = time.perf_counter() - t0
        hp = json.loads(Path(f"{tmp}/m/transferkit.json").read_text())["hyperparameters"]
    res = json.loads(out.strip().splitlines()[-1])
    return {
        "wall_s": wall,
        "train_s": res["train_seconds"],
        "accuracy": res["eval"]["accuracy"],
        "macro_f1": res["eval"]["macro_f1"],
        "n_eval": res["eval"]["n"],
        "lr": hp["lr"],
        "batch_size": hp["batch_size"],
        "effective_batch": hp["batch_size"] * max(workers, 1),
    }


def fits(rows: int, tmp: Path, runs: str, lr: float | None) -> dict[str, dict[str, float]]:
    """Local (0) vs 1 vs 2 Ray Train workers (`runs`): `rows` rows of sst2 train (seed 0),
    full fine-tune of minilm-l6, 1 epoch, scored on sst2 dev; `lr` None: the plan's."""
    tr = pd.read_csv(DATA / "train.csv").sample(rows, random_state=0)
    tr.to_csv(tmp / "train.csv", index=False)
    result = {}
    for w in map(int, runs.split(",")):
        name = (f"fit_ray_{w}" if w else "fit_local") + (f"_lr{lr:g}" if lr else "")
        f = result[name] = run_fit(tmp / "train.csv", DATA / "dev.csv", w, lr)
        print(f"fit, {'local' if not w else f'ray {w} worker(s)'}: accuracy {f['accuracy']:.4f} "
              f"(n={f['n_eval']}), effective batch {f['effective_batch']}, lr {f['lr']:g}; "
              f"{f['wall_s']:.0f} s wall, train {f['train_s']:.0f} s")  # fmt: skip
    return result


def arithmetic(per_worker: float, nodes: list[int], cores: int) -> list[dict[str, float]]:
    """100M rows: compute time at `per_worker` rows/s per core, and the I/O floor at an
    assumed 200 MB/s per node of object-store read + write (sst2-like rows: ~110 B in,
    ~40 B out)."""
    rows, bytes_per_row, io_bps = 1e8, 150, 200e6
    out = []
    for n in nodes:
        compute = rows / (per_worker * cores * n)
        io = rows * bytes_per_row / (io_bps * n)
        out.append({"nodes": n, "cores": cores * n, "compute_h": compute / 3600, "io_h": io / 3600})
    return out


def predict_part(df: pd.DataFrame, a: argparse.Namespace, result: dict, tmp: Path) -> None:
    texts = df["text"].tolist()
    result["single"] = single = single_process(texts, a.device)
    print(f"single process ({a.threads} thread): {single['rows_per_s']:.1f} rows/s "
          f"({single['seconds']:.1f} s; model load {single['load_s']:.1f} s)")  # fmt: skip
    rows = tmp / "rows.csv"
    df.to_csv(rows, index=False)
    for w in [int(x) for x in a.workers.split(",")]:
        r = on_ray(rows, w, a.device)
        result[f"ray_{w}"] = r
        print(f"ray, {w} worker(s): {r['rows_per_s']:.1f} rows/s ({r['seconds']:.1f} s job, "
              f"ray.init {r['startup_s']:.1f} s)")  # fmt: skip
    best = max(result[f"ray_{w}"]["rows_per_s"] / w for w in map(int, a.workers.split(",")))
    result["arithmetic"] = arithmetic(best, [1, 10, 100], 16)
    for row in result["arithmetic"]:
        print(f"100M rows on {row['nodes']} x 16 cores: compute {row['compute_h']:.1f} h, "
              f"I/O floor {row['io_h']:.2f} h")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1821)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1, help="torch threads, single process")
    ap.add_argument("--fit-rows", type=int, default=0)
    ap.add_argument("--fit-runs", default="0,1,2", help="0: local fit; N: N Ray workers")
    ap.add_argument("--fit-lr", type=float, default=None, help="default: the plan's rate")
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    import torch

    torch.set_num_threads(a.threads)
    df = pd.read_csv(DATA / "test.csv").iloc[: a.rows]
    texts = df["text"].tolist()
    result: dict[str, object] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
        "uptime_before": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
        "rows": len(texts),
        "device": a.device,
    }
    with tempfile.TemporaryDirectory() as tmp:
        if a.rows:
            predict_part(df, a, result, Path(tmp))
        if a.fit_rows:
            result.update(fits(a.fit_rows, Path(tmp), a.fit_runs, a.fit_lr))
    result["uptime_after"] = subprocess.run(
        ["uptime"], capture_output=True, text=True
    ).stdout.strip()
    print(result["uptime_before"], "|", result["uptime_after"])
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
