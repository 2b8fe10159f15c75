"""``table.md``: per experiment its header, the paper-layout tables (± std and ± standard error), a table per metric
family, each method against the risk-neutral baseline per seed (a paired t-test) and along training (the
validation lead)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from roml.experiments.config import flatten
from roml.experiments.registry import experiment_names, get_experiment
from roml.report.reading import (
    X_COLUMNS,
    X_LABELS,
    _by_seed,
    _concat_runs,
    _describe,
    _families,
    _method_order,
    _Run,
    _Spec,
    _split_family,
)
from roml.risk import confidence_interval

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
    ``part.field=value``; empty for an unregistered experiment or scale, or an unreadable configuration."""
    if run.experiment not in experiment_names():
        return ""
    experiment, scale = get_experiment(run.experiment), str(run.summary.get("scale"))
    if scale not in experiment.presets:
        return ""
    saved = run.reader.json(run.path / "config.json")
    if not isinstance(saved, dict):
        return ""
    try:  # a flat config.json of an older roml reads as today's; one without a scale has the summary's
        config = experiment.config_from_dict({"scale": scale, **saved}).to_dict()
    except ValueError:
        return ""
    preset = flatten(json.loads(json.dumps(experiment.config(run.method, run.seed, scale).to_dict())))
    changed = flatten(json.loads(json.dumps(config)))  # tuples as lists
    return " ".join(f"{key}={value}" for key, value in changed.items() if key in preset and value != preset[key])


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
    """Each method against its baseline on the final model's test CVaR: the per-seed differences with a paired
    t-test, and the validation-CVaR lead over training; nothing without a baseline, another method or a CVaR metric.
    The baseline is the experiment's (:func:`_baseline`), and for its ``extra_methods`` (another meta-learner) the
    first of them (``pearl-roml`` against ``pearl``)."""
    metric = _cvar_metric(spec, list(dict.fromkeys(frame["metric"])))
    extra = [m for m in methods if m in spec.extra_methods]
    main = [m for m in methods if m not in spec.extra_methods]
    groups = [(_baseline(spec, main), main)]
    if extra:
        groups.append((spec.extra_methods[0] if spec.extra_methods[0] in extra else None, extra))
    lines: list[str] = []
    for baseline, group in groups:
        others = [m for m in group if m != baseline]
        if baseline is None or not others or metric is None:
            continue
        split = _split_family(metric[0])
        column = f"valid_{split[0] if split else metric[0]}"
        lines += _paired_section(frame, baseline, others, metric) + _lead_section(runs, baseline, others, column)
    return lines


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
