"""``transferkit predict ... --engine ray``: batch inference on Ray Data.

    read_csv / read_json / read_parquet / read_text (or image paths)
      → map_batches(Predictor, ActorPoolStrategy(size=workers))   # model loaded once per actor
      → one output file, streamed in input order (or a folder of Parquet files whose
        ``row`` column is each prediction's 0-based input row number)

The output appears only when the job has finished: it is written under a temporary
name beside OUT and renamed into place, so an interrupted or failed job leaves no
half-written OUT (and an existing OUT is never overwritten).

>>> # r = predict_file("sentiment-analysis", "test.csv", "preds.parquet", workers=2)
>>> # r.rows, r.rows_per_second
"""

from __future__ import annotations

import gc
import glob
import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from transferkit.errors import DataError, FileMissingError, InputError, TransferkitError
from transferkit.ray.predictor import Predictor, output_schema
from transferkit.ray.runtime import one_line

TABLE_FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "json",
    ".json": "json",
    ".parquet": "parquet",
    ".txt": "text",
}
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
OUT_FORMATS = (".parquet", ".jsonl", ".csv")
# Reading and writing tasks take a sliver of a CPU and each actor the rest of one, so N
# actors and the I/O fit on N CPUs: with whole CPUs the actors would hold them all and
# the read tasks that feed them would never be scheduled (a deadlock on a local Ray).
IO_CPUS = 0.1
ACTOR_CPUS = 1.0 - IO_CPUS
# Rows handed to an actor per call; the pipeline batches them by length inside (the model
# batch is --batch-size). Large enough to bucket well, small enough to spread 2k rows.
ROWS_PER_CALL = 256
# Rows per Parquet file of a folder output.
PART_ROWS = 100_000


class BatchJobError(TransferkitError, RuntimeError):
    """A Ray Data prediction job failed (an actor raised, a worker was lost); the full
    traceback is in Ray's log. OUT was not written."""


@dataclass
class BatchReport:
    """What a Ray batch-prediction job did; `to_dict()` is the `--json` line."""

    rows: int
    errors: int
    seconds: float  # read → predict → write, Ray already running
    startup_seconds: float  # starting (or joining) Ray
    workers: int
    out: str

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("nan")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rows_per_second": round(self.rows_per_second, 1)}


def input_files(data: str | os.PathLike[str]) -> tuple[str, list[str]]:
    """(format, files) of DATA: a table file, a glob of them, a folder of them, or a folder
    of images (format "images", files sorted as `transferkit predict --file` sorts them)."""
    text = os.fspath(data)
    if any(ch in text for ch in "*?["):
        files = sorted(glob.glob(text, recursive=True))
        if not files:
            raise FileMissingError(f"--file {text!r}: the pattern matches no file")
    else:
        path = Path(text)
        if not path.exists():
            raise FileMissingError(f"--file {text!r} does not exist")
        if path.is_file():
            files = [text]
        else:
            found = sorted(p for p in path.rglob("*") if p.is_file())
            images = [str(p) for p in found if p.suffix.lower() in IMAGE_SUFFIXES]
            tables = [str(p) for p in found if p.suffix.lower() in TABLE_FORMATS]
            if images and not tables:
                return "images", images
            if not tables:
                raise DataError(
                    f"folder {text!r} has neither table files "
                    f"({', '.join(TABLE_FORMATS)}) nor images"
                )
            files = tables
    kinds = {TABLE_FORMATS.get(Path(f).suffix.lower()) for f in files}
    if None in kinds or len(kinds) != 1:
        raise DataError(
            f"--file {text!r}: give files of one table format ({', '.join(TABLE_FORMATS)}); "
            f"got {', '.join(sorted({Path(f).suffix or '(none)' for f in files}))}"
        )
    return kinds.pop(), files  # type: ignore[return-value]


def check_out(out: str | os.PathLike[str]) -> Path:
    """OUT as a Path: a new .parquet/.jsonl/.csv file, or a new folder (Parquet files)."""
    path = Path(out)
    if path.exists():
        raise InputError(f"--out {str(path)!r} already exists; remove it or choose a new name")
    if path.suffix and path.suffix.lower() not in OUT_FORMATS:
        raise InputError(
            f"--out {str(path)!r}: use a .parquet, .jsonl or .csv file, or a folder name"
        )
    if not path.parent.exists():
        raise FileMissingError(f"--out folder {str(path.parent)!r} does not exist; create it")
    return path


def _read(ray: Any, kind: str, files: list[str], text_column: str | None) -> tuple[Any, str]:
    """(the dataset, its input column)."""
    import pyarrow.csv as pacsv

    io = {"num_cpus": IO_CPUS}
    if kind == "images":
        return ray.data.from_items([{"path": f} for f in files]), "path"
    tsv = pacsv.ParseOptions(delimiter="\t")
    if kind == "csv":
        ds = ray.data.read_csv(files, **io)
    elif kind == "tsv":
        ds = ray.data.read_csv(files, parse_options=tsv, **io)
    elif kind == "json":
        ds = ray.data.read_json(files, lines=True, **io)
    elif kind == "parquet":
        ds = ray.data.read_parquet(files, **io)
    else:
        ds = ray.data.read_text(files, **io)
    from transferkit.data.tables import TEXT_COLUMNS, pick_column

    names = SimpleNamespace(columns=_columns(kind, files[0], tsv))
    return ds, pick_column(names, text_column, TEXT_COLUMNS, "text", ", ".join(files[:3]))


def _columns(kind: str, first: str, tsv: Any) -> list[str]:
    """Column names from the first file's header, read here (asking Ray for the schema
    would run a read job just for it)."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if kind == "text":
        return ["text"]
    if kind == "parquet":
        return list(pq.read_schema(first).names)
    if kind == "json":
        with open(first, encoding="utf-8") as fh:
            line = fh.readline()
        try:
            return list(json.loads(line)) if line.strip() else []
        except (json.JSONDecodeError, TypeError):
            raise DataError(f"{first}: the first line is not a JSON object") from None
    parse = tsv if kind == "tsv" else pacsv.ParseOptions()
    with pacsv.open_csv(first, parse_options=parse) as reader:
        return list(reader.schema.names)


def predict_file(
    model: str,
    data: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    task: str | None = None,
    workers: int = 1,
    batch_size: int = 32,
    address: str | None = None,
    text_column: str | None = None,
    top_k: int | None = None,
    device: str = "cpu",
    predictor: type = Predictor,
    threshold: float | None = None,
) -> BatchReport:
    """Label every row of `data` with `model` on Ray Data and write them to `out`.

    model / task: as `Predictor` (a task name, zoo name or model folder). workers: actors,
    each holding one copy of the model and one CPU (or the GPU `device` names). address:
    an existing Ray cluster (default: a local Ray with `workers` CPUs; on a cluster, DATA
    and image paths must be readable from every node). Predictions equal the
    single-process `transferkit predict` on the same rows: same pipeline, same rounding.
    threshold: multi-label models only, as `predict --threshold`.
    """
    if workers < 1:
        raise InputError(f"workers={workers} must be >= 1")
    out_path = check_out(out)
    kind, files = input_files(data)
    # Ray's workers run elsewhere (another directory, another node): absolute paths
    files = [os.path.abspath(f) for f in files]
    if Path(model).exists():
        model = os.path.abspath(model)
    if kind == "images" and task is None:
        task = "image-classification"
    from transferkit.ray.runtime import ray_session

    t0 = time.perf_counter()
    with ray_session(workers, address) as ray:
        started = time.perf_counter()
        ctx = ray.data.DataContext.get_current()
        ctx.execution_options.preserve_order = True  # output rows in input order
        ctx.enable_progress_bars = False
        ds, column = _read(ray, kind, files, text_column)
        kwargs = {"task": task, "column": column, "top_k": top_k, "batch_size": batch_size}
        kwargs["device"] = device
        if threshold is not None:
            kwargs["threshold"] = threshold
        preds = ds.map_batches(
            predictor,
            fn_constructor_kwargs={"model": model, **kwargs},
            compute=ray.data.ActorPoolStrategy(size=workers),
            batch_size=ROWS_PER_CALL,
            batch_format="pandas",
            num_cpus=IO_CPUS if device.startswith("cuda") else ACTOR_CPUS,
            num_gpus=1 if device.startswith("cuda") else 0,
        )
        failure = None
        try:
            rows, errors = _write(preds, out_path)
        except Exception as e:  # noqa: BLE001 - re-raised below as one BatchJobError
            failure = one_line(e)
        if failure is not None:
            # raised outside the except block, holding no Ray object: the failed job's
            # dataset and executor are garbage-collected now, which ends its actor pool
            # (each actor holds a CPU, of a Ray that may outlive this call)
            del ds, preds
            gc.collect()
            raise BatchJobError(f"the Ray Data job failed ({failure}); nothing was written")
        done = time.perf_counter()
    return BatchReport(rows, errors, done - started, started - t0, workers, str(out_path))


def _write(preds: Any, out: Path) -> tuple[int, int]:
    """Write into a temporary name beside `out`, then rename: all or nothing."""
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        if not out.suffix:
            counted = _write_folder(preds, tmp)
        else:
            counted = _write_file(preds, tmp, out.suffix.lower())
        if counted[0] == 0:
            raise DataError("the input has no rows; nothing was written")
        os.replace(tmp, out)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp)
        elif tmp.exists():
            tmp.unlink()
    return counted


def _tables(preds: Any) -> Iterator[Any]:
    """The prediction batches as pyarrow tables, in input order."""
    import pyarrow as pa

    for batch in preds.iter_batches(batch_format="pyarrow", batch_size=None):
        yield batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])


def _write_folder(preds: Any, tmp: Path) -> tuple[int, int]:
    """Stream the prediction batches, in input order, into ``part-00000.parquet``, ...
    (PART_ROWS rows each); every row carries its 0-based input row number in a ``row``
    column, so the folder can be read in any order and joined back to the input."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tmp.mkdir()
    rows = errors = parts = room = 0
    writer: Any = None
    try:
        for table in _tables(preds):
            n = table.num_rows
            table = table.add_column(0, "row", pa.array(range(rows, rows + n), pa.int64()))
            rows, errors = rows + n, errors + n - table.column("error").null_count
            while table.num_rows:
                if room == 0:  # the part is full (or there is none yet): start the next
                    if writer is not None:
                        writer.close()
                    writer = pq.ParquetWriter(tmp / f"part-{parts:05d}.parquet", table.schema)
                    parts, room = parts + 1, PART_ROWS
                take = min(room, table.num_rows)
                writer.write_table(table.slice(0, take))
                table, room = table.slice(take), room - take
    finally:
        if writer is not None:
            writer.close()
    return rows, errors


def _write_file(preds: Any, tmp: Path, suffix: str) -> tuple[int, int]:
    """Stream the prediction batches, in order, into one file."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    rows = errors = 0
    writer: Any = None
    with open(tmp, "wb") as fh:
        for table in _tables(preds):
            rows += table.num_rows
            errors += table.num_rows - table.column("error").null_count
            if suffix == ".jsonl":
                for row in table.to_pylist():
                    clean = {k: v for k, v in row.items() if v is not None}
                    for key in ("top_k", "scores"):  # JSON text in a table; JSON here
                        if key in clean:
                            clean[key] = json.loads(clean[key])
                    fh.write((json.dumps(clean, ensure_ascii=False) + "\n").encode())
                continue
            if writer is None:
                make = pq.ParquetWriter if suffix == ".parquet" else pacsv.CSVWriter
                writer = make(fh, table.schema)
            writer.write_table(table)
        if writer is not None:
            writer.close()
    return rows, errors


__all__ = ["BatchJobError", "BatchReport", "predict_file", "input_files", "output_schema"]
