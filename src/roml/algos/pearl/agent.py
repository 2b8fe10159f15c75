"""PEARL (Rakelly et al., 2019): off-policy meta-RL with a probabilistic task latent z, as the paper's second
baseline (Section 6.2, Table 1; App. D.3 for RoML's CEM on top of it).

The learner keeps ``num_slots`` train slots, each holding one task, an RL replay buffer and an encoder buffer
(:mod:`roml.algos.pearl.buffers`). One iteration of the experiment's loop (:mod:`roml.experiments.pearl`):

1. :meth:`PEARL.choose_slots` picks the slots to reassign; the task sampler gives each a new task.
2. :meth:`PEARL.collect` clears their encoder buffers (with ``clear_replay`` their RL buffers too) and runs, on a
   vector env with one sub-environment per slot, ``prior_steps`` with z drawn from the prior ``N(0, I)`` (a new z
   every episode; these transitions also fill the encoder buffer), then ``posterior_steps`` (RL buffer only): the
   first episode on a prior z, and before each later one z drawn from the posterior of a context batch sampled from
   the slot's encoder buffer (PEARL's ``collect_data``: it starts from the prior and infers the posterior after
   every episode).
3. The sampler observes each new task's score, the mean return of its episodes; its training weights become the
   slots' weights (all ones but for CVaR-ML, see the experiment).
4. :meth:`PEARL.train`: ``gradient_steps`` SAC steps (:meth:`PEARL.gradient_step`), each on ``meta_batch`` slots drawn
   uniformly with replacement, in the authors' order: the posterior of each slot's context batch, a reparameterised
   z per slot; the KL and Q losses back-propagate into the encoder and the twin Q networks, which step; then V's
   loss against ``min Q(s, a~pi) - log pi`` with the updated Q networks, V's step and the target V's soft update;
   then the policy's loss and step. The policy and V see z detached, so the encoder learns only from the Q loss
   and the KL (:mod:`roml.algos.pearl.sac`).

The test protocol (:meth:`PEARL.test_returns`): three deterministic episodes per task (action ``tanh`` of the
policy's mean), the first two each on its own z from the prior, the third on z drawn from the posterior of all 400
transitions of the first two.

Every draw comes from a generator derived from the agent's seed: a numpy ``Generator`` picks slots (reassignment and
each gradient step's meta-batch), ``torch.Generator`` s on the CPU draw actions and z in collection (``"collect"``)
and minibatch rows, z and actions in training (``"train"``). Draws are made on the CPU and moved to the device, so
``device="cuda"`` makes the same draws as the CPU and gives the same results up to float rounding.

Where this differs from the authors' code (PEARL's ``oyster`` with the paper's changes):

- The slots reassigned in an iteration are distinct (the authors drew 5 slot indices with replacement, so a slot
  could be reassigned, and collected on, twice in one iteration); their collections run side by side on a vector
  env instead of one after the other (the result is the same: each slot's collection uses its own data only).
- A task's score is the mean return of its episodes (the authors' CEM got the sum: 10 episodes for the initial pool,
  5 for later ones, two scales in one CEM batch).
- The per-slot losses take per-slot training weights (all ones except CVaR-ML, which PEARL's code does not have).
- Networks are initialised from explicit seeded generators; the environment's randomness is seeded (the authors
  seeded nothing); the replay buffers grow as they fill instead of reserving a million rows per slot up front.
- Two settings, off by default (the paper's way) and on in the ``quick`` preset, where without them SAC v1 stays on
  HalfCheetah-Vel's standing plateau past 1e5 gradient steps: ``learned_temperature`` (SAC v2's temperature, which
  scales ``log pi`` in V's target and the policy loss) and ``clear_replay`` (a reassigned slot's RL buffer is
  cleared with its encoder buffer; the authors' batches mixed earlier tasks' transitions with the new context).
- SAC's policy loss evaluates the Q networks on z detached (the authors passed z with its graph, but the encoder's
  gradients from that loss were zeroed before any use, so the update is the same).
"""

from __future__ import annotations

import copy
import time

import numpy as np
import torch
from gymnasium import spaces

from roml.algos.optim import FlatAdam
from roml.algos.pearl.buffers import SlotBuffer
from roml.algos.pearl.config import PEARLConfig
from roml.algos.pearl.networks import MLP, TanhGaussianPolicy, kl_to_standard_normal, posterior
from roml.algos.pearl.sac import kl_loss, policy_loss, q_loss, q_target, soft_update, temperature_loss, value_loss

__all__ = ["GENERATORS", "LOSSES", "PEARL", "TEST_EPISODES"]

GENERATORS = ("collect", "train")
"""The agent's torch random streams (CPU): acting and z in data collection; rows, z and actions in training."""
LOSSES = ("q_loss", "value_loss", "policy_loss", "kl")
"""What :meth:`PEARL.train` reports, averaged over its gradient steps (``kl``: the mean KL per slot)."""
TEST_EPISODES, TEST_PRIOR_EPISODES = 3, 2
"""The test protocol: three episodes per task, the first two on z from the prior."""
TIMERS = ("collect", "train")


class PEARL:
    """PEARL's networks, optimisers, per-slot buffers and random streams (see the module docstring).

    Args:
        observation_space: the single environment's flat ``Box`` observation space.
        action_space: the single environment's flat ``Box`` action space with finite bounds; the policy's actions
            in ``(-1, 1)`` are mapped linearly onto them (PEARL's ``NormalizedBoxEnv``).
        config: hyper-parameters (:class:`PEARLConfig`; the defaults are the paper's).
        seed: an int or ``np.random.SeedSequence``; the initialisation and every draw derive from it.

    Attributes:
        gradient_steps: gradient steps taken; skipped_steps: steps drawn whose slots all had weight 0 (nothing
        trained); env_steps: environment steps collected for training. timers: wall seconds per part.
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        config: PEARLConfig | None = None,
        seed: int | np.random.SeedSequence = 0,
    ):
        self.config = c = PEARLConfig() if config is None else config
        if not isinstance(c, PEARLConfig):
            raise TypeError(f"config must be a PEARLConfig, got {type(c).__name__}")
        if not isinstance(observation_space, spaces.Box) or len(observation_space.shape) != 1:
            raise ValueError(f"observation_space must be a flat Box, got {observation_space}")
        if not isinstance(action_space, spaces.Box) or len(action_space.shape) != 1:
            raise ValueError(f"action_space must be a flat Box, got {action_space}")
        low, high = (np.asarray(b, dtype=np.float64) for b in (action_space.low, action_space.high))
        if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high)) and np.all(low < high)):
            raise ValueError(f"the action space needs finite bounds low < high, got {action_space}")
        self._action_centre, self._action_half = (high + low) / 2, (high - low) / 2
        self.device = torch.device(c.device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {c.device!r} asked for, but torch sees no CUDA device")
        self.obs_dim, self.action_dim = obs, act = observation_space.shape[0], action_space.shape[0]
        self.context_width = obs + act + 1  # [obs | action | reward]
        self.row_width = 2 * obs + act + 2  # [obs | action | reward | next_obs | terminal]

        sequence = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
        init_seed, slot_seed, *draw_seeds = sequence.spawn(2 + len(GENERATORS))
        init = torch.Generator().manual_seed(int(init_seed.generate_state(1)[0]))
        self.rng = np.random.default_rng(slot_seed)
        self.generators = {
            name: torch.Generator().manual_seed(int(s.generate_state(1)[0])) for name, s in zip(GENERATORS, draw_seeds)
        }
        latent = c.latent_dim
        self.encoder = MLP(self.context_width, c.encoder_hidden, 2 * latent, init).to(self.device)
        self.q1 = MLP(obs + act + latent, c.hidden, 1, init).to(self.device)
        self.q2 = MLP(obs + act + latent, c.hidden, 1, init).to(self.device)
        self.v = MLP(obs + latent, c.hidden, 1, init).to(self.device)
        self.target_v = copy.deepcopy(self.v)
        self.policy = TanhGaussianPolicy(obs + latent, c.hidden, act, init).to(self.device)
        for p in self.target_v.parameters():
            p.requires_grad_(False)
        self.optimizers = {
            "encoder": FlatAdam(self.encoder.parameters(), lr=c.lr),
            "q": FlatAdam([*self.q1.parameters(), *self.q2.parameters()], lr=c.lr),
            "v": FlatAdam(self.v.parameters(), lr=c.lr),
            "policy": FlatAdam(self.policy.parameters(), lr=c.lr),
        }
        self.log_alpha: torch.Tensor | None = None
        if c.learned_temperature:  # SAC v2's temperature, alpha = 1 at the start
            self.log_alpha = torch.zeros((), device=self.device, requires_grad=True)
            self.optimizers["temperature"] = FlatAdam([self.log_alpha], lr=c.lr)
        per_task = c.initial_steps + c.prior_steps + c.posterior_steps
        self.replay = SlotBuffer(c.num_slots, self.row_width, c.replay_size, per_task, c.device)
        context_size = max(c.initial_steps, c.prior_steps)
        self.context = SlotBuffer(c.num_slots, self.context_width, context_size, context_size, c.device)
        self.gradient_steps = 0
        self.skipped_steps = 0
        self.env_steps = 0
        self.timers = dict.fromkeys(TIMERS, 0.0)

    @classmethod
    def for_env(cls, env, config: PEARLConfig | None = None, seed=0) -> PEARL:
        """An agent for the spaces of vector env ``env`` (its ``single_*_space``)."""
        return cls(env.single_observation_space, env.single_action_space, config, seed)

    # ------------------------------------------------------------------------------------------------ acting

    def _normal(self, shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
        """Standard normal draws made on the CPU from ``generator``, on the agent's device."""
        return torch.randn(shape, generator=generator).to(self.device)

    def infer_posterior(self, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The posterior's mean and variance ``(n, latent_dim)`` of context ``(n, k, context_width)``."""
        return posterior(self.encoder, context.to(self.device), self.config.latent_dim)

    def _sample_z(self, n: int, generator: torch.Generator, belief=None) -> torch.Tensor:
        """z ``(n, latent_dim)`` from the prior (``belief`` None) or from ``belief = (mean, variance)``."""
        noise = self._normal((n, self.config.latent_dim), generator)
        return noise if belief is None else belief[0] + belief[1].sqrt() * noise

    def _run_episode(self, env, z: torch.Tensor, generator: torch.Generator | None) -> tuple[torch.Tensor, np.ndarray]:
        """One episode on every sub-environment of ``env`` with latent ``z``; actions drawn from the policy with
        ``generator``, or ``tanh`` of its mean when ``generator`` is None. Returns the transitions ``(n, T,
        row_width)`` (the policy's actions, in ``(-1, 1)``) and the episode returns ``(n,)``."""
        n = env.num_envs
        raw, _ = env.reset()
        rows = []
        returns = np.zeros(n)
        while True:
            obs = np.asarray(raw, dtype=np.float32)
            mean, log_std = self.policy.distribution(torch.from_numpy(obs).to(self.device), z)
            if generator is None:
                action = torch.tanh(mean)
            else:
                action, _, _ = TanhGaussianPolicy.sample(mean, log_std, self._normal(mean.shape, generator))
            action = action.cpu().numpy()
            raw, reward, terminated, truncated, _ = env.step(self._action_centre + self._action_half * action)
            ended = np.logical_or(terminated, truncated)
            if ended.any() and not ended.all():
                raise RuntimeError("PEARL's collection needs episodes that end together in every sub-environment")
            returns += reward
            rows.append(
                np.concatenate([obs, action, reward[:, None], raw, terminated[:, None]], axis=1, dtype=np.float32)
            )
            if ended[0]:
                return torch.from_numpy(np.stack(rows, axis=1)), returns

    @torch.no_grad()
    def collect(
        self, env, slots, tasks: np.ndarray, prior_steps: int | None = None, posterior_steps: int | None = None
    ) -> np.ndarray:
        """Give ``slots`` the new ``tasks`` and collect their data (step 2 of the module docstring).

        Args:
            env: a vector env with one sub-environment per slot, whose episodes last ``episode_length`` steps and
                end together (:class:`roml.envs.mujoco.MujocoTaskVecEnv`); its ``set_tasks`` receives ``tasks``.
            slots: distinct slot indices.
            tasks: ``(len(slots), d)``.
            prior_steps, posterior_steps: the steps of each phase per slot (default: the config's;
                the initial collection passes ``initial_steps`` and 0).

        Returns the episode returns ``(len(slots), episodes)``, the task scores being their row means.
        """
        c = self.config
        start = time.perf_counter()
        slots = np.asarray(slots, dtype=np.int64)
        prior_steps = c.prior_steps if prior_steps is None else prior_steps
        posterior_steps = c.posterior_steps if posterior_steps is None else posterior_steps
        if env.num_envs != len(slots):
            raise ValueError(f"collect needs one sub-environment per slot: {env.num_envs} for {len(slots)} slots")
        if getattr(env, "episode_length", c.episode_length) != c.episode_length:
            raise ValueError(f"the env's episodes last {env.episode_length} steps, the config says {c.episode_length}")
        env.set_tasks(tasks)
        self.context.clear(slots)
        if c.clear_replay:
            self.replay.clear(slots)
        generator, n = self.generators["collect"], len(slots)
        returns = []
        for _ in range(prior_steps // c.episode_length):
            rows, episode_returns = self._run_episode(env, self._sample_z(n, generator), generator)
            self.replay.add(slots, rows)
            self.context.add(slots, rows[..., : self.context_width])
            returns.append(episode_returns)
        belief = None  # the first posterior-phase episode acts on a prior z, as PEARL's collect_data
        for _ in range(posterior_steps // c.episode_length):
            rows, episode_returns = self._run_episode(env, self._sample_z(n, generator, belief), generator)
            self.replay.add(slots, rows)
            returns.append(episode_returns)
            belief = self.infer_posterior(self.context.sample(slots, c.context_batch, generator))
        self.env_steps += n * (prior_steps + posterior_steps)
        self.timers["collect"] += time.perf_counter() - start
        return np.stack(returns, axis=1)

    @torch.no_grad()
    def test_returns(self, env, tasks: np.ndarray, seed: int) -> np.ndarray:
        """The test protocol's episode returns ``(n, 3)`` on ``tasks`` (one per sub-environment of ``env``): three
        deterministic episodes, the first two on z from the prior, the third on z from the posterior of the first
        two episodes' transitions; z drawn from a generator seeded with ``seed`` (training's streams untouched)."""
        generator = torch.Generator().manual_seed(int(seed))
        env.set_tasks(tasks)
        n = env.num_envs
        returns, context, belief = [], [], None
        for episode in range(TEST_EPISODES):
            if episode == TEST_PRIOR_EPISODES:
                belief = self.infer_posterior(torch.cat(context, dim=1))
            rows, episode_returns = self._run_episode(env, self._sample_z(n, generator, belief), None)
            context.append(rows[..., : self.context_width])
            returns.append(episode_returns)
        return np.stack(returns, axis=1)

    # ------------------------------------------------------------------------------------------------ training

    def choose_slots(self, k: int | None = None) -> np.ndarray:
        """``k`` distinct slots (default ``tasks_per_iteration``), uniformly at random, sorted."""
        k = self.config.tasks_per_iteration if k is None else k
        return np.sort(self.rng.choice(self.config.num_slots, size=k, replace=False))

    def train(self, steps: int | None = None, slot_weights=None) -> dict[str, float]:
        """``steps`` gradient steps (default ``gradient_steps``), each on ``meta_batch`` slots drawn uniformly with
        replacement; ``slot_weights`` ``(num_slots,)`` weight each slot's losses (all ones when None). A step whose
        drawn slots all have weight 0 trains nothing (counted in :attr:`skipped_steps`). Returns the mean losses
        (:data:`LOSSES`) over the steps taken, and ``trained_steps``."""
        c = self.config
        steps = c.gradient_steps if steps is None else steps
        weights = np.ones(c.num_slots) if slot_weights is None else np.asarray(slot_weights, dtype=np.float64)
        if weights.shape != (c.num_slots,) or not np.all(np.isfinite(weights)) or np.any(weights < 0):
            raise ValueError(f"slot_weights must be {c.num_slots} finite non-negative numbers, got {slot_weights!r}")
        start = time.perf_counter()
        totals, taken = None, 0
        for _ in range(steps):
            slots = self.rng.integers(c.num_slots, size=c.meta_batch)
            if not weights[slots].any():
                self.skipped_steps += 1
                continue
            losses = self.gradient_step(slots, weights[slots])
            totals = losses if totals is None else totals + losses
            taken += 1
        self.timers["train"] += time.perf_counter() - start
        if totals is None:
            return {"trained_steps": 0}
        means = (totals / taken).tolist()  # one device synchronisation per call
        if not np.all(np.isfinite(means)):
            raise FloatingPointError(f"PEARL after {self.gradient_steps} gradient steps: non-finite losses {means}")
        return {**dict(zip(LOSSES, means)), "trained_steps": taken}

    def gradient_step(self, slots, weights) -> torch.Tensor:
        """One SAC step on ``slots`` with per-slot ``weights`` (the order of the module docstring, step 4); returns
        the detached losses in the order of :data:`LOSSES`."""
        c, g, device = self.config, self.generators["train"], self.device
        m, b, obs_dim, act_dim = len(slots), c.batch_size, self.obs_dim, self.action_dim
        context = self.context.sample(slots, c.context_batch, g)
        batch = self.replay.sample(slots, b, g)
        w = torch.as_tensor(np.asarray(weights), dtype=torch.float32, device=device)
        obs, actions = batch[..., :obs_dim], batch[..., obs_dim : obs_dim + act_dim]
        rewards = batch[..., obs_dim + act_dim]
        next_obs, terminals = batch[..., obs_dim + act_dim + 1 : -1], batch[..., -1]

        mean, variance = self.infer_posterior(context)
        z = self._sample_z(m, g, (mean, variance))  # reparameterised: the encoder's gradient path
        z_batch = z[:, None, :].expand(m, b, c.latent_dim)
        z_fixed = z_batch.detach()
        policy_mean, policy_log_std = self.policy.distribution(obs, z_fixed)
        noise = self._normal((m, b, act_dim), g)
        new_actions, log_pi, _ = TanhGaussianPolicy.sample(policy_mean, policy_log_std, noise)
        q1, q2 = self.q1(obs, actions, z_batch)[..., 0], self.q2(obs, actions, z_batch)[..., 0]
        v = self.v(obs, z_fixed)[..., 0]
        with torch.no_grad():
            target = q_target(rewards, terminals, self.target_v(next_obs, z_fixed)[..., 0], c.gamma, c.reward_scale)

        # the encoder and the Q networks: KL + Q loss
        kl = kl_to_standard_normal(mean, variance)
        q_l = q_loss(q1, q2, target, w)
        critic = kl_loss(kl, w, c.kl_weight) + q_l
        self.optimizers["encoder"].zero_grad()
        self.optimizers["q"].zero_grad()
        critic.backward()
        self.optimizers["q"].step()
        self.optimizers["encoder"].step()

        # V, against the updated Q networks; then the target's soft update
        min_q = torch.minimum(self.q1(obs, new_actions, z_fixed), self.q2(obs, new_actions, z_fixed))[..., 0]
        alpha = 1.0 if self.log_alpha is None else self.log_alpha.detach().exp()
        v_loss = value_loss(v, min_q, alpha * log_pi, w)
        self.optimizers["v"].zero_grad()
        v_loss.backward()
        self.optimizers["v"].step()
        soft_update(self.target_v, self.v, c.tau)

        # the policy (its gradient also reaches the Q networks' grads, which the next step zeroes first)
        pi_loss = policy_loss(
            alpha * log_pi, min_q, policy_mean, policy_log_std, w, c.policy_mean_reg, c.policy_std_reg
        )
        self.optimizers["policy"].zero_grad()
        pi_loss.backward()
        self.optimizers["policy"].step()
        if self.log_alpha is not None:  # SAC v2: the temperature follows the policy's entropy
            self.optimizers["temperature"].zero_grad()
            temperature_loss(self.log_alpha, log_pi, -float(self.action_dim), w).backward()
            self.optimizers["temperature"].step()
        self.gradient_steps += 1
        mean_kl = (w * kl).sum() / w.sum()
        return torch.stack([q_l, v_loss, pi_loss, mean_kl]).detach()

    # ------------------------------------------------------------------------------------------------ state

    def _modules(self) -> dict[str, torch.nn.Module]:
        return {
            "encoder": self.encoder,
            "q1": self.q1,
            "q2": self.q2,
            "v": self.v,
            "target_v": self.target_v,
            "policy": self.policy,
        }

    def state_dict(self, include_buffer: bool = True) -> dict:
        """Everything needed to continue bit-identically (tensors on the CPU); the replay and encoder buffers only
        if ``include_buffer``."""
        cpu = lambda state: {k: v.detach().cpu().clone() for k, v in state.items()}  # noqa: E731
        return {
            "networks": {name: cpu(module.state_dict()) for name, module in self._modules().items()},
            "optimizers": {
                name: {k: v.cpu() if torch.is_tensor(v) else v for k, v in opt.state_dict().items()}
                for name, opt in self.optimizers.items()
            },
            "generators": {name: g.get_state() for name, g in self.generators.items()},
            "log_alpha": None if self.log_alpha is None else self.log_alpha.detach().cpu().clone(),
            "rng": copy.deepcopy(self.rng.bit_generator.state),
            "counters": {
                "gradient_steps": self.gradient_steps,
                "skipped_steps": self.skipped_steps,
                "env_steps": self.env_steps,
            },
            "timers": dict(self.timers),
            "buffers": {"replay": self.replay.state_dict(), "context": self.context.state_dict()}
            if include_buffer
            else None,
        }

    def load_state_dict(self, state: dict) -> None:
        for name, module in self._modules().items():
            module.load_state_dict(state["networks"][name])
        if (self.log_alpha is None) != (state.get("log_alpha") is None):
            raise ValueError("the state is of an agent with a different learned_temperature setting")
        if self.log_alpha is not None:
            with torch.no_grad():
                self.log_alpha.copy_(state["log_alpha"])
        for name, opt in self.optimizers.items():
            opt.load_state_dict(state["optimizers"][name])
        for name, g in self.generators.items():
            g.set_state(state["generators"][name])
        self.rng.bit_generator.state = state["rng"]
        counters = state["counters"]
        self.gradient_steps, self.skipped_steps = int(counters["gradient_steps"]), int(counters["skipped_steps"])
        self.env_steps = int(counters["env_steps"])
        self.timers = dict(state["timers"])
        if state["buffers"] is not None:
            self.replay.load_state_dict(state["buffers"]["replay"])
            self.context.load_state_dict(state["buffers"]["context"])
