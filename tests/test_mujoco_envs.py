"""Tests of roml.envs.mujoco: the twelve MuJoCo task environments (App. D.2; docs/authors-code.md, section 4) and
their vector environment. Rollouts are short (Humanoid steps are slow), so the whole file runs in well under a
minute."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import warnings

import gymnasium
import numpy as np
import pytest

mujoco = pytest.importorskip("mujoco")

from gymnasium.envs.mujoco.half_cheetah_v5 import HalfCheetahEnv  # noqa: E402
from gymnasium.envs.mujoco.humanoid_v5 import HumanoidEnv  # noqa: E402
from gymnasium.utils.env_checker import check_env  # noqa: E402

import roml.envs  # noqa: E402,F401  (registers the ids)
from roml.envs.mujoco import (  # noqa: E402
    ENVIRONMENTS,
    EPISODE_LENGTH,
    TEN_D_CANDIDATES,
    TEN_D_SEED,
    TEN_D_SETS,
    draw_ten_d_sets,
    env_id,
    task_family,
)
from roml.envs.mujoco.ant import AntBodyEnv, AntGoalEnv, AntMassEnv  # noqa: E402
from roml.envs.mujoco.model import (  # noqa: E402
    FieldScale,
    ModelTaskApplier,
    load_model,
    model_bytes,
)
from roml.envs.mujoco.half_cheetah import (  # noqa: E402
    HalfCheetah10DEnv,
    HalfCheetahBodyEnv,
    HalfCheetahMassEnv,
    HalfCheetahVelEnv,
)
from roml.envs.mujoco.humanoid import HumanoidBodyEnv, HumanoidMassEnv, HumanoidVelEnv  # noqa: E402
from roml.envs.mujoco.vector import MujocoTaskVecEnv  # noqa: E402
from roml.tasks import BetaBox, LogBetaBox, PolarDisc  # noqa: E402

NAMES = list(ENVIRONMENTS)
OBS_DIM = {"HalfCheetah": 17, "Humanoid": 348, "AntGoal": 29, "Ant": 27}
ROOT_Z = {"HalfCheetah": 1, "Humanoid": 2, "Ant": 2}  # qpos index of the root's height
FIRST_JOINT_DOF = {"HalfCheetah": 3, "Humanoid": 6, "Ant": 6}


def robot(name: str) -> str:
    return next(r for r in ("HalfCheetah", "Humanoid", "Ant") if name.startswith(r))


def make(name: str, **kwargs):
    return gymnasium.make(env_id(name), **kwargs).unwrapped


def random_actions(space, steps: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(space.low, space.high, size=(steps,) + space.shape)


def rest_state(env, height: float | None = None):
    """``qpos0`` (optionally with the root's height set to ``height``) and zero velocity."""
    qpos = env.model.qpos0.copy()
    if height is not None:
        qpos[ROOT_Z[robot(env.name)]] = height
    return qpos, np.zeros(env.model.nv)


def sample_tasks(name: str, n: int, seed: int) -> np.ndarray:
    family = task_family(name)
    return family.sample(family.phi0, n, np.random.default_rng(seed))


# ------------------------------------------------------------------------------------------------ catalog, families
def test_catalog_lists_the_twelve_environments_with_their_families():
    assert NAMES == [
        "HalfCheetahVel",
        "HalfCheetahMass",
        "HalfCheetahBody",
        "HalfCheetah10D-a",
        "HalfCheetah10D-b",
        "HalfCheetah10D-c",
        "HumanoidVel",
        "HumanoidMass",
        "HumanoidBody",
        "AntGoal",
        "AntMass",
        "AntBody",
    ]
    for name in NAMES:
        family = task_family(name)
        np.testing.assert_array_equal(family.phi0, 0.5)
        assert task_family(env_id(name)).names == family.names
        assert env_id(name) == f"roml/{name}-v0"
    vel, hvel = task_family("HalfCheetahVel"), task_family("HumanoidVel")
    assert isinstance(vel, BetaBox) and vel.low.tolist() == [0] and vel.high.tolist() == [7]
    assert isinstance(hvel, BetaBox) and hvel.high.tolist() == [2.5]
    for name in ("HalfCheetahMass", "HumanoidMass", "AntMass"):
        family = task_family(name)
        assert isinstance(family, LogBetaBox) and family.names == ("mass",)
        np.testing.assert_allclose([family.low[0], family.high[0]], [0.5, 2.0])
    assert task_family("HalfCheetahBody").names == ("mass", "damping", "head_size")
    assert task_family("HumanoidBody").names == ("mass", "damping", "head_size")
    assert task_family("AntBody").names == ("mass", "damping", "torso_size")
    for key in "abc":
        family = task_family(f"HalfCheetah10D-{key}")
        assert family.names == TEN_D_SETS[key]
        np.testing.assert_allclose(family.low, 2**-0.5)
        np.testing.assert_allclose(family.high, 2**0.5)
    goal = task_family("AntGoal")
    assert isinstance(goal, PolarDisc) and goal.radius == 5.0 and goal.names == ("goal_x", "goal_y")
    with pytest.raises(ValueError, match="unknown MuJoCo task environment"):
        task_family("HalfCheetahFoo")


def test_ten_d_sets_are_the_documented_draw_of_dynamic_properties():
    assert draw_ten_d_sets(TEN_D_CANDIDATES, TEN_D_SEED) == TEN_D_SETS
    assert len({TEN_D_SETS[k] for k in "abc"}) == 3
    for fields in TEN_D_SETS.values():
        assert len(set(fields)) == 10 and set(fields) <= set(TEN_D_CANDIDATES)
    assert not any(f.startswith(("cam_", "light_", "mat_")) for f in TEN_D_CANDIDATES)
    doc = " ".join(HalfCheetah10DEnv.__doc__.split())  # the env's docstring lists the sets as drawn
    for key, fields in TEN_D_SETS.items():
        assert f"set {key}: {', '.join(fields)}" in doc, key


def test_every_ten_d_candidate_changes_the_dynamics():
    """Scaling any candidate array by 2 ** +-0.5 changes a 40-step trajectory under fixed actions; a rendering-only
    array (light_pos) does not."""
    env = HalfCheetah10DEnv("a")
    actions = random_actions(env.action_space, 40, seed=3)

    def trajectory(model):
        data = mujoco.MjData(model)
        data.qpos[:] = model.qpos0 + 0.05
        mujoco.mj_forward(model, data)
        out = []
        for a in actions:
            data.ctrl[:] = a
            mujoco.mj_step(model, data, nstep=5)
            out.append(np.concatenate([data.qpos, data.qvel]))
        return np.array(out)

    reference = trajectory(load_model(env.fullpath))
    for field in (*TEN_D_CANDIDATES, "light_pos"):
        for factor in (2**-0.5, 2**0.5):
            model = load_model(env.fullpath)
            ModelTaskApplier(model, [FieldScale(field)]).apply(model, mujoco.MjData(model), np.array([factor]))
            changed = np.abs(trajectory(model) - reference).max()
            if field == "light_pos":
                assert changed == 0.0
            else:
                assert changed > 1e-6, (field, factor)


def test_importing_roml_envs_without_mujoco_and_the_error_on_make():
    code = (
        "import sys; sys.modules['mujoco'] = None\n"
        "import gymnasium, roml.envs\n"
        "from roml.envs.mujoco import task_family\n"
        "assert task_family('AntGoal').dim == 2 and 'roml/AntGoal-v0' in gymnasium.registry\n"
        "try:\n"
        "    gymnasium.make('roml/HalfCheetahMass-v0')\n"
        "except ImportError as err:\n"
        "    print('ERR', err)\n"
    )
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "ERR" in out.stdout and "pip install" in out.stdout and "mujoco" in out.stdout


# ------------------------------------------------------------------------------------------------ gymnasium API
@pytest.mark.parametrize("name", NAMES)
def test_check_env_and_spaces(name):
    env = gymnasium.make(env_id(name))
    assert env.spec.max_episode_steps is None
    unwrapped = env.unwrapped
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Box observation space (maximum|minimum) value.*")
        check_env(unwrapped, skip_render_check=True)  # human rendering needs a display
    key = "AntGoal" if name == "AntGoal" else robot(name)
    assert unwrapped.observation_space.shape == (OBS_DIM[key],)
    assert unwrapped.observation_space.dtype == np.float32
    assert unwrapped.task_dim == task_family(name).dim and unwrapped.task_names == task_family(name).names

    vec = gymnasium.make_vec(env_id(name), num_envs=2, vectorization_mode="vector_entry_point")
    assert isinstance(vec, MujocoTaskVecEnv) and vec.num_envs == 2
    assert vec.single_observation_space == unwrapped.observation_space
    assert vec.single_action_space == unwrapped.action_space
    obs, _ = vec.reset(seed=0)
    assert obs.shape == (2, OBS_DIM[key]) and obs.dtype == np.float32


def _rollout(env, seed, steps, episodes=2):
    actions = random_actions(env.action_space, steps, seed=11)
    out = []
    for e in range(episodes):
        obs, _ = env.reset(seed=seed if e == 0 else None)
        out.append(obs)
        for a in actions:
            obs, r, _, _, info = env.step(a)
            out += [obs, np.array([r, *info.values()], dtype=np.float64)]
    return np.concatenate([np.ravel(x) for x in out])


@pytest.mark.parametrize("name", NAMES)
def test_determinism(name):
    steps = 6 if robot(name) == "Humanoid" else 15
    env = make(name, task=sample_tasks(name, 1, seed=1)[0])
    a, b = _rollout(env, 42, steps), _rollout(make(name, task=env.get_task()), 42, steps)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, _rollout(env, 43, steps))


@pytest.mark.parametrize("name", NAMES)
def test_pickle_round_trip_mid_episode(name):
    env = make(name, task=sample_tasks(name, 1, seed=2)[0])
    env.reset(seed=5)
    actions = random_actions(env.action_space, 8, seed=6)
    for a in actions[:3]:
        env.step(a)
    clone = pickle.loads(pickle.dumps(env))
    np.testing.assert_array_equal(clone.task, env.task)
    assert clone.elapsed_steps == 3
    for a in actions[3:]:
        o1, r1, t1, u1, i1 = env.step(a)
        o2, r2, t2, u2, i2 = clone.step(a)
        np.testing.assert_array_equal(o1, o2)
        assert (r1, t1, u1, i1) == (r2, t2, u2, i2)
    env.reset()
    clone.reset()  # the generators were copied too
    np.testing.assert_array_equal(env.data.qpos, clone.data.qpos)


def test_vec_env_pickle_round_trip_mid_episode():
    vec = MujocoTaskVecEnv("HalfCheetah10D-c", 3, tasks=sample_tasks("HalfCheetah10D-c", 3, seed=0))
    vec.reset(seed=1)
    actions = random_actions(vec.action_space, 6, seed=2)
    vec.step(actions[0])
    clone = pickle.loads(pickle.dumps(vec))
    np.testing.assert_array_equal(clone.tasks, vec.tasks)
    for a in actions[1:]:
        for x, y in zip(vec.step(a)[:4], clone.step(a)[:4]):
            np.testing.assert_array_equal(x, y)


# ------------------------------------------------------------------------------------------------ episodes, tasks
def test_episodes_last_exactly_200_steps_and_need_a_reset():
    env = HalfCheetahMassEnv()
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros(6))
    env.reset(seed=0)
    flags = [env.step(np.zeros(6))[2:4] for _ in range(EPISODE_LENGTH)]
    assert [f[0] for f in flags] == [False] * EPISODE_LENGTH
    assert [f[1] for f in flags] == [False] * (EPISODE_LENGTH - 1) + [True]
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros(6))

    vec = MujocoTaskVecEnv("HalfCheetahVel", 2)
    with pytest.raises(RuntimeError, match="reset"):
        vec.step(np.zeros((2, 6)))
    vec.reset(seed=0)
    for k in range(EPISODE_LENGTH):
        _, _, term, trunc, _ = vec.step(np.zeros((2, 6)))
        assert not term.any() and (trunc.all() if k == EPISODE_LENGTH - 1 else not trunc.any())
    with pytest.raises(RuntimeError):
        vec.step(np.zeros((2, 6)))


@pytest.mark.parametrize("name", ["HumanoidMass", "AntMass"])
def test_unhealthy_bodies_are_not_terminated(name):
    """A Humanoid or Ant outside its healthy height range keeps going (v5 would terminate it); it only loses the
    healthy reward. Started too high (z above the range's top) so that one step cannot bring it back."""
    env = make(name)
    qpos, qvel = rest_state(env, height=3.0 if name.startswith("Humanoid") else 1.5)
    env.reset(seed=0, options={"qpos": qpos, "qvel": qvel})
    _, _, terminated, truncated, info = env.step(np.zeros(env.action_space.shape))
    assert not terminated and not truncated
    assert info["healthy"] is False and info["reward_survive"] == 0.0


def test_task_api_and_task_boundaries():
    env = HalfCheetahMassEnv(task=1.5)
    assert env.get_task().tolist() == [1.5]
    env.reset(seed=0)
    env.set_task([0.75])
    assert env.get_task().tolist() == [0.75] and env.task.tolist() == [1.5]  # takes effect at the next reset
    env.reset()
    assert env.task.tolist() == [0.75]
    env.reset(options={"task": np.array([2.0])})
    assert env.task.tolist() == [2.0]
    env.reset()  # keeps the task
    assert env.task.tolist() == [2.0]
    assert HalfCheetahBodyEnv().get_task().tolist() == [1.0, 1.0, 1.0]  # default: factors of one
    assert HalfCheetahVelEnv().get_task().tolist() == [3.5]
    np.testing.assert_allclose(AntGoalEnv().get_task(), [-5 / np.sqrt(2), 0.0], atol=1e-12)

    pristine = load_model(env.fullpath).body_mass
    tasks = np.array([[0.5], [1.0], [2.0]])
    vec = MujocoTaskVecEnv("HalfCheetahMass", 3, tasks=tasks)
    vec.reset(seed=0)
    for sub, task in zip(vec.envs, tasks):
        np.testing.assert_allclose(sub.model.body_mass, pristine * task[0])
    vec.set_tasks(tasks[::-1])
    np.testing.assert_array_equal(vec.get_tasks(), tasks[::-1])
    np.testing.assert_array_equal(vec.tasks, tasks)  # until the next reset
    vec.reset()
    np.testing.assert_allclose(vec.envs[0].model.body_mass, pristine * 2.0)
    vec.reset(options={"tasks": [1.0, 1.0, 1.0]})  # (n,) accepted for 1-D tasks
    np.testing.assert_array_equal(vec.tasks, np.ones((3, 1)))
    np.testing.assert_array_equal(MujocoTaskVecEnv("AntBody", 2).get_tasks(), np.ones((2, 3)))


@pytest.mark.parametrize(
    ("env_cls", "bad", "match"),
    [
        (HalfCheetahMassEnv, [1.0, 1.0], "shape"),
        (HalfCheetahMassEnv, 3.0, "task space"),
        (HalfCheetahMassEnv, 0.0, "task space"),
        (HalfCheetahMassEnv, np.nan, "finite"),
        (HalfCheetahMassEnv, "heavy", "numbers"),
        (HalfCheetahVelEnv, -0.5, "task space"),
        (HalfCheetahBodyEnv, [1.0, 1.0], "shape"),
        (HalfCheetahBodyEnv, [1.0, 1.0, 2.5], "task space"),
        (AntGoalEnv, [4.0, 4.0], "disc of radius 5"),
        (AntGoalEnv, 1.0, "shape"),
    ],
)
def test_bad_tasks_raise(env_cls, bad, match):
    env = env_cls()
    with pytest.raises(ValueError, match=match):
        env.set_task(bad)
    with pytest.raises(ValueError, match=match):
        env.reset(options={"task": bad})


def test_bad_inputs_raise():
    env = HalfCheetahVelEnv()
    env.reset(seed=0)
    with pytest.raises(ValueError, match="shape"):
        env.step(np.zeros(5))
    with pytest.raises(ValueError, match="finite"):
        env.step(np.full(6, np.nan))
    with pytest.raises(ValueError, match="finite"):
        env.step(np.array([1e200, 0, 0, 0, 0, -np.inf]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        env.step(np.full(6, 1e200))  # finite: accepted, without an overflow warning (MuJoCo clamps the control)
    with pytest.raises(ValueError, match="unknown reset options"):
        env.reset(options={"tasks": 1.0})
    with pytest.raises(ValueError, match="shape"):
        env.reset(options={"qpos": np.zeros(3)})
    with pytest.raises(ValueError, match="variant"):
        HalfCheetah10DEnv("d")

    vec = MujocoTaskVecEnv("HalfCheetahBody", 2)
    with pytest.raises(ValueError, match=r"shape \(2, 3\)"):
        vec.set_tasks(np.ones(3))
    with pytest.raises(ValueError, match="task space"):
        vec.set_tasks([[1, 1, 1], [1, 1, 4]])
    vec.reset(seed=0)
    with pytest.raises(ValueError, match=r"shape \(2, 6\)"):
        vec.step(np.zeros(6))
    with pytest.raises(ValueError, match="finite"):
        vec.step(np.full((2, 6), np.inf))
    with pytest.raises(ValueError, match="seed"):
        vec.reset(seed=[1, 2])
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="num_envs"):
            MujocoTaskVecEnv("AntMass", bad)
    with pytest.raises(ValueError, match="unknown MuJoCo task environment"):
        MujocoTaskVecEnv("Hopper", 2)
    with pytest.raises(ValueError, match="variant"):
        MujocoTaskVecEnv("HalfCheetah10D-a", 2, variant="b")


# ------------------------------------------------------------------------------------------------ vector env
@pytest.mark.parametrize("name", NAMES)
def test_vec_env_equals_single_envs_step_by_step(name):
    n, steps = 3, (5 if robot(name) == "Humanoid" else 12)
    tasks = sample_tasks(name, n, seed=7)
    vec = MujocoTaskVecEnv(name, n, tasks=tasks)
    obs_v, _ = vec.reset(seed=3)
    singles = []
    for i in range(n):
        env = make(name, task=tasks[i])
        obs, _ = env.reset(options={"qpos": vec.envs[i].data.qpos.copy(), "qvel": vec.envs[i].data.qvel.copy()})
        np.testing.assert_array_equal(obs, obs_v[i])
        singles.append(env)
    actions = random_actions(vec.action_space, steps, seed=4)
    for a in actions:
        obs_v, r_v, term_v, trunc_v, info_v = vec.step(a)
        for i, env in enumerate(singles):
            obs, r, term, trunc, info = env.step(a[i])
            np.testing.assert_array_equal(obs, obs_v[i])
            assert r == r_v[i] and term == term_v[i] and trunc == trunc_v[i]
            assert info == {key: value[i].item() for key, value in info_v.items()}


@pytest.mark.parametrize("name", ["HalfCheetahBody", "AntGoal"])
def test_vec_env_of_one_equals_the_registered_env_with_the_same_seed(name):
    task = sample_tasks(name, 1, seed=9)
    env, vec = gymnasium.make(env_id(name), task=task[0]), MujocoTaskVecEnv(name, 1, tasks=task)
    actions = random_actions(env.action_space, 10, seed=5)
    for episode in range(2):
        seed = 17 if episode == 0 else None
        o1, _ = env.reset(seed=seed)
        o2, _ = vec.reset(seed=seed)
        np.testing.assert_array_equal(o1, o2[0])
        for a in actions:
            o1, r1, *_ = env.step(a)
            o2, r2, *_ = vec.step(a[None])
            np.testing.assert_array_equal(o1, o2[0])
            assert r1 == r2[0]


# ------------------------------------------------------------------------------------------------ rewards
def _stepped(env, task, state, action):
    """Reset ``env`` to ``task`` at ``state``, take ``action``; return the reward, info and qpos before/after."""
    env.reset(seed=0, options={"task": task, "qpos": state[0], "qvel": state[1]})
    before = env.data.qpos.copy()
    _, reward, _, _, info = env.step(action)
    return reward, info, before, env.data.qpos.copy()


def test_set_state_mid_episode_moves_the_velocity_reference():
    env = HalfCheetahVelEnv()
    env.reset(seed=0)
    env.step(np.zeros(6))
    qpos, qvel = rest_state(env)
    qpos[0] = 10.0  # teleport: the next step's velocity is measured from here, not from before the jump
    env.set_state(qpos, qvel)
    info = env.step(np.zeros(6))[4]
    assert info["x_velocity"] == pytest.approx((env.data.qpos[0] - 10.0) / 0.05, abs=1e-12)
    assert abs(info["x_velocity"]) < 1.0


def test_half_cheetah_vel_reward_is_the_formula():
    env = HalfCheetahVelEnv()
    qpos, qvel = rest_state(env)
    qvel[0] = 2.0
    action = np.linspace(-0.9, 0.9, 6)
    rewards = {}
    for goal in (0.0, 1.0, 4.0, 7.0):
        reward, info, before, after = _stepped(env, goal, (qpos, qvel), action)
        v = (after[0] - before[0]) / 0.05
        assert info["x_velocity"] == pytest.approx(v, abs=1e-12)
        assert reward == pytest.approx(-abs(v - goal) - 0.05 * np.sum(action**2), abs=1e-12)
        rewards[goal] = reward
    # same state and actions: only the target changes the reward, by exactly the formula's difference
    assert rewards[7.0] - rewards[4.0] == pytest.approx(-abs(v - 7.0) + abs(v - 4.0), abs=1e-12)


def test_humanoid_vel_reward_is_the_formula():
    env = HumanoidVelEnv()
    state = rest_state(env)
    action = np.linspace(-0.3, 0.3, 17)
    r1, i1, *_ = _stepped(env, 0.5, state, action)
    r2, i2, *_ = _stepped(env, 2.0, state, action)
    v = i1["x_velocity"]
    assert i2["x_velocity"] == v
    assert i1["reward_velocity"] == pytest.approx(-1.25 * abs(v - 0.5), abs=1e-12)
    assert r1 - r2 == pytest.approx(-1.25 * (abs(v - 0.5) - abs(v - 2.0)), abs=1e-12)
    expected = -1.25 * abs(v - 0.5) + 5.0 - 0.1 * np.sum(action**2) + i1["reward_contact"]
    assert r1 == pytest.approx(expected, abs=1e-12) and i1["reward_survive"] == 5.0


def test_ant_goal_reward_is_the_formula():
    env = AntGoalEnv()
    state = rest_state(env)
    action = np.linspace(-1, 1, 8)
    rewards = {}
    for goal in [(3.0, 0.0), (0.0, -4.0), (-2.0, 2.0)]:
        reward, info, _, after = _stepped(env, goal, state, action)
        distance = abs(after[0] - goal[0]) + abs(after[1] - goal[1])
        assert info["reward_goal"] == pytest.approx(-distance, abs=1e-12)
        assert reward == pytest.approx(-distance - 0.1 * np.sum(action**2) + info["reward_contact"], abs=1e-12)
        rewards[goal] = (reward, after[:2])
    (r_a, xy), (r_b, _) = rewards[(3.0, 0.0)], rewards[(0.0, -4.0)]
    assert r_a - r_b == pytest.approx(-(abs(xy[0] - 3) + abs(xy[1])) + (abs(xy[0]) + abs(xy[1] + 4)), abs=1e-12)


def test_forward_rewards_match_gymnasium_v5_where_the_formula_is_v5s(tmp_path, monkeypatch):
    """HalfCheetah: v5's reward (ctrl weight 0.05) plus the authors' height term; Humanoid: v5's reward without
    termination. Same states, same actions, same physics."""
    monkeypatch.chdir(tmp_path)  # Gymnasium's own loader makes MuJoCo >= 4 log a deprecation to MUJOCO_LOG.TXT here
    cases = [
        (HalfCheetahMassEnv(), HalfCheetahEnv(ctrl_cost_weight=0.05), 20),
        (HumanoidMassEnv(), HumanoidEnv(terminate_when_unhealthy=False), 8),
    ]
    for ours, theirs, steps in cases:
        theirs.reset(seed=0)
        ours.reset(seed=0)
        theirs.set_state(ours.data.qpos.copy(), ours.data.qvel.copy())
        for a in random_actions(ours.action_space, steps, seed=1):
            o1, r1, _, _, info = ours.step(a)
            o2, r2, *_ = theirs.step(a)
            np.testing.assert_array_equal(o1, o2.astype(np.float32))
            height = info.get("reward_height", 0.0)
            assert r1 - height == pytest.approx(r2, abs=1e-9)


# ------------------------------------------------------------------------------------------------ task parameters
def test_heavier_cheetah_covers_less_distance_under_the_same_actions():
    """Path length (sum of |dx|) over 100 steps of the same random torques, from the same state: strictly shorter
    for heavier cheetahs (three action sequences)."""
    masses = np.array([[0.5], [1.0], [2.0]])
    vec = MujocoTaskVecEnv("HalfCheetahMass", 3, tasks=masses)
    qpos, qvel = rest_state(vec.envs[0])
    for seed in range(3):
        vec.reset(seed=0, options={"qpos": np.tile(qpos, (3, 1)), "qvel": np.tile(qvel, (3, 1))})
        path = np.zeros(3)
        for a in random_actions(vec.single_action_space, 100, seed=seed):
            path += np.abs(vec.step(np.tile(a, (3, 1)))[4]["x_velocity"]) * 0.05
        assert path[0] > path[1] > path[2], path


@pytest.mark.parametrize("robot_name", ["HalfCheetah", "Humanoid", "Ant"])
@pytest.mark.parametrize("parameter", ["mass", "damping"])
def test_heavier_or_more_damped_joints_move_slower_under_the_same_torques(robot_name, parameter):
    """In the air (no contacts), one step from rest under the same torques: the joints' speed falls strictly as the
    mass (or the damping) factor grows."""
    factors = [0.5, 1.0, 2.0]
    tasks = [[f] for f in factors] if parameter == "mass" else [[1.0, f, 1.0] for f in factors]
    name = robot_name + ("Mass" if parameter == "mass" else "Body")
    vec = MujocoTaskVecEnv(name, 3, tasks=np.array(tasks))
    qpos, qvel = rest_state(vec.envs[0], height=5.0 if robot_name != "HalfCheetah" else 3.0)
    joints = slice(FIRST_JOINT_DOF[robot_name], None)
    for seed in range(3):
        vec.reset(seed=0, options={"qpos": np.tile(qpos, (3, 1)), "qvel": np.tile(qvel, (3, 1))})
        action = random_actions(vec.single_action_space, 1, seed=seed)
        vec.step(np.repeat(action, 3, axis=0))
        speed = [np.linalg.norm(sub.data.qvel[joints]) for sub in vec.envs]
        assert speed[0] > speed[1] > speed[2], speed
        assert all(sub.data.ncon == 0 for sub in vec.envs)


@pytest.mark.parametrize("env_cls", [HalfCheetahMassEnv, HumanoidMassEnv, AntMassEnv])
def test_mass_factor_scales_mass_and_inertia_together(env_cls):
    """Masses and inertias are the compiled ones times the factor, derived constants follow (mj_setConst), and the
    joint-space inertia matrix without the rotor armature scales exactly by the factor."""
    env = env_cls()
    pristine = load_model(env.fullpath)

    def mass_matrix(factor):
        env.reset(seed=0, options={"task": factor, "qpos": env.model.qpos0, "qvel": np.zeros(env.model.nv)})
        nv = env.model.nv
        full = np.zeros((nv, nv))
        column = np.zeros(nv)
        for i, unit in enumerate(np.eye(nv)):  # M e_i, column by column (mj_mulM's signature is stable)
            mujoco.mj_mulM(env.model, env.data, column, unit)
            full[:, i] = column
        return full - np.diag(env.model.dof_armature)

    base = mass_matrix(1.0)
    for factor in (0.5, 1.7):
        scaled = mass_matrix(factor)
        np.testing.assert_allclose(env.model.body_mass, pristine.body_mass * factor, rtol=1e-15)
        np.testing.assert_allclose(env.model.body_inertia, pristine.body_inertia * factor, rtol=1e-15)
        assert env.model.body_subtreemass[0] == pytest.approx(pristine.body_mass.sum() * factor, rel=1e-12)
        np.testing.assert_allclose(scaled, base * factor, rtol=1e-10, atol=1e-12)
        np.testing.assert_array_equal(env.model.geom_size, pristine.geom_size)  # geometry untouched


@pytest.mark.parametrize("env_cls", [HalfCheetahBodyEnv, HumanoidBodyEnv, AntBodyEnv])
def test_body_factors_scale_what_they_say(env_cls):
    env = env_cls()
    pristine = load_model(env.fullpath)
    geom = {"HalfCheetahBodyEnv": ("head", 1), "HumanoidBodyEnv": ("head", 0), "AntBodyEnv": ("torso_geom", 0)}
    name, column = geom[env_cls.__name__]
    gid = env.model.geom(name).id
    env.reset(seed=0, options={"task": [0.6, 1.8, 1.3]})
    np.testing.assert_allclose(env.model.body_mass, pristine.body_mass * 0.6, rtol=1e-15)
    np.testing.assert_allclose(env.model.dof_damping, pristine.dof_damping * 1.8, rtol=1e-15)
    expected = pristine.geom_size.copy()
    expected[gid, column] *= 1.3
    np.testing.assert_allclose(env.model.geom_size, expected, rtol=1e-15)


def _canonical_spec(path: str, model) -> mujoco.MjSpec:
    """A spec that compiles to exactly ``model``, with every inertia explicit (so geometry edits leave masses alone)
    and every geom placed by pos/quat/size (so size and position edits are direct)."""
    spec = mujoco.MjSpec.from_file(path)
    spec.compiler.inertiafromgeom = mujoco.mjtInertiaFromGeom.mjINERTIAFROMGEOM_FALSE
    spec.compiler.settotalmass = -1
    assert len(spec.bodies) == model.nbody and len(spec.geoms) == model.ngeom
    for i, body in enumerate(spec.bodies[1:], start=1):  # compiled in the spec's order; some bodies have no name
        compiled = model.body(i)
        assert body.name == compiled.name
        body.explicitinertial = True
        body.mass, body.ipos, body.iquat, body.inertia = (
            compiled.mass[0],
            compiled.ipos,
            compiled.iquat,
            compiled.inertia,
        )
    for i, geom in enumerate(spec.geoms):
        compiled = model.geom(i)
        assert geom.name == compiled.name
        geom.fromto = [np.nan] * 6
        geom.pos, geom.quat, geom.size = compiled.pos, compiled.quat, compiled.size
    return spec


def _compile(spec):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return spec.compile()


def _assert_same_model(ours, reference):
    """Byte-identical models, once the compiler's rendering statistics (``stat``: mean geom size, extent) are
    copied over: the compiler averages them over the geometry, nothing in the simulation reads them."""
    for name in ("geom_size", "geom_pos", "body_ipos", "geom_rbound", "geom_aabb", "bvh_aabb", "body_margin"):
        np.testing.assert_allclose(getattr(ours, name), getattr(reference, name), rtol=0, atol=1e-12, err_msg=name)
    for name in ("extent", "center", "meansize", "meanmass", "meaninertia"):
        setattr(ours.stat, name, getattr(reference.stat, name))
    assert model_bytes(ours) == model_bytes(reference)


@pytest.mark.parametrize("env_cls", [HalfCheetahBodyEnv, HumanoidBodyEnv, AntBodyEnv])
def test_size_factor_matches_a_model_compiled_from_an_edited_spec(env_cls):
    env = env_cls()
    pristine = load_model(env.fullpath)
    assert model_bytes(_compile(_canonical_spec(env.fullpath, pristine))) == model_bytes(pristine)
    geom, column = {"HalfCheetahBodyEnv": ("head", 1), "HumanoidBodyEnv": ("head", 0), "AntBodyEnv": ("torso_geom", 0)}[
        env_cls.__name__
    ]
    for size in (0.5, 1.9):
        env.reset(seed=0, options={"task": [1.0, 1.0, size]})
        spec = _canonical_spec(env.fullpath, pristine)
        edited = np.array(spec.geom(geom).size)
        edited[column] *= size
        spec.geom(geom).size = edited
        _assert_same_model(env.model, _compile(spec))


@pytest.mark.parametrize("variant", ["b", "c"])
def test_ten_d_geometry_matches_a_model_compiled_from_an_edited_spec(variant):
    """Sets b and c scale geom sizes/positions and inertial frames; the edited model equals the compiled spec."""
    env = HalfCheetah10DEnv(variant)
    pristine = load_model(env.fullpath)
    task = sample_tasks(f"HalfCheetah10D-{variant}", 1, seed=4)[0]
    env.reset(seed=0, options={"task": task})
    spec = _canonical_spec(env.fullpath, pristine)
    for field, factor in zip(TEN_D_SETS[variant], task):
        if field in ("geom_size", "geom_pos"):
            for geom in spec.geoms:
                attr = field.removeprefix("geom_")
                setattr(geom, attr, np.array(getattr(geom, attr)) * factor)
        elif field == "body_ipos":
            for body in spec.bodies[1:]:
                body.ipos = np.array(body.ipos) * factor
    reference = _compile(spec)
    # the other (non-geometric) arrays are scaled directly: copy them over, then the models must be identical
    for field in TEN_D_SETS[variant]:
        if field not in ("geom_size", "geom_pos", "body_ipos"):
            getattr(reference, field)[...] = getattr(env.model, field)
    mujoco.mj_setConst(reference, mujoco.MjData(reference))
    _assert_same_model(env.model, reference)


@pytest.mark.parametrize("env_cls", [HalfCheetahBodyEnv, HumanoidBodyEnv, AntBodyEnv])
def test_bigger_head_or_torso_touches_the_floor_where_the_original_does_not(env_cls):
    """Lower the body until the original head (Ant: torso) is 5 cm above the floor (more than any contact margin):
    the collision detection finds a head-floor contact with a size factor of 1.9 and none with 1 or 0.5, i.e. the
    new collision bounds are used."""
    env = env_cls()
    geom = "torso_geom" if env_cls is AntBodyEnv else "head"
    gid = env.model.geom(geom).id
    z_index = ROOT_Z[robot(env.name)]
    qpos, qvel = rest_state(env)
    env.reset(seed=0, options={"qpos": qpos, "qvel": qvel})
    r, half_length = env.model.geom_size[gid, 0], env.model.geom_size[gid, 1]
    axis_z = abs(env.data.geom_xmat[gid].reshape(3, 3)[2, 2]) if env.model.geom_type[gid] == 3 else 0.0
    lowest = env.data.geom_xpos[gid, 2] - axis_z * half_length - r
    qpos[z_index] -= lowest - 0.05
    for size, touches in ((0.5, False), (1.0, False), (1.9, True)):
        env.reset(seed=0, options={"task": [1.0, 1.0, size], "qpos": qpos, "qvel": qvel})
        pairs = {(int(c.geom[0]), int(c.geom[1])) for c in env.data.contact[: env.data.ncon]}
        assert ((0, gid) in pairs or (gid, 0) in pairs) == touches, (size, pairs)


@pytest.mark.parametrize("name", ["HalfCheetahBody", "HalfCheetah10D-b", "HalfCheetah10D-c", "HumanoidBody", "AntBody"])
def test_tasks_never_compound(name):
    """Task A, then B, then A gives the model of A set once; factors of one give the compiled model exactly."""
    a, b = sample_tasks(name, 2, seed=8)
    env = make(name)
    env.reset(seed=0, options={"task": np.ones_like(a)})
    assert model_bytes(env.model) == model_bytes(load_model(env.fullpath))
    for task in (a, b, a):
        env.reset(seed=0, options={"task": task})
    once = make(name)
    once.reset(seed=0, options={"task": a})
    assert model_bytes(env.model) == model_bytes(once.model)
    vec = MujocoTaskVecEnv(name, 2, tasks=np.stack([a, b]))
    vec.reset(seed=0)
    vec.reset(options={"tasks": np.stack([b, a])})
    vec.reset(options={"tasks": np.stack([a, b])})
    assert model_bytes(vec.envs[0].model) == model_bytes(once.model)


def test_velocity_and_goal_tasks_leave_the_model_alone():
    for env_cls, task in ((HalfCheetahVelEnv, 6.5), (HumanoidVelEnv, 2.2), (AntGoalEnv, [1.0, -3.0])):
        env = env_cls()
        env.reset(seed=0, options={"task": task})
        assert model_bytes(env.model) == model_bytes(load_model(env.fullpath))


# ------------------------------------------------------------------------------------- the authors' options
@pytest.mark.parametrize("name", ["HalfCheetahVel", "HalfCheetahMass", "HalfCheetahBody", "HalfCheetah10D-b"])
def test_authors_observation_appends_the_torso_position(name):
    """observation="authors": Gymnasium's 17 numbers, then the torso's ``data.xpos`` (x run so far, y = 0, z about
    rootz + 0.7: MuJoCo computed it before the step's last substep, as in the authors' code), after reset and every
    step; the single env and the vector env agree."""
    task = sample_tasks(name, 1, seed=3)[0]
    authors, v5 = make(name, task=task, observation="authors"), make(name, task=task)
    assert authors.observation_space.shape == (20,) and v5.observation_space.shape == (17,)
    vec = MujocoTaskVecEnv(name, 1, tasks=task[None], observation="authors")
    torso = authors.model.body("torso").id
    first = [authors.reset(seed=4)[0], v5.reset(seed=4)[0], vec.reset(seed=4)[0][0]]
    for a in [None, *random_actions(authors.action_space, 10, seed=5)]:
        obs, plain, batched = first if a is None else (authors.step(a)[0], v5.step(a)[0], vec.step(a[None])[0][0])
        np.testing.assert_array_equal(obs[:17], plain)
        np.testing.assert_array_equal(obs[17:], authors.data.xpos[torso].astype(np.float32))
        np.testing.assert_array_equal(batched, obs)
        assert obs[18] == 0 and obs[19] == pytest.approx(obs[0] + 0.7, abs=0.05)
    assert obs[17] == pytest.approx(authors.data.qpos[0], abs=0.05) and obs[17] != 0


# per class: which geoms' radii the authors' mass factor scales (the robot's, but a Body task's own size geom)
AUTHORS_RADII = {
    HalfCheetahMassEnv: (),
    HalfCheetahBodyEnv: (),
    HumanoidMassEnv: (),
    HumanoidBodyEnv: ("head",),
    AntMassEnv: None,
    AntBodyEnv: None,
}


@pytest.mark.parametrize("env_cls", list(AUTHORS_RADII))
def test_authors_mass_physics_scales_masses_and_radii_and_recomputes_nothing(env_cls):
    """mass_physics="authors": body masses (and on HalfCheetah and Humanoid the robot's geom radii) times the
    factor, the inertias, derived constants and collision bounds those of the compiled model; tasks never
    compound."""
    env = env_cls(mass_physics="authors")
    pristine = load_model(env.fullpath)
    scaled = pristine.geom_bodyid > 0 if AUTHORS_RADII[env_cls] is not None else np.zeros(pristine.ngeom, bool)
    for name in AUTHORS_RADII[env_cls] or ():
        scaled[pristine.geom(name).id] = False
    body = env_cls.__name__.endswith("BodyEnv")
    task = [1.7, 0.8, 1.3] if body else [1.7]
    for t in (task, [0.6] * len(task), task):
        env.reset(seed=0, options={"task": t})
        np.testing.assert_allclose(env.model.body_mass, pristine.body_mass * t[0], rtol=1e-15)
        np.testing.assert_allclose(env.model.geom_size[scaled, 0], pristine.geom_size[scaled, 0] * t[0], rtol=1e-15)
        for field in ("body_inertia", "body_subtreemass", "dof_invweight0", "body_invweight0", "geom_rbound"):
            np.testing.assert_array_equal(getattr(env.model, field), getattr(pristine, field), err_msg=field)
    if body:  # the other two factors as with density physics
        np.testing.assert_allclose(env.model.dof_damping, pristine.dof_damping * 0.8, rtol=1e-15)
        name, column = {HalfCheetahBodyEnv: ("head", 1), HumanoidBodyEnv: ("head", 0), AntBodyEnv: ("torso_geom", 0)}[
            env_cls
        ]
        gid = env.model.geom(name).id
        assert env.model.geom_size[gid, column] == pytest.approx(pristine.geom_size[gid, column] * 1.3, rel=1e-15)
    else:
        np.testing.assert_array_equal(env.model.geom_size[~scaled], pristine.geom_size[~scaled])
    if env_cls is HalfCheetahMassEnv:
        np.testing.assert_allclose(env.model.geom_size[scaled, 0], 0.046 * 1.7, rtol=1e-15)
    density = env_cls()  # the default recomputes: the two physics differ
    density.reset(seed=0, options={"task": task})
    assert density.model.body_subtreemass[0] == pytest.approx(pristine.body_subtreemass[0] * task[0], rel=1e-12)


def test_env_options_are_validated_and_survive_pickling():
    with pytest.raises(ValueError, match="observation must be one of 'v5', 'authors', got 'full'"):
        HalfCheetahMassEnv(observation="full")
    with pytest.raises(ValueError, match="mass_physics must be one of"):
        MujocoTaskVecEnv("HalfCheetahBody", 2, mass_physics="authors ")
    with pytest.raises(ValueError, match="HalfCheetahVelEnv has no option mass_physics"):
        make("HalfCheetahVel", mass_physics="authors")
    with pytest.raises(ValueError, match="HumanoidMassEnv has no option observation"):
        HumanoidMassEnv(observation="authors")
    env = make("HalfCheetahMass", task=[1.4], observation="authors", mass_physics="authors")
    env.reset(seed=1)
    env.step(np.zeros(6))
    clone = pickle.loads(pickle.dumps(env))
    assert (clone.observation, clone.mass_physics) == ("authors", "authors")
    np.testing.assert_array_equal(clone.model.geom_size, env.model.geom_size)
    a = np.full(6, 0.3)
    np.testing.assert_array_equal(clone.step(a)[0], env.step(a)[0])


@pytest.mark.parametrize("name", ["HalfCheetahMass", "HalfCheetahVel"])
def test_halfcheetah_compiled_rewards_equal_the_numpy_expressions_bit_for_bit(name):
    """The compiled reward loops against the numpy expressions they replaced, on a batch of 5 over 30 steps
    (actions beyond the bounds included, so the control cost varies widely)."""
    vec = MujocoTaskVecEnv(name, 5)
    vec.reset(seed=3)
    vec.set_tasks(vec.task_family().sample(vec.task_family().phi0, 5, np.random.default_rng(4)))
    vec.reset()
    batch = vec._batch
    for actions in 1.5 * random_actions(vec.action_space, 30, seed=5):
        before = batch.position.copy()
        _, reward, _, _, info = vec.step(actions)
        velocity = (batch.position[:, 0] - before[:, 0]) / batch.dt
        ctrl = 0.05 * np.einsum("ij,ij->i", actions, actions)
        if name == "HalfCheetahVel":
            tracking = -np.abs(velocity - batch.tasks[:, 0])
            expected = {"reward_velocity": tracking}
            expected_reward = tracking - ctrl
        else:
            height = batch.buffers["qpos"][:, 1]
            expected = {"reward_forward": velocity, "reward_height": height}
            expected_reward = velocity + height - ctrl
        expected.update(x_position=batch.position[:, 0], x_velocity=velocity, reward_ctrl=-ctrl)
        np.testing.assert_array_equal(reward, expected_reward)
        assert set(info) == set(expected)
        for key, value in expected.items():
            np.testing.assert_array_equal(info[key], value, err_msg=key)
