"""VariBAD's hyper-parameters; the defaults are the paper's Khazad-Dum settings (docs/authors-code.md, section 5,
KD column), and :data:`PRESETS` holds the other columns of that table (HalfCheetah, Humanoid, Ant)."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any

from roml.algos.checks import check_int


@dataclass
class VariBADConfig:
    """Hyper-parameters of :class:`roml.algos.varibad.VariBAD` (Zintgraf et al., 2020; App. D.1).

    Defaults are the Khazad-Dum column of the table in docs/authors-code.md, section 5; the settings shared by all of
    the authors' configurations (PPO's Adam eps, value coefficient, Huber and clipped value loss, GAE tau 0.9, VAE
    learning rate, KL weight, embeddings) are fixed defaults too.
    """

    # ---- the meta-rollout (one BAMDP per environment per iteration)
    num_envs: int = 32
    """Environments stepped together; each runs one task (``episodes_per_task`` episodes) per iteration."""
    episodes_per_task: int = 4
    """Episodes of a task in one BAMDP; the belief (the encoder's hidden state) carries across them."""

    # ---- policy and PPO
    policy_layers: tuple[int, ...] = (64, 64)
    """Hidden layers of the actor and of the critic (tanh)."""
    policy_init: str = "normc"
    """Initialisation of the actor and critic towers: ``"normc"`` (Khazad-Dum, HalfCheetah) or ``"orthogonal"``
    (Humanoid, Ant); both with tanh's gain and zero biases."""
    state_embedding: int = 64
    """Width of the policy's state embedding (0: feed the state directly)."""
    latent_embedding: int = 64
    """Width of the policy's latent embedding (0: feed the latent directly)."""
    policy_lr: float = 7e-4
    """Adam learning rate of the policy."""
    anneal_lr: bool = False
    """Anneal the policy's learning rate linearly to 0 over ``total_iterations`` updates (Humanoid, Ant)."""
    total_iterations: int | None = None
    """Iterations of the whole run; needed by ``anneal_lr`` (:class:`~roml.algos.varibad.VariBAD` refuses
    ``anneal_lr`` without it; a run's configuration sets it from its frames)."""
    adam_eps: float = 1e-8
    """Adam epsilon of the policy optimiser."""
    ppo_epochs: int = 2
    """Passes over an iteration's frames per PPO update."""
    ppo_minibatches: int = 8
    """Minibatches per PPO epoch."""
    ppo_clip: float = 0.1
    """PPO's ratio clip (also the clip of the value prediction)."""
    value_coef: float = 0.5
    """Weight of the value loss."""
    entropy_coef: float = 0.05
    """Weight of the entropy bonus."""
    max_grad_norm: float = 0.5
    """Gradient-norm clip of the policy update."""
    gamma: float = 0.999
    """Discount factor (over the whole BAMDP)."""
    gae_lambda: float = 0.9
    """GAE's lambda (the authors' ``tau``)."""
    tail_masking: str = "loss"
    """How zero-weight tasks (CVaR-ML's non-tail tasks) leave the PPO update. ``"loss"``: their frames leave the
    loss, and the advantages are normalised over the weighted frames (ours). ``"advantages"``: the authors'
    ``bad_masks`` scheme: their advantages are zeroed (value target = prediction), the advantages are normalised over
    the whole batch, and every frame stays in the (unweighted) loss, entropy bonus included; weights are then only
    zero or not."""
    action_map: str = "clip"
    """How a continuous action's Gaussian sample reaches the environment. ``"clip"``: clipped to the action bounds.
    ``"tanh"``: ``tanh`` of it, scaled to the bounds (Humanoid; the authors' ``norm_actions_post_sampling``).
    ``"raw"``: as drawn (HalfCheetah, Ant; the authors' code): MuJoCo clamps the controls, but the control cost
    pays for the raw value, which keeps the policy's standard deviation in check; with ``"clip"`` an entropy bonus
    can grow it without bound (on HalfCheetah-Mass from 1 to about 10 over 3e7 frames). Either way PPO's
    log-probabilities are those of the raw sample."""
    episode_ends: str = "bamdp"
    """How GAE treats the ends of episodes (:func:`roml.algos.varibad.ppo.discounted_advantages`). ``"bamdp"``:
    GAE runs through the ends of the inner episodes and the BAMDP's end is terminal (value 0). ``"truncate"``: the
    authors' (``bad_masks`` with proper time limits): every episode end, the BAMDP's included, is a time-limit
    truncation: the episode's last step gets advantage 0 and the step before it bootstraps from the last state's
    value. On HalfCheetah-Mass ``"truncate"`` learned much faster (the MuJoCo presets use it); Khazad-Dum keeps
    ``"bamdp"``."""
    normalize_rewards: bool = True
    """Divide the policy's rewards by the running std of the discounted return (clipped to +-10)."""
    normalize_state: bool = True
    """Standardise the policy's state input with running statistics."""
    normalize_latent: bool = True
    """Standardise the policy's latent input with running statistics."""

    # ---- VAE
    belief: bool = True
    """Learn and act on the task posterior (VariBAD). False: the same agent without the belief, a plain PPO agent
    on the observation (no encoder or decoder, no VAE update, no latent input to the policy; the settings below are
    then unused): the learner of the non-meta references CeSoR and PAIRED."""
    latent_dim: int = 5
    """Dimension of the task embedding ``m``; the policy sees its mean and log-variance (``2 * latent_dim``)."""
    encoder_hidden: int = 128
    """Hidden size of the encoder's GRU."""
    action_embedding: int = 16
    """Encoder/decoder embedding width of the action."""
    obs_embedding: int = 32
    """Encoder/decoder embedding width of the observation."""
    reward_embedding: int = 16
    """Encoder embedding width of the reward."""
    decoder_layers: tuple[int, ...] = (64, 32)
    """Hidden layers of the reward decoder (ReLU)."""
    vae_lr: float = 1e-3
    """Adam learning rate of the encoder and decoder."""
    kl_weight: float = 0.1
    """Weight of the KL terms of the ELBO."""
    kl_reduction: str = "mean"
    """How the KL terms of a batch of trajectories are combined: ``"mean"`` (ours, like the reconstruction) or
    ``"sum"`` (the authors': an effective KL weight ``vae_batch_size`` times larger)."""
    vae_buffer_size: int = 10_000
    """Trajectories (whole BAMDPs) kept for VAE training, oldest dropped first."""
    vae_batch_size: int = 10
    """Trajectories per VAE update."""
    vae_updates: int = 1
    """VAE updates per iteration."""
    vae_subsample_elbos: int | None = 50
    """ELBO terms (time steps of the posterior) drawn per trajectory for the reconstruction loss; None: all."""
    vae_subsample_decodes: int | None = 50
    """Transitions decoded per ELBO term; None: all."""
    tbptt: int | None = 50
    """Truncated back-propagation through the encoder's GRU every this many steps; None: the whole BAMDP."""
    precollect_frames: int = 5000
    """Frames collected before the first policy or VAE update (they fill the VAE buffer)."""

    vae_decode_rows: int | None = None
    """Most (ELBO term, transition, trajectory) triples decoded in one backward pass; a larger ELBO is decoded and
    back-propagated in chunks of ELBO terms (:func:`roml.algos.varibad.vae.elbo_backward`: the same loss and
    gradient up to floating-point rounding, less memory and, for Ant's 401 x 400 pairs, less time). None: one pass.
    """

    # ---- execution (no effect on the results)
    parallel_updates: bool = True
    """Run the VAE update in a second thread while the PPO update runs (they share no parameters, optimiser or
    random stream, so the result is bit-identical to running them one after the other); on a machine with two
    free cores this hides most of the VAE's time."""

    def __post_init__(self):
        for name in (
            "num_envs",
            "episodes_per_task",
            "ppo_epochs",
            "ppo_minibatches",
            "latent_dim",
            "encoder_hidden",
            "action_embedding",
            "obs_embedding",
            "reward_embedding",
            "vae_buffer_size",
            "vae_batch_size",
        ):
            check_int(self, name, low=1)
        for name in ("state_embedding", "latent_embedding", "vae_updates", "precollect_frames"):
            check_int(self, name, low=0)
        for name in ("vae_subsample_elbos", "vae_subsample_decodes", "tbptt", "vae_decode_rows"):
            if getattr(self, name) is not None:
                check_int(self, name, low=1)
        for name in ("policy_layers", "decoder_layers"):
            value = tuple(getattr(self, name))
            if any(isinstance(v, bool) or int(v) != v or v < 1 for v in value):
                raise ValueError(f"{name} must be a tuple of integers >= 1, got {value!r}")
            setattr(self, name, tuple(int(v) for v in value))
        for name in ("policy_lr", "vae_lr", "adam_eps", "ppo_clip", "max_grad_norm"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
        for name in ("value_coef", "entropy_coef", "kl_weight"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        for name in ("gamma", "gae_lambda"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0 <= value <= 1):
                raise ValueError(f"{name} must be in [0, 1], got {value!r}")
        if self.policy_init not in ("normc", "orthogonal"):
            raise ValueError(f"policy_init must be 'normc' or 'orthogonal', got {self.policy_init!r}")
        if self.total_iterations is not None:
            check_int(self, "total_iterations", low=1)
        if self.action_map not in ("clip", "tanh", "raw"):
            raise ValueError(f"action_map must be 'clip', 'tanh' or 'raw', got {self.action_map!r}")
        if self.episode_ends not in ("bamdp", "truncate"):
            raise ValueError(f"episode_ends must be 'bamdp' or 'truncate', got {self.episode_ends!r}")
        if self.kl_reduction not in ("mean", "sum"):
            raise ValueError(f"kl_reduction must be 'mean' or 'sum', got {self.kl_reduction!r}")
        if self.tail_masking not in ("loss", "advantages"):
            raise ValueError(f"tail_masking must be 'loss' or 'advantages', got {self.tail_masking!r}")
        if self.vae_batch_size > self.vae_buffer_size:
            raise ValueError(
                f"vae_batch_size ({self.vae_batch_size}) must not exceed vae_buffer_size ({self.vae_buffer_size})"
            )

    @classmethod
    def from_fields(cls, source) -> VariBADConfig:
        """The config built from the same-named attributes of ``source`` (e.g. a flat experiment config)."""
        return cls(**{f.name: getattr(source, f.name) for f in fields(cls) if hasattr(source, f.name)})

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> VariBADConfig:
        """The settings of column ``name`` of the authors' table (docs/authors-code.md, section 5; :data:`PRESETS`),
        then ``overrides``."""
        if name not in PRESETS:
            raise ValueError(f"unknown VariBAD preset {name!r}; choose from {', '.join(PRESETS)}")
        return replace(cls(), **{**PRESETS[name], **overrides})


PRESETS: dict[str, dict[str, Any]] = {
    "khazad-dum": {},
    "half-cheetah": dict(
        num_envs=16,
        episodes_per_task=2,
        policy_layers=(128, 128),
        state_embedding=64,
        latent_embedding=64,
        policy_init="normc",
        policy_lr=7e-4,
        anneal_lr=False,
        ppo_epochs=2,
        ppo_minibatches=8,
        ppo_clip=0.1,
        entropy_coef=0.01,
        gamma=0.97,
        latent_dim=5,
        normalize_latent=True,
        vae_updates=1,
        tbptt=50,
        vae_subsample_elbos=50,
        vae_subsample_decodes=50,
        action_map="raw",
        episode_ends="truncate",
    ),
    "humanoid": dict(
        num_envs=32,
        episodes_per_task=2,
        policy_layers=(512, 256),
        state_embedding=0,
        latent_embedding=0,
        policy_init="orthogonal",
        policy_lr=7e-4,
        anneal_lr=True,
        ppo_epochs=4,
        ppo_minibatches=2,
        ppo_clip=0.1,
        entropy_coef=0.001,
        gamma=0.99,
        latent_dim=10,
        normalize_latent=False,
        vae_updates=10,
        tbptt=None,
        vae_subsample_elbos=100,
        vae_subsample_decodes=100,
        action_map="tanh",
        episode_ends="truncate",
    ),
    "ant": dict(
        num_envs=8,
        episodes_per_task=2,
        policy_layers=(128, 128),
        state_embedding=64,
        latent_embedding=64,
        policy_init="orthogonal",
        policy_lr=1e-3,
        anneal_lr=True,
        ppo_epochs=2,
        ppo_minibatches=1,
        ppo_clip=0.05,
        entropy_coef=0.01,
        gamma=0.97,
        latent_dim=10,
        normalize_latent=False,
        vae_updates=5,
        tbptt=None,
        vae_subsample_elbos=None,
        vae_subsample_decodes=None,
        vae_decode_rows=16384,
        action_map="raw",
        episode_ends="truncate",
    ),
}
"""The columns of the VariBAD table of docs/authors-code.md, section 5 (App. D.1-D.2), as overrides of the defaults
(which are the Khazad-Dum column). Settings shared by every column (Adam eps, value coefficient, GAE lambda 0.9, VAE
learning rate, KL weight, encoder and decoder widths, VAE buffer and batch, 5000 precollected frames) are the
defaults.

The authors ran 16 processes for every MuJoCo environment, with ``policy_num_steps`` 400 (HalfCheetah: one 2 x 200
step task per process per update), 800 (Humanoid: two tasks per process) and 200 (Ant: half a task per process).
Here an iteration runs whole tasks, so ``num_envs`` keeps the number of frames per PPO update instead: 16 tasks
(6400 frames) for HalfCheetah, 32 (12 800) for Humanoid and 8 (3200) for Ant. Ant-Mass subsamples 100 ELBO terms
and 100 decodes, unlike the other Ant tasks (the experiment sets that). Ant's ``vae_decode_rows`` is ours, not the
authors': it decodes its 401 x 400 pairs per trajectory in chunks, the same loss up to rounding in less time."""
