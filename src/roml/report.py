"""The report of a folder of runs (``roml report OUT``): tables and the paper's figures, from the results files only.

It reads ``OUT/<experiment>/<method>/seed<k>/`` (the layout of :mod:`roml.experiments.results`) and writes into
``OUT`` itself:

==============================  ======================================================================================
``summary.csv``                 every test metric of every finished run, long format (experiment, method, seed, scale,
                                metric, value): the raw numbers behind every table and figure below
``table.md``                    per experiment (its header: the scale, any setting changed from the scale's preset
                                with ``--set``, the seeds), the layout of the paper's Tables 1-2: one row per method,
                                one column per ``table_metrics`` entry, ``mean ± std`` over seeds, the best mean in
                                bold; then one table per metric family ``<base>@<x>`` (sine: the mean and CVaR test
                                loss after 0..5 inner steps, the numbers of Fig. 5 / 14) and one of any other metric,
                                so nothing is hidden; unfinished runs are listed and left out. The paper-layout
                                table comes twice, the second time as ``mean ± standard error`` (std / √seeds). Then
                                each method against the experiment's risk-neutral baseline (sine: ``maml``; VariBAD
                                experiments: ``varibad``): per seed, the method's final test CVaR (``cvar_return``;
                                sine: ``cvar_loss@1``) minus the baseline's, their mean and a paired t-test; and the
                                mean over seeds of that difference in the validation CVaR (``valid_cvar_return``)
                                along training, from the ``progress.csv`` of every run, finished or not
``<experiment>_test_curves.png``  every metric family against ``x``, one line per method, mean over seeds with a
                                shaded 95% confidence interval: the paper's Fig. 5 (CVaR) and Fig. 14 (mean and CVaR)
``<experiment>_sampler.png``    RoML's cross-entropy method, for every method whose ``sampler.csv`` has rows: ``phi``
                                per task dimension, then the sample vs reference mean and CVaR scores, against the
                                number of training tasks: the paper's Fig. 10-13
``<experiment>_training.png``   the ``train_*`` columns of ``progress.csv`` against tasks / frames / iterations,
                                smoothed, and its ``valid_*`` columns (periodic evaluations on fixed tasks, as
                                recorded), mean over seeds with a 95% confidence interval
``<experiment>_<suffix>.png``   the experiment's own figures (``report_figures``; Khazad-Dum: ``episodes``, the
                                test episodes in the heaviest rain on the map, the paper's Fig. 3)
==============================  ======================================================================================

Optional attributes of an experiment class refine the figures (all have fallbacks, and an experiment folder whose
name is not registered is reported generically):

* ``curve_xlabel`` (str, default ``"x"``): the x label of the test curves, e.g. "inner gradient steps at test time".
* ``phi0_line`` (float, or a mapping from task-dimension name to float; default none): ``phi`` of the original task
  distribution, drawn dashed in the sampler panels (0.5 for the Beta families).
* ``score_label`` (str, default ``"task score"``): the y label of the sample / reference score panel.
* ``report_figures`` (``{suffix: "module:function"}``, default none): experiment-specific figures, see
  :mod:`roml.figures`.

Nothing is written before every run folder has been read, and every file is written atomically. A file that cannot
be read (a corrupt ``summary.json``, whose run is then left out; a corrupt, empty or torn CSV file) does not stop
the report: ``table.md`` ends with a section naming each such file and why, and ``roml report`` prints them.
"""

from __future__ import annotations

import importlib
import io
import json
import math
import re
from collections.abc import Mapping, Sequence
import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import EngFormatter, MaxNLocator
from scipy import stats

from roml.experiments.base import Metric
from roml.experiments.registry import experiment_names, get_experiment
from roml.experiments.results import RunFolderError, atomic_write_bytes, atomic_write_text, read_json
from roml.risk import confidence_interval

__all__ = ["SUMMARY_COLUMNS", "write_report"]

SUMMARY_COLUMNS = ("experiment", "method", "seed", "scale", "metric", "value")
X_COLUMNS = ("tasks", "frames", "iteration")
"""Candidate x axes of the training curves, in order of preference."""
X_LABELS = {"tasks": "training tasks", "frames": "environment frames", "iteration": "training iterations"}
DPI = 120
MAX_CURVE_POINTS = 400
"""Longer curves are thinned to this many evenly spaced points (after smoothing) before plotting."""
SAMPLER_SERIES = (  # sampler.csv column and its colour (the paper's Fig. 13 draws the sample scores in green)
    ("sample_mean", "tab:green"),
    ("reference_mean", "tab:blue"),
    ("reference_cvar", "tab:red"),
)

BASELINES = ("varibad", "maml")
"""The risk-neutral baselines looked for in an unregistered experiment (a registered one's is its first method)."""
MAX_LEAD_ROWS = 15
"""The validation-lead table shows every validation point up to this many, else about ``LEAD_STEPS`` of them."""
LEAD_STEPS = 12
SEM_LEGEND = (
    "Cells: mean ± standard error of the mean over seeds (std / √seeds; the value alone for a single seed), the "
    "columns and bold of the table above. The paper's Tables 1-2 caption their ± over 30 seeds a standard deviation, "
    "but by the authors' own per-seed spread (a CVaR std of about 90 on HalfCheetah-Mass against ± 16 in Table 1) "
    "it is this standard error."
)

_FAMILY = re.compile(r"^(?P<base>.+)@(?P<x>-?\d+)$")
_SEED_DIR = re.compile(r"^seed(\d+)$")


# --- reading ---------------------------------------------------------------------------------------------------


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


def _spec(name: str) -> _Spec:
    if name not in experiment_names():
        return _Spec(name, "not a registered experiment", (), None)
    experiment = get_experiment(name)
    return _Spec(
        name,
        experiment.description,
        tuple(experiment.methods),
        tuple(experiment.table_metrics),
        experiment.curve_xlabel,
        experiment.phi0_line,
        experiment.score_label,
        dict(experiment.report_figures),
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


# --- table.md ---------------------------------------------------------------------------------------------------


def _plus_minus(value: float, width: float | None, sign: str = "") -> str:
    """``value ± width`` with the value at four significant digits (0 to 6 decimals; scientific from 1e6 on), the
    width at the same decimals; the value alone for ``width=None``; ``sign="+"`` signs the value (differences)."""
    if abs(value) >= 1e6:
        return f"{value:{sign}.3e}" + (f" ± {width:.3e}" if width is not None else "")
    decimals = int(np.clip(3 - math.floor(math.log10(abs(value))), 0, 6)) if value != 0 else 4
    return f"{value:{sign}.{decimals}f}" + (f" ± {width:.{decimals}f}" if width is not None else "")


def _format_cell(ci, spread: str = "std") -> str:
    """``mean ± std`` (``spread="std"``) or ``mean ± standard error`` (``"sem"``: std / √n) as :func:`_plus_minus`
    writes it; the mean alone for a single seed. Per cell, so one diverged run cannot coarsen the rest of its
    column."""
    width = ci.std if spread == "std" else ci.std / math.sqrt(ci.n)
    return _plus_minus(ci.mean, width if ci.n > 1 else None)


def _markdown_table(
    frame: pd.DataFrame, methods, columns: Sequence[tuple[str, str, bool | None]], spread: str = "std"
) -> list[str]:
    """Rows = methods, one column per ``(metric key, label, higher_is_better)``: ``mean ± std`` over seeds
    (std with ddof 1; ``spread="sem"``: ± the standard error std / √n instead; the value alone for one seed), the
    best mean in bold (none when the direction is unknown), and the number of seeds."""
    values = frame.groupby(["method", "metric"])["value"].apply(list).to_dict()
    seeds = frame.groupby("method")["seed"].nunique().to_dict()
    lines = ["| Method | " + " | ".join(label for _, label, _ in columns) + " | Seeds |"]
    lines.append("|---|" + "---|" * len(columns) + "---:|")
    cells = {method: [] for method in methods}
    for key, _, higher in columns:
        stats = {m: confidence_interval(values[m, key]) for m in methods if (m, key) in values}
        means = [ci.mean for ci in stats.values()]
        best = None if higher is None or not means else (max(means) if higher else min(means))
        for method in methods:
            ci = stats.get(method)
            if ci is None:
                cells[method].append("–")
                continue
            text = _format_cell(ci, spread)
            cells[method].append(f"**{text}**" if ci.mean == best else text)
    for method in methods:
        lines.append(f"| {method} | " + " | ".join(cells[method]) + f" | {seeds.get(method, 0)} |")
    return lines


def _preset_changes(run: _Run) -> str:
    """The settings of the run's ``config.json`` that differ from its scale's preset (``--set``), as
    ``field=value``; empty for an unregistered experiment or scale."""
    if run.experiment not in experiment_names():
        return ""
    experiment, scale = get_experiment(run.experiment), str(run.summary.get("scale"))
    if scale not in experiment.presets:
        return ""
    saved = run.reader.json(run.path / "config.json")
    if saved is None:
        return ""
    preset = json.loads(json.dumps(experiment.config(run.method, run.seed, scale).to_dict()))  # tuples as lists
    return " ".join(f"{key}={value}" for key, value in saved.items() if key in preset and value != preset[key])


def _mixed_versions(runs: Sequence[_Run]) -> str:
    """Which entries of ``versions.json`` differ between ``runs`` (or between the sessions of a resumed run), with
    the number of runs of each value (``not recorded`` for a run without the file); empty when they all agree."""
    sessions = [_sessions(run) for run in runs]
    keys = sorted({key for recorded in sessions for session in recorded for key in session})
    differing = []
    for key in keys:
        counts: dict[str, int] = {}
        for recorded in sessions:
            for value in {str(session.get(key, "not recorded")) for session in recorded or [{}]}:
                counts[value] = counts.get(value, 0) + 1
        if len(counts) > 1:
            differing.append(
                f"{key}: " + ", ".join(f"{v} ({n} run{'s' if n > 1 else ''})" for v, n in sorted(counts.items()))
            )
    return "; ".join(differing)


def _sessions(run: _Run) -> list[dict]:
    """The sessions of a run's ``versions.json`` (none for a run without the file or with a corrupt one)."""
    path = run.path / "versions.json"
    recorded = run.reader.json(path) if path.exists() else None
    sessions = recorded.get("sessions") if isinstance(recorded, dict) else None
    return [s for s in sessions if isinstance(s, dict)] if isinstance(sessions, list) else []


def _section_header(spec: _Spec, finished: Sequence[_Run], frame: pd.DataFrame) -> list[str]:
    counts = sorted(set(frame.groupby("method")["seed"].nunique()))
    n_seeds = str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
    details = [
        _describe((run.summary.get("scale") for run in finished), "scales", "scale {}"),
        _describe((_preset_changes(run) for run in finished), "changes of the preset", "with {}"),
        f"{n_seeds} seed{'s' if counts[-1] > 1 else ''} per method",
    ]
    lines = [f"## {spec.name} — {spec.description} ({', '.join(d for d in details if d)})", ""]
    test = [
        _describe((run.summary.get("n_test_tasks") for run in finished), "test-set sizes", "{} test tasks per run"),
        _describe((run.summary.get("alpha") for run in finished), "alphas", "α = {}"),
    ]
    if any(test):
        lines += ["Test: " + ", ".join(part for part in test if part) + ".", ""]
    mixed = _mixed_versions(finished)
    if mixed:
        lines += [
            f"**Mixed versions**: these runs were produced by different versions or machines ({mixed}); the "
            "same seed gives identical results only with the same versions on the same machine.",
            "",
        ]
    lines += [
        "Cells: mean ± standard deviation over seeds (ddof 1; the value alone for a single seed); "
        "**bold**: the best mean of the column.",
        "",
    ]
    return lines


def _directions(spec: _Spec) -> dict[str, bool]:
    """higher_is_better per table metric, also keyed by the base of a family metric (sine: ``mean_loss``)."""
    directions = {}
    for metric in spec.table_metrics or ():
        split = _split_family(metric.key)
        directions[metric.key] = directions[split[0] if split else metric.key] = metric.higher_is_better
    return directions


def _main_columns(spec: _Spec, metrics: Sequence[str]) -> list[tuple[str, str, bool | None]]:
    """The paper-layout table's columns: the experiment's table_metrics, or every plain metric if unregistered."""
    if spec.table_metrics is None:
        return [(key, key, None) for key in metrics if _split_family(key) is None]
    return [(m.key, m.label, m.higher_is_better) for m in spec.table_metrics if m.key in metrics]


# --- table.md: each method against the baseline -----------------------------------------------------------------


def _baseline(spec: _Spec, methods: Sequence[str]) -> str | None:
    """The risk-neutral baseline the other methods are compared with: a registered experiment's first method (sine:
    ``maml``; VariBAD experiments: ``varibad``), else the first of ``BASELINES`` present; ``None`` if it has no run."""
    candidates = spec.methods[:1] if spec.methods else BASELINES
    return next((method for method in candidates if method in methods), None)


def _cvar_metric(spec: _Spec, metrics: Sequence[str]) -> tuple[str, str, bool] | None:
    """``(key, label, higher_is_better)`` of the final model's test CVaR: the first table metric whose key starts
    with ``cvar`` (VariBAD experiments: ``cvar_return``; sine: ``cvar_loss@1``), for an unregistered experiment
    ``cvar_return`` (higher is better); ``None`` when no summary has it."""
    if spec.table_metrics is None:
        return ("cvar_return", "cvar_return", True) if "cvar_return" in metrics else None
    cvars = [m for m in spec.table_metrics if m.key.startswith("cvar") and m.key in metrics]
    return (cvars[0].key, cvars[0].label, cvars[0].higher_is_better) if cvars else None


def _paired_test(pairs: pd.DataFrame) -> tuple[str, str]:
    """The t and two-sided p cells of a paired t-test of mean d = 0, d = column 0 − column 1 of ``pairs`` (one row
    per seed): ``scipy.stats.ttest_rel``, i.e. t = mean(d) / (std(d, ddof 1) / √n) with n − 1 degrees of freedom."""
    d = (pairs.iloc[:, 0] - pairs.iloc[:, 1]).to_numpy()
    if d.size < 2:
        return "needs ≥ 2 pairs", "–"
    if np.ptp(d) == 0:
        return "undefined (d constant)", "–"
    result = stats.ttest_rel(pairs.iloc[:, 0], pairs.iloc[:, 1])
    return f"{result.statistic:.3f}", f"{result.pvalue:.3g}"


def _paired_section(frame: pd.DataFrame, baseline: str, others: Sequence[str], metric) -> list[str]:
    """Per seed where a method and the baseline have both finished, d = the method's final test CVaR minus the
    baseline's (one column per method, "–" where the seed has no pair); then the mean d, the paired t-test of
    mean d = 0 (:func:`_paired_test`) and the number of pairs."""
    key, label, higher = metric
    wide = frame[frame["metric"] == key].pivot_table(index="seed", columns="method", values="value")
    pairs = {m: wide[[m, baseline]].dropna() for m in others if m in wide and baseline in wide}
    diffs = {m: p[m] - p[baseline] for m, p in pairs.items() if len(p)}
    if not diffs:
        return []
    lines = [
        f"### {label}: each method − {baseline}, paired by seed",
        "",
        f"d = a method's test {label} (`{key}`, the final model) minus {baseline}'s, on every seed where both runs "
        f"have finished; {'higher' if higher else 'lower'} is better, so d {'>' if higher else '<'} 0 favours the "
        f"method. Mean d over the pairs; paired t-test of mean d = 0 (scipy.stats.ttest_rel, two-sided): "
        "t = mean(d) / (std(d, ddof 1) / √pairs).",
        "",
        "| Seed | " + " | ".join(f"{m} − {baseline}" for m in diffs) + " |",
        "|---:|" + "---|" * len(diffs),
    ]
    for seed in sorted(set().union(*(d.index for d in diffs.values()))):
        cells = [_plus_minus(d[seed], None, "+") if seed in d.index else "–" for d in diffs.values()]
        lines.append(f"| {seed} | " + " | ".join(cells) + " |")
    tests = [_paired_test(pairs[m]) for m in diffs]
    lines += [
        "| **mean d** | " + " | ".join(f"**{_plus_minus(d.mean(), None, '+')}**" for d in diffs.values()) + " |",
        "| t | " + " | ".join(t for t, _ in tests) + " |",
        "| p (two-sided) | " + " | ".join(p for _, p in tests) + " |",
        "| pairs | " + " | ".join(str(len(d)) for d in diffs.values()) + " |",
    ]
    return lines + [""]


def _lead_points(xs: np.ndarray) -> tuple[np.ndarray, str]:
    """The validation points (sorted ``xs``) of the lead table and the rule that chose them, in words: all of them
    up to ``MAX_LEAD_ROWS``; else the point nearest each multiple of a step (1, 2, 2.5 or 5 x 10^k, the smallest
    with at most ``LEAD_STEPS`` multiples up to the last point), and the last point."""
    if len(xs) <= MAX_LEAD_ROWS or xs[-1] <= 0:
        return xs, "every validation point"
    magnitude = 10.0 ** math.floor(math.log10(xs[-1] / LEAD_STEPS))
    step = next(f * magnitude for f in (1, 2, 2.5, 5, 10) if xs[-1] // (f * magnitude) <= LEAD_STEPS)
    targets = step * np.arange(1, xs[-1] // step + 1)
    nearest = {int(np.argmin(np.abs(xs - target))) for target in targets} | {len(xs) - 1}
    return xs[sorted(nearest)], f"the validation point nearest each multiple of {_format_x(step)}, and the last"


def _format_x(x: float) -> str:
    """A training-progress count at up to four significant digits: 960 -> ``960``, 9600000 -> ``9.6e6``."""
    return f"{x:.4g}".replace("e+0", "e").replace("e+", "e")


def _leads(progress: dict[str, pd.DataFrame], baseline: str, others: Sequence[str], column: str):
    """``(x, {method: lead})``: the x column of progress.csv (as the training figure's) and per method with at least
    one pair, the table of its ``column`` minus the baseline's (index: x, one column per seed, NaN where the seed's
    two runs do not both have a value at that x); ``(None, {})`` when there is nothing to compare."""
    frames = [f for f in progress.values() if column in f]
    x = next((c for c in X_COLUMNS if frames and all(c in f for f in frames)), None)
    if x is None or baseline not in progress or column not in progress[baseline]:
        return None, {}
    tables = {m: _by_seed(f.dropna(subset=[column, x]), x, column) for m, f in progress.items() if column in f}
    leads = {m: (tables[m] - tables[baseline]).dropna(how="all") for m in others if m in tables}
    return x, {m: lead for m, lead in leads.items() if len(lead)}


def _lead_section(runs: Sequence[_Run], baseline: str, others: Sequence[str], column: str) -> list[str]:
    """The mean over seeds of (a method's ``column`` − the baseline's) at the validation points of progress.csv,
    with its standard error and the number of seed pairs; thinned by :func:`_lead_points`. A pair is a seed where
    both runs, finished or not, recorded ``column`` at that exact point."""
    x, leads = _leads(_concat_runs(runs, "progress.csv"), baseline, others, column)
    if not leads:
        return []
    points, rule = _lead_points(np.unique(np.concatenate([lead.index.to_numpy(float) for lead in leads.values()])))
    lines = [
        f"### Validation lead over {baseline} during training (`{column}` of progress.csv)",
        "",
        f"Per row, a validation point ({X_LABELS.get(x, x)}) and per method the mean over seeds of the method's "
        f"`{column}` minus {baseline}'s at that point, ± its standard error (the number of seed pairs: seeds where "
        f"both runs, finished or not, have reached that point). Rows: {rule}."
        + _unfinished_note(runs, [baseline, *leads]),
        "",
        f"| {x} | " + " | ".join(f"{m} − {baseline}" for m in leads) + " |",
        "|---:|" + "---|" * len(leads),
    ]
    for point in points:
        cells = [
            _lead_cell(lead.loc[point] if point in lead.index else pd.Series(dtype=float)) for lead in leads.values()
        ]
        lines.append(f"| {_format_x(point)} | " + " | ".join(cells) + " |")
    return lines + [""]


def _unfinished_note(runs: Sequence[_Run], methods: Sequence[str]) -> str:
    """`` Unfinished runs included: ...`` naming the unfinished runs of ``methods`` with a progress.csv, if any."""
    names = [
        run.name
        for run in runs
        if run.summary is None and run.method in methods and (run.path / "progress.csv").exists()
    ]
    return f" Unfinished runs included: {', '.join(names)}." if names else ""


def _lead_cell(values: pd.Series) -> str:
    """``mean ± standard error (pairs)`` of the finite ``values``; "–" when there are none."""
    values = values.to_numpy(dtype=float)
    values = values[np.isfinite(values)]
    if not values.size:
        return "–"
    ci = confidence_interval(values)
    return f"{_plus_minus(ci.mean, ci.std / math.sqrt(ci.n) if ci.n > 1 else None, '+')} ({ci.n})"


def _comparison_sections(spec: _Spec, runs: Sequence[_Run], frame: pd.DataFrame, methods) -> list[str]:
    """Each method against the experiment's baseline (:func:`_baseline`) on the final model's test CVaR: the
    per-seed differences with a paired t-test, and the validation-CVaR lead over training; nothing without a
    baseline, another method or a CVaR metric."""
    baseline, metric = _baseline(spec, methods), _cvar_metric(spec, list(dict.fromkeys(frame["metric"])))
    others = [m for m in methods if m != baseline]
    if baseline is None or not others or metric is None:
        return []
    split = _split_family(metric[0])
    column = f"valid_{split[0] if split else metric[0]}"
    return _paired_section(frame, baseline, others, metric) + _lead_section(runs, baseline, others, column)


def _experiment_section(spec: _Spec, runs: Sequence[_Run], frame: pd.DataFrame, figures: Sequence[str]) -> list[str]:
    finished = [run for run in runs if run.summary is not None]
    unfinished = [run.name for run in runs if run.summary is None]
    if not finished:
        note = f"No finished runs; unfinished: {', '.join(unfinished)}."
        return [f"## {spec.name} — {spec.description}", "", note, ""]
    lines = _section_header(spec, finished, frame)
    methods = _method_order(frame["method"], spec.methods)
    metrics = list(dict.fromkeys(frame["metric"]))
    main, directions = _main_columns(spec, metrics), _directions(spec)
    if spec.table_metrics is None and main:
        lines += ["Not a registered experiment: every plain metric, no best marked.", ""]
    if main:
        lines += _markdown_table(frame, methods, main) + [""]
        lines += ["### Mean ± standard error over seeds", "", SEM_LEGEND, ""]
        lines += _markdown_table(frame, methods, main, spread="sem") + [""]
    else:
        lines += ["(None of the table metrics is in the summaries; see the tables below.)", ""]
    for base, xs in _families(metrics).items():
        lines += [f"### {base}@x" + (f" (x = {spec.curve_xlabel})" if spec.curve_xlabel != "x" else ""), ""]
        lines += _markdown_table(frame, methods, [(f"{base}@{x}", f"x = {x}", directions.get(base)) for x in xs])
        lines += [""]
    shown = {key for key, _, _ in main}
    others = [key for key in metrics if _split_family(key) is None and key not in shown]
    if others:
        lines += ["### Other metrics", ""]
        lines += _markdown_table(frame, methods, [(key, key, directions.get(key)) for key in others]) + [""]
    lines += _comparison_sections(spec, runs, frame, methods)
    if unfinished:
        lines += [f"Unfinished (skipped): {', '.join(unfinished)}.", ""]
    if figures:
        lines += ["Figures: " + ", ".join(figures) + ".", ""]
    return lines


# --- figures -----------------------------------------------------------------------------------------------------


def _new_figure(n_panels: int, ncols: int, panel_size=(4.6, 3.5)) -> tuple[Figure, list]:
    nrows = math.ceil(n_panels / ncols)
    figure = Figure(figsize=(panel_size[0] * ncols, panel_size[1] * nrows), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(nrows, ncols, squeeze=False).ravel().tolist()
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return figure, axes[:n_panels]


def _png(figure: Figure) -> bytes:
    if not isinstance(figure.canvas, FigureCanvasAgg):
        FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _thin(table: pd.DataFrame) -> pd.DataFrame:
    if len(table) <= MAX_CURVE_POINTS:
        return table
    return table.iloc[np.unique(np.linspace(0, len(table) - 1, MAX_CURVE_POINTS).round().astype(int))]


def _plot_band(ax, table: pd.DataFrame, label: str, color, **line) -> np.ndarray:
    """Plot the mean over seeds of ``table`` (index: x, one column per seed, NaN where a seed has no value) with
    its shaded 95% confidence interval (:func:`roml.risk.confidence_interval`); return the plotted means."""
    points = []
    for x, row in _thin(table.sort_index()).iterrows():
        values = row.to_numpy(dtype=float)
        values = values[np.isfinite(values)]
        if values.size:
            ci = confidence_interval(values)
            points.append((x, ci.mean, ci.low, ci.high))
    if not points:
        return np.empty(0)
    x, mean, low, high = (np.asarray(column, dtype=float) for column in zip(*points))
    ax.plot(x, mean, color=color, label=label, linewidth=1.6, **line)
    ax.fill_between(x, low, high, color=color, alpha=0.2, linewidth=0)
    return mean


def _by_seed(frame: pd.DataFrame, x: str, column: str) -> pd.DataFrame:
    """``frame``'s ``column`` as a table: index ``x``, one column per seed."""
    return frame.groupby([x, "seed"])[column].mean().unstack("seed")


def _finish_axes(ax, means: Sequence[np.ndarray], xlabel: str, ylabel: str, title: str | None = None) -> None:
    """Labels (x ticks as 50k, 2M), grid, and a log y axis when the (positive) plotted means span > a decade."""
    values = np.concatenate([np.ravel(m) for m in means]) if means else np.empty(0)
    values = values[np.isfinite(values)]
    if values.size and values.min() > 0 and values.max() / values.min() > 10:
        ax.set_yscale("log")
    ax.xaxis.set_major_formatter(EngFormatter(sep=""))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=11)
    ax.grid(True, alpha=0.3)


def _color(spec: _Spec, method: str) -> str:
    """One colour per method, the same in every figure and report: by the method's place in the experiment."""
    if method in spec.methods:
        return f"C{spec.methods.index(method) % 10}"
    return f"C{(len(spec.methods) + sum(map(ord, method))) % 10}"


def _legend_label(method: str, n_seeds: int) -> str:
    return f"{method} ({n_seeds} seed{'s' if n_seeds > 1 else ''})"


def _test_curves(spec: _Spec, frame: pd.DataFrame, methods, alpha) -> bytes | None:
    """Fig. 5 / 14: every metric family ``<base>@<x>`` against x, per method the mean over seeds with a 95% CI."""
    families = _families(list(dict.fromkeys(frame["metric"])))
    if not families:
        return None
    parts = [_split_family(metric) for metric in frame["metric"]]
    frame = frame[[part is not None for part in parts]]
    frame = frame.assign(base=[p[0] for p in parts if p], x=[p[1] for p in parts if p])
    figure, axes = _new_figure(len(families), ncols=min(len(families), 3))
    seeds = frame.groupby("method")["seed"].nunique()
    for ax, base in zip(axes, families):
        subset = frame[frame["base"] == base]
        means = [
            _plot_band(
                ax,
                _by_seed(subset[subset["method"] == m], "x", "value"),
                _legend_label(m, seeds[m]),
                _color(spec, m),
                marker="o",
                markersize=3.5,
            )
            for m in methods
            if (subset["method"] == m).any()
        ]
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        _finish_axes(
            ax,
            means,
            spec.curve_xlabel,
            f"test {_pretty(base, alpha, math_text=True)}",
            _pretty(base, alpha, math_text=True),
        )
    axes[0].legend(fontsize=9)
    figure.suptitle(f"{spec.name}: test metrics (mean over seeds, 95% CI)")
    return _png(figure)


def _phi0(spec: _Spec, name: str) -> float | None:
    if isinstance(spec.phi0_line, Mapping):
        return spec.phi0_line.get(name)
    return spec.phi0_line


def _sampler_figure(spec: _Spec, histories: dict[str, pd.DataFrame], alpha) -> bytes | None:
    """Fig. 10-13: per method with CEM updates, phi per task dimension and the sample vs reference scores."""
    if not histories:
        return None
    phi_columns = list(dict.fromkeys(c for h in histories.values() for c in h.columns if c.startswith("phi_")))
    ncols = len(phi_columns) + 1
    figure, axes = _new_figure(ncols * len(histories), ncols, panel_size=(3.9, 3.3))
    for row, (method, history) in enumerate(histories.items()):
        row_axes = axes[row * ncols : (row + 1) * ncols]
        for ax, column in zip(row_axes, phi_columns):
            name = column.removeprefix("phi_")
            table = _by_seed(history, "n_tasks", column)
            means = [_plot_band(ax, table, _legend_label(method, table.shape[1]), _color(spec, method))]
            if _phi0(spec, name) is not None:
                ax.axhline(_phi0(spec, name), color="0.3", linestyle="--", linewidth=1, label="φ0 (original)")
            _finish_axes(ax, means, "training tasks", f"φ {name}", f"{method}: φ {name}")
        score_ax = row_axes[-1]
        means = [
            _plot_band(score_ax, _by_seed(history, "n_tasks", column), _pretty(column, alpha, True), color)
            for column, color in SAMPLER_SERIES
            if column in history
        ]
        _finish_axes(score_ax, means, "training tasks", spec.score_label, f"{method}: sample vs reference")
        score_ax.legend(fontsize=8)
        if phi_columns:
            row_axes[0].legend(fontsize=8)
    figure.suptitle(f"{spec.name}: the CEM's sampling distribution over training (mean over seeds, 95% CI)")
    return _png(figure)


def _training_figure(spec: _Spec, progress: dict[str, pd.DataFrame], methods) -> bytes | None:
    """Per method, the ``train_*`` columns of progress.csv (rolling mean over 1% of the run) and the ``valid_*``
    columns (the rows that have them, unsmoothed): mean over seeds, 95% CI."""
    frames = list(progress.values())
    x = next((c for c in X_COLUMNS if any(c in f for f in frames)), None)
    columns = list(
        dict.fromkeys(
            c
            for f in frames
            for c in f.columns
            if c.startswith(("train_", "valid_")) and pd.api.types.is_float_dtype(f[c])  # integer columns are counts
        )
    )
    if x is None or not columns:
        return None
    figure, axes = _new_figure(len(columns), ncols=min(len(columns), 3))
    for ax, column in zip(axes, columns):
        means = []
        for method in methods:
            frame = progress.get(method)
            if frame is None or column not in frame or x not in frame:
                continue
            table = _by_seed(frame.dropna(subset=[column]), x, column)
            if column.startswith("train_"):
                table = table.rolling(max(1, round(0.01 * len(table))), min_periods=1).mean()
            means.append(
                _plot_band(
                    ax,
                    table,
                    _legend_label(method, table.shape[1]),
                    _color(spec, method),
                    **({} if column.startswith("train_") else {"marker": "o", "markersize": 3}),
                )
            )
        kind, _, name = column.partition("_")
        _finish_axes(
            ax,
            means,
            X_LABELS.get(x, x),
            _pretty(name, None),
            f"{'training' if kind == 'train' else 'validation'} {_pretty(name, None)}",
        )
    axes[0].legend(fontsize=9)
    figure.suptitle(
        f"{spec.name}: training (train_*: rolling mean over 1% of the run) and validation curves, "
        "mean over seeds, 95% CI"
    )
    return _png(figure)


def _concat_runs(runs: Sequence[_Run], filename: str) -> dict[str, pd.DataFrame]:
    """Per method, the rows of the ``filename`` of every run in ``runs`` with a ``seed`` column (runs without rows
    skipped)."""
    frames: dict[str, list[pd.DataFrame]] = {}
    for run in runs:
        frame = run.reader.csv(run.path / filename)
        if frame is not None:
            frames.setdefault(run.method, []).append(frame.assign(seed=run.seed))
    return {method: pd.concat(parts, ignore_index=True) for method, parts in frames.items()}


def _figures(spec: _Spec, finished: Sequence[_Run], frame: pd.DataFrame, methods) -> dict[str, bytes]:
    alphas = _distinct(run.summary.get("alpha") for run in finished)
    alpha = float(alphas[0]) if len(alphas) == 1 else None
    histories = {m: h for m, h in _concat_runs(finished, "sampler.csv").items() if "n_tasks" in h}
    histories = {m: histories[m] for m in _method_order(histories, methods)}
    progress = _concat_runs(finished, "progress.csv")
    images = {
        f"{spec.name}_test_curves.png": _test_curves(spec, frame, methods, alpha),
        f"{spec.name}_sampler.png": _sampler_figure(spec, histories, alpha),
        f"{spec.name}_training.png": _training_figure(spec, progress, _method_order(progress, methods)),
    }
    folders = {m: [run.path for run in finished if run.method == m] for m in methods}
    for suffix, target in spec.report_figures.items():
        module, _, function = target.partition(":")
        name = f"{spec.name}_{suffix}.png"
        try:  # the experiment's own figure reads the run files itself: a damaged one costs the figure, not the report
            figure = getattr(importlib.import_module(module), function)(folders)
        except (OSError, ValueError, KeyError, IndexError) as error:  # pandas' parser errors are ValueErrors
            finished[0].reader.skipped.append(
                f"{name} not drawn: {type(error).__name__}: "
                f"{str(error).strip().splitlines()[0] if str(error).strip() else ''}"
            )
            continue
        images[name] = None if figure is None else _png(figure)
    return {name: data for name, data in images.items() if data is not None}


# --- the report ---------------------------------------------------------------------------------------------------


def write_report(out: str | Path, skipped: list[str] | None = None) -> list[Path]:
    """Write ``summary.csv``, ``table.md`` and the figures (see the module docstring) into ``out``.

    Returns the written paths: ``summary.csv``, ``table.md``, then the PNG files. A file that cannot be read (a
    corrupt ``summary.json``: its run is left out; a corrupt, empty or torn CSV file) is named, with the reason, in
    a last section of ``table.md`` and appended to ``skipped`` if given; the report goes on with the rest. Raises a
    ``ValueError`` when ``out`` holds no finished run; nothing is written then.
    """
    out = Path(out)
    reader = _Reader()
    runs = _find_runs(out, reader) if out.is_dir() else []
    finished = [run for run in runs if run.summary is not None]
    if not finished:
        unread = f" ({len(reader.skipped)} unreadable: {reader.skipped[0]})" if reader.skipped else ""
        raise ValueError(f"no finished runs in {out}{unread}")
    lines = [f"# Results in {out}", ""]
    images: dict[str, bytes] = {}
    frames = []
    for name in sorted({run.experiment for run in runs}):
        spec = _spec(name)
        runs_here = [run for run in runs if run.experiment == name]
        methods = _method_order((run.method for run in runs_here), spec.methods)
        runs_here.sort(key=lambda run: (methods.index(run.method), run.seed))
        done = [run for run in runs_here if run.summary is not None]
        frame = _summary_frame(done)
        figures = _figures(spec, done, frame, _method_order(frame["method"], spec.methods)) if done else {}
        images.update(figures)
        lines += _experiment_section(spec, runs_here, frame, list(figures))
        frames.append(frame)
    if reader.skipped:
        lines += ["## Files not read", "", *(f"- {note}" for note in reader.skipped), ""]
    if skipped is not None:
        skipped.extend(reader.skipped)
    paths = [out / "summary.csv", out / "table.md"]
    atomic_write_text(paths[0], pd.concat(frames, ignore_index=True).to_csv(index=False))
    atomic_write_text(paths[1], "\n".join(lines).rstrip() + "\n")
    for filename, data in images.items():
        atomic_write_bytes(out / filename, data)
        paths.append(out / filename)
    return paths
