"""Where outputs may go: one safety check for every `--out` (fit, export, predict, compare).

A model folder may replace an existing folder only when that folder is empty, or is
itself a transferkit model folder and the caller passed ``--overwrite``. Never the
current directory, the home folder, the file-system root, a folder holding the data,
or the source model. Everything is checked before any work starts, writability
included, so a bad path fails in a second instead of after training.

>>> # target = check_out_dir("my-model", inputs=["train.csv"], overwrite=False)
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from transferkit.errors import InputError

MODEL_FORMATS = ("transferkit", "transferkit-onnx")
OVERWRITE_FLAG = "--overwrite / overwrite=True"


def is_model_folder(path: str | os.PathLike[str]) -> bool:
    """True when `path` is a folder written by transferkit (a model or an ONNX export)."""
    cfg = Path(path) / "transferkit.json"
    try:
        return json.loads(cfg.read_text(encoding="utf-8")).get("format") in MODEL_FORMATS
    except (OSError, ValueError, AttributeError):
        return False


def _paths(items: Iterable[Any]) -> list[Path]:
    """The existing file-system paths among `items` (strings / PathLikes), resolved."""
    out = []
    for x in items:
        if isinstance(x, str | os.PathLike) and str(x).strip():
            p = Path(os.path.expanduser(os.fspath(x)))
            if p.exists():
                out.append(p.resolve())
    return out


def _writable_anchor(target: Path) -> Path:
    """The nearest existing folder at or above `target` (where the first write happens)."""
    p = target
    while not p.exists():
        p = p.parent
    return p


def _check_writable(target: Path, flag: str) -> None:
    anchor = _writable_anchor(target)
    if anchor != target and not anchor.is_dir():
        raise InputError(
            f"{flag} {str(target)!r}: {str(anchor)!r} is a file, so no folder can be made "
            "below it; choose another path"
        )
    if not os.access(anchor, os.W_OK | os.X_OK):
        raise InputError(
            f"{flag} {str(target)!r}: {str(anchor)!r} is not writable by this user; choose a "
            "path you can write to"
        )


def _forbidden(target: Path, inputs: list[Path], sources: list[Path]) -> str | None:
    """Why `target` must never be replaced, or None."""
    if target == Path.cwd().resolve():
        return "it is the current directory"
    if target == Path.home().resolve():
        return "it is your home folder"
    if target.parent == target:
        return "it is the root of the file system"
    for src in sources:
        if target == src:
            return f"it is the source model {str(src)!r} itself"
        if target in src.parents:
            return f"it holds the source model {str(src)!r}"
    for inp in inputs:
        if target == inp:
            return f"it is the input {str(inp)!r}"
        if target in inp.parents:
            return f"it holds the input {str(inp)!r}"
    return None


def check_out_dir(
    out: str | os.PathLike[str],
    *,
    flag: str = "--out / out=",
    overwrite: bool = False,
    inputs: Iterable[Any] = (),
    sources: Iterable[Any] = (),
) -> Path:
    """Return the resolved folder a model may be written to, or raise InputError naming
    the path and the fix. `inputs`: data paths (files or folders) the run reads;
    `sources`: model folders it starts from. Nothing is created here."""
    if out is None or not str(out).strip():
        raise InputError(f"{flag}{out!r} is empty; give a folder path for the model")
    target = Path(os.path.expanduser(os.fspath(out))).resolve()
    # a base "folder@k" (a cut point) starts from that folder too
    sources = [re.sub(r"@\d+$", "", os.fspath(s)) if isinstance(s, str) else s for s in sources]
    why = _forbidden(target, _paths(inputs), _paths(sources))
    if why:
        raise InputError(
            f"{flag} {str(out)!r} would replace a folder transferkit did not make ({why}); "
            "choose a new folder name, e.g. --out my-model"
        )
    if target.exists():
        if not target.is_dir():
            raise InputError(
                f"{flag} {str(out)!r} is an existing file; choose a folder path for the model"
            )
        if is_model_folder(target):
            if not overwrite:
                raise InputError(
                    f"{flag} {str(out)!r} already holds a transferkit model; pass "
                    f"{OVERWRITE_FLAG} to replace it, or choose a new folder name"
                )
        elif any(target.iterdir()):
            raise InputError(
                f"{flag} {str(out)!r} is a folder with files transferkit did not write; it is "
                "never replaced (not even with --overwrite). Choose a new or empty folder"
            )
    _check_checkpoint(target, flag)
    _check_writable(target, flag)
    return target


def _check_checkpoint(target: Path, flag: str) -> None:
    """`fit` keeps `<out>.checkpoint` beside the model (replaced every epoch, deleted at the
    end or by --fresh): a file or a foreign folder already there is refused too."""
    ckpt = target.parent / f"{target.name}.checkpoint"
    if not ckpt.exists() or (ckpt.is_dir() and (ckpt / "state.json").is_file()):
        return
    if ckpt.is_dir() and not any(ckpt.iterdir()):
        return
    raise InputError(
        f"{flag} {str(target)!r}: {str(ckpt)!r} exists and is not a transferkit checkpoint; "
        "fit keeps its checkpoint there, so choose another output name or move it"
    )


def check_out_file(
    out: str | os.PathLike[str],
    *,
    flag: str = "--out",
    inputs: Iterable[Any] = (),
    replace_existing: bool = True,
) -> Path:
    """Return the resolved file an output (predictions, report, JSON) may be written to:
    not a folder, not an input, in an existing writable folder; with
    `replace_existing=False`, not an existing file either (`--overwrite` allows it)."""
    target = Path(os.path.expanduser(os.fspath(out))).resolve()
    if target.is_dir():
        raise InputError(
            f"{flag} {str(out)!r} is a folder; give a file path such as "
            f"{str(Path(out) / 'out.csv')!r}"
        )
    for inp in _paths(inputs):
        if target == inp or (inp.is_dir() and inp in target.parents):
            raise InputError(
                f"{flag} {str(out)!r} would overwrite or write into the input {str(inp)!r}; "
                "choose another file name"
            )
    if target.exists() and not replace_existing:
        raise InputError(
            f"{flag} {str(out)!r} already exists; pass --overwrite to replace it, or choose "
            "another file name"
        )
    if not target.parent.is_dir():
        raise InputError(
            f"{flag} {str(out)!r}: the folder {str(target.parent)!r} does not exist; create it "
            "first or choose another path"
        )
    if not os.access(target.parent, os.W_OK | os.X_OK) or (
        target.exists() and not os.access(target, os.W_OK)
    ):
        raise InputError(f"{flag} {str(out)!r} is not writable by this user; choose another path")
    return target


def default_out_dir(train: Any) -> Path:
    """Without ``--out``: ``<cwd>/<data name>-model`` (the current directory, not beside
    the data, which may be read-only or shared)."""
    p = Path(os.fspath(train))
    stem = p.stem if p.is_file() else p.name
    return Path.cwd() / f"{stem or 'data'}-model"
