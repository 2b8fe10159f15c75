"""The experiments roml knows, by name. Modules are imported on first use, so ``roml --help`` stays fast."""

from __future__ import annotations

import importlib
from functools import cache

from roml.experiments.base import Experiment

# name -> (module, class, one-line description)
_EXPERIMENTS: dict[str, tuple[str, str, str]] = {
    "sine": ("roml.experiments.sine", "SineExperiment", "Sine regression with MAML (Section 6.3, App. E)"),
    "khazad-dum": ("roml.experiments.khazad_dum", "KhazadDumExperiment",
                   "Khazad-Dum with VariBAD (Section 6.1, App. D.1)"),
}


def experiment_names() -> tuple[str, ...]:
    return tuple(_EXPERIMENTS)


def describe() -> dict[str, str]:
    """One-line description of every experiment, by name."""
    return {name: description for name, (_, _, description) in _EXPERIMENTS.items()}


@cache
def get_experiment(name: str) -> Experiment:
    """The experiment called ``name``, or a ``ValueError`` listing the known ones."""
    if name not in _EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose from {', '.join(_EXPERIMENTS)}")
    module, cls, _ = _EXPERIMENTS[name]
    return getattr(importlib.import_module(module), cls)()
