"""A task environment small enough to reason about: the reward of every step is minus the task, so the high tasks
are the hard ones (used by the integration tests)."""

from __future__ import annotations

import gymnasium
import numpy as np
from gymnasium import spaces

from roml.envs.task_api import TaskEnvBase
from roml.tasks import BetaBox


class Steps(TaskEnvBase, gymnasium.Env):
    """Episodes of ``length`` steps, each with reward ``-x`` (the task): the high tasks are the hard ones."""

    observation_space = spaces.Box(0.0, 1.0, (1,), np.float32)
    action_space = spaces.Discrete(2)

    def __init__(self, length: int = 3):
        self.length = length
        self._init_tasks("Steps", None)

    def task_family(self) -> BetaBox:
        return BetaBox(0.0, 1.0, names=("x",))

    def reset(self, *, seed=None, options=None):
        options = self._reset_options(options)
        super().reset(seed=seed)
        self._start_tasks(options)
        self._t = 0
        return self.task.astype(np.float32), {}

    def step(self, action):
        self._t += 1
        return self.task.astype(np.float32), -float(self._task[0]), False, self._t >= self.length, {}
