"""Damaged or foreign model files: one clear error per case, before anything is run.

- `file_sha256` / `record_checksums`: the SHA-256 of every weight file, written into the
  folder's JSON when a model is saved, exported or checkpointed.
- `verify_checksums`: checked on load; a changed, truncated or missing file names
  itself and the fix (re-save, re-export, or start the fit over).
- `read_safetensors`: safetensors' own errors (truncated header, bad JSON) as one line.
- `refuse_pickle_weights`: a folder whose weights are only pickles (``pytorch_model.bin``,
  ``*.pt``) is refused up front; nothing a user hands over is unpickled.

>>> # cfg["checksums"] = record_checksums(folder, ["model.safetensors"])
>>> # verify_checksums(folder, cfg, fix="re-save the model")
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from transferkit.errors import ModelNotFoundError

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")


class DamagedModelError(ModelNotFoundError):
    """A model file is missing, truncated, changed after saving, or not what it claims."""


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def record_checksums(folder: str | os.PathLike[str], names: Iterable[str]) -> dict[str, str]:
    """{file name: SHA-256} for the files `names` inside `folder` (for the folder's JSON)."""
    return {n: file_sha256(Path(folder) / n) for n in names}


def verify_checksums(folder: str | os.PathLike[str], config: dict[str, Any], fix: str) -> None:
    """Check every file listed in ``config["checksums"]`` (folders saved before checksums
    were recorded have none, and pass). `fix` is what the user should do when one fails."""
    sums = config.get("checksums") or {}
    if not isinstance(sums, dict):
        raise DamagedModelError(f"{folder}: 'checksums' in its JSON is not an object; {fix}")
    for name, want in sums.items():
        path = Path(folder) / str(name)
        if not path.is_file():
            raise DamagedModelError(f"{path} is missing (the folder's JSON lists it); {fix}")
        if file_sha256(path) != want:
            raise DamagedModelError(
                f"{path} is damaged or was changed after saving: its SHA-256 does not match "
                f"the one recorded in the folder's JSON ({path.stat().st_size:,} bytes now); "
                f"{fix}"
            )


def read_safetensors(path: str | os.PathLike[str], fix: str) -> dict[str, Any]:
    """Load a safetensors file; a damaged one raises DamagedModelError naming it."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise DamagedModelError(
            f"{path} is not a readable safetensors file ({str(e).splitlines()[0][:120]}); {fix}"
        ) from None


def refuse_pickle_weights(folder: str | os.PathLike[str]) -> None:
    """Refuse a Hugging Face folder whose weights are only pickles: loading them would
    run code from the file. Safetensors weights beside them are fine (those are used)."""
    p = Path(folder)
    if any(p.glob("*.safetensors")):
        return
    pickles = sorted(f.name for f in p.iterdir() if f.suffix.lower() in PICKLE_SUFFIXES)
    if pickles:
        raise DamagedModelError(
            f"{str(p)!r} holds weights only as pickle files ({', '.join(pickles[:3])}); "
            "transferkit loads safetensors only and never unpickles a file it is handed. "
            "Convert the folder where you trust its origin: "
            "AutoModel.from_pretrained(folder).save_pretrained(folder, safe_serialization=True)"
        )
