"""VariBAD's acting step with its weights folded for inference: the policy's and the encoder's per-step work in as
few tensor operations as possible.

A rollout step of 32 environments multiplies matrices of a few thousand entries, so its cost is the number of
operations dispatched, not their arithmetic. :class:`FoldedActor` snapshots the networks once per rollout (their
weights do not change during one) and rewrites them into fewer, equivalent operations:

- the running normalisers of the policy's inputs are affine, so they fold into the input embeddings' weights
  (``W (x * scale + shift) + b = (W * scale) x + (W shift + b)``);
- the state and latent embeddings act on disjoint inputs, so they become one block-diagonal layer on the
  concatenated input, and so do the encoder's action, observation and reward embeddings;
- the encoder's mean and log-variance heads become one layer.

The results equal the modular networks' up to float32 rounding (the folding is done in float64); a test checks
this against :class:`~roml.algos.varibad.networks.ActorCritic` and :class:`~roml.algos.varibad.networks.Encoder`.
"""

from __future__ import annotations

import torch

from roml.algos.varibad.networks import ActorCritic, Encoder, RunningNorm, fast_tanh

__all__ = ["FoldedActor"]


def _affine(norm: RunningNorm | None, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(scale, shift)`` in float64 with ``norm.normalize(x) = x * scale + shift`` (identity for ``None``)."""
    if norm is None:
        return torch.ones(width, dtype=torch.float64), torch.zeros(width, dtype=torch.float64)
    if norm.clip is not None:
        raise ValueError("a clipping normaliser is not affine and cannot be folded into the policy's weights")
    scale = 1.0 / (norm.var + norm.eps).sqrt()
    return scale, -norm.mean * scale


def _block(layers: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    """One layer acting as ``layers`` (``(weight, bias)`` pairs, float64) on consecutive slices of the input:
    the block-diagonal weight, transposed for ``addmm``, and the concatenated bias, both float32."""
    weight = torch.block_diag(*(w for w, _ in layers))
    bias = torch.cat([b for _, b in layers])
    return weight.t().contiguous().to(torch.float32), bias.to(torch.float32)


def _weights(layer: torch.nn.Linear) -> tuple[torch.Tensor, torch.Tensor]:
    return layer.weight.detach().to(torch.float64), layer.bias.detach().to(torch.float64)


class FoldedActor:
    """The acting policy's action parameters and the encoder's step, from a snapshot of the networks.

    Args:
        policy: the actor-critic; only the actor is used (values are recomputed by the PPO update).
        encoder: the posterior encoder; ``None`` for an agent without a belief (``VariBADConfig.belief`` False),
            whose latent and hidden state are empty and never change.
        state_norm, latent_norm: the normalisers applied to the policy's state and latent inputs, or ``None``.
    """

    @torch.no_grad()
    def __init__(
        self,
        policy: ActorCritic,
        encoder: Encoder | None,
        state_norm: RunningNorm | None,
        latent_norm: RunningNorm | None,
    ):
        blocks, self._linear_columns = [], []
        column = 0
        for embed, norm, width in (
            (policy.embed_state, state_norm, policy.obs_dim),
            (policy.embed_latent, latent_norm, policy.latent_in),
        ):
            scale, shift = _affine(norm, width)
            if embed is None:  # the normalised input itself, untouched by tanh
                blocks.append((torch.diag(scale), shift))
                self._linear_columns.append(slice(column, column + width))
                column += width
            else:
                weight, bias = _weights(embed)
                blocks.append((weight * scale, bias + weight @ shift))
                column += embed.out_features
        self.input_weight, self.input_bias = _block(blocks)
        self.actor_layers = [tuple(t.to(torch.float32) for t in _transposed(layer)) for layer in policy.actor]
        self.head_weight, self.head_bias = (t.to(torch.float32) for t in _transposed(policy.action_head))
        self.has_belief = encoder is not None
        if encoder is None:
            self.hidden_size = 0
            return
        self.embed_weight, self.embed_bias = _block(
            [_weights(encoder.embed_action), _weights(encoder.embed_obs), _weights(encoder.embed_reward)]
        )
        gru = encoder.gru
        self.gru = tuple(
            p.detach().clone() for p in (gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0, gru.bias_hh_l0)
        )
        heads = torch.cat([encoder.mean_head.weight, encoder.logvar_head.weight])
        self.heads_weight = heads.detach().t().contiguous()
        self.heads_bias = torch.cat([encoder.mean_head.bias, encoder.logvar_head.bias]).detach()
        self.hidden_size = encoder.hidden_size

    def action_params(self, obs: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
        """The policy's logits (discrete) or Gaussian mean (continuous) for raw ``obs`` and ``latent`` rows."""
        pre = torch.addmm(self.input_bias, torch.cat([obs, latent], dim=1), self.input_weight)
        x = fast_tanh(pre)
        for columns in self._linear_columns:  # inputs without an embedding skip the tanh
            x[:, columns] = pre[:, columns]
        for weight, bias in self.actor_layers:
            x = fast_tanh(torch.addmm(bias, x, weight))
        return torch.addmm(self.head_bias, x, self.head_weight)

    def initial(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The encoder's zero hidden state and the prior's ``(mean, log-variance)`` row for ``batch`` tasks (both
        empty without a belief)."""
        if not self.has_belief:
            return torch.zeros(batch, 0), torch.zeros(batch, 0)
        return torch.zeros(batch, self.hidden_size), self.heads_bias.expand(batch, -1).clone()

    def encode(self, hidden: torch.Tensor, transition: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The hidden state and posterior ``(mean, log-variance)`` after one transition.

        ``transition`` holds, per row, the action input, the next observation (with its done flag) and the reward,
        concatenated in that order (the encoder's embedding order). Without a belief: the empty state, unchanged.
        """
        if not self.has_belief:
            return hidden, hidden
        embedded = torch.addmm(self.embed_bias, transition, self.embed_weight).relu_()
        hidden = torch.gru_cell(embedded, hidden, *self.gru)
        return hidden, torch.addmm(self.heads_bias, hidden, self.heads_weight)


def _transposed(layer: torch.nn.Linear) -> tuple[torch.Tensor, torch.Tensor]:
    return layer.weight.detach().t().contiguous(), layer.bias.detach().clone()
