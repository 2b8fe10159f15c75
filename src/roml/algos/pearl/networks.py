"""PEARL's networks and its posterior over the task latent z (Rakelly et al., 2019, Section 4).

- :class:`MLP`: ReLU layers; every network here is one (SAC v1's Q and V, the context encoder) or has one inside
  (the policy). Initialisation as PEARL's: hidden weights uniform in ``+-1/sqrt(n)`` with ``n`` the weight's first
  dimension (the layer's output width: how PEARL's ``fanin_init`` reads a ``Linear`` weight), hidden biases 0.1,
  the last layer's weights and biases uniform in ``+-3e-3`` (the policy's heads: ``+-1e-3``). Every draw comes from
  an explicit ``torch.Generator``.
- :class:`TanhGaussianPolicy`: ``a = tanh(u)``, ``u ~ N(mean, exp(log_std)^2)``, log-std clamped to ``[-20, 2]``.
- :func:`product_of_gaussians` and :func:`kl_to_standard_normal`: the posterior over z is the product of one
  Gaussian factor per context transition (the prior is not a factor), and its KL to the prior ``N(0, I)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["MLP", "TanhGaussianPolicy", "kl_to_standard_normal", "posterior", "product_of_gaussians"]

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0
"""The policy's log-std is clamped to this range (PEARL's, as SAC's reference code)."""
VARIANCE_FLOOR = 1e-7
"""Each factor's variance is floored at this before the product (PEARL's)."""
TANH_EPS = 1e-6
"""``log(1 - tanh(u)^2 + eps)``: the tanh change of variables in the policy's log-density (PEARL's)."""


def _init_layer(layer: nn.Linear, generator: torch.Generator, last_bound: float | None) -> None:
    with torch.no_grad():
        if last_bound is None:
            bound = 1.0 / math.sqrt(layer.weight.shape[0])
            layer.weight.uniform_(-bound, bound, generator=generator)
            layer.bias.fill_(0.1)
        else:
            layer.weight.uniform_(-last_bound, last_bound, generator=generator)
            layer.bias.uniform_(-last_bound, last_bound, generator=generator)


class MLP(nn.Module):
    """``in -> hidden... -> out`` with ReLU between layers and none after the last; inputs are concatenated."""

    def __init__(
        self,
        inputs: int,
        hidden: Sequence[int],
        outputs: int,
        generator: torch.Generator,
        last_bound: float = 3e-3,
    ):
        super().__init__()
        widths = [inputs, *hidden]
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.last = nn.Linear(widths[-1], outputs)
        for layer in self.hidden:
            _init_layer(layer, generator, None)
        _init_layer(self.last, generator, last_bound)

    def trunk(self, *inputs: torch.Tensor) -> torch.Tensor:
        x = torch.cat(inputs, dim=-1) if len(inputs) > 1 else inputs[0]
        for layer in self.hidden:
            x = F.relu(layer(x))
        return x

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.last(self.trunk(*inputs))


class TanhGaussianPolicy(nn.Module):
    """PEARL's policy ``pi(a | s, z)``: an :class:`MLP` trunk, then a mean head and a log-std head."""

    def __init__(self, inputs: int, hidden: Sequence[int], action_dim: int, generator: torch.Generator):
        super().__init__()
        self.body = MLP(inputs, hidden, action_dim, generator, last_bound=1e-3)  # body.last: the mean head
        self.log_std = nn.Linear(hidden[-1] if hidden else inputs, action_dim)
        _init_layer(self.log_std, generator, 1e-3)

    def distribution(self, obs: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The pre-tanh Gaussian's mean and (clamped) log-std."""
        h = self.body.trunk(obs, z)
        return self.body.last(h), self.log_std(h).clamp(LOG_STD_MIN, LOG_STD_MAX)

    @staticmethod
    def sample(
        mean: torch.Tensor, log_std: torch.Tensor, noise: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The reparameterised sample ``u = mean + std * noise``, ``a = tanh(u)`` and ``log pi(a)`` (summed over
        the action's dimensions, with the tanh correction)."""
        pre_tanh = mean + log_std.exp() * noise
        action = torch.tanh(pre_tanh)
        gaussian = -0.5 * noise.square() - log_std - 0.5 * math.log(2 * math.pi)
        log_prob = (gaussian - torch.log(1.0 - action.square() + TANH_EPS)).sum(dim=-1)
        return action, log_prob, pre_tanh


def product_of_gaussians(means: torch.Tensor, variances: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The normalised product of Gaussian factors ``N(means[..., i, :], variances[..., i, :])`` over axis -2:
    precision ``sum_i 1/var_i``, mean ``var * sum_i mean_i/var_i`` (variances floored at :data:`VARIANCE_FLOOR`)."""
    variances = variances.clamp(min=VARIANCE_FLOOR)
    variance = 1.0 / variances.reciprocal().sum(dim=-2)
    return variance * (means / variances).sum(dim=-2), variance


def posterior(encoder: nn.Module, context: torch.Tensor, latent_dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The posterior's mean and variance ``(..., latent_dim)`` from ``context`` ``(..., n, width)``: the encoder
    maps every transition to a factor's mean and softplus-variance, and :func:`product_of_gaussians` combines
    them."""
    params = encoder(context)
    return product_of_gaussians(params[..., :latent_dim], F.softplus(params[..., latent_dim:]))


def kl_to_standard_normal(mean: torch.Tensor, variance: torch.Tensor) -> torch.Tensor:
    """``KL(N(mean, diag variance) || N(0, I))`` summed over the last axis:
    ``0.5 * sum(variance + mean^2 - 1 - log variance)``."""
    return 0.5 * (variance + mean.square() - 1.0 - variance.log()).sum(dim=-1)
