"""Load-test a running `transferkit serve` from a second process, on loopback only.

Bounded in count and time: at most --requests requests and --duration seconds, from
--concurrency concurrent clients, each request carrying --batch sentences from sst2 test
(or built-in sentences). Reports throughput, latency percentiles and errors.

    transferkit serve sentiment-analysis --port 8000 &
    python benchmarks/load_test.py --url http://127.0.0.1:8000 --concurrency 8 --requests 400
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import os
import socket
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

SST2_TEST = (
    Path(__file__).resolve().parents[1].parent / "shared" / "data" / "text" / "sst2" / "test.csv"
)
FALLBACK = [
    "a gripping, beautifully acted film",
    "dull and far too long",
    "it is fine",
    "a delight",
]


def require_loopback(url: str) -> None:
    """Refuse anything but a loopback address: this tool must never load another host."""
    host = urlparse(url).hostname or ""
    try:
        addrs = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except socket.gaierror:
        raise SystemExit(f"cannot resolve {host!r}; use http://127.0.0.1:PORT") from None
    if not addrs or not all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addrs):
        raise SystemExit(
            f"{url} is not a loopback address ({', '.join(sorted(addrs))}); "
            "load tests run against 127.0.0.1 only"
        )


def load_texts() -> list[str]:
    if SST2_TEST.is_file():
        import pandas as pd

        return pd.read_csv(SST2_TEST)["text"].astype(str).tolist()
    return FALLBACK


async def run(
    url: str, concurrency: int, requests: int, duration: float, batch: int, token: str | None
) -> dict:
    import httpx

    texts = load_texts()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    latencies: list[float] = []
    errors: dict[str, int] = {}
    sent = 0
    deadline = time.perf_counter() + duration

    async def client(worker: int, http: httpx.AsyncClient) -> None:
        nonlocal sent
        while sent < requests and time.perf_counter() < deadline:
            i = sent
            sent += 1
            items = [texts[(i * batch + j) % len(texts)] for j in range(batch)]
            body = {"inputs": items[0] if batch == 1 else items}
            t0 = time.perf_counter()
            try:
                r = await http.post(f"{url}/predict", json=body, headers=headers)
                ok = r.status_code == 200
                key = f"HTTP {r.status_code}"
                if ok:
                    out = r.json()
                    ok = isinstance(out, dict) if batch == 1 else len(out) == batch
                    key = "bad answer shape"
            except httpx.HTTPError as e:
                ok, key = False, type(e).__name__
            latencies.append(time.perf_counter() - t0)
            if not ok:
                errors[key] = errors.get(key, 0) + 1

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=60.0, limits=limits) as http:
        t0 = time.perf_counter()
        await asyncio.gather(*[client(w, http) for w in range(concurrency)])
        wall = time.perf_counter() - t0
        metrics = {}
        try:
            metrics = (await http.get(f"{url}/metrics", headers=headers)).json()
        except (httpx.HTTPError, ValueError):
            pass
    ms = np.asarray(latencies) * 1000
    return {
        "url": url,
        "concurrency": concurrency,
        "batch": batch,
        "requests": len(latencies),
        "sentences": len(latencies) * batch,
        "seconds": round(wall, 2),
        "requests_per_s": round(len(latencies) / wall, 1),
        "sentences_per_s": round(len(latencies) * batch / wall, 1),
        "latency_ms": {
            p: round(float(np.percentile(ms, q)), 1)
            for p, q in (("p50", 50), ("p90", 90), ("p99", 99), ("max", 100))
        }
        if len(ms)
        else {},
        "errors": sum(errors.values()),
        "errors_by_kind": errors,
        "server_mean_batch_items": metrics.get("mean_batch_items"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="load-test a transferkit server on loopback")
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--requests", type=int, default=400, help="at most this many requests")
    parser.add_argument(
        "--duration", type=float, default=60.0, help="and at most this many seconds"
    )
    parser.add_argument("--batch", type=int, default=1, help="sentences per request")
    parser.add_argument("--token", default=os.environ.get("TRANSFERKIT_TOKEN"))
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args()
    if not (
        1 <= args.concurrency <= 256 and 1 <= args.requests <= 100_000 and 0 < args.duration <= 3600
    ):
        raise SystemExit(
            "keep --concurrency in 1..256, --requests in 1..100000, --duration in (0, 3600]"
        )
    url = args.url.rstrip("/")
    require_loopback(url)
    report = asyncio.run(
        run(url, args.concurrency, args.requests, args.duration, args.batch, args.token)
    )
    if args.json:
        print(json.dumps(report))
    else:
        lat = report["latency_ms"]
        print(
            f"{report['requests']} requests ({report['sentences']} sentences) in {report['seconds']} s at "
            f"concurrency {args.concurrency}: {report['requests_per_s']} req/s, "
            f"{report['sentences_per_s']} sentences/s; latency ms p50 {lat.get('p50')} p90 {lat.get('p90')} "
            f"p99 {lat.get('p99')} max {lat.get('max')}; errors {report['errors']} {report['errors_by_kind']}; "
            f"server mean batch {report['server_mean_batch_items']} items"
        )
    sys.exit(1 if report["errors"] else 0)


if __name__ == "__main__":
    main()
