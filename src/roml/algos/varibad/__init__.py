"""VariBAD (Zintgraf et al., 2020) for the paper's meta-RL experiments: see :mod:`roml.algos.varibad.agent`."""

from roml.algos.varibad.agent import TIMERS, VariBAD
from roml.algos.varibad.buffers import Rollout, TrajectoryBuffer
from roml.algos.varibad.config import VariBADConfig

__all__ = ["TIMERS", "Rollout", "TrajectoryBuffer", "VariBAD", "VariBADConfig"]
