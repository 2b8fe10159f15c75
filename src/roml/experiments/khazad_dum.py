"""Khazad-Dum with VariBAD: the meta-RL experiment of Section 6.1 and App. D.1 (the paper's Fig. 3, 8 and 10).

Methods, all with VariBAD's hyper-parameters unchanged:

=========  ==========================================================================================
varibad    the risk-neutral baseline: rain ``tau ~ Exp(mean 0.1)``, every task trained on
cvar-ml    CVaR-ML (Algorithm 1), alpha = 0.01: only the worst task of each iteration's 32 is trained on
roml       RoML (Algorithm 2), alpha = 0.01, ``Exponential`` family (phi0 = 0.1), beta 0.05, nu 0,
           soft update 0.5, a CEM update every 128 tasks (4 iterations)
naive      the fixed-pool sampler of App. D.4 (the hardest 1% of the first 100 tasks)
=========  ==========================================================================================

A task is a BAMDP of 4 episodes of 32 steps; its score is the mean episode return. Each iteration runs 32 tasks
(4096 frames). Validation: every ``eval_every`` iterations the deterministic policy runs ``n_valid_tasks`` fixed
tasks. Test: ``n_test_tasks`` tasks drawn once from the original distribution (seed ``test_seed``, the same start
positions and rain noise for every method and training seed), deterministic actions; per run the mean and the
CVaR_0.01 of the task return, and which path the episodes took. The final model is tested (as the authors did for
Khazad-Dum). Besides the standard files, a run writes ``episodes.csv``: the positions of every test episode of
the ``n_shown_tasks`` rainiest test tasks, for the paper's Fig. 3.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from roml.envs.khazad_dum import EPISODE_LENGTH, RAIN_MEAN, KhazadDumVecEnv
from roml.experiments.base import Experiment, Metric
from roml.experiments.results import RunDir
from roml.experiments.samplers import SamplerConfig, history_frame, make_sampler
from roml.risk import cvar
from roml.tasks import Exponential

PATHS = ("short", "long", "fell", "reached_goal")
"""The per-episode path flags of the test episodes (the env's ``info``), reported as fractions of episodes."""


@dataclass(frozen=True)
class KhazadDumConfig(SamplerConfig):
    """One Khazad-Dum run. Defaults are the paper's settings (App. D.1, reference section 5, KD column); VariBAD
    settings not listed here keep :class:`roml.algos.varibad.VariBADConfig`'s defaults, which are the same."""

    frames: int = 5_000_000
    """Environment frames of training (the authors ran 8e6; the paper's curves flatten well before 5e6)."""
    num_envs: int = 32
    """Tasks per iteration, one per environment."""
    episodes_per_task: int = 4
    """Episodes of a task (the BAMDP); the belief carries across them."""
    policy_lr: float = 7e-4
    """Adam learning rate of the policy."""
    entropy_coef: float = 0.05
    """PPO's entropy bonus."""
    gamma: float = 0.999
    """Discount factor."""
    tail_masking: str = "loss"
    """How CVaR-ML's non-tail tasks leave PPO: ``"loss"`` (ours) or ``"advantages"`` (the authors' ``bad_masks``;
    see :class:`roml.algos.varibad.VariBADConfig`)."""
    latent_dim: int = 5
    """Dimension of VariBAD's task embedding."""
    vae_buffer_size: int = 10_000
    """Trajectories kept for the VAE."""
    precollect_frames: int = 5000
    """Frames collected before the first update."""
    alpha: float = 0.01
    """Robustness level of CVaR-ML and RoML, and of the reported CVaR."""
    beta: float = 0.05
    """RoML: the CEM quantile (App. D.1)."""
    cem_batch_size: int = 128
    """RoML: tasks per CEM update (4 iterations, as the authors)."""
    n_valid_tasks: int = 1000
    """Fixed validation tasks, run every ``eval_every`` iterations."""
    eval_every: int = 50
    """Iterations between validations (the authors' eval_interval)."""
    n_test_tasks: int = 3000
    """Fixed test tasks, drawn once from the original distribution."""
    test_seed: int = 2
    """Seed of the test tasks and of the test episodes' starts and noise (independent of the training seed)."""
    n_shown_tasks: int = 8
    """Test tasks (the rainiest) whose episodes are saved in ``episodes.csv``."""
    checkpoint_every: int = 100
    """Iterations between checkpoints."""

    def __post_init__(self):
        from roml.algos.varibad import VariBADConfig

        VariBADConfig.from_fields(self)  # a bad VariBAD setting fails here, before any run folder is made

    @property
    def frames_per_iteration(self) -> int:
        return self.num_envs * self.episodes_per_task * EPISODE_LENGTH

    @property
    def iterations(self) -> int:
        return math.ceil(self.frames / self.frames_per_iteration)


def rain_family() -> Exponential:
    """The task family of Khazad-Dum: rain ``tau ~ Exp(mean phi)``, ``phi0 = 0.1`` (App. D.1)."""
    return Exponential(RAIN_MEAN, names=("tau",))


def evaluation_tasks(n: int, seed: int) -> np.ndarray:
    """``n`` tasks from the original distribution, drawn with ``seed`` alone."""
    family = rain_family()
    return family.sample(family.phi0, n, np.random.default_rng(seed))[:, 0]


def run_episodes(agent, tasks: np.ndarray, seed: int, observer_tasks: np.ndarray | None = None):
    """The deterministic policy on ``tasks`` (one environment each, seeded with ``seed``).

    Returns the rollout and, with ``observer_tasks`` (indices), the positions ``(len, K, 33, 2)`` of those tasks'
    episodes (start plus 32 steps).
    """
    env = KhazadDumVecEnv(len(tasks))
    env.reset(seed=seed)
    positions = None
    observer = None
    if observer_tasks is not None:
        k = agent.config.episodes_per_task
        positions = np.zeros((len(observer_tasks), k, EPISODE_LENGTH + 1, 2))

        def observer(episode: int, step: int) -> None:
            positions[:, episode, step] = env.state_xy[observer_tasks]

    rollout = agent.collect(env, tasks, deterministic=True, observer=observer)
    return rollout, positions


class KhazadDumExperiment(Experiment):
    name = "khazad-dum"
    description = "Khazad-Dum with VariBAD (Section 6.1, App. D.1)"
    methods = ("varibad", "cvar-ml", "roml", "naive")
    config_class = KhazadDumConfig
    presets = {
        "smoke": dict(frames=12 * 512, num_envs=8, episodes_per_task=2, precollect_frames=600, vae_buffer_size=64,
                      cem_batch_size=16, pool_size=16, n_valid_tasks=50, eval_every=4, n_test_tasks=100,
                      n_shown_tasks=2, checkpoint_every=5),
        "quick": dict(frames=1_000_000, n_test_tasks=3000, eval_every=25),
        "paper": {},
    }
    table_metrics = (
        Metric("mean_return", "Mean return", higher_is_better=True),
        Metric("cvar_return", "CVaR_0.01 return", higher_is_better=True),
        Metric("short", "Short path (episodes)", higher_is_better=False),
        Metric("long", "Long path (episodes)", higher_is_better=True),
        Metric("fell", "Fell (episodes)", higher_is_better=False),
    )
    curve_xlabel = "episode of the task"
    phi0_line = RAIN_MEAN
    score_label = "task return"
    report_figures = {"episodes": "roml.figures:khazad_dum_episodes"}

    def run(self, config: KhazadDumConfig, run_dir: RunDir, progress) -> dict:
        from roml.algos.varibad import VariBAD, VariBADConfig

        sampler_seed, env_seed, agent_seed = np.random.SeedSequence(config.seed).spawn(3)
        family = rain_family()
        sampler = make_sampler(config, family, sampler_seed, baseline="varibad")
        env = KhazadDumVecEnv(config.num_envs)
        env.reset(seed=int(env_seed.generate_state(1)[0]))
        agent = VariBAD.for_env(env, VariBADConfig.from_fields(config), agent_seed)
        valid_tasks = evaluation_tasks(config.n_valid_tasks, config.test_seed + 1)
        rows: list[dict] = []
        start, elapsed = 0, 0.0
        state = run_dir.load_checkpoint()
        if state is not None:
            agent.load_state_dict(state["agent"])
            sampler.load_state_dict(state["sampler"])
            env.np_random.bit_generator.state = state["env_rng"]
            rows, start, elapsed = state["progress"], state["iteration"], state["elapsed"]

        def checkpoint(iteration: int, elapsed: float, final: bool) -> None:
            run_dir.save_progress(rows, history_frame(sampler.history, family.names), {
                "iteration": iteration,
                "elapsed": elapsed,
                "agent": agent.state_dict(include_buffer=not final),  # a finished run needs no VAE buffer
                "sampler": sampler.state_dict(),
                "env_rng": env.np_random.bit_generator.state,
                "progress": rows,
            })

        clock = time.perf_counter()
        total = config.iterations
        progress(start * config.frames_per_iteration, total * config.frames_per_iteration)
        for iteration in range(start, total):
            batch = sampler.sample(config.num_envs)
            rollout = agent.collect(env, batch.tasks[:, 0])
            scores = rollout.task_scores
            weights = sampler.observe(batch, scores)
            stats = agent.update(rollout, weights)
            now = time.perf_counter()
            frames = (iteration + 1) * config.frames_per_iteration
            row = {
                "iteration": iteration + 1,
                "frames": frames,
                "wall_time": elapsed + now - clock,
                "steps_per_s": (iteration + 1 - start) * config.frames_per_iteration / max(now - clock, 1e-9),
                "train_mean_return": float(scores.mean()),
                "train_cvar_return": cvar(scores, config.alpha),
                "train_mean_tau": float(batch.tasks.mean()),
                **{k: v for k, v in stats.items() if k != "trained_tasks"},
            }
            if (iteration + 1) % config.eval_every == 0 or iteration + 1 == total:
                valid, _ = run_episodes(agent, valid_tasks, config.test_seed + 1)
                row["valid_mean_return"] = float(valid.task_scores.mean())
                row["valid_cvar_return"] = cvar(valid.task_scores, config.alpha)
            rows.append(row)
            progress(frames, total * config.frames_per_iteration)
            if (iteration + 1) % config.checkpoint_every == 0 or iteration + 1 == total:
                checkpoint(iteration + 1, elapsed + time.perf_counter() - clock, final=iteration + 1 == total)
        return self._test(config, agent, run_dir)

    def _test(self, config: KhazadDumConfig, agent, run_dir: RunDir) -> dict:
        tasks = evaluation_tasks(config.n_test_tasks, config.test_seed)
        shown = np.sort(np.argsort(-tasks, kind="stable")[: config.n_shown_tasks])
        rollout, positions = run_episodes(agent, tasks, config.test_seed, shown)
        k = config.episodes_per_task
        table = pd.DataFrame({"tau": tasks})
        for episode in range(k):
            table[f"return_{episode}"] = rollout.episode_returns[:, episode]
        table["task_return"] = rollout.task_scores
        for episode, info in enumerate(rollout.episode_infos):
            table[f"path_{episode}"] = _path_names(info)
        run_dir.write_csv(run_dir.test_file, table)
        episodes = pd.DataFrame([
            {"task": int(task), "tau": float(tasks[task]), "episode": e, "step": s, "x": x, "y": y}
            for row, task in enumerate(shown) for e in range(k) for s, (x, y) in enumerate(positions[row, e])
        ])
        run_dir.write_csv(run_dir.path / "episodes.csv", episodes)
        metrics = {
            "mean_return": float(rollout.task_scores.mean()),
            "cvar_return": cvar(rollout.task_scores, config.alpha),
            **{path: float(np.mean([info[path] for info in rollout.episode_infos])) for path in PATHS},
        }
        for episode in range(k):  # the return of each episode of the task: how fast the agent adapts
            returns = rollout.episode_returns[:, episode]
            metrics[f"mean_return@{episode + 1}"] = float(returns.mean())
            metrics[f"cvar_return@{episode + 1}"] = cvar(returns, config.alpha)
        return run_dir.write_summary(config, config.n_test_tasks, metrics)


def _path_names(info: dict) -> list[str]:
    """The path of each episode: ``fell`` or ``goal`` and the bridge taken (``short``, ``long`` or neither)."""
    bridge = np.where(info["short"], "short", np.where(info["long"], "long", "none"))
    outcome = np.where(info["fell"], "fell", np.where(info["reached_goal"], "goal", "stuck"))
    return [f"{b}-{o}" for b, o in zip(bridge, outcome)]
