"""CLI command `transferkit compare TRAIN --eval EVAL`: transfer vs scratch vs classical,
with seeds, learning curve, warnings and an HTML report. Registered by `register(app)`."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from transferkit.cli.scale import DeviceOption


def _table(result: dict[str, Any]) -> Any:
    from rich.table import Table

    from transferkit.evaluation.report import METHOD_NAMES

    t = Table(title=f"transferkit compare: {result['task'].get('name')}")
    for col in (
        "method",
        "accuracy",
        "95% interval",
        "macro-F1",
        "train s",
        "CPU s",
        "train-eval gap",
    ):
        t.add_column(col, justify="left" if col == "method" else "right")
    for key in ("transfer", "scratch", "classical"):
        m = result.get(key)
        if not m:
            why = next((s["why"] for s in result["skipped"] if s["what"] == key), "not run")
            t.add_row(METHOD_NAMES[key], "—", why, "", "", "", "")
            continue
        ci = m["ci"]
        interval = (
            f"[{ci['low']:.3f}, {ci['high']:.3f}] n={ci['n']}"
            if ci.get("interval_defined")
            else "1 seed"
        )
        t.add_row(
            METHOD_NAMES[key] + (f" ({m['strategy']})" if m.get("strategy") else ""),
            f"{m['accuracy']:.3f}",
            interval,
            f"{m['macro_f1']:.3f}",
            f"{m['train_seconds']:.1f}",
            f"{m['cpu_seconds']:.1f}",
            f"{m['overfit_gap']:+.3f}",
        )
    return t


def _table_targets(result: dict[str, Any]) -> Any:
    """The table of a multi-label / regression comparison: its figures, the headline's
    interval over seeds."""
    from rich.table import Table

    from transferkit.evaluation.multitask import FIGURES
    from transferkit.evaluation.report import METHOD_NAMES

    kind = result["task"]["kind"]
    t = Table(title=f"transferkit compare ({kind}): {result['task'].get('name')}")
    figures = FIGURES[kind]
    for col in ("method", *figures, f"{result['task']['metric']} 95% interval", "train s"):
        t.add_column(col, justify="left" if col == "method" else "right")
    for key in ("transfer", "scratch", "classical"):
        m = result.get(key)
        if not m:
            why = next((s["why"] for s in result["skipped"] if s["what"] == key), "not run")
            t.add_row(METHOD_NAMES[key], *["—"] * len(figures), why, "")
            continue
        ci = m.get("seeds") or {}
        interval = (
            f"[{ci['low']:.3f}, {ci['high']:.3f}] n={ci['n']}"
            if ci.get("interval_defined")
            else "1 seed"
        )
        cells = ["—" if m.get(f) is None else f"{m[f]:.3f}" for f in figures]
        name = METHOD_NAMES[key] + (f" ({m['strategy']})" if m.get("strategy") else "")
        t.add_row(name, *cells, interval, f"{m['train_seconds']:.1f}")
    return t


def compare_command(
    train: Annotated[
        str, typer.Argument(help="training data: CSV/TSV/JSONL/Parquet file or image folder")
    ],
    eval: Annotated[  # noqa: A002
        str | None,
        typer.Option("--eval", help="test data (default: 20% of TRAIN held out)"),
    ] = None,
    base: Annotated[str, typer.Option(help="zoo name, model folder or hub id")] = "auto",
    strategy: Annotated[
        str, typer.Option(help="auto | probe | partial | full | lora | contrastive")
    ] = "auto",
    seeds: Annotated[int, typer.Option(help="runs per method (3+ to call differences)")] = 3,
    sizes: Annotated[
        str, typer.Option(help="learning-curve sizes per class, e.g. 8,32,128,all ('' for none)")
    ] = "8,32,128,all",
    budget: Annotated[
        float | None, typer.Option(help="wall-time budget in seconds for the whole comparison")
    ] = None,
    report: Annotated[str | None, typer.Option(help="write the HTML report here")] = None,
    json_out: Annotated[str | None, typer.Option("--json-out", help="write the JSON here")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="print the JSON result on stdout")
    ] = False,
    reference: Annotated[
        str | None,
        typer.Option(
            help="a sample of the source domain for the domain-gap check, no labels needed: "
            "text: a table with a text column or a .txt file (one text a line); images: a "
            "folder of images (class subfolders optional)"
        ),
    ] = None,
    text_column: Annotated[str | None, typer.Option(help="text column (auto-detected)")] = None,
    label_column: Annotated[str | None, typer.Option(help="label column (auto-detected)")] = None,
    scratch: Annotated[bool, typer.Option(help="train the from-scratch baseline")] = True,
    classical: Annotated[bool, typer.Option(help="train the classical baseline")] = True,
    scratch_epochs: Annotated[int | None, typer.Option(help="cap epochs of scratch runs")] = None,
    scratch_time_limit: Annotated[
        float | None, typer.Option(help="cap seconds of each scratch run")
    ] = None,
    task: Annotated[
        str | None,
        typer.Option(
            help="single-label | multi-label | regression (default: inferred, as fit does); "
            "multi-label and regression compare with one-vs-rest TF-IDF + LR / TF-IDF + ridge"
        ),
    ] = None,
    label_sep: Annotated[
        str, typer.Option(help="multi-label: the separator between labels in one cell")
    ] = "|",
    device: DeviceOption = "auto",
) -> None:
    """Prove that transfer helped: pretrained vs the same model from scratch vs a classical
    baseline, over seeds and data sizes, with negative-transfer and domain-gap warnings."""
    from rich.console import Console

    from transferkit.evaluation.report import to_jsonable
    from transferkit.workflows.compare import compare

    err = Console(stderr=True)
    result = compare(
        train,
        eval=eval,
        base=base,
        strategy=strategy,
        seeds=seeds,
        sizes=sizes or None,
        budget=budget,
        report=report,
        json_path=json_out,
        reference=reference,
        text_column=text_column,
        label_column=label_column,
        scratch=scratch,
        classical=classical,
        scratch_epochs=scratch_epochs,
        scratch_time_limit=scratch_time_limit,
        say=lambda m: err.print(f"[dim]{m}[/dim]"),
        device=device,
        task=task,
        label_sep=label_sep,
    )
    if as_json:
        sys.stdout.write(json.dumps(to_jsonable(result), indent=2, allow_nan=False) + "\n")
        return
    print_summary(result)
    if report:
        Console().print(f"report: {report}")


def print_summary(result: dict[str, Any]) -> None:
    """Print a comparison result: the table, time to reach, curve, gap, warnings, skips."""
    from rich.console import Console

    out = Console()
    if result["task"].get("kind", "single-label") != "single-label":
        out.print(_table_targets(result))
        for p in result.get("learning_curve") or []:
            cells = ", ".join(
                f"{m} {p[m]['mean']:.3f}" for m in ("transfer", "scratch", "classical") if p.get(m)
            )
            out.print(f"learning curve, {p['size']} examples: {cells}")
        _print_gap_and_warnings(out, result)
        return
    out.print(_table(result))
    ttr = result.get("time_to_reach")
    if ttr:
        if ttr["reached"]:
            out.print(
                f"transfer reached the scratch model's best validation accuracy "
                f"({ttr['scratch_best_val_accuracy']:.3f}, after {ttr['scratch_seconds_to_best']:.1f} s "
                f"of scratch training) in {ttr['transfer_seconds']:.1f} s"
                + (" (approximate: equal-length epochs assumed)" if ttr.get("approximate") else "")
            )
        else:
            out.print("transfer never reached the scratch model's best validation accuracy")
    for p in result.get("learning_curve") or []:
        cells = ", ".join(
            f"{m} {p[m]['mean']:.3f}" for m in ("transfer", "scratch", "classical") if p.get(m)
        )
        out.print(f"learning curve, {p['label']} ({p['size']} examples): {cells}")
    _print_gap_and_warnings(out, result)


def _print_gap_and_warnings(out: Any, result: dict[str, Any]) -> None:
    """The domain gap, the warnings (cause, advice) and what was not measured."""
    gap = result.get("domain_gap") or {}
    if "zero_shot_accuracy" in gap:
        out.print(
            f"source head zero-shot on the test data: accuracy {gap['zero_shot_accuracy']:.3f}, "
            f"mean confidence {gap['zero_shot_mean_confidence']:.3f}"
        )
    if "a_distance" in gap:
        out.print(f"domain gap vs {gap['reference']}: {gap['interpretation']}")
    for w in result["warnings"]:
        out.print(f"[yellow]warning ({w['kind']})[/yellow]: {w['message']}")
        out.print(f"  cause: {w['cause']}\n  try: {w['advice']}")
    for s in result["skipped"]:
        out.print(f"[dim]not measured: {s['what']}: {s['why']}[/dim]")


def register(app: typer.Typer) -> None:
    app.command("compare")(compare_command)
