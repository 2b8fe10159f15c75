"""RLlib's PPO on Khazad-Dum with RoML choosing the rain of every task (2 episodes per task).

    python examples/rllib_ppo_khazad_dum.py [--iterations 100] [--env-runners 0] [--smoke]

RLlib steps the environments in its env runners (``--env-runners 0``: in this process); after each training
iteration :class:`~roml.integrations.rllib.RoMLTasks` scores the tasks whose episodes finished and queues the
sampler's next ones on every sub-environment. The printed phi (the mean rain of the tasks RoML samples) moves away
from the original 0.1 as the CEM finds where the policy does worst. ``--smoke`` runs 3 iterations (RoML's CEM
updates every 16 tasks instead of 64). Needs ``pip install 'roml-rl[rllib]'``.
"""

from __future__ import annotations

import argparse

import ray
from ray.rllib.algorithms.ppo import PPOConfig
from ray.tune.registry import register_env

from roml.envs.khazad_dum import KhazadDumEnv, rain_family
from roml.integrations.rllib import RoMLTasks, task_env_creator
from roml.samplers import RoMLSampler

EPISODES_PER_TASK = 2


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=100, help="training iterations (2048 frames each)")
    parser.add_argument("--env-runners", type=int, default=0, help="remote env runners (0: sample in this process)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true", help="3 iterations: check that it runs")
    args = parser.parse_args(argv)
    iterations = 3 if args.smoke else args.iterations

    ray.init(num_cpus=max(1, args.env_runners + 1), include_dashboard=False, log_to_driver=False)
    register_env("roml-khazad-dum", task_env_creator(lambda env_config: KhazadDumEnv(), EPISODES_PER_TASK))
    sampler = RoMLSampler(rain_family(), alpha=0.05, beta=0.2, batch_size=16 if args.smoke else 64, seed=args.seed)
    tasks = RoMLTasks(sampler, EPISODES_PER_TASK, per_env=8)  # 2048 frames / 8 envs = 4 tasks per env per iteration
    config = (
        PPOConfig()
        .environment("roml-khazad-dum")
        .env_runners(num_env_runners=args.env_runners, num_envs_per_env_runner=8)
        .training(train_batch_size_per_learner=2048, minibatch_size=256, num_epochs=4, lr=7e-4)
        .callbacks(**tasks.callbacks())
        .debugging(seed=args.seed)
    )
    algorithm = config.build_algo()
    for iteration in range(1, iterations + 1):
        result = algorithm.train()
        mean_return = result["env_runners"].get("episode_return_mean", float("nan"))
        phi = sampler.history[-1]["phi"][0] if sampler.history else rain_family().phi0[0]
        print(
            f"iteration {iteration}: mean episode return {mean_return:+.3f}, {sampler.n_observed} tasks scored, "
            f"{len(sampler.history)} CEM updates, mean rain (phi) {phi:.3f}"
        )
    algorithm.stop()
    ray.shutdown()


if __name__ == "__main__":
    main()
