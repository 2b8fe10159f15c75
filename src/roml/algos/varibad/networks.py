"""VariBAD's networks: the recurrent posterior encoder, the reward decoder and the actor-critic policy.

Zintgraf et al. (2020), as configured by the paper (App. D.1; docs/authors-code.md, section 5). Shapes are
time-major where a time axis exists: ``(T, B, ...)``. Every parameter is initialised from an explicit
``torch.Generator``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["ActorCritic", "Encoder", "RewardDecoder", "RunningNorm"]


class _Tanh(torch.autograd.Function):
    """``tanh`` as ``2 sigmoid(2x) - 1``: the same function (to float32 rounding), at half the cost of
    ``torch.tanh`` on the CPUs we measured (its vectorised kernel is three times slower than ``sigmoid``'s)."""

    @staticmethod
    def forward(ctx, x):
        y = torch.sigmoid(x * 2.0).mul_(2.0).sub_(1.0)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return torch.ops.aten.tanh_backward(grad, y)


def fast_tanh(x: torch.Tensor) -> torch.Tensor:
    if x.numel() < 8192:  # small batches (acting): one kernel is cheaper than four
        return torch.tanh(x)
    if torch.is_grad_enabled() and x.requires_grad:
        return _Tanh.apply(x)
    return torch.sigmoid(x * 2.0).mul_(2.0).sub_(1.0)


def _init_linear(
    layer: nn.Linear, generator: torch.Generator, gain: float = 1.0, normc: bool = False, orthogonal: bool = False
) -> nn.Linear:
    """Initialise ``layer`` in place: ``normc`` (every unit's incoming weights a Gaussian vector rescaled to norm
    ``gain``; the authors' policy init for Khazad-Dum and HalfCheetah), ``orthogonal`` (a random orthogonal matrix
    times ``gain``; Humanoid and Ant) or PyTorch's default uniform bound ``1/sqrt(fan_in)``, all drawn from
    ``generator``; biases zero for ``normc`` and ``orthogonal``."""
    with torch.no_grad():
        if orthogonal:
            nn.init.orthogonal_(layer.weight, gain=gain, generator=generator)
            layer.bias.zero_()
        elif normc:
            layer.weight.normal_(0.0, 1.0, generator=generator)
            layer.weight.mul_(gain / layer.weight.square().sum(dim=1, keepdim=True).sqrt())
            layer.bias.zero_()
        else:
            bound = 1.0 / math.sqrt(layer.in_features)
            layer.weight.uniform_(-bound, bound, generator=generator)
            layer.bias.uniform_(-bound, bound, generator=generator)
    return layer


def _linear(n_in: int, n_out: int, generator: torch.Generator, **init) -> nn.Linear:
    return _init_linear(nn.Linear(n_in, n_out), generator, **init)


def _mlp(n_in: int, sizes: Sequence[int], generator: torch.Generator, **init) -> nn.ModuleList:
    layers, width = [], n_in
    for size in sizes:
        layers.append(_linear(width, size, generator, **init))
        width = size
    return nn.ModuleList(layers)


class RunningNorm(nn.Module):
    """Running mean and variance of a stream of batches (Chan et al.'s parallel update), kept in float64 buffers,
    so they travel with ``state_dict``. ``normalize(x) = clip((x - mean) / sqrt(var + eps), -clip, clip)``."""

    def __init__(self, shape: int | tuple[int, ...] = (), eps: float = 1e-8, clip: float | None = None):
        super().__init__()
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        self.register_buffer("mean", torch.zeros(shape, dtype=torch.float64))
        self.register_buffer("var", torch.ones(shape, dtype=torch.float64))
        self.register_buffer("count", torch.tensor(1e-4, dtype=torch.float64))
        self.eps, self.clip = eps, clip
        self._cache: tuple[torch.Tensor, torch.Tensor] | None = None

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        """Fold a batch ``(..., *shape)`` into the statistics (the batch's moments in its own dtype, the running
        ones in float64)."""
        x = x.detach().reshape(-1, *self.mean.shape)
        n = x.shape[0]
        if n == 0:
            return
        # the column moments as products with a row of 1/n: torch's column reductions (var_mean(dim=0)) are
        # 10-20x slower than a GEMV at the sizes of a rollout (4096 x 101)
        weights = torch.full((1, n), 1.0 / n, dtype=x.dtype)
        mean = (weights @ x.reshape(n, -1)).reshape(self.mean.shape)
        var = (weights @ (x - mean).square().reshape(n, -1)).reshape(self.mean.shape)
        mean, var = mean.to(torch.float64), var.to(torch.float64)
        total = self.count + n
        delta = mean - self.mean
        m2 = self.var * self.count + var * n + delta.square() * self.count * n / total
        self.mean.add_(delta * n / total)
        self.var.copy_(m2 / total)
        self.count.copy_(total)
        self._cache = None

    def _load_from_state_dict(self, *args, **kwargs):
        self._cache = None
        super()._load_from_state_dict(*args, **kwargs)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        if self._cache is None:  # (x - mean) / std as one fused multiply-add
            scale = 1.0 / (self.var + self.eps).sqrt()
            self._cache = ((-self.mean * scale).to(torch.float32), scale.to(torch.float32))
        shift, scale = self._cache
        y = torch.addcmul(shift, x, scale)
        return y if self.clip is None else y.clamp(-self.clip, self.clip)


class Encoder(nn.Module):
    """The approximate posterior ``q(m | tau_{:t})``: a GRU over embedded transitions (App. D.1).

    One step consumes the transition ``(a_t, s_{t+1}, r_{t+1})``: each part goes through its own ``Linear+ReLU``
    embedding, the concatenation through the GRU, and two linear heads give the posterior's mean and
    log-variance. Before any transition (``t = 0``) the hidden state is zero and the heads give the prior.

    Args:
        obs_dim, action_dim: sizes of the observation and of the action *encoding* (one-hot for discrete actions).
        hidden, latent_dim, action_embedding, obs_embedding, reward_embedding: widths (docs/authors-code.md, section 5).
    """

    def __init__(
        self,
        obs_dim: int,
        action_dim: int,
        latent_dim: int,
        hidden: int,
        action_embedding: int,
        obs_embedding: int,
        reward_embedding: int,
        generator: torch.Generator,
    ):
        super().__init__()
        self.embed_action = _linear(action_dim, action_embedding, generator)
        self.embed_obs = _linear(obs_dim, obs_embedding, generator)
        self.embed_reward = _linear(1, reward_embedding, generator)
        self.gru = nn.GRU(action_embedding + obs_embedding + reward_embedding, hidden)
        with torch.no_grad():  # the authors' GRU init: orthogonal weights, zero biases
            for name, p in self.gru.named_parameters():
                if name.startswith("weight"):
                    nn.init.orthogonal_(p, generator=generator)
                else:
                    p.zero_()
        self.mean_head = _linear(hidden, latent_dim, generator)
        self.logvar_head = _linear(hidden, latent_dim, generator)
        self.hidden_size = hidden

    def embed(self, action: torch.Tensor, next_obs: torch.Tensor, reward: torch.Tensor) -> torch.Tensor:
        return torch.cat(
            [
                F.relu(self.embed_action(action)),
                F.relu(self.embed_obs(next_obs)),
                F.relu(self.embed_reward(reward.unsqueeze(-1))),
            ],
            dim=-1,
        )

    def heads(self, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.mean_head(hidden), self.logvar_head(hidden)

    def initial_hidden(self, batch: int) -> torch.Tensor:
        return torch.zeros(batch, self.hidden_size)

    def step(self, hidden, action, next_obs, reward) -> torch.Tensor:
        """The hidden state ``(B, hidden)`` after one more transition (one GRU cell step)."""
        g = self.gru
        return torch.gru_cell(
            self.embed(action, next_obs, reward), hidden, g.weight_ih_l0, g.weight_hh_l0, g.bias_ih_l0, g.bias_hh_l0
        )

    def sequence(self, actions, next_obs, rewards, tbptt: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior means and log-variances ``(T + 1, B, latent)`` of whole trajectories ``(T, B, ...)``.

        Row 0 is the prior; row ``t`` the posterior after ``t`` transitions. With ``tbptt`` the hidden state is
        detached every ``tbptt`` steps (truncated back-propagation through time).
        """
        inputs = self.embed(actions, next_obs, rewards)
        hidden = self.initial_hidden(inputs.shape[1]).unsqueeze(0)
        step = inputs.shape[0] if tbptt is None else tbptt
        outputs = [hidden[0].unsqueeze(0)]
        for start in range(0, inputs.shape[0], step):
            if start > 0:
                hidden = hidden.detach()
            out, hidden = self.gru(inputs[start : start + step], hidden)
            outputs.append(out)
        return self.heads(torch.cat(outputs))


class RewardDecoder(nn.Module):
    """``p(r_{t+1} | m, s_t, a_t, s_{t+1})``: a deterministic reward prediction trained with the squared error.

    The observations (previous and next, through one shared embedding) and the action get ``Linear+ReLU``
    embeddings; the latent sample joins them in the first
    hidden layer, which is split into a latent part and a transition part so that every latent can be decoded
    against every transition by broadcasting, without materialising the concatenation.
    """

    def __init__(
        self,
        latent_dim: int,
        obs_dim: int,
        action_dim: int,
        layers: Sequence[int],
        obs_embedding: int,
        action_embedding: int,
        generator: torch.Generator,
    ):
        super().__init__()
        self.embed_obs = _linear(obs_dim, obs_embedding, generator)
        self.embed_action = _linear(action_dim, action_embedding, generator)
        first, *rest = layers
        self.from_latent = _linear(latent_dim, first, generator)
        self.from_transition = nn.Linear(2 * obs_embedding + action_embedding, first, bias=False)
        with torch.no_grad():
            bound = 1.0 / math.sqrt(latent_dim + 2 * obs_embedding + action_embedding)
            self.from_latent.weight.uniform_(-bound, bound, generator=generator)
            self.from_latent.bias.uniform_(-bound, bound, generator=generator)
            self.from_transition.weight.uniform_(-bound, bound, generator=generator)
        self.hidden = _mlp(first, rest, generator)
        self.out = _linear(layers[-1], 1, generator)

    def transition_features(self, prev_obs, action, next_obs) -> torch.Tensor:
        """The transition's contribution to the first hidden layer (pre-activation), ``(..., layers[0])``."""
        features = torch.cat(
            [F.relu(self.embed_obs(next_obs)), F.relu(self.embed_obs(prev_obs)), F.relu(self.embed_action(action))],
            dim=-1,
        )
        return self.from_transition(features)

    def forward(self, latent: torch.Tensor, transition_features: torch.Tensor) -> torch.Tensor:
        """Predicted rewards for broadcastable ``latent (..., latent_dim)`` and ``transition_features``."""
        x = F.relu(self.from_latent(latent) + transition_features)
        for layer in self.hidden:
            x = F.relu(layer(x))
        return self.out(x).squeeze(-1)


class ActorCritic(nn.Module):
    """The policy ``pi(a | s, q(m | tau_{:t}))`` and its value function (App. D.1).

    Inputs: the observation and the posterior's ``(mean, log-variance)``, each through a ``Linear+tanh``
    embedding (width 0: no embedding), concatenated; then separate tanh towers for the actor and the critic.
    Initialisation as the authors': the towers ``normc`` (``init="normc"``) or orthogonal (``init="orthogonal"``)
    with tanh's gain 5/3, the embeddings and the value head PyTorch's default, the discrete action head orthogonal
    with gain 0.01 (a near-uniform initial policy), the Gaussian mean head ``normc`` with gain 1 (whatever ``init``).

    Discrete actions (``n_actions``): a categorical distribution over logits. Continuous actions
    (``action_dim``): a Gaussian with a state-independent learned log-std starting at ``log(init_std)``.
    """

    def __init__(
        self,
        obs_dim: int,
        latent_in: int,
        layers: Sequence[int],
        state_embedding: int,
        latent_embedding: int,
        generator: torch.Generator,
        n_actions: int | None = None,
        action_dim: int | None = None,
        init_std: float = 1.0,
        init: str = "normc",
    ):
        super().__init__()
        if (n_actions is None) == (action_dim is None):
            raise ValueError("give exactly one of n_actions (discrete) and action_dim (continuous)")
        if init not in ("normc", "orthogonal"):
            raise ValueError(f"init must be 'normc' or 'orthogonal', got {init!r}")
        tower = {init: True}
        gain = nn.init.calculate_gain("tanh")
        self.obs_dim, self.latent_in = obs_dim, latent_in
        self.embed_state = _linear(obs_dim, state_embedding, generator) if state_embedding else None
        self.embed_latent = _linear(latent_in, latent_embedding, generator) if latent_embedding else None
        width = (state_embedding or obs_dim) + (latent_embedding or latent_in)
        self.actor = _mlp(width, layers, generator, gain=gain, **tower)
        self.critic = _mlp(width, layers, generator, gain=gain, **tower)
        self.value_head = _linear(layers[-1], 1, generator)
        self.discrete = n_actions is not None
        if self.discrete:
            self.action_head = nn.Linear(layers[-1], n_actions)
            with torch.no_grad():
                nn.init.orthogonal_(self.action_head.weight, gain=0.01, generator=generator)
                self.action_head.bias.zero_()
            self.log_std = None
        else:
            self.action_head = _linear(layers[-1], action_dim, generator, normc=True)
            self.log_std = nn.Parameter(torch.full((action_dim,), math.log(init_std)))

    def features(self, obs: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
        s = obs if self.embed_state is None else fast_tanh(self.embed_state(obs))
        z = latent if self.embed_latent is None else fast_tanh(self.embed_latent(latent))
        return torch.cat([s, z], dim=-1)

    @staticmethod
    def _run(layers: nn.ModuleList, x: torch.Tensor) -> torch.Tensor:
        for layer in layers:
            x = fast_tanh(layer(x))
        return x

    def action_params(self, features: torch.Tensor) -> torch.Tensor:
        """Logits (discrete) or the Gaussian's mean (continuous)."""
        return self.action_head(self._run(self.actor, features))

    def value(self, features: torch.Tensor) -> torch.Tensor:
        return self.value_head(self._run(self.critic, features)).squeeze(-1)

    def log_prob_entropy(self, params: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probability of ``actions`` and entropy of the policy, from :meth:`action_params`' output.

        Written out rather than through ``torch.distributions``, whose argument checks cost more than the maths
        for networks this small.
        """
        if self.discrete:
            log_p = F.log_softmax(params, dim=-1)
            return log_p.gather(-1, actions.unsqueeze(-1)).squeeze(-1), -(log_p.exp() * log_p).sum(dim=-1)
        log_std = self.log_std.expand_as(params)
        z = (actions - params) / log_std.exp()
        log_prob = (-0.5 * z.square() - log_std - _HALF_LOG_2PI).sum(dim=-1)
        entropy = (0.5 + _HALF_LOG_2PI + log_std).sum(dim=-1)
        return log_prob, entropy


_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)
