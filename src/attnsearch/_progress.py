"""Progress bars for long runs: tqdm when it is installed, a plain line otherwise.

The search drivers update the bar between chunks of compiled work (about every
0.1 s), never from inside a kernel, so the bar costs nothing measurable.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

__all__ = ["ProgressBar"]


class ProgressBar:
    """A bar over ``total`` units (or an open-ended counter when total is None).

    Parameters
    ----------
    total : int or None
    desc : str
    unit : str
    stream : file, default sys.stderr
    """

    def __init__(
        self,
        total: int | None,
        desc: str,
        unit: str = "it",
        stream: TextIO | None = None,
    ) -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self.done = 0
        self._bar: Any  # a tqdm bar, or None for the plain line
        try:
            from tqdm.auto import tqdm
        except (
            ImportError
        ):  # the fallback: one line, rewritten at most 5 times a second
            self._bar = None
            self._desc = desc
            self._unit = unit
            self._last = 0.0
            self._start = time.perf_counter()
        else:
            self._bar = tqdm(
                total=total,
                desc=desc,
                unit=unit,
                file=self.stream,
                dynamic_ncols=True,
                leave=True,
            )

    def update(self, done: int, **postfix: object) -> None:
        """Move the bar to ``done`` units and show ``postfix`` (best cost, ...)."""
        step = max(0, int(done) - self.done)
        self.done = int(done)
        if self._bar is not None:
            self._bar.set_postfix(
                {k: _short(v) for k, v in postfix.items()}, refresh=False
            )
            self._bar.update(step)
            return
        now = time.perf_counter()
        if now - self._last < 0.2 and (self.total is None or self.done < self.total):
            return
        self._last = now
        of = f"/{self.total}" if self.total is not None else ""
        fields = " ".join(f"{k}={_short(v)}" for k, v in postfix.items())
        self.stream.write(
            f"\r{self._desc}: {self.done}{of} {self._unit} "
            f"[{now - self._start:.1f}s] {fields}"
        )
        self.stream.flush()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        else:
            self.stream.write("\n")
            self.stream.flush()


def _short(value: object) -> object:
    if isinstance(value, float):
        return f"{value:.6g}"
    return value
