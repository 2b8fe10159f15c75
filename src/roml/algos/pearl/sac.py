"""PEARL's losses (SAC v1 with the information bottleneck), as pure functions of tensors: each is checked against a
hand computation on a tiny batch (tests/test_pearl.py).

Shapes: a gradient step draws ``m`` slots and ``b`` transitions per slot; per-transition tensors are ``(m, b)``,
``weights`` is ``(m,)``, one training weight per slot. Every loss averages over a slot's transitions, then takes
the ``weights``-weighted mean over the slots (:func:`slot_mean`); with all weights one this is PEARL's plain mean
over the ``m * b`` transitions. CVaR-ML gives the slots outside the alpha-tail weight 0, so they leave every loss.
"""

from __future__ import annotations

import torch

__all__ = [
    "kl_loss",
    "policy_loss",
    "q_loss",
    "q_target",
    "slot_mean",
    "soft_update",
    "temperature_loss",
    "value_loss",
]


def slot_mean(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``sum_i w_i mean_j values[i, j, ...] / sum_i w_i``: the mean over each slot's entries, weighted over slots."""
    per_slot = values.reshape(values.shape[0], -1).mean(dim=1)
    return (weights * per_slot).sum() / weights.sum()


def q_target(
    rewards: torch.Tensor, terminals: torch.Tensor, next_values: torch.Tensor, gamma: float, reward_scale: float
) -> torch.Tensor:
    """SAC v1's soft Q target ``reward_scale * r + (1 - terminal) * gamma * V_target(s', z)`` (no gradient)."""
    return (reward_scale * rewards + (1.0 - terminals) * gamma * next_values).detach()


def q_loss(q1: torch.Tensor, q2: torch.Tensor, target: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """The twin Q networks' squared errors to the same target, each averaged (PEARL sums the two means)."""
    return slot_mean((q1 - target).square(), weights) + slot_mean((q2 - target).square(), weights)


def value_loss(v: torch.Tensor, min_q_new: torch.Tensor, log_pi: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """V's squared error to ``min(Q1, Q2)(s, a~pi, z) - log pi(a | s, z)`` (the target carries no gradient)."""
    return slot_mean((v - (min_q_new - log_pi).detach()).square(), weights)


def policy_loss(
    log_pi: torch.Tensor,
    min_q_new: torch.Tensor,
    mean: torch.Tensor,
    log_std: torch.Tensor,
    weights: torch.Tensor,
    mean_reg: float,
    std_reg: float,
) -> torch.Tensor:
    """SAC v1's policy loss ``mean(log pi - min Q)`` (reparameterised actions, temperature 1: the rewards carry the
    scale) plus ``mean_reg * mean(mean^2) + std_reg * mean(log_std^2)`` over the pre-tanh Gaussian's parameters
    ``(m, b, action_dim)``."""
    loss = slot_mean(log_pi - min_q_new, weights)
    return loss + mean_reg * slot_mean(mean.square(), weights) + std_reg * slot_mean(log_std.square(), weights)


def kl_loss(kl: torch.Tensor, weights: torch.Tensor, kl_weight: float) -> torch.Tensor:
    """``kl_weight * sum_i KL_i`` over the ``m`` drawn slots (PEARL sums the KL over its meta-batch), the sum taken
    as ``m`` times the ``weights``-weighted mean so that the scale does not depend on how many slots are masked."""
    return kl_weight * kl.shape[0] * (weights * kl).sum() / weights.sum()


def temperature_loss(
    log_alpha: torch.Tensor, log_pi: torch.Tensor, target_entropy: float, weights: torch.Tensor
) -> torch.Tensor:
    """SAC v2's temperature loss ``-log alpha * mean(log pi + target_entropy)`` (``log pi`` carries no gradient):
    its step raises alpha while the policy's entropy ``-mean(log pi)`` is below the target, and lowers it above."""
    return -log_alpha * slot_mean(log_pi.detach() + target_entropy, weights)


@torch.no_grad()
def soft_update(target: torch.nn.Module, source: torch.nn.Module, tau: float) -> None:
    """``target <- (1 - tau) * target + tau * source``, parameter by parameter."""
    for t, s in zip(target.parameters(), source.parameters()):
        t.lerp_(s, tau)
