"""Saving and loading transferkit model folders.

A folder holds `transferkit.json` (how the model was made: base, strategy, labels,
preprocessing, metrics, data fingerprint, versions) and `model.safetensors` with only
the tensors that differ from the base (a head; plus the body or a LoRA adapter when
those were trained). Nothing is pickled.

Saving is atomic: the folder is written beside the target and swapped in with renames,
so an interrupted save never leaves a half-written folder where a good model was.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from transferkit.errors import FileMissingError, InputError, ModelNotFoundError
from transferkit.models.safety import (
    DamagedModelError,
    read_safetensors,
    record_checksums,
    verify_checksums,
)

CONFIG_NAME = "transferkit.json"
WEIGHTS_NAME = "model.safetensors"
FORMAT_VERSION = 1


def is_transferkit_folder(path: str | os.PathLike[str]) -> bool:
    return (Path(path) / CONFIG_NAME).is_file()


def versions() -> dict[str, str]:
    import transformers

    import transferkit

    return {
        "transferkit": transferkit.__version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }


def portable(value: Any, folder: str | os.PathLike[str]) -> Any:
    """`value` (JSON-able) with every absolute path made relative to `folder`.

    A saved folder must not hold where it was made (a user name, a site-packages path):
    copied elsewhere with what it points to, it still resolves (`resolve_in`), and nothing
    about the machine that wrote it is recorded.
    """
    if isinstance(value, dict):
        return {k: portable(v, folder) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [portable(v, folder) for v in value]
    if isinstance(value, str) and value.startswith(os.sep) and os.path.isabs(value):
        return Path(os.path.relpath(value, Path(folder).resolve())).as_posix()
    return value


def resolve_in(spec: dict[str, Any], folder: str | os.PathLike[str]) -> dict[str, Any]:
    """A saved base spec with its relative "path" (see `portable`) resolved against `folder`."""
    path = spec.get("path")
    if not isinstance(path, str) or os.path.isabs(path):
        return spec
    return {**spec, "path": os.path.normpath(Path(folder).resolve() / path)}


def atomic_write_dir(target: str | os.PathLike[str], write: Callable[[Path], None]) -> Path:
    """Call `write(tmp_dir)` then swap `tmp_dir` into `target` (replacing it if present)."""
    target = Path(target).resolve()
    if target.exists() and not target.is_dir():
        raise InputError(f"{target} exists and is a file; choose a folder path for the model")
    if not target.parent.exists():
        target.parent.mkdir(parents=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        write(tmp)
        _make_readable(tmp)
        if target.exists():
            old = target.parent / f".{target.name}.old-{os.getpid()}-{int(time.time())}"
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _make_readable(folder: Path) -> None:
    # mkdtemp makes a 0700 folder; give the result the usual permissions (umask applies).
    umask = os.umask(0)
    os.umask(umask)
    folder.chmod(0o777 & ~umask)
    for f in folder.rglob("*"):
        f.chmod((0o777 if f.is_dir() else 0o666) & ~umask)


def save_folder(
    target: str | os.PathLike[str], config: dict[str, Any], tensors: dict[str, torch.Tensor]
) -> Path:
    """Atomically write `config` (JSON) and `tensors` (safetensors) into folder `target`."""
    from safetensors.torch import save_file

    config = {"format": "transferkit", "format_version": FORMAT_VERSION, **config}
    config.setdefault("versions", versions())
    config.setdefault("created", time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    config["tensors"] = sorted(tensors)
    config = portable(config, target)
    flat = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}

    def write(tmp: Path) -> None:
        save_file(flat, str(tmp / WEIGHTS_NAME))
        config["checksums"] = record_checksums(tmp, [WEIGHTS_NAME])
        (tmp / CONFIG_NAME).write_text(dumps_json(config) + "\n")

    return atomic_write_dir(target, write)


def dumps_json(config: dict[str, Any]) -> str:
    """Strict JSON for a folder's config: NaN/inf become null (never the non-JSON `NaN`);
    Paths and other objects as strings."""
    from transferkit.utils.checks import finite_json

    return json.dumps(finite_json(config), indent=2, default=str, allow_nan=False)


def read_folder(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Read a folder written by `save_folder`: (config, tensors). The weights must match
    the SHA-256 recorded at save time; a damaged file is one clear error naming it."""
    path = Path(path)
    if not path.exists():
        raise FileMissingError(f"model folder {str(path)!r} does not exist")
    cfg_path = path / CONFIG_NAME
    if not cfg_path.is_file():
        raise ModelNotFoundError(
            f"{str(path)!r} has no {CONFIG_NAME}: it is not a transferkit model folder "
            "(make one with `transferkit fit`)"
        )
    fix = "the folder is damaged: train or save the model again (transferkit fit ... --overwrite)"
    try:
        config = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DamagedModelError(f"{cfg_path} is not valid JSON ({e}); {fix}") from None
    if not isinstance(config, dict) or config.get("format") != "transferkit":
        raise ModelNotFoundError(f"{cfg_path} is not a transferkit model config")
    verify_checksums(path, config, fix)
    weights = path / WEIGHTS_NAME
    if not weights.is_file():
        raise DamagedModelError(f"{weights} is missing; {fix}")
    return config, read_safetensors(weights, fix)


def load_state_strict(module: nn.Module, tensors: dict[str, torch.Tensor], what: str) -> None:
    """Copy `tensors` into `module`; every tensor must match a parameter/buffer by name and
    shape. No silent fallbacks: a missing or extra key is an error."""
    own = module.state_dict()
    extra = sorted(set(tensors) - set(own))
    if extra:
        raise ModelNotFoundError(
            f"{what}: saved tensors {extra[:5]} do not exist in the model; "
            "the folder was made with another architecture"
        )
    for k, v in tensors.items():
        if own[k].shape != v.shape:
            raise ModelNotFoundError(
                f"{what}: tensor {k!r} has shape {tuple(v.shape)}, the model expects "
                f"{tuple(own[k].shape)}"
            )
    module.load_state_dict(tensors, strict=False)


def head_config(head: nn.Module) -> dict[str, Any]:
    """JSON description of a Classifier head (Linear, or Dropout + Linear)."""
    if isinstance(head, nn.Linear):
        return {"type": "linear", "in_features": head.in_features, "dropout": 0.0}
    if isinstance(head, nn.Sequential) and isinstance(head[-1], nn.Linear):
        drop = head[0].p if isinstance(head[0], nn.Dropout) else 0.0
        return {"type": "linear", "in_features": head[-1].in_features, "dropout": drop}
    raise InputError(f"cannot save head of type {type(head).__name__}; use nn.Linear")
