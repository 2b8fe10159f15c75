"""TensorBoard event files beside a run's CSVs, so that ``tensorboard --logdir OUT`` shows every run of a folder.

Written when the ``tensorboard`` package is installed (``pip install 'roml-rl[tensorboard]'``), skipped otherwise:
the CSVs stay the record and the event files are derived from them. Each checkpoint adds the rows written since the
last one, under these tags:

    train/<metric>, validation/<metric>   progress.csv's train_* and valid_* columns, against frames (tasks for MAML)
    update/<name>                         the algorithm's own columns (losses, entropy, ...), against the same axis
    speed/wall_time, speed/steps_per_s    the clock, against the same axis
    cem/<column>                          sampler.csv (phi, quantiles, sample and reference CVaR), against the update

A process writes its own event file: the first write of a process (a fresh run, or a resumed one) removes the
folder's older event files and writes every row again, so a resumed run shows its curves once, exactly as its CSVs.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from numbers import Real
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["EventLog", "tensorboard_available"]

_AXES = ("frames", "tasks", "iteration")  # a progress row's x axis: the first of these it has
_PATTERN = "events.out.tfevents.*"


@functools.cache
def tensorboard_available() -> bool:
    """Whether the ``tensorboard`` package (which torch's ``SummaryWriter`` writes with) is installed."""
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        return False
    return True


def progress_tag(column: str) -> str | None:
    """The TensorBoard tag of a ``progress.csv`` column (None for the x axis columns)."""
    if column in _AXES:
        return None
    for prefix, group in (("train_", "train"), ("valid_", "validation")):
        if column.startswith(prefix):
            return f"{group}/{column.removeprefix(prefix)}"
    return f"speed/{column}" if column in ("wall_time", "steps_per_s") else f"update/{column}"


class EventLog:
    """The event file of one run folder, appended at each checkpoint (see the module docstring)."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self._writer: Any = None
        self._rows = self._updates = 0

    def write(self, rows: Sequence[dict], history: pd.DataFrame) -> None:
        """Add the progress ``rows`` and sampler ``history`` rows not yet written by this process."""
        if not tensorboard_available():
            return
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            for old in self.folder.glob(_PATTERN):
                old.unlink()
            self._writer = SummaryWriter(log_dir=str(self.folder))
        for row in rows[self._rows :]:
            step = int(next(row[axis] for axis in _AXES if axis in row))
            for column, value in row.items():
                tag = progress_tag(column)
                if tag is not None and _is_number(value):
                    self._writer.add_scalar(tag, float(value), step)
        for record in history.iloc[self._updates :].to_dict("records"):
            for column, value in record.items():
                if column != "update" and _is_number(value):
                    self._writer.add_scalar(f"cem/{column}", float(value), int(record["update"]))
        self._rows, self._updates = len(rows), len(history)
        self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def _is_number(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)
