"""Request counters and latency percentiles for `GET /metrics` (in memory, bounded)."""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from typing import Any

import numpy as np


class Metrics:
    """Counts requests by route and status; keeps the last `window` latencies per route."""

    def __init__(self, window: int = 10_000) -> None:
        self.started = time.time()
        self.counts: Counter[tuple[str, int]] = Counter()
        self.latency: dict[str, deque[float]] = {}
        self.window = window
        self._lock = threading.Lock()

    def record(self, path: str, status: int, seconds: float) -> None:
        # Unknown paths are pooled so a scanner cannot grow the table without bound.
        key = (
            path
            if path in ("/predict", "/health", "/models", "/metrics", "/", "/docs", "/openapi.json")
            else "other"
        )
        with self._lock:
            self.counts[(key, status)] += 1
            self.latency.setdefault(key, deque(maxlen=self.window)).append(seconds)

    def summary(self) -> dict[str, Any]:
        with self._lock:
            routes: dict[str, Any] = {}
            for (path, status), n in sorted(self.counts.items()):
                r = routes.setdefault(path, {"requests": 0, "by_status": {}})
                r["requests"] += n
                r["by_status"][str(status)] = n
            for path, lat in self.latency.items():
                ms = np.asarray(lat) * 1000
                routes[path]["latency_ms"] = {
                    "p50": round(float(np.percentile(ms, 50)), 2),
                    "p90": round(float(np.percentile(ms, 90)), 2),
                    "p99": round(float(np.percentile(ms, 99)), 2),
                    "max": round(float(ms.max()), 2),
                    "window": len(lat),
                }
            total = sum(self.counts.values())
            errors = sum(n for (_, s), n in self.counts.items() if s >= 500)
        return {
            "uptime_s": round(time.time() - self.started, 1),
            "requests": total,
            "server_errors": errors,
            "routes": routes,
        }
