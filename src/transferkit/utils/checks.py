"""Validate numeric options where they enter, for the CLI and the Python API alike.

Every message names the option as both the command-line flag and the Python keyword
(``--lr / lr=``), the bad value, and the valid range, e.g.::

    --lr / lr=nan is not a valid learning rate: give a finite number in (0, 10], e.g. 2e-05

>>> check_number(3, "epochs", low=1, high=1000, integer=True)
3
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from transferkit.errors import InputError


def option_name(name: str) -> str:
    """``"batch_size"`` → ``"--batch-size / batch_size="`` (how both faces spell it)."""
    return f"--{name.replace('_', '-')} / {name}="


def _num(x: float, integer: bool) -> str:
    return f"{int(x)}" if integer else f"{x:g}"


def _range(low: float | None, high: float | None, low_open: bool, integer: bool) -> str:
    kind = "a whole number" if integer else "a finite number"
    lo = None if low is None else _num(low, integer)
    hi = None if high is None else _num(high, integer)
    if low is not None and high is not None:
        return f"{kind} in {'(' if low_open else '['}{lo}, {hi}]"
    if low is not None:
        return f"{kind} {'>' if low_open else '>='} {lo}"
    if high is not None:
        return f"{kind} <= {hi}"
    return kind


def check_number(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    integer: bool = False,
    what: str = "",
    example: Any = None,
) -> Any:
    """Return `value` when it is a (whole, with `integer`) finite number within
    [low, high] (`low_open`: low excluded); else raise InputError naming the option, the
    value and the valid range. None is returned as is (the option's default applies)."""
    if value is None:
        return None
    allowed = _range(low, high, low_open, integer)
    hint = f", e.g. {example}" if example is not None else ""
    label = f"{option_name(name)}{value!r}" + (f" is not a valid {what}" if what else "")
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if ok and integer:
        ok = isinstance(value, numbers.Integral) or (
            math.isfinite(float(value)) and float(value).is_integer()
        )
    if ok and not math.isfinite(float(value)):
        ok = False
    if ok and low is not None:
        ok = float(value) > low if low_open else float(value) >= low
    if ok and high is not None:
        ok = float(value) <= high
    if not ok:
        raise InputError(f"{label}: give {allowed}{hint}")
    return int(value) if integer else value


def check_fit_options(
    *,
    epochs: Any = None,
    lr: Any = None,
    batch_size: Any = None,
    budget: Any = None,
    freeze_groups: Any = None,
    val_fraction: Any = None,
    lora_rank: Any = None,
    patience: Any = None,
    seed: Any = None,
) -> None:
    """The numeric options of `fit` (and `transferkit fit`), each against its range."""
    check_number(epochs, "epochs", low=1, high=1000, integer=True, what="epoch count", example=3)
    check_number(lr, "lr", low=0, high=10, low_open=True, what="learning rate", example=2e-5)
    check_number(batch_size, "batch_size", low=1, high=65536, integer=True, example=32)
    check_number(budget, "budget", low=0, low_open=True, what="budget in seconds", example=600)
    check_number(freeze_groups, "freeze_groups", low=0, high=1000, integer=True, example=2)
    check_number(
        val_fraction, "val_fraction", low=0, high=0.9, low_open=True, what="fraction", example=0.1
    )
    check_number(lora_rank, "lora_rank", low=1, high=1024, integer=True, example=8)
    check_number(patience, "patience", low=1, high=1000, integer=True, example=2)
    check_number(seed, "seed", low=0, high=2**32 - 1, integer=True, example=0)


def check_texts(inputs: Any) -> list[str]:
    """`inputs` as a list of strings; InputError naming the first one that is not."""
    texts = list(inputs)
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise InputError(
                f"input {i} is {type(t).__name__} {t!r:.60}; text models take strings. "
                "Convert it with str() or drop it."
            )
    return texts


def check_port(port: Any) -> int:
    """A TCP port to listen on: 1..65535 (0 would pick a random one nobody can find)."""
    return int(check_number(port, "port", low=1, high=65535, integer=True, example=8000))


def finite_json(value: Any) -> Any:
    """`value` with every non-finite float replaced by None (NaN is not JSON), ready for
    ``json.dumps(..., allow_nan=False)``; containers are copied, other values kept."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite_json(v) for v in value]
    return value


def dumps_strict(value: Any, **kwargs: Any) -> str:
    """Strict JSON text of `value` (non-finite floats become null; never ``NaN``)."""
    import json

    return json.dumps(finite_json(value), allow_nan=False, **kwargs)
