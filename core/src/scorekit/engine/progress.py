"""Progress of a long phase: a bar on a terminal, plain periodic lines in a log.

Every phase of the engine that can take more than a few seconds (training, sampling, likelihoods,
evaluation) reports through :class:`Progress`, so no command is silent for long whether its output
goes to a terminal or to a file. On a terminal it is a tqdm bar; otherwise one line at most every
``interval`` seconds (5 s at first, growing to 10 s over long phases), so a log of a six-hour run
stays readable and never has a gap longer than ten seconds of work.
"""

from __future__ import annotations

import sys
import time
from typing import IO, Any

__all__ = ["Progress", "format_seconds"]

#: A plain line at most this often at the start of a phase; the gap grows to MAX_INTERVAL.
MIN_INTERVAL = 5.0
MAX_INTERVAL = 10.0


def format_seconds(seconds: float) -> str:
    """``42 s``, ``3 min 05 s``, ``2 h 07 min``."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class Progress:
    """Counts work of one phase (``desc``) towards ``total`` units (None when unknown).

    ``update(n)`` is cheap (a clock read) so it can be called every step or every model evaluation;
    ``note`` replaces the text shown after the count (the running loss, say). Disabled, it does
    nothing. Use as a context manager or call :meth:`close`.

    Example::

        with Progress("sample", total=1001, unit="evaluations") as progress:
            for _ in range(1001):
                ...
                progress.update()
    """

    def __init__(
        self,
        desc: str,
        total: int | None = None,
        *,
        unit: str = "it",
        initial: int = 0,
        enabled: bool = True,
        stream: IO[str] | None = None,
        interval: float | None = None,
    ) -> None:
        self.desc, self.total, self.unit = desc, total, unit
        self.count = self.initial = initial
        self.note = ""
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self._fixed_interval = interval
        self._start = self._last = time.perf_counter()
        self._bar: Any = None
        if enabled and _is_terminal(self.stream):
            from tqdm import tqdm

            self._bar = tqdm(
                total=total, initial=initial, desc=desc, unit=f" {unit}", file=self.stream, dynamic_ncols=True
            )

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def update(self, n: int = 1, note: str | None = None) -> None:
        if not self.enabled:
            return
        self.count += n
        if note is not None:
            self.note = note
        if self._bar is not None:
            if note is not None:
                self._bar.set_postfix_str(note, refresh=False)
            self._bar.update(n)
            return
        now = time.perf_counter()
        if now - self._last >= self._interval(now):
            self._last = now
            self._write(self.line(now))

    def set_note(self, note: str) -> None:
        """Change the text after the count without counting work."""
        self.update(0, note)

    def line(self, now: float | None = None) -> str:
        """The plain progress line: ``train: 1200/8000 steps (15%), loss 0.53; 12 s, 100 steps/s, ~68 s left``."""
        now = time.perf_counter() if now is None else now
        elapsed = now - self._start
        done = self.count - self.initial
        count = f"{self.count}/{self.total}" if self.total else f"{self.count}"
        text = f"{self.desc}: {count} {self.unit}"
        if self.total:
            text += f" ({100 * self.count / self.total:.0f}%)"
        if self.note:
            text += f", {self.note}"
        text += f"; {format_seconds(elapsed)}"
        if done > 0 and elapsed > 0:
            rate = done / elapsed
            text += f", {rate:.3g} {self.unit}/s"
            if self.total and self.count < self.total:
                text += f", ~{format_seconds((self.total - self.count) / rate)} left"
        return text

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self.enabled and time.perf_counter() - self._start >= MIN_INTERVAL:
            # A phase long enough to have reported says how it ended.
            self._write(self.line())
        self.enabled = False

    def _interval(self, now: float) -> float:
        if self._fixed_interval is not None:
            return self._fixed_interval
        return min(MAX_INTERVAL, max(MIN_INTERVAL, (now - self._start) / 20))

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text + "\n")
            self.stream.flush()
        except (OSError, ValueError):  # a closed or full stream must not end the work it reports on
            self.enabled = False


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
