"""The twelve MuJoCo task environments of the paper (Section 6.2, App. D.2): names, entry points, task families,
the HalfCheetah 10-D property sets, and their registration with Gymnasium.

This module imports neither ``mujoco`` nor Gymnasium's MuJoCo support, so the task families (which experiments need
to sample tasks) and the registration work without them; making an environment is what needs ``mujoco``.

=====================  =========================  ==========================================  ==================
name                   task parameters            original distribution                       family
=====================  =========================  ==========================================  ==================
HalfCheetahVel         velocity                   U[0, 7]                                     ``BetaBox``
HalfCheetahMass        mass                       log2 U[-1, 1]                               ``LogBetaBox``
HalfCheetahBody        mass, damping, head_size   each log2 U[-1, 1]                          ``LogBetaBox``
HalfCheetah10D-a/b/c   10 model arrays            each log2 U[-0.5, 0.5]                      ``LogBetaBox``
HumanoidVel            velocity                   U[0, 2.5]                                   ``BetaBox``
HumanoidMass           mass                       log2 U[-1, 1]                               ``LogBetaBox``
HumanoidBody           mass, damping, head_size   each log2 U[-1, 1]                          ``LogBetaBox``
AntGoal                goal_x, goal_y             uniform on the disc of radius 5             ``PolarDisc``
AntMass                mass                       log2 U[-1, 1]                               ``LogBetaBox``
AntBody                mass, damping, torso_size  each log2 U[-1, 1]                          ``LogBetaBox``
=====================  =========================  ==========================================  ==================

Every family is built with the paper's mean-parameterised Beta (``phi0 = 0.5`` per coordinate gives the uniform
distribution above; ``eps = 0.02``), as the authors' samplers (docs/authors-code.md, section 2).
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from roml.tasks import BetaBox, LogBetaBox, PolarDisc, TaskFamily

__all__ = [
    "ENVIRONMENTS",
    "EPISODE_LENGTH",
    "TEN_D_CANDIDATES",
    "TEN_D_SEED",
    "TEN_D_SETS",
    "EnvInfo",
    "draw_ten_d_sets",
    "env_id",
    "env_info",
    "register_envs",
    "task_family",
]

EPISODE_LENGTH = 200
"""Steps per episode of every MuJoCo task (App. D.2); a task's meta-rollout is K = 2 such episodes."""

# ------------------------------------------------------------------------------------------------------------------
# HalfCheetah 10-D: which model arrays vary
# ------------------------------------------------------------------------------------------------------------------
TEN_D_CANDIDATES = (
    "actuator_gainprm",
    "actuator_gear",
    "body_inertia",
    "body_ipos",
    "body_mass",
    "dof_armature",
    "dof_damping",
    "geom_friction",
    "geom_pos",
    "geom_size",
    "geom_solimp",
    "geom_solref",
    "jnt_range",
    "jnt_solimp",
    "jnt_solref",
    "jnt_stiffness",
)
"""The HalfCheetah model arrays a 10-D task may scale: every floating-point array of the compiled
``mujoco.MjModel`` of Gymnasium's half_cheetah.xml that changes the simulated trajectory when multiplied by
``2 ** +-0.5``, excluding

- rendering-only arrays (``cam_*``, ``light_*``, ``mat_*``, ``geom_rgba``);
- arrays the compiler or ``mj_setConst`` derives from others (``body_subtreemass``, ``body_invweight0``,
  ``dof_invweight0``, ``dof_M0``, ``dof_length``, ``actuator_acc0``, ``actuator_length0``, ``geom_rbound``,
  ``geom_aabb``, ``bvh_aabb``, ``body_margin``): they are recomputed after every edit;
- unit quaternions and axes (``body_quat``, ``body_iquat``, ``geom_quat``, ``jnt_axis``), which scaling would
  denormalise;
- the control range ``actuator_ctrlrange``, which is the action space's bound rather than a physical property;
- ``body_pos``, whose first row is the torso's starting height: below 1 the cheetah would start inside the floor;
- arrays that are all zero, or whose scaling is inert for this model (``actuator_dynprm``: motors have no activation
  dynamics; ``dof_solref``/``dof_solimp``: no dof has friction loss; ``geom_solmix``: every geom has the same
  value, so the mixing weights do not change).

``tests/test_mujoco_envs.py`` checks that each candidate changes the dynamics. The authors drew from all float
arrays of the model, so their set "A" (docs/authors-code.md, section 4) included camera, light and material fields
that have no effect on the simulation.
"""

TEN_D_SEED = 2023
"""Seed of the one-time draw of :data:`TEN_D_SETS` (see :func:`draw_ten_d_sets`)."""

TEN_D_SETS: dict[str, tuple[str, ...]] = {
    "a": (
        "actuator_gainprm",
        "actuator_gear",
        "body_inertia",
        "body_ipos",
        "dof_damping",
        "geom_friction",
        "geom_solimp",
        "geom_solref",
        "jnt_solref",
        "jnt_stiffness",
    ),
    "b": (
        "actuator_gainprm",
        "actuator_gear",
        "body_inertia",
        "body_ipos",
        "body_mass",
        "geom_friction",
        "geom_size",
        "jnt_range",
        "jnt_solimp",
        "jnt_solref",
    ),
    "c": (
        "body_inertia",
        "dof_armature",
        "geom_friction",
        "geom_pos",
        "geom_size",
        "geom_solimp",
        "geom_solref",
        "jnt_solimp",
        "jnt_solref",
        "jnt_stiffness",
    ),
}
"""The three HalfCheetah 10-D property sets, ``draw_ten_d_sets(TEN_D_CANDIDATES, TEN_D_SEED)``, frozen here so that
they never change with numpy's sampling code."""


def draw_ten_d_sets(
    candidates: tuple[str, ...] = TEN_D_CANDIDATES, seed: int = TEN_D_SEED, size: int = 10
) -> dict[str, tuple[str, ...]]:
    """Draw the three 10-D property sets: for "a", "b" and "c" in turn, ``size`` distinct candidates chosen
    uniformly by ``np.random.default_rng(seed).choice(len(candidates), size, replace=False)``, listed in the
    candidates' order. This is how :data:`TEN_D_SETS` was made."""
    rng = np.random.default_rng(seed)
    return {
        key: tuple(candidates[i] for i in sorted(rng.choice(len(candidates), size, replace=False))) for key in "abc"
    }


# ------------------------------------------------------------------------------------------------------------------
# The environments
# ------------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EnvInfo:
    """One registered environment: ``gymnasium.make(env_id(name))`` builds ``entry_point(**kwargs)``."""

    name: str
    entry_point: str
    family: Callable[[], TaskFamily]
    """Builds the task family (a new object each call)."""
    kwargs: dict[str, Any] = field(default_factory=dict)


def _velocity(high: float) -> Callable[[], TaskFamily]:
    return functools.partial(BetaBox, 0.0, high, ("velocity",))


def _factors(names: tuple[str, ...], half_range: float = 1.0) -> Callable[[], TaskFamily]:
    d = len(names)
    return functools.partial(LogBetaBox, [-half_range] * d, [half_range] * d, names)


def _goal() -> TaskFamily:
    return PolarDisc(5.0, names=("goal_x", "goal_y"))


_MODULE = "roml.envs.mujoco"
_BODY = ("mass", "damping", "head_size")
ENVIRONMENTS: dict[str, EnvInfo] = {
    info.name: info
    for info in (
        EnvInfo("HalfCheetahVel", f"{_MODULE}.half_cheetah:HalfCheetahVelEnv", _velocity(7.0)),
        EnvInfo("HalfCheetahMass", f"{_MODULE}.half_cheetah:HalfCheetahMassEnv", _factors(("mass",))),
        EnvInfo("HalfCheetahBody", f"{_MODULE}.half_cheetah:HalfCheetahBodyEnv", _factors(_BODY)),
        *(
            EnvInfo(
                f"HalfCheetah10D-{key}",
                f"{_MODULE}.half_cheetah:HalfCheetah10DEnv",
                _factors(TEN_D_SETS[key], 0.5),
                {"variant": key},
            )
            for key in "abc"
        ),
        EnvInfo("HumanoidVel", f"{_MODULE}.humanoid:HumanoidVelEnv", _velocity(2.5)),
        EnvInfo("HumanoidMass", f"{_MODULE}.humanoid:HumanoidMassEnv", _factors(("mass",))),
        EnvInfo("HumanoidBody", f"{_MODULE}.humanoid:HumanoidBodyEnv", _factors(_BODY)),
        EnvInfo("AntGoal", f"{_MODULE}.ant:AntGoalEnv", _goal),
        EnvInfo("AntMass", f"{_MODULE}.ant:AntMassEnv", _factors(("mass",))),
        EnvInfo("AntBody", f"{_MODULE}.ant:AntBodyEnv", _factors(("mass", "damping", "torso_size"))),
    )
}
"""The twelve environments by name, in the paper's order (Table 2)."""


def env_info(name: str) -> EnvInfo:
    """The :class:`EnvInfo` of environment ``name`` (a name such as ``"AntGoal"`` or an id such as
    ``"roml/AntGoal-v0"``); ``ValueError`` for unknown names."""
    key = name[len("roml/") :] if name.startswith("roml/") else name
    key = key[: -len("-v0")] if key.endswith("-v0") else key
    if key not in ENVIRONMENTS:
        raise ValueError(f"unknown MuJoCo task environment {name!r}; expected one of {sorted(ENVIRONMENTS)}")
    return ENVIRONMENTS[key]


def task_family(name: str) -> TaskFamily:
    """The task family of environment ``name`` (e.g. ``"HalfCheetahMass"`` or ``"roml/HalfCheetahMass-v0"``): a
    :class:`roml.tasks.TaskFamily` whose ``phi0`` is the original task distribution. Needs no ``mujoco``."""
    return env_info(name).family()


def env_class(name: str) -> type:
    """The environment class of ``name`` (imports its module, and so ``mujoco``)."""
    module, _, cls_name = env_info(name).entry_point.partition(":")
    return getattr(importlib.import_module(module), cls_name)


def env_id(name: str) -> str:
    """The Gymnasium id of environment ``name``: ``roml/<name>-v0``."""
    return f"roml/{env_info(name).name}-v0"


def _make_vec(name: str, num_envs: int = 1, **kwargs: Any):
    from roml.envs.mujoco.vector import MujocoTaskVecEnv  # imports mujoco, so only when a vector env is made

    return MujocoTaskVecEnv(name, num_envs, **kwargs)


def register_envs() -> None:
    """Register the twelve ``roml/<name>-v0`` ids with Gymnasium (idempotent; imports no ``mujoco``).

    ``gymnasium.make("roml/HalfCheetahMass-v0", task=[1.5])`` gives the environment (episodes end at 200 steps by
    themselves, so no ``TimeLimit`` is registered); ``gymnasium.make_vec(id, num_envs=n,
    vectorization_mode="vector_entry_point", tasks=...)`` gives a
    :class:`~roml.envs.mujoco.vector.MujocoTaskVecEnv`. Without ``mujoco`` installed, making one raises an
    ``ImportError`` that says what to install.
    """
    import gymnasium

    for info in ENVIRONMENTS.values():
        env = env_id(info.name)
        if env in gymnasium.registry:
            continue
        gymnasium.register(
            id=env,
            entry_point=info.entry_point,
            vector_entry_point=functools.partial(_make_vec, info.name),
            kwargs=dict(info.kwargs),
            max_episode_steps=None,
            nondeterministic=False,
        )
