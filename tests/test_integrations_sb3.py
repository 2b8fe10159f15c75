"""RoMLCallback with Stable-Baselines3's PPO on Khazad-Dum, used exactly as the README shows."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("stable_baselines3")

from stable_baselines3 import PPO  # noqa: E402
from stable_baselines3.common.env_util import make_vec_env  # noqa: E402

import roml.envs  # noqa: E402,F401  (registers roml/KhazadDum-v0)
from roml.envs.khazad_dum import rain_family  # noqa: E402
from roml.integrations.gymnasium import UNTRACKED, TaskQueue  # noqa: E402
from roml.integrations.sb3 import RoMLCallback  # noqa: E402
from roml.samplers import RoMLSampler  # noqa: E402


def learn(steps: int = 2048, seed: int = 0):
    sampler = RoMLSampler(rain_family(), alpha=0.2, beta=0.2, batch_size=8, seed=seed)
    venv = make_vec_env(
        "roml/KhazadDum-v0", n_envs=4, seed=seed, wrapper_class=TaskQueue, wrapper_kwargs=dict(episodes_per_task=2)
    )
    episodes: list[tuple[int, float, float]] = []  # (task id, the env's task, the episode's return) as SB3 saw them

    class Spy(RoMLCallback):
        def _on_step(self) -> bool:
            for info in self.locals["infos"]:
                if "roml_episode_return" in info:  # SB3's Monitor records the same return, rounded to 1e-6
                    assert info["roml_episode_return"] == pytest.approx(info["episode"]["r"], abs=1e-6)
                    episodes.append((info["roml_task_id"], info["roml_task_episode"], info["episode"]["r"]))
            return super()._on_step()

    observe, observed = sampler.observe, {}
    sampler.observe = lambda batch, scores: (
        observed.update(zip(map(tuple, batch.tasks.tolist()), scores)) or observe(batch, scores)
    )
    callback = Spy(sampler, episodes_per_task=2)
    model = PPO("MlpPolicy", venv, n_steps=128, seed=seed, device="cpu")
    model.learn(steps, callback=callback)
    return sampler, callback, episodes, observed


def test_the_callback_runs_every_task_for_its_episodes_and_observes_its_returns():
    sampler, callback, episodes, observed = learn()
    tracked = [e for e in episodes if e[0] != UNTRACKED]
    assert len(episodes) - len(tracked) <= 4  # at most each sub-environment's first episode, before the callback
    by_task: dict[int, list] = {}
    for task_id, episode, ret in tracked:
        by_task.setdefault(task_id, []).append((episode, ret))
    assert all([e for e, _ in runs] in ([0], [0, 1]) for runs in by_task.values())  # K = 2 episodes, in order
    complete = {tid: np.mean([r for _, r in runs]) for tid, runs in by_task.items() if len(runs) == 2}
    assert len(callback.weights) >= 24 and set(callback.weights) <= set(complete)
    assert set(callback.weights.values()) == {1.0}  # RoML: all ones
    # the sampler scored each task by the mean of the two returns SB3 recorded for it
    scores = sorted(observed.values())
    np.testing.assert_allclose(scores, sorted(complete[tid] for tid in callback.weights), atol=1e-6)
    assert len(sampler.history) >= 3  # the CEM updated from these returns


def test_same_seed_same_sampler_history():
    first, second = learn(1024)[0], learn(1024)[0]
    assert len(first.history) >= 1
    assert [h["phi"].tolist() for h in first.history] == [h["phi"].tolist() for h in second.history]
