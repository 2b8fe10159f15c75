"""RoMLTasks with RLlib's PPO (new API stack, local env runner) on Khazad-Dum and a toy task environment: every task
runs its episodes with that task and is scored by the returns RLlib saw; seeds, phi and state_dict as for any roml
sampler. Runs where RLlib is installed (``make test`` runs it in its own environment: RLlib pins gymnasium)."""

from __future__ import annotations

import copy

import numpy as np
import pytest

pytest.importorskip("ray.rllib")

import ray  # noqa: E402
from ray.rllib.algorithms.ppo import PPOConfig  # noqa: E402
from ray.tune.registry import register_env  # noqa: E402

from roml.envs.khazad_dum import KhazadDumEnv, rain_family  # noqa: E402
from roml.integrations.rllib import RoMLTasks, task_env_creator  # noqa: E402
from roml.samplers import CVaRSampler, RoMLSampler  # noqa: E402
from steps_env import Steps  # noqa: E402

K = 2


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, configure_logging=False)
    register_env("roml-test-khazad-dum", task_env_creator(lambda config: KhazadDumEnv(), K))
    register_env("roml-test-steps", task_env_creator(lambda config: Steps(length=1), 1))
    yield
    ray.shutdown()


def build(env: str, tasks: RoMLTasks, batch: int, **callbacks):
    config = (
        PPOConfig()
        .environment(env)
        .env_runners(num_env_runners=0, num_envs_per_env_runner=4)
        .training(train_batch_size_per_learner=batch, minibatch_size=batch // 2, num_epochs=1)
        .callbacks(**tasks.callbacks(), **callbacks)
        .debugging(seed=0)
    )
    return config.build_algo()


def test_every_task_runs_its_episodes_and_is_scored_by_the_returns_rllib_saw():
    sampler = RoMLSampler(rain_family(), alpha=0.2, beta=0.2, batch_size=8, seed=0)
    tasks = RoMLTasks(sampler, K)
    handed_out, episodes, observed = {}, [], {}
    refill = tasks.driver.refill

    def spy_refill(queues, per_env):  # the task of every id handed out
        out = refill(queues, per_env)
        handed_out.update((tid, task.tolist()) for queue in out or () for tid, task in queue)
        return out

    tasks.driver.refill = spy_refill
    observe = sampler.observe
    sampler.observe = lambda batch, scores: (
        observed.update(zip(map(tuple, batch.tasks.tolist()), scores)) or observe(batch, scores)
    )

    def on_episode_end(*, episode, env, env_index, **_):  # RLlib's own view of each episode, in its env runner
        info = episode.get_infos(-1)
        task = env.envs[env_index].unwrapped.task.tolist()  # the environment still holds the episode's task
        episodes.append((info["roml_task_id"], info["roml_task_episode"], episode.get_return(), task))

    algorithm = build("roml-test-khazad-dum", tasks, 512, on_episode_end=on_episode_end)
    for _ in range(4):
        algorithm.train()
    saved = copy.deepcopy(tasks.state_dict())
    algorithm.stop()

    by_task: dict[int, list] = {}
    for task_id, episode, ret, task in episodes:
        assert task == handed_out[task_id]  # every episode, the first ones too, ran its queued task
        by_task.setdefault(task_id, []).append((episode, ret))
    assert all([e for e, _ in runs] in ([0], [0, 1]) for runs in by_task.values())  # K = 2 episodes, in order
    assert tasks.untracked_episodes == 0 and len(tasks.weights) >= 24 and set(tasks.weights.values()) == {1.0}
    for task_id in tasks.weights:  # scored by the mean of the two returns RLlib recorded
        runs = by_task[task_id]
        assert observed[tuple(handed_out[task_id])] == pytest.approx(np.mean([r for _, r in runs]), abs=1e-9)
    assert len(sampler.history) >= 3

    resumed = RoMLTasks(RoMLSampler(rain_family(), alpha=0.2, beta=0.2, batch_size=8, seed=5), K)
    resumed.load_state_dict(saved)
    np.testing.assert_array_equal(resumed.sampler.sample(8).tasks, tasks.sampler.sample(8).tasks)
    assert resumed.driver.open_tasks == tasks.driver.open_tasks > 0


def test_same_seed_same_history_and_phi_moves_to_the_hard_tasks():
    def history():
        tasks = RoMLTasks(RoMLSampler(Steps().task_family(), alpha=0.1, beta=0.2, batch_size=16, seed=7), 1, per_env=80)
        algorithm = build("roml-test-steps", tasks, 256)
        for _ in range(4):
            algorithm.train()
        algorithm.stop()
        return tasks.sampler.history

    first, second = history(), history()
    assert len(first) >= 40
    assert [h["phi"].tolist() for h in first] == [h["phi"].tolist() for h in second]
    assert first[-1]["phi"][0] > 0.8  # from 0.5 (uniform) towards x = 1, the lowest return


def test_cvar_ml_and_bad_settings_are_refused():
    with pytest.raises(TypeError, match="CVaR-ML is not supported"):
        RoMLTasks(CVaRSampler(rain_family()), K)
    with pytest.raises(ValueError, match="per_env"):
        RoMLTasks(RoMLSampler(rain_family()), K, per_env=0)
