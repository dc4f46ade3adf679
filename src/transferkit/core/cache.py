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

# Part of every key. 2: before it, a new head on a tuned body (LoRA or body weights) was
# keyed as its plain base, so entries written then may hold another body's features.
CACHE_FORMAT = 2


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
    elif getattr(backbone, "tuned_identity", None) is not None:
        # a tuned body under a new head (fit on a folder or zoo classifier whose head
        # does not fit): the same identity as the classifier it came from
        parts["saved"] = backbone.tuned_identity
    parts["max_length"] = getattr(backbone, "max_length", None)
    transform = getattr(backbone, "transform", None)
    if transform is not None:
        parts["transform"] = transform.to_dict()
    return json.dumps(parts, sort_keys=True, default=str)


def cache_key(identity: str, fingerprint: str, extra: str = "") -> str:
    text = f"{identity}\n{fingerprint}\n{extra}\nformat {CACHE_FORMAT}"
    return hashlib.sha256(text.encode()).hexdigest()[:40]


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
    from transferkit.core.inference import encode_features

    feats = encode_features(model, items, progress=progress, batch_size=batch_size, flip=flip)
    if key is not None:
        save_features(key, feats)
    return feats, False


def rank_cut_key(identity: str, fingerprint: str, what: Any, batch_size: int) -> str:
    """The cache key of what `rank` stores per candidate: the features at a cut (`what`
    = the cut, None for the whole body), the source head's probabilities ("probs") or
    the cost stats of the encoding pass ("stats")."""
    return cache_key(identity, fingerprint, f"rank-cut-{what}-b{batch_size}")


def cached_cut_features(
    backbone: Any, data: Any, *, batch_size: int = 32, source: Any = None
) -> np.ndarray | None:
    """The features `rank` cached for `backbone` on exactly `data` (same examples, same
    order), or None. `backbone` is a body as `fit` loads it: for a cut point (spec
    ``"cut": k``) the truncated body computes what rank read off the whole body at cut k
    (the same layers, pooled the same way), so its features are rank's entry for k.
    Bodies loaded plainly from a reference qualify; a whole classifier's body (a LoRA
    adapter, tuned weights) only through `source`, the classifier rank keyed it by."""
    from types import SimpleNamespace

    if not all(isinstance(x, str) for x in data.items):
        return None  # rank caches only data it can fingerprint as strings (texts, paths)
    if source is None and hasattr(getattr(backbone, "model", None), "peft_config"):
        return None  # an adapter of unknown provenance: no entry of rank's is its own
    whole: Any = SimpleNamespace(  # the identity rank keyed its entries by: the whole body's
        spec={k: v for k, v in backbone.spec.items() if k != "cut"},
        max_length=getattr(backbone, "max_length", None),
        transform=getattr(backbone, "transform", None),
        tuned_identity=getattr(backbone, "tuned_identity", None),
    )
    if source is not None:  # rank keys a classifier's cuts by the classifier (its tuning)
        whole = SimpleNamespace(backbone=whole, config=getattr(source, "config", None))
    key = rank_cut_key(
        model_identity(whole), data.fingerprint(), backbone.spec.get("cut"), batch_size
    )
    feats = load_features(key)
    return feats if feats is not None and len(feats) == len(data) else None
