"""Starting or joining Ray, once, with usage reporting off."""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Iterator
from typing import Any

logger = logging.getLogger(__name__)


def import_ray() -> Any:
    """`ray`, with usage reporting off by default; MissingExtraError naming the extra."""
    from transferkit.errors import require_extra

    require_extra("ray", "ray")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no network call home
    import ray

    return ray


@contextlib.contextmanager
def ray_session(workers: int, address: str | None = None) -> Iterator[Any]:
    """Ray, ready: joins `address` when given; else a local Ray with `workers` CPUs. A Ray
    already initialised in this process (a test session, a notebook) is used as it is.
    What this call started, it shuts down."""
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    if address is not None:
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
    else:
        ray.init(
            num_cpus=workers,
            include_dashboard=False,
            logging_level=logging.WARNING,
            log_to_driver=False,
        )
    try:
        yield ray
    finally:
        ray.shutdown()


def one_line(error: Exception) -> str:
    """The user-level exception a (Ray task) error reports, as "Name: message": the last
    such line of its text that is not one of Ray's wrappers; else its first line."""
    found = re.findall(r"^\s*([\w.]*(?:Error|Exception)): (.+)$", str(error), re.MULTILINE)
    ours = [f"{n.rsplit('.', 1)[-1]}: {m.strip()}" for n, m in found if not _ray_wrapper(n)]
    if ours:
        return ours[-1]
    lines = [x.strip() for x in str(error).splitlines() if x.strip()]
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


def _ray_wrapper(name: str) -> bool:
    return name.rsplit(".", 1)[-1] in ("RayTaskError", "UserCodeException", "RayError")
