"""Progress bars with ETA for long work, on stderr (rich), off when not wanted."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class _NullBar:
    def advance(self, n: int = 1) -> None:
        pass

    def update(self, **kwargs: Any) -> None:
        pass


class _Bar:
    def __init__(self, progress: Any, task: Any) -> None:
        self._p, self._t = progress, task

    def advance(self, n: int = 1) -> None:
        self._p.advance(self._t, n)

    def update(self, **kwargs: Any) -> None:
        self._p.update(self._t, **kwargs)


@contextmanager
def progress_bar(total: int | None, description: str, *, enabled: bool = True) -> Iterator[Any]:
    """Context manager yielding an object with `.advance(n)` and `.update(description=...)`."""
    if not enabled:
        yield _NullBar()
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    with progress:
        yield _Bar(progress, progress.add_task(description, total=total))
