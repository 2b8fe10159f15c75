"""RoML and CVaR-ML with Stable-Baselines3: a callback that keeps every sub-environment's :class:`TaskQueue` topped up
with a sampler's tasks and feeds the finished tasks' returns back to it, and a PPO that weights each task's loss.

RoML (:class:`roml.samplers.RoMLSampler`) only changes which tasks are run, so it works with any SB3 algorithm::

    venv = make_vec_env("roml/KhazadDum-v0", n_envs=4, seed=0, wrapper_class=TaskQueue,
                        wrapper_kwargs=dict(episodes_per_task=2))
    model = PPO("MlpPolicy", venv, n_steps=128, seed=0, device="cpu")
    model.learn(8192, callback=RoMLCallback(sampler, episodes_per_task=2))

CVaR-ML (:class:`roml.samplers.CVaRSampler`, Algorithm 1) trains only on the alpha-tail of each batch of tasks: each
frame's loss is weighted by its task's training weight (0 or 1), which is known only once every task of the batch
has finished its episodes. :class:`TaskWeightedPPO` is PPO whose policy, value and entropy terms are weighted means
over the frames (the advantages are normalised with the same weights, so a task of weight 0 contributes nothing, not
a re-centred advantage). Its rollouts must hold whole tasks: with ``n_envs`` sub-environments and an environment of
fixed episode length ``H``, ``n_steps = episodes_per_task * H`` makes each rollout one sampler batch of ``n_envs``
tasks, whose weights the callback writes into the rollout buffer before PPO trains on it (it raises if a frame's
task is not finished by the end of its rollout). Other SB3 algorithms do not support CVaR-ML.

The callback resets the environments when training starts (after queueing the first tasks), so that every episode,
the first ones included, runs a queued task; a ``learn`` that continues an earlier one keeps its episodes running.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

try:
    import torch
    from gymnasium import spaces
    from stable_baselines3 import PPO
    from stable_baselines3.common.buffers import RolloutBuffer
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.utils import explained_variance
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise ImportError("roml.integrations.sb3 needs Stable-Baselines3: pip install 'roml-rl[sb3]'") from error

from roml.algos.varibad.ppo import weighted_mean
from roml.integrations.gymnasium import UNTRACKED, TaskDriver
from roml.samplers import CVaRSampler, TaskSampler

__all__ = ["RoMLCallback", "TaskWeightedPPO", "WeightedRolloutBuffer"]


class RoMLCallback(BaseCallback):
    """Feed an SB3 training run's tasks from ``sampler``: each of the vector env's :class:`~roml.integrations.
    gymnasium.TaskQueue` s keeps ``per_env`` tasks queued (one sampler batch per top-up), and every finished episode's
    return goes to a :class:`~roml.integrations.gymnasium.TaskDriver`, which observes a batch when all its tasks
    have their ``episodes_per_task`` episodes. ``weights`` maps each observed task id to its training weight; with a
    :class:`TaskWeightedPPO` they weight the loss of each task's frames (required for CVaR-ML)."""

    def __init__(self, sampler: TaskSampler, episodes_per_task: int, per_env: int = 1, verbose: int = 0):
        super().__init__(verbose)
        self.driver = TaskDriver(sampler, episodes_per_task)
        self.per_env = per_env
        self.weights: dict[int, float] = {}
        self._frame_tasks: np.ndarray | None = None  # (n_steps, n_envs) task id of each frame of the rollout

    @property
    def sampler(self) -> TaskSampler:
        return self.driver.sampler

    @property
    def _weighted(self) -> bool:
        return isinstance(self.model, TaskWeightedPPO)

    def _on_training_start(self) -> None:
        if isinstance(self.sampler, CVaRSampler) and not self._weighted:
            raise TypeError(
                f"CVaR-ML needs each task's loss weighted by its training weight: train a TaskWeightedPPO, not a "
                f"{type(self.model).__name__} (see roml.integrations.sb3)"
            )
        env: Any = self.training_env
        self._top_up()
        if all(task_id == UNTRACKED for task_id in env.get_attr("task_id")):  # fresh episodes: start the queued tasks
            self.model._last_obs = env.reset()
            self.model._last_episode_starts = np.ones(env.num_envs, dtype=bool)
            if self.model._vec_normalize_env is not None:
                self.model._last_original_obs = self.model._vec_normalize_env.get_original_obs()
        if self._weighted:
            self._frame_tasks = np.full((self.model.n_steps, env.num_envs), UNTRACKED)

    def _on_step(self) -> bool:
        infos = self.locals["infos"]
        if self._frame_tasks is not None:  # the frame of this step goes to the rollout buffer's next position
            self._frame_tasks[self.model.rollout_buffer.pos] = [info["roml_task_id"] for info in infos]
        for info in infos:  # the terminal step's info of every sub-environment that finished
            if "roml_episode_return" in info:
                self.weights.update(self.driver.record(info["roml_task_id"], info["roml_episode_return"]))
        self._top_up()
        return True

    def _on_rollout_end(self) -> None:
        if self._frame_tasks is None:
            return
        missing = sorted({int(t) for t in self._frame_tasks.ravel() if t not in self.weights})
        if missing:
            raise RuntimeError(
                f"the rollout ended before tasks {missing[:5]} finished their {self.driver.episodes_per_task} "
                "episodes, so their training weights are unknown: TaskWeightedPPO needs rollouts of whole tasks "
                "(n_steps = episodes_per_task x the episode length of a fixed-length environment)"
            )
        self.model.rollout_buffer.weights[:] = np.vectorize(self.weights.__getitem__, otypes=[np.float32])(
            self._frame_tasks
        )
        for task_id in np.unique(self._frame_tasks):  # trained on: forget them
            del self.weights[int(task_id)]
        self._frame_tasks[:] = UNTRACKED

    def _top_up(self) -> None:
        env: Any = self.training_env
        queues = self.driver.refill(env.get_attr("queued_tasks"), self.per_env)
        for i, queue in enumerate(queues or ()):
            env.env_method("set_queue", queue, indices=[i])


class WeightedRolloutSamples(NamedTuple):
    """SB3's rollout minibatch with each frame's training weight."""

    observations: torch.Tensor
    actions: torch.Tensor
    old_values: torch.Tensor
    old_log_prob: torch.Tensor
    advantages: torch.Tensor
    returns: torch.Tensor
    weights: torch.Tensor


class WeightedRolloutBuffer(RolloutBuffer):
    """SB3's rollout buffer with a training weight per frame (``weights``, ``(n_steps, n_envs)``, ones after each
    reset; :class:`RoMLCallback` writes the tasks' weights at the rollout's end)."""

    weights: np.ndarray

    def reset(self) -> None:
        self.weights = np.ones((self.buffer_size, self.n_envs), dtype=np.float32)
        super().reset()

    def get(self, batch_size: int | None = None):
        if not self.generator_ready:  # the parent flattens its arrays to (n_steps * n_envs, ...) on the first call
            self.weights = self.swap_and_flatten(self.weights)
        yield from super().get(batch_size)

    def _get_samples(self, batch_inds: np.ndarray, env=None) -> WeightedRolloutSamples:
        samples = super()._get_samples(batch_inds, env)
        return WeightedRolloutSamples(*samples, weights=self.to_torch(self.weights[batch_inds].flatten()))


class TaskWeightedPPO(PPO):
    """SB3's PPO with each frame's loss weighted by its task's training weight (CVaR-ML's 0/1 tail indicator).

    Every term SB3's PPO averages over a minibatch is a ``weights``-weighted mean here: the clipped surrogate, the
    (optionally clipped) value error, the entropy bonus, the advantage normalisation (mean, and the standard
    deviation with SB3's ``n - 1``, where ``n`` is the minibatch's total weight) and the KL estimate of
    ``target_kl``; a minibatch of total weight 0 takes no optimiser step. With all weights 1 it trains as SB3's
    PPO (up to float rounding). Observations must not be a ``Dict`` space; the rollout buffer is a
    :class:`WeightedRolloutBuffer`. Use it with :class:`RoMLCallback` (see the module docstring).
    """

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("rollout_buffer_class", WeightedRolloutBuffer)
        if not issubclass(kwargs["rollout_buffer_class"], WeightedRolloutBuffer):
            raise TypeError("TaskWeightedPPO's rollout_buffer_class must be a WeightedRolloutBuffer")
        super().__init__(*args, **kwargs)

    def train(self) -> None:
        """One PPO update on the rollout buffer, every minibatch mean weighted by the frames' training weights."""
        self.policy.set_training_mode(True)
        self._update_learning_rate(self.policy.optimizer)
        clip = self.clip_range(self._current_progress_remaining)
        clip_vf = None if self.clip_range_vf is None else self.clip_range_vf(self._current_progress_remaining)
        logs: dict[str, list[float]] = {"entropy": [], "policy": [], "value": [], "clip": [], "kl": []}
        loss = torch.zeros(())
        stop = False
        for _ in range(self.n_epochs):
            for batch in self.rollout_buffer.get(self.batch_size):
                w = batch.weights
                if float(w.sum()) == 0.0:
                    continue
                actions = (
                    batch.actions.long().flatten() if isinstance(self.action_space, spaces.Discrete) else batch.actions
                )
                values, log_prob, entropy = self.policy.evaluate_actions(batch.observations, actions)
                values = values.flatten()
                advantages = batch.advantages
                if self.normalize_advantage and float(w.sum()) > 1.0:
                    mean = weighted_mean(advantages, w)
                    std = ((w * (advantages - mean) ** 2).sum() / (w.sum() - 1.0)).sqrt()
                    advantages = (advantages - mean) / (std + 1e-8)
                log_ratio = log_prob - batch.old_log_prob
                ratio = log_ratio.exp()
                surrogate = torch.min(advantages * ratio, advantages * ratio.clamp(1 - clip, 1 + clip))
                policy_loss = -weighted_mean(surrogate, w)
                if clip_vf is not None:
                    values = batch.old_values + (values - batch.old_values).clamp(-clip_vf, clip_vf)
                value_loss = weighted_mean((batch.returns - values) ** 2, w)
                entropy_loss = -weighted_mean(-log_prob if entropy is None else entropy, w)
                loss = policy_loss + self.ent_coef * entropy_loss + self.vf_coef * value_loss
                with torch.no_grad():
                    kl = float(weighted_mean(ratio - 1 - log_ratio, w))
                for key, value in zip(logs, (entropy_loss, policy_loss, value_loss)):
                    logs[key].append(value.item())
                logs["clip"].append(float(weighted_mean(((ratio - 1).abs() > clip).float(), w)))
                logs["kl"].append(kl)
                if self.target_kl is not None and kl > 1.5 * self.target_kl:
                    stop = True
                    break
                self.policy.optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.policy.parameters(), self.max_grad_norm)
                self.policy.optimizer.step()
            self._n_updates += 1
            if stop:
                break
        buffer = self.rollout_buffer
        self._log_update(logs, loss.item(), explained_variance(buffer.values.flatten(), buffer.returns.flatten()), clip)

    def _log_update(self, logs: dict[str, list[float]], loss: float, explained_var: float, clip: float) -> None:
        names = {"entropy": "entropy_loss", "policy": "policy_gradient_loss", "value": "value_loss"}
        names |= {"kl": "approx_kl", "clip": "clip_fraction"}
        for key, name in names.items():
            if logs[key]:
                self.logger.record(f"train/{name}", float(np.mean(logs[key])))
        self.logger.record("train/loss", loss)
        self.logger.record("train/explained_variance", explained_var)
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/clip_range", clip)
