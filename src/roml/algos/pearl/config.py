"""PEARL's hyper-parameters; the defaults are the paper's HalfCheetah settings (PEARL's own, Rakelly et al., 2019, as
the authors of the paper ran them for Table 1; App. D.2-D.3), and :data:`PRESETS` holds the scales' overrides.

This module imports no torch: a run's configuration holds a :class:`PEARLConfig` for ``roml list``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from roml.algos.checks import check_int, check_real

__all__ = ["PRESETS", "PEARLConfig"]


@dataclass(frozen=True)
class PEARLConfig:
    """Hyper-parameters of :class:`roml.algos.pearl.PEARL`: PEARL with SAC v1 (twin Q, a V network with a target
    copy, a tanh-Gaussian policy), every network conditioned on the task latent ``z``.

    Defaults: PEARL's HalfCheetah configuration, unchanged by the paper for RoML and CVaR-ML ("we use the same
    hyper-parameters for RoML, CVaR-ML and their baseline", Section 6): 100 train slots, 500 iterations of 5
    reassigned slots x (400 prior + 600 posterior steps) and 2000 gradient steps on 16 slots.
    """

    # ---- slots and data collection (per iteration)
    num_slots: int = 100
    """Train slots (PEARL's ``n_train_tasks``): each holds one task with its RL replay buffer and encoder buffer."""
    initial_steps: int = 2000
    """Steps collected on every slot before training, z from the prior (``num_initial_steps``)."""
    tasks_per_iteration: int = 5
    """Slots reassigned to new tasks each iteration (``num_tasks_sample``)."""
    prior_steps: int = 400
    """Steps per reassigned slot with z from the prior; they fill its encoder buffer (``num_steps_prior``)."""
    posterior_steps: int = 600
    """Steps per reassigned slot with z from the posterior, RL buffer only (``num_extra_rl_steps_posterior``)."""
    episode_length: int = 200
    """Steps per episode (``max_path_length``); every collection is a whole number of episodes."""
    replay_size: int = 1_000_000
    """Most transitions an RL buffer of a slot keeps (the oldest overwritten first); storage grows as it fills."""
    clear_replay: bool = False
    """Also clear a reassigned slot's RL replay buffer, so that it holds its current task's transitions only (the
    invariant of PEARL's fixed train tasks). False: the authors' RoML code, which cleared only the encoder buffer,
    so a slot's SAC batches mix earlier tasks' transitions with the new task's context."""

    # ---- training (per iteration)
    gradient_steps: int = 2000
    """Gradient steps per iteration (``num_train_steps_per_itr``)."""
    meta_batch: int = 16
    """Slots per gradient step, drawn uniformly with replacement (``meta_batch``)."""
    batch_size: int = 256
    """SAC transitions per slot per gradient step."""
    context_batch: int = 100
    """Context transitions per slot, drawn from its encoder buffer (``embedding_batch_size``)."""

    # ---- networks
    latent_dim: int = 5
    """Dimension of the task latent z."""
    hidden: tuple[int, ...] = (300, 300, 300)
    """Hidden layers of the policy, the Q networks and V (ReLU)."""
    encoder_hidden: tuple[int, ...] = (200, 200, 200)
    """Hidden layers of the context encoder (ReLU)."""

    # ---- SAC and the information bottleneck
    lr: float = 3e-4
    """Adam learning rate of every network (policy, Q, V, encoder)."""
    gamma: float = 0.99
    """Discount factor."""
    tau: float = 0.005
    """Soft update rate of the target V network (after every gradient step)."""
    reward_scale: float = 5.0
    """Rewards are multiplied by this in the Q target (SAC v1's inverse temperature)."""
    kl_weight: float = 0.1
    """Weight of KL(posterior || N(0, I)) summed over the batch's slots (``kl_lambda``)."""
    policy_mean_reg: float = 1e-3
    """Weight of the mean square of the policy's pre-tanh mean."""
    policy_std_reg: float = 1e-3
    """Weight of the mean square of the policy's log-std."""
    learned_temperature: bool = False
    """Learn SAC's temperature alpha (SAC v2, Haarnoja et al. 2018b: ``log alpha`` starts at 0 and follows
    ``-log alpha * (log pi + target)`` with target entropy ``-action_dim``), scaling ``log pi`` in the V target and the
    policy loss. False: PEARL's SAC v1, temperature 1 with the rewards scaled by ``reward_scale``."""

    # ---- execution
    device: str = "cpu"
    """Torch device of the networks and buffers (``"cpu"``, ``"cuda"``, ``"cuda:1"``). Every random draw is made on
    the CPU and moved there, so a CUDA run makes the same draws as a CPU run: results agree up to float rounding."""

    def __post_init__(self):
        for name in (
            "num_slots",
            "tasks_per_iteration",
            "episode_length",
            "replay_size",
            "meta_batch",
            "batch_size",
            "context_batch",
            "latent_dim",
        ):
            check_int(self, name, low=1)
        for name in ("initial_steps", "prior_steps", "posterior_steps", "gradient_steps"):
            check_int(self, name, low=0)
        for name in ("initial_steps", "prior_steps", "posterior_steps"):
            value = getattr(self, name)
            if value % self.episode_length:
                raise ValueError(f"{name} must be a whole number of {self.episode_length}-step episodes, got {value}")
        if self.initial_steps == 0 or self.prior_steps == 0:
            raise ValueError("initial_steps and prior_steps must be >= one episode: they fill the encoder buffers")
        if self.tasks_per_iteration > self.num_slots:
            raise ValueError(
                f"tasks_per_iteration ({self.tasks_per_iteration}) must not exceed num_slots ({self.num_slots})"
            )
        for name in ("clear_replay", "learned_temperature"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        for name in ("hidden", "encoder_hidden"):
            value = getattr(self, name)
            if not isinstance(value, (tuple, list)) or any(
                isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in value
            ):
                raise ValueError(f"{name} must be a tuple of integers >= 1, got {value!r}")
            object.__setattr__(self, name, tuple(value))
        for name in ("lr", "reward_scale"):
            check_real(self, name, positive=True)
        for name in ("kl_weight", "policy_mean_reg", "policy_std_reg"):
            check_real(self, name, positive=False)
        for name in ("gamma", "tau"):
            value = getattr(self, name)
            check_real(self, name, positive=False)
            if value > 1:
                raise ValueError(f"{name} must be in [0, 1], got {value!r}")
        if not isinstance(self.device, str) or not (
            self.device == "cpu" or self.device == "cuda" or self.device.startswith("cuda:")
        ):
            raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {self.device!r}")

    @property
    def steps_per_iteration(self) -> int:
        """Environment steps collected per iteration (after the initial collection)."""
        return self.tasks_per_iteration * (self.prior_steps + self.posterior_steps)

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> PEARLConfig:
        """The settings of scale ``name`` (:data:`PRESETS`), then ``overrides``."""
        if name not in PRESETS:
            raise ValueError(f"unknown PEARL preset {name!r}; choose from {', '.join(PRESETS)}")
        return replace(cls(), **{**PRESETS[name], **overrides})


PRESETS: dict[str, dict[str, Any]] = {
    "paper": {},
    "quick": dict(
        initial_steps=400,
        prior_steps=200,
        posterior_steps=200,
        clear_replay=True,
        hidden=(64, 64),
        encoder_hidden=(64, 64),
        gradient_steps=400,
        meta_batch=8,
        batch_size=64,
        reward_scale=1.0,
        learned_temperature=True,
    ),
    "smoke": dict(
        num_slots=4,
        initial_steps=200,
        tasks_per_iteration=2,
        prior_steps=200,
        posterior_steps=200,
        hidden=(16, 16),
        encoder_hidden=(16,),
        gradient_steps=3,
        meta_batch=3,
        batch_size=8,
        context_batch=5,
    ),
}
"""Overrides of the paper's settings per scale. ``quick`` fits on one CPU core in about half an hour a run (300
iterations, set by the experiment's scale): networks 2 x 64 (the paper's 3 x 300 and 3 x 200); per iteration 5 new
tasks of 200 prior and 200 posterior steps (the paper's 400 and 600) and 400 gradient steps of 8 slots x 64
transitions (the paper's 2000 of 16 x 256), 1.2e5 steps in all; 400 initial steps per slot (2000); and two changes
that make SAC learn at this budget: SAC v2's learned temperature with unscaled rewards (SAC v1's fixed temperature
with reward scale 5 stays on the standing plateau for more than 1e5 steps, docs/results/speed/README.md, "PEARL"),
and a reassigned slot's RL buffer cleared with its encoder buffer. The paper's scale (about 30 GFLOP a gradient
step, 1e6 steps) is a GPU's job. ``smoke`` (seconds, the tests): 4 slots, one-episode collections, tiny networks, 3
gradient steps."""
