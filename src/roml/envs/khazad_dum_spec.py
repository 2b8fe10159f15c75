"""Khazad-Dum's map, its constants and its registration with Gymnasium (Section 6.1, App. D.1).

These are what the experiment's description and the report's map figure need; this module imports neither numba
nor the environments (:mod:`roml.envs.khazad_dum`, which re-exports every name here).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "ABYSS",
    "ABYSS_ROWS",
    "EPISODE_LENGTH",
    "FLOOR",
    "GOAL",
    "GOAL_BONUS",
    "HEIGHT",
    "MAP",
    "NARROW_BRIDGE_COLUMNS",
    "RAIN_COST",
    "RAIN_MEAN",
    "START_HIGH",
    "START_LOW",
    "WALL",
    "WIDE_BRIDGE_COLUMNS",
    "WIDTH",
    "register_envs",
]

# --------------------------------------------------------------------------------------------------------------
# Geometry. The map is indexed MAP[x, y] with x in 0..10 (columns, left to right) and y in 0..8 (rows, bottom to
# top); "up" increases y.
# --------------------------------------------------------------------------------------------------------------
WIDTH = 11
"""Number of columns (x = 0..10)."""
HEIGHT = 9
"""Number of rows (y = 0..8)."""
FLOOR, WALL, ABYSS = 0, 1, -1
"""Cell values of :data:`MAP`."""
ABYSS_ROWS = (3, 4, 5)
"""Rows crossed by the abyss; every non-wall cell of these rows is abyss except the bridge columns."""
NARROW_BRIDGE_COLUMNS = (2,)
"""The narrow (short, rain-exposed) bridge: column x = 2 of the abyss rows."""
WIDE_BRIDGE_COLUMNS = (7, 8, 9)
"""The wide (long, safe) bridge: columns x = 7, 8, 9 of the abyss rows."""
GOAL = (2, 7)
"""The goal cell; the reward's distance term is measured to this point."""
START_LOW, START_HIGH = 0.5, 2.5
"""Start positions are drawn uniformly from [0.5, 2.5)^2 (continuous), i.e. in cells (1..2, 1..2)."""
EPISODE_LENGTH = 32
"""Steps per episode (T); rewards are divided by it."""
GOAL_BONUS = 5.0
"""Reward (before division by T) for entering the goal cell."""
RAIN_COST = 3.0
"""Cost per noisy step is ``RAIN_COST * tau`` (before division by T)."""
RAIN_MEAN = 0.1
"""Mean of the original task distribution: tau ~ Exp(mean 0.1)."""


def _build_map() -> np.ndarray:
    grid = np.full((WIDTH, HEIGHT), FLOOR, dtype=np.int8)
    rows = list(ABYSS_ROWS)
    grid[:, rows] = ABYSS
    for x in NARROW_BRIDGE_COLUMNS + WIDE_BRIDGE_COLUMNS:
        grid[x, rows] = FLOOR
    grid[[0, WIDTH - 1], :] = WALL
    grid[:, [0, HEIGHT - 1]] = WALL
    grid.flags.writeable = False
    return grid


MAP = _build_map()
"""The map, shape ``(WIDTH, HEIGHT)``, indexed ``MAP[x, y]``: ``WALL`` (1), ``ABYSS`` (-1) or ``FLOOR`` (0).
Read-only."""


def register_envs() -> None:
    """Register ``roml/KhazadDum-v0`` with gymnasium (idempotent).

    ``gymnasium.make("roml/KhazadDum-v0", task=0.2)`` gives a :class:`~roml.envs.khazad_dum.KhazadDumEnv` (no
    ``TimeLimit`` wrapper: the environment ends episodes at 32 steps itself); ``gymnasium.make_vec(
    "roml/KhazadDum-v0", num_envs=n, vectorization_mode="vector_entry_point", tasks=...)`` gives a
    :class:`~roml.envs.khazad_dum.KhazadDumVecEnv`. Imports gymnasium, not the environments.
    """
    import gymnasium

    env_id = "roml/KhazadDum-v0"
    if env_id in gymnasium.registry:
        return
    gymnasium.register(
        id=env_id,
        entry_point="roml.envs.khazad_dum:KhazadDumEnv",
        vector_entry_point="roml.envs.khazad_dum:KhazadDumVecEnv",
        max_episode_steps=None,
        nondeterministic=False,
    )
