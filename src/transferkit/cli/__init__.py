"""The `transferkit` command line (typer). Each command family lives in its own module
and registers itself here; heavy imports happen inside the commands."""

from __future__ import annotations

import importlib
import logging
import os
import sys
import warnings

import typer

from transferkit.errors import TransferkitError

app = typer.Typer(
    name="transferkit",
    help="Transfer learning, practical and measured: use, choose, adapt, prove and ship "
    "pretrained models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Modules with a `register(app)` function; a missing optional module is skipped.
_COMMAND_MODULES = (
    "transferkit.cli.use",
    "transferkit.cli.fit",
    "transferkit.cli.rank",
    "transferkit.cli.compare",
    "transferkit.cli.export",
    "transferkit.cli.serve",
)


def _register_all() -> None:
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name != name:
                raise
            continue
        module.register(app)


_register_all()


def _quiet_third_party() -> None:
    # Library noise (weight-loading bars, advisory warnings) hides our own output.
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # transformers' own deprecation notices (e.g. peft calling is_gradient_checkpointing)
    # are for library authors, not for a command-line user.
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"transformers\..*")
    # Through the environment, read when transformers is first imported: importing it
    # here would cost seconds on calls that never need it (`--help`, the fast start).
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def main() -> None:
    """Entry point: run the app; a TransferkitError prints one clear line and exits 2."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    _quiet_third_party()
    try:
        app()
    except TransferkitError as e:
        typer.secho(f"error: {e}", fg=typer.colors.RED, err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.secho("interrupted", fg=typer.colors.YELLOW, err=True)
        sys.exit(130)
