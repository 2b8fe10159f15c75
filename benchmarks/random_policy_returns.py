"""The test returns of a uniformly random policy on a MuJoCo experiment's test tasks: the floor a trained run must
clear to show that its family learns (issue: MuJoCo fidelity, every family trained once).

    python benchmarks/random_policy_returns.py [EXPERIMENT ...] [--tasks 1000] [--scale quick] [--seed 0]

For each experiment (default: the twelve MuJoCo ones) it builds the run configuration of ``--scale`` (the
environment options and ``test_seed`` of the experiment's runs), draws the same test tasks as ``roml train``'s test
(``evaluation_tasks(n, test_seed)``, the first ``--tasks`` of the 1000 when fewer are asked for) and runs each for
the task's 2 episodes of 200 steps with actions drawn uniformly from the action bounds (generator ``--seed``), the
environments reset as the test resets them. Prints a markdown row per experiment: the mean and CVaR_0.05 of the
task return (the mean of its episode returns).
"""

from __future__ import annotations

import argparse


def random_returns(name: str, n_tasks: int, scale: str, seed: int):
    """``(mean, cvar)`` of a uniformly random policy's task returns on the first ``n_tasks`` test tasks."""
    import numpy as np

    from roml.experiments.mujoco import EVAL_CHUNK
    from roml.experiments.registry import get_experiment
    from roml.risk import cvar

    experiment = get_experiment(name)
    config = experiment.config("varibad", 0, scale)
    tasks = experiment.evaluation_tasks(config.eval.n_test_tasks, config.eval.test_seed)[:n_tasks]
    rng = np.random.default_rng(seed)
    scores = []
    for chunk, first in enumerate(range(0, len(tasks), EVAL_CHUNK)):
        part = tasks[first : first + EVAL_CHUNK]
        env = experiment.make_env(len(part), config)
        env.reset(seed=int(np.random.SeedSequence([config.eval.test_seed, chunk]).generate_state(1)[0]))
        env.set_tasks(part)
        space = env.single_action_space
        returns = np.zeros((len(part), config.varibad.episodes_per_task))
        for episode in range(config.varibad.episodes_per_task):
            env.reset()
            done = False
            while not done:
                actions = rng.uniform(space.low, space.high, size=(len(part), *space.shape))
                _, reward, terminated, truncated, _ = env.step(actions)
                returns[:, episode] += reward
                done = bool(np.all(terminated | truncated))
        scores.append(returns.mean(axis=1))
        env.close()
    scores = np.concatenate(scores)
    return float(scores.mean()), cvar(scores, config.sampler.alpha)


def main(argv=None) -> None:
    from roml.experiments.mujoco import EXPERIMENTS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiments", nargs="*", default=list(EXPERIMENTS), help="MuJoCo experiments (roml list)")
    parser.add_argument("--tasks", type=int, default=1000, help="test tasks to run (the first of the 1000)")
    parser.add_argument("--scale", default="quick", help="the scale whose run configuration to use")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random actions")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    print("| experiment | random policy: mean return | CVaR_0.05 return | tasks |\n|---|---|---|---|")
    for name in args.experiments:
        mean, tail = random_returns(name, args.tasks, args.scale, args.seed)
        print(f"| {name} | {mean:.1f} | {tail:.1f} | {args.tasks} |", flush=True)


if __name__ == "__main__":
    main()
