"""Does PEARL's SAC learn one fixed HalfCheetah-Vel task, and how fast next to Stable-Baselines3's SAC?

    python benchmarks/pearl_fixed_task.py [--steps 40000] [--goal 2.0] [--hidden 64 64] [--reward-scale 5]
                                          [--learned-temperature] [--no-reference] [--seed 0]

A diagnostic for issue 19 (PEARL's quick scale): with no meta-learning left to do, PEARL is SAC v1 with a task
latent. Every one of 4 slots holds the same target velocity ``--goal``; each iteration collects 400 steps per slot
(prior, then posterior z) and takes as many gradient steps (4 slots x 64 transitions) as it collected environment
steps, SAC's usual ratio. Every ``--eval-every`` gradient steps it prints the return of PEARL's deterministic test
protocol (mean of three episodes) on the task. The reference, unless ``--no-reference``: Stable-Baselines3's SAC
(the ``sb3`` extra; learned temperature, its defaults but ``--hidden`` and 2000 random warm-up steps) on the same
environment, one gradient step per environment step after the warm-up, evaluated deterministically at the same step
counts. A policy that stands still scores about
``-200 * goal``; the random initial policy about that minus the control cost.

Measured 2026-12-04 (goal 2, 2 x 64): PEARL -390 after 3.3e4 gradient steps, SB3 -294 after 2e4 and -111 after 4e4;
PEARL with ``--reward-scale 1 --learned-temperature`` -232 after 1.9e4 and -140 after 2.9e4
(docs/results/speed/README.md, "PEARL"). About 10 minutes per 4e4 steps of PEARL on one core, 7 of SB3.
"""

from __future__ import annotations

import argparse
import time


def pearl_curve(
    goal: float, steps: int, every: int, hidden: tuple[int, ...], reward_scale: float, learned: bool, seed: int
):
    """Yield ``(gradient_steps, test_return)`` of roml's PEARL on the fixed task every ``every`` gradient steps
    (``learned``: SAC v2's learned temperature)."""
    import numpy as np

    from roml.algos.pearl import PEARL, PEARLConfig
    from roml.envs.mujoco.vector import MujocoTaskVecEnv

    slots = 4
    config = PEARLConfig(
        num_slots=slots,
        initial_steps=1000,
        tasks_per_iteration=slots,
        prior_steps=200,
        posterior_steps=200,
        hidden=hidden,
        encoder_hidden=hidden,
        gradient_steps=slots * 400,
        meta_batch=4,
        batch_size=64,
        reward_scale=reward_scale,
        learned_temperature=learned,
    )
    env = MujocoTaskVecEnv("HalfCheetahVel", slots, observation="authors")
    env.reset(seed=seed + 1)
    test_env = MujocoTaskVecEnv("HalfCheetahVel", 1, observation="authors")
    test_env.reset(seed=seed + 2)
    agent = PEARL.for_env(env, config, seed)
    tasks = np.full((slots, 1), goal)
    agent.collect(env, np.arange(slots), tasks, config.initial_steps, 0)
    next_eval = every
    while agent.gradient_steps < steps:
        agent.collect(env, np.arange(slots), tasks)
        agent.train()
        if agent.gradient_steps >= next_eval:
            yield agent.gradient_steps, float(agent.test_returns(test_env, tasks[:1], seed).mean())
            next_eval += every


def sb3_curve(goal: float, steps: int, every: int, hidden: tuple[int, ...], seed: int):
    """Yield ``(environment_steps, test_return)`` of Stable-Baselines3's SAC on the fixed task every ``every``
    environment steps (one gradient step each after 2000 warm-up steps of random actions)."""
    import numpy as np
    from stable_baselines3 import SAC

    from roml.envs.mujoco.half_cheetah import HalfCheetahVelEnv

    task = np.array([goal])
    model = SAC(
        "MlpPolicy",
        HalfCheetahVelEnv(task=task, observation="authors"),
        seed=seed,
        learning_starts=2000,
        policy_kwargs=dict(net_arch=list(hidden)),
    )
    test_env = HalfCheetahVelEnv(task=task, observation="authors")
    for done in range(every, steps + 1, every):
        model.learn(every, reset_num_timesteps=False)
        obs, _ = test_env.reset(seed=seed + 2)
        total, truncated = 0.0, False
        while not truncated:
            action, _ = model.predict(obs, deterministic=True)
            obs, reward, _, truncated, _ = test_env.step(action)
            total += float(reward)
        yield done, total


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40_000, help="gradient steps of each learner")
    parser.add_argument("--eval-every", type=int, default=4_000)
    parser.add_argument("--goal", type=float, default=2.0, help="the target velocity (m/s)")
    parser.add_argument("--hidden", type=int, nargs="+", default=[64, 64], help="hidden layer widths")
    parser.add_argument("--reward-scale", type=float, default=5.0, help="PEARL's reward scale (the paper's: 5)")
    parser.add_argument(
        "--learned-temperature",
        action="store_true",
        help="PEARL with SAC v2's learned temperature (pass --reward-scale 1)",
    )
    parser.add_argument("--no-reference", action="store_true", help="skip Stable-Baselines3's SAC")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.steps < 1 or args.eval_every < 1 or args.goal < 0 or min(args.hidden) < 1:
        parser.error("--steps, --eval-every and --hidden must be >= 1 and --goal >= 0")

    import torch

    torch.set_num_threads(1)
    hidden = tuple(args.hidden)
    print(f"target {args.goal} m/s; standing still scores about {-200 * args.goal:.0f} per episode")
    start = time.perf_counter()
    for steps, value in pearl_curve(
        args.goal, args.steps, args.eval_every, hidden, args.reward_scale, args.learned_temperature, args.seed
    ):
        print(f"PEARL  {steps:7d} gradient steps  test return {value:8.1f}  ({time.perf_counter() - start:.0f} s)")
    if args.no_reference:
        return
    start = time.perf_counter()
    for steps, value in sb3_curve(args.goal, args.steps, args.eval_every, hidden, args.seed):
        print(f"SB3    {steps:7d} env steps       test return {value:8.1f}  ({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
