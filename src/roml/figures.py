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

from roml.envs.khazad_dum import GOAL, HEIGHT, MAP, WIDTH

__all__ = ["khazad_dum_episodes"]

_MAP_COLORS = ListedColormap(["#3b1f1f", "#f4f1e8", "#7f7f7f"])  # abyss (-1), floor (0), wall (1)


def _draw_map(ax) -> None:
    ax.imshow(MAP.T + 1, cmap=_MAP_COLORS, vmin=0, vmax=2, origin="lower",
              extent=(-0.5, WIDTH - 0.5, -0.5, HEIGHT - 0.5))
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
            ax.plot(xy[:, 0] + jitter, xy[:, 1] + jitter, color=color, linewidth=2.0 if episode == last else 0.8,
                    alpha=0.9 if episode == last else 0.45)
            cell = np.round(xy[-1]).astype(int)
            if MAP[cell[0], cell[1]] < 0:
                ax.plot(*xy[-1], marker="x", color="red", markersize=7, markeredgewidth=2, zorder=6)
        taus = table.groupby("task")["tau"].first()
        ax.set_title(f"{method} ({seed}): {len(taus)} tasks, tau {taus.min():.2f}-{taus.max():.2f}", fontsize=9)
    figure.suptitle("Khazad-Dum: test episodes in the heaviest rain (bold: the task's last episode)", fontsize=10)
    return figure
