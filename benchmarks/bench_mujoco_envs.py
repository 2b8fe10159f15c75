"""Benchmark roml's twelve MuJoCo task environments against Gymnasium's v5 environment of each one's robot.

    python benchmarks/bench_mujoco_envs.py [--repeats 5] [--env HalfCheetahMass ...]

For each task environment (default options, default task) and the Gymnasium class it extends, built with the same
arguments (``cls.parent(**cls.parent_kwargs)``: HalfCheetah-v5 with the control weight 0.05, Humanoid-v5 and Ant-v5
without early termination, Ant-v5 without contact forces in its observation), one process steps both through the
same uniformly random actions in 200-step episodes, alternating ``--repeats`` times between them. Both run the same
physics; the difference is what each does around ``mj_step``: action checks, copies, rewards, observation, ``info``.

Rates are steps per second of this thread's CPU time (``time.thread_time``), so that other processes on a busy
machine do not skew them; the ratio printed is the median over the repeats of ours / Gymnasium's. The target of
issue 14 is a ratio of at least 0.9 for every environment.
"""

from __future__ import annotations

import argparse
import time


def episode_cpu_seconds(env, actions) -> float:
    """CPU seconds of this thread for one episode of ``env`` under ``actions`` ``(steps, action_dim)``."""
    env.reset()
    start = time.thread_time()
    for action in actions:
        env.step(action)
    return time.thread_time() - start


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", nargs="*", default=None, help="environment names (default: all twelve)")
    parser.add_argument("--repeats", type=int, default=5, help="passes over the episodes")
    parser.add_argument("--episodes", type=int, default=5, help="200-step episodes (of distinct actions) per pass")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import gymnasium
    import numpy as np

    from roml.envs.mujoco import ENVIRONMENTS, EPISODE_LENGTH, env_id

    names = args.env or list(ENVIRONMENTS)
    print(f"{'environment':18s} {'ours steps/s':>12s}  {'Gymnasium v5':>14s} {'steps/s':>8s}  {'ours / v5':>9s}")
    worst = np.inf
    for name in names:
        ours = gymnasium.make(env_id(name)).unwrapped
        cls = type(ours)
        theirs = cls.parent(**cls.parent_kwargs)
        rng = np.random.default_rng(args.seed)
        space = ours.action_space
        actions = rng.uniform(space.low, space.high, size=(args.episodes, EPISODE_LENGTH, *space.shape))
        for env in (ours, theirs):
            env.reset(seed=args.seed)
            episode_cpu_seconds(env, actions[0])  # warm-up
        seconds = np.array(
            [
                [episode_cpu_seconds(env, episode) for env in (ours, theirs)]
                for _ in range(args.repeats)
                for episode in actions
            ]
        )  # alternating, episode by episode
        rates = EPISODE_LENGTH / seconds
        ratio = float(np.median(rates[:, 0] / rates[:, 1]))
        worst = min(worst, ratio)
        ours_rate, theirs_rate = np.median(rates, axis=0)
        print(f"{name:18s} {ours_rate:12.0f}  {cls.parent.__name__:>14s} {theirs_rate:8.0f}  {ratio:9.2f}")
    print(f"lowest ratio: {worst:.2f} (target >= 0.9)")


if __name__ == "__main__":
    main()
