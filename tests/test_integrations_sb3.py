"""RoMLCallback and TaskWeightedPPO with Stable-Baselines3 on Khazad-Dum and a toy task environment: every task runs
its episodes with that task and is scored by the returns SB3 saw; CVaR-ML's weights reach the loss of exactly their
task's frames, and a weight-0 frame changes nothing; seeds, phi and state_dict as for any roml sampler."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

pytest.importorskip("stable_baselines3")

from stable_baselines3 import PPO  # noqa: E402
from stable_baselines3.common.buffers import RolloutBuffer  # noqa: E402
from stable_baselines3.common.env_util import make_vec_env  # noqa: E402

import roml.envs  # noqa: E402,F401  (registers roml/KhazadDum-v0)
from roml.envs.khazad_dum import EPISODE_LENGTH, rain_family  # noqa: E402
from roml.integrations.gymnasium import TaskQueue  # noqa: E402
from roml.integrations.sb3 import RoMLCallback, TaskWeightedPPO  # noqa: E402
from roml.samplers import CVaRSampler, RoMLSampler, UniformSampler  # noqa: E402
from steps_env import Steps  # noqa: E402

K = 2


def khazad_dum(n_envs: int = 4, seed: int = 0):
    return make_vec_env(
        "roml/KhazadDum-v0", n_envs=n_envs, seed=seed, wrapper_class=TaskQueue, wrapper_kwargs=dict(episodes_per_task=K)
    )


def learn(steps: int = 2048, seed: int = 0):
    sampler = RoMLSampler(rain_family(), alpha=0.2, beta=0.2, batch_size=8, seed=seed)
    episodes: list[tuple[int, int, float]] = []  # (task id, its episode, the episode's return) as SB3 saw them

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
    callback = Spy(sampler, episodes_per_task=K)
    model = PPO("MlpPolicy", khazad_dum(seed=seed), n_steps=128, seed=seed, device="cpu")
    model.learn(steps, callback=callback)
    return sampler, callback, episodes, observed


def test_the_callback_runs_every_task_for_its_episodes_and_observes_its_returns():
    sampler, callback, episodes, observed = learn()
    by_task: dict[int, list] = {}
    for task_id, episode, ret in episodes:  # every episode, the first ones too, ran a queued task
        by_task.setdefault(task_id, []).append((episode, ret))
    assert min(by_task) == 0
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


def steps_env(n_envs: int, length: int = 1):
    return make_vec_env(
        lambda: Steps(length), n_envs=n_envs, seed=0, wrapper_class=TaskQueue, wrapper_kwargs={"episodes_per_task": 1}
    )


def test_phi_moves_to_the_hard_tasks_and_the_driver_state_round_trips_mid_training():
    def run(split: bool):
        sampler = RoMLSampler(Steps().task_family(), alpha=0.1, beta=0.2, batch_size=16, seed=7)
        model = PPO("MlpPolicy", steps_env(4), n_steps=16, n_epochs=1, seed=0, device="cpu")
        callback = RoMLCallback(sampler, episodes_per_task=1)
        model.learn(640, callback=callback)
        if split:  # a new callback (and sampler) restored from the first one's state_dict continues the run
            state = copy.deepcopy(callback.driver.state_dict())
            callback = RoMLCallback(RoMLSampler(Steps().task_family(), alpha=0.1, beta=0.2, batch_size=16), 1)
            callback.driver.load_state_dict(state)
        model.learn(640, callback=callback, reset_num_timesteps=False)
        return callback.sampler.history

    whole, resumed = run(False), run(True)
    assert len(whole) >= 60
    assert [h["phi"].tolist() for h in whole] == [h["phi"].tolist() for h in resumed]
    assert whole[-1]["phi"][0] > 0.8  # from 0.5 (uniform) towards x = 1, the lowest return


def weighted_ppo(n_envs: int, **kwargs):
    return TaskWeightedPPO("MlpPolicy", khazad_dum(n_envs), n_steps=K * EPISODE_LENGTH, seed=0, device="cpu", **kwargs)


def test_cvar_ml_weights_the_frames_of_each_batch_tail():
    sampler = CVaRSampler(rain_family(), alpha=0.25, seed=1)
    observed, rollouts = [], []
    observe = sampler.observe
    sampler.observe = lambda batch, scores: observed.append(np.array(scores)) or observe(batch, scores)

    class Spy(RoMLCallback):
        def _on_rollout_end(self) -> None:
            tasks = self._frame_tasks.copy()
            super()._on_rollout_end()
            rollouts.append((tasks, self.model.rollout_buffer.weights.copy()))

    weighted_ppo(8, batch_size=64, n_epochs=2).learn(4 * 8 * K * EPISODE_LENGTH, callback=Spy(sampler, K))
    assert len(rollouts) == 4 and len(observed) == 4
    for j, ((tasks, weights), scores) in enumerate(zip(rollouts, observed)):
        assert (tasks == tasks[:1]).all() and (weights == weights[:1]).all()  # a column: one task, its weight
        np.testing.assert_array_equal(np.sort(tasks[0]), 8 * j + np.arange(8))  # a rollout: one sampler batch
        tail = scores <= np.quantile(scores, 0.25)  # the tasks' scores, by task id
        assert tail.sum() >= 2
        np.testing.assert_array_equal(weights[0], tail[tasks[0] - 8 * j])


def fill(buffer, rng, frames: slice, junk: bool = False):
    """Random rollout data in columns ``frames`` of a weighted buffer (``junk``: weight 0, with observations,
    advantages and returns 1000 times larger, which would dominate the update if they counted)."""
    scale = 1e3 if junk else 1.0
    column = buffer.values[:, frames].shape
    buffer.observations[:, frames] = rng.uniform(0, 1, buffer.observations[:, frames].shape) * scale
    buffer.actions[:, frames] = rng.integers(0, 4, buffer.actions[:, frames].shape)
    buffer.values[:, frames] = rng.normal(size=column)
    buffer.log_probs[:, frames] = rng.normal(size=column) * 0.1 - np.log(4)
    buffer.advantages[:, frames] = rng.normal(size=column) * scale
    buffer.returns[:, frames] = rng.normal(size=column) * scale
    buffer.weights[:, frames] = 0.0 if junk else 1.0
    buffer.pos, buffer.full = buffer.buffer_size, True


def test_weight_zero_frames_change_nothing_and_unit_weights_train_as_sb3():
    rng = np.random.default_rng(0)
    weighted, alone = weighted_ppo(2, batch_size=128, n_epochs=3), weighted_ppo(1, batch_size=64, n_epochs=3)
    plain = PPO("MlpPolicy", khazad_dum(1), n_steps=K * EPISODE_LENGTH, batch_size=64, n_epochs=3, seed=0, device="cpu")
    for model in (alone, plain):
        model.policy.load_state_dict(weighted.policy.state_dict())
        model.policy.optimizer.load_state_dict(weighted.policy.optimizer.state_dict())
    for model in (weighted, alone, plain):
        model._setup_learn(1, None)  # the logger and the learning-rate schedule that train() reads
    fill(weighted.rollout_buffer, rng, slice(0, 1))
    fill(weighted.rollout_buffer, rng, slice(1, 2), junk=True)
    for model in (alone, plain):  # the same first column, alone
        for name in ("observations", "actions", "values", "log_probs", "advantages", "returns"):
            getattr(model.rollout_buffer, name)[:] = getattr(weighted.rollout_buffer, name)[:, :1]
        model.rollout_buffer.pos, model.rollout_buffer.full = model.rollout_buffer.buffer_size, True
    for model in (weighted, alone, plain):  # one full-batch minibatch per epoch: the order of frames is immaterial
        model.train()
    for model in (alone, plain):
        for a, b in zip(weighted.policy.parameters(), model.policy.parameters()):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_bad_setups_are_refused():
    with pytest.raises(TypeError, match="TaskWeightedPPO"):
        PPO("MlpPolicy", khazad_dum(2), n_steps=64, device="cpu").learn(
            64, callback=RoMLCallback(CVaRSampler(rain_family()), K)
        )
    model = TaskWeightedPPO("MlpPolicy", khazad_dum(2), n_steps=48, batch_size=48, device="cpu")
    with pytest.raises(RuntimeError, match="whole tasks"):  # a rollout of 48 steps splits a 64-step task
        model.learn(96, callback=RoMLCallback(UniformSampler(rain_family()), K))
    with pytest.raises(TypeError, match="WeightedRolloutBuffer"):
        TaskWeightedPPO("MlpPolicy", khazad_dum(1), rollout_buffer_class=RolloutBuffer)
