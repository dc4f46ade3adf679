"""The reference sample of the source domain for the domain-gap check of `compare`.

The proxy A-distance compares target inputs with inputs "like the ones the base was
trained on". Only the inputs matter, never labels, so a reference may be:

- text: a table file (CSV/TSV/JSONL/Parquet with a text column, or a `.txt` file with
  one text per line), a DataFrame, a list of strings, or labelled data (labels unused);
- images: a folder of images, with or without class subfolders (searched recursively),
  a list of image paths, or labelled data;
- nothing: text bases fall back to transferkit's generic English sample
  (`reference_text.GENERIC_ENGLISH`); image bases have no shipped ImageNet sample, and
  the check is skipped with that reason.

>>> items, name = load_reference(["a short text", "another one"], "text")
>>> name
'the 2 reference inputs given'
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from transferkit.errors import DataError, FileMissingError, InputError

NO_IMAGE_REFERENCE = (
    "none: no sample of the source domain (ImageNet) ships with transferkit; "
    "pass reference=FOLDER (a folder of images, class subfolders optional)"
)


def _blank(v: Any) -> bool:
    return v is None or (isinstance(v, float) and v != v) or not str(v).strip()


def _texts_of_table(df: Any, text_column: str | None, source: str) -> list[str]:
    from transferkit.data.tables import TEXT_COLUMNS, pick_column

    col = pick_column(df, text_column, TEXT_COLUMNS, "text", source)
    return [str(v) for v in df[col].tolist() if not _blank(v)]


def _images_in(root: Path) -> list[str]:
    """Readable image files anywhere under `root` (hidden files and folders skipped)."""
    from PIL import Image

    from transferkit.data.images import IMAGE_EXTENSIONS

    found = sorted(
        p
        for p in root.rglob("*")
        if p.is_file()
        and p.suffix.lower() in IMAGE_EXTENSIONS
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
    good = []
    for p in found:
        try:  # an unreadable file is left out rather than failing the whole comparison
            with Image.open(p) as im:
                im.verify()
            good.append(str(p))
        except Exception:  # noqa: BLE001 - any decoding failure means "not an image"
            continue
    if not good:
        raise DataError(
            f"reference folder {str(root)!r} holds no readable images "
            f"({', '.join(IMAGE_EXTENSIONS)}), at any depth; pass a folder of images of the "
            "source domain"
        )
    return good


def load_reference(
    reference: Any, modality: str, *, text_column: str | None = None
) -> tuple[list[Any] | None, str]:
    """(inputs, description) of the reference sample; inputs is None when there is none.

    `reference` is described in the module docstring; no label column is needed. Raises
    FileMissingError for a missing path, InputError / DataError for a reference of the
    wrong kind (e.g. a folder for a text base) or one without usable inputs.
    """
    from transferkit.data.datasets import LabelledData

    if reference is None:
        if modality == "text":
            from transferkit.evaluation.reference_text import GENERIC_ENGLISH

            return list(GENERIC_ENGLISH), (
                f"transferkit's generic English sample ({len(GENERIC_ENGLISH)} sentences written "
                "for this check; not the model's pretraining data)"
            )
        return None, NO_IMAGE_REFERENCE
    kind = "texts" if modality == "text" else "images"
    if isinstance(reference, LabelledData):
        return list(reference.items), f"{reference.source} ({len(reference)} {kind})"
    if hasattr(reference, "columns") and hasattr(reference, "iloc"):
        if modality != "text":
            raise InputError(
                "reference is a DataFrame but the base is an image model; pass a folder of "
                "images (class subfolders optional) or a list of image paths"
            )
        items = _texts_of_table(reference, text_column, "the reference DataFrame")
        return _nonempty(
            items, "the reference DataFrame"
        ), f"the reference DataFrame ({len(items)} texts)"
    if isinstance(reference, str | os.PathLike):
        return _from_path(Path(reference), modality, text_column)
    if isinstance(reference, list | tuple) and reference:
        if (
            isinstance(reference, tuple)
            and len(reference) == 2
            and all(isinstance(x, list | tuple) for x in reference)
        ):
            reference = reference[0]  # a (inputs, labels) pair: the labels are not needed
        items = [x for x in reference if not _blank(x)]
        return _nonempty(items, "the reference list"), f"the {len(items)} reference inputs given"
    raise InputError(
        f"reference={type(reference).__name__} is not a sample of inputs; pass "
        + (
            "a table file with a text column (or a .txt file, one text per line), a DataFrame "
            "or a list of strings"
            if modality == "text"
            else "a folder of images (class subfolders optional) or a list of image paths"
        )
    )


def _nonempty(items: list[Any], source: str) -> list[Any]:
    if not items:
        raise DataError(f"{source} holds no usable inputs (every row is empty)")
    return items


def _from_path(path: Path, modality: str, text_column: str | None) -> tuple[list[Any], str]:
    if not path.exists():
        raise FileMissingError(
            f"reference {str(path)!r} does not exist; pass "
            + ("a table file with a text column" if modality == "text" else "a folder of images")
        )
    if modality == "image":
        if not path.is_dir():
            raise InputError(
                f"reference {str(path)!r} is a file; for an image base pass a folder of images "
                "(class subfolders optional)"
            )
        images = _images_in(path)
        return images, f"{path} ({len(images)} images)"
    if path.is_dir():
        raise InputError(
            f"reference {str(path)!r} is a folder; for a text base pass a table file with a "
            "text column (CSV/TSV/JSONL/Parquet) or a .txt file with one text per line"
        )
    from transferkit.data.tables import read_table

    items = _texts_of_table(read_table(path), text_column, str(path))
    return _nonempty(items, str(path)), f"{path} ({len(items)} texts)"
