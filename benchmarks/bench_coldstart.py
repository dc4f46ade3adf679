"""Cold start: each command as a NEW process, N times; min / median / max wall seconds.

Rows (all with a warm disk cache: one untimed run of each first):

- `import transferkit` (python -c), and `python -X importtime -c "import transferkit"`'s
  cumulative microseconds for the package;
- `transferkit --help`;
- `transferkit predict sentiment-analysis "..."`: the fast start (the cached ONNX copy on
  onnxruntime, no torch) and, in the same run, TRANSFERKIT_FAST_START=0 (torch), so the
  two are compared under the same load;
- `transferkit serve sentiment-analysis`: seconds from the process start until GET /health answers (torch
  runtime, and --runtime onnx).

Also prints each row's CPU seconds (user + sys of the child), which load from other
processes changes far less than wall time. Writes JSON with --json.

    python benchmarks/bench_coldstart.py [--runs 5] [--json benchmarks/results/coldstart.json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SENTENCE = "a gorgeous, witty film"


def _cli() -> list[str]:
    exe = shutil.which("transferkit")
    return [exe] if exe else [sys.executable, "-c", "from transferkit.cli import main; main()"]


def _child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def time_command(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds, stdout) of one run of `cmd` as a new process."""
    c0, t0 = _child_cpu(), time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return wall, _child_cpu() - c0, done.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def time_serve(
    extra: list[str], env: dict[str, str], timeout: float = 600.0
) -> tuple[float, float]:
    """Seconds from starting `transferkit serve` until /health answers 200; CPU unknown (nan)."""
    port = _free_port()
    cmd = [*_cli(), "serve", "sentiment-analysis", "--port", str(port), *extra]
    log = tempfile.TemporaryFile()  # not a pipe: an unread pipe can block the server
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log)
    try:
        while time.perf_counter() - t0 < timeout:
            if proc.poll() is not None:
                log.seek(0)
                raise SystemExit(f"serve exited early: {log.read().decode()[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                    if r.status == 200:
                        return time.perf_counter() - t0, float("nan")
            except OSError:
                time.sleep(0.05)
        raise SystemExit(f"serve did not answer /health within {timeout} s")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def importtime_us(env: dict[str, str]) -> int:
    """Cumulative microseconds of `import transferkit` as -X importtime reports it."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import transferkit"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    for line in done.stderr.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) == 3 and parts[2] == "transferkit":
            return int(parts[1])
    raise SystemExit("no transferkit line in -X importtime output")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-serve", action="store_true", help="skip the serve rows")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    env = dict(os.environ)
    cache = Path(tempfile.mkdtemp(prefix="tk-coldstart-"))
    env["TRANSFERKIT_CACHE"] = str(cache)  # a cache of our own: the fast-start copy below
    torch_env = {**env, "TRANSFERKIT_FAST_START": "0"}
    predict = [*_cli(), "predict", "sentiment-analysis", SENTENCE]
    rows: dict[str, tuple[list[str] | None, dict[str, str], list[str] | None]] = {
        "import transferkit": ([sys.executable, "-c", "import transferkit"], env, None),
        "transferkit --help": ([*_cli(), "--help"], env, None),
        "predict (fast start: ONNX copy, no torch)": (predict, env, None),
        "predict (TRANSFERKIT_FAST_START=0: torch)": (predict, torch_env, None),
    }
    if not args.no_serve:
        rows["serve until /health (torch)"] = (None, env, [])
        rows["serve until /health (--runtime onnx)"] = (None, env, ["--runtime", "onnx"])
    # untimed first runs: warm the disk cache and write the fast-start copy (once)
    subprocess.run(predict, env=env, capture_output=True, check=True)
    for cmd, e, serve in rows.values():
        if cmd is not None:
            time_command(cmd, e)
        else:
            time_serve(serve or [], e)
    walls: dict[str, list[float]] = {k: [] for k in rows}
    cpus: dict[str, list[float]] = {k: [] for k in rows}
    answers: dict[str, str] = {}
    for _ in range(args.runs):  # interleaved: load changes hit every row alike
        for name, (cmd, e, serve) in rows.items():
            if cmd is not None:
                w, c, out = time_command(cmd, e)
                answers[name] = out
            else:
                w, c = time_serve(serve or [], e)
            walls[name].append(w)
            cpus[name].append(c)
    imp_us = importtime_us(env)
    load = os.getloadavg()
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "load_at_end": [round(x, 2) for x in load],
        "runs": args.runs,
        "import_transferkit_importtime_us": imp_us,
        "rows": [
            {
                "command": name,
                "wall_s": {
                    "min": round(min(walls[name]), 3),
                    "median": round(statistics.median(walls[name]), 3),
                    "max": round(max(walls[name]), 3),
                },
                # serve runs until stopped: its CPU seconds are not measured (None)
                "cpu_s_median": None
                if any(math.isnan(c) for c in cpus[name])
                else round(statistics.median(cpus[name]), 3),
            }
            for name in rows
        ],
    }
    print(
        f"\ncold start, {args.runs} new processes each (interleaved), warm disk cache; "
        f"{result['machine']}; load {load[0]:.2f}; {result['date']}"
    )
    print("| command | min s | median s | max s | CPU s (median) |")
    print("|---|---:|---:|---:|---:|")
    for r in result["rows"]:
        w = r["wall_s"]
        print(
            f"| {r['command']} | {w['min']:.2f} | {w['median']:.2f} | {w['max']:.2f} | "
            f"{'-' if r['cpu_s_median'] is None else format(r['cpu_s_median'], '.2f')} |"
        )
    print(
        f"`python -X importtime -c 'import transferkit'`: transferkit cumulative {imp_us / 1000:.1f} ms"
    )
    same = answers.get(list(rows)[2], "").split() == answers.get(list(rows)[3], "").split()
    print(f"fast-start and torch answers identical as printed: {same}")
    result["fast_and_torch_print_the_same"] = same
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2, allow_nan=False) + "\n")
    shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
