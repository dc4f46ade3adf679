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


def _files(path: Path) -> list[tuple[str, int, int]]:
    files = sorted(p for p in path.glob("*") if p.is_file()) if path.is_dir() else []
    return [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files]


def _light_key(ref: str | os.PathLike[str], runtime: str) -> dict[str, Any] | None:
    """The cache key for a zoo name, a task's default model or a local folder, computed
    without importing torch (`cache_folder` must be cheap: `predict` asks before it decides
    whether torch is needed at all); None for anything else (hub ids, cuts, ONNX folders)."""
    from importlib import metadata, resources

    from transferkit.zoo.registry import DEFAULT_MODELS, REGISTRY

    def version(pkg: str) -> str | None:
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return None

    s = os.fspath(ref)
    key: dict[str, Any]
    if os.path.isdir(s):
        path = Path(s).resolve()
        cfg = path / "transferkit.json"
        if cfg.is_file() and '"transferkit-onnx"' in cfg.read_text():
            return None
        key = {"path": str(path), "files": _files(path)}
    elif s in DEFAULT_MODELS or s in REGISTRY:
        card = REGISTRY[DEFAULT_MODELS.get(s, s)]
        base = REGISTRY.get(card.base or "")
        asset = Path(str(resources.files("transferkit") / "assets" / card.name))
        key = {
            "zoo": card.name,
            "packages": {c.package: version(c.package) for c in (card, base) if c is not None},
            "asset": _files(asset),
        }
    else:
        return None
    pkgs = ("transferkit", "torch", "transformers", "onnx", "onnxruntime")
    key["runtime"] = runtime
    key["versions"] = {p: version(p) for p in pkgs}
    return key


def cache_folder(ref: str | os.PathLike[str], runtime: str) -> Path | None:
    """Where `cached_export(ref, runtime)` keeps its folder, found without importing
    torch; None when `ref` is not a zoo name, task or local folder (see `_light_key`)."""
    key = _light_key(ref, runtime)
    if key is None:
        return None
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    name = key.get("zoo") or Path(key.get("path", "model")).name
    return cache_root() / "onnx" / f"{name}-{runtime}-{digest}"


def find_cached(ref: str | os.PathLike[str], runtime: str = "onnx") -> Path | None:
    """The cached export of `ref` when it is already there (nothing is built), else None."""
    folder = cache_folder(ref, runtime)
    if folder is not None and (folder / "model.onnx").is_file():
        return folder
    return None


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
    folder = cache_folder(ref, runtime)
    if folder is None:  # a hub id or a cut: keyed by the resolved spec
        import onnxruntime

        key = {
            "spec": spec,
            "weights": _fingerprint(spec),
            "runtime": runtime,
            "versions": {**versions(), "onnxruntime": onnxruntime.__version__},
        }
        blob = json.dumps(key, sort_keys=True, default=str).encode()
        digest = hashlib.sha256(blob).hexdigest()[:16]
        name = spec.get("name") or Path(spec.get("path") or spec.get("id", "model")).name
        folder = cache_root() / "onnx" / f"{name}-{runtime}-{digest}"
    if not (folder / "model.onnx").is_file():
        logger.info("exporting %s to %s (once; cached)", ref, folder)
        export_onnx(ref, folder, int8=runtime == "onnx-int8")
    return folder
