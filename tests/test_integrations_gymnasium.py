"""TaskQueue and TaskDriver (roml.integrations.gymnasium): every task runs its K episodes with that task, the sampler
sees the returns the loop saw, in both of Gymnasium's auto-reset modes, deterministically, and resumably."""

from __future__ import annotations

import copy

import gymnasium
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from roml.envs.khazad_dum import KhazadDumEnv, rain_family
from roml.integrations.gymnasium import UNTRACKED, TaskDriver, TaskQueue
from roml.samplers import CVaRSampler, RoMLSampler, UniformSampler
from steps_env import Steps

K = 2


def test_a_single_environment_runs_each_task_for_its_episodes_and_scores_it():
    env = TaskQueue(Steps(), K)
    driver = TaskDriver(UniformSampler(env.unwrapped.task_family(), seed=0), K)
    env.queued_tasks = driver.assign(3)
    tasks = {task_id: task.tolist() for task_id, task in env.queued_tasks}
    seen: dict[int, list] = {}
    weights = {}
    for _ in range(3 * K):
        _, info = env.reset()
        task_id = info["roml_task_id"]
        assert env.unwrapped.task.tolist() == tasks[task_id]  # the queued task runs
        done = False
        while not done:
            _, _, terminated, truncated, info = env.step(0)
            done = terminated or truncated
        seen.setdefault(task_id, []).append(info["roml_task_episode"])
        assert info["roml_episode_return"] == pytest.approx(-3 * tasks[task_id][0])
        assert info["roml_task_done"] == (info["roml_task_episode"] == K - 1)
        weights.update(driver.record(task_id, info["roml_episode_return"]))
    assert seen == {0: [0, 1], 1: [0, 1], 2: [0, 1]} and weights == {0: 1.0, 1: 1.0, 2: 1.0}
    _, info = env.reset()  # the queue is empty: the environment's task runs untracked
    assert info["roml_task_id"] == UNTRACKED and driver.record(UNTRACKED, 1.0) == {} and driver.open_tasks == 0


def test_a_queue_that_logs_its_episodes_hands_each_over_once():
    env = TaskQueue(Steps(length=2), K, log_episodes=True)
    env.queued_tasks = [(4, [0.25])]
    for episode in range(K + 1):  # the task's K episodes, then one untracked (the queue is empty)
        env.reset()
        while not env.step(0)[3]:
            pass
        if episode == 0:
            assert env.pop_episodes() == [(4, -0.5)]
    assert env.pop_episodes() == [(4, -0.5), (UNTRACKED, -0.5)] and env.pop_episodes() == []
    with pytest.raises(RuntimeError, match="log_episodes"):
        TaskQueue(Steps(), K).pop_episodes()


def run_vector(mode, sampler, steps: int, n_envs: int = 3, seed: int = 0, make=KhazadDumEnv):
    """A loop over a vector env of ``n_envs`` TaskQueues with random actions. Returns the loop's own accounting
    (episode returns per task id; every non-final step checks that the sub-environment runs the task of its id)
    and what the sampler was given (``(tasks, scores)`` per observed batch)."""
    venv = SyncVectorEnv([lambda: TaskQueue(make(), K)] * n_envs, autoreset_mode=mode)
    observed = []
    observe = sampler.observe
    sampler.observe = lambda batch, scores: (
        observed.append((batch.tasks.copy(), np.array(scores))) or observe(batch, scores)
    )
    driver = TaskDriver(sampler, K)
    tasks = {}

    def top_up():
        driver.top_up(venv)
        tasks.update((tid, task.tolist()) for queue in venv.get_attr("queued_tasks") for tid, task in queue)

    top_up()
    _, info = venv.reset(seed=seed)
    rng = np.random.default_rng(seed)
    returns: dict[int, list] = {}
    running = np.zeros(n_envs)
    for _ in range(steps):
        _, reward, terminated, truncated, info = venv.step(rng.integers(0, 2, n_envs))
        ended = terminated | truncated
        final = info["final_info"] if mode == AutoresetMode.SAME_STEP and ended.any() else info
        running += reward
        for i in range(n_envs):
            if ended[i]:
                returns.setdefault(int(final["roml_task_id"][i]), []).append(running[i])
                running[i] = 0.0
            else:  # the sub-environment runs the task of the id it reports
                assert venv.envs[i].unwrapped.task.tolist() == tasks[int(info["roml_task_id"][i])]
        driver.record_infos(info)
        top_up()
    return returns, observed, tasks


@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
def test_vector_envs_in_both_autoreset_modes_score_what_the_loop_saw(mode):
    sampler = RoMLSampler(rain_family(), alpha=0.2, batch_size=6, seed=1)
    returns, observed, tasks = run_vector(mode, sampler, steps=40 * 32)
    assert all(len(episodes) <= K for episodes in returns.values())
    assert sum(len(episodes) == K for episodes in returns.values()) >= 15  # tasks with their K episodes
    assert len(observed) >= 5 and len(sampler.history) >= 2  # batches observed, the CEM updated
    by_task = {tuple(task): tid for tid, task in tasks.items()}
    for batch_tasks, scores in observed:
        for task, score in zip(batch_tasks, scores):
            episodes = returns[by_task[tuple(task.tolist())]]
            assert len(episodes) == K and score == pytest.approx(np.mean(episodes), abs=1e-12)


def test_cvar_ml_weights_the_tail_of_each_batch():
    venv = SyncVectorEnv([lambda: TaskQueue(Steps(length=2), K)] * 2)
    driver = TaskDriver(CVaRSampler(Steps().task_family(), alpha=0.5, seed=3), K)
    driver.top_up(venv, per_env=2)
    tasks = {tid: task[0] for queue in venv.get_attr("queued_tasks") for tid, task in queue}
    venv.reset(seed=0)
    weights = {}
    for _ in range(12):
        weights.update(driver.record_infos(venv.step(np.zeros(2, int))[-1]))
    assert sorted(weights) == sorted(tasks)
    # a batch per queue position: ids 0, 1 (each queue's first task), then 2, 3; CVaR-ML trains on the alpha-tail of
    # each batch: its harder task (the higher x)
    hardest = {max(pair, key=lambda tid: tasks[tid]) for pair in ((0, 1), (2, 3))}
    assert {tid for tid, w in weights.items() if w > 0} == hardest


def test_same_seed_same_history_and_phi_moves_to_the_hard_tasks():
    def history():
        sampler = RoMLSampler(Steps().task_family(), alpha=0.1, beta=0.2, batch_size=16, seed=7)
        venv = SyncVectorEnv([lambda: TaskQueue(Steps(length=1), 1)] * 4)
        driver = TaskDriver(sampler, 1)
        driver.top_up(venv)
        venv.reset(seed=0)
        for _ in range(400):
            driver.record_infos(venv.step(np.zeros(4, int))[-1])
            driver.top_up(venv)
        return sampler.history

    first, second = history(), history()
    assert len(first) >= 20
    assert [h["phi"].tolist() for h in first] == [h["phi"].tolist() for h in second]
    assert first[-1]["phi"][0] > 0.8  # from 0.5 (uniform) towards x = 1, the lowest return


def test_driver_state_round_trips_mid_training():
    family = Steps().task_family()
    driver = TaskDriver(RoMLSampler(family, alpha=0.2, batch_size=4, seed=2), K)
    pairs = driver.assign(4)
    for task_id, task in pairs[:3]:
        driver.record(task_id, -task[0])
    saved = copy.deepcopy(driver.state_dict())
    resumed = TaskDriver(RoMLSampler(family, alpha=0.2, batch_size=4, seed=99), K)
    resumed.load_state_dict(saved)
    for d in (driver, resumed):
        d.record(pairs[3][0], 0.0)
        for task_id, task in pairs:
            out = d.record(task_id, -task[0])
        assert out == {0: 1.0, 1: 1.0, 2: 1.0, 3: 1.0}
        d.assign(4)
    np.testing.assert_array_equal(driver.assign(2)[0][1], resumed.assign(2)[0][1])
    assert [h["phi"].tolist() for h in driver.sampler.history] == [h["phi"].tolist() for h in resumed.sampler.history]


def test_bad_input():
    with pytest.raises(TypeError, match="task API"):
        TaskQueue(gymnasium.make("CartPole-v1"), K)
    with pytest.raises(ValueError, match="episodes_per_task"):
        TaskQueue(Steps(), 0)
    env = TaskQueue(Steps(), K)
    with pytest.raises(ValueError, match="task space"):
        env.queued_tasks = [(0, [2.0])]
    with pytest.raises(ValueError, match="pairs"):
        env.queued_tasks = [0.5]
    with pytest.raises(ValueError, match="task id"):
        env.queued_tasks = [(-3, [0.5])]
    with pytest.raises(ValueError, match="queue them"):
        env.reset(options={"task": 0.5})
    driver = TaskDriver(UniformSampler(Steps().task_family(), seed=0), K)
    with pytest.raises(ValueError, match="not handed out"):
        driver.record(5, 1.0)
    ((task_id, _),) = driver.assign(1)
    driver.record(task_id, 1.0)
    driver.record(task_id, 1.0)
    with pytest.raises(ValueError, match="not handed out"):  # its batch was observed
        driver.record(task_id, 1.0)
    with pytest.raises(TypeError, match="TaskSampler"):
        TaskDriver(object(), K)


def test_refill_draws_one_sampler_batch_per_queue_position():
    driver = TaskDriver(UniformSampler(Steps().task_family(), seed=0), K)
    sizes = []
    sample = driver.sampler.sample
    driver.sampler.sample = lambda n: sizes.append(n) or sample(n)
    waiting = (7, np.array([0.5]))
    queues = driver.refill([(), (waiting,), ()], per_env=2)
    assert sizes == [2, 3]  # the first tasks of the two empty queues, then every queue's next one
    assert [[tid for tid, _ in queue] for queue in queues] == [[0, 2], [7, 3], [1, 4]]
    assert driver.refill(queues, per_env=2) is None and sizes == [2, 3]
