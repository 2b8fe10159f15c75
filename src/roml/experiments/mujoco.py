"""The twelve MuJoCo experiments with VariBAD: Section 6.2 and App. D.2 of the paper (Tables 1-3, Fig. 4d, 9, 11, 12).

=====================  ==================  =========================================================
experiment             environment         paper frames (docs/authors-code.md, section 5)
=====================  ==================  =========================================================
half-cheetah-vel       HalfCheetahVel      3e7
half-cheetah-mass      HalfCheetahMass     3e7
half-cheetah-body      HalfCheetahBody     6e7
half-cheetah-10d-a/b/c HalfCheetah10D-a/b/c 8e7
humanoid-vel           HumanoidVel         3e7
humanoid-mass          HumanoidMass        3e7
humanoid-body          HumanoidBody        6e7
ant-goal               AntGoal             1e8
ant-mass               AntMass             1e8
ant-body               AntBody             7e7
=====================  ==================  =========================================================

Methods, all with VariBAD's hyper-parameters of the robot (:data:`roml.algos.varibad.PRESETS`) unchanged:

=========  ==========================================================================================
varibad    the risk-neutral baseline: tasks from the original distribution, every task trained on
cvar-ml    CVaR-ML (Algorithm 1), alpha = 0.05: only the worst task of each iteration is trained on
roml       RoML (Algorithm 2), alpha = 0.05, the environment's ``BetaBox`` / ``LogBetaBox`` / ``PolarDisc`` family
           (phi0 = 0.5 per coordinate), beta 0.2, nu 0.2, soft update 0.5, a CEM update every 128 tasks (512 for
           the 10-D tasks), as the authors' samplers (docs/authors-code.md, section 2)
naive      the fixed-pool sampler of App. D.4 (the 5 hardest of the first 100 tasks)
=========  ==========================================================================================

The six HalfCheetah experiments also run the meta-algorithms on PEARL, when named: ``pearl``, ``pearl-roml`` and
``pearl-cvar-ml`` (Table 1's PEARL rows; their configuration is :class:`roml.experiments.pearl.PEARLRunConfig` and
their loop :func:`roml.experiments.pearl.run`). Humanoid and Ant refuse them (the paper ran PEARL on HalfCheetah
only).

A task is a BAMDP of 2 episodes of 200 steps (:class:`roml.envs.mujoco.MujocoTaskVecEnv`); its score is the mean of
its two episode returns. Validation: every ``eval_every`` iterations the deterministic policy runs ``n_valid_tasks``
fixed tasks (about every 320k frames, 64 tasks; the authors ran 32 every 25 iterations). Test: ``n_test_tasks``
(1000) tasks drawn once from the original distribution with ``test_seed`` (the same tasks and start states for every
method and training seed), deterministic actions; per run the mean and CVaR_0.05 of the task return, and of each
episode's return. The final model is the one reported, as in the paper's Tables 1-2 (whose ± are standard errors
over 30 seeds); the two best-validation models (highest validation mean, highest validation CVaR) are tested too
(``best_mean_model_*``, ``best_cvar_model_*``), as the authors' analysis notebooks also looked at them, for every
method, so a comparison can hold a selection rule fixed.

Humanoid keeps 2 500 trajectories in its VAE buffer instead of the authors' 10 000: each holds 400 steps of a
349-float observation, and 10 000 of them (5.6 GB, copied twice by every checkpoint) do not fit next to a second run
in 23 GB of memory.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

import numpy as np

from roml.algos.varibad.config import PRESETS, VariBADConfig
from roml.envs.mujoco.catalog import ENVIRONMENTS, EPISODE_LENGTH, env_class, task_family
from roml.experiments.base import Metric
from roml.experiments.config import Part, flatten
from roml.experiments.registry import mujoco_experiment_name
from roml.experiments.results import RunDir
from roml.experiments.samplers import SamplerConfig
from roml.experiments.varibad import (
    VariBADEval,
    VariBADExperiment,
    VariBADLoop,
    VariBADRunConfig,
    return_metrics,
    test_table,
)
from roml.tasks import PolarDisc, TaskFamily

__all__ = ["EXPERIMENTS", "PAPER_FRAMES", "PEARL_METHODS", "MujocoConfig", "MujocoEnvOptions", "MujocoExperiment"]


@dataclass(frozen=True)
class MujocoEnvOptions(Part):
    """The environment's options (the ``env`` part; None: the environment's default), checked against the
    environment's own when a run overrides them (:meth:`MujocoExperiment.config`)."""

    observation: str | None = None
    """The ``observation`` option, where the environment has one (HalfCheetah: ``"authors"``, 20 numbers with the
    torso's position, or ``"v5"``, Gymnasium's 17)."""
    mass_physics: str | None = None
    """The ``mass_physics`` option, where the environment has one (the Mass and Body tasks: ``"authors"``, masses
    (and, but on Ant, the robot's radii) scaled, inertia and derived constants as compiled, or ``"density"``, mass
    and inertia scaled, constants recomputed)."""


@dataclass(frozen=True)
class MujocoConfig(VariBADRunConfig):
    """One MuJoCo run. The defaults are the HalfCheetah settings (docs/authors-code.md, section 5, HC column;
    App. D.2): VariBAD's HalfCheetah preset (:data:`roml.algos.varibad.PRESETS`), 3e7 frames, RoML with nu 0.2 and
    a CEM update every 128 tasks; each experiment's presets replace them with its robot's column, its own settings
    (:data:`_OWN`) and its frames."""

    episode_length: ClassVar[int] = EPISODE_LENGTH
    sampler: SamplerConfig = field(default_factory=lambda: SamplerConfig(nu=0.2, cem_batch_size=128))
    varibad: VariBADConfig = field(default_factory=lambda: VariBADConfig.preset("half-cheetah"))
    loop: VariBADLoop = field(default_factory=lambda: VariBADLoop(frames=30_000_000, checkpoint_every=50))
    eval: VariBADEval = field(default_factory=lambda: VariBADEval(n_valid_tasks=64, test_best_valid=True))
    env: MujocoEnvOptions = field(default_factory=MujocoEnvOptions)


EVAL_CHUNK = 250
"""Evaluation runs its fixed tasks on vector envs of at most this many environments (bounded memory)."""

_ROBOTS: dict[str, dict[str, Any]] = {  # per robot: VariBAD's column, then how often to validate and checkpoint
    "HalfCheetah": {"varibad": PRESETS["half-cheetah"], "eval": {"eval_every": 50}, "loop": {"checkpoint_every": 50}},
    "Humanoid": {
        "varibad": {**PRESETS["humanoid"], "vae_buffer_size": 2500},
        "eval": {"eval_every": 25},
        "loop": {"checkpoint_every": 25},
    },
    "Ant": {"varibad": PRESETS["ant"], "eval": {"eval_every": 100}, "loop": {"checkpoint_every": 100}},
}

PAPER_FRAMES: dict[str, float] = {
    "HalfCheetahVel": 3e7,
    "HalfCheetahMass": 3e7,
    "HalfCheetahBody": 6e7,
    "HalfCheetah10D-a": 8e7,
    "HalfCheetah10D-b": 8e7,
    "HalfCheetah10D-c": 8e7,
    "HumanoidVel": 3e7,
    "HumanoidMass": 3e7,
    "HumanoidBody": 6e7,
    "AntGoal": 1e8,
    "AntMass": 1e8,
    "AntBody": 7e7,
}
"""The authors' num_frames per environment (docs/authors-code.md, section 5)."""

_OWN: dict[str, dict[str, Any]] = {  # settings that differ from the robot's column
    "HalfCheetahVel": {"env.observation": "authors"},
    **{f"HalfCheetah10D-{key}": {"sampler.cem_batch_size": 512, "env.observation": "authors"} for key in "abc"},
    **{
        name: {"env.observation": "authors", "env.mass_physics": "authors"}
        for name in ("HalfCheetahMass", "HalfCheetahBody")
    },
    **{name: {"env.mass_physics": "authors"} for name in ("HumanoidMass", "HumanoidBody", "AntBody")},
    "AntMass": {
        "varibad.vae_subsample_elbos": 100,
        "varibad.vae_subsample_decodes": 100,
        "env.mass_physics": "authors",
    },
}
"""Per environment: its own settings, among them the authors' observation (HalfCheetah) and mass physics (the Mass
and Body tasks) where the environment offers them as options (see ``docs/architecture.md`` for what they changed;
Humanoid's and Ant's observations carry the same information as the authors', so they have no such option)."""

PEARL_METHODS = ("pearl", "pearl-roml", "pearl-cvar-ml")
"""The HalfCheetah experiments' ``extra_methods``: the baseline, RoML and CVaR-ML on PEARL (:mod:`roml.experiments.
pearl`, which this module imports only when a PEARL run is configured or run)."""
PEARL_ROBOT = "HalfCheetah"

EXPERIMENTS: dict[str, str] = {mujoco_experiment_name(env): env for env in ENVIRONMENTS}
"""Experiment name -> environment name."""

SMOKE = {
    "varibad": dict(
        num_envs=4, precollect_frames=800, vae_buffer_size=16, vae_subsample_elbos=20, vae_subsample_decodes=20
    ),
    "sampler": dict(cem_batch_size=8, pool_size=8),
    "eval": dict(n_valid_tasks=4, eval_every=3, n_test_tasks=20),
    "loop": dict(checkpoint_every=2),
}
"""Smoke scale (seconds; the tests): 3 iterations of 4 tasks (2 tasks for Humanoid), a tiny VAE buffer, 20 ELBO
terms x 20 decodes (Ant's paper setting decodes all 400 x 401), one validation on 4 tasks, 20 test tasks (8 for the
slower Humanoid and Ant)."""

QUICK: dict[str, dict[str, Any]] = {
    "HalfCheetah": {"loop.frames": 3_000_000},
    "Humanoid": {"loop.frames": 1_000_000},
    "Ant": {"loop.frames": 1_000_000, "varibad.vae_subsample_elbos": 100, "varibad.vae_subsample_decodes": 100},
}
"""Quick scale per robot: fewer frames (a tenth of HalfCheetah's 3e7; 1e6 for the slower Humanoid and Ant), the rest
as the paper, except that Ant subsamples 100 ELBO terms x 100 decodes (as the authors' Ant-Mass) instead of decoding
all 401 x 400 pairs of every trajectory, which on one CPU core costs about 3 s per VAE update (5 per iteration)."""


class MujocoExperiment(VariBADExperiment):
    """One of the twelve MuJoCo experiments (see the module docstring), by experiment name."""

    config_class = MujocoConfig
    table_metrics = (
        Metric("mean_return", "Mean return", higher_is_better=True),
        Metric("cvar_return", "CVaR_0.05 return", higher_is_better=True),
        Metric("best_mean_model_mean_return", "Mean return, best-valid-mean model", higher_is_better=True),
        Metric("best_cvar_model_cvar_return", "CVaR_0.05 return, best-valid-CVaR model", higher_is_better=True),
    )
    curve_xlabel = "episode of the task"
    phi0_line = 0.5
    report_figures = {"task_ranges": "roml.report.experiment_figures:returns_by_task_range"}

    def __init__(self, name: str):
        if name not in EXPERIMENTS:
            raise ValueError(f"unknown MuJoCo experiment {name!r}; choose from {', '.join(EXPERIMENTS)}")
        self.name = name
        self.env_name = env_name = EXPERIMENTS[name]
        self.robot = next(robot for robot in _ROBOTS if env_name.startswith(robot))
        pearl = self.robot == PEARL_ROBOT
        self.description = f"{env_name} with VariBAD{' and PEARL' if pearl else ''} (Section 6.2, App. D.2)"
        self.extra_methods = PEARL_METHODS if pearl else ()
        paper = {**flatten(_ROBOTS[self.robot]), **_OWN.get(env_name, {}), "loop.frames": int(PAPER_FRAMES[env_name])}
        smoke = {
            **flatten(SMOKE),
            **({"varibad.num_envs": 2} if self.robot == "Humanoid" else {}),
            **({"eval.n_test_tasks": 8} if self.robot != "HalfCheetah" else {}),
        }
        self.presets = {
            "smoke": {**paper, **smoke, "loop.frames": 3 * smoke["varibad.num_envs"] * 2 * EPISODE_LENGTH},
            "quick": {**paper, **QUICK[self.robot]},
            "paper": paper,
        }
        own = {k: v for k, v in _OWN.get(env_name, {}).items() if k.startswith(("sampler.", "env."))}
        self._pearl_own = own  # the PEARL runs share the environment's options and sampler settings

    def config_class_for(self, method: str) -> type:
        if method in PEARL_METHODS:
            from roml.experiments.pearl import PEARLRunConfig

            return PEARLRunConfig
        return self.config_class

    def preset_for(self, method: str, scale: str) -> dict[str, Any]:
        if method in PEARL_METHODS:
            from roml.experiments.pearl import SCALES

            return {**self._pearl_own, **SCALES[scale]}
        return self.presets[scale]

    def run(self, config, run_dir: RunDir, progress) -> dict:
        """VariBAD's loop (:meth:`VariBADExperiment.run`), or PEARL's (:func:`roml.experiments.pearl.run`) for the
        ``pearl*`` methods."""
        if config.method in PEARL_METHODS:
            from roml.experiments import pearl

            return pearl.run(self, config, run_dir, progress)
        return super().run(config, run_dir, progress)

    def task_family(self) -> TaskFamily:
        return task_family(self.env_name)

    @property
    def phi_names(self) -> tuple[str, ...]:
        family = self.task_family()
        return ("radius", "angle") if isinstance(family, PolarDisc) else family.names

    def config(self, method: str, seed: int, scale: str, overrides: dict[str, Any] | None = None) -> MujocoConfig:
        """As :meth:`Experiment.config`; environment options that ``overrides`` change are also checked against
        the environment's, so that a bad one fails before any run folder is made. The check imports the
        environment's module (``mujoco``, numba), so the presets' own options are left to the environment, which
        checks them when it is made (``roml list`` and ``roml report`` build preset configurations)."""
        if method in PEARL_METHODS and self.robot != PEARL_ROBOT:
            raise ValueError(
                f"{method} runs on the six HalfCheetah experiments only (the paper's PEARL rows), not on {self.name}"
            )
        config = super().config(method, seed, scale, overrides)
        if overrides and config.env != super().config(method, seed, scale).env:
            env_class(self.env_name).check_options(**self.env_options(config))
        return config

    @staticmethod
    def env_options(config: MujocoConfig) -> dict[str, str]:
        """The environment options that ``config`` sets (those of its ``env`` part that are not None)."""
        return {key: value for key, value in asdict(config.env).items() if value is not None}

    def make_env(self, num_envs: int, config: MujocoConfig):
        from roml.envs.mujoco.vector import MujocoTaskVecEnv

        return MujocoTaskVecEnv(self.env_name, num_envs, **self.env_options(config))

    def _run_fixed(self, agent, tasks: np.ndarray, seed: int, config: MujocoConfig) -> np.ndarray:
        """The deterministic policy's episode returns ``(n, K)`` on ``tasks``: chunks of at most
        :data:`EVAL_CHUNK` tasks, chunk ``c``'s environment reset with ``SeedSequence([seed, c])``. A PEARL agent
        runs its test protocol (:meth:`roml.algos.pearl.PEARL.test_returns`), its z drawn with the same seed."""
        returns = []
        for chunk, first in enumerate(range(0, len(tasks), EVAL_CHUNK)):
            part = tasks[first : first + EVAL_CHUNK]
            env = self.make_env(len(part), config)
            chunk_seed = int(np.random.SeedSequence([seed, chunk]).generate_state(1)[0])
            env.reset(seed=chunk_seed)
            if config.method in PEARL_METHODS:
                returns.append(agent.test_returns(env, part, chunk_seed))
            else:
                returns.append(agent.collect(env, part, deterministic=True).episode_returns)
            env.close()
        return np.concatenate(returns)

    def evaluate(self, agent, tasks: np.ndarray, seed: int, config: MujocoConfig) -> np.ndarray:
        return self._run_fixed(agent, tasks, seed, config).mean(axis=1)

    def train_extras(self, batch) -> dict[str, float]:
        family = self.task_family()
        means = family.to_unit(batch.tasks).mean(axis=0)  # where the batch sits in each coordinate, 0.5 = phi0's
        return {f"train_mean_u_{name}": float(m) for name, m in zip(self.phi_names, means)}

    def test(self, config: MujocoConfig, agent, run_dir: RunDir, model: str = "final") -> dict[str, float]:
        tasks = self.evaluation_tasks(config.eval.n_test_tasks, config.eval.test_seed)
        episode_returns = self._run_fixed(agent, tasks, config.eval.test_seed, config)
        names = self.task_family().names
        run_dir.write_csv(run_dir.model_file("test", model), test_table(dict(zip(names, tasks.T)), episode_returns))
        return return_metrics(episode_returns, config.sampler.alpha)
