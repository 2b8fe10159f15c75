"""RoML and CVaR-ML in any Gymnasium training loop: a task queue per environment and a driver for the sampler.

A meta-RL task lasts ``episodes_per_task`` (K) episodes; the sampler needs each task's score (the mean of its K
episode returns) before it can weigh or re-aim its batch. Two pieces keep that bookkeeping out of the training loop:

- :class:`TaskQueue` wraps one environment with roml's task API (:class:`roml.envs.task_api.TaskEnv`). It holds
  the tasks queued for it, applies the next one at the reset that starts it (Gymnasium's vector envs auto-reset
  without options, so the wrapper, not the caller, switches tasks), keeps it for K episodes and reports in ``info``
  the task id of every episode and, at an episode's last step, its return.
- :class:`TaskDriver` draws tasks from any roml sampler (:meth:`TaskDriver.assign`), gathers the episode returns
  (:meth:`TaskDriver.record`, or :meth:`TaskDriver.record_infos` for a vector env's ``info``), and when every task
  of a batch has its K episodes calls the sampler's ``observe`` and hands back the training weights per task id
  (all ones for RoML; CVaR-ML's alpha-tail indicator, to weight the loss of those tasks' frames).

A hand-written loop over a Gymnasium vector env (either auto-reset mode)::

    venv = gymnasium.vector.SyncVectorEnv([lambda: TaskQueue(gymnasium.make("roml/KhazadDum-v0"), 2)] * 8)
    driver = TaskDriver(RoMLSampler(rain_family(), alpha=0.05, batch_size=64), episodes_per_task=2)
    driver.top_up(venv)                    # one queued task per sub-environment, before the first reset
    obs, info = venv.reset(seed=0)
    while training:
        obs, reward, terminated, truncated, info = venv.step(policy(obs))
        weights = driver.record_infos(info)  # {task id: weight} of the batches completed by this step
        driver.top_up(venv)

An episode that starts while its queue is empty runs the environment's current task untracked (task id
:data:`UNTRACKED`, never reported to the sampler), so a loop that resets before it queues tasks loses nothing but
those episodes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

import gymnasium
import numpy as np

from roml.envs.task_api import TaskEnv, check_tasks
from roml.samplers import TaskBatch, TaskSampler

__all__ = ["UNTRACKED", "TaskDriver", "TaskQueue"]

UNTRACKED = -1
"""The task id of an episode run without a queued task (never reported to the sampler)."""


def _check_count(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


class TaskQueue(gymnasium.Wrapper):
    """Run queued tasks on ``env``, each for ``episodes_per_task`` episodes (see the module docstring).

    ``queued_tasks`` (a tuple of ``(task_id, task)`` pairs, next first) is read and replaced as a whole, so that a
    vector env's ``get_attr`` / ``set_attr`` reach each sub-environment's queue (also through other wrappers and
    across processes). At a reset, when the current task has had its episodes, the next queued task is set on the
    environment (``set_task``) and starts; the tasks are checked against the environment's task family when
    queued. ``reset`` takes no ``"task"`` option: the queue sets the tasks.

    ``info`` of ``reset`` and of every ``step`` holds ``roml_task_id`` (the episode's task id, :data:`UNTRACKED`
    for none) and ``roml_task_episode`` (0 .. K-1); at an episode's last step also ``roml_episode_return`` (the sum
    of its rewards) and ``roml_task_done`` (True on the task's last episode). With ``log_episodes=True`` it also
    keeps each finished episode's task id and return until :meth:`pop_episodes` takes them.
    """

    def __init__(self, env: gymnasium.Env, episodes_per_task: int, log_episodes: bool = False):
        super().__init__(env)
        if not isinstance(env.unwrapped, TaskEnv):
            raise TypeError(
                f"TaskQueue needs an environment with roml's task API (set_task, get_task, task_family; see "
                f"roml.envs.task_api.TaskEnv), got {type(env.unwrapped).__name__}"
            )
        self.episodes_per_task = _check_count(episodes_per_task, "episodes_per_task")
        self._family = env.unwrapped.task_family()
        self._queue: deque[tuple[int, np.ndarray]] = deque()
        self._task_id, self._episode, self._return = UNTRACKED, 0, 0.0
        self._log: list[tuple[int, float]] | None = [] if log_episodes else None

    @property
    def queued_tasks(self) -> tuple[tuple[int, np.ndarray], ...]:
        """The tasks waiting to run, ``(task_id, task)`` pairs in order."""
        return tuple((task_id, task.copy()) for task_id, task in self._queue)

    @queued_tasks.setter
    def queued_tasks(self, pairs: Iterable[tuple[int, Any]]) -> None:
        self.set_queue(pairs)

    def set_queue(self, pairs: Iterable[tuple[int, Any]]) -> None:
        """Replace the queue by ``pairs`` (as assigning ``queued_tasks``; a method for vector envs whose
        ``set_attr`` does not look through wrappers, e.g. SB3's: ``env_method("set_queue", pairs, indices=[i])``)."""
        queue = deque()
        for pair in pairs:
            try:
                task_id, task = pair
            except (TypeError, ValueError):
                raise ValueError(f"queued_tasks takes (task_id, task) pairs, got {pair!r}") from None
            if isinstance(task_id, bool) or not isinstance(task_id, (int, np.integer)) or task_id < 0:
                raise ValueError(f"a task id must be an integer >= 0, got {task_id!r}")
            name = type(self.env.unwrapped).__name__
            queue.append((int(task_id), check_tasks(self._family, task, None, name, f"task {task_id}")))
        self._queue = queue

    @property
    def task_id(self) -> int:
        """The id of the current episode's task (:data:`UNTRACKED` for none)."""
        return self._task_id

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        if options and "task" in options:
            raise ValueError("TaskQueue sets the tasks itself: queue them (queued_tasks) instead of reset options")
        if self._task_id == UNTRACKED or self._episode >= self.episodes_per_task:
            self._task_id, self._episode = UNTRACKED, 0
            if self._queue:
                self._task_id, task = self._queue.popleft()
                self.env.unwrapped.set_task(task)
        obs, info = self.env.reset(seed=seed, options=options)
        self._episode += 1
        self._return = 0.0
        return obs, {**info, **self._ids()}

    def step(self, action: Any) -> tuple[Any, Any, bool, bool, dict]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._return += float(reward)
        info = {**info, **self._ids()}
        if terminated or truncated:
            info["roml_episode_return"] = self._return
            info["roml_task_done"] = self._episode >= self.episodes_per_task
            if self._log is not None:
                self._log.append((self._task_id, self._return))
        return obs, reward, terminated, truncated, info

    def pop_episodes(self) -> list[tuple[int, float]]:
        """The ``(task_id, episode_return)`` of every episode that ended since the last call, in order (untracked ones
        with :data:`UNTRACKED`), for loops that do not hand ``info`` to the caller, e.g. RLlib's env runners; needs
        ``log_episodes=True``."""
        if self._log is None:
            raise RuntimeError("pop_episodes needs TaskQueue(..., log_episodes=True)")
        episodes, self._log = self._log, []
        return episodes

    def _ids(self) -> dict[str, int]:
        return {"roml_task_id": self._task_id, "roml_task_episode": self._episode - 1}


class TaskDriver:
    """Hand out a sampler's tasks by id and feed their scores back (see the module docstring).

    A task's score is the mean of its ``episodes_per_task`` episode returns. :meth:`assign` draws a batch from
    the sampler; when every task of a batch is scored, the sampler ``observe``\\ s the batch and the training weights
    come back from :meth:`record` / :meth:`record_infos`. ``state_dict`` / ``load_state_dict`` save and restore
    the driver with its sampler, the open batches included.
    """

    def __init__(self, sampler: TaskSampler, episodes_per_task: int):
        if not isinstance(sampler, TaskSampler):
            raise TypeError(f"sampler must be a roml TaskSampler, got {type(sampler).__name__}")
        self.sampler = sampler
        self.episodes_per_task = _check_count(episodes_per_task, "episodes_per_task")
        self._next_id = 0
        self._open: dict[int, dict[str, Any]] = {}  # first task id of a batch -> its batch, returns and scores

    def assign(self, n: int) -> list[tuple[int, np.ndarray]]:
        """Draw ``n`` tasks (one sampler batch) and return them as ``(task_id, task)`` pairs."""
        n = _check_count(n, "n")
        batch = self.sampler.sample(n)
        first = self._next_id
        self._next_id += n
        self._open[first] = {"batch": batch, "returns": [[] for _ in range(n)]}
        return [(first + i, batch.tasks[i].copy()) for i in range(n)]

    def record(self, task_id: int, episode_return: float) -> dict[int, float]:
        """Record one episode of task ``task_id``; returns ``{task_id: weight}`` for the tasks of the batch this
        episode completes (empty while it is not complete). An :data:`UNTRACKED` episode is ignored."""
        if task_id == UNTRACKED:
            return {}
        first = self._batch_of(task_id)
        entry = self._open[first]
        returns = entry["returns"][task_id - first]
        if len(returns) >= self.episodes_per_task:
            raise ValueError(f"task {task_id} already has its {self.episodes_per_task} episodes")
        returns.append(float(episode_return))
        if any(len(r) < self.episodes_per_task for r in entry["returns"]):
            return {}
        batch: TaskBatch = entry["batch"]
        weights = self.sampler.observe(batch, np.array([np.mean(r) for r in entry["returns"]]))
        del self._open[first]
        return {first + i: float(w) for i, w in enumerate(weights)}

    def record_infos(self, infos: Mapping[str, Any]) -> dict[int, float]:
        """:meth:`record` every episode that ended in a vector env's step, read from its ``info`` (the terminal
        step's entries are at the top level in the ``NEXT_STEP`` and ``DISABLED`` auto-reset modes, under
        ``final_info`` in ``SAME_STEP``); returns the weights of the batches completed."""
        weights: dict[int, float] = {}
        for source in (infos, infos.get("final_info") or {}):
            if "roml_episode_return" not in source:
                continue
            ended = np.asarray(source.get("_roml_episode_return", np.ones(len(source["roml_episode_return"]), bool)))
            ids, returns = np.asarray(source["roml_task_id"]), np.asarray(source["roml_episode_return"])
            for i in np.flatnonzero(ended):
                weights.update(self.record(int(ids[i]), float(returns[i])))
        return weights

    def top_up(self, env, per_env: int = 1) -> None:
        """Queue tasks on every sub-environment of a Gymnasium vector ``env`` of :class:`TaskQueue` s (through
        ``get_attr`` / ``set_attr``) so that each has ``per_env`` waiting (see :meth:`refill`)."""
        queues = self.refill(env.get_attr("queued_tasks"), per_env)
        if queues is not None:
            env.set_attr("queued_tasks", queues)

    def refill(self, queues, per_env: int = 1) -> list[tuple] | None:
        """The queues (one per sub-environment, as :attr:`TaskQueue.queued_tasks`) topped up to ``per_env``
        tasks each; None when every queue is full.

        The new tasks are one sampler batch per queue position: the tasks that will run at about the same time
        (the first of every empty queue, then the second, ...) are scored, and so observed by the sampler,
        together, instead of one batch waiting for the last queued task of every environment."""
        per_env = _check_count(per_env, "per_env")
        filled = [list(queue) for queue in queues]
        if all(len(queue) >= per_env for queue in filled):
            return None
        for position in range(min(len(queue) for queue in filled), per_env):
            needy = [queue for queue in filled if len(queue) == position]
            for queue, pair in zip(needy, self.assign(len(needy))):
                queue.append(pair)
        return [tuple(queue) for queue in filled]

    @property
    def open_tasks(self) -> int:
        """Tasks handed out and not yet scored."""
        return sum(sum(len(r) < self.episodes_per_task for r in e["returns"]) for e in self._open.values())

    def state_dict(self) -> dict[str, Any]:
        return {
            "sampler": self.sampler.state_dict(),
            "next_id": self._next_id,
            "open": {
                first: {"batch": e["batch"], "returns": [list(r) for r in e["returns"]]}
                for first, e in self._open.items()
            },
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.sampler.load_state_dict(state["sampler"])
        self._next_id = int(state["next_id"])
        self._open = {
            int(first): {"batch": e["batch"], "returns": [list(r) for r in e["returns"]]}
            for first, e in state["open"].items()
        }

    def _batch_of(self, task_id: int) -> int:
        for first, entry in self._open.items():
            if first <= task_id < first + len(entry["returns"]):
                return first
        raise ValueError(f"task {task_id} was not handed out by this driver, or its batch is already observed")
