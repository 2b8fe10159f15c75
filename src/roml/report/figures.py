"""The report's generic figures: test curves per metric family, RoML's sampler (the paper's Fig. 10-13), the training
curves, and the experiments' own figures (``report_figures``, :mod:`roml.report.experiment_figures`)."""

from __future__ import annotations

import importlib
import io
import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import EngFormatter, MaxNLocator

from roml.report.reading import (
    X_COLUMNS,
    X_LABELS,
    _by_seed,
    _concat_runs,
    _distinct,
    _families,
    _method_order,
    _pretty,
    _Run,
    _Spec,
    _split_family,
)
from roml.risk import confidence_interval

DPI = 120
MAX_CURVE_POINTS = 400
"""Longer curves are thinned to this many evenly spaced points (after smoothing) before plotting."""
SAMPLER_SERIES = (  # sampler.csv column and its colour (the paper's Fig. 13 draws the sample scores in green)
    ("sample_mean", "tab:green"),
    ("reference_mean", "tab:blue"),
    ("reference_cvar", "tab:red"),
)


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
