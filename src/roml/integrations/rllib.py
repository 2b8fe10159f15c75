"""RoML with RLlib (its new API stack: env runners, RLModules, ``config.callbacks``).

An RLlib algorithm steps its environments inside env runners (the local one, or remote Ray actors), each holding a
Gymnasium vector env; the training loop is RLlib's. Two pieces bring roml's sampler in:

- :func:`task_env_creator` wraps each environment in a :class:`~roml.integrations.gymnasium.TaskQueue` that logs
  its finished episodes (``log_episodes=True``); register it as the algorithm's environment.
- :class:`RoMLTasks` lives with the algorithm (the driver process): when the algorithm is built and after every
  training iteration it collects the env runners' finished episodes (``pop_episodes``), scores the tasks that have
  their ``episodes_per_task`` episodes through a :class:`~roml.integrations.gymnasium.TaskDriver`, and tops up
  every sub-environment's queue with the sampler's next tasks (``foreach_env_runner``)::

    register_env("khazad-dum", task_env_creator(lambda config: KhazadDumEnv(), episodes_per_task=2))
    tasks = RoMLTasks(RoMLSampler(rain_family(), alpha=0.05, batch_size=64), episodes_per_task=2)
    algorithm = PPOConfig().environment("khazad-dum").callbacks(**tasks.callbacks()).build_algo()
    for _ in range(100):
        algorithm.train()          # tasks.sampler follows: tasks.sampler.history, tasks.state_dict()

A queue is refilled once per training iteration, so it must hold the tasks a sub-environment starts in one
iteration (``per_env``); an episode that starts on an empty queue runs the environment's current task untracked and
is counted in ``untracked_episodes`` (a warning says to raise ``per_env``). RLlib deep-copies its configuration;
:class:`RoMLTasks` is not copied with it, so the object you hold is the one the algorithm updates.

Only RoML (and uniform sampling) is supported: CVaR-ML weights each task's loss by a weight known only once the
task's batch has finished, while RLlib's learners train on each sample as soon as it is collected. RLlib 2.x has no
``TaskSettableEnv`` any more (it went with the old API stack); callbacks with ``foreach_env_runner`` are its way
to set tasks. RLlib's own checkpoints do not hold the queues or the sampler: save :meth:`RoMLTasks.state_dict`
beside them.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

import gymnasium

from roml.integrations.gymnasium import UNTRACKED, TaskDriver, TaskQueue, _check_count
from roml.samplers import CVaRSampler, TaskSampler

__all__ = ["RoMLTasks", "task_env_creator"]


def task_env_creator(make_env: Callable[[Any], gymnasium.Env], episodes_per_task: int) -> Callable[[Any], TaskQueue]:
    """An RLlib environment creator (``register_env(name, creator)``): ``make_env(env_config)`` wrapped in a
    :class:`TaskQueue` of ``episodes_per_task`` episodes per task that logs its episodes for :class:`RoMLTasks`."""

    def create(env_config: Any) -> TaskQueue:
        return TaskQueue(make_env(env_config), episodes_per_task, log_episodes=True)

    return create


def _vector_env(runner) -> Any:
    """The Gymnasium vector env of an env runner (below RLlib's info wrapper), None for one without environments
    (the local runner when remote ones sample)."""
    env = getattr(runner, "env", None)
    return None if env is None else env.unwrapped


class RoMLTasks:
    """Feed an RLlib algorithm's environments with ``sampler``'s tasks and score them (see the module docstring).

    ``per_env`` tasks stay queued on every sub-environment; :meth:`callbacks` gives the keyword arguments of
    ``AlgorithmConfig.callbacks``. ``weights`` maps each scored task id to its training weight (all ones).
    """

    def __init__(self, sampler: TaskSampler, episodes_per_task: int, per_env: int = 4):
        if isinstance(sampler, CVaRSampler):
            raise TypeError(
                "CVaR-ML is not supported with RLlib: its per-task loss weights are known only after RLlib's learner "
                "has trained on the task's frames (see roml.integrations.rllib)"
            )
        self.driver = TaskDriver(sampler, episodes_per_task)
        self.per_env = _check_count(per_env, "per_env")
        self.weights: dict[int, float] = {}
        self.untracked_episodes = 0

    def __deepcopy__(self, memo: dict) -> RoMLTasks:
        return self  # RLlib deep-copies its config; the algorithm must update this object, not a copy

    @property
    def sampler(self) -> TaskSampler:
        return self.driver.sampler

    def callbacks(self) -> dict[str, Callable[..., None]]:
        """``config.callbacks(**tasks.callbacks())``: queue tasks when the algorithm is built and after each
        training iteration, scoring the episodes that ended in it."""
        return {"on_algorithm_init": self.on_algorithm_init, "on_train_result": self.on_train_result}

    def on_algorithm_init(self, *, algorithm, **_: Any) -> None:
        self._top_up(algorithm)

    def on_train_result(self, *, algorithm, **_: Any) -> None:
        logs = algorithm.env_runner_group.foreach_env_runner(
            lambda runner: None if _vector_env(runner) is None else _vector_env(runner).call("pop_episodes")
        )
        untracked = 0
        for runner_logs in logs:
            for episodes in runner_logs or ():
                for task_id, episode_return in episodes:
                    untracked += task_id == UNTRACKED
                    self.weights.update(self.driver.record(task_id, episode_return))
        if untracked and not self.untracked_episodes:
            warnings.warn(
                f"{untracked} episodes started with an empty task queue and ran untracked: raise RoMLTasks' per_env "
                f"(now {self.per_env}) to the episodes a sub-environment starts in one training iteration",
                stacklevel=2,
            )
        self.untracked_episodes += untracked
        self._top_up(algorithm)

    def _top_up(self, algorithm) -> None:
        runners = algorithm.env_runner_group
        queues = runners.foreach_env_runner(
            lambda runner: (
                None
                if _vector_env(runner) is None
                else (runner.worker_index, _vector_env(runner).get_attr("queued_tasks"))
            )
        )
        queues = [entry for entry in queues if entry is not None]
        refilled = self.driver.refill([queue for _, runner_queues in queues for queue in runner_queues], self.per_env)
        if refilled is None:
            return
        by_runner, start = {}, 0
        for index, runner_queues in queues:
            by_runner[index] = refilled[start : start + len(runner_queues)]
            start += len(runner_queues)
        runners.foreach_env_runner(
            lambda runner: (
                None
                if _vector_env(runner) is None
                else _vector_env(runner).set_attr("queued_tasks", by_runner[runner.worker_index])
            )
        )

    def state_dict(self) -> dict[str, Any]:
        """The sampler and the open batches (:meth:`TaskDriver.state_dict`)."""
        return self.driver.state_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.driver.load_state_dict(state)
