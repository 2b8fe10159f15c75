"""Benchmark VariBAD on HalfCheetahMass at the paper's hyper-parameters: training frames per second of one seed, next
to the raw stepping rate of the same vector env measured in the same run.

    python benchmarks/bench_varibad_mujoco.py [--iterations 20] [--warmup 2] [--experiment half-cheetah-mass]

Runs the training loop of the experiment's paper scale (RoML's sampler; 16 tasks per iteration, one BAMDP of 2 x 200
steps on each: 6400 frames; PPO 2 epochs x 8 minibatches; one VAE update on 10 buffered trajectories) on one torch
thread, and prints frames/s with the wall time split between the environment, the acting policy and encoder, the
PPO update and the VAE update (the VAE runs in a second thread while PPO runs; ``--sequential-updates`` turns that
off). Between the timed iterations a twin of the trained vector env steps one BAMDP under uniformly random actions:
its raw rate, measured under the same machine load and after a warm-up pass (a first, cold pass runs up to a third
slower), bounds what training can reach.

The issue's reference figure: the authors' run logs show about 7 hours for 3e7 HalfCheetah-Mass frames on a V100
machine (about 1 200 frames/s); the target here is at least 4 000 frames/s on 2 cores.
"""

from __future__ import annotations

import argparse
import time

AUTHORS_FRAMES_PER_S = 1200.0


def raw_stepping(env, tasks, rng) -> tuple[int, float]:
    """Frames and wall seconds of one BAMDP (2 episodes) of ``env`` on ``tasks`` under uniformly random actions
    drawn from ``rng``."""
    import numpy as np

    space = env.single_action_space
    env.set_tasks(tasks)
    frames, start = 0, time.perf_counter()
    for _ in range(2):
        env.reset()
        truncated = np.zeros(env.num_envs, dtype=bool)
        while not truncated.all():
            actions = rng.uniform(space.low, space.high, size=(env.num_envs, *space.shape))
            _, _, _, truncated, _ = env.step(actions)
            frames += env.num_envs
    return frames, time.perf_counter() - start


def trainer(experiment, overrides: dict, seed: int, sequential: bool):
    """A fresh RoML agent of the experiment's paper scale (with ``overrides``), its vector env and a function that
    runs one training iteration and returns its frames."""
    import numpy as np

    from roml.algos.varibad import VariBAD
    from roml.experiments.samplers import make_sampler

    # 1e9 frames: no learning-rate annealing to speak of
    config = experiment.config("roml", seed, "paper", {"loop.frames": 10**9, **overrides})
    varibad_config = config.varibad_config()
    if sequential:
        varibad_config.parallel_updates = False
    seeds = np.random.SeedSequence(seed).spawn(3)
    family = experiment.task_family()
    sampler = make_sampler(config, family, seeds[0], baseline="varibad")
    env = experiment.make_env(config.varibad.num_envs, config)
    env.reset(seed=int(seeds[1].generate_state(1)[0]))
    agent = VariBAD.for_env(env, varibad_config, seeds[2])

    def iteration() -> int:
        batch = sampler.sample(config.varibad.num_envs)
        rollout = agent.collect(env, batch.tasks)
        agent.update(rollout, sampler.observe(batch, rollout.task_scores))
        return rollout.frames

    return config, varibad_config, env, agent, iteration


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default="half-cheetah-mass", help="a MuJoCo experiment (roml list)")
    parser.add_argument("--iterations", type=int, default=20, help="timed iterations")
    parser.add_argument("--warmup", type=int, default=2, help="untimed iterations first (past precollect_frames)")
    parser.add_argument(
        "--sequential-updates", action="store_true", help="run the VAE update after PPO instead of in a second thread"
    )
    parser.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="FIELD=VALUE",
        help="override settings of the paper scale, as `roml train --set`",
    )
    parser.add_argument(
        "--versus",
        nargs="*",
        default=None,
        metavar="FIELD=VALUE",
        help="also train a reference agent with these overrides (on top of --set), its iterations "
        "alternating with the first's, and print the ratio of the two training rates",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import numpy as np
    import torch

    from roml.algos.varibad import TIMERS
    from roml.cli import _parse_overrides
    from roml.experiments.registry import get_experiment

    torch.set_num_threads(1)
    experiment = get_experiment(args.experiment)
    overrides = _parse_overrides(experiment.name, tuple(args.set))
    runs = {"trained": trainer(experiment, overrides, args.seed, args.sequential_updates)}
    if args.versus is not None:
        versus = {**overrides, **_parse_overrides(experiment.name, tuple(args.versus))}
        runs["reference"] = trainer(experiment, versus, args.seed, args.sequential_updates)
    config, varibad_config, env, agent, _ = runs["trained"]
    family = experiment.task_family()
    rng = np.random.default_rng(args.seed)
    raw_tasks = family.sample(family.phi0, config.varibad.num_envs, rng)
    raw_env = experiment.make_env(config.varibad.num_envs, config)  # a twin: the trained env's stream stays intact
    raw_env.reset(seed=args.seed)
    for *_, run_agent, iteration in runs.values():
        for _ in range(args.warmup):
            iteration()
        run_agent.timers = dict.fromkeys(TIMERS, 0.0)
    raw_stepping(raw_env, raw_tasks, rng)  # warm-up
    seconds, frames = dict.fromkeys([*runs, "raw"], 0.0), dict.fromkeys([*runs, "raw"], 0)
    for _ in range(args.iterations):
        for name, (*_, iteration) in runs.items():  # alternating: all see the same machine load
            start = time.perf_counter()
            frames[name] += iteration()
            seconds[name] += time.perf_counter() - start
        raw_frames, raw_seconds = raw_stepping(raw_env, raw_tasks, rng)
        frames["raw"] += raw_frames
        seconds["raw"] += raw_seconds
    raw = frames["raw"] / seconds["raw"]
    rate = frames["trained"] / seconds["trained"]
    timers = agent.timers
    wall = {k: timers[k] for k in ("env", "policy", "update")}
    wall["other"] = seconds["trained"] - sum(wall.values())
    per_iteration = 1000 / args.iterations
    changed = " ".join(args.set) or "none"
    print(
        f"{experiment.name} ({experiment.env_name}, {config.varibad.num_envs} envs, "
        f"{config.frames_per_iteration} frames per iteration, paper hyper-parameters, --set {changed}, "
        "one torch thread)"
    )
    print(f"raw vector-env stepping (random actions): {raw:8.0f} frames/s")
    print(
        f"VariBAD training:                         {rate:8.0f} frames/s ({frames['trained']} frames in "
        f"{seconds['trained']:.1f} s; {rate / raw:.0%} of the raw stepping rate)"
    )
    print(
        "  wall ms per iteration: "
        + ", ".join(f"{k} {per_iteration * v:.0f} ({v / seconds['trained']:.0%})" for k, v in wall.items())
    )
    print(
        f"  inside the update (VAE in parallel with PPO: {varibad_config.parallel_updates}): "
        f"ppo {per_iteration * timers['ppo']:.0f} ms, vae {per_iteration * timers['vae']:.0f} ms"
    )
    if "reference" in runs:
        reference = frames["reference"] / seconds["reference"]
        print(
            f"reference (--versus {' '.join(args.versus)}): {reference:8.0f} frames/s; trained / reference = "
            f"{rate / reference:.2f}x"
        )
    paper_frames = experiment.config("roml", 0, "paper").loop.frames
    print(
        f"{rate / AUTHORS_FRAMES_PER_S:.1f}x the authors' ~{AUTHORS_FRAMES_PER_S:.0f} frames/s; one paper-scale run "
        f"({paper_frames:.0e} frames) at this rate: {paper_frames / rate / 3600:.1f} h of training"
    )


if __name__ == "__main__":
    main()
