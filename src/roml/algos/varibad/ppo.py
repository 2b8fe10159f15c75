"""PPO (Schulman et al., 2017) with GAE, as VariBAD trains its policy, with per-task training weights.

The weights are the task sampler's (Definition 2: the meta-algorithm only chooses which tasks, and with which
weight, the baseline's own training step uses). CVaR-ML's 0/1 weights therefore *mask* the PPO loss of the tasks
outside the batch's alpha-tail (Algorithm 1, line 8). The authors' implementation instead zeroed those tasks'
GAE through ``bad_masks`` and then normalised the advantages over the whole batch, so the masked frames still
entered the loss with advantage ``-mean/std`` and with their entropy (docs/authors-code.md, section 6); we do not
copy that.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.signal import lfilter
from torch.nn import functional as F


def discounted_advantages(
    rewards: torch.Tensor, values: torch.Tensor, gamma: float, lam: float, episode_ends: torch.Tensor | None = None
) -> torch.Tensor:
    """GAE(gamma, lambda) advantages ``(T, N)`` of BAMDPs of ``T`` steps.

    Without ``episode_ends`` the BAMDP ends terminally after its last step ``T - 1``: ``delta_t = r_t + gamma
    V_{t+1} - V_t`` with ``V_T = 0`` and ``A_t = delta_t + gamma lambda A_{t+1}``; episode ends inside a BAMDP are
    not terminal (the belief, and so the return, carries across them).

    With ``episode_ends`` (a ``(T,)`` bool tensor, True on the last step of every episode, the BAMDP's last step
    included) every episode end is a time-limit truncation, as in the authors' VariBAD (their ``bad_masks`` with
    proper time limits): the last step of an episode gets advantage 0 (its return target is its own value), and
    the steps before it run GAE within the episode, the step before the last one bootstrapping from the value of
    the episode's last state. Nothing flows from one episode of the BAMDP into the previous one.
    """
    if episode_ends is None:
        next_values = torch.cat([values[1:], torch.zeros_like(values[:1])])
        deltas = rewards + gamma * next_values - values
        return discounted_sums(deltas, gamma * lam, reverse=True)
    ends = torch.as_tensor(episode_ends, dtype=torch.bool).nonzero().flatten().tolist()
    if len(episode_ends) != len(rewards) or not ends or ends[-1] != len(rewards) - 1:
        raise ValueError(f"episode_ends must hold one flag per step ({len(rewards)}), True on the last one")
    advantages = torch.zeros_like(rewards)
    first = 0
    for last in ends:  # one GAE chain per episode, over its steps first .. last - 1
        deltas = rewards[first:last] + gamma * values[first + 1 : last + 1] - values[first:last]
        advantages[first:last] = discounted_sums(deltas, gamma * lam, reverse=True)
        first = last + 1
    return advantages


def discounted_sums(x: torch.Tensor, discount: float, reverse: bool = False) -> torch.Tensor:
    """``y_t = x_t + discount * y_{t-1}`` along the time axis 0 from ``y_{-1} = 0`` (with ``reverse``:
    ``y_t = x_t + discount * y_{t+1}``, the discounted sum of what follows), in x's dtype.

    One IIR filter over all columns at once (``scipy.signal.lfilter``, in float64), instead of a Python loop of
    ``T`` tensor operations.
    """
    values = x.detach().numpy().astype(np.float64)
    if reverse:
        values = values[::-1]
    sums = lfilter([1.0], [1.0, -discount], values, axis=0)
    if reverse:
        sums = sums[::-1]
    return torch.from_numpy(np.ascontiguousarray(sums)).to(x.dtype)


def weighted_mean(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return (w * x).sum() / w.sum()


def ppo_loss(policy, features, actions, old_log_probs, old_values, returns, advantages, weights, config):
    """The PPO loss of a minibatch and its parts (policy, value, entropy), each a ``weights``-weighted mean.

    Value loss: half the larger of the Huber losses of the new prediction and of the prediction clipped to
    ``old +- clip`` (the authors' choice); the total is ``value_coef * value - entropy_coef * entropy + policy``.
    """
    log_probs, entropies = policy.log_prob_entropy(policy.action_params(features), actions)
    ratio = (log_probs - old_log_probs).exp()
    clip = config.ppo_clip
    surrogate = torch.min(ratio * advantages, ratio.clamp(1 - clip, 1 + clip) * advantages)
    values = policy.value(features)
    clipped = old_values + (values - old_values).clamp(-clip, clip)
    value_error = torch.max(
        F.smooth_l1_loss(values, returns, reduction="none"), F.smooth_l1_loss(clipped, returns, reduction="none")
    )
    policy_loss = -weighted_mean(surrogate, weights)
    value_loss = 0.5 * weighted_mean(value_error, weights)
    entropy = weighted_mean(entropies, weights)
    total = config.value_coef * value_loss + policy_loss - config.entropy_coef * entropy
    return total, policy_loss, value_loss, entropy
