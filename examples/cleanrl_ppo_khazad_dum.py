"""A CleanRL-style PPO loop on a Gymnasium vector env of Khazad-Dum, with RoML or CVaR-ML choosing the tasks.

    python examples/cleanrl_ppo_khazad_dum.py [--method roml|cvar-ml|uniform] [--iterations 300] [--smoke]

The whole algorithm reads top to bottom in ``main``. roml's part is three calls: ``driver.top_up(envs)`` queues the
sampler's tasks on the environments' :class:`~roml.integrations.gymnasium.TaskQueue` s, ``driver.record_infos(info)``
scores each task from its episode returns, and the weights it returns (CVaR-ML: 1 for the alpha-tail of each batch,
0 for the rest; RoML and uniform: all 1) weight the PPO loss of each task's frames.

CVaR-ML needs each task's weight before the update that trains on it, so a rollout here is exactly one task per
environment: ``EPISODES_PER_TASK`` episodes of 32 steps, in the ``SAME_STEP`` auto-reset mode (a new episode starts
on the step that ends the previous one, so no step is spent on resets). The tasks of a rollout are one sampler
batch, queued during the rollout before it, and their weights arrive at the rollout's last step.
"""

from __future__ import annotations

import argparse

import gymnasium
import numpy as np
import torch
from gymnasium.vector import AutoresetMode, SyncVectorEnv
from torch import nn

from roml.envs.khazad_dum import EPISODE_LENGTH, KhazadDumEnv, rain_family
from roml.integrations.gymnasium import TaskDriver, TaskQueue
from roml.samplers import CVaRSampler, RoMLSampler, UniformSampler

EPISODES_PER_TASK = 2


def make_sampler(method: str, seed: int):
    family = rain_family()
    if method == "roml":
        return RoMLSampler(family, alpha=0.05, beta=0.2, batch_size=64, seed=seed)
    if method == "cvar-ml":
        return CVaRSampler(family, alpha=0.25, seed=seed)  # the worst quarter of each batch of 16
    return UniformSampler(family, seed=seed)


class Agent(nn.Module):
    def __init__(self, obs_dim: int, n_actions: int):
        super().__init__()
        self.critic = nn.Sequential(nn.Linear(obs_dim, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 1))
        self.actor = nn.Sequential(
            nn.Linear(obs_dim, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, n_actions)
        )

    def act(self, obs: torch.Tensor, action: torch.Tensor | None = None):
        dist = torch.distributions.Categorical(logits=self.actor(obs))
        action = dist.sample() if action is None else action
        return action, dist.log_prob(action), dist.entropy(), self.critic(obs).squeeze(-1)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", choices=("roml", "cvar-ml", "uniform"), default="roml")
    parser.add_argument("--iterations", type=int, default=300, help="PPO updates (rollouts)")
    parser.add_argument("--envs", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true", help="10 updates: check that it runs")
    args = parser.parse_args(argv)
    iterations, n, steps = (10 if args.smoke else args.iterations), args.envs, EPISODES_PER_TASK * EPISODE_LENGTH
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)

    envs = SyncVectorEnv(
        [lambda: TaskQueue(KhazadDumEnv(), EPISODES_PER_TASK)] * n, autoreset_mode=AutoresetMode.SAME_STEP
    )
    sampler = make_sampler(args.method, args.seed)
    driver = TaskDriver(sampler, EPISODES_PER_TASK)
    agent = Agent(envs.single_observation_space.shape[0], envs.single_action_space.n)
    optimizer = torch.optim.Adam(agent.parameters(), lr=7e-4, eps=1e-5)
    rng = np.random.default_rng(args.seed)

    driver.top_up(envs)  # the first rollout's tasks
    obs, info = envs.reset(seed=args.seed)
    obs = torch.as_tensor(obs)
    for iteration in range(iterations):
        # ---- rollout: one task (K episodes) per environment
        buffer = {key: [] for key in ("obs", "actions", "logprobs", "values", "rewards", "dones", "task_ids")}
        weights: dict[int, float] = {}
        for _ in range(steps):
            with torch.no_grad():
                action, logprob, _, value = agent.act(obs)
            next_obs, reward, terminated, truncated, info = envs.step(action.numpy())
            ended = terminated | truncated
            ids = np.where(ended, info["final_info"]["roml_task_id"], info["roml_task_id"]) if ended.any() else None
            for key, item in zip(buffer, (obs, action, logprob, value, reward, ended, ids)):
                buffer[key].append(item)
            weights.update(driver.record_infos(info))
            driver.top_up(envs)  # the next rollout's tasks, before this one's last step starts them
            obs = torch.as_tensor(next_obs)
        ids = np.array([row if row is not None else [np.nan] * n for row in buffer.pop("task_ids")])
        ids = _fill_ids(ids)
        frame_weights = torch.tensor([[weights[int(task)] for task in row] for row in ids], dtype=torch.float32)

        # ---- GAE over the rollout (through the end of the task's first episode; the last step bootstraps from itself)
        b = {key: torch.as_tensor(np.array(value)) for key, value in buffer.items() if key not in ("obs", "values")}
        b_obs, values = torch.stack(buffer["obs"]), torch.stack(buffer["values"])
        rewards, advantages = b["rewards"].float(), torch.zeros(steps, n)
        last = torch.zeros(n)
        for t in reversed(range(steps)):
            next_value = values[t + 1] if t + 1 < steps else values[t]
            delta = rewards[t] + 0.99 * next_value - values[t]
            last = delta + 0.99 * 0.95 * last * (t + 1 < steps)
            advantages[t] = last
        returns = advantages + values

        # ---- PPO: the loss of each frame weighted by its task's weight (CVaR-ML: only the tail's frames count)
        flat = lambda x: x.reshape(steps * n, *x.shape[2:])  # noqa: E731
        f_obs, f_actions, f_logprobs = flat(b_obs), flat(b["actions"]), flat(b["logprobs"])
        f_adv, f_ret, f_w = flat(advantages), flat(returns), flat(frame_weights)
        for _ in range(4):
            for mb in np.array_split(rng.permutation(steps * n), 4):
                w = f_w[mb]
                if w.sum() == 0:
                    continue
                _, logprob, entropy, value = agent.act(f_obs[mb], f_actions[mb])
                adv = f_adv[mb]
                mean = (w * adv).sum() / w.sum()
                adv = (adv - mean) / ((w * (adv - mean) ** 2).sum() / w.sum()).sqrt().clamp_min(1e-8)
                ratio = (logprob - f_logprobs[mb]).exp()
                policy = -torch.minimum(ratio * adv, ratio.clamp(0.8, 1.2) * adv)
                loss = policy + 0.5 * (value - f_ret[mb]) ** 2 - 0.01 * entropy
                optimizer.zero_grad()
                ((w * loss).sum() / w.sum()).backward()
                nn.utils.clip_grad_norm_(agent.parameters(), 0.5)
                optimizer.step()

        if iteration % max(1, iterations // 10) == 0 or iteration == iterations - 1:
            task_returns = rewards.sum(0).numpy() / EPISODES_PER_TASK
            phi = sampler.history[-1]["phi"][0] if getattr(sampler, "history", None) else rain_family().phi0[0]
            trained = sum(w > 0 for w in weights.values())
            print(
                f"update {iteration + 1}: mean task return {task_returns.mean():+.3f}, "
                f"tasks trained on {trained}/{len(weights)}, mean rain (phi) {phi:.3f}"
            )
    envs.close()


def _fill_ids(ids: np.ndarray) -> np.ndarray:
    """The task id of every frame: the ids recorded at episode ends, carried back over the frames before them."""
    filled = ids.copy()
    for t in range(len(filled) - 2, -1, -1):
        missing = np.isnan(filled[t])
        filled[t][missing] = filled[t + 1][missing]
    return filled


if __name__ == "__main__":
    gymnasium.logger.min_level = gymnasium.logger.ERROR
    main()
