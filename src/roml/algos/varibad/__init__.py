"""VariBAD (Zintgraf et al., 2020) for the paper's meta-RL experiments: see :mod:`roml.algos.varibad.agent`.

Importing this package does not import torch: the names below load their module on first access, so
:mod:`roml.algos.varibad.config` (the settings and the robots' presets) stays light for the experiments'
descriptions (``roml list``, ``roml report``).
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "TIMERS": "agent",
    "VariBAD": "agent",
    "Rollout": "buffers",
    "TrajectoryBuffer": "buffers",
    "VariBADConfig": "config",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
