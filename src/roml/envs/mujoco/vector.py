"""``MujocoTaskVecEnv``: ``n`` MuJoCo task environments in one process, one task each, stepped together.

Built for meta-RL loops such as VariBAD's, where a task lasts K = 2 episodes and every sub-environment must start
and end its episodes on the same step: tasks are set per sub-environment and explicitly (:meth:`set_tasks`), never
through reset options that an autoreset would drop, and nothing resets by itself.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.vector import VectorEnv
from gymnasium.vector.utils import batch_space

from roml.envs.mujoco.base import MujocoTaskEnv
from roml.envs.mujoco.physics import PhysicsBatch, check_actions, check_state
from roml.envs.mujoco.catalog import ENVIRONMENTS, env_class, env_info
from roml.envs.task_api import TaskVecEnvBase

__all__ = ["MujocoTaskVecEnv"]

try:  # gymnasium >= 1.1
    from gymnasium.vector import AutoresetMode

    _NO_AUTORESET: Any = AutoresetMode.DISABLED
except ImportError:  # pragma: no cover - gymnasium 1.0
    _NO_AUTORESET = "Disabled"


def _resolve(env: str | type[MujocoTaskEnv], kwargs: dict[str, Any]) -> tuple[type[MujocoTaskEnv], dict[str, Any]]:
    """The environment class and its constructor arguments, from a name/id in the catalog or a class."""
    if isinstance(env, str):
        info = env_info(env)
        cls = env_class(env)
        merged = dict(info.kwargs)
        for key, value in kwargs.items():
            if key in merged and merged[key] != value:
                raise ValueError(f"{info.name} fixes {key}={merged[key]!r}, got {key}={value!r}")
            merged[key] = value
        return cls, merged
    if isinstance(env, type) and issubclass(env, MujocoTaskEnv):
        return env, dict(kwargs)
    raise ValueError(
        f"env must be one of {sorted(ENVIRONMENTS)} (or its roml/...-v0 id) or a MujocoTaskEnv subclass, got {env!r}"
    )


class MujocoTaskVecEnv(TaskVecEnvBase, VectorEnv):
    """``num_envs`` copies of one MuJoCo task environment, each with its own task, stepped together in-process.

    The sub-environments are ordinary task environments (e.g. :class:`~roml.envs.mujoco.half_cheetah.
    HalfCheetahMassEnv`), each with its own ``mujoco.MjModel`` (so each carries its own task) and ``MjData``; the
    vector environment steps them through the shared batched core (:class:`~roml.envs.mujoco.physics.PhysicsBatch`):
    one ``mujoco.mj_step(model, data, nstep=frame_skip)`` call per sub-environment per step, then observations and
    rewards for all of them in a few numpy operations. Its trajectories are exactly those of the single
    environments run with the same starting states and actions, and ``MujocoTaskVecEnv(name, 1)`` reset with seed
    ``s`` equals ``gymnasium.make(id)`` reset with seed ``s``. ``envs`` gives read access to the sub-environments
    (their ``model`` and ``data``); stepping them directly would bypass this object's bookkeeping.

    **Tasks** are set per sub-environment with :meth:`set_tasks` (``(num_envs, task_dim)``) and take effect at the
    next :meth:`reset`, which keeps them otherwise (so the K episodes of one task are K resets in a row).
    ``reset(options={"tasks": ...})`` is the same as ``set_tasks`` before ``reset``.

    **No autoreset** (``metadata["autoreset_mode"]`` is ``DISABLED``): every episode lasts exactly 200 steps;
    ``truncated`` turns True for all sub-environments together on step 200, ``terminated`` is always False (a
    fallen Humanoid or Ant is not terminated, as in the authors' environments, so that all episodes end on the
    same step as VariBAD's BAMDP loop needs), and the caller then calls :meth:`reset`; stepping further raises
    ``RuntimeError``.

    One generator ``self.np_random`` (seeded by ``reset(seed=...)``) draws every sub-environment's starting noise:
    ``(num_envs, nq)`` position noise, then ``(num_envs, nv)`` velocity noise.

    Speed: the physics dominates. On one core of a 2-core development machine (shared with other work), 32
    HalfCheetah sub-environments step at about 21 000-23 000 environment steps per second, with ``mj_step`` taking
    ~88% of the time; Ant (RK4) at about 3 300-3 800 and Humanoid (RK4, 50 PGS iterations) at about 1 500-1 700
    under uniformly random actions.

    ``step(actions)`` takes ``(num_envs, act_dim)`` actions and returns ``obs`` ``(num_envs, obs_dim)`` float32,
    ``rewards`` ``(num_envs,)`` float64, ``terminated`` and ``truncated`` ``(num_envs,)`` bool, and ``info``, a dict
    of ``(num_envs,)`` arrays with the environment's reward terms (``reward_ctrl``, ``x_velocity``, ...).

    Args:
        env: an environment name from :data:`roml.envs.mujoco.ENVIRONMENTS` (e.g. ``"HalfCheetahMass"`` or
            ``"roml/HalfCheetahMass-v0"``) or a :class:`~roml.envs.mujoco.base.MujocoTaskEnv` subclass.
        num_envs: number of sub-environments (>= 1).
        tasks: the first tasks, ``(num_envs, task_dim)`` (default: every sub-environment at the family's median
            task).
        **env_kwargs: constructor arguments of the environment class (e.g. ``variant="a"`` for
            ``HalfCheetah10DEnv``).
    """

    metadata = {"autoreset_mode": _NO_AUTORESET, "render_modes": []}

    def __init__(self, env: str | type[MujocoTaskEnv], num_envs: int = 1, tasks: Any = None, **env_kwargs: Any):
        if isinstance(num_envs, bool) or not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise ValueError(f"num_envs must be an integer >= 1, got {num_envs!r}")
        if env_kwargs.get("render_mode") is not None:
            raise ValueError(f"MujocoTaskVecEnv does not render, got render_mode={env_kwargs['render_mode']!r}")
        env_kwargs.pop("render_mode", None)
        self._env_spec = (env, dict(env_kwargs))
        cls, kwargs = _resolve(env, env_kwargs)
        self.num_envs = int(num_envs)
        self.render_mode = None
        self.envs: tuple[MujocoTaskEnv, ...] = tuple(cls(**kwargs) for _ in range(self.num_envs))
        first = self.envs[0]
        self.name = first.name
        self.single_observation_space = first.observation_space
        self.single_action_space = first.action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._batch = PhysicsBatch(first, [e.model for e in self.envs], [e.data for e in self.envs], first.frame_skip)
        self._init_tasks(self.name, tasks, np.stack([e.get_task() for e in self.envs]))
        self._needs_reset = True

    # -------------------------------------------------------------------------------------------- task API
    def task_family(self):
        """The sub-environments' :class:`roml.tasks.TaskFamily` (a new object)."""
        return self.envs[0].task_family()

    @property
    def episode_length(self) -> int:
        return self.envs[0].episode_length

    @property
    def elapsed_steps(self) -> int:
        return self._batch.steps

    # -------------------------------------------------------------------------------------------- vector API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        """Start new episodes in every sub-environment, with the tasks set last.

        ``seed`` (an int) reseeds ``self.np_random``. ``options`` may hold ``"tasks"`` (as :meth:`set_tasks`),
        ``"qpos"`` ``(num_envs, nq)`` and ``"qvel"`` ``(num_envs, nv)`` (start from these states; the noise is drawn
        anyway). Returns ``obs`` ``(num_envs, obs_dim)`` float32 and an empty ``info``.
        """
        if seed is not None and not isinstance(seed, (int, np.integer)):
            raise ValueError(f"seed must be an int or None (one generator serves all sub-envs), got {seed!r}")
        options = self._reset_options(options, "qpos", "qvel")
        batch = self._batch
        qpos = check_state(options.get("qpos"), self.num_envs, batch.nq, "options['qpos']")
        qvel = check_state(options.get("qvel"), self.num_envs, batch.nv, "options['qvel']")
        super().reset(seed=seed)
        tasks = self._start_tasks(options)
        for env, task in zip(self.envs, tasks):
            env._apply_model_task(task)
        obs = batch.start(tasks, self.np_random, qpos, qvel)
        self._needs_reset = False
        return obs, {}

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        if self._needs_reset:
            raise RuntimeError(
                f"MujocoTaskVecEnv.step called before reset() or after the episodes ended ({self.episode_length} steps)"
            )
        n = self.num_envs
        a = check_actions(actions, n, self._batch.nu, "actions")
        obs, reward, info = self._batch.step(a)
        truncated = self._batch.steps >= self.episode_length
        self._needs_reset = truncated
        return obs, reward, np.zeros(n, dtype=bool), np.full(n, truncated), info

    def close_extras(self, **kwargs: Any) -> None:
        for env in self.envs:
            env.close()

    # -------------------------------------------------------------------------------------------- pickling
    def __getstate__(self) -> dict[str, Any]:
        env, kwargs = self._env_spec
        return {
            "env": env,
            "env_kwargs": kwargs,
            "num_envs": self.num_envs,
            "next_tasks": self._next_tasks,
            "tasks": self._tasks,
            "batch": self._batch.get_state(),
            "needs_reset": self._needs_reset,
            "np_random": self._np_random,
            "np_random_seed": self._np_random_seed,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["env"], state["num_envs"], **state["env_kwargs"])
        self._next_tasks = np.array(state["next_tasks"])
        self._tasks = np.array(state["tasks"])
        for env, task in zip(self.envs, self._tasks):
            env._apply_model_task(task)
        self._batch.set_state(state["batch"])
        self._needs_reset = state["needs_reset"]
        self._np_random = state["np_random"]
        self._np_random_seed = state["np_random_seed"]
