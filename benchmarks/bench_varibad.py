"""Benchmark VariBAD on Khazad-Dum at the paper's hyper-parameters: training frames per second of one seed.

    python benchmarks/bench_varibad.py [--iterations 60] [--warmup 5] [--seeds 1]

Runs the training loop of the ``khazad-dum`` experiment (sample 32 tasks, one BAMDP of 4 x 32 steps on each,
PPO with 2 epochs of 8 minibatches, one VAE update on 10 buffered trajectories) on one torch thread, and prints
frames/s with the wall time split between the environment, the acting policy and encoder, the PPO update and the
VAE update. With ``--seeds S`` it runs S seeds in S processes at once (one per core) and also prints the total.

The issue's reference figure: the authors' implementation trains at about 3 400 frames/s on a 2-core machine with
its Khazad-Dum configuration (32 environment processes), about 2 500 frames/s with its periodic evaluations. It
cannot run here (gym 0.17, mujoco-py), so the ratio printed is against that quoted figure, not a measurement.
"""

from __future__ import annotations

import argparse
import multiprocessing
import time

AUTHORS_FRAMES_PER_S = 3400.0


def train_seed(seed: int, iterations: int, warmup: int, parallel_updates: bool = True) -> dict:
    import torch

    from roml.algos.varibad import TIMERS, VariBAD, VariBADConfig
    from roml.envs.khazad_dum import KhazadDumVecEnv
    from roml.samplers import RoMLSampler
    from roml.envs.khazad_dum import rain_family

    torch.set_num_threads(1)
    config = VariBADConfig(parallel_updates=parallel_updates)
    env = KhazadDumVecEnv(config.num_envs)
    env.reset(seed=seed)
    agent = VariBAD.for_env(env, config, seed)
    sampler = RoMLSampler(rain_family(), alpha=0.01, beta=0.05, nu=0.0, batch_size=128, seed=seed)

    def iteration() -> int:
        batch = sampler.sample(config.num_envs)
        rollout = agent.collect(env, batch.tasks)
        agent.update(rollout, sampler.observe(batch, rollout.task_scores))
        return rollout.frames

    for _ in range(warmup):  # fills past precollect_frames, so every timed iteration trains
        iteration()
    agent.timers = dict.fromkeys(TIMERS, 0.0)
    start = time.perf_counter()
    frames = sum(iteration() for _ in range(iterations))
    elapsed = time.perf_counter() - start
    return {
        "seed": seed,
        "frames": frames,
        "seconds": elapsed,
        "timers": agent.timers,
        "parallel": config.parallel_updates,
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=60, help="timed iterations (4096 frames each)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed iterations first")
    parser.add_argument("--seeds", type=int, default=1, help="seeds trained at once, one process each")
    parser.add_argument(
        "--sequential-updates", action="store_true", help="run the VAE update after PPO instead of in a second thread"
    )
    args = parser.parse_args(argv)
    parallel = not args.sequential_updates
    if args.seeds == 1:
        results = [train_seed(0, args.iterations, args.warmup, parallel)]
    else:
        with multiprocessing.get_context("spawn").Pool(args.seeds) as pool:
            results = pool.starmap(train_seed, [(s, args.iterations, args.warmup, parallel) for s in range(args.seeds)])
    for r in results:
        rate = r["frames"] / r["seconds"]
        timers = r["timers"]
        wall = {k: timers[k] for k in ("env", "policy", "update")}
        wall["other"] = r["seconds"] - sum(wall.values())
        print(f"seed {r['seed']}: {rate:8.0f} frames/s ({r['frames']} frames in {r['seconds']:.1f} s)")
        print(
            "  wall ms per iteration: "
            + ", ".join(f"{k} {1000 * v / args.iterations:.1f} ({v / r['seconds']:.0%})" for k, v in wall.items())
        )
        ppo_ms, vae_ms = (1000 * timers[key] / args.iterations for key in ("ppo", "vae"))
        print(
            f"  inside the update (VAE in parallel with PPO: {r['parallel']}): ppo {ppo_ms:.1f} ms, vae {vae_ms:.1f} ms"
        )
    total = sum(r["frames"] / r["seconds"] for r in results)
    print(
        f"total: {total:.0f} frames/s over {len(results)} process(es); "
        f"{total / AUTHORS_FRAMES_PER_S:.1f}x the authors' quoted {AUTHORS_FRAMES_PER_S:.0f} frames/s; "
        f"one 5e6-frame seed at the per-seed rate: {5e6 * results[0]['seconds'] / results[0]['frames'] / 60:.1f} min"
    )


if __name__ == "__main__":
    main()
