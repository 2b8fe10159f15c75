"""RoML with Stable-Baselines3: a callback that keeps every sub-environment's :class:`TaskQueue` topped up with a
sampler's tasks and feeds the finished tasks' returns back to it.

    venv = make_vec_env("roml/KhazadDum-v0", n_envs=4, seed=0, wrapper_class=TaskQueue,
                        wrapper_kwargs=dict(episodes_per_task=2))
    model = PPO("MlpPolicy", venv, n_steps=128, seed=0, device="cpu")
    model.learn(8192, callback=RoMLCallback(sampler, episodes_per_task=2))

SB3 resets its environments when ``learn`` starts, before any callback runs, so each sub-environment's first
episode runs untracked (:data:`~roml.integrations.gymnasium.UNTRACKED`); every later one runs a queued task.

RoML (:class:`roml.samplers.RoMLSampler`) only changes which tasks are run, so it works with any SB3 algorithm.
CVaR-ML is **not supported** here: it weights each task's loss by whether the task fell in its batch's alpha-tail,
which is known only when every task of the batch has finished its episodes, while SB3's on-policy algorithms train
on each rollout as soon as it is collected (and zeroing advantages would not do: advantage normalisation re-centres
them). :meth:`RoMLCallback` still reports the weights (``callback.weights``) for a user's own algorithm.
"""

from __future__ import annotations

from typing import Any

try:
    from stable_baselines3.common.callbacks import BaseCallback
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise ImportError("roml.integrations.sb3 needs Stable-Baselines3: pip install 'roml-rl[sb3]'") from error

from roml.integrations.gymnasium import TaskDriver
from roml.samplers import TaskSampler

__all__ = ["RoMLCallback"]


class RoMLCallback(BaseCallback):
    """Feed an SB3 training run's tasks from ``sampler``: each of the vector env's :class:`~roml.integrations.
    gymnasium.TaskQueue` s keeps ``per_env`` tasks queued (one sampler batch per top-up), and every finished episode's
    return goes to a :class:`~roml.integrations.gymnasium.TaskDriver`, which observes a batch when all its tasks
    have their ``episodes_per_task`` episodes. ``weights`` maps each observed task id to its training weight."""

    def __init__(self, sampler: TaskSampler, episodes_per_task: int, per_env: int = 1, verbose: int = 0):
        super().__init__(verbose)
        self.driver = TaskDriver(sampler, episodes_per_task)
        self.per_env = per_env
        self.weights: dict[int, float] = {}

    @property
    def sampler(self) -> TaskSampler:
        return self.driver.sampler

    def _on_training_start(self) -> None:
        self._top_up()

    def _on_step(self) -> bool:
        for info in self.locals["infos"]:  # the terminal step's info of every sub-environment that finished
            if "roml_episode_return" in info:
                self.weights.update(self.driver.record(info["roml_task_id"], info["roml_episode_return"]))
        self._top_up()
        return True

    def _top_up(self) -> None:
        env: Any = self.training_env
        queues = self.driver.refill(env.get_attr("queued_tasks"), self.per_env)
        for i, queue in enumerate(queues or ()):
            env.env_method("set_queue", queue, indices=[i])
