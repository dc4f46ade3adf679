"""Reaching the Hugging Face hub, failing fast and clearly when it cannot be reached.

The real loading code (`from_pretrained(hub_id)`) is kept; when the hub is unreachable we
only try the local cache, so the user gets one clear error in seconds instead of a
minute of retries and a traceback wall.
"""

from __future__ import annotations

import os
import re
import socket
from functools import lru_cache
from urllib.parse import urlparse

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*(/[\w.\-]+)?$")


def looks_like_hub_id(ref: str) -> bool:
    """'org/name' or 'name' made of hub-legal characters, and not an existing path."""
    return bool(_HUB_ID.match(ref)) and not os.path.exists(ref) and ".." not in ref


@lru_cache(maxsize=1)
def hub_reachable(timeout: float = 3.0) -> bool:
    """True when the hub endpoint answers a TCP connect within `timeout` seconds."""
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
        return False
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    parsed = urlparse(endpoint)
    host = parsed.hostname or "huggingface.co"
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def from_pretrained_kwargs() -> dict[str, bool]:
    """`local_files_only=True` when the hub is unreachable (use the cache, fail fast)."""
    return {} if hub_reachable() else {"local_files_only": True}
