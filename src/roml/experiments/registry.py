"""The experiments roml knows, by name. Modules are imported on first use, so ``roml --help`` stays fast."""

from __future__ import annotations

import importlib
import re
from functools import cache

from roml.envs.mujoco.catalog import ENVIRONMENTS  # names and families only: imports no mujoco
from roml.experiments.base import Experiment

# name -> (module, class or factory, one-line description, arguments of the factory)
_EXPERIMENTS: dict[str, tuple[str, str, str, tuple]] = {
    "sine": ("roml.experiments.sine", "SineExperiment", "Sine regression with MAML (Section 6.3, App. E)", ()),
    "khazad-dum": (
        "roml.experiments.khazad_dum",
        "KhazadDumExperiment",
        "Khazad-Dum with VariBAD (Section 6.1, App. D.1)",
        (),
    ),
}


def mujoco_experiment_name(env: str) -> str:
    """The experiment name of MuJoCo task environment ``env``: ``HalfCheetah10D-a`` -> ``half-cheetah-10d-a``."""
    return re.sub(r"(?<=[a-z])(?=[A-Z0-9])", "-", env).lower()


for _env in ENVIRONMENTS:  # the twelve MuJoCo experiments (roml.experiments.mujoco)
    _EXPERIMENTS[mujoco_experiment_name(_env)] = (
        "roml.experiments.mujoco",
        "MujocoExperiment",
        f"{_env} with VariBAD{' and PEARL' if _env.startswith('HalfCheetah') else ''} (Section 6.2, App. D.2)",
        (mujoco_experiment_name(_env),),
    )


def experiment_names() -> tuple[str, ...]:
    return tuple(_EXPERIMENTS)


def describe() -> dict[str, str]:
    """One-line description of every experiment, by name."""
    return {name: description for name, (_, _, description, _) in _EXPERIMENTS.items()}


@cache
def get_experiment(name: str) -> Experiment:
    """The experiment called ``name``, or a ``ValueError`` listing the known ones."""
    if name not in _EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose from {', '.join(_EXPERIMENTS)}")
    module, factory, _, args = _EXPERIMENTS[name]
    return getattr(importlib.import_module(module), factory)(*args)
