"""Tests for roml.algos.maml: MAML gradients against closed forms and the per-task loop reference."""

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from maml_reference import loop_meta_loss, loop_meta_step
from roml.algos.maml import MAML, MAMLConfig, SineMLP
from roml.envs.sine import SINE_HIGH, SINE_LOW, sample_sine_data


def draw_tasks(rng, n):
    low, high = np.array(SINE_LOW), np.array(SINE_HIGH)
    return low + (high - low) * rng.random((n, 3))


def sine_batch(seed, n_tasks=20, n_support=10, n_query=10):
    rng = np.random.default_rng(seed)
    return sample_sine_data(draw_tasks(rng, n_tasks), n_support, n_query, rng)


def params_of(maml):
    return [p.detach().clone() for p in maml.model.parameters()]


def grads_of(loss, maml):
    return torch.autograd.grad(loss, list(maml.model.parameters()))


# ------------------------------------------------------------------------------------------ the network


def test_sine_mlp_architecture_and_init_bounds():
    model = SineMLP(torch.Generator().manual_seed(0))
    shapes = [tuple(p.shape) for p in model.parameters()]
    assert shapes == [(40, 1), (40,), (40, 40), (40,), (1, 40), (1,)]
    for layer in model.layers:
        bound = 1 / math.sqrt(layer.weight.shape[1])
        for p in (layer.weight, layer.bias):
            assert p.abs().max() <= bound
            assert p.abs().max() > 0.8 * bound or p.numel() < 5  # spread over the whole interval
    x = torch.linspace(0, 6, 7).reshape(7, 1)
    assert model(x).shape == (7, 1)
    assert model(x.reshape(1, 7, 1)).shape == (1, 7, 1)


def test_sine_mlp_uses_only_its_generator():
    state = torch.get_rng_state()
    a = SineMLP(torch.Generator().manual_seed(3))
    assert torch.equal(torch.get_rng_state(), state)
    b = SineMLP(3)
    c = SineMLP(4)
    for pa, pb, pc in zip(a.parameters(), b.parameters(), c.parameters()):
        assert torch.equal(pa, pb)
        assert not torch.equal(pa, pc)
    with pytest.raises(TypeError, match="generator"):
        SineMLP("seed")


def test_config_defaults_and_validation():
    config = MAMLConfig()
    assert (config.inner_lr, config.inner_steps, config.first_order, config.outer_lr) == (0.01, 1, False, 1e-3)
    assert (config.tasks_per_batch, config.n_support, config.n_query) == (20, 10, 10)
    for field, value in [
        ("inner_lr", -1.0),
        ("inner_lr", math.nan),
        ("outer_lr", 0.0),
        ("inner_steps", -1),
        ("inner_steps", 1.5),
        ("tasks_per_batch", 0),
        ("n_support", 0),
        ("n_query", 0),
    ]:
        with pytest.raises(ValueError, match=field):
            MAMLConfig(**{field: value})


# ------------------------------------------------------------------- closed form on a linear model


class Affine(nn.Module):
    """y = w x + c with scalar w, c (float64)."""

    def __init__(self, w, c):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w, dtype=torch.float64))
        self.c = nn.Parameter(torch.tensor(c, dtype=torch.float64))

    def forward(self, x):
        return self.w * x + self.c


def linear_data(seed, n_tasks=4, n_support=5, n_query=7):
    rng = np.random.default_rng(seed)
    return SimpleNamespace(
        x_support=rng.normal(size=(n_tasks, n_support, 1)),
        y_support=rng.normal(size=(n_tasks, n_support, 1)),
        x_query=rng.normal(size=(n_tasks, n_query, 1)),
        y_query=rng.normal(size=(n_tasks, n_query, 1)),
    )


def closed_form(theta, data, lr, steps, weights, first_order):
    """MAML's meta-loss and meta-gradient for y = w x + c with the MSE loss, derived by hand.

    The support loss of task i is quadratic in theta = (w, c): L_S(theta) = theta^T H theta / 2 - b^T theta + const
    with H = 2 [[mean x^2, mean x], [mean x, 1]] and b = 2 [mean x y, mean y]. An SGD step is therefore the affine
    map theta -> (I - lr H) theta + lr b, whose Jacobian is the constant (I - lr H). After K steps the meta-gradient
    of L_Q(theta_K) is (I - lr H)^K grad L_Q(theta_K) (second order) or grad L_Q(theta_K) (first order).
    """
    n = len(weights)
    total_loss, total_grad, losses = 0.0, np.zeros(2), []
    for i in range(n):
        xs, ys = data.x_support[i, :, 0], data.y_support[i, :, 0]
        xq, yq = data.x_query[i, :, 0], data.y_query[i, :, 0]
        hessian = 2 * np.array([[np.mean(xs * xs), np.mean(xs)], [np.mean(xs), 1.0]])
        b = 2 * np.array([np.mean(xs * ys), np.mean(ys)])
        t = np.array(theta, dtype=float)
        for _ in range(steps):
            t = t - lr * (hessian @ t - b)
        residual = t[0] * xq + t[1] - yq
        loss = np.mean(residual**2)
        query_grad = 2 * np.array([np.mean(residual * xq), np.mean(residual)])
        jacobian = np.linalg.matrix_power(np.eye(2) - lr * hessian, steps)
        meta_grad = query_grad if first_order else jacobian.T @ query_grad
        losses.append(loss)
        total_loss += weights[i] * loss / n
        total_grad += weights[i] * meta_grad / n
    return total_loss, total_grad, np.array(losses)


@pytest.mark.parametrize("steps", [1, 2])
@pytest.mark.parametrize("first_order", [False, True])
@pytest.mark.parametrize("method", ["meta_loss", "loop_meta_loss"])
def test_meta_gradient_matches_closed_form_on_linear_model(steps, first_order, method):
    theta, lr = (0.7, -0.3), 0.15
    data = linear_data(seed=steps)
    weights = np.array([1.0, 0.0, 2.0, 0.5])  # sum 3.5 != n: the /n normalisation is tested
    maml = MAML(Affine(*theta), MAMLConfig(inner_lr=lr, inner_steps=steps, first_order=first_order))
    meta_loss, losses = maml.meta_loss(data, weights) if method == "meta_loss" else loop_meta_loss(maml, data, weights)
    grad_w, grad_c = grads_of(meta_loss, maml)
    expected_loss, expected_grad, expected_losses = closed_form(theta, data, lr, steps, weights, first_order)
    np.testing.assert_allclose(losses.detach().numpy(), expected_losses, rtol=1e-12)
    assert meta_loss.item() == pytest.approx(expected_loss, rel=1e-12)
    np.testing.assert_allclose([grad_w.item(), grad_c.item()], expected_grad, rtol=1e-10, atol=1e-12)


def test_second_order_term_is_not_negligible_in_the_closed_form_test():
    theta, lr = (0.7, -0.3), 0.15
    data = linear_data(seed=1)
    weights = np.ones(4)
    _, second, _ = closed_form(theta, data, lr, 1, weights, first_order=False)
    _, first, _ = closed_form(theta, data, lr, 1, weights, first_order=True)
    assert np.abs(second - first).max() > 0.05 * np.abs(first).max()


# ---------------------------------------------------------------------- vectorised vs loop reference


def test_vectorised_meta_steps_match_loop_reference_on_sine_mlp():
    fast, slow = MAML.for_sine(0), MAML.for_sine(0)
    weights = np.ones(20)
    weights[[3, 7]] = 0.0
    for step in range(3):
        data = sine_batch(100 + step)
        fast_loss, fast_losses = fast.meta_loss(data, weights)
        slow_loss, slow_losses = loop_meta_loss(slow, data, weights)
        torch.testing.assert_close(fast_losses, slow_losses, rtol=1e-5, atol=1e-6)
        for gf, gs in zip(grads_of(fast_loss, fast), grads_of(slow_loss, slow)):
            torch.testing.assert_close(gf, gs, rtol=1e-4, atol=1e-6)
        before = params_of(fast)
        np.testing.assert_allclose(fast.meta_step(data, weights), loop_meta_step(slow, data, weights), rtol=1e-5)
        for b, pf, ps in zip(before, fast.model.parameters(), slow.model.parameters()):
            torch.testing.assert_close(pf - b, ps.detach() - b, rtol=0, atol=1e-6)
            assert (pf - b).abs().max() > 1e-4  # the update is not trivially zero
    assert fast.iteration == slow.iteration == 3


class PlainSineMLP(SineMLP):
    """SineMLP without its task-batched forward: MAML falls back to vmap over functional_call."""

    task_batched_forward = None


def test_task_batched_forward_equals_the_network_applied_task_by_task():
    model = SineMLP(3)
    n_tasks = 5
    gen = torch.Generator().manual_seed(0)
    params = {k: p.detach() + 0.1 * torch.randn(n_tasks, *p.shape, generator=gen) for k, p in model.named_parameters()}
    x = torch.randn(n_tasks, 7, 1, generator=gen)
    batched = model.task_batched_forward(params, x)
    for t in range(n_tasks):
        single = torch.func.functional_call(model, {k: v[t] for k, v in params.items()}, (x[t],))
        torch.testing.assert_close(batched[t], single)


def test_vmap_fallback_matches_task_batched_forward():
    batched = MAML.for_sine(2)
    plain = MAML(PlainSineMLP(2))
    data = sine_batch(9)
    loss_b, losses_b = batched.meta_loss(data)
    loss_p, losses_p = plain.meta_loss(data)
    torch.testing.assert_close(losses_b, losses_p)
    for gb, gp in zip(grads_of(loss_b, batched), grads_of(loss_p, plain)):
        torch.testing.assert_close(gb, gp, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(batched.evaluate(data, max_steps=2), plain.evaluate(data, max_steps=2), rtol=1e-6)


def test_first_order_differs_from_second_order():
    data = sine_batch(1)
    second = MAML.for_sine(0)
    first = MAML.for_sine(0, MAMLConfig(first_order=True))
    loss2, losses2 = second.meta_loss(data)
    loss1, losses1 = first.meta_loss(data)
    torch.testing.assert_close(losses1, losses2)  # same forward pass
    g2 = torch.cat([g.ravel() for g in grads_of(loss2, second)])
    g1 = torch.cat([g.ravel() for g in grads_of(loss1, first)])
    assert (g1 - g2).norm() > 1e-3 * g2.norm()
    # and the first-order vectorised gradient matches the first-order loop reference
    loop1, _ = loop_meta_loss(first, data)
    torch.testing.assert_close(torch.cat([g.ravel() for g in grads_of(loop1, first)]), g1, rtol=1e-4, atol=1e-6)


def test_one_hot_task_weights_give_that_tasks_gradient_over_n():
    maml = MAML.for_sine(5)
    data = sine_batch(2, n_tasks=6)
    weights = np.zeros(6)
    weights[4] = 1.0
    meta_loss, losses = maml.meta_loss(data, weights)
    single = maml.adapted_query_losses(data)[4] / 6
    assert meta_loss.item() == pytest.approx(losses[4].item() / 6, rel=1e-6)
    for g, expected in zip(grads_of(meta_loss, maml), grads_of(single, maml)):
        torch.testing.assert_close(g, expected, rtol=1e-5, atol=1e-8)


def test_meta_step_returns_pre_update_post_adaptation_losses():
    maml = MAML.for_sine(0)
    data = sine_batch(3)
    expected = maml.adapted_query_losses(data).detach().numpy()
    returned = maml.meta_step(data)
    assert returned.dtype == np.float64 and returned.shape == (20,)
    np.testing.assert_allclose(returned, expected, rtol=1e-6)


# -------------------------------------------------------------------------------------- evaluation


def test_evaluate_step_zero_is_plain_mse_and_later_steps_match_adaptation():
    maml = MAML.for_sine(1)
    data = sine_batch(4, n_tasks=30, n_query=32)
    before = params_of(maml)
    table = maml.evaluate(data, max_steps=3, chunk=7)
    assert table.shape == (30, 4) and table.dtype == np.float64
    with torch.no_grad():
        prediction = maml.model(torch.as_tensor(data.x_query))
        plain = (prediction - torch.as_tensor(data.y_query)).square().mean(dim=(1, 2)).numpy()
    np.testing.assert_allclose(table[:, 0], plain, rtol=1e-6)
    for k in (1, 3):
        adapted = maml.adapted_query_losses(data, steps=k).detach().numpy()
        np.testing.assert_allclose(table[:, k], adapted, rtol=1e-5)
    np.testing.assert_allclose(maml.evaluate(data, max_steps=3, chunk=1000), table, rtol=1e-6)
    for b, p in zip(before, maml.model.parameters()):
        assert torch.equal(b, p)
        assert p.grad is None


def test_evaluate_validates_arguments():
    maml = MAML.for_sine(0)
    data = sine_batch(0, n_tasks=2)
    assert maml.evaluate(data, max_steps=0).shape == (2, 1)
    for kwargs, match in [({"max_steps": -1}, "max_steps"), ({"chunk": 0}, "chunk")]:
        with pytest.raises(ValueError, match=match):
            maml.evaluate(data, **kwargs)


# ----------------------------------------------------------------------- determinism and checkpoints


def run_steps(maml, seeds):
    for seed in seeds:
        maml.meta_step(sine_batch(seed))


def test_same_seed_gives_identical_parameters():
    a, b = MAML.for_sine(torch.Generator().manual_seed(9)), MAML.for_sine(torch.Generator().manual_seed(9))
    run_steps(a, range(4))
    run_steps(b, range(4))
    for pa, pb in zip(a.model.parameters(), b.model.parameters()):
        assert torch.equal(pa, pb)


def test_state_dict_round_trip_resumes_bit_identically():
    straight = MAML.for_sine(2)
    run_steps(straight, range(3))
    saved = straight.state_dict()
    run_steps(straight, range(3, 5))

    resumed = MAML.for_sine(77)  # different initial weights: everything must come from the checkpoint
    resumed.load_state_dict(saved)
    assert resumed.iteration == 3
    run_steps(resumed, range(3, 5))
    for p, q in zip(straight.model.parameters(), resumed.model.parameters()):
        assert torch.equal(p, q)
    for key, state in straight.optimizer.state_dict()["state"].items():
        other = resumed.optimizer.state_dict()["state"][key]
        for name in state:
            assert torch.equal(torch.as_tensor(state[name]), torch.as_tensor(other[name]))
    assert resumed.iteration == straight.iteration == 5


def test_state_dict_is_a_snapshot_and_checks_config():
    maml = MAML.for_sine(0)
    saved = maml.state_dict()
    first = saved["model"]["layers.0.weight"].clone()
    run_steps(maml, range(2))
    assert torch.equal(saved["model"]["layers.0.weight"], first)  # later steps do not leak into the snapshot
    other = MAML.for_sine(0, MAMLConfig(inner_lr=0.05))
    with pytest.raises(ValueError, match="inner_lr"):
        other.load_state_dict(saved)
    with pytest.raises(ValueError, match="missing"):
        other.load_state_dict({"model": saved["model"]})


# ---------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("field", ["x_support", "y_support", "x_query", "y_query"])
def test_nan_input_raises(field):
    maml = MAML.for_sine(0)
    data = sine_batch(0, n_tasks=3)
    array = getattr(data, field).copy()
    array[1, 2, 0] = np.nan
    bad = SimpleNamespace(**{**vars(data), field: array})
    before = params_of(maml)
    for call in (maml.meta_step, lambda data: loop_meta_step(maml, data), maml.evaluate):
        with pytest.raises(ValueError, match=field):
            call(bad)
    for b, p in zip(before, maml.model.parameters()):
        assert torch.equal(b, p)


def test_nan_loss_raises_and_leaves_parameters_unchanged():
    maml = MAML.for_sine(0, MAMLConfig(inner_lr=1e38))  # the inner step overflows
    before = params_of(maml)
    with pytest.raises(FloatingPointError, match="non-finite"):
        maml.meta_step(sine_batch(0))
    for b, p in zip(before, maml.model.parameters()):
        assert torch.equal(b, p)
    assert maml.iteration == 0


@pytest.mark.parametrize(
    "weights, match",
    [(np.ones(3), r"shape \(20,\)"), (-np.ones(20), ">= 0"), (np.full(20, np.nan), "finite")],
)
def test_bad_task_weights_raise(weights, match):
    with pytest.raises(ValueError, match=match):
        MAML.for_sine(0).meta_step(sine_batch(0), weights)


def test_mismatched_data_shapes_raise():
    data = sine_batch(0, n_tasks=3)
    bad = SimpleNamespace(**{**vars(data), "y_query": data.y_query[:2]})
    with pytest.raises(ValueError, match="n_tasks"):
        MAML.for_sine(0).meta_step(bad)
    with pytest.raises(ValueError, match="x_support"):
        MAML.for_sine(0).meta_step(SimpleNamespace(y_support=1))


# ------------------------------------------------------------------------------------ learning sanity


def test_meta_training_reduces_post_adaptation_loss():
    rng = np.random.default_rng(0)
    test = sample_sine_data(draw_tasks(rng, 200), 10, 10, rng)
    maml = MAML.for_sine(0)
    before = maml.evaluate(test, max_steps=1).mean(axis=0)
    for _ in range(500):
        maml.meta_step(sample_sine_data(draw_tasks(rng, 20), 10, 10, rng))
    after = maml.evaluate(test, max_steps=1).mean(axis=0)
    assert after[1] < 0.92 * before[1]  # post-adaptation loss: about 4.2 -> 3.6
    assert after[0] - after[1] > 2 * (before[0] - before[1])  # the model learned to adapt
