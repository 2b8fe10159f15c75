"""Benchmark PEARL at the paper's sizes: gradient steps per second and collection steps per second, with the
arithmetic of a gradient step, so that the fraction of the machine's matrix-multiply rate it reaches is visible.

    python benchmarks/bench_pearl.py [--device cuda] [--steps 3] [--experiment half-cheetah-vel] [--set FIELD=VALUE ...]

A gradient step (:meth:`roml.algos.pearl.PEARL.gradient_step`) at the paper's sizes: 16 slots x 256 transitions
through the twin Q networks, V, the target V and the policy (3 x 300), the Q networks again on the policy's actions,
and 16 x 100 context transitions through the encoder (3 x 200). Its FLOPs are counted from the layer shapes
(2 per multiply-add; a backward pass costs twice its forward), and compared with the rate this process reaches on a
large square matrix product on the same device (the practical peak; ``--peak-gflops`` replaces it). The replay and
encoder buffers are filled with random rows for this (the speed of a step does not depend on their content).

Collection (:meth:`roml.algos.pearl.PEARL.collect`): one iteration's data, ``tasks_per_iteration`` slots x (400 + 600)
steps on the experiment's vector env, in environment steps per second.

The default run is short (3 timed gradient steps: about 1.5 s on one CPU core; use ``--steps 200`` on a GPU). The
device defaults to CUDA when torch sees one.
"""

from __future__ import annotations

import argparse
import time


def mlp_flops(widths: list[int], rows: int) -> int:
    """Forward FLOPs of an MLP with layer widths ``widths`` (input first) on ``rows`` rows: 2 per multiply-add."""
    return 2 * rows * sum(a * b for a, b in zip(widths[:-1], widths[1:]))


def gradient_step_flops(config, obs_dim: int, action_dim: int) -> dict[str, int]:
    """FLOPs of one gradient step by network (forward, plus twice that for each backward pass through it)."""
    rows, context_rows, latent = (
        config.meta_batch * config.batch_size,
        config.meta_batch * config.context_batch,
        config.latent_dim,
    )
    hidden = list(config.hidden)
    q = mlp_flops([obs_dim + action_dim + latent, *hidden, 1], rows)
    v = mlp_flops([obs_dim + latent, *hidden, 1], rows)
    policy = mlp_flops([obs_dim + latent, *hidden], rows) + 2 * mlp_flops([hidden[-1], action_dim], rows)
    encoder = mlp_flops([obs_dim + action_dim + 1, *config.encoder_hidden, 2 * latent], context_rows)
    return {
        "encoder": 3 * encoder,  # forward, backward from KL + Q loss
        "q (data actions)": 2 * 3 * q,  # twin Q, forward and backward
        "q (policy actions)": 2 * 3 * q,  # forward, backward of the policy loss through them
        "v and target v": 3 * v + v,
        "policy": 3 * policy,
    }


def matmul_gflops(device, size: int, repeats: int) -> float:
    """The rate of ``size`` x ``size`` float32 matrix products on ``device``, GFLOP/s."""
    import torch

    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    (a @ b).sum().item()
    start = time.perf_counter()
    for _ in range(repeats):
        c = a @ b
    c.sum().item()
    return repeats * 2 * size**3 / (time.perf_counter() - start) / 1e9


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default="half-cheetah-vel", help="a HalfCheetah experiment (roml list)")
    parser.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    parser.add_argument("--steps", type=int, default=3, help="timed gradient steps")
    parser.add_argument("--warmup", type=int, default=1, help="untimed gradient steps first")
    parser.add_argument("--no-collection", action="store_true", help="skip the collection benchmark")
    parser.add_argument("--peak-gflops", type=float, default=None, help="the device's peak (default: measured)")
    parser.add_argument(
        "--set", nargs="*", default=[], metavar="FIELD=VALUE", help="override PEARL settings, as `roml train --set`"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import numpy as np
    import torch

    from roml.algos.pearl import PEARL
    from roml.cli import _parse_overrides
    from roml.experiments.registry import get_experiment

    torch.set_num_threads(1)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    experiment = get_experiment(args.experiment)
    overrides = {**_parse_overrides(experiment.name, tuple(args.set), ("pearl",)), "pearl.device": device}
    config = experiment.config("pearl", args.seed, "paper", overrides)
    c = config.pearl
    env = experiment.make_env(c.tasks_per_iteration, config)
    env.reset(seed=args.seed)
    agent = PEARL.for_env(env, c, args.seed)
    every = np.arange(c.num_slots)
    generator = torch.Generator().manual_seed(args.seed)
    for buffer in (agent.replay, agent.context):
        buffer.add(every, torch.randn(c.num_slots, c.initial_steps, buffer.width, generator=generator))
    synchronize = torch.cuda.synchronize if agent.device.type == "cuda" else (lambda: None)

    slots = agent.rng.integers(c.num_slots, size=(args.warmup + args.steps, c.meta_batch))
    ones = np.ones(c.meta_batch)
    for k in range(args.warmup):
        agent.gradient_step(slots[k], ones)
    synchronize()
    start = time.perf_counter()
    for k in range(args.warmup, args.warmup + args.steps):
        agent.gradient_step(slots[k], ones)
    synchronize()
    seconds = (time.perf_counter() - start) / args.steps
    flops = gradient_step_flops(c, agent.obs_dim, agent.action_dim)
    total = sum(flops.values())
    peak = args.peak_gflops or matmul_gflops(agent.device, 4096 if agent.device.type == "cuda" else 1024, 10)
    print(f"device {device} ({torch.cuda.get_device_name() if agent.device.type == 'cuda' else 'one CPU thread'})")
    print(
        f"gradient step: {1 / seconds:.2f} steps/s ({1000 * seconds:.1f} ms), {total / 1e9:.2f} GFLOP per step, "
        f"{total / seconds / 1e9:.1f} GFLOP/s = {100 * total / seconds / 1e9 / peak:.1f}% of {peak:.0f} GFLOP/s "
        f"({'given' if args.peak_gflops else 'float32 matmul measured here'})"
    )
    for name, value in flops.items():
        print(f"  {name:<20} {value / 1e9:6.3f} GFLOP")
    paper_steps = config.loop.iterations * c.gradient_steps
    print(f"the paper's {paper_steps} gradient steps at this rate: {paper_steps * seconds / 3600:.1f} h")

    if not args.no_collection:
        family = experiment.task_family()
        tasks = family.sample(family.phi0, c.tasks_per_iteration, np.random.default_rng(args.seed))
        chosen = agent.choose_slots()
        start = time.perf_counter()
        agent.collect(env, chosen, tasks)
        seconds = time.perf_counter() - start
        steps = c.tasks_per_iteration * (c.prior_steps + c.posterior_steps)
        print(f"collection: {steps / seconds:.0f} env steps/s ({steps} steps of {c.tasks_per_iteration} slots)")


if __name__ == "__main__":
    main()
