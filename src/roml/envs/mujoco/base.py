"""The base class of the MuJoCo task environments, :class:`MujocoTaskEnv`, with the task checks and the mass
physics option its robots share.

:class:`MujocoTaskEnv` is mixed in before a Gymnasium v5 MuJoCo environment (``HalfCheetahEnv``, ``HumanoidEnv``,
``AntEnv``), whose model file, action space and renderer it keeps; it adds the task API (``set_task``, ``get_task``,
``reset(options={"task": ...})``, ``task_family()``), the fixed 200-step episodes and exact pickling. It writes
tasks into the model with :mod:`roml.envs.mujoco.model` and steps through :mod:`roml.envs.mujoco.physics`.

The robot modules (:mod:`~roml.envs.mujoco.half_cheetah`, :mod:`~roml.envs.mujoco.humanoid`,
:mod:`~roml.envs.mujoco.ant`) only declare what they observe and how they reward.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from gymnasium.error import DependencyNotInstalled

from roml.envs.mujoco.model import (
    AuthorsMassScale,
    BodyMassScale,
    ModelParameter,
    ModelTaskApplier,
    load_model,
    missing_dependency,
    mujoco,
)
from roml.envs.mujoco.physics import PhysicsBatch, check_actions, check_state

try:
    from gymnasium.envs.mujoco.mujoco_env import MujocoEnv
except (ImportError, DependencyNotInstalled) as _err:  # pragma: no cover - exercised in a subprocess by the tests
    raise missing_dependency(_err) from _err

import gymnasium
from gymnasium import spaces
from gymnasium.utils import EzPickle

from roml.envs.mujoco.catalog import ENVIRONMENTS, EPISODE_LENGTH
from roml.envs.task_api import TaskEnvBase
from roml.tasks import TaskFamily

__all__ = [
    "EPISODE_LENGTH",
    "MassPhysics",
    "MujocoTaskEnv",
]


class MassPhysics:
    """Mixin (before the robot's task-environment class) of the tasks whose first factor is the mass: the
    ``mass_physics`` option, ``"density"`` (:class:`BodyMassScale`, constants recomputed) or ``"authors"``
    (the class's :attr:`authors_mass`, nothing recomputed)."""

    options: ClassVar[dict[str, tuple[str, ...]]] = {"mass_physics": ("density", "authors")}
    authors_mass: ClassVar[AuthorsMassScale] = AuthorsMassScale()
    """The authors' mass factor of the robot (which radii it scales)."""
    mass_physics: str

    @property
    def recompute_derived(self) -> bool:
        return self.mass_physics != "authors"

    def _mass_parameter(self) -> ModelParameter:
        return self.authors_mass if self.mass_physics == "authors" else BodyMassScale()


# ------------------------------------------------------------------------------------------------------------------
# The environment base class
# ------------------------------------------------------------------------------------------------------------------
class MujocoTaskEnv(TaskEnvBase):
    """Base class of roml's MuJoCo task environments; mixed in *before* a Gymnasium v5 MuJoCo environment.

    A subclass sets the class attributes below (``parent`` is the Gymnasium environment class it extends and
    ``parent_kwargs`` the arguments it is built with) and implements the batched ``_observe``, ``_position`` and
    ``_reward`` class methods, which :class:`PhysicsBatch` calls on ``(n, ...)`` buffers.

    Episodes last exactly :data:`EPISODE_LENGTH` = 200 steps: ``terminated`` is always False and ``truncated`` is
    True at step 200 (no ``TimeLimit`` wrapper is needed or registered); stepping further without ``reset`` raises
    ``RuntimeError``. ``set_task`` takes effect at the next ``reset``; ``reset(options={"task": ...})`` sets it
    too; ``get_task`` returns the task set last and the ``task`` property the current episode's. ``reset`` also
    accepts ``options={"qpos": ..., "qvel": ...}`` to start from a given state instead of a random one (the reset
    noise is drawn anyway, so the generator's stream does not depend on the options).
    """

    name: ClassVar[str]
    """The environment's name in :data:`roml.envs.mujoco.ENVIRONMENTS` (its id is ``roml/<name>-v0``)."""
    data_fields: ClassVar[tuple[str, ...]] = ("qpos", "qvel")
    """The ``mujoco.MjData`` arrays the batched functions read."""
    contact_forces: ClassVar[bool] = False
    """Whether to run ``mj_rnePostConstraint`` after each step (fills ``cfrc_ext``)."""
    reset_noise: ClassVar[tuple[tuple[str, float], tuple[str, float]]] = (("uniform", 0.1), ("normal", 0.1))
    """``((kind, scale) for qpos, (kind, scale) for qvel)``; kind "uniform" is U(-scale, scale), "normal"
    scale * N(0, 1)."""
    episode_length: ClassVar[int] = EPISODE_LENGTH
    parent: ClassVar[type[MujocoEnv]]
    """The Gymnasium v5 environment class mixed in after this one."""
    parent_kwargs: ClassVar[dict[str, Any]] = {}
    """Arguments for ``parent.__init__`` (besides ``render_mode``)."""
    model_parameters: ClassVar[tuple[ModelParameter, ...]] = ()
    """The task's model parameters, one per task dimension (none for reward-only tasks such as velocities)."""
    options: ClassVar[dict[str, tuple[str, ...]]] = {}
    """The environment's constructor options and their values, the default first (e.g. HalfCheetah's
    ``observation``); :meth:`check_options` validates them."""
    recompute_derived: bool = True
    """Whether a task recomputes the model's derived constants and collision bounds (see :class:`ModelTaskApplier`;
    False under the authors' mass physics)."""

    def __init__(self, task: Any = None, render_mode: str | None = None, **options: str):
        """Args:
        task: the first task (default: the family's median task, e.g. factor 1); see :meth:`set_task`.
        render_mode: as Gymnasium's MuJoCo environments ("human", "rgb_array", ...; needs OpenGL).
        options: the environment's options (:attr:`options`), e.g. ``observation="authors"``.
        """
        self._build(task, render_mode, options)

    def _build(self, task: Any, render_mode: str | None, options: dict[str, str], **pickle_kwargs: Any) -> None:
        """Set the options as attributes, build the Gymnasium environment (model, action space, renderer), then the
        task machinery, and record ``task``, ``render_mode``, the options and ``pickle_kwargs`` as the constructor
        arguments that pickling replays."""
        for key, value in self.check_options(**options).items():
            setattr(self, key, value)
        self.parent.__init__(self, render_mode=render_mode, **self.parent_kwargs)
        self._init_task_env(task)
        EzPickle.__init__(self, task=task, render_mode=render_mode, **options, **pickle_kwargs)

    # -------------------------------------------------------------------------------------- set-up (subclasses)
    def _initialize_simulation(self):
        # MujocoEnv's hook: a private copy of a model compiled once per process (parsing the XML for each of 32
        # sub-environments is slow, and MuJoCo >= 4 would log a deprecation warning each time).
        model = load_model(self.fullpath)
        model.vis.global_.offwidth = max(model.vis.global_.offwidth, self.width)
        model.vis.global_.offheight = max(model.vis.global_.offheight, self.height)
        return model, mujoco.MjData(model)

    @classmethod
    def check_options(cls, **options: Any) -> dict[str, str]:
        """``options`` with the defaults of the options not given; ``ValueError`` naming an unknown option or a
        bad value (cheap: nothing is built)."""
        unknown = set(options) - set(cls.options)
        if unknown:
            have = ", ".join(cls.options) or "none"
            raise ValueError(f"{cls.__name__} has no option {', '.join(sorted(unknown))} (its options: {have})")
        for key, value in options.items():
            if value not in cls.options[key]:
                raise ValueError(
                    f"{cls.__name__}: {key} must be one of {', '.join(map(repr, cls.options[key]))}, got {value!r}"
                )
        return {key: options.get(key, values[0]) for key, values in cls.options.items()}

    def _model_parameters(self) -> tuple[ModelParameter, ...]:
        """The model parameters of this instance (``model_parameters`` unless a subclass depends on its
        arguments, as the 10-D tasks do)."""
        return self.model_parameters

    def _init_task_env(self, task: Any) -> None:
        self._init_tasks(self.name, task)
        parameters = self._model_parameters()
        if parameters and len(parameters) != self._family.dim:
            raise ValueError(
                f"{type(self).__name__}: {len(parameters)} model parameters for {self._family.dim} task dimensions"
            )
        self._applier = ModelTaskApplier(self.model, parameters, self.recompute_derived) if parameters else None
        self._applied: np.ndarray | None = None
        self._batch = PhysicsBatch(self, [self.model], [self.data], self.frame_skip)
        self._apply_model_task(self._task)
        obs = self._batch.start(self._task[None], np.random.default_rng(0))  # sizes the observation space
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=obs.shape[1:], dtype=np.float32)
        self._needs_reset = True

    # -------------------------------------------------------------------------------------------- task API
    def task_family(self) -> TaskFamily:
        """A new :class:`roml.tasks.TaskFamily` of this environment's task distribution (``phi0`` is the paper's
        original distribution); see :func:`roml.envs.mujoco.task_family`."""
        return ENVIRONMENTS[self.name].family()

    @property
    def elapsed_steps(self) -> int:
        return self._batch.steps

    def _apply_model_task(self, task: np.ndarray) -> None:
        """Write ``task`` into the model (from the pristine copy) unless it is there already."""
        if self._applier is None or (self._applied is not None and np.array_equal(self._applied, task)):
            return
        self._applier.apply(self.model, self.data, task)
        self._applied = task.copy()

    # -------------------------------------------------------------------------------------------- gym API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        options = self._reset_options(options, "qpos", "qvel")
        qpos = check_state(options.get("qpos"), 1, self.model.nq, "options['qpos']")
        qvel = check_state(options.get("qvel"), 1, self.model.nv, "options['qvel']")
        gymnasium.Env.reset(self, seed=seed)  # seeds self.np_random; MujocoEnv.reset's own start is replaced
        task = self._start_tasks(options)
        self._apply_model_task(task)
        obs = self._batch.start(task[None], self.np_random, qpos, qvel)
        self._needs_reset = False
        if self.render_mode == "human":
            self.render()
        return obs[0], {}

    def step(self, action: Any):
        if self._needs_reset:
            raise RuntimeError(
                f"{type(self).__name__}.step called before reset() or after the episode ended "
                f"({self.episode_length} steps)"
            )
        actions = check_actions(action, 1, self.model.nu, "action")
        obs, reward, info = self._batch.step(actions)
        truncated = self._batch.steps >= self.episode_length
        self._needs_reset = truncated
        if self.render_mode == "human":
            self.render()
        return obs[0], reward.item(0), False, truncated, {key: value.item(0) for key, value in info.items()}

    def set_state(self, qpos: np.ndarray, qvel: np.ndarray) -> None:
        """Gymnasium's ``MujocoEnv.set_state`` (set positions and velocities, then ``mj_forward``), which also
        moves the reference position of the next step's velocity to the new state."""
        super().set_state(qpos, qvel)
        self._batch.refresh()

    # -------------------------------------------------------------------------------------------- pickling
    def __getstate__(self) -> dict[str, Any]:
        state = EzPickle.__getstate__(self)
        state["_roml_state"] = {
            "next_task": self._next_task,
            "task": self._task,
            "batch": self._batch.get_state(),
            "needs_reset": self._needs_reset,
            "np_random": self._np_random,
            "np_random_seed": self._np_random_seed,
        }
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        extra = state.pop("_roml_state")
        EzPickle.__setstate__(self, state)  # builds a fresh environment from the constructor arguments
        self._next_task = extra["next_task"]
        self._task = extra["task"]
        self._apply_model_task(self._task)
        self._batch.set_state(extra["batch"])
        self._needs_reset = extra["needs_reset"]
        self._np_random = extra["np_random"]
        self._np_random_seed = extra["np_random_seed"]

    # -------------------------------------------------------------------------------------------- batched hooks
    @classmethod
    def _observe(cls, batch: PhysicsBatch) -> np.ndarray:
        raise NotImplementedError

    @classmethod
    def _position(cls, batch: PhysicsBatch) -> np.ndarray:
        raise NotImplementedError

    @classmethod
    def _reward(
        cls, batch: PhysicsBatch, actions: np.ndarray, before: np.ndarray, after: np.ndarray
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        raise NotImplementedError
