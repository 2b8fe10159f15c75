"""VariBAD's evidence lower bound (Zintgraf et al., 2020, Eq. 10) with a reward decoder only (App. D.1).

For a buffered BAMDP of ``T`` transitions, the encoder gives ``T + 1`` posteriors ``q_t = q(m | tau_{:t})`` (``q_0``
the prior). ELBO term ``t`` decodes *every* transition of the trajectory (past and future) from a sample
``m ~ q_t`` and adds ``kl_weight * KL(q_t || q_{t-1})``, with ``q_{-1} = N(0, I)``. As the authors, each
trajectory keeps ``vae_subsample_elbos`` random ELBO terms (with replacement), each decoding
``vae_subsample_decodes`` random transitions (with replacement); terms are summed over ELBO terms and decodes.
The reconstruction is then averaged over trajectories, and so is the KL with ``kl_reduction="mean"`` (ours); the
authors' code *summed* the KL over the batch (``kl_reduction="sum"``), a KL weight that grows with the batch (10
trajectories: 10 times ours). On HalfCheetah-Mass the larger weight did not speed learning up (see
``docs/architecture.md``), so ours stays the default.
"""

from __future__ import annotations

import torch


def gaussian_kl(mean, logvar, prior_mean, prior_logvar) -> torch.Tensor:
    """``KL(N(mean, exp(logvar)) || N(prior_mean, exp(prior_logvar)))`` summed over the last axis."""
    return 0.5 * (prior_logvar - logvar + (logvar.exp() + (mean - prior_mean).square()) / prior_logvar.exp() - 1.0).sum(
        dim=-1
    )


def _elbo_parts(encoder, decoder, batch: dict[str, torch.Tensor], config, generator: torch.Generator):
    """The chosen latents ``(E, B, L)``, transition features ``(1 or E, D, B, F)``, reward targets ``(1 or E, D, B)``
    and KL terms ``(E, B)`` of a batch (see :func:`elbo_loss`)."""
    actions, rewards = batch["action_inputs"], batch["rewards"]
    steps, b = rewards.shape
    mean, logvar = encoder.sequence(actions, batch["next_obs"], rewards, tbptt=config.tbptt)  # (T + 1, B, L)
    prior_mean = torch.cat([torch.zeros_like(mean[:1]), mean[:-1]])
    prior_logvar = torch.cat([torch.zeros_like(logvar[:1]), logvar[:-1]])
    kl = gaussian_kl(mean, logvar, prior_mean, prior_logvar)  # (T + 1, B)
    noise = torch.randn(mean.shape, generator=generator)
    latent = mean + (0.5 * logvar).exp() * noise
    features = decoder.transition_features(batch["prev_obs"], actions, batch["next_obs"])  # (T, B, F)
    # All terms or all decodes are broadcast rather than gathered: a gather of every pair copies (T+1) x T rows
    # forward and scatters them back in the backward pass (Ant decodes all 401 x 400 pairs: about 20% faster).
    columns = torch.arange(b)
    if config.vae_subsample_elbos is None:
        chosen_latent, chosen_kl = latent, kl  # (E, B, L), (E, B) with E = T + 1
    else:
        elbos = torch.randint(0, steps + 1, (config.vae_subsample_elbos, b), generator=generator)
        chosen_latent, chosen_kl = latent[elbos, columns], kl[elbos, columns]
    if config.vae_subsample_decodes is None:
        chosen_features, targets = features.unsqueeze(0), rewards.unsqueeze(0)  # (1, T, B, F), (1, T, B)
    else:
        decodes = torch.randint(0, steps, (len(chosen_latent), config.vae_subsample_decodes, b), generator=generator)
        chosen_features, targets = features[decodes, columns], rewards[decodes, columns]  # (E, D, B, F), (E, D, B)
    return chosen_latent, chosen_features, targets, chosen_kl


def _kl_term(chosen_kl: torch.Tensor, config) -> torch.Tensor:
    """The KL terms summed over ELBO terms, then averaged (or, ``kl_reduction="sum"``, summed) over trajectories."""
    kl_per_trajectory = chosen_kl.sum(dim=0)
    return kl_per_trajectory.sum() if config.kl_reduction == "sum" else kl_per_trajectory.mean()


def _reconstruction(decoder, latent, features, targets) -> torch.Tensor:
    """Squared reward errors of every (ELBO term, decode) pair, summed over both and averaged over trajectories."""
    prediction = decoder(latent.unsqueeze(1), features)  # (E, D, B)
    return (prediction - targets).square().sum(dim=(0, 1)).mean()


def elbo_loss(encoder, decoder, batch: dict[str, torch.Tensor], config, generator: torch.Generator):
    """The negative ELBO of a batch of trajectories (see the module docstring) and its two parts.

    Args:
        batch: time-major ``prev_obs``, ``action_inputs``, ``rewards``, ``next_obs`` of ``B`` trajectories.
        config: a :class:`VariBADConfig` (``kl_weight``, ``kl_reduction``, ``vae_subsample_elbos``,
            ``vae_subsample_decodes``, ``tbptt``).

    Returns:
        ``(loss, reconstruction, kl)``, scalars.
    """
    return _loss(decoder, _elbo_parts(encoder, decoder, batch, config, generator), config)


def _loss(decoder, parts, config):
    """``(loss, reconstruction, kl)`` of :func:`_elbo_parts`'s ``parts``, decoded in one pass."""
    latent, features, targets, chosen_kl = parts
    reconstruction = _reconstruction(decoder, latent, features, targets)
    kl_term = _kl_term(chosen_kl, config)
    return reconstruction + config.kl_weight * kl_term, reconstruction, kl_term


def elbo_backward(encoder, decoder, batch: dict[str, torch.Tensor], config, generator: torch.Generator):
    """:func:`elbo_loss` with its gradient accumulated into the encoder's and decoder's ``.grad``.

    Where the batch decodes more than ``config.vae_decode_rows`` (ELBO term, transition, trajectory) triples, the
    reconstruction is decoded and back-propagated in chunks of ELBO terms of at most that many triples, through
    detached copies of the latents and transition features whose gradients then flow back through the encoder in
    one pass: the same loss and gradient up to floating-point rounding, with the activations of one chunk alive at
    a time (Ant decodes 401 x 400 pairs of 10 trajectories per update). Otherwise it is ``elbo_loss(...)`` and one
    ``backward()``.

    Returns:
        ``(loss, reconstruction, kl)``, detached scalars.
    """
    parts = _elbo_parts(encoder, decoder, batch, config, generator)
    latent, features, targets, chosen_kl = parts
    terms, decodes, trajectories = latent.shape[0], targets.shape[1], targets.shape[2]
    per_term = decodes * trajectories
    if config.vae_decode_rows is None or terms * per_term <= config.vae_decode_rows:
        loss, reconstruction, kl_term = _loss(decoder, parts, config)
        loss.backward()
        return loss.detach(), reconstruction.detach(), kl_term.detach()
    size = max(1, config.vae_decode_rows // per_term)
    latent_leaf = latent.detach().requires_grad_()
    features_leaf = features.detach().requires_grad_()
    shared = features.shape[0] == 1  # every ELBO term decodes the same transitions
    reconstruction = torch.zeros(())
    for start in range(0, terms, size):
        part = slice(start, start + size)
        chunk = _reconstruction(
            decoder,
            latent_leaf[part],
            features_leaf if shared else features_leaf[part],
            targets if shared else targets[part],
        )
        chunk.backward()
        reconstruction += chunk.detach()
    kl_term = _kl_term(chosen_kl, config)
    kl_scaled = config.kl_weight * kl_term
    torch.autograd.backward([latent, features, kl_scaled], [latent_leaf.grad, features_leaf.grad, torch.ones(())])
    return (reconstruction + kl_scaled).detach(), reconstruction, kl_term.detach()
