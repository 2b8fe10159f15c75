"""Experiment-specific figures drawn by :mod:`roml.report` (named in an experiment's ``report_figures``).

Each function takes ``{method: [finished run folders]}`` and returns a matplotlib ``Figure``, or ``None`` when the
runs hold nothing to draw. They read only results files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from roml.envs.khazad_dum_spec import GOAL, HEIGHT, MAP, WIDTH
from roml.experiments.results import read_json
from roml.risk import confidence_interval
from roml.tasks import PolarDisc

__all__ = ["khazad_dum_episodes", "returns_by_task_range"]

TASK_RANGES = 5
"""Ranges per task parameter in :func:`returns_by_task_range` (equal widths in the family's unit coordinate)."""

_MAP_COLORS = ListedColormap(["#3b1f1f", "#f4f1e8", "#7f7f7f"])  # abyss (-1), floor (0), wall (1)


def _draw_map(ax) -> None:
    ax.imshow(
        MAP.T + 1, cmap=_MAP_COLORS, vmin=0, vmax=2, origin="lower", extent=(-0.5, WIDTH - 0.5, -0.5, HEIGHT - 0.5)
    )
    ax.plot(*GOAL, marker="*", color="gold", markersize=16, markeredgecolor="black", zorder=5)
    ax.set_xticks([])
    ax.set_yticks([])


def khazad_dum_episodes(runs: Mapping[str, Sequence[Path]]) -> Figure | None:
    """The paper's Fig. 3 (left): test episodes in the heaviest rain, drawn on the map, one panel per method.

    Per method, the first seed's ``episodes.csv``: every episode of its rainiest test tasks (the same tasks, starts
    and noise for every method), the last episode of each task drawn boldest; a cross marks a fall.
    """
    tables = {}
    for method, paths in runs.items():
        for path in sorted(paths):
            file = Path(path) / "episodes.csv"
            if file.exists():
                table = pd.read_csv(file)
                if len(table):
                    tables[method] = (Path(path).name, table)
                    break
    if not tables:
        return None
    figure = Figure(figsize=(3.4 * len(tables), 3.3), layout="constrained")
    axes = figure.subplots(1, len(tables), squeeze=False)[0]
    for i, (ax, (method, (seed, table))) in enumerate(zip(axes, tables.items())):
        _draw_map(ax)
        color = f"C{i}"
        last = table["episode"].max()
        for (_, episode), steps in table.groupby(["task", "episode"]):
            xy = steps.sort_values("step")[["x", "y"]].to_numpy()
            jitter = 0.06 * (episode - last / 2)  # overlapping episodes stay visible
            ax.plot(
                xy[:, 0] + jitter,
                xy[:, 1] + jitter,
                color=color,
                linewidth=2.0 if episode == last else 0.8,
                alpha=0.9 if episode == last else 0.45,
            )
            cell = np.round(xy[-1]).astype(int)
            if MAP[cell[0], cell[1]] < 0:
                ax.plot(*xy[-1], marker="x", color="red", markersize=7, markeredgewidth=2, zorder=6)
        taus = table.groupby("task")["tau"].first()
        ax.set_title(f"{method} ({seed}): {len(taus)} tasks, tau {taus.min():.2f}-{taus.max():.2f}", fontsize=9)
    figure.suptitle("Khazad-Dum: test episodes in the heaviest rain (bold: the task's last episode)", fontsize=10)
    return figure


def _range_labels(family, dim: int, edges: np.ndarray) -> tuple[str, list[str]]:
    """The name of task coordinate ``dim`` and a label per range between consecutive unit-coordinate ``edges``, in
    task units: the family's own parameter (for the disc of Ant-Goal: the goal's radius and angle)."""
    if isinstance(family, PolarDisc):
        name, values = (
            ("goal radius", family.radius * np.sqrt(edges)) if dim == 0 else ("goal angle (degrees)", 360.0 * edges)
        )
    else:
        grid = np.full((len(edges), family.dim), 0.5)
        grid[:, dim] = edges
        name, values = family.names[dim], family.from_unit(grid)[:, dim]
    return name, [f"{lo:.3g}-{hi:.3g}" for lo, hi in zip(values[:-1], values[1:])]


def returns_by_task_range(runs: Mapping[str, Sequence[Path]]) -> Figure | None:
    """The paper's Fig. 4d / 9: the mean test return per range of each task parameter, per method.

    Every task coordinate of the experiment's family is cut into :data:`TASK_RANGES` ranges of equal width in its
    unit coordinate (a mass factor: equal ranges of log2; Ant-Goal: equal-area rings of the goal's radius, and
    equal arcs of its angle). Bars: the mean over seeds of each seed's mean task return in the range, with the 95%
    confidence interval over seeds; the legend gives each method's mean over all test tasks (the paper's "global
    average"). Reads ``test.csv`` and ``config.json`` of the finished runs.
    """
    from roml.experiments.registry import get_experiment

    tables = {}
    for method, paths in runs.items():
        frames = [pd.read_csv(Path(p) / "test.csv") for p in sorted(paths) if (Path(p) / "test.csv").exists()]
        if frames:
            tables[method] = frames
    if not tables:
        return None
    config = read_json(Path(next(iter(runs[next(iter(tables))]))) / "config.json")
    family = get_experiment(config["experiment"]).task_family()
    edges = np.linspace(0.0, 1.0, TASK_RANGES + 1)
    width = 0.8 / len(tables)
    panel_width = 1.0 + 0.45 * TASK_RANGES * len(tables)
    figure = Figure(
        figsize=(max(6.8, panel_width * min(family.dim, 3)), 3.6 * -(-family.dim // 3)), layout="constrained"
    )  # at least as wide as the title
    axes = figure.subplots(-(-family.dim // 3), min(family.dim, 3), squeeze=False).ravel()
    for ax in axes[family.dim :]:
        ax.set_visible(False)
    for dim, ax in enumerate(axes[: family.dim]):
        name, labels = _range_labels(family, dim, edges)
        for i, (method, frames) in enumerate(tables.items()):
            per_seed = []
            for table in frames:
                unit = family.to_unit(table[list(family.names)].to_numpy())[:, dim]
                index = np.minimum((unit * TASK_RANGES).astype(int), TASK_RANGES - 1)
                returns = table["task_return"].to_numpy()
                per_seed.append(
                    [returns[index == k].mean() if np.any(index == k) else np.nan for k in range(TASK_RANGES)]
                )
            per_seed = np.asarray(per_seed)
            means, errors = np.full(TASK_RANGES, np.nan), np.zeros((2, TASK_RANGES))
            for k, column in enumerate(per_seed.T):
                if np.isfinite(column).any():  # a range without test tasks stays empty
                    ci = confidence_interval(column[np.isfinite(column)])
                    means[k], errors[:, k] = ci.mean, (ci.mean - ci.low, ci.high - ci.mean)
            overall = np.mean([table["task_return"].mean() for table in frames])
            ax.bar(
                np.arange(TASK_RANGES) + (i - (len(tables) - 1) / 2) * width,
                means,
                width,
                yerr=errors,
                color=f"C{i}",
                capsize=2,
                label=f"{method} ({overall:.0f})",
            )
        ax.set_xticks(np.arange(TASK_RANGES), labels, rotation=30, fontsize=8)
        ax.set_xlabel(name)
        ax.set_ylabel("mean test return")
        ax.grid(True, axis="y", alpha=0.3)
    axes[0].legend(fontsize=8, title="method (mean over all tasks)", title_fontsize=8)
    figure.suptitle(f"{config['experiment']}: test return per range of the task (mean over seeds, 95% CI)", fontsize=10)
    return figure
