"""PEARL's runs of the six HalfCheetah experiments: PEARL, RoML(PEARL) and CVaR-ML(PEARL) (Section 6.2, Table 1;
App. D.3). :class:`~roml.experiments.mujoco.MujocoExperiment` hands its ``pearl*`` runs to :func:`run`.

=================  ==========================================================================================
pearl              the baseline: every reassigned slot gets a task from the original distribution
pearl-roml         RoML: the tasks come from RoML's CEM (the experiment's VariBAD settings: alpha 0.05, beta 0.2,
                   nu 0.2, soft update 0.5, 128 tasks per update, 512 for the 10-D tasks); nothing else changes
pearl-cvar-ml      CVaR-ML on PEARL, which the paper has no row for; defined here: tasks from the original
                   distribution, and only the slots whose task is in the alpha-tail of the slots' scores train
=================  ==========================================================================================

One run (:class:`roml.algos.pearl.PEARL`; PEARL's HalfCheetah settings, :class:`PEARLRunConfig`):

0. the sampler gives every one of the 100 slots a task; 2000 steps each with z from the prior; the sampler observes
   their scores;
1. each iteration (500): 5 slots drawn at random get new tasks from the sampler, their encoder buffers are cleared
   and each collects 400 steps with z from the prior and 600 from the posterior;
   ``sampler.observe(batch, scores)``, a task's score being the mean return of its episodes;
2. 2000 gradient steps, each on 16 slots drawn uniformly (256 transitions and 100 context transitions per slot),
   every slot's losses weighted by its slot weight.

Slot weights: all ones for ``pearl`` and ``pearl-roml``. For ``pearl-cvar-ml`` a slot weighs 1 when the score of its
task is at or below the alpha-quantile (:func:`roml.risk.quantile`, CVaR-ML's rule) of the 100 slots' current scores,
else 0: the SAC and encoder losses of the other slots are masked. The tail is taken over the slots, not over an
iteration's batch as in :class:`roml.samplers.CVaRSampler` (whose weights for 5 tasks would keep the worst 1 of 5,
a 20% tail): the slots are what a gradient step trains on, and their scores are the recent ones. With 16 of 100 slots
drawn per step and 5 in the tail, about 44% of the steps draw no tail slot and train nothing (``trained_steps`` in
``progress.csv``): CVaR-ML's waste of data, as in the paper's Algorithm 1.

Validation every ``eval_every`` iterations and the test use PEARL's test protocol (three deterministic episodes per
task, the first two with z from the prior, the third from the posterior of the first two; the task's return is the
mean of the three), on the same fixed tasks as the VariBAD runs; ``summary.json`` has the same metric keys
(``mean_return``, ``cvar_return``, ``mean_return@k`` and ``cvar_return@k`` for k = 1, 2, 3, the best-validation
models'). Checkpoints hold the agent with its buffers, the sampler, the environment's generator, the slots' tasks and
scores and the log rows, so a killed run resumes bit-identically.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from roml.algos.pearl.config import PRESETS, PEARLConfig
from roml.experiments.base import RunConfig
from roml.experiments.config import AT_LEAST_ONE, Part, flatten
from roml.experiments.mujoco import MujocoEnvOptions
from roml.experiments.results import RunDir
from roml.experiments.samplers import SamplerConfig, history_frame, make_sampler
from roml.experiments.varibad import VariBADEval
from roml.risk import cvar, quantile

__all__ = ["SAMPLERS", "SCALES", "PEARLLoop", "PEARLRunConfig", "run", "slot_weights"]

SAMPLERS = {"pearl": "pearl", "pearl-roml": "roml", "pearl-cvar-ml": "cvar-ml"}
"""Method -> the sampler :func:`roml.experiments.samplers.make_sampler` builds (``pearl``: the uniform baseline)."""


@dataclass(frozen=True)
class PEARLLoop(Part):
    """A PEARL run's training loop (the ``loop`` part)."""

    iterations: int = 500
    """Iterations (PEARL's ``num_iterations``), after the initial collection."""
    checkpoint_every: int = 10
    """Iterations between checkpoints."""

    limits = dict.fromkeys(("iterations", "checkpoint_every"), AT_LEAST_ONE)


@dataclass(frozen=True)
class PEARLRunConfig(RunConfig):
    """A PEARL run of a HalfCheetah experiment: the sampler (the VariBAD runs' settings), PEARL's
    (:class:`roml.algos.pearl.PEARLConfig`, the paper's), the loop, validation and test (the VariBAD runs' tasks), and
    the environment's options (the VariBAD runs')."""

    sampler: SamplerConfig = field(default_factory=lambda: SamplerConfig(nu=0.2, cem_batch_size=128))
    pearl: PEARLConfig = field(default_factory=PEARLConfig)
    loop: PEARLLoop = field(default_factory=PEARLLoop)
    eval: VariBADEval = field(
        default_factory=lambda: VariBADEval(n_valid_tasks=64, eval_every=50, test_best_valid=True)
    )
    env: MujocoEnvOptions = field(default_factory=MujocoEnvOptions)

    @property
    def iterations(self) -> int:
        return self.loop.iterations

    def frames(self, iterations: int) -> int:
        """Environment steps collected for training after ``iterations`` iterations (the initial ones included)."""
        return self.pearl.num_slots * self.pearl.initial_steps + iterations * self.pearl.steps_per_iteration


SCALES: dict[str, dict[str, Any]] = {
    "paper": {},
    "quick": {**flatten({"pearl": PRESETS["quick"]}), "loop.iterations": 300, "loop.checkpoint_every": 25},
    "smoke": {
        **flatten({"pearl": PRESETS["smoke"]}),
        "loop.iterations": 3,
        "loop.checkpoint_every": 1,
        "eval.n_valid_tasks": 2,
        "eval.eval_every": 2,
        "eval.n_test_tasks": 4,
        "sampler.cem_batch_size": 4,
        "sampler.pool_size": 4,
    },
}
"""The PEARL runs' overrides per scale (with the experiment's own sampler and environment settings):
PEARL's scale presets (:data:`roml.algos.pearl.config.PRESETS`); quick runs 300 iterations and checkpoints every
25 (about 2 minutes; a checkpoint holds the replay buffers); smoke runs 3 iterations, validates on 2 tasks and
tests on 4."""


def slot_weights(method: str, scores: np.ndarray, alpha: float) -> np.ndarray:
    """The training weight of each slot from its task's ``scores`` ``(num_slots,)``: ones, but for
    ``pearl-cvar-ml`` the indicator of ``scores <= quantile(scores, alpha)`` (the module docstring)."""
    if method != "pearl-cvar-ml":
        return np.ones(len(scores))
    return (scores <= quantile(scores, alpha)).astype(float)


@dataclass
class _Slots:
    """The slots' current tasks ``(num_slots, d)`` and the scores ``(num_slots,)`` of their collections."""

    tasks: np.ndarray
    scores: np.ndarray

    def assign(self, slots: np.ndarray, tasks: np.ndarray, scores: np.ndarray) -> None:
        self.tasks[slots], self.scores[slots] = tasks, scores


def run(experiment, config: PEARLRunConfig, run_dir: RunDir, progress) -> dict:
    """Train (resuming from ``run_dir``'s checkpoint if any), test and write one PEARL run of ``experiment`` (a
    HalfCheetah :class:`~roml.experiments.mujoco.MujocoExperiment`: its family, environments, fixed tasks,
    validation and test); returns the summary."""
    from roml.algos.pearl import PEARL

    c = config.pearl
    sampler_seed, env_seed, agent_seed, initial_seed = np.random.SeedSequence(config.seed).spawn(4)
    family = experiment.task_family()
    sampler = make_sampler(config, family, sampler_seed, baseline="pearl", method=SAMPLERS[config.method])
    env = experiment.make_env(c.tasks_per_iteration, config)
    env.reset(seed=int(env_seed.generate_state(1)[0]))
    agent = PEARL.for_env(env, c, agent_seed)
    slots = _Slots(np.zeros((c.num_slots, family.dim)), np.zeros(c.num_slots))
    rows: list[dict[str, Any]] = []
    best: dict[str, dict[str, Any]] = {}
    start, elapsed = 0, 0.0
    state = run_dir.load_checkpoint()
    if state is None:  # step 0: every slot gets a task and its initial data
        batch = sampler.sample(c.num_slots)
        initial_env = experiment.make_env(c.num_slots, config)
        initial_env.reset(seed=int(initial_seed.generate_state(1)[0]))
        everyone = np.arange(c.num_slots)
        scores = agent.collect(initial_env, everyone, batch.tasks, c.initial_steps, 0).mean(axis=1)
        initial_env.close()
        sampler.observe(batch, scores)
        slots.assign(everyone, batch.tasks, scores)
    else:
        agent.load_state_dict(state["agent"])
        sampler.load_state_dict(state["sampler"])
        env.np_random.bit_generator.state = state["env_rng"]
        slots = _Slots(np.array(state["slots"]["tasks"]), np.array(state["slots"]["scores"]))
        rows, best, start, elapsed = state["progress"], state.get("best", {}), state["iteration"], state["elapsed"]
    valid_tasks = experiment.evaluation_tasks(config.eval.n_valid_tasks, config.eval.test_seed + 1)
    clock = time.perf_counter()
    total = config.loop.iterations
    progress(config.frames(start), config.frames(total))
    for iteration in range(start, total):
        chosen = agent.choose_slots()
        batch = sampler.sample(len(chosen))
        scores = agent.collect(env, chosen, batch.tasks).mean(axis=1)
        sampler.observe(batch, scores)  # RoML updates its CEM; the weights per batch are not used (docstring)
        slots.assign(chosen, batch.tasks, scores)
        weights = slot_weights(config.method, slots.scores, config.sampler.alpha)
        stats = agent.train(slot_weights=weights)
        now = time.perf_counter()
        row = {
            "iteration": iteration + 1,
            "frames": config.frames(iteration + 1),
            "wall_time": elapsed + now - clock,
            "steps_per_s": (iteration + 1 - start) * c.steps_per_iteration / max(now - clock, 1e-9),
            "train_mean_return": float(scores.mean()),
            "train_cvar_return": cvar(scores, config.sampler.alpha),
            "slots_mean_return": float(slots.scores.mean()),
            "slots_cvar_return": cvar(slots.scores, config.sampler.alpha),
            "trained_slots": int((weights > 0).sum()),
            **experiment.train_extras(batch),
            **stats,
        }
        last = iteration + 1 == total
        if (iteration + 1) % config.eval.eval_every == 0 or last:
            row.update(experiment._validate(config, agent, valid_tasks, row["frames"], best))
        rows.append(row)
        progress(row["frames"], config.frames(total))
        if (iteration + 1) % config.loop.checkpoint_every == 0 or last:
            run_dir.save_progress(
                rows,
                history_frame(sampler.history, experiment.phi_names),
                {
                    "iteration": iteration + 1,
                    "elapsed": elapsed + time.perf_counter() - clock,
                    "agent": agent.state_dict(include_buffer=not last),
                    "sampler": sampler.state_dict(),
                    "env_rng": env.np_random.bit_generator.state,
                    "slots": {"tasks": slots.tasks.copy(), "scores": slots.scores.copy()},
                    "progress": rows,
                    "best": best,
                },
            )
    metrics = experiment.test(config, agent, run_dir)
    metrics.update(experiment._test_best_models(config, agent, run_dir, best))  # training over: agent reloaded
    return run_dir.write_summary(config, config.eval.n_test_tasks, metrics)
