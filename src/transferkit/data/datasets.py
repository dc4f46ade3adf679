"""Labelled datasets for `fit` and `evaluate`: read, validate, split, fingerprint.

A `LabelledData` holds items (texts, or image paths), their string labels and the sorted
class names. It is built from a table file, an image folder, a pandas DataFrame, or
Python lists (`load_labelled`); every problem found is either an error that names the
value and the fix, or a warning saying what was done (`notes` keeps those sentences for
the fit summary).

>>> d = load_labelled((["good", "bad", "fine", "awful"], ["pos", "neg", "pos", "neg"]))
>>> d.classes, d.counts()
(['neg', 'pos'], {'neg': 2, 'pos': 2})
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transferkit.errors import DataError, InputError

logger = logging.getLogger(__name__)


@dataclass
class LabelledData:
    """Items + labels (strings) of one modality; `classes` sorted; `notes` say what was done."""

    items: list[Any]
    labels: list[str]
    modality: str  # "text" | "image"
    source: str = "the data"
    notes: list[str] = field(default_factory=list)
    classes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.classes:
            self.classes = sorted(set(self.labels))

    def __len__(self) -> int:
        return len(self.items)

    def counts(self) -> dict[str, int]:
        c = Counter(self.labels)
        return {k: c[k] for k in self.classes}

    def subset(self, idx: list[int]) -> LabelledData:
        return LabelledData(
            [self.items[i] for i in idx],
            [self.labels[i] for i in idx],
            self.modality,
            self.source,
            [],
            list(self.classes),
        )

    def fingerprint(self) -> str:
        """sha256 over items and labels (image files by name, size and content)."""
        h = hashlib.sha256(self.modality.encode())
        for item, label in zip(self.items, self.labels, strict=True):
            if self.modality == "image":
                h.update(_image_identity(item))
            else:
                h.update(str(item).encode("utf-8"))
            h.update(b"\0" + label.encode("utf-8") + b"\1")
        return h.hexdigest()[:32]


def _image_identity(item: Any) -> bytes:
    """Bytes that identify one image item: a file by name and content; an in-memory
    image (PIL image, numpy array) by mode/dtype, size/shape and pixels; raw bytes as is."""
    if isinstance(item, bytes):
        return item
    if hasattr(item, "mode") and hasattr(item, "tobytes"):  # PIL.Image.Image
        return f"{item.mode}{item.size}".encode() + b"\0" + item.tobytes()
    if hasattr(item, "shape") and hasattr(item, "tobytes"):  # numpy array
        return f"{item.dtype}{item.shape}".encode() + b"\0" + item.tobytes()
    p = Path(item)
    return p.name.encode() + b"\0" + p.read_bytes()


def _warn(notes: list[str], message: str) -> None:
    logger.warning(message)
    notes.append(message)


def _clean_label(v: Any) -> str | None:
    if v is None or (isinstance(v, float) and v != v):
        return None
    if isinstance(v, float) and v.is_integer():
        v = int(v)  # pandas reads an int column with a NaN as float: 1.0 -> "1"
    s = str(v).strip()
    return s or None


def _from_columns(
    texts: list[Any], labels: list[Any], source: str, notes: list[str]
) -> LabelledData:
    if len(texts) != len(labels):
        raise InputError(
            f"{source}: {len(texts)} texts but {len(labels)} labels; give one label per text"
        )
    items: list[str] = []
    ys: list[str] = []
    no_label = no_text = 0
    for t, y in zip(texts, labels, strict=True):
        lab = _clean_label(y)
        if lab is None:
            no_label += 1
            continue
        if t is None or (isinstance(t, float) and t != t) or not str(t).strip():
            no_text += 1
            continue
        items.append(str(t))
        ys.append(lab)
    if no_label:
        _warn(notes, f"{source}: dropped {no_label} row(s) with an empty or NaN label")
    if no_text:
        _warn(notes, f"{source}: dropped {no_text} row(s) with an empty text")
    pairs = Counter(zip(items, ys, strict=True))
    dups = sum(c - 1 for c in pairs.values() if c > 1)
    if dups:
        _warn(notes, f"{source}: {dups} duplicate row(s) (same text and label); kept as given")
    conflicting = len({t for t, _ in pairs}) < len(pairs)
    if conflicting:
        n = len(pairs) - len({t for t, _ in pairs})
        _warn(notes, f"{source}: {n} text(s) appear with different labels; kept as given")
    if not items:
        raise DataError(f"{source}: no usable rows (every row lacks a text or a label)")
    _warn_case_clashes(ys, source, notes)
    return LabelledData(items, ys, "text", source, notes)


def _warn_case_clashes(labels: list[str], source: str, notes: list[str]) -> None:
    """'negative' and 'NEGATIVE' are two classes: say so (they are kept as given)."""
    by_lower: dict[str, set[str]] = {}
    for lab in set(labels):
        by_lower.setdefault(lab.lower(), set()).add(lab)
    clashes = [" / ".join(sorted(v)) for v in by_lower.values() if len(v) > 1]
    if clashes:
        _warn(
            notes,
            f"{source}: labels that differ only in case are separate classes: "
            f"{'; '.join(sorted(clashes)[:5])}. Write them the same way if they mean the same",
        )


def _from_table(
    df: Any, text_column: str | None, label_column: str | None, source: str
) -> LabelledData:
    from transferkit.data.tables import LABEL_COLUMNS, TEXT_COLUMNS, pick_column

    if len(df) == 0:
        raise DataError(f"{source} has no rows; it needs at least one labelled example")
    tcol = pick_column(df, text_column, TEXT_COLUMNS, "text", source)
    lcol = pick_column(df, label_column, LABEL_COLUMNS, "label", source)
    if tcol == lcol:
        raise DataError(f"{source}: text and label are the same column {tcol!r}; pass both")
    return _from_columns(df[tcol].tolist(), df[lcol].tolist(), source, [])


def _from_image_folder(root: Path) -> LabelledData:
    from transferkit.data.images import list_image_folder

    files, labels, _ = list_image_folder(root)
    notes: list[str] = []
    good: list[int] = []
    bad: list[str] = []
    from PIL import Image

    from transferkit.data.images import check_pixels

    for i, f in enumerate(files):
        try:  # decode fully: a truncated or mislabelled file fails here, not mid-training
            with Image.open(f) as im:
                check_pixels(im.width, im.height, str(f))  # a decompression bomb: not decoded
                im.load()
            good.append(i)
        except Exception:  # any decoding failure means the file is unusable
            bad.append(f.name)
    if bad:
        # (an image over the decoded-pixel cap counts as unreadable: it is never decoded)
        _warn(notes, f"{root}: skipped {len(bad)} unreadable image(s): {', '.join(bad[:5])}")
    if not good:
        raise DataError(f"{root}: none of the {len(files)} image files could be read")
    return LabelledData(
        [str(files[i]) for i in good], [labels[i] for i in good], "image", str(root), notes
    )


def load_labelled(
    data: Any,
    *,
    text_column: str | None = None,
    label_column: str | None = None,
    what: str = "train",
) -> LabelledData:
    """Read labelled data from a table file, an image folder, a DataFrame, a (texts,
    labels) pair of lists, or a list of {"text","label"} dicts."""
    from transferkit.errors import FileMissingError

    if isinstance(data, LabelledData):
        return data
    if isinstance(data, str | os.PathLike):
        p = Path(data)
        if not p.exists():
            raise FileMissingError(f"{what} data {str(p)!r} does not exist")
        if p.is_dir():
            return _from_image_folder(p)
        from transferkit.data.tables import read_table

        return _from_table(read_table(p), text_column, label_column, str(p))
    if hasattr(data, "columns") and hasattr(data, "iloc"):
        return _from_table(data, text_column, label_column, f"the {what} DataFrame")
    if isinstance(data, tuple) and len(data) == 2:
        return _from_columns(list(data[0]), list(data[1]), f"the {what} lists", [])
    if isinstance(data, list) and data and isinstance(data[0], dict):
        import pandas as pd

        return _from_table(pd.DataFrame(data), text_column, label_column, f"the {what} records")
    raise InputError(
        f"{what}={type(data).__name__} is not a dataset; pass a CSV/TSV/JSONL/Parquet path, "
        "an image folder (root/<class>/*.jpg), a pandas DataFrame, a (texts, labels) tuple, "
        "or a list of {'text': ..., 'label': ...} dicts"
    )


def check_trainable(data: LabelledData) -> None:
    """Errors for data no classifier can learn from: one class; a class with one example."""
    counts = data.counts()
    if len(counts) < 2:
        only = next(iter(counts), "?")
        raise DataError(
            f"{data.source}: every example has label {only!r}; a classifier needs at least "
            "2 classes. Add examples of the other class(es), or check --label-column."
        )
    single = [c for c, n in counts.items() if n < 2]
    if single:
        raise DataError(
            f"{data.source}: class(es) {', '.join(map(repr, single[:10]))} have a single "
            "example; each class needs at least 2. Add examples or remove those rows."
        )


def check_eval_labels(train: LabelledData, eval_data: LabelledData) -> None:
    unseen = sorted(set(eval_data.labels) - set(train.classes))
    if unseen:
        raise DataError(
            f"{eval_data.source}: label(s) {', '.join(map(repr, unseen[:10]))} never occur in "
            f"training (training classes: {', '.join(train.classes)}). Add training examples "
            "for them, or drop those rows from the evaluation data."
        )


def stratified_split(
    data: LabelledData, fraction: float, seed: int = 0
) -> tuple[LabelledData, LabelledData]:
    """(train, validation): about `fraction` of each class (at least 1) held out."""
    import numpy as np

    rng = np.random.default_rng(seed)
    by_class: dict[str, list[int]] = {}
    for i, y in enumerate(data.labels):
        by_class.setdefault(y, []).append(i)
    tr: list[int] = []
    va: list[int] = []
    for c in data.classes:
        idx = list(rng.permutation(by_class[c]))
        k = max(1, round(len(idx) * fraction))
        va += idx[:k]
        tr += idx[k:]
    a, b = data.subset(sorted(tr)), data.subset(sorted(va))
    a.notes = list(data.notes)
    return a, b
