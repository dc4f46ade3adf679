"""One base exception for the package; subclasses also inherit the matching builtin.

Every message names the thing, the bad value, what is allowed, and the fix.
"""

from __future__ import annotations


class TransferkitError(Exception):
    """Base class of every error transferkit raises on purpose."""


class InputError(TransferkitError, ValueError):
    """A value the user gave is not acceptable (empty text, bad option, bad label...)."""


class DataError(TransferkitError, ValueError):
    """A data file or table cannot be used as given (missing column, empty file...)."""


class ModelNotFoundError(TransferkitError, LookupError):
    """A model name, folder or hub id cannot be resolved to weights."""


class FileMissingError(TransferkitError, FileNotFoundError):
    """A path the user gave does not exist."""


class NotFittedError(TransferkitError, RuntimeError):
    """An estimator was used before `fit`."""


class MissingExtraError(TransferkitError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""


def require_extra(module: str, extra: str) -> None:
    """Import-check `module`; raise MissingExtraError naming `pip install transferkit[extra]`."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise MissingExtraError(
            f"this feature needs the Python package {module!r}, which is not installed. "
            f"Install it with: pip install 'transferkit[{extra}]'"
        )


class TrainingError(TransferkitError, RuntimeError):
    """Training went wrong in a way more steps cannot fix (non-finite loss or weights);
    nothing is saved."""
