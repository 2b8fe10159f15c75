"""One task-environment protocol (roml.envs.task_api): Khazad-Dum and the MuJoCo environments, single and vector,
name and check tasks alike, refuse unknown reset options and change nothing when a reset is refused."""

from __future__ import annotations

import numpy as np
import pytest

from roml.envs.khazad_dum import KhazadDumEnv, KhazadDumVecEnv
from roml.envs.task_api import TaskEnv, TaskVecEnv, check_reset_options, check_tasks, median_task
from roml.tasks import BetaBox, Exponential, PolarDisc


def _mujoco(name: str):
    pytest.importorskip("mujoco")
    from roml.envs.mujoco import catalog
    from roml.envs.mujoco.vector import MujocoTaskVecEnv

    return catalog.env_class(name), lambda n: MujocoTaskVecEnv(name, n)


def single_and_vector(kind: str):
    """``(make_single, make_vector, a valid task, a task outside the space)`` of each environment kind."""
    if kind == "khazad-dum":
        return KhazadDumEnv, lambda n: KhazadDumVecEnv(n), np.array([0.3]), np.array([-0.1])
    cls, vec = _mujoco({"half-cheetah-mass": "HalfCheetahMass", "ant-goal": "AntGoal"}[kind])
    good, bad = (np.array([1.5]), np.array([3.0])) if kind == "half-cheetah-mass" else ([1.0, 2.0], [9.0, 0.0])
    return cls, vec, np.array(good), np.array(bad)


KINDS = ["khazad-dum", "half-cheetah-mass", "ant-goal"]


@pytest.mark.parametrize("kind", KINDS)
def test_every_environment_implements_the_protocol_with_the_same_names(kind):
    make_single, make_vector, good, bad = single_and_vector(kind)
    env, vec = make_single(), make_vector(3)
    assert isinstance(env, TaskEnv) and isinstance(vec, TaskVecEnv)
    assert env.task_names == vec.task_names == env.task_family().names and env.task_dim == vec.task_dim == len(good)
    env.set_task(good)
    assert env.get_task().tolist() == good.tolist() and env.task.tolist() != good.tolist()  # from the next reset
    env.reset(seed=0)
    assert env.task.tolist() == good.tolist()
    median = median_task(env.task_family())  # every unit coordinate at 0.5
    np.testing.assert_allclose(env.task_family().to_unit(median[None]), 0.5)
    env.reset(options={"task": median})
    np.testing.assert_array_equal(env.task, median)
    tasks = np.stack([good, good, good])
    vec.set_tasks(tasks)
    vec.reset(seed=0)
    np.testing.assert_array_equal(vec.tasks, tasks)
    np.testing.assert_array_equal(vec.get_tasks(), tasks)
    with pytest.raises(ValueError, match="task space"):
        env.set_task(bad)
    with pytest.raises(ValueError, match=r"shape \(3, "):
        vec.set_tasks(np.stack([good, good]))


@pytest.mark.parametrize("kind", KINDS)
def test_a_refused_reset_changes_nothing(kind):
    make_single, make_vector, good, bad = single_and_vector(kind)
    for env, key, value in ((make_single(), "task", bad), (make_vector(2), "tasks", np.stack([good, bad]))):
        env.reset(seed=0)
        rng, tasks = env.np_random.bit_generator.state, env.get_task() if key == "task" else env.get_tasks()
        for options in ({key: value}, {key[:-1] + "x": good}, {key: good, "qpos_": 0}):
            with pytest.raises(ValueError):
                env.reset(seed=1, options=options)
            assert env.np_random.bit_generator.state == rng
            np.testing.assert_array_equal(env.get_task() if key == "task" else env.get_tasks(), tasks)


def test_check_tasks_shapes_and_broadcast():
    family = Exponential(0.1)
    assert check_tasks(family, 0.2, None, "here", "task").tolist() == [0.2]
    assert check_tasks(family, 0.2, 3, "here", "tasks").tolist() == [[0.2]] * 3
    assert check_tasks(family, [0.1, 0.2], 2, "here", "tasks").tolist() == [[0.1], [0.2]]
    box = BetaBox([0.0, 0.0], [1.0, 2.0], names=("a", "b"))
    with pytest.raises(ValueError, match=r"shape \(2, 2\)"):
        check_tasks(box, 0.5, 2, "here", "tasks")  # no broadcast of a number over two dimensions
    with pytest.raises(ValueError, match=r"here \(a in \[0, 1\], b in \[0, 2\]\)"):
        check_tasks(box, [0.5, 3.0], None, "here", "task")
    with pytest.raises(ValueError, match="disc of radius 2"):
        check_tasks(PolarDisc(2.0), [2.0, 2.0], None, "here", "task")
    with pytest.raises(ValueError, match="finite"):
        check_tasks(family, np.nan, None, "here", "task")


def test_check_reset_options():
    assert check_reset_options(None, ("task",)) == {}
    options = {"task": 1}
    assert (
        check_reset_options(options, ("task", "start")) == options
        and check_reset_options(options, ("task",)) is not options
    )
    with pytest.raises(ValueError, match=r"unknown reset options \['taks'\]; expected 'task', 'qpos' or 'qvel'"):
        check_reset_options({"taks": 1}, ("task", "qpos", "qvel"))
    with pytest.raises(ValueError, match="must be a dict"):
        check_reset_options([("task", 1)], ("task",))
