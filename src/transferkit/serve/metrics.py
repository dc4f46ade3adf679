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


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def prometheus_text(payload: dict[str, Any]) -> str:
    """The `/metrics` JSON payload in the Prometheus text exposition format (0.0.4)."""
    lines = [
        "# HELP transferkit_uptime_seconds Seconds since the server started.",
        "# TYPE transferkit_uptime_seconds gauge",
        f"transferkit_uptime_seconds {payload['uptime_s']}",
        "# HELP transferkit_requests_total Requests answered, by route and status.",
        "# TYPE transferkit_requests_total counter",
    ]
    routes = payload.get("routes", {})
    for path, r in routes.items():
        for status, n in r["by_status"].items():
            lines.append(
                f'transferkit_requests_total{{route="{_label(path)}",status="{status}"}} {n}'
            )
    lines += [
        "# HELP transferkit_server_errors_total Responses with a 5xx status.",
        "# TYPE transferkit_server_errors_total counter",
        f"transferkit_server_errors_total {payload['server_errors']}",
        "# HELP transferkit_latency_ms Request latency percentiles over the recent window.",
        "# TYPE transferkit_latency_ms gauge",
    ]
    for path, r in routes.items():
        for q, v in (r.get("latency_ms") or {}).items():
            if q != "window":
                lines.append(f'transferkit_latency_ms{{route="{_label(path)}",q="{q}"}} {v}')
    lines += [
        "# HELP transferkit_batches_total Model calls made by the micro-batcher.",
        "# TYPE transferkit_batches_total counter",
        f"transferkit_batches_total {payload.get('batches', 0)}",
        "# HELP transferkit_items_total Inputs run through the model.",
        "# TYPE transferkit_items_total counter",
        f"transferkit_items_total {payload.get('items', 0)}",
    ]
    return "\n".join(lines) + "\n"
