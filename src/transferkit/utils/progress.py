"""Progress for long work, on stderr: a rich bar on a terminal, plain lines without one.

Without a terminal (a log file, CI, `fit --json 2>log`) a bar would print nothing useful, so a
plain line (stage, done/total, rate, ETA) is written at a steady interval instead —
`TRANSFERKIT_PROGRESS_INTERVAL` seconds, 10 by default — plus one when the stage ends.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

DEFAULT_INTERVAL_S = 10.0


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


def _duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    minutes, s = divmod(seconds, 60)
    h, m = divmod(minutes, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class LineProgress:
    """The same surface as the bar (`advance`, `update`), writing a plain line every interval."""

    def __init__(
        self, total: int | None, description: str, *, interval: float, stream: TextIO
    ) -> None:
        self.total, self.description = total, description
        self.interval, self.stream = interval, stream
        self.done = 0
        self.start = self._last = time.monotonic()

    def advance(self, n: int = 1) -> None:
        self.done += n
        if time.monotonic() - self._last >= self.interval:
            self.write()

    def update(self, **kwargs: Any) -> None:
        self.description = kwargs.get("description", self.description)
        self.total = kwargs.get("total", self.total)
        if "completed" in kwargs:
            self.done = int(kwargs["completed"])
        self.advance(int(kwargs.get("advance", 0)))

    def line(self, *, final: bool = False) -> str:
        elapsed = time.monotonic() - self.start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        of = f"/{self.total}" if self.total else ""
        text = f"[transferkit] {self.description}: {self.done}{of}, {rate:.1f}/s"
        text += f", elapsed {_duration(elapsed)}"
        if final:
            return text + ", done"
        if self.total and rate > 0:
            text += f", eta {_duration((self.total - self.done) / rate)}"
        return text

    def write(self, *, final: bool = False) -> None:
        self._last = time.monotonic()
        print(self.line(final=final), file=self.stream, flush=True)


def _interval() -> float:
    raw = os.environ.get("TRANSFERKIT_PROGRESS_INTERVAL", "")
    try:
        value = float(raw) if raw else DEFAULT_INTERVAL_S
    except ValueError:
        value = DEFAULT_INTERVAL_S
    return value if value > 0 else DEFAULT_INTERVAL_S


@contextmanager
def progress_bar(total: int | None, description: str, *, enabled: bool = True) -> Iterator[Any]:
    """Context manager yielding an object with `.advance(n)` and `.update(description=...)`.

    On a terminal: a transient rich bar with ETA. Otherwise: plain lines (see the module doc).
    """
    if not enabled:
        yield _NullBar()
        return
    stream = sys.stderr
    if not stream.isatty():
        lines = LineProgress(total, description, interval=_interval(), stream=stream)
        yield lines
        if time.monotonic() - lines.start >= lines.interval:
            lines.write(final=True)  # long work says it ended; a quick stage stays silent
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
