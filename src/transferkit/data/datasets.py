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
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from transferkit.data.targets import (
    KINDS,
    MULTI,
    REGRESSION,
    SINGLE,
    TaskChoice,
    infer_task,
    parse_label_sets,
    parse_numbers,
)
from transferkit.errors import DataError, InputError

logger = logging.getLogger(__name__)


@dataclass
class LabelledData:
    """Items + their targets, of one modality and one task; `notes` say what was done.

    labels: one per item — a class name (single-label), a sorted tuple of label names
        (multi-label; () is an empty label set) or a float in target units (regression).
    classes: the sorted class / label names; for regression `[target_name]` (one output).
    task: "single-label" | "multi-label" | "regression"; task_how: "given" | "inferred";
        task_reason: one sentence on how the task was decided (for the fit summary).
    """

    items: list[Any]
    labels: list[Any]
    modality: str  # "text" | "image"
    source: str = "the data"
    notes: list[str] = field(default_factory=list)
    classes: list[str] = field(default_factory=list)
    task: str = SINGLE
    task_how: str = "inferred"
    task_reason: str = ""
    target_name: str = "score"

    def __post_init__(self) -> None:
        if not self.classes:
            if self.task == MULTI:
                self.classes = sorted({lab for row in self.labels for lab in row})
            elif self.task == REGRESSION:
                self.classes = [self.target_name]
            else:
                self.classes = sorted(set(self.labels))

    def __len__(self) -> int:
        return len(self.items)

    def counts(self) -> dict[str, int]:
        """Examples per class; multi-label: rows carrying each label; regression: rows."""
        if self.task == REGRESSION:
            return {self.target_name: len(self.labels)}
        c = (
            Counter(lab for row in self.labels for lab in row)
            if self.task == MULTI
            else (Counter(self.labels))
        )
        return {k: c[k] for k in self.classes}

    def targets(self) -> Any:
        """numpy targets: single-label int class indices (n,); multi-label a 0/1 float32
        matrix (n, len(classes)) in `classes` order; regression float32 (n,) in target units."""
        import numpy as np

        if self.task == REGRESSION:
            return np.asarray(self.labels, dtype=np.float32)
        index = {c: i for i, c in enumerate(self.classes)}
        if self.task == MULTI:
            y = np.zeros((len(self.labels), len(self.classes)), dtype=np.float32)
            for r, row in enumerate(self.labels):
                y[r, [index[lab] for lab in row]] = 1.0
            return y
        return np.asarray([index[lab] for lab in self.labels], dtype=np.int64)

    def subset(self, idx: list[int]) -> LabelledData:
        return replace(
            self,
            items=[self.items[i] for i in idx],
            labels=[self.labels[i] for i in idx],
            notes=[],
            classes=list(self.classes),
        )

    def fingerprint(self) -> str:
        """sha256 over items and labels (image files by name, size and content)."""
        h = hashlib.sha256(self.modality.encode())
        if self.task != SINGLE:  # single-label keeps the fingerprints saved before tasks
            h.update(self.task.encode())
        for item, label in zip(self.items, self.labels, strict=True):
            if self.modality == "image":
                h.update(_image_identity(item))
            else:
                h.update(str(item).encode("utf-8"))
            h.update(b"\0" + _label_key(label).encode("utf-8") + b"\1")
        return h.hexdigest()[:32]


def _label_key(label: Any) -> str:
    """One string per target: the class, the labels joined by a unit separator, or repr."""
    if isinstance(label, tuple):
        return "\x1f".join(label)
    return repr(label) if isinstance(label, float) else str(label)


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


def _choose_task(values: list[Any], column: str, task: str | None, label_sep: str) -> TaskChoice:
    if task is None:
        return infer_task(values, column, label_sep)
    if task not in KINDS:
        raise InputError(
            f"task={task!r} is not one of {', '.join(KINDS)}; pass --task single-label, "
            "--task multi-label or --task regression (or leave it out to infer it from the data)."
        )
    if task == SINGLE and any(isinstance(v, list | tuple) for v in values):
        raise InputError(
            f"task='single-label' but column {column!r} holds lists of labels; pass "
            "--task multi-label / task='multi-label' (or leave task out to infer it)."
        )
    return TaskChoice(task, "given", f"task {task!r} given for column {column!r}")


def _parse_targets(
    labels: list[Any], choice: TaskChoice, column: str, source: str, label_sep: str
) -> list[Any]:
    if choice.kind == MULTI:
        return list(parse_label_sets(labels, label_sep))
    if choice.kind == REGRESSION:
        return list(parse_numbers(labels, column, source))
    return [_clean_label(y) for y in labels]


def _from_columns(
    texts: list[Any],
    labels: list[Any],
    source: str,
    notes: list[str],
    *,
    column: str | None = None,
    task: str | None = None,
    label_sep: str = "|",
) -> LabelledData:
    """column: the label column's name (None for lists: said as "label", and a
    regression target is named "score")."""
    target_name = column or "score"
    column = column or "label"
    if len(texts) != len(labels):
        raise InputError(
            f"{source}: {len(texts)} texts but {len(labels)} labels; give one label per text"
        )
    choice = _choose_task(labels, column, task, label_sep)
    targets = _parse_targets(labels, choice, column, source, label_sep)
    items: list[str] = []
    ys: list[Any] = []
    no_label = no_text = 0
    for t, lab in zip(texts, targets, strict=True):
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
    _note_duplicates(items, ys, source, notes)
    if not items:
        raise DataError(f"{source}: no usable rows (every row lacks a text or a label)")
    if choice.kind == MULTI:
        _note_empty_sets(ys, source, notes)
    if choice.kind != REGRESSION:
        _warn_case_clashes(
            [lab for y in ys for lab in (y if choice.kind == MULTI else [y])], source, notes
        )
    return LabelledData(
        items,
        ys,
        "text",
        source,
        notes,
        task=choice.kind,
        task_how=choice.how,
        task_reason=choice.reason,
        target_name=target_name,
    )


def _note_duplicates(items: list[str], ys: list[Any], source: str, notes: list[str]) -> None:
    pairs = Counter(zip(items, map(_label_key, ys), strict=True))
    dups = sum(c - 1 for c in pairs.values() if c > 1)
    if dups:
        _warn(notes, f"{source}: {dups} duplicate row(s) (same text and label); kept as given")
    n = len(pairs) - len({t for t, _ in pairs})
    if n:
        _warn(notes, f"{source}: {n} text(s) appear with different labels; kept as given")


def _note_empty_sets(ys: list[tuple[str, ...]], source: str, notes: list[str]) -> None:
    empty = sum(not y for y in ys)
    if empty == len(ys):
        raise DataError(
            f"{source}: every one of the {empty} rows has an empty label set; multi-label "
            "training needs rows that carry labels. Check --label-column and --label-sep."
        )
    if empty:
        _warn(
            notes,
            f"{source}: {empty} of {len(ys)} row(s) have an empty label set; kept as examples "
            "of none of the labels (drop them if their labels are missing rather than absent)",
        )


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
    df: Any,
    text_column: str | None,
    label_column: str | None,
    source: str,
    task: str | None = None,
    label_sep: str = "|",
) -> LabelledData:
    from transferkit.data.tables import LABEL_COLUMNS, TEXT_COLUMNS, pick_column

    if len(df) == 0:
        raise DataError(f"{source} has no rows; it needs at least one labelled example")
    tcol = pick_column(df, text_column, TEXT_COLUMNS, "text", source)
    lcol = pick_column(df, label_column, LABEL_COLUMNS, "label", source)
    if tcol == lcol:
        raise DataError(f"{source}: text and label are the same column {tcol!r}; pass both")
    return _from_columns(
        df[tcol].tolist(),
        df[lcol].tolist(),
        source,
        [],
        column=lcol,
        task=task,
        label_sep=label_sep,
    )


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
    task: str | None = None,
    label_sep: str = "|",
) -> LabelledData:
    """Read labelled data from a table file, an image folder, a DataFrame, a (texts,
    labels) pair of lists, or a list of {"text","label"} dicts.

    task: "single-label", "multi-label" or "regression"; None infers it from the label
    column (lists or `label_sep`-joined strings → multi-label, non-integer numbers →
    regression, anything else → single-label) and says how in `task_reason`.

    >>> load_labelled((["a", "b"], [["x", "y"], ["y"]])).task
    'multi-label'
    """
    from transferkit.errors import FileMissingError

    if not isinstance(label_sep, str) or not label_sep:
        raise InputError(f"label_sep={label_sep!r}; give a non-empty string such as '|' or ','")
    if isinstance(data, LabelledData):
        if task is not None and data.task != task:
            raise InputError(f"{data.source} holds {data.task} data, but task={task!r} was given")
        return data
    if isinstance(data, str | os.PathLike):
        p = Path(data)
        if not p.exists():
            raise FileMissingError(f"{what} data {str(p)!r} does not exist")
        if p.is_dir():
            return _image_folder_task(p, task)
        from transferkit.data.tables import read_table

        return _from_table(read_table(p), text_column, label_column, str(p), task, label_sep)
    if hasattr(data, "columns") and hasattr(data, "iloc"):
        return _from_table(
            data, text_column, label_column, f"the {what} DataFrame", task, label_sep
        )
    if isinstance(data, tuple) and len(data) == 2:
        return _from_columns(
            list(data[0]), list(data[1]), f"the {what} lists", [], task=task, label_sep=label_sep
        )
    if isinstance(data, list) and data and isinstance(data[0], dict):
        import pandas as pd

        return _from_table(
            pd.DataFrame(data), text_column, label_column, f"the {what} records", task, label_sep
        )
    raise InputError(
        f"{what}={type(data).__name__} is not a dataset; pass a CSV/TSV/JSONL/Parquet path, "
        "an image folder (root/<class>/*.jpg), a pandas DataFrame, a (texts, labels) tuple, "
        "or a list of {'text': ..., 'label': ...} dicts"
    )


def _image_folder_task(root: Path, task: str | None) -> LabelledData:
    if task not in (None, SINGLE):
        raise InputError(
            f"{root} is an image folder (one class per sub-folder): it can only be "
            f"single-label, not task={task!r}. Use a table with an image-path column instead."
        )
    data = _from_image_folder(root)
    data.task_how = "inferred" if task is None else "given"
    data.task_reason = "an image folder: one class per sub-folder"
    return data


def check_trainable(data: LabelledData) -> None:
    """Errors for data no model can learn from: one class, or a class with one example
    (single-label); no labelled row (multi-label); fewer than 2 rows or a constant target
    (regression). Rare or ever-present labels of multi-label data are noted, not refused."""
    if data.task == REGRESSION:
        _check_regression(data)
        return
    counts = data.counts()
    if data.task == MULTI:
        rare = [c for c, n in counts.items() if n < 2]
        if rare:
            _warn(
                data.notes,
                f"{data.source}: label(s) {', '.join(map(repr, rare[:10]))} "
                "occur in a single row; their thresholds and figures will be unreliable",
            )
        always = [c for c, n in counts.items() if n == len(data)]
        if always:
            _warn(
                data.notes,
                f"{data.source}: label(s) {', '.join(map(repr, always[:10]))} "
                "occur in every row; the model will learn to always predict them",
            )
        return
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


def _check_regression(data: LabelledData) -> None:
    values = set(data.labels)
    if len(data) < 2:
        raise DataError(f"{data.source}: a regression needs at least 2 rows, got {len(data)}")
    if len(values) == 1:
        raise DataError(
            f"{data.source}: every target in {data.target_name!r} is {data.labels[0]!r}; a "
            "regression needs targets that vary. Check --label-column."
        )


def check_eval_labels(train: LabelledData, eval_data: LabelledData) -> None:
    """Evaluation data must be of the training task, and name no label training lacks."""
    if eval_data.task != train.task:
        raise DataError(
            f"{eval_data.source} reads as {eval_data.task} data but the training data is "
            f"{train.task}; give both files the same kind of label column (or pass --task)."
        )
    if train.task == REGRESSION:
        return
    given = (
        {lab for row in eval_data.labels for lab in row}
        if train.task == MULTI
        else (set(eval_data.labels))
    )
    unseen = sorted(given - set(train.classes))
    if unseen:
        raise DataError(
            f"{eval_data.source}: label(s) {', '.join(map(repr, unseen[:10]))} never occur in "
            f"training (training {'labels' if train.task == MULTI else 'classes'}: "
            f"{', '.join(train.classes)}). Add training examples for them, or drop those "
            "rows from the evaluation data."
        )


def stratified_split(
    data: LabelledData, fraction: float, seed: int = 0
) -> tuple[LabelledData, LabelledData]:
    """(train, validation): about `fraction` of each class (at least 1) held out.

    Multi-label rows are stratified on their rarest label, regression rows on their
    target: rows are ordered by that key (ties at random) and every (1/fraction)-th is
    held out, so each stretch of the key is represented.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    if data.task != SINGLE:
        order = _split_order(data, rng)
        step = max(2, round(1 / fraction)) if fraction > 0 else len(order) + 1
        offset = int(rng.integers(step))
        va = [int(i) for k, i in enumerate(order) if k % step == offset]
        tr = sorted(set(range(len(data))) - set(va))
    else:
        by_class: dict[str, list[int]] = {}
        for i, y in enumerate(data.labels):
            by_class.setdefault(y, []).append(i)
        tr, va = [], []
        for c in data.classes:
            idx = list(rng.permutation(by_class[c]))
            k = max(1, round(len(idx) * fraction))
            va += idx[:k]
            tr += idx[k:]
    a, b = data.subset(sorted(tr)), data.subset(sorted(va))
    a.notes = list(data.notes)
    return a, b


def _split_order(data: LabelledData, rng: Any) -> Any:
    """Row order for a systematic split: by target (regression) or rarest label (multi)."""
    import numpy as np

    tie = rng.permutation(len(data))
    if data.task == REGRESSION:
        key = np.asarray(data.labels, dtype=float)
    else:
        counts = data.counts()
        rank = {c: r for r, c in enumerate(sorted(data.classes, key=lambda c: counts[c]))}
        key = np.asarray([min((rank[x] for x in row), default=len(rank)) for row in data.labels])
    return np.lexsort((tie, key))
