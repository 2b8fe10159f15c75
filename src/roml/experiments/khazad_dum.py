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

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from roml.envs.khazad_dum_spec import EPISODE_LENGTH, RAIN_MEAN
from roml.experiments.base import Metric
from roml.experiments.config import NON_NEGATIVE
from roml.experiments.results import RunDir
from roml.experiments.samplers import SamplerConfig
from roml.experiments.varibad import VariBADEval, VariBADExperiment, VariBADRunConfig, return_metrics, test_table
from roml.tasks import Exponential

if TYPE_CHECKING:  # the environment (numba) loads when a run makes one, not for the experiment's description
    from roml.envs.khazad_dum import KhazadDumVecEnv

PATHS = ("short", "long", "fell", "reached_goal")
"""The per-episode path flags of the test episodes (the env's ``info``), reported as fractions of episodes."""


@dataclass(frozen=True)
class KhazadDumEval(VariBADEval):
    """Khazad-Dum's validation and test (the ``eval`` part): 3000 test tasks, and the episodes of the rainiest
    saved."""

    n_test_tasks: int = 3000
    """Fixed test tasks, drawn once from the original distribution."""
    n_shown_tasks: int = 8
    """Test tasks (the rainiest) whose episodes are saved in ``episodes.csv``."""

    limits = {**VariBADEval.limits, "n_shown_tasks": NON_NEGATIVE}


@dataclass(frozen=True)
class KhazadDumConfig(VariBADRunConfig):
    """One Khazad-Dum run. Defaults are the paper's settings (App. D.1; docs/authors-code.md, section 5, KD
    column): VariBAD's defaults (:class:`roml.algos.varibad.VariBADConfig`), 5e6 frames (the authors ran 8e6, but
    the paper's curves flatten well before 5e6), and for the sampler alpha 0.01, beta 0.05 and a CEM update every
    128 tasks (4 iterations, as the authors)."""

    episode_length: ClassVar[int] = EPISODE_LENGTH
    sampler: SamplerConfig = field(default_factory=lambda: SamplerConfig(alpha=0.01, beta=0.05, cem_batch_size=128))
    eval: KhazadDumEval = field(default_factory=KhazadDumEval)


def run_episodes(agent, tasks: np.ndarray, seed: int, observer_tasks: np.ndarray | None = None):
    """The deterministic policy on ``tasks`` (one environment each, seeded with ``seed``).

    Returns the rollout and, with ``observer_tasks`` (indices), the positions ``(len, K, 33, 2)`` of those tasks'
    episodes (start plus 32 steps).
    """
    from roml.envs.khazad_dum import KhazadDumVecEnv

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


class KhazadDumExperiment(VariBADExperiment):
    """The Khazad-Dum experiment; the training loop is :class:`~roml.experiments.varibad.VariBADExperiment`'s."""

    name = "khazad-dum"
    description = "Khazad-Dum with VariBAD (Section 6.1, App. D.1)"
    config_class = KhazadDumConfig
    presets = {
        "smoke": {
            "loop": dict(frames=12 * 512, checkpoint_every=5),
            "varibad": dict(num_envs=8, episodes_per_task=2, precollect_frames=600, vae_buffer_size=64),
            "sampler": dict(cem_batch_size=16, pool_size=16),
            "eval": dict(n_valid_tasks=50, eval_every=4, n_test_tasks=100, n_shown_tasks=2),
        },
        "quick": {"loop": dict(frames=2_000_000), "eval": dict(n_test_tasks=3000, eval_every=25)},
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
    report_figures = {"episodes": "roml.report.experiment_figures:khazad_dum_episodes"}

    def task_family(self) -> Exponential:
        from roml.envs.khazad_dum import rain_family

        return rain_family()

    def make_env(self, num_envs: int, config: KhazadDumConfig | None = None) -> KhazadDumVecEnv:
        from roml.envs.khazad_dum import KhazadDumVecEnv

        return KhazadDumVecEnv(num_envs)

    def evaluate(self, agent, tasks: np.ndarray, seed: int, config: KhazadDumConfig | None = None) -> np.ndarray:
        rollout, _ = run_episodes(agent, tasks, seed)
        return rollout.task_scores

    def train_extras(self, batch) -> dict[str, float]:
        return {"train_mean_tau": float(batch.tasks.mean())}

    def test(self, config: KhazadDumConfig, agent, run_dir: RunDir, model: str = "final") -> dict[str, float]:
        import pandas as pd

        tasks = self.evaluation_tasks(config.eval.n_test_tasks, config.eval.test_seed)[:, 0]
        shown = np.sort(np.argsort(-tasks, kind="stable")[: config.eval.n_shown_tasks])
        rollout, positions = run_episodes(agent, tasks, config.eval.test_seed, shown)
        k = config.varibad.episodes_per_task
        table = test_table({"tau": tasks}, rollout.episode_returns)
        for episode, info in enumerate(rollout.episode_infos):
            table[f"path_{episode}"] = _path_names(info)
        run_dir.write_csv(run_dir.model_file("test", model), table)
        episodes = pd.DataFrame(
            [
                {"task": int(task), "tau": float(tasks[task]), "episode": e, "step": s, "x": x, "y": y}
                for row, task in enumerate(shown)
                for e in range(k)
                for s, (x, y) in enumerate(positions[row, e])
            ]
        )
        run_dir.write_csv(run_dir.model_file("episodes", model), episodes)
        return {
            **return_metrics(rollout.episode_returns, config.sampler.alpha),
            **{path: float(np.mean([info[path] for info in rollout.episode_infos])) for path in PATHS},
        }


def _path_names(info: dict) -> list[str]:
    """The path of each episode: ``fell`` or ``goal`` and the bridge taken (``short``, ``long`` or neither)."""
    bridge = np.where(info["short"], "short", np.where(info["long"], "long", "none"))
    outcome = np.where(info["fell"], "fell", np.where(info["reached_goal"], "goal", "stuck"))
    return [f"{b}-{o}" for b, o in zip(bridge, outcome)]
