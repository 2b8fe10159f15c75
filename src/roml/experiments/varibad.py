"""What every VariBAD experiment shares: the run configuration's common fields and the training loop.

One iteration of :meth:`VariBADExperiment.run` (Section 4-5 of the paper; Definition 2: the meta-algorithm only
picks the tasks and their training weights):

1. ``batch = sampler.sample(num_envs)``: one task per environment of the vector env;
2. :meth:`roml.algos.varibad.VariBAD.collect` runs one BAMDP (``episodes_per_task`` episodes) per environment;
3. the sampler observes each task's score (the mean of its episode returns) and returns the training weights;
4. :meth:`roml.algos.varibad.VariBAD.update` trains PPO (weighted) and the VAE.

Every ``eval_every`` iterations (and at the end) the deterministic policy runs ``n_valid_tasks`` fixed tasks (the
``valid_*`` columns of ``progress.csv``); checkpoints hold the agent, the sampler, the environment's generator and
the log rows, so a killed run resumes bit-identically. After training, the experiment's own :meth:`test` writes
``test.csv`` and the loop writes ``summary.json``.

Model selection. The final model is the one reported, as in the paper's Tables 1-2. With ``test_best_valid`` the
loop also keeps the two best-validation models (highest validation mean, highest validation CVaR) and tests them
after the final one, as the authors' MuJoCo analysis notebooks also looked at them. Their test mean and CVaR join
``summary.json`` as
``best_mean_model_*`` and ``best_cvar_model_*`` (with the frames at which they were saved); their test tables are
``test_best_mean.csv`` and ``test_best_cvar.csv``.

An experiment subclass says which environment and task family it uses (:meth:`task_family`, and :meth:`make_env`:
a vector env with roml's task API, :class:`roml.envs.task_api.TaskVecEnv`), how it evaluates fixed tasks
(:meth:`evaluate`), what it adds to a progress row (:meth:`train_extras`) and how it tests.
:mod:`roml.experiments.khazad_dum` and :mod:`roml.experiments.mujoco` are the two.
"""

from __future__ import annotations

import math
import time
from abc import abstractmethod
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from roml.algos.varibad.config import VariBADConfig
from roml.experiments.base import Experiment, RunConfig
from roml.experiments.config import AT_LEAST_ONE, NON_NEGATIVE, Part
from roml.experiments.results import RunDir
from roml.experiments.samplers import SamplerConfig, history_frame, make_sampler
from roml.risk import cvar
from roml.tasks import TaskFamily

if TYPE_CHECKING:  # pandas loads where a table is written, not for `roml list`
    import pandas as pd

__all__ = ["VariBADEval", "VariBADExperiment", "VariBADLoop", "VariBADRunConfig", "return_metrics", "test_table"]


@dataclass(frozen=True)
class VariBADLoop(Part):
    """A VariBAD run's training loop (the ``loop`` part)."""

    frames: int = 5_000_000
    """Environment frames of training."""
    checkpoint_every: int = 100
    """Iterations between checkpoints."""

    limits = dict.fromkeys(("frames", "checkpoint_every"), AT_LEAST_ONE)


@dataclass(frozen=True)
class VariBADEval(Part):
    """A VariBAD run's validation and test (the ``eval`` part)."""

    n_valid_tasks: int = 1000
    """Fixed validation tasks, run every ``eval_every`` iterations."""
    eval_every: int = 50
    """Iterations between validations (the authors' eval_interval)."""
    n_test_tasks: int = 1000
    """Fixed test tasks, drawn once from the original distribution."""
    test_seed: int = 2
    """Seed of the test tasks and of the test episodes' randomness (independent of the training seed); the
    validation tasks use ``test_seed + 1``."""
    test_best_valid: bool = False
    """Also test the best-validation models (see the module docstring)."""

    limits = {**dict.fromkeys(("n_valid_tasks", "eval_every", "n_test_tasks"), AT_LEAST_ONE), "test_seed": NON_NEGATIVE}


@dataclass(frozen=True)
class VariBADRunConfig(RunConfig):
    """A VariBAD run: the sampler's settings, VariBAD's (:class:`roml.algos.varibad.VariBADConfig`; its defaults
    are the Khazad-Dum column of the authors' table), the loop's and the evaluation's. An experiment's configuration
    sets the defaults of the parts to its paper settings."""

    episode_length: ClassVar[int]
    """Steps per episode of the experiment's environment (not a setting: fixed by the environment)."""

    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    varibad: VariBADConfig = field(default_factory=VariBADConfig)
    loop: VariBADLoop = field(default_factory=VariBADLoop)
    eval: VariBADEval = field(default_factory=VariBADEval)

    def __post_init__(self):
        if self.varibad.total_iterations is not None:
            raise ValueError("setting varibad.total_iterations is not a run setting: it follows from loop.frames")

    def varibad_config(self) -> VariBADConfig:
        """The :class:`roml.algos.varibad.VariBADConfig` of this run: the ``varibad`` part, with
        ``total_iterations`` (what ``anneal_lr`` anneals over) the run's iterations."""
        return replace(self.varibad, total_iterations=self.iterations)

    @property
    def frames_per_iteration(self) -> int:
        return self.varibad.num_envs * self.varibad.episodes_per_task * self.episode_length

    @property
    def iterations(self) -> int:
        return math.ceil(self.loop.frames / self.frames_per_iteration)


class VariBADExperiment(Experiment):
    """An experiment that trains VariBAD under a task sampler (see the module docstring)."""

    methods = ("varibad", "cvar-ml", "roml", "naive")
    reference_methods = ("cesor", "paired")
    method_presets = dict.fromkeys(reference_methods, {"varibad": {"belief": False}})  # not meta-learners: plain PPO
    score_label = "task return"

    # ---- what a subclass provides
    @abstractmethod
    def task_family(self) -> TaskFamily:
        """The task family; its ``phi0`` is the original task distribution."""

    @property
    def phi_names(self) -> tuple[str, ...]:
        """Names of the entries of the family's ``phi`` (the ``phi_*`` columns of ``sampler.csv``)."""
        return self.task_family().names

    @abstractmethod
    def make_env(self, num_envs: int, config: VariBADRunConfig):
        """A vector env of ``num_envs`` environments with ``config``'s environment options (unseeded; the loop
        seeds it with ``reset(seed=...)``)."""

    def evaluation_tasks(self, n: int, seed: int) -> np.ndarray:
        """``n`` tasks ``(n, d)`` from the original distribution, drawn with ``seed`` alone."""
        family = self.task_family()
        return family.sample(family.phi0, n, np.random.default_rng(seed))

    @abstractmethod
    def evaluate(self, agent, tasks: np.ndarray, seed: int, config: VariBADRunConfig) -> np.ndarray:
        """The deterministic policy's task scores ``(n,)`` on fixed ``tasks`` (``(n, d)``), randomness from
        ``seed``, in ``config``'s environment."""

    def train_extras(self, batch) -> dict[str, float]:
        """Extra columns of an iteration's progress row, after the train mean and CVaR."""
        return {}

    @abstractmethod
    def test(self, config, agent, run_dir: RunDir, model: str = "final") -> dict[str, float]:
        """Test ``agent`` on the fixed test tasks; write its test table (``test.csv`` for the final model,
        ``test_<model>.csv`` for another, and any other files named the same way); return the test metrics."""

    # ---- the loop
    def run(self, config: VariBADRunConfig, run_dir: RunDir, progress) -> dict:
        training = self._training(config, run_dir)
        agent, sampler, env = training.agent, training.sampler, training.env
        valid_tasks = self.evaluation_tasks(config.eval.n_valid_tasks, config.eval.test_seed + 1)
        clock = time.perf_counter()
        total, per_iteration = config.iterations, config.frames_per_iteration
        progress(training.start * per_iteration, total * per_iteration)
        for iteration in range(training.start, total):
            batch = sampler.sample(config.varibad.num_envs)
            rollout = agent.collect(env, batch.tasks)
            scores = rollout.task_scores
            stats = agent.update(rollout, sampler.observe(batch, scores))
            row = self._progress_row(config, iteration, training, clock, scores, batch, stats)
            last = iteration + 1 == total
            if (iteration + 1) % config.eval.eval_every == 0 or last:
                row.update(self._validate(config, agent, valid_tasks, row["frames"], training.best))
            training.rows.append(row)
            progress(row["frames"], total * per_iteration)
            if (iteration + 1) % config.loop.checkpoint_every == 0 or last:
                elapsed = training.elapsed + time.perf_counter() - clock
                training.checkpoint(run_dir, iteration + 1, elapsed, last, self.phi_names)
        metrics = self.test(config, agent, run_dir)
        metrics.update(self._test_best_models(config, agent, run_dir, training.best))  # training over: agent reloaded
        return run_dir.write_summary(config, config.eval.n_test_tasks, metrics)

    def _training(self, config: VariBADRunConfig, run_dir: RunDir) -> _Training:
        """The run's sampler, environment and agent, seeded from ``config.seed`` and resumed from the run's
        checkpoint if it has one."""
        from roml.algos.varibad import VariBAD

        sampler_seed, env_seed, agent_seed = np.random.SeedSequence(config.seed).spawn(3)
        if config.method == "paired":
            sampler = self._paired_sampler(config, sampler_seed)
        else:
            sampler = make_sampler(config, self.task_family(), sampler_seed, baseline="varibad")
        env = self.make_env(config.varibad.num_envs, config)
        env.reset(seed=int(env_seed.generate_state(1)[0]))
        training = _Training(sampler, env, VariBAD.for_env(env, config.varibad_config(), agent_seed))
        state = run_dir.load_checkpoint()
        if state is not None:
            training.resume(state)
        return training

    def _paired_sampler(self, config: VariBADRunConfig, seed: np.random.SeedSequence):
        """PAIRED's adversary and antagonist (:class:`roml.algos.paired.PairedSampler`): the antagonist is an
        agent like the protagonist, on its own environment; it runs as many frames as the protagonist (the run's
        ``frames`` count the protagonist's)."""
        from roml.algos.paired import PairedSampler
        from roml.algos.varibad import VariBAD

        adversary_seed, env_seed, agent_seed = seed.spawn(3)
        env = self.make_env(config.varibad.num_envs, config)
        env.reset(seed=int(env_seed.generate_state(1)[0]))
        antagonist = VariBAD.for_env(env, config.varibad_config(), agent_seed)
        return PairedSampler(self.task_family(), antagonist, env, seed=adversary_seed)

    def _progress_row(self, config, iteration: int, training: _Training, clock: float, scores, batch, stats) -> dict:
        """The ``progress.csv`` row of an iteration (0-based ``iteration``), without the validation columns."""
        now = time.perf_counter()
        done = iteration + 1 - training.start
        return {
            "iteration": iteration + 1,
            "frames": (iteration + 1) * config.frames_per_iteration,
            "wall_time": training.elapsed + now - clock,
            "steps_per_s": done * config.frames_per_iteration / max(now - clock, 1e-9),
            "train_mean_return": float(scores.mean()),
            "train_cvar_return": cvar(scores, config.sampler.alpha),
            **self.train_extras(batch),
            **{k: v for k, v in stats.items() if k != "trained_tasks"},
            **getattr(training.sampler, "last_stats", {}),  # PAIRED: regret, the antagonist's return and losses
        }

    def _validate(self, config, agent, valid_tasks: np.ndarray, frames: int, best: dict) -> dict[str, float]:
        """The validation columns of a progress row (mean and CVaR return on the fixed validation tasks); with
        ``test_best_valid``, a snapshot of the agent replaces ``best[criterion]`` where it validates higher."""
        valid = self.evaluate(agent, valid_tasks, config.eval.test_seed + 1, config)
        row = {"valid_mean_return": float(valid.mean()), "valid_cvar_return": cvar(valid, config.sampler.alpha)}
        if config.eval.test_best_valid:
            for criterion in ("mean", "cvar"):
                score = row[f"valid_{criterion}_return"]
                if criterion not in best or score > best[criterion]["score"]:
                    best[criterion] = {
                        "score": score,
                        "frames": frames,
                        "agent": agent.state_dict(include_buffer=False),
                    }
        return row

    def _test_best_models(self, config, agent, run_dir: RunDir, best: dict) -> dict[str, float]:
        """Test each best-validation snapshot (loaded into ``agent``): its frames, test mean and CVaR return."""
        metrics: dict[str, float] = {}
        for criterion, model in best.items():
            agent.load_state_dict(model["agent"])
            selected = self.test(config, agent, run_dir, model=f"best_{criterion}")
            metrics[f"best_{criterion}_model_frames"] = float(model["frames"])
            metrics.update({f"best_{criterion}_model_{key}": selected[key] for key in ("mean_return", "cvar_return")})
        return metrics


def test_table(tasks: dict[str, np.ndarray], episode_returns: np.ndarray) -> pd.DataFrame:
    """``test.csv``'s leading columns: the task parameters (``tasks``: column name -> ``(n,)`` values), the return
    of every episode (``return_0``, ...; ``episode_returns`` is ``(n, K)``) and the task return (their mean, the
    paper's R(Lambda))."""
    import pandas as pd

    table = pd.DataFrame(tasks)
    for episode in range(episode_returns.shape[1]):
        table[f"return_{episode}"] = episode_returns[:, episode]
    table["task_return"] = episode_returns.mean(axis=1)
    return table


def return_metrics(episode_returns: np.ndarray, alpha: float) -> dict[str, float]:
    """The test metrics of ``(n, K)`` episode returns: the mean and CVaR_alpha over tasks of the task return, and
    per episode index ``k = 1..K`` the mean and CVaR of the k-th episode's return (``mean_return@k``,
    ``cvar_return@k``: how fast the agent adapts)."""
    scores = episode_returns.mean(axis=1)
    metrics = {"mean_return": float(scores.mean()), "cvar_return": cvar(scores, alpha)}
    for episode in range(episode_returns.shape[1]):
        returns = episode_returns[:, episode]
        metrics[f"mean_return@{episode + 1}"] = float(returns.mean())
        metrics[f"cvar_return@{episode + 1}"] = cvar(returns, alpha)
    return metrics


@dataclass
class _Training:
    """What a VariBAD run trains and carries across checkpoints: sampler, environment, agent, the progress rows,
    the best-validation snapshots (criterion -> ``{"score", "frames", "agent"}``), the first iteration to run and the
    wall time spent before it."""

    sampler: Any
    env: Any
    agent: Any
    rows: list[dict[str, Any]] = field(default_factory=list)
    best: dict[str, dict[str, Any]] = field(default_factory=dict)
    start: int = 0
    elapsed: float = 0.0

    def resume(self, state: dict) -> None:
        """Continue from a checkpoint written by :meth:`checkpoint`."""
        self.agent.load_state_dict(state["agent"])
        self.sampler.load_state_dict(state["sampler"])
        self.env.np_random.bit_generator.state = state["env_rng"]
        self.rows, self.start, self.elapsed = state["progress"], state["iteration"], state["elapsed"]
        self.best = state.get("best", {})

    def checkpoint(self, run_dir: RunDir, iteration: int, elapsed: float, final: bool, phi_names) -> None:
        """Write the progress files and the checkpoint after ``iteration`` iterations (a finished run keeps no VAE
        buffer)."""
        run_dir.save_progress(
            self.rows,
            history_frame(self.sampler.history, phi_names),
            {
                "iteration": iteration,
                "elapsed": elapsed,
                "agent": self.agent.state_dict(include_buffer=not final),
                "sampler": self.sampler.state_dict(),
                "env_rng": self.env.np_random.bit_generator.state,
                "progress": self.rows,
                "best": self.best,
            },
        )
