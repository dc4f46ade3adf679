"""The ONNX fast path of `pipeline(..., runtime="onnx" | "onnx-int8")`: export once into
the cache, then reuse.

The cache key covers what the export depends on: the resolved model (zoo name and its
weights package version, or a folder's path and file times), the precision, and the
versions of transferkit, torch, transformers and onnxruntime. Folders live under
`$TRANSFERKIT_CACHE/onnx/` (default `~/.cache/transferkit/onnx/`); delete it to rebuild.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from transferkit.core.cache import cache_root
from transferkit.errors import InputError

logger = logging.getLogger(__name__)

RUNTIMES = ("torch", "onnx", "onnx-int8")


def _fingerprint(spec: dict[str, Any]) -> dict[str, Any]:
    """What identifies the weights behind `spec` without reading them all."""
    from importlib import metadata

    if spec["kind"] == "zoo":
        from transferkit.zoo.registry import get_card

        card = get_card(spec["name"])
        try:
            pkg = metadata.version(card.package)
        except metadata.PackageNotFoundError:
            pkg = None
        return {"zoo": card.name, "package": card.package, "package_version": pkg}
    path = Path(spec.get("path") or spec.get("id", ""))
    files = sorted(p for p in path.glob("*") if p.is_file()) if path.is_dir() else []
    return {
        "path": str(path),
        "files": [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files],
    }


def cached_export(ref: str | os.PathLike[str], runtime: str) -> Path:
    """The exported folder for model reference `ref` at `runtime` ("onnx" fp32 or
    "onnx-int8"), exporting it into the cache on first use."""
    if runtime not in RUNTIMES[1:]:
        raise InputError(f"runtime={runtime!r}; use one of {', '.join(RUNTIMES)}")
    from transferkit.export.onnx import export_onnx
    from transferkit.models.factory import resolve
    from transferkit.models.io import versions

    spec = resolve(ref)
    if spec["kind"] == "onnx":
        return Path(spec["path"])
    import onnxruntime

    key = {
        "spec": spec,
        "weights": _fingerprint(spec),
        "runtime": runtime,
        "versions": {**versions(), "onnxruntime": onnxruntime.__version__},
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]
    name = spec.get("name") or Path(spec.get("path") or spec.get("id", "model")).name
    folder = cache_root() / "onnx" / f"{name}-{runtime}-{digest}"
    if not (folder / "model.onnx").is_file():
        logger.info("exporting %s to %s (once; cached)", ref, folder)
        export_onnx(ref, folder, int8=runtime == "onnx-int8")
    return folder
