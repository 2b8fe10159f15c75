"""The critic's error by step within the BAMDP, measured on a trained VariBAD run's checkpoint (issue: MuJoCo
fidelity, GAE at episode boundaries).

    python benchmarks/critic_error_by_step.py RUN_FOLDER [RUN_FOLDER ...] [--tasks 64] [--bin 25] [--seed 0]

For each run folder (``OUT/<experiment>/<method>/seed<k>/`` with a ``checkpoint.pt``), the agent of the checkpoint
runs ``--tasks`` tasks of the original distribution with its stochastic policy, as in training; the critic's value
of every step (in the normalised reward units it is trained in: rewards divided by the running std of the discounted
return, clipped to +-10) is set beside the two targets the two GAE semantics train it towards, computed from the same
rewards:

- ``episode_ends="bamdp"``: the discounted return to the BAMDP's end (the second episode's rewards count in the
  first episode's values, and the value must fall to 0 over the last ~1 / (1 - gamma) steps of the BAMDP);
- ``"truncate"``: the discounted return to the episode's last step, where it bootstraps from the critic's own value
  of that step (the authors' time-limit semantics: the value is that of running on, whatever the time left).

It prints, per bin of ``--bin`` steps of the 400-step BAMDP, the mean value, the mean error (value minus target) and
the mean absolute error against each. A critic that cannot see time errs where its target depends on the time left.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def measure(run: Path, n_tasks: int, seed: int):
    """``(values, bamdp_targets, truncated_targets)``, ``(T, n_tasks)`` tensors each (see the module docstring)."""
    import torch

    from roml.algos.varibad import VariBAD
    from roml.algos.varibad.ppo import discounted_sums
    from roml.experiments.registry import get_experiment
    from roml.experiments.results import RunDir

    values = json.loads((run / "config.json").read_text())
    experiment = get_experiment(values["experiment"])
    config = experiment.config_from_dict(values)
    state = RunDir(run.parents[2], experiment.name, config.method, config.seed).load_checkpoint()  # runs no code
    env = experiment.make_env(n_tasks, config)
    env.reset(seed=seed)
    agent = VariBAD.for_env(env, config.varibad_config(), seed)
    agent.load_state_dict(state["agent"])
    tasks = experiment.evaluation_tasks(n_tasks, seed)
    rollout = agent.collect(env, tasks)
    with torch.no_grad():
        obs, latent = agent._policy_inputs(rollout.obs, rollout.latent)
        predicted = agent.policy.value(agent.policy.features(obs, latent)).double()
    rewards = rollout.rewards.double()
    if agent.config.normalize_rewards:
        norm = agent.norms["return"]
        rewards = (rewards / (norm.var + norm.eps).sqrt().double()).clamp(-10.0, 10.0)
    to_bamdp_end = discounted_sums(rewards, config.varibad.gamma, reverse=True)
    length = len(rewards) // config.varibad.episodes_per_task
    bootstrapped = predicted.clone()  # an episode's last step: its own value; before it: r_t + gamma * target_t+1
    for t in range(len(rewards) - 1, -1, -1):
        if (t + 1) % length:
            bootstrapped[t] = rewards[t] + config.varibad.gamma * bootstrapped[t + 1]
    return predicted, to_bamdp_end, bootstrapped


def table(run: Path, n_tasks: int, bin_size: int, seed: int) -> str:
    values, to_bamdp_end, bootstrapped = measure(run, n_tasks, seed)
    from roml.experiments.registry import get_experiment

    values = json.loads((run / "config.json").read_text())
    config = get_experiment(values["experiment"]).config_from_dict(values)
    settings = ", ".join(
        f"{key}={value}"
        for key, value in (
            ("episode_ends", config.varibad.episode_ends),
            ("observation", config.env.observation),
            ("mass_physics", config.env.mass_physics),
        )
    )
    lines = [
        f"{run} ({settings}; {n_tasks} tasks, stochastic policy, normalised reward units)",
        "",
        "| steps | mean value | error vs return to the BAMDP's end | abs. error | error vs truncated return "
        "| abs. error |",
        "|---|---|---|---|---|---|",
    ]
    for first in range(0, len(values), bin_size):
        rows = slice(first, first + bin_size)
        bamdp_error = values[rows] - to_bamdp_end[rows]
        episode_error = values[rows] - bootstrapped[rows]
        lines.append(
            f"| {first}-{min(first + bin_size, len(values)) - 1} | {values[rows].mean():.2f} "
            f"| {bamdp_error.mean():+.2f} | {bamdp_error.abs().mean():.2f} "
            f"| {episode_error.mean():+.2f} | {episode_error.abs().mean():.2f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders with a checkpoint.pt")
    parser.add_argument("--tasks", type=int, default=64, help="tasks (one BAMDP each) to run")
    parser.add_argument("--bin", type=int, default=25, help="steps per row")
    parser.add_argument("--seed", type=int, default=0, help="seed of the tasks, the start states and the actions")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    for run in args.runs:
        if not (run / "checkpoint.pt").is_file():
            parser.error(f"{run} has no checkpoint.pt")
        print(table(run, args.tasks, args.bin, args.seed))


if __name__ == "__main__":
    main()
