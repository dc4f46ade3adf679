"""Frozen features computed once and kept on disk.

Keyed by the model's identity and the data's fingerprint, so a second `fit` (or
`evaluate`) on the same data and the same frozen body does not re-encode. Stored as
safetensors under `$TRANSFERKIT_CACHE/features/` (default `~/.cache/transferkit`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)


def cache_root() -> Path:
    env = os.environ.get("TRANSFERKIT_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "transferkit"


def model_identity(model: Any) -> str:
    """A string that changes when the frozen body would give other features: the base
    spec, the saved folder's tensors (a LoRA adapter or body) and the preprocessing."""
    backbone = getattr(model, "backbone", model)
    parts: dict[str, Any] = {"spec": backbone.spec}
    cfg = getattr(model, "config", None) or {}
    if cfg.get("lora") or cfg.get("body"):
        parts["saved"] = [cfg.get("created"), cfg.get("tensors")]
    parts["max_length"] = getattr(backbone, "max_length", None)
    transform = getattr(backbone, "transform", None)
    if transform is not None:
        parts["transform"] = transform.to_dict()
    return json.dumps(parts, sort_keys=True, default=str)


def cache_key(identity: str, fingerprint: str, extra: str = "") -> str:
    return hashlib.sha256(f"{identity}\n{fingerprint}\n{extra}".encode()).hexdigest()[:40]


def load_features(key: str) -> np.ndarray | None:
    path = cache_root() / "features" / f"{key}.safetensors"
    if not path.is_file():
        return None
    from safetensors.numpy import load_file

    try:
        return load_file(str(path))["features"]
    except Exception as e:  # a damaged cache entry is recomputed, never trusted
        logger.warning("ignoring damaged feature cache %s (%s)", path, e)
        return None


def save_features(key: str, features: np.ndarray) -> Path:
    from safetensors.numpy import save_file

    folder = cache_root() / "features"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{key}.safetensors"
    tmp = folder / f".{key}.{os.getpid()}.tmp"
    save_file({"features": np.ascontiguousarray(features, dtype=np.float32)}, str(tmp))
    os.replace(tmp, path)  # atomic: a reader never sees half a file
    return path


def encode(
    model: Any,
    items: list[Any],
    *,
    fingerprint: str | None = None,
    progress: bool = False,
    batch_size: int = 64,
    flip: bool = False,
) -> tuple[np.ndarray, bool]:
    """Features (n, embedding_dim) of `items` through the frozen body, and whether they
    came from the cache. `fingerprint=None` skips the cache. `flip`: images mirrored."""
    key = None
    if fingerprint is not None:
        key = cache_key(model_identity(model), fingerprint, "flip" if flip else "")
        hit = load_features(key)
        if hit is not None and len(hit) == len(items):
            return hit, True
    feats = _encode(model, items, progress=progress, batch_size=batch_size, flip=flip)
    if key is not None:
        save_features(key, feats)
    return feats, False


def _encode(
    model: Any, items: list[Any], *, progress: bool, batch_size: int, flip: bool
) -> np.ndarray:
    import torch

    from transferkit.utils.progress import progress_bar

    backbone = getattr(model, "backbone", model)
    was_training = backbone.training
    backbone.eval()
    order = sorted(
        range(len(items)), key=lambda i: -len(items[i]) if isinstance(items[i], str) else 0
    )
    out = np.zeros((len(items), backbone.embedding_dim), dtype=np.float32)
    with torch.inference_mode(), progress_bar(len(items), "encoding", enabled=progress) as bar:
        for s in range(0, len(order), batch_size):
            idx = order[s : s + batch_size]
            batch = backbone.preprocess([items[i] for i in idx])
            if flip:
                batch["pixel_values"] = batch["pixel_values"].flip(-1)  # (b, 3, h, w) mirrored
            out[idx] = backbone(batch).float().numpy()
            bar.advance(len(idx))
    backbone.train(was_training)
    return out
