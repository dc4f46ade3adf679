"""The cut-point rule shared by every architecture: a cut keeps the bottom k layer
groups of a body, 1 <= k < number of groups.

>>> check_cut(4, 7, "minilm-l6")
4
"""

from __future__ import annotations

from typing import Any

from transferkit.errors import InputError


def check_cut(cut: Any, n_groups: int, name: str) -> int:
    """`cut` as an int in 1..n_groups-1, or an InputError naming the value, the range and
    the fix. A cut keeps the bottom `cut` layer groups; keeping all of them is the whole
    model (no '@k'), keeping none leaves nothing."""
    ok = isinstance(cut, int) and not isinstance(cut, bool) and 1 <= cut < n_groups
    if not ok:
        raise InputError(
            f"cut {cut!r} is out of range for {name!r}: it has {n_groups} layer groups and a "
            f"cut keeps the bottom 1..{n_groups - 1} of them. Pass '{name}@k' with "
            f"1 <= k <= {n_groups - 1} (`transferkit rank` suggests one), or {name!r} for the "
            "whole model."
        )
    return int(cut)
