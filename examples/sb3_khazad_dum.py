"""Stable-Baselines3's PPO on Khazad-Dum with RoML choosing the rain of every task (2 episodes per task).

    python examples/sb3_khazad_dum.py [--steps 200000] [--smoke]

RoML over-samples the rainy (hard) tasks: the printed phi (the mean rain of the task distribution RoML samples
from) moves above the original 0.1 as the CEM finds where the policy does worst. ``--smoke`` trains 4096 steps
(seconds, CEM updates every 16 tasks instead of 64). Needs ``pip install 'roml-rl[sb3]'``.
"""

from __future__ import annotations

import argparse

from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env

import roml.envs  # noqa: F401  (registers roml/KhazadDum-v0)
from roml.envs.khazad_dum import rain_family
from roml.integrations.gymnasium import TaskQueue
from roml.integrations.sb3 import RoMLCallback
from roml.samplers import RoMLSampler


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200_000, help="environment steps of training")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true", help="4096 steps: check that it runs")
    args = parser.parse_args(argv)
    steps = 4096 if args.smoke else args.steps

    batch = 16 if args.smoke else 64  # tasks per CEM update
    sampler = RoMLSampler(rain_family(), alpha=0.05, beta=0.2, batch_size=batch, seed=args.seed)
    venv = make_vec_env(
        "roml/KhazadDum-v0", n_envs=4, seed=args.seed, wrapper_class=TaskQueue, wrapper_kwargs=dict(episodes_per_task=2)
    )
    model = PPO("MlpPolicy", venv, n_steps=128, seed=args.seed, device="cpu")
    callback = RoMLCallback(sampler, episodes_per_task=2)
    model.learn(steps, callback=callback)

    print(f"{len(callback.weights)} tasks scored, {len(sampler.history)} CEM updates")
    for record in sampler.history[-5:]:
        phi, cvar = record["phi"][0], record["sample_cvar"]
        print(f"update {record['update']}: phi (mean rain) {phi:.3f}, CVaR of the batch's returns {cvar:.3f}")


if __name__ == "__main__":
    main()
