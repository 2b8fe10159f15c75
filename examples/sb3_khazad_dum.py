"""Stable-Baselines3's PPO on Khazad-Dum with RoML choosing the rain of every task, or CVaR-ML training on the
worst tasks of every batch (2 episodes per task).

    python examples/sb3_khazad_dum.py [--method roml|cvar-ml] [--steps 200000] [--smoke]

RoML over-samples the rainy (hard) tasks: the printed phi (the mean rain of the task distribution RoML samples
from) moves above the original 0.1 as the CEM finds where the policy does worst. CVaR-ML trains
:class:`~roml.integrations.sb3.TaskWeightedPPO` on the worst quarter of each rollout's 16 tasks (a rollout is one
task per environment: 2 episodes of 32 steps). ``--smoke`` trains 4096 steps (seconds; RoML's CEM updates every 16
tasks instead of 64). Needs ``pip install 'roml-rl[sb3]'``.
"""

from __future__ import annotations

import argparse

import numpy as np

from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env

import roml.envs  # noqa: F401  (registers roml/KhazadDum-v0)
from roml.envs.khazad_dum import EPISODE_LENGTH, rain_family
from roml.integrations.gymnasium import TaskQueue
from roml.integrations.sb3 import RoMLCallback, TaskWeightedPPO
from roml.samplers import CVaRSampler, RoMLSampler


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", choices=("roml", "cvar-ml"), default="roml")
    parser.add_argument("--steps", type=int, default=200_000, help="environment steps of training")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true", help="4096 steps: check that it runs")
    args = parser.parse_args(argv)
    steps = 4096 if args.smoke else args.steps

    n_envs = 4 if args.method == "roml" else 16
    venv = make_vec_env(
        "roml/KhazadDum-v0",
        n_envs=n_envs,
        seed=args.seed,
        wrapper_class=TaskQueue,
        wrapper_kwargs=dict(episodes_per_task=2),
    )
    if args.method == "roml":
        batch = 16 if args.smoke else 64  # tasks per CEM update
        sampler = RoMLSampler(rain_family(), alpha=0.05, beta=0.2, batch_size=batch, seed=args.seed)
        model = PPO("MlpPolicy", venv, n_steps=128, seed=args.seed, device="cpu")
    else:  # a rollout is one task per environment, so that each task's weight is known before PPO trains on it
        sampler = CVaRSampler(rain_family(), alpha=0.25, seed=args.seed)
        model = TaskWeightedPPO("MlpPolicy", venv, n_steps=2 * EPISODE_LENGTH, seed=args.seed, device="cpu")
    callback = RoMLCallback(sampler, episodes_per_task=2)
    model.learn(steps, callback=callback)

    recent = np.mean([episode["r"] for episode in model.ep_info_buffer])  # SB3's Monitor: the last 100 episodes
    print(f"{sampler.n_observed} tasks scored; mean return of the last 100 episodes {recent:.3f}")
    for record in getattr(sampler, "history", [])[-5:]:  # RoML's CEM updates
        phi, cvar = record["phi"][0], record["sample_cvar"]
        print(f"update {record['update']}: phi (mean rain) {phi:.3f}, CVaR of the batch's returns {cvar:.3f}")


if __name__ == "__main__":
    main()
