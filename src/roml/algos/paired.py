"""PAIRED (Dennis et al., 2020, "Emergent Complexity and Zero-shot Transfer via Unsupervised Environment Design"),
the paper's second reference (Table 1), as a task sampler around the protagonist's training loop.

Three learners: an **adversary** proposes tasks, a **protagonist** and an **antagonist** (two plain PPO agents:
:class:`~roml.algos.varibad.VariBAD` without the belief) play ``K`` episodes of each. The adversary is rewarded by
the **regret** of a task, ``max(0, the antagonist's best episode return - the protagonist's mean episode return)``,
so it proposes tasks the antagonist can solve and the protagonist cannot yet. Here the loop is the experiment's
ordinary one, run by the protagonist: :class:`PairedSampler` is the sampler it asks for tasks, and its ``observe``
(given the protagonist's scores, the mean episode returns) runs and trains the antagonist on the same tasks, computes
the regrets and trains the adversary. The training weights it returns are all one. Tests use the protagonist.

The adversary (:class:`Adversary`) is a Gaussian policy without input over the logits of the family's unit
coordinates: a task is ``family.from_unit(sigmoid(a))`` with ``a ~ N(mean, diag(std^2))``; it is trained by PPO on
one-step episodes whose reward is the regret divided by a running standard deviation of the regrets (the baseline
is the batch's mean reward). Its settings are ours: the paper's references do not give them.

A difference from the public HalfCheetah adaptation of PAIRED we know of: that code builds its three 10-D
environments on the 3-D Body family; ours proposes tasks of the real 10-D families.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from roml.algos.varibad.networks import RunningNorm
from roml.samplers import TaskSampler
from roml.tasks import TaskFamily

__all__ = ["Adversary", "AdversaryConfig", "PairedSampler", "regret"]


def regret(protagonist_scores: np.ndarray, antagonist_returns: np.ndarray) -> np.ndarray:
    """PAIRED's regret per task: ``max(0, max_k antagonist_returns[i, k] - protagonist_scores[i])``, with the
    protagonist's score its mean episode return ``(n,)`` and the antagonist's episode returns ``(n, K)``."""
    scores, returns = np.asarray(protagonist_scores, dtype=float), np.asarray(antagonist_returns, dtype=float)
    if returns.ndim != 2 or scores.shape != returns.shape[:1]:
        raise ValueError(f"need scores (n,) and episode returns (n, K), got {scores.shape} and {returns.shape}")
    return np.maximum(0.0, returns.max(axis=1) - scores)


@dataclass(frozen=True)
class AdversaryConfig:
    """The adversary's settings (ours; see the module docstring)."""

    lr: float = 1e-2
    """Adam learning rate of the Gaussian's mean and log-std."""
    epochs: int = 4
    """PPO passes over each batch of proposals (one minibatch each)."""
    clip: float = 0.2
    """PPO's ratio clip."""
    entropy_coef: float = 0.01
    """Weight of the entropy bonus."""
    init_std: float = 1.0
    """Initial standard deviation of the logits (the mean starts at 0: the unit cube's centre)."""


class Adversary:
    """PAIRED's task proposer: a Gaussian over the logits of ``dim`` unit coordinates, trained by one-step PPO."""

    def __init__(self, dim: int, config: AdversaryConfig | None = None):
        self.config = config = AdversaryConfig() if config is None else config
        self.mean = torch.zeros(dim, dtype=torch.float64, requires_grad=True)
        self.log_std = torch.full((dim,), math.log(config.init_std), dtype=torch.float64, requires_grad=True)
        self.optimizer = torch.optim.Adam([self.mean, self.log_std], lr=config.lr)
        self.reward_scale = RunningNorm(())  # the regrets' running variance

    def propose(self, noise: np.ndarray) -> np.ndarray:
        """Logits ``a = mean + std * noise`` for standard-normal ``noise`` ``(n, dim)``."""
        with torch.no_grad():
            return (self.mean + self.log_std.exp() * torch.as_tensor(noise)).numpy()

    def log_prob(self, logits: torch.Tensor) -> torch.Tensor:
        z = (logits - self.mean) / self.log_std.exp()
        return (-0.5 * z.square() - self.log_std - 0.5 * math.log(2 * math.pi)).sum(dim=-1)

    def update(self, logits: np.ndarray, regrets: np.ndarray) -> dict[str, float]:
        """PPO on one-step episodes: reward = regret / running std of the regrets, advantage = reward minus the
        batch's mean reward."""
        c = self.config
        self.reward_scale.update(torch.as_tensor(regrets))
        rewards = regrets / math.sqrt(float(self.reward_scale.var) + 1e-8)
        advantages = torch.as_tensor(rewards - rewards.mean())
        actions = torch.as_tensor(logits)
        with torch.no_grad():
            old = self.log_prob(actions)
        for _ in range(c.epochs):
            ratio = (self.log_prob(actions) - old).exp()
            surrogate = torch.min(ratio * advantages, ratio.clamp(1 - c.clip, 1 + c.clip) * advantages)
            entropy = self.log_std.sum()  # the Gaussian's entropy, up to a constant
            loss = -surrogate.mean() - c.entropy_coef * entropy
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
        return {"regret": float(regrets.mean()), "adversary_std": float(self.log_std.detach().exp().mean())}

    def state_dict(self) -> dict[str, Any]:
        return {
            "mean": self.mean.detach().clone(),
            "log_std": self.log_std.detach().clone(),
            "optimizer": copy.deepcopy(self.optimizer.state_dict()),
            "reward_scale": self.reward_scale.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        with torch.no_grad():
            self.mean.copy_(state["mean"])
            self.log_std.copy_(state["log_std"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.reward_scale.load_state_dict(state["reward_scale"])


class PairedSampler(TaskSampler):
    """PAIRED's adversary and antagonist behind roml's sampler interface (see the module docstring).

    Args:
        family: the task family (its unit coordinates are what the adversary proposes).
        antagonist: a :class:`~roml.algos.varibad.VariBAD` (plain PPO: ``belief=False``) for ``env``'s spaces.
        env: a vector env of the experiment (``collect`` sets its tasks), seeded by the caller.
        config: the adversary's settings.
        seed: the sampler's seed (the adversary's noise).

    ``observe`` trains the antagonist and the adversary in place (not a transaction as the other samplers'
    ``observe``: an error while the antagonist runs leaves them partly trained). ``state_dict`` holds both, the
    environment's random state and the proposals not yet observed.
    """

    def __init__(self, family: TaskFamily, antagonist, env, config: AdversaryConfig | None = None, seed=0):
        super().__init__(family, seed)
        self.antagonist, self.env = antagonist, env
        self.adversary = Adversary(family.dim, config)
        self._logits: dict[int, np.ndarray] = {}  # batch index -> the logits proposed
        self.last_stats: dict[str, float] = {}

    def _draw(self, n, rng):
        logits = self.adversary.propose(rng.standard_normal((n, self.family.dim)))
        unit = 1.0 / (1.0 + np.exp(-logits))
        tasks = self.family.from_unit(np.clip(unit, 1e-9, 1 - 1e-9))
        return tasks, np.zeros(n), np.zeros(n, dtype=bool), {"_logits": {**self._logits, self._next_index: logits}}

    def _training_weights(self, batch, scores):
        rollout = self.antagonist.collect(self.env, batch.tasks)
        antagonist_stats = self.antagonist.update(rollout)
        regrets = regret(scores, rollout.episode_returns)
        stats = self.adversary.update(self._logits[batch.index], regrets)
        stats["antagonist_mean_return"] = float(rollout.task_scores.mean())
        stats.update({f"antagonist_{k}": v for k, v in antagonist_stats.items() if k != "trained_tasks"})
        logits = {k: v for k, v in self._logits.items() if k != batch.index}
        return np.ones(len(batch)), {"_logits": logits, "last_stats": stats}

    def state_dict(self) -> dict:
        return {
            "sampler": type(self).__name__,
            "base": {
                key: copy.deepcopy(getattr(self, key))
                for key in ("phi", "history", "_next_index", "_pending", "n_sampled", "n_observed")
            },
            "rng": copy.deepcopy(self.rng.bit_generator.state),
            "logits": copy.deepcopy(self._logits),
            "adversary": self.adversary.state_dict(),
            "antagonist": self.antagonist.state_dict(include_buffer=False),
            "env_rng": copy.deepcopy(self.env.np_random.bit_generator.state),
        }

    def load_state_dict(self, state: dict) -> None:
        if not isinstance(state, dict) or state.get("sampler") != type(self).__name__:
            raise ValueError(f"state is not a {type(self).__name__}'s")
        for key, value in state["base"].items():
            setattr(self, key, copy.deepcopy(value))
        self.rng.bit_generator.state = copy.deepcopy(state["rng"])
        self._logits = {int(k): np.asarray(v) for k, v in state["logits"].items()}
        self.adversary.load_state_dict(state["adversary"])
        self.antagonist.load_state_dict(state["antagonist"])
        self.env.np_random.bit_generator.state = copy.deepcopy(state["env_rng"])
