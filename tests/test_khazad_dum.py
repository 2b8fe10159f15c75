"""Tests of roml.envs.khazad_dum: the authors' Khazad-Dum (App. D.1; docs/authors-code.md, section 3), single and
vectorised."""

from __future__ import annotations

import copy
import pickle
import warnings

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from roml.envs import khazad_dum as kd
from roml.envs.task_api import TaskEnv, TaskVecEnv
from roml.tasks import Exponential
from roml.envs.khazad_dum import (
    ABYSS,
    FLOOR,
    MAP,
    RAIN_MEAN,
    WALL,
    KhazadDumEnv,
    KhazadDumVecEnv,
    observe,
    register_envs,
    sample_task,
    transition,
)

LEFT, RIGHT, DOWN, UP = 0, 1, 2, 3
T = 32


def run(env: KhazadDumEnv, actions, start, seed=0):
    """Reset at ``start`` (keeping the env's task), take ``actions``, then UP until step 32.

    Returns the 32 step rewards, the positions after each step and the last info.
    """
    env.reset(seed=seed, options={"start": start})
    rewards, positions, info = [], [], {}
    for k in range(T):
        a = actions[k] if k < len(actions) else UP
        _, r, terminated, truncated, info = env.step(a)
        assert terminated is False
        assert truncated is (k == T - 1)
        rewards.append(r)
        positions.append(env.state_xy)
    return np.array(rewards), np.array(positions), info


def step_reward(xy, goal_bonus=False, noisy_tau=0.0):
    """The reference formula for one step reward of a running agent that ends the move at ``xy``."""
    r = max(-(abs(xy[0] - 2) + abs(xy[1] - 7)) / 5, -1)
    return (r - 3 * noisy_tau + (5 if goal_bonus else 0)) / 32


# ---------------------------------------------------------------------------------------------------- geometry
def test_geometry():
    assert MAP.shape == (11, 9)
    assert not MAP.flags.writeable
    # outer walls and nothing else
    walls = {(x, y) for x in range(11) for y in range(9) if MAP[x, y] == WALL}
    border = {(x, y) for x in range(11) for y in range(9) if x in (0, 10) or y in (0, 8)}
    assert walls == border
    # abyss: x = 1 and x = 3..6 of rows 3, 4, 5
    abyss = {(x, y) for x in range(11) for y in range(9) if MAP[x, y] == ABYSS}
    assert abyss == {(x, y) for x in (1, 3, 4, 5, 6) for y in (3, 4, 5)}
    # bridges: the narrow column 2 and the wide columns 7..9 are floor in the abyss rows
    for y in (3, 4, 5):
        row = [WALL, ABYSS, FLOOR, ABYSS, ABYSS, ABYSS, ABYSS, FLOOR, FLOOR, FLOOR, WALL]
        assert [MAP[x, y] for x in range(11)] == row
    assert kd.NARROW_BRIDGE_COLUMNS == (2,) and kd.WIDE_BRIDGE_COLUMNS == (7, 8, 9)
    assert kd.GOAL == (2, 7) and MAP[2, 7] == FLOOR
    assert kd.EPISODE_LENGTH == 32 and RAIN_MEAN == 0.1


def test_starts_are_uniform_in_bottom_left():
    vec = KhazadDumVecEnv(4000)
    vec.reset(seed=3)
    xy = vec.state_xy
    assert xy.min() >= 0.5 and xy.max() < 2.5
    assert set(map(tuple, np.round(xy).astype(int))) == {(1, 1), (1, 2), (2, 1), (2, 2)}
    np.testing.assert_allclose(xy.mean(axis=0), [1.5, 1.5], atol=0.03)


def test_cells_round_half_to_even():
    # x = 2.5 rounds to the bridge column 2 (numpy), not to the abyss column 3: moving up from (2.5, 2) is safe.
    env = KhazadDumEnv(task=0.0)
    env.reset(options={"start": (2.5, 2.0)})
    env.step(UP)
    info = env.step(UP)[4]
    assert not info["fell"] and np.array_equal(env.state_xy, [2.5, 4.0])


# ---------------------------------------------------------------------------------------------------- rewards
def test_short_path_return_by_hand():
    env = KhazadDumEnv(task=0.0)
    rewards, positions, info = run(env, [RIGHT] + [UP] * 6, start=(1.0, 1.0))
    # after each move: (2,1) L1=6 -> -1; (2,2) 5 -> -1; (2,3) 4 -> -0.8; (2,4) -0.6; (2,5) -0.4; (2,6) -0.2;
    # (2,7) goal: 0 + 5; then 25 steps at the goal: 0.
    expected = np.array([-1, -1, -0.8, -0.6, -0.4, -0.2, 5] + [0] * 25) / 32
    np.testing.assert_allclose(rewards, expected, rtol=0, atol=1e-15)
    assert rewards.sum() == pytest.approx(1 / 32)
    assert np.array_equal(positions[-1], [2.0, 7.0])  # no more moves after the goal
    assert info["reached_goal"] and info["short"] and not info["long"] and not info["fell"]
    assert info["path"] == "short_done"


def test_short_path_with_offset_and_formula():
    env = KhazadDumEnv(task=0.0)
    rewards, positions, _ = run(env, [RIGHT] + [UP] * 5, start=(1.4, 1.6))
    # (2.4,1.6) L1=5.8 -> -1; (2.4,2.6) 4.8 -> -0.96; 3.6 -> -0.76; 4.6 -> -0.56; 5.6 -> -0.36; (2.4,6.6) is cell (2,7):
    # -0.16 + 5.  Total 1.2 / 32.
    assert rewards.sum() == pytest.approx(1.2 / 32, abs=1e-12)
    for k in range(5):
        assert rewards[k] == pytest.approx(step_reward(positions[k]), abs=1e-15)
    assert rewards[5] == pytest.approx(step_reward(positions[5], goal_bonus=True), abs=1e-15)


def _short_policy(xy):
    cx = np.round(xy[:, 0])
    return np.where(cx < 2, RIGHT, np.where(cx > 2, LEFT, UP))


def test_short_path_returns_match_authors_typical_range():
    vec = KhazadDumVecEnv(2000, tasks=0.0)
    vec.reset(seed=11)
    total = np.zeros(vec.num_envs)
    for _ in range(T):
        _, reward, _, _, info = vec.step(_short_policy(vec.state_xy))
        total += reward
    assert info["reached_goal"].all() and info["short"].all() and not info["long"].any()
    assert 0.0 < total.min() and total.max() < 0.11
    assert 0.04 < total.mean() < 0.08  # the authors' typical short-bridge success: about +0.04 .. 0.08


def test_long_path_return_by_hand():
    env = KhazadDumEnv(task=0.5)  # rain never touches the wide bridge
    actions = [RIGHT] * 7 + [UP] * 6 + [LEFT] * 6
    rewards, positions, info = run(env, actions, start=(1.0, 1.0))
    # 7 rights (2..8,1) and 6 ups (8,2..7): L1 >= 6 -> -1 each; lefts (7,7) 5 -> -1, (6,7) -0.8, (5,7) -0.6,
    # (4,7) -0.4, (3,7) -0.2, (2,7) 0 + 5; then 0.
    expected = np.array([-1] * 13 + [-1, -0.8, -0.6, -0.4, -0.2, 5] + [0] * 13) / 32
    np.testing.assert_allclose(rewards, expected, rtol=0, atol=1e-15)
    assert rewards.sum() == pytest.approx(-11 / 32)
    assert info["long"] and not info["short"] and info["reached_goal"] and info["path"] == "long_done"
    # from (2, 2): -6 - 5 - 3 + 5 = -9 -> -0.28, the authors' "about -0.27"
    rewards, _, _ = run(env, [RIGHT] * 6 + [UP] * 5 + [LEFT] * 6, start=(2.0, 2.0))
    assert rewards.sum() == pytest.approx(-9 / 32)


def test_fall_into_abyss():
    env = KhazadDumEnv(task=0.0)
    rewards, positions, info = run(env, [UP, UP], start=(1.0, 1.0))
    # (1,2) L1=6 -> -1; (1,3) is abyss: -1 (no extra penalty), then -1 per step: exactly -1 in total
    np.testing.assert_allclose(rewards, np.full(T, -1 / 32), rtol=0, atol=0)
    assert rewards.sum() == pytest.approx(-1.0)
    assert np.array_equal(positions[-1], [1.0, 3.0])  # the fallen agent no longer moves
    assert info["fell"] and not info["reached_goal"] and not info["short"] and info["path"] == "stay_fall"

    # falling off the narrow bridge: the step into the abyss still earns the distance reward
    rewards, _, info = run(env, [UP, LEFT], start=(2.0, 2.0))
    # (2,3) L1=4 -> -0.8; (1,3) L1=5 -> -1 and fallen; 30 x -1
    assert rewards.sum() == pytest.approx((-0.8 - 1 - 30) / 32)
    assert info["fell"] and info["short"] and info["path"] == "short_fall"


# ---------------------------------------------------------------------------------------------------- dynamics
@pytest.mark.parametrize(
    "start, action",
    [
        ((1.3, 1.7), UP),
        ((1.3, 1.7), RIGHT),
        ((5.2, 6.1), LEFT),
        ((8.1, 4.2), UP),
        ((7.4, 3.3), LEFT),
        ((9.2, 5.4), DOWN),
        ((2.2, 2.4), UP),
        ((3.0, 2.0), UP),
    ],
)
def test_no_noise_and_no_cost_off_the_narrow_bridge(start, action):
    # banks and the wide bridge are dry; (2.2, 2.4) -> (2.2, 3.4) enters the bridge but the pre-move position decides;
    # (3.0, 2.0) -> (3.0, 3.0) falls into the abyss without noise.
    env = KhazadDumEnv(task=0.7)
    env.reset(seed=5, options={"start": start})
    _, r, _, _, info = env.step(action)
    expected = np.asarray(start) + kd._DIRECTIONS[action]
    assert np.array_equal(env.state_xy, expected)
    assert not info["noisy"]
    assert r == pytest.approx(step_reward(expected), abs=1e-15)


@pytest.mark.parametrize("start, action", [((2.0, 3.0), UP), ((2.3, 4.6), UP), ((2.0, 5.0), UP), ((1.9, 3.2), DOWN)])
def test_noise_and_cost_on_the_narrow_bridge(start, action):
    tau = 0.2
    env = KhazadDumEnv(task=tau)
    env.reset(seed=7, options={"start": start})
    z = copy.deepcopy(env.np_random).standard_normal((1, 2))[0]  # the normals the env will draw
    _, r, _, _, info = env.step(action)
    expected = np.asarray(start) + kd._DIRECTIONS[action] + tau * z
    assert info["noisy"]
    np.testing.assert_array_equal(env.state_xy, expected)
    cell = tuple(np.round(expected).astype(int))
    assert info["fell"] == (MAP[cell] == ABYSS)
    assert r == pytest.approx(step_reward(expected, noisy_tau=tau, goal_bonus=cell == (2, 7)), abs=1e-15)


def test_no_noise_on_the_bridge_when_dry():
    env = KhazadDumEnv(task=0.0)
    env.reset(options={"start": (2.0, 3.0)})
    _, r, _, _, info = env.step(UP)
    assert not info["noisy"] and np.array_equal(env.state_xy, [2.0, 4.0])
    assert r == pytest.approx(-0.6 / 32)


def test_noise_decided_before_the_move_costs_even_when_leaving_the_bridge():
    # From (2, 5) (on the bridge) up to about (2, 6) (the bank): noisy and charged 3 tau, as in the authors' code.
    normals = np.array([[0.1, -0.2]])
    out = transition(np.array([[2.0, 5.0]]), np.zeros(1, np.int8), np.array([UP]), np.array([0.3]), normals)
    assert out.noisy[0]
    np.testing.assert_allclose(out.xy, [[2.03, 5.94]], atol=1e-15)
    assert out.reward[0] == pytest.approx((-(0.03 + 1.06) / 5 - 0.9) / 32)


@pytest.mark.parametrize(
    "start, action", [((1.2, 1.3), LEFT), ((1.2, 1.3), DOWN), ((5.0, 7.0), UP), ((9.3, 7.0), RIGHT), ((9.4, 6.6), UP)]
)
def test_walls_reject_the_move(start, action):
    env = KhazadDumEnv(task=0.0)
    env.reset(options={"start": start})
    _, r, _, _, info = env.step(action)
    assert np.array_equal(env.state_xy, start)
    assert r == pytest.approx(step_reward(start), abs=1e-15)


def test_noisy_move_into_wall_is_rejected_entirely_and_clipped():
    xy = np.array([[2.0, 4.0], [2.0, 4.0], [2.0, 4.0]])
    status = np.zeros(3, np.int8)
    # 1: pushed far left -> clipped to x = 0 (a wall): stays, y noise too is discarded
    # 2: pushed into the abyss at x = 3: falls; 3: small noise: stays on the bridge
    normals = np.array([[-5.0, 0.7], [1.2, 0.0], [0.1, 0.1]])
    out = transition(xy, status, np.array([LEFT, RIGHT, UP]), np.array([1.0, 0.5, 0.5]), normals)
    np.testing.assert_array_equal(out.xy[0], [2.0, 4.0])
    np.testing.assert_array_equal(out.xy[1], [3.6, 4.0])
    np.testing.assert_allclose(out.xy[2], [2.05, 5.05], atol=1e-15)
    np.testing.assert_array_equal(out.status, [0, -1, 0])
    assert out.noisy.all()
    # clipping: a huge kick upwards on the bridge ends at y = 8 (wall) -> rejected
    out = transition(xy[:1], status[:1], np.array([UP]), np.array([50.0]), np.array([[0.0, 1.0]]))
    np.testing.assert_array_equal(out.xy, xy[:1])


def test_finished_agents_do_not_move_and_earn_fixed_rewards():
    xy = np.array([[2.0, 7.0], [1.0, 4.0]])
    out = transition(xy, np.array([1, -1], np.int8), np.array([DOWN, UP]), np.array([1.0, 1.0]), np.ones((2, 2)))
    np.testing.assert_array_equal(out.xy, xy)
    np.testing.assert_array_equal(out.reward, [0.0, -1 / 32])
    np.testing.assert_array_equal(out.status, [1, -1])
    assert not out.noisy.any()


def test_transition_is_pure():
    xy, status = np.array([[2.0, 4.0]]), np.zeros(1, np.int8)
    args = (xy, status, np.array([UP]), np.array([0.3]), np.array([[0.5, 0.5]]))
    saved = [a.copy() for a in args]
    transition(*args)
    for a, b in zip(args, saved):
        np.testing.assert_array_equal(a, b)


def _reference_transition(xy, status, action, tau, normals):
    """The dynamics as numpy array operations, written independently of the compiled per-environment kernel."""
    cell = lambda p: kd._CELL_CODE[np.rint(p[:, 0]).astype(int) * kd.HEIGHT + np.rint(p[:, 1]).astype(int)]  # noqa: E731
    running = status == 0
    noisy = running & (tau > 0) & (xy[:, 1] > 2.5) & (xy[:, 1] < 5.5) & (xy[:, 0] < 3)
    proposal = xy + kd._DIRECTIONS[action]
    proposal[noisy] += normals[noisy] * tau[noisy, None]
    proposal = np.minimum(np.maximum(proposal, 0.0), [10.0, 8.0])
    new_xy = np.where((running & (cell(proposal) != WALL))[:, None], proposal, xy)
    code = cell(new_xy)
    reached, fell = running & (code == kd._GOAL_CODE), running & (code == ABYSS)
    reward = np.maximum(-np.abs(new_xy - [2.0, 7.0]).sum(axis=1) / 5.0, -1.0)
    reward[noisy] -= 3.0 * tau[noisy]
    reward[reached] += 5.0
    reward[status > 0], reward[status < 0] = 0.0, -1.0
    new_status = status.copy()
    new_status[reached], new_status[fell] = 1, -1
    return new_xy, new_status, reward / 32, noisy


def _reference_observe(xy):
    corner = np.floor(xy).astype(int)
    d = corner + 1 - xy
    obs = np.zeros((len(xy), 11, 9), np.float32)
    for k, (i, j) in enumerate(corner):
        obs[k, i : i + 2, j : j + 2] = np.outer([d[k, 0], 1 - d[k, 0]], [d[k, 1], 1 - d[k, 1]])
    return obs.reshape(len(xy), 99)


def test_compiled_step_equals_a_numpy_reference_bit_for_bit():
    # heavy rain and random actions from spread-out starts: walls, clipping, falls, goals and the bridges all occur
    rng = np.random.default_rng(5)
    n = 512
    starts = np.array([(x, y) for x in range(1, 10) for y in (1, 2, 6, 7)], dtype=float)
    xy = starts[rng.integers(0, len(starts), n)] + rng.uniform(-0.45, 0.45, (n, 2))
    status, tau = np.zeros(n, np.int8), rng.exponential(0.5, n)
    seen = np.zeros(3, int)
    for _ in range(40):
        action, normals = rng.integers(0, 4, n), rng.standard_normal((n, 2))
        expected = _reference_transition(xy, status, action, tau, normals)
        out = transition(xy, status, action, tau, normals)
        for got, want in zip(out, expected):
            np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(observe(out.xy), _reference_observe(out.xy))
        xy, status = out.xy, out.status
        seen += [(status == -1).sum(), (status == 1).sum(), out.noisy.sum()]
    assert (seen > 0).all()


def test_path_flags_both_bridges():
    env = KhazadDumEnv(task=0.0)
    # onto the narrow bridge, back, then the long way round
    actions = [UP, DOWN] + [RIGHT] * 6 + [UP] * 5 + [LEFT] * 6
    _, _, info = run(env, actions, start=(2.0, 2.0))
    assert info["short"] and info["long"] and info["reached_goal"] and info["path"] == "long_done"


# ---------------------------------------------------------------------------------------------------- observation
def test_observation_properties():
    vec = KhazadDumVecEnv(256, tasks=np.linspace(0, 1, 256))
    obs, _ = vec.reset(seed=2)
    rng = np.random.default_rng(0)
    grid = np.stack(np.meshgrid(np.arange(11), np.arange(9), indexing="ij"), axis=-1).reshape(99, 2)
    for _ in range(T):
        assert obs.shape == (256, 99) and obs.dtype == np.float32
        assert vec.observation_space.contains(obs)
        assert (obs >= 0).all()
        np.testing.assert_allclose(obs.sum(axis=1), 1.0, atol=1e-6)
        np.testing.assert_allclose(obs.astype(np.float64) @ grid, vec.state_xy, atol=1e-5)
        assert ((obs > 0).sum(axis=1) <= 4).all()
        obs = vec.step(rng.integers(0, 4, 256))[0]


def test_observation_layout_is_x_major():
    obs = observe(np.array([[2.25, 3.5], [4.0, 6.0]]))
    m = obs.reshape(2, 11, 9)
    expected = np.zeros((11, 9), np.float32)
    expected[2, 3] = expected[2, 4] = 0.375
    expected[3, 3] = expected[3, 4] = 0.125
    np.testing.assert_array_equal(m[0], expected)
    assert obs[1, 4 * 9 + 6] == 1.0 and obs[1].sum() == 1.0


# ---------------------------------------------------------------------------------------------------- gymnasium API
def test_check_env_passes():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*not having a spec.*")
        check_env(KhazadDumEnv())
        check_env(KhazadDumEnv(task=0.3, render_mode="ansi"))


def test_registered_env_make_and_check():
    register_envs()
    register_envs()  # idempotent
    env = gymnasium.make("roml/KhazadDum-v0", task=0.25)
    assert isinstance(env.unwrapped, KhazadDumEnv)
    assert env.unwrapped.task.tolist() == [0.25] and env.spec.max_episode_steps is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped)
    env.reset(seed=0)
    for k in range(T):
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        assert not terminated and truncated == (k == T - 1)

    vec = gymnasium.make_vec(
        "roml/KhazadDum-v0", num_envs=3, vectorization_mode="vector_entry_point", tasks=[0, 0.1, 0.2]
    )
    assert isinstance(vec, KhazadDumVecEnv)
    np.testing.assert_array_equal(vec.get_tasks(), [[0], [0.1], [0.2]])


def test_exactly_32_steps_and_reset_required():
    env = KhazadDumEnv()
    with pytest.raises(RuntimeError, match="reset"):
        env.step(UP)
    for episode in range(3):
        env.reset(seed=episode)
        flags = [env.step(int(a))[2:4] for a in np.random.default_rng(episode).integers(0, 4, T)]
        assert [f[0] for f in flags] == [False] * T
        assert [f[1] for f in flags] == [False] * (T - 1) + [True]
        assert env.elapsed_steps == T
        with pytest.raises(RuntimeError, match="reset"):
            env.step(UP)

    vec = KhazadDumVecEnv(3)
    with pytest.raises(RuntimeError):
        vec.step(np.zeros(3, int))
    vec.reset(seed=0)
    for k in range(T):
        _, _, term, trunc, _ = vec.step(np.full(3, UP))
        assert not term.any() and (trunc.all() if k == T - 1 else not trunc.any())
    with pytest.raises(RuntimeError):
        vec.step(np.zeros(3, int))


def _rollout(env, seed, episodes=3):
    rng = np.random.default_rng(123)
    out = []
    for e in range(episodes):
        obs, _ = env.reset(seed=seed if e == 0 else None)
        out.append(obs)
        for _ in range(T):
            obs, r, _, _, info = env.step(int(rng.integers(4)))
            out += [obs, np.array([r, info["fell"], info["reached_goal"], info["short"], info["long"]])]
    return np.concatenate([np.ravel(x) for x in out])


def test_determinism():
    a = _rollout(KhazadDumEnv(task=0.4), seed=42)
    b = _rollout(KhazadDumEnv(task=0.4), seed=42)
    c = _rollout(KhazadDumEnv(task=0.4), seed=43)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_pickle_round_trip_mid_episode():
    env = KhazadDumEnv(task=0.5)
    env.reset(seed=9, options={"start": (2.0, 2.0)})
    for a in [UP, UP]:
        env.step(a)
    clone = pickle.loads(pickle.dumps(env))
    for a in [UP, UP, UP, LEFT, RIGHT, DOWN]:
        o1, r1, *_, i1 = env.step(a)
        o2, r2, *_, i2 = clone.step(a)
        np.testing.assert_array_equal(o1, o2)
        assert r1 == r2 and i1 == i2

    vec = KhazadDumVecEnv(4, tasks=[0.0, 0.2, 0.4, 0.8])
    vec.reset(seed=1, options={"starts": np.full((4, 2), 2.0)})
    vec.step(np.full(4, UP))
    clone = pickle.loads(pickle.dumps(vec))
    for _ in range(3):
        a, b = vec.step(np.full(4, UP)), clone.step(np.full(4, UP))
        for x, y in zip(a[:4], b[:4]):
            np.testing.assert_array_equal(x, y)


# ---------------------------------------------------------------------------------------------------- task API
def test_task_api():
    env = KhazadDumEnv()
    assert isinstance(env, TaskEnv) and env.task_names == ("tau",) and env.task_dim == 1
    assert env.get_task().tolist() == [RAIN_MEAN] and KhazadDumEnv(task=None).get_task().tolist() == [RAIN_MEAN]
    assert repr(env.task_family()) == repr(Exponential(RAIN_MEAN, names=("tau",)))
    env.reset(seed=0)
    env.set_task(0.3)
    assert env.get_task().tolist() == [0.3] and env.task.tolist() == [RAIN_MEAN]  # takes effect at the next reset
    env.reset()
    assert env.task.tolist() == [0.3]
    env.reset(options={"task": np.array([0.05])})
    assert env.task.tolist() == [0.05] and env.get_task().shape == (1,)
    env.set_task(np.float32(0.0))
    env.reset()
    assert env.task.tolist() == [0.0]

    vec = KhazadDumVecEnv(3)
    assert isinstance(vec, TaskVecEnv) and vec.get_tasks().tolist() == [[RAIN_MEAN]] * 3
    vec.set_tasks(np.array([[0.1], [0.2], [0.3]]))
    vec.reset(seed=0)
    np.testing.assert_array_equal(vec.tasks, [[0.1], [0.2], [0.3]])
    vec.reset(options={"tasks": [0.0, 1.0, 2.0]})
    np.testing.assert_array_equal(vec.get_tasks(), [[0.0], [1.0], [2.0]])
    vec.reset()  # keeps the tasks
    np.testing.assert_array_equal(vec.tasks, [[0.0], [1.0], [2.0]])
    vec.set_tasks(0.5)  # one number for all
    np.testing.assert_array_equal(vec.get_tasks(), [[0.5]] * 3)


def test_sample_task_is_exponential_with_mean_0_1():
    rng = np.random.default_rng(0)
    x = sample_task(rng, 200_000)
    assert x.min() >= 0
    assert x.mean() == pytest.approx(0.1, rel=0.01)
    assert np.median(x) == pytest.approx(0.1 * np.log(2), rel=0.02)
    assert isinstance(sample_task(rng), float)
    assert KhazadDumEnv.sample_task(np.random.default_rng(1)) == sample_task(np.random.default_rng(1))


@pytest.mark.parametrize("bad", [-0.1, np.nan, np.inf, "abc", [0.1, 0.2], None])
def test_bad_tasks_raise(bad):
    env = KhazadDumEnv()
    with pytest.raises(ValueError, match="task"):
        env.set_task(bad)
    with pytest.raises(ValueError, match="task"):
        env.reset(options={"task": bad})
    if bad is not None:  # None is the default task
        with pytest.raises(ValueError, match="task"):
            KhazadDumEnv(task=bad)
    vec = KhazadDumVecEnv(2)
    with pytest.raises(ValueError, match="tasks"):
        vec.set_tasks([0.1, bad] if not isinstance(bad, list) else bad + [0.3])


@pytest.mark.parametrize("bad", [4, -1, 1.5, True, "up", [0, 1], None])
def test_bad_actions_raise(bad):
    env = KhazadDumEnv()
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action"):
        env.step(bad)
    env.step(np.int64(2))  # numpy integers and whole floats are fine
    env.step(np.array([3]))
    env.step(1.0)


def test_bad_vec_inputs_raise():
    for n in (0, -2, 1.5, True):
        with pytest.raises(ValueError, match="num_envs"):
            KhazadDumVecEnv(n)
    vec = KhazadDumVecEnv(3)
    vec.reset(seed=0)
    bad_actions = [np.zeros(2, int), np.zeros((3, 1), int), np.array([0, 1, 4]), np.array([0.5, 1, 2])]
    bad_actions.append(np.array([-1, 0, 0]))
    for bad in bad_actions:
        with pytest.raises(ValueError, match="actions"):
            vec.step(bad)
    with pytest.raises(ValueError, match="tasks"):
        vec.set_tasks(np.zeros(4))
    with pytest.raises(ValueError, match="starts"):
        vec.reset(options={"starts": [[1, 1], [3, 4], [1, 1]]})  # (3, 4) is abyss
    with pytest.raises(ValueError, match="start"):
        KhazadDumEnv().reset(options={"start": (0.2, 1.0)})  # wall
    with pytest.raises(ValueError, match="seed"):
        vec.reset(seed=[1, 2, 3])


def test_render():
    env = KhazadDumEnv(render_mode="ansi")
    env.reset(options={"start": (1.0, 1.0)})
    text = env.render()
    lines = text.splitlines()
    assert len(lines) == 9 and lines[7].split()[1] == "@" and lines[1].split()[2] == "G"
    assert KhazadDumEnv().render() is None
    env = KhazadDumEnv(render_mode="rgb_array")
    env.reset(seed=0, options={"start": (1.0, 1.0)})
    image = env.render()
    assert image.shape == (9 * 16, 11 * 16, 3) and image.dtype == np.uint8
    assert image[7 * 16 + 8, 1 * 16 + 8].tolist() == [220, 30, 30]  # the agent in cell (1, 1), row 7 from the top
    assert image[1 * 16 + 8, 2 * 16 + 8].tolist() == [60, 170, 60]  # the goal (2, 7)
    assert image[4 * 16 + 8, 2 * 16 + 8].tolist() == [150, 100, 50]  # the narrow bridge
    with pytest.raises(ValueError, match="render_mode"):
        KhazadDumEnv(render_mode="human")


# ---------------------------------------------------------------------------------------------------- vec == single
class _ReplayNormals:
    """Stands in for the vec env's generator: row i of each draw comes from generator i."""

    def __init__(self, generators):
        self.generators = generators

    def standard_normal(self, size):
        assert size == (len(self.generators), 2)
        return np.stack([g.standard_normal(2) for g in self.generators])


def test_vec_env_equals_single_envs_step_by_step():
    n = 6
    taus = np.array([0.0, 0.05, 0.1, 0.3, 1.0, 2.5])
    vec = KhazadDumVecEnv(n, tasks=taus)
    obs_v, _ = vec.reset(seed=4)
    singles = []
    for i in range(n):
        env = KhazadDumEnv(task=taus[i])
        obs, _ = env.reset(options={"start": vec.state_xy[i]})
        np.testing.assert_array_equal(obs, obs_v[i])
        env.np_random = np.random.default_rng(1000 + i)
        singles.append(env)
    vec.np_random = _ReplayNormals([np.random.default_rng(1000 + i) for i in range(n)])

    rng = np.random.default_rng(8)
    noisy_steps = 0
    for _ in range(T):
        # mostly up and towards column 2, so that the narrow bridge (and its noise) is used
        actions = np.where(rng.random(n) < 0.6, UP, rng.integers(0, 4, n))
        obs_v, r_v, term_v, trunc_v, info_v = vec.step(actions)
        noisy_steps += info_v["noisy"].sum()
        for i, env in enumerate(singles):
            obs, r, term, trunc, info = env.step(int(actions[i]))
            np.testing.assert_array_equal(obs, obs_v[i])
            np.testing.assert_array_equal(env.state_xy, vec.state_xy[i])
            assert r == r_v[i] and term == term_v[i] and trunc == trunc_v[i]
            for key in ("short", "long", "fell", "reached_goal", "noisy"):
                assert info[key] == info_v[key][i], key
            assert info["path"] == vec.paths()[i]
    assert noisy_steps >= 3  # the rain noise was exercised


def test_vec_env_of_one_equals_single_env_with_same_seed():
    env, vec = KhazadDumEnv(task=0.6), KhazadDumVecEnv(1, tasks=0.6)
    rng = np.random.default_rng(5)
    for episode in range(4):
        seed = 17 if episode == 0 else None
        o1, _ = env.reset(seed=seed)
        o2, _ = vec.reset(seed=seed)
        np.testing.assert_array_equal(o1, o2[0])
        for _ in range(T):
            a = int(rng.integers(4)) if rng.random() < 0.5 else UP
            o1, r1, _, t1, i1 = env.step(a)
            o2, r2, _, t2, i2 = vec.step(np.array([a]))
            np.testing.assert_array_equal(o1, o2[0])
            assert r1 == r2[0] and t1 == t2[0] and i1["fell"] == i2["fell"][0]
