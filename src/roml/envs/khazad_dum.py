"""Khazad-Dum: cross an abyss by a short, slippery bridge or a long, safe one (Section 6.1, App. D.1).

The environment is numerically the one the paper's authors ran (their ``KhazadDum-v0`` with its default
settings): same map, observation, dynamics, rewards and task distribution. It comes in two forms that share one
compiled step (:func:`_advance`; :func:`transition` and :func:`observe` are its pure, batched public faces):

- :class:`KhazadDumEnv`, a ``gymnasium.Env`` (registered as ``roml/KhazadDum-v0`` by :func:`register_envs`);
- :class:`KhazadDumVecEnv`, a ``gymnasium.vector.VectorEnv`` that steps ``n`` environments, each with its own task,
  in one call (no autoreset: all episodes last exactly 32 steps and the caller resets them).

The batched model is compiled with numba: a step of 32 environments written as numpy array operations costs about
50 small operations (150 us), as much as the policy that acts in it; the compiled loop over environments takes a
few microseconds. The rules are written once, per environment, in :func:`_transition_one`.

The single environment *is* the batch of size one: it stores its state as ``(1, ...)`` arrays and calls the same
functions, so ``KhazadDumEnv`` and ``KhazadDumVecEnv(1)`` seeded alike produce identical trajectories.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import gymnasium
import numpy as np
from gymnasium import spaces
from gymnasium.vector import VectorEnv
from gymnasium.vector.utils import batch_space

from roml.envs import khazad_dum_spec as _spec
from roml.envs.compiled import compiled
from roml.envs.task_api import TaskEnvBase, TaskVecEnvBase
from roml.envs.khazad_dum_spec import (  # the map, the constants and register_envs: re-exported
    ABYSS,
    ABYSS_ROWS,
    EPISODE_LENGTH,
    FLOOR,
    GOAL,
    GOAL_BONUS,
    HEIGHT,
    MAP,
    NARROW_BRIDGE_COLUMNS,
    RAIN_COST,
    RAIN_MEAN,
    START_HIGH,
    START_LOW,
    WALL,
    WIDE_BRIDGE_COLUMNS,
    WIDTH,
    register_envs,  # noqa: F401  (re-exported)
)
from roml.tasks import Exponential

__all__ = [
    *_spec.__all__,
    "KhazadDumEnv",
    "KhazadDumVecEnv",
    "Transition",
    "observe",
    "path_name",
    "rain_family",
    "sample_task",
    "transition",
]

# The compiled model's constants, from the map (roml.envs.khazad_dum_spec).
_GOAL_XY = np.array(GOAL, dtype=np.float64)
_CLIP_HIGH = np.array([WIDTH - 1, HEIGHT - 1], dtype=np.float64)
# Action -> displacement: 0 left, 1 right, 2 down, 3 up.
_DIRECTIONS = np.array([[-1.0, 0.0], [1.0, 0.0], [0.0, -1.0], [0.0, 1.0]])
_PATH_NAMES = ("stay", "short", "long")
# Flat (x-major) cell codes: the map, with the goal cell marked by _GOAL_CODE.
_GOAL_CODE = 2
_CELL_CODE = MAP.astype(np.int8).reshape(-1)
_CELL_CODE[GOAL[0] * HEIGHT + GOAL[1]] = _GOAL_CODE
_CELL_CODE.flags.writeable = False
_NAME = "KhazadDum-v0"


def rain_family() -> Exponential:
    """The task family of Khazad-Dum: rain ``tau ~ Exp(mean phi)``, ``phi0 = RAIN_MEAN = 0.1`` (App. D.1)."""
    return Exponential(RAIN_MEAN, names=("tau",))


def sample_task(rng: np.random.Generator, size: int | tuple[int, ...] | None = None) -> float | np.ndarray:
    """Draw rain intensities from the original task distribution ``tau ~ Exp(mean RAIN_MEAN)`` (App. D.1).

    Returns a float when ``size`` is None, otherwise an array of that shape.
    """
    draw = rng.exponential(RAIN_MEAN, size)
    return float(draw) if size is None else draw


# --------------------------------------------------------------------------------------------------------------
# The pure, batched model. All functions take arrays with a leading batch axis n.
# --------------------------------------------------------------------------------------------------------------
class Transition(NamedTuple):
    """The result of :func:`transition` for a batch of ``n`` environments."""

    xy: np.ndarray
    """``(n, 2)`` float64: the positions after the step."""
    status: np.ndarray
    """``(n,)`` int8: 0 running, 1 reached the goal, -1 fell into the abyss (after the step)."""
    reward: np.ndarray
    """``(n,)`` float64: the step reward (already divided by ``EPISODE_LENGTH``)."""
    noisy: np.ndarray
    """``(n,)`` bool: whether rain noise (and its cost) applied to this step."""


@compiled
def _cell_code(x: float, y: float) -> int:
    """The cell code of the in-map position ``(x, y)``: its cell is ``round(xy)``, halves to even (``np.rint``)."""
    return _CELL_CODE[int(np.rint(x)) * HEIGHT + int(np.rint(y))]


@compiled
def _transition_one(xy, status, action, tau, normals, reward, noisy, i) -> None:
    """Environment ``i``'s step, in place on ``xy[i]`` and ``status[i]``; writes ``reward[i]`` and ``noisy[i]``.

    The rules of :func:`transition`, in the same floating-point operations as its documentation states them.
    """
    x, y, s, t = xy[i, 0], xy[i, 1], status[i], tau[i]
    exposed = s == 0 and t > 0 and 2.5 < y < 5.5 and x < 3
    noisy[i] = exposed
    if s != 0:
        reward[i] = (0.0 if s > 0 else -1.0) / EPISODE_LENGTH
        return
    px, py = x + _DIRECTIONS[action[i], 0], y + _DIRECTIONS[action[i], 1]
    if exposed:
        px += normals[i, 0] * t
        py += normals[i, 1] * t
    px = min(max(px, 0.0), _CLIP_HIGH[0])
    py = min(max(py, 0.0), _CLIP_HIGH[1])
    if _cell_code(px, py) != WALL:
        x, y = px, py
    xy[i, 0], xy[i, 1] = x, y
    code = _cell_code(x, y)
    r = max(-(abs(x - _GOAL_XY[0]) + abs(y - _GOAL_XY[1])) / 5.0, -1.0)
    if exposed:
        r -= RAIN_COST * t
    if code == _GOAL_CODE:
        r += GOAL_BONUS
        status[i] = 1
    elif code == ABYSS:
        status[i] = -1
    reward[i] = r / EPISODE_LENGTH


@compiled
def _observe_one(xy, obs, i) -> None:
    """Write the bilinear soft one-hot of ``xy[i]`` into the zeroed row ``obs[i]`` (see :func:`observe`)."""
    i0, j0 = int(xy[i, 0]), int(xy[i, 1])  # floor, as positions are non-negative
    dx, dy = (i0 + 1) - xy[i, 0], (j0 + 1) - xy[i, 1]
    base = i0 * HEIGHT + j0
    obs[i, base] = dx * dy
    obs[i, base + 1] = dx * (1 - dy)
    obs[i, base + HEIGHT] = (1 - dx) * dy
    obs[i, base + HEIGHT + 1] = (1 - dx) * (1 - dy)


@compiled
def _on_bridges(x: float, y: float) -> tuple[bool, bool]:
    """(narrow, wide): whether ``(x, y)`` is on the narrow bridge (x in (1.5, 2.5)) or the wide bridge
    (x in (6.5, 9.5)), within the abyss rows (y in (2.5, 5.5)); the authors' test, written as they wrote it."""
    x, y = x + 0.5, y + 0.5
    rows = ABYSS_ROWS[0] < y < ABYSS_ROWS[-1] + 1
    narrow = rows and NARROW_BRIDGE_COLUMNS[0] < x < NARROW_BRIDGE_COLUMNS[-1] + 1
    wide = rows and WIDE_BRIDGE_COLUMNS[0] < x < WIDE_BRIDGE_COLUMNS[-1] + 1
    return narrow, wide


@compiled
def _advance(xy, status, action, tau, normals, short, long, last_bridge, reward, noisy, obs) -> None:
    """The environments' whole step, in place: move (``xy``, ``status``), record the bridges stood on
    (``short``, ``long``, ``last_bridge``), and write ``reward``, ``noisy`` and the zeroed ``obs``."""
    for i in range(xy.shape[0]):
        _transition_one(xy, status, action, tau, normals, reward, noisy, i)
        narrow, wide = _on_bridges(xy[i, 0], xy[i, 1])
        if narrow:
            short[i] = True
            last_bridge[i] = 1
        elif wide:
            long[i] = True
            last_bridge[i] = 2
        _observe_one(xy, obs, i)


@compiled
def _transition_all(xy, status, action, tau, normals, reward, noisy) -> None:
    for i in range(xy.shape[0]):
        _transition_one(xy, status, action, tau, normals, reward, noisy, i)


@compiled
def _observe_all(xy, obs) -> None:
    for i in range(xy.shape[0]):
        _observe_one(xy, obs, i)


def transition(
    xy: np.ndarray, status: np.ndarray, action: np.ndarray, tau: np.ndarray, normals: np.ndarray
) -> Transition:
    """One step of ``n`` Khazad-Dum environments (pure: the inputs are not modified).

    Args:
        xy: ``(n, 2)`` float positions before the step.
        status: ``(n,)`` ints, 0 running, 1 at the goal, -1 fallen.
        action: ``(n,)`` ints in {0, 1, 2, 3} (left, right, down, up); assumed valid.
        tau: ``(n,)`` non-negative rain intensities.
        normals: ``(n, 2)`` standard-normal draws; used (times ``tau``) only where the step is noisy.

    Returns:
        A :class:`Transition`. The rules, in the authors' order:

        1. The step is noisy if, at the pre-move position, the agent is running, ``tau > 0`` and it stands on the
           narrow bridge: ``2.5 < y < 5.5`` and ``x < 3`` (the authors' location category 3, which also covers the
           left abyss, where a running agent never stands).
        2. If running: ``next = xy + direction (+ tau * normals if noisy)``, clipped to ``[0, 10] x [0, 8]``.
           If ``round(next)`` (half to even) is a wall cell, the move is rejected and the agent stays.
           Finished agents (goal or fallen) never move.
        3. Reward: 0 if already at the goal, -1 if already fallen, otherwise
           ``max(-|xy' - GOAL|_1 / 5, -1)``, minus ``3 tau`` if noisy, plus 5 on entering the goal cell
           (after which the agent stays there); entering an abyss cell marks the agent fallen with no extra
           penalty. All divided by 32.
    """
    new_xy = np.array(xy, dtype=np.float64)
    new_status = np.array(status, dtype=np.int8)
    n = new_xy.shape[0]
    reward, noisy = np.empty(n), np.empty(n, dtype=bool)
    _transition_all(
        new_xy,
        new_status,
        np.asarray(action, dtype=np.intp),
        np.asarray(tau, dtype=np.float64),
        np.asarray(normals, dtype=np.float64),
        reward,
        noisy,
    )
    return Transition(new_xy, new_status, reward, noisy)


def observe(xy: np.ndarray) -> np.ndarray:
    """The bilinear soft one-hot observation of positions ``xy`` (``(n, 2)``): ``(n, 99)`` float32.

    With ``i0, j0 = floor(x), floor(y)`` and ``dx, dy = i0 + 1 - x, j0 + 1 - y``, the four cells around the
    position get the weights ``m[i0, j0] = dx dy``, ``m[i0, j0+1] = dx (1-dy)``, ``m[i0+1, j0] = (1-dx) dy``,
    ``m[i0+1, j0+1] = (1-dx)(1-dy)``; the grid is flattened x-major (``index = i * 9 + j``). The weights are
    non-negative, sum to 1, and their weighted mean of cell coordinates is ``xy`` itself.
    """
    xy = np.asarray(xy, dtype=np.float64)
    obs = np.zeros((xy.shape[0], WIDTH * HEIGHT), dtype=np.float32)
    _observe_all(xy, obs)
    return obs


def path_name(last_bridge: int, status: int) -> str:
    """The authors' ``info['path']`` string: 'stay', 'short' or 'long' (the last bridge stood on), with '_done'
    appended if the goal was reached and '_fall' if the agent fell."""
    suffix = "_done" if status > 0 else "_fall" if status < 0 else ""
    return _PATH_NAMES[int(last_bridge)] + suffix


def _check_starts(starts: Any, n: int, name: str) -> np.ndarray:
    """``(n, 2)`` start positions whose rounded cells are floor (not wall, not abyss)."""
    try:
        arr = np.array(starts, dtype=np.float64).reshape(n, 2)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be {n} (x, y) position(s), got {starts!r}") from None
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite, got {arr.tolist()}")
    cell = np.round(arr).astype(np.intp)
    inside = (cell[:, 0] >= 0) & (cell[:, 0] < WIDTH) & (cell[:, 1] >= 0) & (cell[:, 1] < HEIGHT)
    if not inside.all() or (MAP[cell[:, 0], cell[:, 1]] != FLOOR).any():
        raise ValueError(f"{name} must lie in floor cells (not walls or abyss), got {arr.tolist()}")
    return arr


def _ascii(xy: np.ndarray | None = None) -> str:
    """The map as text, top row (y = 8) first: '#' wall, '~' abyss, '=' bridge, 'G' goal, '.' floor, '@' agent."""
    chars = np.where(MAP == WALL, "#", np.where(MAP == ABYSS, "~", "."))
    for x in NARROW_BRIDGE_COLUMNS + WIDE_BRIDGE_COLUMNS:
        chars[x, list(ABYSS_ROWS)] = "="
    chars[GOAL] = "G"
    if xy is not None:
        cx, cy = np.round(np.asarray(xy, dtype=np.float64)).astype(int)
        chars[cx, cy] = "@"
    return "\n".join(" ".join(chars[:, y]) for y in range(HEIGHT - 1, -1, -1))


_CELL = 16  # pixels per cell of the rgb_array rendering
_COLOURS = {"wall": (90, 90, 90), "abyss": (20, 30, 90), "bridge": (150, 100, 50), "floor": (235, 235, 235)}


def _rgb(xy: np.ndarray) -> np.ndarray:
    """The map as an ``(9 * 16, 11 * 16, 3)`` uint8 image, top row first: walls grey, abyss dark blue, bridges
    brown, floor light grey, the goal cell green, the agent a red square at its continuous position."""
    kind = np.where(MAP == WALL, 0, np.where(MAP == ABYSS, 1, 3))
    for x in NARROW_BRIDGE_COLUMNS + WIDE_BRIDGE_COLUMNS:
        kind[x, list(ABYSS_ROWS)] = 2
    palette = np.array(list(_COLOURS.values()), dtype=np.uint8)
    cells = palette[kind.T[::-1]]  # (HEIGHT, WIDTH, 3), y = 8 on top
    cells[HEIGHT - 1 - GOAL[1], GOAL[0]] = (60, 170, 60)
    image = np.repeat(np.repeat(cells, _CELL, axis=0), _CELL, axis=1)
    col, row = (np.asarray(xy, dtype=np.float64) * _CELL).astype(int)
    top = (HEIGHT - 1) * _CELL - row
    image[max(top, 0) : top + _CELL // 2 + 4, max(col, 0) : col + _CELL // 2 + 4] = (220, 30, 30)
    return image


def _step_batch(env: KhazadDumEnv | KhazadDumVecEnv, action: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Advance ``env``'s ``(n, ...)`` state arrays by one step of validated actions, in place (both environment
    classes keep the same state); returns the observations, rewards and noisy flags."""
    n = env._xy.shape[0]
    normals = env.np_random.standard_normal((n, 2))
    reward, noisy = np.empty(n), np.empty(n, dtype=bool)
    obs = np.zeros((n, WIDTH * HEIGHT), dtype=np.float32)
    _advance(
        env._xy, env._status, action, env._tau, normals, env._short, env._long, env._last_bridge, reward, noisy, obs
    )
    env._steps += 1
    return obs, reward, noisy


class KhazadDumEnv(TaskEnvBase, gymnasium.Env[np.ndarray, np.int64]):
    """Khazad-Dum (Section 6.1 and App. D.1 of *Train Hard, Fight Easy*): reach the goal across an abyss, over a
    short bridge that rain makes slippery, or a long, safe one.

    ## Description

    The agent starts at a random point in the bottom-left corner and must reach the goal cell G as fast as it can
    without falling into the abyss. The narrow bridge (column 2) is short but uncovered: in rain of intensity
    ``tau`` every step taken on it is perturbed by Gaussian noise ``N(0, tau^2)`` per coordinate and costs
    ``3 tau / 32``. The wide bridge (columns 7-9) is dry and safe but long. The rain ``tau`` is the *task*: the
    agent does not observe it, but may infer it from the slipping. In the paper (Fig. 3) VariBAD learns the short
    path, at the risk of rare falls, while the CVaR-optimising CVaR-ML and RoML take the long, safe path.

    The map (x = 0..10 left to right, y = 0..8 bottom to top; the position is continuous, its cell is
    ``round(xy)``, numpy rounding half to even)::

        y=8   # # # # # # # # # # #      #  wall
        y=7   # . G . . . . . . . #      G  goal, cell (2, 7)
        y=6   # . . . . . . . . . #      ~  abyss (rows 3-5, x = 1 and x = 3..6)
        y=5   # ~ = ~ ~ ~ ~ = = = #      =  bridges: narrow x = 2, wide x = 7, 8, 9
        y=4   # ~ = ~ ~ ~ ~ = = = #      .  floor
        y=3   # ~ = ~ ~ ~ ~ = = = #
        y=2   # . . . . . . . . . #      starts: xy ~ U[0.5, 2.5)^2,
        y=1   # . . . . . . . . . #      i.e. cells (1..2, 1..2)
        y=0   # # # # # # # # # # #
        x =   0 1 2 3 4 5 6 7 8 9 10

    ## Action space

    ``Discrete(4)``; each action moves the agent one unit:

    | Action | Meaning | Displacement |
    |--------|---------|--------------|
    | 0      | left    | (-1, 0)      |
    | 1      | right   | (+1, 0)      |
    | 2      | down    | (0, -1)      |
    | 3      | up      | (0, +1)      |

    ## Dynamics

    A step is *noisy* if, at the position **before** the move, the agent is still running (neither at the goal
    nor fallen), ``tau > 0`` and ``2.5 < y < 5.5, x < 3`` (on the narrow bridge). Then
    ``next = xy + displacement (+ tau * z, z ~ N(0, I_2), if noisy)``, clipped to ``[0, 10] x [0, 8]``. If
    ``round(next)`` is a wall the whole move is rejected (the agent stays); otherwise the agent moves there,
    keeping its continuous offset within the cell. After reaching the goal or falling the agent no longer moves.

    ## Observation space

    ``Box(-1, 1, (99,), float32)`` (bounds as the authors declared them; values lie in [0, 1]): a bilinear "soft
    one-hot" of the continuous position on the 11 x 9 grid, flattened x-major:

    | Entry ``i * 9 + j`` (cell (i, j)) | Value                                                  |
    |-----------------------------------|--------------------------------------------------------|
    | (i0, j0)                          | ``dx * dy``, with ``i0, j0 = floor(x), floor(y)``      |
    | (i0, j0 + 1)                      | ``dx * (1 - dy)``, with ``dx = i0 + 1 - x``            |
    | (i0 + 1, j0)                      | ``(1 - dx) * dy``, with ``dy = j0 + 1 - y``            |
    | (i0 + 1, j0 + 1)                  | ``(1 - dx) * (1 - dy)``                                |
    | all other cells                   | 0                                                      |

    The weights sum to 1 and ``sum_k m_k (i_k, j_k) = xy``. (The authors' VariBAD wrapper appends a done flag,
    making a 100-dim policy input; that belongs to the learner, not to this environment.)

    ## Rewards

    Per step, divided by ``T = 32``:

    - already at the goal: 0; already fallen: -1;
    - otherwise ``max(-|xy - (2, 7)|_1 / 5, -1)`` at the position after the move, minus ``3 tau`` if the step was
      noisy, plus 5 on entering the goal cell. Entering an abyss cell marks the agent fallen (no extra penalty;
      the following steps give -1/32 each).

    Episode returns with ``tau = 0`` over random starts: the short path to the goal 0 to +0.10 (mean about +0.05;
    exactly 1/32 from (1, 1)), the long path -0.37 to -0.27, a fall about -1 (the authors' notebook reports
    about +0.04 to +0.08, -0.27 and -1).

    ## Starting state

    ``xy ~ U[0.5, 2.5)^2`` from the environment's own generator ``self.np_random``.

    ## Episode end

    Exactly 32 steps: ``terminated`` is always False (reaching the goal or falling does not end the episode) and
    ``truncated`` is True at step 32. The limit is built in, so no ``TimeLimit`` wrapper is needed (and none is
    registered). Calling ``step`` after that without ``reset`` raises ``RuntimeError``.

    ## Task parameter

    | Name | Meaning        | Range    | Original distribution | Effect (on the narrow bridge only)            |
    |------|----------------|----------|-----------------------|-----------------------------------------------|
    | tau  | rain intensity | [0, inf) | Exp(mean 0.1)         | action noise ``N(0, tau^2)`` per coordinate,  |
    |      |                |          |                       | and a cost of ``3 tau / 32`` per step         |

    The task API is roml's (:class:`roml.envs.task_api.TaskEnv`): ``task_family()`` is :func:`rain_family`
    (``Exponential(0.1)``); ``set_task(tau)`` (a number or a one-element array) takes effect at the next ``reset``;
    ``reset(options={"task": tau})`` sets it too; ``get_task()`` returns the task set last and the ``task``
    property the current episode's, both ``np.array([tau])``. The default task is ``RAIN_MEAN = 0.1``.
    :func:`sample_task` draws from the original distribution. ``reset(options={"start": (x, y)})`` places the agent
    at a chosen floor position instead of a random start. Any other reset option raises ``ValueError``.

    ## Info

    ``reset`` and ``step`` return ``info`` with booleans ``short`` / ``long`` (the agent has stood, after a move,
    on the narrow / wide bridge during this episode; both can be True), ``fell``, ``reached_goal``, ``noisy``
    (this step was exposed to rain; False after ``reset``) and ``path``, the authors' string ('stay' / 'short' /
    'long' for the last bridge stood on, plus '_done' or '_fall').

    ## Differences from the authors' code (``RobustMetaRL/environments/navigation/KhazadDum.py``)

    - Seeded: all randomness comes from ``self.np_random`` (seeded by ``reset(seed=...)``); the authors used
      Python's unseeded ``random``. Every step draws two standard normals, noisy or not, so the starts of later
      episodes do not depend on the actions taken (common random numbers across policies).
    - ``info`` reports the path as separate booleans (plus the authors' string) instead of a concatenated string.
    - The 32-step limit is part of the environment (``truncated``), not a ``TimeLimit`` wrapper; ``terminated``
      is never True, as in the authors' runs.
    - Tasks are validated (``ValueError`` for negative or non-finite ``tau``).
    """

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}

    def __init__(self, task: Any = RAIN_MEAN, render_mode: str | None = None):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or one of {self.metadata['render_modes']}, got {render_mode!r}")
        self.render_mode = render_mode
        self.observation_space = spaces.Box(low=-1.0, high=1.0, shape=(WIDTH * HEIGHT,), dtype=np.float32)
        self.action_space = spaces.Discrete(4)
        self._init_tasks(_NAME, task, default=RAIN_MEAN)
        self._tau = self._task.copy()
        self._xy = np.full((1, 2), 1.5)
        self._status = np.zeros(1, dtype=np.int8)
        self._short = self._long = False
        self._last_bridge = 0
        self._steps = 0
        self._needs_reset = True

    # ---------------------------------------------------------------------------------------------- task API
    task_family = staticmethod(rain_family)
    sample_task = staticmethod(sample_task)

    @property
    def state_xy(self) -> np.ndarray:
        """A copy of the agent's continuous position ``(x, y)``."""
        return self._xy[0].copy()

    @property
    def elapsed_steps(self) -> int:
        """Steps taken in the current episode."""
        return self._steps

    # ---------------------------------------------------------------------------------------------- gym API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        """Start an episode. ``options`` may hold ``"task"`` (tau, as in ``set_task``) and ``"start"`` (an (x, y)
        floor position; default: a random start from ``self.np_random``, which is drawn even when ``"start"`` is
        given, so that the generator's stream does not depend on the options)."""
        options = self._reset_options(options, "start")
        start = None if options.get("start") is None else _check_starts(options["start"], 1, "options['start']")
        super().reset(seed=seed)
        self._tau = self._start_tasks(options).copy()
        xy = self.np_random.uniform(START_LOW, START_HIGH, size=(1, 2))
        self._xy = xy if start is None else start
        self._status = np.zeros(1, dtype=np.int8)
        self._short, self._long = np.zeros(1, dtype=bool), np.zeros(1, dtype=bool)
        self._last_bridge = np.zeros(1, dtype=np.int8)
        self._steps = 0
        self._needs_reset = False
        return observe(self._xy)[0], self._info(noisy=False)

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        if self._needs_reset:
            raise RuntimeError("KhazadDumEnv.step called before reset() or after the episode ended (32 steps)")
        obs, reward, noisy = _step_batch(self, self._check_action(action))
        truncated = self._steps >= EPISODE_LENGTH
        self._needs_reset = truncated
        return obs[0], float(reward[0]), False, truncated, self._info(noisy=bool(noisy[0]))

    def render(self) -> str | np.ndarray | None:
        """With ``render_mode="ansi"``, the map as text with the agent as '@' (see :meth:`render_ascii`); with
        ``"rgb_array"``, the map as a ``(144, 176, 3)`` uint8 image with the agent as a red square."""
        if self.render_mode == "rgb_array":
            return _rgb(self._xy[0])
        return self.render_ascii() if self.render_mode == "ansi" else None

    def render_ascii(self) -> str:
        """The map as text (top row first) with the agent's cell marked '@'."""
        return _ascii(self._xy[0])

    # ---------------------------------------------------------------------------------------------- helpers
    def _check_action(self, action: Any) -> np.ndarray:
        arr = np.asarray(action)
        if arr.size != 1 or arr.ndim > 1 or not (np.issubdtype(arr.dtype, np.integer) or _is_integral(arr)):
            raise ValueError(f"action must be one integer in {{0, 1, 2, 3}}, got {action!r}")
        a = int(arr.reshape(()))
        if not 0 <= a < 4:
            raise ValueError(f"action must be in {{0, 1, 2, 3}} (left, right, down, up), got {a}")
        return np.array([a])

    def _info(self, noisy: bool) -> dict[str, Any]:
        status = int(self._status[0])
        return {
            "short": bool(self._short[0]),
            "long": bool(self._long[0]),
            "fell": status < 0,
            "reached_goal": status > 0,
            "noisy": noisy,
            "path": path_name(self._last_bridge[0], status),
        }


def _is_integral(arr: np.ndarray) -> bool:
    """True for real arrays holding whole numbers (e.g. 2.0); bools are not actions."""
    return arr.dtype.kind == "f" and bool(np.all(np.isfinite(arr) & (arr == np.round(arr))))


try:  # gymnasium >= 1.1
    from gymnasium.vector import AutoresetMode

    _NO_AUTORESET: Any = AutoresetMode.DISABLED
except ImportError:  # pragma: no cover - gymnasium 1.0
    _NO_AUTORESET = "Disabled"


class KhazadDumVecEnv(TaskVecEnvBase, VectorEnv):
    """``num_envs`` Khazad-Dum environments (see :class:`KhazadDumEnv`), each with its own rain ``tau``, stepped
    together by one call of the shared :func:`transition`.

    Semantics are those of ``num_envs`` independent :class:`KhazadDumEnv`; ``KhazadDumVecEnv(1)`` and
    ``KhazadDumEnv()`` reset with the same seed give identical trajectories. One generator ``self.np_random``
    serves all sub-environments (each step draws ``(num_envs, 2)`` normals, each reset ``(num_envs, 2)``
    uniforms).

    **No autoreset** (``metadata["autoreset_mode"]`` is ``DISABLED``): every episode lasts exactly 32 steps, all
    sub-environments reach step 32 together (``truncated`` all True), and the caller then calls :meth:`reset`;
    stepping further raises ``RuntimeError``. ``reset()`` keeps each sub-environment's task; change tasks with
    ``set_tasks`` (``(num_envs, 1)``, ``(num_envs,)`` or one number for all; or ``reset(options={"tasks": ...})``)
    at task boundaries, and they apply from that reset on. ``get_tasks()`` and the ``tasks`` property are
    ``(num_envs, 1)`` (the task API of :class:`roml.envs.task_api.TaskVecEnv`). ``reset`` also takes ``"starts"``
    (``(num_envs, 2)`` floor positions).

    ``step(actions)`` takes ``actions`` of shape ``(num_envs,)`` in {0, 1, 2, 3} and returns ``obs``
    ``(num_envs, 99)`` float32, ``rewards`` ``(num_envs,)`` float64, ``terminated`` (all False), ``truncated``,
    and ``info``: a dict of ``(num_envs,)`` bool arrays ``short``, ``long``, ``fell``, ``reached_goal``, ``noisy``
    (meanings as in :class:`KhazadDumEnv`). :meth:`paths` gives the authors' path strings.
    """

    metadata = {"autoreset_mode": _NO_AUTORESET, "render_modes": []}

    def __init__(self, num_envs: int = 1, tasks: Any = RAIN_MEAN, render_mode: str | None = None):
        if isinstance(num_envs, bool) or not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise ValueError(f"num_envs must be an integer >= 1, got {num_envs!r}")
        if render_mode is not None:
            raise ValueError(f"KhazadDumVecEnv does not render (use render_ascii(i)), got render_mode={render_mode!r}")
        self.num_envs = int(num_envs)
        self.render_mode = None
        self.single_observation_space = spaces.Box(low=-1.0, high=1.0, shape=(WIDTH * HEIGHT,), dtype=np.float32)
        self.single_action_space = spaces.Discrete(4)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        n = self.num_envs
        self._init_tasks(_NAME, tasks, default=RAIN_MEAN)
        self._start_episodes(np.full((n, 2), 1.5), {})
        self._needs_reset = True

    task_family = staticmethod(rain_family)

    def _start_episodes(self, xy: np.ndarray, options: dict[str, Any]) -> None:
        """Fresh episode state for every sub-environment at ``xy``, with the tasks of ``options`` or set so far."""
        n = self.num_envs
        self._xy = xy
        self._tau = self._start_tasks(options)[:, 0].copy()
        self._status = np.zeros(n, dtype=np.int8)
        self._short = np.zeros(n, dtype=bool)
        self._long = np.zeros(n, dtype=bool)
        self._last_bridge = np.zeros(n, dtype=np.int8)
        self._steps = 0

    @property
    def state_xy(self) -> np.ndarray:
        """A copy of the positions, shape ``(num_envs, 2)``."""
        return self._xy.copy()

    @property
    def elapsed_steps(self) -> int:
        """Steps taken in the current episodes."""
        return self._steps

    # ---------------------------------------------------------------------------------------------- vector API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        """Start new episodes in all sub-environments. ``seed`` (an int) reseeds ``self.np_random``; ``options``
        may hold ``"tasks"`` (as in :meth:`set_tasks`) and ``"starts"`` (``(num_envs, 2)`` floor positions)."""
        if seed is not None and not isinstance(seed, (int, np.integer)):
            raise ValueError(f"seed must be an int or None (one generator serves all sub-envs), got {seed!r}")
        options = self._reset_options(options, "starts")
        n = self.num_envs
        starts = None if options.get("starts") is None else _check_starts(options["starts"], n, "options['starts']")
        super().reset(seed=seed)
        xy = self.np_random.uniform(START_LOW, START_HIGH, size=(n, 2))
        self._start_episodes(xy if starts is None else starts, options)
        self._needs_reset = False
        return observe(self._xy), self._info(np.zeros(n, dtype=bool))

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        if self._needs_reset:
            raise RuntimeError("KhazadDumVecEnv.step called before reset() or after the episodes ended (32 steps)")
        obs, reward, noisy = _step_batch(self, self._check_actions(actions))
        truncated = self._steps >= EPISODE_LENGTH
        self._needs_reset = truncated
        n = self.num_envs
        return obs, reward, np.zeros(n, dtype=bool), np.full(n, truncated), self._info(noisy)

    def paths(self) -> list[str]:
        """The authors' path string of each sub-environment's current episode (see :func:`path_name`)."""
        return [path_name(b, s) for b, s in zip(self._last_bridge, self._status)]

    def render_ascii(self, index: int = 0) -> str:
        """The map as text with sub-environment ``index``'s agent marked '@'."""
        return _ascii(self._xy[index])

    # ---------------------------------------------------------------------------------------------- helpers
    def _check_actions(self, actions: Any) -> np.ndarray:
        arr = np.asarray(actions)
        if arr.shape != (self.num_envs,):
            raise ValueError(f"actions must have shape ({self.num_envs},), got shape {arr.shape}")
        if not np.issubdtype(arr.dtype, np.integer):
            if not _is_integral(arr):
                raise ValueError(f"actions must be integers in {{0, 1, 2, 3}}, got dtype {arr.dtype}")
        a = arr.astype(np.intp)
        if a.size and (a.min() < 0 or a.max() > 3):
            raise ValueError(f"actions must be in {{0, 1, 2, 3}} (left, right, down, up), got {np.unique(a).tolist()}")
        return a

    def _info(self, noisy: np.ndarray) -> dict[str, np.ndarray]:
        return {
            "short": self._short.copy(),
            "long": self._long.copy(),
            "fell": self._status < 0,
            "reached_goal": self._status > 0,
            "noisy": noisy,
        }
