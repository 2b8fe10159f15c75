"""VariBAD (Zintgraf et al., 2020): a Bayes-adaptive agent whose belief is a learned latent posterior.

One training iteration (App. D.1; docs/authors-code.md, sections 5-6):

1. :meth:`VariBAD.collect`: every environment of a vector env runs one task for ``episodes_per_task`` episodes
   (the BAMDP). At each step the policy acts on the observation and on the current posterior's mean and
   log-variance; the encoder then consumes the transition. The belief carries across the task's episodes and
   starts from the prior at the next task. Continuous actions are drawn from the policy's Gaussian and reach the
   environment as drawn (the authors' way; the environment's control cost pays for values beyond the bounds),
   clipped to the action bounds, or squashed by ``tanh`` and scaled to them (``VariBADConfig.action_map``); PPO
   scores the raw draw, as the authors' VariBAD and PPO do.
2. The task sampler scores the tasks (mean episode return) and returns per-task training weights.
3. :meth:`VariBAD.update`: PPO on the rollout, weighted per task (:mod:`roml.algos.varibad.ppo`), then the VAE on
   trajectories from its buffer (:mod:`roml.algos.varibad.vae`). The policy's loss does not reach the encoder.

With ``VariBADConfig(belief=False)`` the same class is a plain PPO agent: no encoder, decoder or VAE update, and the
policy sees the observation only; the rollout, the per-task weighted PPO and GAE are this module's, unchanged.

Where this differs from the authors' code, on purpose: the policy starts each inner episode from that episode's
start observation (theirs acted on the previous episode's terminal observation, so the first action of every
later episode was chosen blind); discrete actions reach the encoder and decoder one-hot (theirs: the action index
as one float); continuous actions reach them as the environment received them (theirs: the raw Gaussian draw,
also where they squashed it for the environment); the VAE may sample the newest trajectories; and the items
listed in the ``ppo`` and ``vae`` modules. The environment must be a vector env whose episodes all end on the same
step (``terminated`` or ``truncated`` for every sub-environment at once) and that offers ``set_tasks``, such as
:class:`roml.envs.khazad_dum.KhazadDumVecEnv` and :class:`roml.envs.mujoco.MujocoTaskVecEnv`.
"""

from __future__ import annotations

import concurrent.futures
import copy
import dataclasses
import functools
import time
from collections.abc import Callable

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from roml.algos.optim import FlatAdam
from roml.algos.varibad.acting import FoldedActor
from roml.algos.varibad.buffers import Rollout, TrajectoryBuffer
from roml.algos.varibad.config import VariBADConfig
from roml.algos.varibad.networks import ActorCritic, Encoder, RewardDecoder, RunningNorm
from roml.algos.varibad.ppo import discounted_advantages, discounted_sums, ppo_loss
from roml.algos.varibad.vae import elbo_backward

TIMERS = ("env", "policy", "ppo", "vae", "update")
"""Where :attr:`VariBAD.timers` accounts wall time: env steps, the acting policy and encoder, the PPO update
(with its preparation: normalisers, values, advantages), the VAE update, and the whole update (less than
``ppo + vae`` when the two run in parallel, see ``VariBADConfig.parallel_updates``)."""

GENERATORS = ("act", "ppo", "vae")
"""The agent's random streams (:attr:`VariBAD.generators`): action sampling, PPO minibatches, VAE batches."""


@dataclasses.dataclass
class _Collection:
    """What :meth:`VariBAD.collect` gathers over the episodes of one BAMDP per sub-environment."""

    actor: FoldedActor
    hidden: torch.Tensor
    latent: torch.Tensor
    action_width: int
    """Columns of the encoder's input row: the action input's width, and the column after the done flag."""
    obs_end: int
    returns: np.ndarray
    """``(n, episodes)`` episode returns."""
    record: dict[str, list] = dataclasses.field(
        default_factory=lambda: {"obs": [], "latent": [], "actions": [], "transitions": []}
    )
    infos: list = dataclasses.field(default_factory=list)

    def rollout(self) -> Rollout:
        transitions = torch.stack(self.record["transitions"])
        width, obs_end = self.action_width, self.obs_end
        return Rollout(
            **{k: torch.stack(v) for k, v in self.record.items() if k != "transitions"},
            action_inputs=transitions[..., :width].contiguous(),
            rewards=transitions[..., obs_end].contiguous(),
            next_obs=transitions[..., width:obs_end].contiguous(),
            episode_returns=self.returns,
            episode_infos=self.infos,
        )


class VariBAD:
    """VariBAD's networks, optimisers, normalisers and VAE buffer, with the training step of the paper.

    Args:
        observation_space: the single environment's ``Box`` observation space (flat).
        action_space: the single environment's ``Discrete`` or ``Box`` action space.
        config: hyper-parameters (:class:`VariBADConfig`; the defaults are the Khazad-Dum settings).
        seed: an int or ``np.random.SeedSequence`` from which the network initialisation and every draw of the
            agent (actions, VAE samples and indices, minibatches) derive.

    Attributes:
        iteration: updates called so far; frames: environment steps consumed by :meth:`update`.
        timers: accumulated wall seconds per part of the loop (see :data:`TIMERS`).
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        config: VariBADConfig | None = None,
        seed: int | np.random.SeedSequence = 0,
    ):
        self.config = config = VariBADConfig() if config is None else config
        if not isinstance(config, VariBADConfig):
            raise TypeError(f"config must be a VariBADConfig, got {type(config).__name__}")
        if config.anneal_lr and config.total_iterations is None:
            raise ValueError("anneal_lr needs total_iterations (the number of updates to anneal over)")
        if not isinstance(observation_space, spaces.Box) or len(observation_space.shape) != 1:
            raise ValueError(f"observation_space must be a flat Box, got {observation_space}")
        sequence = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
        init_seed, *draw_seeds = (int(s.generate_state(1)[0]) for s in sequence.spawn(1 + len(GENERATORS)))
        init = torch.Generator().manual_seed(init_seed)
        # one stream per consumer, so that the PPO and VAE updates can run at the same time deterministically
        self.generators = {name: torch.Generator().manual_seed(s) for name, s in zip(GENERATORS, draw_seeds)}
        obs_dim = observation_space.shape[0] + 1  # + the done flag (episode ended on this step)
        if isinstance(action_space, spaces.Discrete):
            self.n_actions, action_in = int(action_space.n), int(action_space.n)
            head = dict(n_actions=self.n_actions)
        elif isinstance(action_space, spaces.Box) and len(action_space.shape) == 1:
            self.n_actions, action_in = None, int(action_space.shape[0])
            head = dict(action_dim=action_in)
            low, high = (np.asarray(b, dtype=np.float64) for b in (action_space.low, action_space.high))
            if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high)) and np.all(low < high)):
                raise ValueError(f"a continuous action space needs finite bounds low < high, got {action_space}")
            # squashing maps tanh's (-1, 1) onto (low, high): centre + half_width * tanh(a)
            self._action_bounds = tuple(
                torch.as_tensor(b, dtype=torch.float32) for b in (low, high, (low + high) / 2, (high - low) / 2)
            )
        else:
            raise ValueError(f"action_space must be Discrete or a flat Box, got {action_space}")
        # the encoder's input row: [action input | next observation, done flag | reward] (see _encoder_input)
        self._columns = (action_in, action_in + obs_dim)
        latent_in = 2 * config.latent_dim if config.belief else 0
        self.encoder: Encoder | None = None
        self.decoder: RewardDecoder | None = None
        if config.belief:
            self.encoder = Encoder(
                obs_dim,
                action_in,
                config.latent_dim,
                config.encoder_hidden,
                config.action_embedding,
                config.obs_embedding,
                config.reward_embedding,
                init,
            )
            self.decoder = RewardDecoder(
                config.latent_dim,
                obs_dim,
                action_in,
                config.decoder_layers,
                config.obs_embedding,
                config.action_embedding,
                init,
            )
        self.policy = ActorCritic(
            obs_dim,
            latent_in,
            config.policy_layers,
            config.state_embedding,
            config.latent_embedding if config.belief else 0,
            init,
            init=config.policy_init,
            **head,
        )
        self.norms = nn.ModuleDict(
            {
                "state": RunningNorm(obs_dim),
                "latent": RunningNorm(latent_in),
                "return": RunningNorm(()),
            }
        )
        self.policy_optimizer = FlatAdam(
            self.policy.parameters(), lr=config.policy_lr, eps=config.adam_eps, max_grad_norm=config.max_grad_norm
        )
        self.vae_optimizer = None
        if self.encoder is not None and self.decoder is not None:
            vae_parameters = [*self.encoder.parameters(), *self.decoder.parameters()]
            self.vae_optimizer = FlatAdam(vae_parameters, lr=config.vae_lr)
        self.buffer = TrajectoryBuffer(config.vae_buffer_size)
        self.iteration = 0
        self.frames = 0
        self.timers = dict.fromkeys(TIMERS, 0.0)
        self._worker: concurrent.futures.ThreadPoolExecutor | None = None

    @classmethod
    def for_env(cls, env, config: VariBADConfig | None = None, seed=0) -> VariBAD:
        """An agent for the spaces of vector env ``env`` (its ``single_*_space``)."""
        return cls(env.single_observation_space, env.single_action_space, config, seed)

    # ------------------------------------------------------------------------------------------------ acting

    def _policy_inputs(self, obs: torch.Tensor, latent: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        c = self.config
        return (
            self.norms["state"].normalize(obs) if c.normalize_state else obs,
            self.norms["latent"].normalize(latent) if c.normalize_latent and c.belief else latent,
        )

    def folded_actor(self) -> FoldedActor:
        """A snapshot of the acting policy and encoder step (:class:`FoldedActor`) with the current weights."""
        c = self.config
        return FoldedActor(
            self.policy,
            self.encoder,
            self.norms["state"] if c.normalize_state else None,
            self.norms["latent"] if c.normalize_latent and c.belief else None,
        )

    def _sample(self, params: torch.Tensor, deterministic: bool) -> torch.Tensor:
        """Actions from the policy's logits (discrete) or Gaussian mean (continuous): its mode if ``deterministic``."""
        if self.n_actions is not None:
            if deterministic:
                return params.argmax(dim=-1)
            # the Gumbel-max trick: argmax(logits + Gumbel noise) is a categorical draw (-log E, E ~ Exp(1), is
            # Gumbel); three small kernels, where torch.multinomial costs twice as much at 32 x 4
            noise = torch.empty_like(params).exponential_(generator=self.generators["act"]).log_()
            return (params - noise).argmax(dim=-1)
        if deterministic:
            return params
        return params + self.policy.log_std.exp() * torch.randn(params.shape, generator=self.generators["act"])

    def env_actions(self, actions: torch.Tensor) -> torch.Tensor:
        """What the environment receives for the policy's ``actions``: discrete ones as they are; continuous ones
        per ``config.action_map``: as drawn (``"raw"``), ``centre + half_width * tanh(a)`` (``"tanh"``) or clipped
        to the action bounds (``"clip"``)."""
        if self.n_actions is not None or self.config.action_map == "raw":
            return actions
        low, high, centre, half_width = self._action_bounds
        if self.config.action_map == "tanh":
            return torch.addcmul(centre, half_width, torch.tanh(actions))
        return torch.maximum(torch.minimum(actions, high), low)

    @torch.no_grad()
    def collect(
        self, env, tasks: np.ndarray, deterministic: bool = False, observer: Callable[[int, int], None] | None = None
    ) -> Rollout:
        """Run one BAMDP per sub-environment of ``env``: task ``tasks[i]`` on environment ``i``.

        Args:
            env: a vector env (see the module docstring); its episodes are restarted with ``env.reset()``.
            tasks: one task per sub-environment, passed to ``env.set_tasks``.
            deterministic: act with the policy's mode (the paper's test protocol) instead of sampling.
            observer: called as ``observer(episode, step)`` after every reset (step 0) and environment step
                (e.g. to record positions for a figure).
        """
        n, episodes = env.num_envs, self.config.episodes_per_task
        env.set_tasks(tasks)
        actor = self.folded_actor()
        run = _Collection(actor, *actor.initial(n), *self._columns, returns=np.zeros((n, episodes)))
        for episode in range(episodes):
            self._collect_episode(env, run, episode, deterministic, observer)
        return run.rollout()

    def _collect_episode(self, env, run: _Collection, episode: int, deterministic: bool, observer) -> None:
        """Step every sub-environment through one episode (from ``env.reset()`` to its last step), appending to
        ``run``; the belief (``run.hidden``, ``run.latent``) carries over from the previous episode."""
        clock, timers, actor, record = time.perf_counter, self.timers, run.actor, run.record
        hidden, latent, action_width, obs_end = run.hidden, run.latent, run.action_width, run.obs_end
        columns = (action_width, obs_end)
        n = env.num_envs
        start = clock()
        raw, _ = env.reset()
        timers["env"] += clock() - start
        obs = torch.from_numpy(np.concatenate([raw, np.zeros((n, 1))], axis=1, dtype=np.float32))
        step = 0
        if observer is not None:
            observer(episode, step)
        while True:
            start = clock()
            actions = self._sample(actor.action_params(obs, latent), deterministic)
            actions_np = self.env_actions(actions).numpy()
            before_env = clock()
            raw, reward, terminated, truncated, info = env.step(actions_np)
            after_env = clock()
            ended = np.logical_or(terminated, truncated)
            if ended.any() and not ended.all():
                raise RuntimeError(
                    "VariBAD.collect needs episodes that end on the same step in every "
                    f"sub-environment; at step {step} of episode {episode} only {int(ended.sum())} of {n} ended"
                )
            transition = self._encoder_input(actions_np, raw, bool(ended[0]), reward, columns)
            for key, value in (("obs", obs), ("latent", latent), ("actions", actions), ("transitions", transition)):
                record[key].append(value)
            hidden, latent = actor.encode(hidden, transition)
            run.returns[:, episode] += reward
            obs = transition[:, action_width:obs_end]  # the next observation, done flag 0 inside an episode
            timers["env"] += after_env - before_env
            timers["policy"] += before_env - start + clock() - after_env
            step += 1
            if observer is not None:
                observer(episode, step)
            if ended[0]:
                run.infos.append(info)
                run.hidden, run.latent = hidden, latent
                return

    def _encoder_input(
        self, actions: np.ndarray, next_obs: np.ndarray, done: bool, reward: np.ndarray, columns: tuple[int, int]
    ) -> torch.Tensor:
        """The encoder's input rows ``(n, obs_end + 1)`` float32 of one step, ``columns`` the layout of
        :attr:`_columns` (read once per rollout): the action (one-hot for discrete actions), the next
        observation, the episode's done flag, the reward (also without a belief: the rollout reads the next
        observations and rewards from it)."""
        action_width, obs_end = columns
        n = len(next_obs)
        transition = np.zeros((n, obs_end + 1), dtype=np.float32)
        if self.n_actions is not None:
            transition[np.arange(n), actions] = 1.0
        else:
            transition[:, :action_width] = actions
        transition[:, action_width : obs_end - 1] = next_obs
        transition[:, obs_end - 1] = done
        transition[:, obs_end] = reward
        return torch.from_numpy(transition)

    # ------------------------------------------------------------------------------------------------ training

    def _normalized_rewards(self, rewards: torch.Tensor) -> torch.Tensor:
        """Rewards divided by the running std of the discounted return (not centred), clipped to +-10.

        The return accumulator restarts with every BAMDP; the statistics absorb the whole rollout's returns at
        once, then scale all of its rewards (the authors updated them step by step).
        """
        discounted = discounted_sums(rewards, self.config.gamma)
        norm = self.norms["return"]
        norm.update(discounted)
        return (rewards / (norm.var + norm.eps).sqrt().to(rewards.dtype)).clamp(-10.0, 10.0)

    def update(self, rollout: Rollout, task_weights: np.ndarray | None = None) -> dict[str, float]:
        """Train on one meta-rollout: PPO with per-task ``task_weights``, then the VAE.

        Nothing is trained until ``precollect_frames`` frames have been collected (the rollouts still fill the
        VAE buffer). Returns the losses of this update (empty before training starts).

        Args:
            rollout: from :meth:`collect` (with ``deterministic=False``).
            task_weights: the sampler's non-negative training weight of each environment's task, ``(N,)``; all
                ones when ``None``. Frames of zero-weight tasks leave the PPO loss entirely.

        With ``anneal_lr`` the policy's learning rate of the ``i``-th call (``i = 1, 2, ...``, precollection calls
        counted) is ``policy_lr * (1 - (i - 1) / total_iterations)``, floored at 0 (the authors' linear schedule).
        """
        c = self.config
        steps, n = rollout.rewards.shape
        weights = np.ones(n) if task_weights is None else np.asarray(task_weights, dtype=np.float64)
        if weights.shape != (n,) or not np.all(np.isfinite(weights)) or np.any(weights < 0):
            raise ValueError(f"task_weights must be {n} finite non-negative numbers, got {task_weights!r}")
        if not np.all(np.isfinite(rollout.episode_returns)):
            raise FloatingPointError("the rollout holds non-finite rewards")
        if c.belief:
            self.buffer.add(rollout, c.episodes_per_task)
        self.iteration += 1
        self.frames += rollout.frames
        if c.anneal_lr:
            self.policy_optimizer.lr = c.policy_lr * max(0.0, 1.0 - (self.iteration - 1) / c.total_iterations)
        if self.frames < c.precollect_frames:
            return {}
        start = time.perf_counter()
        ppo = functools.partial(self._ppo_update, rollout, torch.as_tensor(weights, dtype=torch.float32))
        if not c.belief:
            stats = self._timed("ppo", ppo)
        elif c.parallel_updates:  # independent parameters, optimisers and random streams: the same result
            if self._worker is None:
                self._worker = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="varibad-vae")
            vae = self._worker.submit(self._timed, "vae", self._vae_update)
            stats = self._timed("ppo", ppo)
            stats.update(vae.result())
        else:
            stats = self._timed("ppo", ppo)
            stats.update(self._timed("vae", self._vae_update))
        self.timers["update"] += time.perf_counter() - start
        return stats

    def _timed(self, timer: str, work: Callable[[], dict]) -> dict:
        start = time.perf_counter()
        try:
            return work()
        finally:
            self.timers[timer] += time.perf_counter() - start

    def _ppo_update(self, rollout: Rollout, task_weights: torch.Tensor) -> dict[str, float]:
        c = self.config
        steps, n = rollout.rewards.shape
        rewards = self._normalized_rewards(rollout.rewards) if c.normalize_rewards else rollout.rewards
        # as the authors: the input statistics absorb this rollout first, and "old" log-probs and values are
        # recomputed with them, so PPO's first ratio is 1 and the next rollout acts with what PPO optimised
        self.norms["state"].update(rollout.obs)
        if c.belief:
            self.norms["latent"].update(rollout.latent)
        obs, latent = self._policy_inputs(rollout.obs, rollout.latent)
        with torch.no_grad():
            features = self.policy.features(obs, latent)
            old_values = self.policy.value(features)
            old_log_probs, _ = self.policy.log_prob_entropy(self.policy.action_params(features), rollout.actions)
        ends = rollout.next_obs[:, 0, -1] > 0 if c.episode_ends == "truncate" else None  # the done flags
        advantages = discounted_advantages(rewards, old_values, c.gamma, c.gae_lambda, ends)
        trained_tasks = int((task_weights > 0).sum())
        if c.tail_masking == "advantages":  # the authors' bad_masks: masked tasks stay, with advantage 0
            advantages = advantages.masked_fill(task_weights == 0, 0.0)
            task_weights = torch.ones_like(task_weights)
        returns = advantages + old_values
        frame_weights = task_weights.expand(steps, n)
        keep = (frame_weights > 0).reshape(-1).nonzero().squeeze(1)
        if keep.numel() == 0:
            return {}
        flat = lambda x: x.reshape(steps * n, *x.shape[2:])[keep]  # noqa: E731
        obs, latent, actions = flat(obs), flat(latent), flat(rollout.actions)
        old_log_probs, old_values, returns = flat(old_log_probs), flat(old_values), flat(returns)
        advantages, w = flat(advantages), flat(frame_weights)
        mean = (w * advantages).sum() / w.sum()
        std = ((w * (advantages - mean).square()).sum() / w.sum()).sqrt()
        advantages = (advantages - mean) / (std + 1e-5)
        size = max(1, keep.numel() // c.ppo_minibatches)
        totals = np.zeros(3)
        count = 0
        frames = (obs, latent, actions, old_log_probs, old_values, returns, advantages, w)
        for _ in range(c.ppo_epochs):
            order = torch.randperm(keep.numel(), generator=self.generators["ppo"])
            shuffled = [x[order] for x in frames]  # one gather per epoch; the minibatches are then slices
            for first in range(0, keep.numel() - size + 1, size):  # the remainder is dropped, as the authors
                o, z, a, lp, v, ret, adv, wt = (x[first : first + size] for x in shuffled)
                features = self.policy.features(o, z)
                loss, policy_loss, value_loss, entropy = ppo_loss(self.policy, features, a, lp, v, ret, adv, wt, c)
                self.policy_optimizer.zero_grad()
                loss.backward()
                self.policy_optimizer.step()
                totals += (policy_loss.item(), value_loss.item(), entropy.item())
                count += 1
        policy_loss, value_loss, entropy = totals / count
        return {
            "policy_loss": policy_loss,
            "value_loss": value_loss,
            "entropy": entropy,
            "trained_tasks": trained_tasks,
        }

    def _vae_update(self) -> dict[str, float]:
        c = self.config
        totals = np.zeros(2)
        for _ in range(c.vae_updates):
            generator = self.generators["vae"]
            batch = self.buffer.sample(min(c.vae_batch_size, len(self.buffer)), generator)
            self.vae_optimizer.zero_grad()
            loss, reconstruction, kl = elbo_backward(self.encoder, self.decoder, batch, c, generator)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"VariBAD iteration {self.iteration}: non-finite VAE loss")
            self.vae_optimizer.step()
            totals += (reconstruction.item(), kl.item())
        if c.vae_updates == 0:
            return {}
        reconstruction, kl = totals / c.vae_updates
        return {"vae_reconstruction": reconstruction, "vae_kl": kl}

    # ------------------------------------------------------------------------------------------------ state

    def state_dict(self, include_buffer: bool = True) -> dict:
        """A snapshot of everything needed to continue training bit-identically (the VAE buffer only if
        ``include_buffer``)."""
        optional = lambda part: None if part is None else part.state_dict()  # noqa: E731 (None without a belief)
        state = copy.deepcopy(
            {
                "encoder": optional(self.encoder),
                "decoder": optional(self.decoder),
                "policy": self.policy.state_dict(),
                "norms": self.norms.state_dict(),
                "policy_optimizer": self.policy_optimizer.state_dict(),
                "vae_optimizer": optional(self.vae_optimizer),
                "generators": {name: g.get_state() for name, g in self.generators.items()},
                "iteration": self.iteration,
                "frames": self.frames,
                "timers": dict(self.timers),
            }
        )
        state["buffer"] = self.buffer.state_dict() if include_buffer else None  # already a copy
        return state

    def load_state_dict(self, state: dict) -> None:
        for name in ("encoder", "decoder", "vae_optimizer"):
            part = getattr(self, name)
            if (part is None) != (state[name] is None):
                raise ValueError(f"the state is of an agent {'with' if part is None else 'without'} a belief")
            if part is not None:
                part.load_state_dict(state[name])
        self.policy.load_state_dict(state["policy"])
        self.norms.load_state_dict(state["norms"])
        self.policy_optimizer.load_state_dict(state["policy_optimizer"])
        if state["buffer"] is not None:
            self.buffer.load_state_dict(state["buffer"])
        for name, g in self.generators.items():
            g.set_state(state["generators"][name])
        self.iteration, self.frames = int(state["iteration"]), int(state["frames"])
        self.timers = dict(state["timers"])
