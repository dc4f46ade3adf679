"""`transferkit rank`: which pretrained model to start from, by transferability and cost."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from transferkit.cli.scale import DeviceOption


def rank_command(
    train: Annotated[
        Path, typer.Argument(help="Training data: a table file, or an image folder root/<class>/.")
    ],
    candidates: Annotated[
        list[str] | None,
        typer.Option(
            "--candidates",
            "-c",
            help="Candidate model (repeat): zoo name, folder, hub id, multilingual-e5-small; "
            "'name@k' for cut point k only. Default: the installed zoo models of the data's "
            "modality that fit can adapt (the set `fit --base auto` ranks), a model with a "
            "source head when its labels match the data's (on multi-label or regression "
            "data: when its body was tuned, for a new head).",
        ),
    ] = None,
    budget: Annotated[
        float | None, typer.Option("--budget", help="Seconds available to adapt the model.")
    ] = None,
    text_column: Annotated[
        str | None, typer.Option("--text-column", help="Text column of a table (auto: text, ...).")
    ] = None,
    label_column: Annotated[
        str | None, typer.Option("--label-column", help="Label column (auto: label, ...).")
    ] = None,
    no_cuts: Annotated[
        bool, typer.Option("--no-cuts", help="Rank whole models only (no cut points).")
    ] = False,
    max_examples: Annotated[
        int | None,
        typer.Option(
            "--max-examples",
            help="Score a stratified subsample this large (default: text 100 per class, "
            "between 300 and 2000; images 100).",
        ),
    ] = None,
    label_map: Annotated[
        list[str] | None,
        typer.Option(
            "--label-map",
            help="DATA=SOURCE (repeat): a data label and the source-head label it means, "
            "for labels named differently (e.g. neg=NEGATIVE); others match ignoring case.",
        ),
    ] = None,
    task: Annotated[
        str | None,
        typer.Option(
            "--task",
            help="single-label | multi-label | regression (default: inferred from the label "
            "column, as fit does). Multi-label: each score is the mean over labels of its "
            "binary per-label score (kNN drives); regression: LogME on the target itself "
            "(it drives) and kNN R².",
        ),
    ] = None,
    label_sep: Annotated[
        str, typer.Option("--label-sep", help="multi-label: the separator between labels")
    ] = "|",
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    device: DeviceOption = "auto",
) -> None:
    """Rank candidate starting models for TRAIN in seconds, without fine-tuning them.

    Scores frozen features (LogME, H-score, kNN; LEEP/NCE from a source head), measures
    cost on this machine, and recommends a model, a cut point and a strategy.
    """
    from transferkit.errors import TransferkitError
    from transferkit.models.classifier import parse_label_map
    from transferkit.select.rank import rank

    try:
        labels = parse_label_map(label_map)
    except TransferkitError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    result = rank(
        train,
        candidates=candidates or None,
        budget=budget,
        text_column=text_column,
        label_column=label_column,
        cuts=None if no_cuts else "auto",
        max_examples=max_examples,
        progress=True,  # on stderr: a bar on a terminal, plain lines in a log
        device=device,
        label_map=labels,
        task=task,
        label_sep=label_sep,
    )
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    from rich.console import Console

    console = Console()
    wide = console.width >= 140  # below that, each candidate's reason follows the table
    console.print(result.table(why=wide))
    if not wide:
        for c in result.candidates:
            rank = "-" if c["rank"] is None else f"#{c['rank']}"
            cut = "" if c["cut"] is None else f"@{c['cut']}"
            console.print(f"{rank} {c['model']}{cut}: {c['why']}")
    for note in result.notes:
        console.print(f"note: {note}")
    where = "rank.md" if result.task == "single-label" else "multitask.json"
    console.print(
        f"ranked by {result.ranked_by} (the score whose order best matched what candidates "
        f"reach in benchmarks/results/{where}); the other scores are shown for comparison "
        "and flag disagreement (⚠)"
    )
    if result.agreement:
        pairs = ", ".join(f"{k} {v:+.2f}" for k, v in result.agreement.items())
        console.print(f"score agreement (Kendall tau across candidates): {pairs}")
    reco = result.recommendation
    if reco is None:
        console.print("[red]no candidate could be scored; see the reasons above[/red]")
        raise typer.Exit(1)
    from transferkit.select.candidates import candidate_ref

    console.print(
        f"[bold]recommended:[/bold] {candidate_ref(reco['model'], reco['cut'])} with strategy "
        f"[bold]{reco['strategy']}[/bold] — {reco['why']}"
    )
    console.print(f"[bold]head:[/bold] {reco.head} — {reco.head_reason}")


def register(app: typer.Typer) -> None:
    """Add the `rank` command to the CLI."""
    app.command("rank")(rank_command)
