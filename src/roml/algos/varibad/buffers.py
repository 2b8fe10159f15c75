"""Storage for VariBAD: one iteration's meta-rollout, and the ring buffer of whole BAMDPs the VAE trains on."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class Rollout:
    """One meta-rollout: every environment ran one task for ``K`` episodes of ``H`` steps (``T = K * H``).

    Time-major tensors. ``obs[t]`` is the observation the policy acted on at step ``t`` (the done flag appended,
    0), ``next_obs[t]`` the one the step produced (flag 1 on an episode's last step: the terminal observation, which
    the encoder sees while the policy moves on to the next episode's start).
    """

    obs: torch.Tensor  # (T, N, obs_dim)
    latent: torch.Tensor  # (T, N, 2 * latent_dim): the posterior's (mean, log-variance) the policy acted on
    actions: torch.Tensor  # (T, N) int64 for discrete actions, (T, N, action_dim) float for continuous ones
    action_inputs: torch.Tensor  # (T, N, action_in): the actions as the encoder and decoder see them
    rewards: torch.Tensor  # (T, N) raw rewards
    next_obs: torch.Tensor  # (T, N, obs_dim)
    episode_returns: np.ndarray  # (N, K) raw return of every episode
    episode_infos: list[dict]  # the env's info at the last step of each of the K episodes

    @property
    def task_scores(self) -> np.ndarray:
        """The paper's per-task score R(Lambda): the mean episode return over the task's ``K`` episodes."""
        return self.episode_returns.mean(axis=1)

    @property
    def frames(self) -> int:
        return int(self.rewards.shape[0] * self.rewards.shape[1])


class TrajectoryBuffer:
    """A ring buffer of whole BAMDPs (length ``T``) for the VAE; the oldest trajectory is overwritten first.

    ``next_obs[t]`` equals ``obs[t + 1]`` except at the end of an episode, so only ``obs`` and each episode's
    terminal observation are stored (half the memory of storing both).
    """

    def __init__(self, capacity: int):
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"capacity must be an integer >= 1, got {capacity!r}")
        self.capacity = capacity
        self.size = 0
        self.next_index = 0
        self._data: dict[str, torch.Tensor] | None = None
        self._episode_length: int | None = None

    def __len__(self) -> int:
        return self.size

    def add(self, rollout: Rollout, episodes: int) -> None:
        """Store every environment's trajectory of ``rollout`` (which holds ``episodes`` episodes)."""
        steps, n = rollout.rewards.shape
        if steps % episodes:
            raise ValueError(f"a rollout of {steps} steps does not split into {episodes} episodes")
        length = steps // episodes
        items = {
            "obs": rollout.obs,
            "terminal_obs": rollout.next_obs[length - 1 :: length],
            "action_inputs": rollout.action_inputs,
            "rewards": rollout.rewards,
        }
        items = {k: v.transpose(0, 1) for k, v in items.items()}  # trajectory-major
        if self._data is None:
            self._data = {k: torch.zeros((self.capacity, *v.shape[1:]), dtype=v.dtype) for k, v in items.items()}
            self._episode_length = length
        elif length != self._episode_length or any(v.shape[1:] != self._data[k].shape[1:] for k, v in items.items()):
            raise ValueError("trajectories of a different shape than those already buffered")
        for start in range(0, n, self.capacity):
            chunk = slice(start, min(n, start + self.capacity))
            count = chunk.stop - chunk.start
            rows = (self.next_index + torch.arange(count)) % self.capacity
            for k, v in items.items():
                self._data[k][rows] = v[chunk]
            self.next_index = (self.next_index + count) % self.capacity
            self.size = min(self.capacity, self.size + count)

    def sample(self, batch: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """``batch`` distinct trajectories, time-major: ``prev_obs``, ``action_inputs``, ``rewards``, ``next_obs``."""
        if not 1 <= batch <= self.size:
            raise ValueError(f"cannot draw {batch} trajectories from a buffer holding {self.size}")
        rows = torch.randperm(self.size, generator=generator)[:batch]
        obs = self._data["obs"][rows]  # (B, T, D)
        terminal = self._data["terminal_obs"][rows]  # (B, K, D)
        b, steps, dim = obs.shape
        length = self._episode_length
        following = torch.cat([obs[:, 1:], obs[:, :1]], dim=1).reshape(b, -1, length, dim)
        following[:, :, -1] = terminal  # an episode's last step leads to its terminal observation
        return {
            "prev_obs": obs.transpose(0, 1),
            "action_inputs": self._data["action_inputs"][rows].transpose(0, 1),
            "rewards": self._data["rewards"][rows].transpose(0, 1),
            "next_obs": following.reshape(b, steps, dim).transpose(0, 1),
        }

    def state_dict(self) -> dict:
        data = None if self._data is None else {k: v[: self.size].clone() for k, v in self._data.items()}
        return {
            "capacity": self.capacity,
            "size": self.size,
            "next_index": self.next_index,
            "episode_length": self._episode_length,
            "data": data,
        }

    def load_state_dict(self, state: dict) -> None:
        if state["capacity"] != self.capacity:
            raise ValueError(f"buffer capacity {state['capacity']} saved, {self.capacity} configured")
        self.size, self.next_index = int(state["size"]), int(state["next_index"])
        self._episode_length = state["episode_length"]
        self._data = None
        if state["data"] is not None:
            self._data = {}
            for k, v in state["data"].items():
                full = torch.zeros((self.capacity, *v.shape[1:]), dtype=v.dtype)
                full[: v.shape[0]] = v
                self._data[k] = full
