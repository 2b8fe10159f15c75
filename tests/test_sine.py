"""Tests for roml.envs.sine: the sine-regression data of Appendix E."""

import math

import numpy as np
import pytest

from roml.envs.sine import (
    SINE_HIGH,
    SINE_LOW,
    SINE_NAMES,
    X_HIGH,
    SineData,
    sample_sine_data,
    sine_function,
)


def draw_tasks(n, seed=0):
    rng = np.random.default_rng(seed)
    low, high = np.array(SINE_LOW), np.array(SINE_HIGH)
    return low + (high - low) * rng.random((n, 3))


def test_constants_are_the_papers_box():
    assert SINE_NAMES == ("amplitude", "phase", "frequency")
    assert SINE_LOW == (0.1, 0.0, 0.3)
    assert SINE_HIGH == (5.0, 2 * math.pi, 3.0)


def test_shapes_and_dtypes():
    data = sample_sine_data(draw_tasks(7), n_support=10, n_query=32, rng=np.random.default_rng(1))
    assert isinstance(data, SineData)
    assert (data.n_tasks, data.n_support, data.n_query, len(data)) == (7, 10, 32, 7)
    assert data.x_support.shape == data.y_support.shape == (7, 10, 1)
    assert data.x_query.shape == data.y_query.shape == (7, 32, 1)
    for array in (data.x_support, data.y_support, data.x_query, data.y_query):
        assert array.dtype == np.float32
        assert array.flags["C_CONTIGUOUS"]


def test_targets_are_exactly_the_sine_of_the_inputs():
    tasks = draw_tasks(50)
    data = sample_sine_data(tasks, 10, 10, np.random.default_rng(2))
    amplitude, phase, frequency = (tasks[:, j, None, None] for j in range(3))
    for x, y in ((data.x_support, data.y_support), (data.x_query, data.y_query)):
        expected = (amplitude * np.sin(frequency * x.astype(np.float64) + phase)).astype(np.float32)
        np.testing.assert_array_equal(y, expected)


def test_explicit_tasks_give_their_own_function():
    tasks = np.array([[1.0, 0.0, 1.0], [2.0, math.pi / 2, 0.5], [0.0, 1.0, 2.0]])
    data = sample_sine_data(tasks, 5, 5, np.random.default_rng(3))
    x = data.x_query[..., 0].astype(np.float64)
    np.testing.assert_allclose(data.y_query[0, :, 0], np.sin(x[0]), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(data.y_query[1, :, 0], 2 * np.cos(0.5 * x[1]), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(data.y_query[2], 0.0)


def test_inputs_lie_in_zero_two_pi():
    data = sample_sine_data(draw_tasks(1000), 500, 500, np.random.default_rng(4))
    x = np.concatenate([data.x_support, data.x_query], axis=1).astype(np.float64)
    assert x.min() >= 0.0
    assert x.max() < 2 * math.pi
    assert x.max() > 2 * math.pi - 1e-3  # the whole interval is covered
    # float32(2 pi) rounds above 2 pi: inputs are capped below it
    assert float(np.float32(X_HIGH)) > X_HIGH


def test_inputs_are_uniform():
    data = sample_sine_data(draw_tasks(200), 100, 100, np.random.default_rng(5))
    x = data.x_support.ravel()
    counts, _ = np.histogram(x, bins=8, range=(0, 2 * math.pi))
    assert np.all(np.abs(counts / x.size - 1 / 8) < 0.01)


def test_same_seed_same_data_and_different_seed_different_data():
    tasks = draw_tasks(5)
    a = sample_sine_data(tasks, 10, 10, np.random.default_rng(6))
    b = sample_sine_data(tasks, 10, 10, np.random.default_rng(6))
    c = sample_sine_data(tasks, 10, 10, np.random.default_rng(7))
    for name in ("x_support", "y_support", "x_query", "y_query"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.x_support, c.x_support)


def test_support_and_query_are_disjoint_draws():
    data = sample_sine_data(draw_tasks(3), 10, 10, np.random.default_rng(8))
    assert not np.array_equal(data.x_support, data.x_query)


def test_subset():
    data = sample_sine_data(draw_tasks(6), 4, 3, np.random.default_rng(9))
    part = data.subset(slice(2, 5))
    assert part.n_tasks == 3
    np.testing.assert_array_equal(part.y_query, data.y_query[2:5])
    one = data.subset(4)
    assert one.x_support.shape == (1, 4, 1)
    np.testing.assert_array_equal(one.x_support[0], data.x_support[4])


def test_sine_function_matches_formula():
    tasks = draw_tasks(4)
    x = np.random.default_rng(10).random((4, 6))
    expected = tasks[:, :1] * np.sin(tasks[:, 2:3] * x + tasks[:, 1:2])
    np.testing.assert_allclose(sine_function(tasks, x), expected, rtol=1e-15)
    with pytest.raises(ValueError, match="x must have shape"):
        sine_function(tasks, x[:3])


@pytest.mark.parametrize(
    "tasks, match",
    [
        (np.zeros((4, 2)), "tasks"),
        (np.zeros(3), "tasks"),
        (np.zeros((2, 3, 1)), "tasks"),
        (np.array([[1.0, np.nan, 1.0]]), "tasks must be finite"),
        (np.array([[1.0, 0.0, np.inf]]), "tasks must be finite"),
    ],
)
def test_bad_tasks_raise(tasks, match):
    with pytest.raises(ValueError, match=match):
        sample_sine_data(tasks, 10, 10, np.random.default_rng(0))


@pytest.mark.parametrize("name", ["n_support", "n_query"])
@pytest.mark.parametrize("value", [0, -1, 2.5, True, None])
def test_bad_counts_raise(name, value):
    kwargs = {"n_support": 10, "n_query": 10, name: value}
    with pytest.raises(ValueError, match=name):
        sample_sine_data(draw_tasks(2), rng=np.random.default_rng(0), **kwargs)


def test_rng_must_be_a_generator():
    with pytest.raises(TypeError, match="rng"):
        sample_sine_data(draw_tasks(2), 10, 10, rng=0)


def test_zero_tasks_gives_empty_batch():
    data = sample_sine_data(np.zeros((0, 3)), 10, 10, np.random.default_rng(0))
    assert data.x_support.shape == (0, 10, 1)
