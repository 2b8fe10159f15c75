"""Reading a folder of runs for the report: the run folders, their ``summary.json``, CSV files read leniently (a
damaged file is named and skipped), the experiments' descriptions, and the long-format frame of test metrics."""

from __future__ import annotations

import dataclasses
import io
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from roml.experiments.base import Metric
from roml.experiments.registry import experiment_names, get_experiment
from roml.experiments.results import RunFolderError, read_json

SUMMARY_COLUMNS = ("experiment", "method", "seed", "scale", "metric", "value")
X_COLUMNS = ("tasks", "frames", "iteration")
"""Candidate x axes of the training curves, in order of preference."""
X_LABELS = {"tasks": "training tasks", "frames": "environment frames", "iteration": "training iterations"}
_FAMILY = re.compile(r"^(?P<base>.+)@(?P<x>-?\d+)$")
_SEED_DIR = re.compile(r"^seed(\d+)$")


@dataclass(frozen=True)
class _Run:
    experiment: str
    method: str
    seed: int
    path: Path
    summary: dict | None
    """``None`` for an unfinished run (no ``summary.json``)."""
    reader: _Reader = dataclasses.field(compare=False, repr=False)
    """What reads its files (and records those it cannot)."""

    @property
    def name(self) -> str:
        return f"{self.method}/seed{self.seed}"


@dataclass(frozen=True)
class _Spec:
    """What the report needs to know about an experiment, with fallbacks for an unregistered one."""

    name: str
    description: str
    methods: tuple[str, ...]
    table_metrics: tuple[Metric, ...] | None
    curve_xlabel: str = "x"
    phi0_line: float | Mapping[str, float] | None = None
    score_label: str = "task score"
    report_figures: Mapping[str, str] = dataclasses.field(default_factory=dict)
    extra_methods: tuple[str, ...] = ()
    """Methods on another meta-learner (HalfCheetah's ``pearl*``): compared with the first of them, not with the
    experiment's baseline."""


def _spec(name: str) -> _Spec:
    if name not in experiment_names():
        return _Spec(name, "not a registered experiment", (), None)
    experiment = get_experiment(name)
    return _Spec(
        name,
        experiment.description,
        tuple(experiment.all_methods),
        tuple(experiment.table_metrics),
        experiment.curve_xlabel,
        experiment.phi0_line,
        experiment.score_label,
        dict(experiment.report_figures),
        tuple(experiment.extra_methods),
    )


def _read_summary(path: Path) -> dict:
    """``summary.json`` with a non-empty ``metrics`` object of finite numbers, or a RunFolderError naming it."""
    summary = read_json(path)
    metrics = summary.get("metrics") if isinstance(summary, dict) else None
    if not isinstance(metrics, dict) or not metrics:
        raise RunFolderError(f"{path} has no 'metrics' object; rerun that run or remove its folder")
    for key, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise RunFolderError(f"{path}: metric {key!r} must be a finite number, got {value!r}")
    return summary


class _Reader:
    """Reads the runs' files for one report; a file it cannot read, or reads only in part, is recorded in
    :attr:`skipped` (one line naming it and why) and the report goes on without it."""

    def __init__(self):
        self.skipped: list[str] = []

    def summary(self, path: Path) -> dict | None:
        """``summary.json``, ``None`` (and a note) when it is corrupt: the run is then left out."""
        try:
            return _read_summary(path)
        except RunFolderError as error:
            self.skipped.append(f"{error} (run left out)")
            return None

    def json(self, path: Path) -> dict | None:
        try:
            return read_json(path)
        except RunFolderError as error:
            self.skipped.append(str(error))
            return None

    def csv(self, path: Path) -> pd.DataFrame | None:
        """A run's CSV file, ``None`` when it is missing, has no rows or cannot be read (noted unless missing or
        only a header). A torn last line (a file that does not end with a newline, which roml's atomic writes
        never leave) is dropped with a note."""
        try:
            text = path.read_text() if path.exists() else ""
        except (OSError, UnicodeDecodeError) as error:
            self.skipped.append(f"{path} is unreadable ({error}); skipped")
            return None
        if path.exists() and not text:
            self.skipped.append(f"{path} is empty; skipped")
        if not text.strip():
            return None
        if not text.endswith("\n"):
            self.skipped.append(f"{path} ends in a torn line (no final newline); that line skipped")
            text = text[: text.rfind("\n") + 1]
        try:
            frame = pd.read_csv(io.StringIO(text))
        except (pd.errors.EmptyDataError, pd.errors.ParserError) as error:
            self.skipped.append(f"{path} is corrupt ({str(error).strip().splitlines()[0]}); skipped")
            return None
        return frame if len(frame) else None


def _find_runs(out: Path, reader: _Reader) -> list[_Run]:
    runs = []
    for seed_dir in sorted(out.glob("*/*/seed*")):
        match = _SEED_DIR.match(seed_dir.name)
        method_dir = seed_dir.parent
        hidden = method_dir.name.startswith(".") or method_dir.parent.name.startswith(".")
        if not match or hidden or not seed_dir.is_dir():
            continue
        summary_file = seed_dir / "summary.json"
        summary = reader.summary(summary_file) if summary_file.exists() else None
        if summary is None and summary_file.exists():
            continue
        runs.append(_Run(method_dir.parent.name, method_dir.name, int(match[1]), seed_dir, summary, reader))
    return runs


def _method_order(present, preferred: Sequence[str]) -> list[str]:
    """The methods in ``present``: the experiment's display order first, then any others alphabetically."""
    present = set(present)
    return [m for m in preferred if m in present] + sorted(present - set(preferred))


def _summary_frame(runs: Sequence[_Run]) -> pd.DataFrame:
    rows = [
        (run.experiment, run.method, run.seed, str(run.summary.get("scale", "")), metric, float(value))
        for run in runs
        for metric, value in run.summary["metrics"].items()
    ]
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


def _split_family(metric: str) -> tuple[str, int] | None:
    match = _FAMILY.match(metric)
    return (match["base"], int(match["x"])) if match else None


def _families(metrics: Sequence[str]) -> dict[str, list[int]]:
    """Metric families ``<base>@<x>``: base -> sorted x values, bases in order of first appearance."""
    families: dict[str, list[int]] = {}
    for metric in metrics:
        split = _split_family(metric)
        if split:
            families.setdefault(split[0], []).append(split[1])
    return {base: sorted(set(xs)) for base, xs in families.items()}


def _pretty(base: str, alpha, math_text: bool = False) -> str:
    """``cvar_loss`` -> ``CVaR_0.05 loss`` (mathtext subscript in figures), ``mean_return`` -> ``mean return``."""
    if alpha is None:
        cvar = "CVaR"
    else:
        cvar = f"CVaR$_{{{alpha:g}}}$" if math_text else f"CVaR_{alpha:g}"
    return " ".join(cvar if word.lower() == "cvar" else word for word in base.split("_"))


def _distinct(values) -> list[str]:
    """The distinct, non-empty values as sorted strings."""
    return sorted({str(v) for v in values if v is not None and v != ""})


def _describe(values, what: str, template: str) -> str | None:
    """``template`` filled with the one distinct value, a "mixed ..." note when they differ, ``None`` if none."""
    distinct = _distinct(values)
    if len(distinct) == 1:
        return template.format(distinct[0])
    return f"mixed {what}: {', '.join(distinct)}" if distinct else None


def _by_seed(frame: pd.DataFrame, x: str, column: str) -> pd.DataFrame:
    """``frame``'s ``column`` as a table: index ``x``, one column per seed."""
    return frame.groupby([x, "seed"])[column].mean().unstack("seed")


def _concat_runs(runs: Sequence[_Run], filename: str) -> dict[str, pd.DataFrame]:
    """Per method, the rows of the ``filename`` of every run in ``runs`` with a ``seed`` column (runs without rows
    skipped)."""
    frames: dict[str, list[pd.DataFrame]] = {}
    for run in runs:
        frame = run.reader.csv(run.path / filename)
        if frame is not None:
            frames.setdefault(run.method, []).append(frame.assign(seed=run.seed))
    return {method: pd.concat(parts, ignore_index=True) for method, parts in frames.items()}
