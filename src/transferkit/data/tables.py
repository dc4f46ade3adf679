"""Read tables (CSV, TSV, JSONL, Parquet, plain text) and pick their columns.

>>> # df = read_table("reviews.csv"); col = pick_column(df, None, TEXT_COLUMNS, "text", "reviews.csv")
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from transferkit.errors import DataError, FileMissingError, InputError

logger = logging.getLogger(__name__)

TEXT_COLUMNS = ("text", "sentence", "review", "content", "document", "body", "question", "input")
LABEL_COLUMNS = (
    "label",
    "labels",
    "target",
    "class",
    "category",
    "y",
    "sentiment",
    "tags",
    "score",
    "rating",
)
TABLE_SUFFIXES = {".csv", ".tsv", ".jsonl", ".json", ".parquet", ".txt"}


def read_table(path: str | os.PathLike[str], *, bad_rows: str = "error") -> Any:
    """Read a table into a pandas DataFrame; `.txt` gives one column `text`, one row per line.

    bad_rows (CSV/TSV): "error" (a row with the wrong number of fields, or an unbalanced
    quote, is a DataError naming its line) or "skip" (such rows are left out and listed,
    by line, in ``df.attrs["skipped_rows"]``).

    Errors name the file and the fix: missing file, unknown extension, not UTF-8, empty.
    """
    import pandas as pd

    p = Path(path)
    if not p.exists():
        raise FileMissingError(f"data file {str(p)!r} does not exist")
    if p.is_dir():
        raise DataError(
            f"{str(p)!r} is a folder; give a table file ({', '.join(sorted(TABLE_SUFFIXES))})"
        )
    suffix = p.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise DataError(
            f"{str(p)!r} has extension {suffix!r}; supported tables: {', '.join(sorted(TABLE_SUFFIXES))}"
        )
    if bad_rows not in ("error", "skip"):
        raise InputError(f"bad_rows={bad_rows!r}; use 'error' or 'skip'")
    if p.stat().st_size == 0:
        raise DataError(f"data file {str(p)!r} is empty; it needs a header and at least one row")
    try:
        if suffix == ".parquet":
            df = pd.read_parquet(p)
        elif suffix == ".txt":
            lines = [ln for ln in p.read_text(encoding="utf-8").splitlines() if ln.strip()]
            df = pd.DataFrame({"text": lines})
        elif suffix == ".jsonl":
            df = _read_jsonl(p)
        elif suffix == ".json":
            df = pd.read_json(p, encoding="utf-8")
        else:
            df = _read_delimited(p, "\t" if suffix == ".tsv" else ",", bad_rows)
    except DataError:
        raise
    except csv.Error as e:
        raise DataError(f"cannot parse {str(p)!r} as {suffix[1:]}: {e}") from None
    except UnicodeDecodeError as e:
        raise DataError(
            f"{str(p)!r} is not UTF-8 (byte {e.start}: {e.object[e.start : e.start + 1]!r}); "
            "re-save it as UTF-8 (e.g. iconv -f latin1 -t utf-8)"
        ) from None
    except ImportError as e:
        raise DataError(
            f"reading {str(p)!r} needs an extra: pip install 'transferkit[parquet]' ({e})"
        ) from None
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise DataError(
            f"cannot parse {str(p)!r} as {suffix[1:]}: {str(e).splitlines()[0]}"
        ) from None
    if len(df) == 0:
        raise DataError(f"data file {str(p)!r} has no rows; it needs at least one example")
    return df


def _read_jsonl(p: Path) -> Any:
    """One JSON object per line; a bad line is reported by its line number."""
    import json

    import pandas as pd

    records = []
    with p.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(
                    f"{str(p)!r} line {n} is not valid JSON ({e.msg} at column {e.colno}); "
                    "each line of a .jsonl file must be one JSON object"
                ) from None
            if not isinstance(rec, dict):
                raise DataError(
                    f"{str(p)!r} line {n} is a JSON {type(rec).__name__}, not an object; "
                    'write one object per line, e.g. {"text": "...", "label": "..."}'
                )
            records.append(rec)
    return pd.DataFrame.from_records(records)


def scan_fields(path: str | os.PathLike[str], sep: str) -> tuple[list[list[str]], list[str]]:
    """Read a CSV/TSV with Python's csv module: (well-formed records, header first; one
    message per bad record, naming its line). A record is bad when it has another number
    of fields than the header, or when a quote opened in it swallows the lines after it
    (an unbalanced quote: the field spans lines and holds the separator)."""
    good: list[list[str]] = []
    bad: list[str] = []
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f, delimiter=sep)
        header = next(reader, None)
        if header is None:
            return good, bad
        good.append(header)
        width, line = len(header), reader.line_num
        for row in reader:
            start, line = line + 1, reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if line > start and any(sep in c and "\n" in c for c in row):
                bad.append(
                    f'line {start}: a quote (") opened there is not closed before line {line}, '
                    'so those lines were read as one field; close the quote or escape it ("")'
                )
            elif len(row) != width:
                bad.append(f"line {start} has {len(row)} fields, the header has {width}")
            else:
                good.append(row)
    return good, bad


def check_fields(path: str | os.PathLike[str], sep: str, limit: int = 5) -> None:
    """DataError naming the lines of the first `limit` bad records (see `scan_fields`)."""
    _, bad = scan_fields(path, sep)
    if bad:
        more = f" (and {len(bad) - limit} more)" if len(bad) > limit else ""
        raise DataError(
            f"{str(path)!r} is not a well-formed {'TSV' if sep == chr(9) else 'CSV'} table: "
            + "; ".join(bad[:limit])
            + f"{more}. Fix those rows (a text holding the separator must be quoted), or skip "
            "them when predicting (--skip-bad-rows / bad_rows='skip')."
        )


def _read_delimited(p: Path, sep: str, bad_rows: str) -> Any:
    import io

    import pandas as pd

    # Only an empty cell is missing: a text that reads "NaN", "null" or "NA" is text.
    kw: dict[str, Any] = {"sep": sep, "keep_default_na": False, "na_values": [""]}
    if bad_rows == "error":
        check_fields(p, sep)
        return pd.read_csv(p, encoding="utf-8", **kw)
    good, bad = scan_fields(p, sep)
    buf = io.StringIO()
    csv.writer(buf, delimiter=sep).writerows(good)
    buf.seek(0)
    df = pd.read_csv(buf, **kw)
    df.attrs["skipped_rows"] = bad  # what was left out, by line, for the caller to report
    for msg in bad:
        logger.warning("%s: skipped a malformed row (%s)", p, msg)
    return df


def pick_column(
    df: Any, wanted: str | None, candidates: Sequence[str], role: str, source: str = "the data"
) -> str:
    """The column to use for `role` ("text" or "label"): `wanted` if given, else the first of
    `candidates` present (case-insensitive). The error lists the columns there are."""
    cols = [str(c) for c in df.columns]
    flag = f"--{role}-column / {role}_column="
    if wanted is not None:
        if wanted in cols:
            return wanted
        raise DataError(
            f"column {wanted!r} not found in {source}; columns are: {', '.join(cols)}. "
            f"Pass {flag}<one of those>."
        )
    lower = {c.lower(): c for c in cols}
    for name in candidates:
        if name in lower:
            return lower[name]
    if role == "text" and len(cols) == 1:
        return cols[0]
    raise DataError(
        f"no {role} column found in {source}; columns are: {', '.join(cols)}. "
        f"Pass {flag}<one of those> (looked for: {', '.join(candidates)})."
    )


def read_texts(
    path: str | os.PathLike[str], text_column: str | None = None, *, bad_rows: str = "error"
) -> list[Any]:
    """The text column of a table file as a list (values kept as read, NaN as None); see
    `read_table` for `bad_rows`."""
    df = read_table(path, bad_rows=bad_rows)
    col = pick_column(df, text_column, TEXT_COLUMNS, "text", str(path))
    values = df[col].tolist()
    return [None if (isinstance(v, float) and v != v) else v for v in values]


def as_list(inputs: Any, what: str = "inputs") -> list[Any]:
    """Accept a list/tuple/Series/array of items; refuse a bare string with a fix."""
    if isinstance(inputs, str):
        raise InputError(
            f"{what} is a single string; pass a list of strings, e.g. [{inputs!r:.40}]"
        )
    return list(inputs)
