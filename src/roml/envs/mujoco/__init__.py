"""The paper's twelve MuJoCo task environments (Section 6.2, App. D.2) on Gymnasium v5 and the native ``mujoco``.

==========================  ===================================================================================
module                      contents
==========================  ===================================================================================
:mod:`.catalog`             names, task families, the 10-D property sets, registration (no ``mujoco`` needed)
:mod:`.model`               the compiled models, their collision bounds, task parameters written into them
:mod:`.physics`             the batched physics core single and vector environments share
:mod:`.base`                the base environment class (task API, 200-step episodes, pickling), task checks
:mod:`.half_cheetah`        ``HalfCheetahVelEnv``, ``HalfCheetahMassEnv``, ``HalfCheetahBodyEnv``,
                            ``HalfCheetah10DEnv``
:mod:`.humanoid`            ``HumanoidVelEnv``, ``HumanoidMassEnv``, ``HumanoidBodyEnv``
:mod:`.ant`                 ``AntGoalEnv``, ``AntMassEnv``, ``AntBodyEnv``
:mod:`.vector`              ``MujocoTaskVecEnv``: n environments with one task each, stepped together
==========================  ===================================================================================

Importing this package does not import ``mujoco``: the environment classes load on first access (``from
roml.envs.mujoco import HalfCheetahMassEnv``), and raise an ``ImportError`` naming what to install if ``mujoco``
is missing. :func:`task_family` and :func:`register_envs` always work.
"""

from __future__ import annotations

import importlib
from typing import Any

from roml.envs.mujoco import catalog as _catalog
from roml.envs.mujoco.catalog import *  # noqa: F403  (the names of catalog.__all__)

_LAZY = {
    "HalfCheetahVelEnv": "half_cheetah",
    "HalfCheetahMassEnv": "half_cheetah",
    "HalfCheetahBodyEnv": "half_cheetah",
    "HalfCheetah10DEnv": "half_cheetah",
    "HumanoidVelEnv": "humanoid",
    "HumanoidMassEnv": "humanoid",
    "HumanoidBodyEnv": "humanoid",
    "AntGoalEnv": "ant",
    "AntMassEnv": "ant",
    "AntBodyEnv": "ant",
    "MujocoTaskEnv": "base",
    "MujocoTaskVecEnv": "vector",
}

__all__ = [*_catalog.__all__, *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
