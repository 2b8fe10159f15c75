"""PEARL (roml.algos.pearl) and its runs of the HalfCheetah experiments (roml.experiments.pearl): the posterior and
its KL against closed forms, each SAC loss against a hand computation, the target update, one gradient step in the
authors' order, the buffers, slot reassignment with the sampler, CVaR-ML's slot mask, determinism, resume after
SIGKILL, and the configuration."""

import copy
import math
import os
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import torch
from torch.distributions import Normal, TanhTransform, TransformedDistribution, kl_divergence

from roml.algos.pearl import PEARL, PEARLConfig, SlotBuffer
from roml.algos.pearl.networks import MLP, TanhGaussianPolicy, kl_to_standard_normal, posterior, product_of_gaussians
from roml.algos.pearl.sac import (
    kl_loss,
    policy_loss,
    q_loss,
    q_target,
    slot_mean,
    soft_update,
    temperature_loss,
    value_loss,
)
from roml.cli import main
from roml.envs.mujoco.vector import MujocoTaskVecEnv
from roml.experiments.pearl import SAMPLERS, slot_weights
from roml.experiments.registry import get_experiment
from roml.experiments.results import RunDir
from roml.experiments.runner import _make_jobs, train
from roml.experiments.samplers import make_sampler
from roml.samplers import CVaRSampler, RoMLSampler, UniformSampler
from test_experiments import kill_at_the_first_checkpoint

TINY = PEARLConfig.preset("smoke")


def tiny_agent(seed=0, **overrides):
    env = MujocoTaskVecEnv("HalfCheetahVel", TINY.tasks_per_iteration, observation="authors")
    env.reset(seed=seed)
    return PEARL.for_env(env, PEARLConfig.preset("smoke", **overrides), seed), env


def filled_agent(seed=0):
    """A tiny agent whose 4 slots hold their initial data."""
    agent, env = tiny_agent(seed)
    initial = MujocoTaskVecEnv("HalfCheetahVel", TINY.num_slots, observation="authors")
    initial.reset(seed=seed + 1)
    tasks = np.linspace(0.5, 6.5, TINY.num_slots)[:, None]
    agent.collect(initial, np.arange(TINY.num_slots), tasks, TINY.initial_steps, 0)
    return agent, env


# ------------------------------------------------------------------------------------------------ posterior and KL
def test_the_product_of_two_gaussians_is_the_closed_form():
    m1, v1, m2, v2 = 1.0, 2.0, -3.0, 0.5
    means = torch.tensor([[m1, 0.0], [m2, 0.0]])
    variances = torch.tensor([[v1, 1.0], [v2, 1.0]])
    mean, variance = product_of_gaussians(means, variances)
    assert variance[0].item() == pytest.approx(v1 * v2 / (v1 + v2))
    assert mean[0].item() == pytest.approx((m1 * v2 + m2 * v1) / (v1 + v2))
    assert (mean[1].item(), variance[1].item()) == pytest.approx((0.0, 0.5))  # two N(0, 1): N(0, 1/2)


def test_the_product_of_many_factors_is_the_normalised_product_of_densities():
    rng = np.random.default_rng(0)
    means, variances = rng.normal(size=(7, 3)), rng.uniform(0.2, 3.0, size=(7, 3))
    mean, variance = product_of_gaussians(torch.tensor(means), torch.tensor(variances))
    # log of the product of densities is a quadratic in x: its curvature and its maximiser
    precision = (1 / variances).sum(axis=0)
    np.testing.assert_allclose(variance.numpy(), 1 / precision, rtol=1e-12)
    np.testing.assert_allclose(mean.numpy(), (means / variances).sum(axis=0) / precision, rtol=1e-12)
    # a batch of slots: the product runs over the context axis of each slot separately
    batched = product_of_gaussians(
        torch.tensor(np.stack([means, means[::-1]])), torch.tensor(np.stack([variances] * 2))
    )
    assert batched[0].shape == (2, 3)
    np.testing.assert_allclose(batched[1][0].numpy(), batched[1][1].numpy(), rtol=1e-12)


def test_a_factor_variance_is_floored_before_the_product():
    mean, variance = product_of_gaussians(torch.tensor([[2.0]]), torch.tensor([[0.0]]))
    assert variance.item() == pytest.approx(1e-7) and mean.item() == pytest.approx(2.0)


def test_the_posterior_of_an_encoder_is_the_product_of_its_softplus_factors():
    encoder = MLP(3, (4,), 4, torch.Generator().manual_seed(0))
    context = torch.randn(2, 5, 3, generator=torch.Generator().manual_seed(1))
    mean, variance = posterior(encoder, context, latent_dim=2)
    params = encoder(context)
    factor_var = torch.log1p(params[..., 2:].exp())
    expected_var = 1 / (1 / factor_var).sum(dim=1)
    torch.testing.assert_close(variance, expected_var)
    torch.testing.assert_close(mean, expected_var * (params[..., :2] / factor_var).sum(dim=1))


def test_the_kl_to_the_prior_is_the_closed_form():
    assert kl_to_standard_normal(torch.tensor([1.0]), torch.tensor([2.0])).item() == pytest.approx(
        0.5 * (2 + 1 - 1 - math.log(2))
    )
    assert kl_to_standard_normal(torch.zeros(3), torch.ones(3)).item() == 0.0
    mean, variance = torch.tensor([[0.3, -1.2], [2.0, 0.1]]), torch.tensor([[0.5, 1.5], [0.2, 3.0]])
    reference = kl_divergence(Normal(mean, variance.sqrt()), Normal(0.0, 1.0)).sum(dim=-1)
    torch.testing.assert_close(kl_to_standard_normal(mean, variance), reference)


# ------------------------------------------------------------------------------------------------ SAC losses
W = torch.tensor([1.0, 0.0, 3.0])  # three slots, the second masked


def test_slot_mean_averages_each_slot_then_weights_the_slots():
    values = torch.tensor([[1.0, 3.0], [100.0, 100.0], [0.0, 4.0]])
    assert slot_mean(values, W).item() == pytest.approx((1 * 2.0 + 3 * 2.0) / 4)
    assert slot_mean(values, torch.ones(3)).item() == pytest.approx(values.mean().item())  # PEARL's plain mean


def test_the_q_target_and_q_loss_by_hand():
    rewards, terminals = torch.tensor([[1.0], [2.0], [-1.0]]), torch.tensor([[0.0], [0.0], [1.0]])
    next_v = torch.tensor([[10.0], [20.0], [30.0]])
    target = q_target(rewards, terminals, next_v, gamma=0.9, reward_scale=5.0)
    assert target[:, 0].tolist() == pytest.approx([5 + 9, 10 + 18, -5])
    q1, q2 = torch.tensor([[13.0], [0.0], [-4.0]]), torch.tensor([[16.0], [0.0], [-5.0]])
    # slot errors: q1 (1, -, 1), q2 (2, -, 0); weighted means (1 + 3) / 4 = 1 and (4 + 0) / 4 = 1
    assert q_loss(q1, q2, target, W).item() == pytest.approx(1.0 + 1.0)
    assert not target.requires_grad


def test_the_value_loss_by_hand_and_its_target_carries_no_gradient():
    v = torch.tensor([[1.0, 2.0], [0.0, 0.0], [3.0, 3.0]], requires_grad=True)
    min_q = torch.tensor([[2.0, 2.0], [9.0, 9.0], [1.0, 1.0]], requires_grad=True)
    log_pi = torch.tensor([[0.0, 1.0], [0.0, 0.0], [-1.0, 0.0]])
    # targets: (2, 1), -, (2, 1); squared errors: (1, 1) -> 1, (1, 4) -> 2.5; weighted (1 + 7.5) / 4
    loss = value_loss(v, min_q, log_pi, W)
    assert loss.item() == pytest.approx(8.5 / 4)
    loss.backward()
    assert min_q.grad is None and v.grad[1].abs().sum() == 0


def test_the_policy_loss_by_hand():
    log_pi = torch.tensor([[0.5], [9.0], [-0.5]])
    min_q = torch.tensor([[2.0], [9.0], [1.0]])
    mean = torch.tensor([[[1.0, 3.0]], [[5.0, 5.0]], [[0.0, 2.0]]])
    log_std = torch.tensor([[[-1.0, 1.0]], [[5.0, 5.0]], [[2.0, 0.0]]])
    # (log_pi - q): -1.5, -, -1.5 -> -1.5; mean^2: 5, -, 2 -> (5 + 6) / 4; log_std^2: 1, -, 2 -> 7 / 4
    expected = -1.5 + 0.01 * 11 / 4 + 0.02 * 7 / 4
    assert policy_loss(log_pi, min_q, mean, log_std, W, 0.01, 0.02).item() == pytest.approx(expected)


def test_the_kl_loss_is_pearls_sum_over_slots_when_none_is_masked():
    kl = torch.tensor([1.0, 2.0, 3.0])
    assert kl_loss(kl, torch.ones(3), 0.1).item() == pytest.approx(0.1 * 6)
    assert kl_loss(kl, W, 0.1).item() == pytest.approx(0.1 * 3 * (1 + 9) / 4)


def test_the_tanh_gaussian_log_density_is_the_change_of_variables():
    mean, log_std = torch.tensor([[0.3, -0.5]]), torch.tensor([[-0.7, 0.2]])
    noise = torch.tensor([[0.4, -1.1]])
    action, log_prob, pre_tanh = TanhGaussianPolicy.sample(mean, log_std, noise)
    torch.testing.assert_close(action, torch.tanh(mean + log_std.exp() * noise))
    exact = TransformedDistribution(Normal(mean, log_std.exp()), [TanhTransform()]).log_prob(action).sum(dim=-1)
    torch.testing.assert_close(log_prob, exact, atol=1e-4, rtol=0)  # PEARL adds 1e-6 inside the log


def test_the_temperature_loss_by_hand():
    """SAC v2: ``-log alpha * (weighted mean of log pi + target)``; its gradient in log alpha is minus that mean (so
    a step raises alpha when the entropy is below the target), and none reaches log pi."""
    log_alpha = torch.tensor(0.3, requires_grad=True)
    log_pi = torch.tensor([[-1.0, -2.0], [-8.0, -10.0]], requires_grad=True)
    weights = torch.tensor([1.0, 3.0])
    loss = temperature_loss(log_alpha, log_pi, -6.0, weights)
    mean = (1.0 * (-1.5 - 6.0) + 3.0 * (-9.0 - 6.0)) / 4.0
    torch.testing.assert_close(loss, torch.tensor(-0.3 * mean))
    loss.backward()
    torch.testing.assert_close(log_alpha.grad, torch.tensor(-mean))
    assert log_pi.grad is None


def test_a_learned_temperature_moves_and_continues_bit_identically_after_a_state_round_trip():
    agent, env = tiny_agent(seed=3, learned_temperature=True, reward_scale=1.0)
    agent.collect(env, [0, 1], np.array([[1.0], [5.0]]), 200, 0)
    agent.collect(env, [2, 3], np.array([[2.0], [4.0]]), 200, 0)
    agent.train(3)
    assert agent.log_alpha.item() != 0.0  # alpha = 1 at the start, then one Adam step per gradient step
    clone, _ = tiny_agent(seed=99, learned_temperature=True, reward_scale=1.0)
    clone.load_state_dict(agent.state_dict())
    assert agent.train(2) == clone.train(2)
    assert torch.equal(agent.log_alpha, clone.log_alpha)
    plain, _ = tiny_agent(seed=3)
    with pytest.raises(ValueError, match="learned_temperature"):
        plain.load_state_dict(agent.state_dict())


def test_the_soft_update_moves_the_target_by_tau():
    source, target = torch.nn.Linear(2, 1), torch.nn.Linear(2, 1)
    before = [p.detach().clone() for p in target.parameters()]
    soft_update(target, source, 0.25)
    for t, b, s in zip(target.parameters(), before, source.parameters()):
        torch.testing.assert_close(t, 0.75 * b + 0.25 * s)


# ------------------------------------------------------------------------------------------------ one step
def test_a_gradient_step_follows_the_authors_order():
    """The encoder's gradient is that of KL + Q loss only; V's target and the policy's loss use the Q networks after
    their step; the target V moves by tau towards V after V's step; a masked slot changes nothing."""
    agent, _ = filled_agent()
    c = agent.config
    replay = copy.deepcopy(agent)  # the same state and generators: replays the step's draws
    before_target = [p.detach().clone() for p in agent.target_v.parameters()]
    slots, weights = np.array([0, 2, 2]), np.array([1.0, 0.0, 1.0])
    agent.gradient_step(slots, weights)

    g, (m, b) = replay.generators["train"], (3, c.batch_size)
    context = replay.context.sample(slots, c.context_batch, g)
    batch = replay.replay.sample(slots, b, g)
    o, a = batch[..., : replay.obs_dim], batch[..., replay.obs_dim : replay.obs_dim + replay.action_dim]
    r, next_o = batch[..., replay.obs_dim + replay.action_dim], batch[..., replay.obs_dim + replay.action_dim + 1 : -1]
    w = torch.tensor(weights, dtype=torch.float32)
    mean, variance = replay.infer_posterior(context)
    z = (mean + variance.sqrt() * torch.randn(m, c.latent_dim, generator=g))[:, None].expand(m, b, -1)
    pmean, plog_std = replay.policy.distribution(o, z.detach())
    new_a, log_pi, _ = TanhGaussianPolicy.sample(pmean, plog_std, torch.randn(m, b, replay.action_dim, generator=g))
    target = q_target(r, batch[..., -1], replay.target_v(next_o, z.detach())[..., 0], c.gamma, c.reward_scale)
    critic = kl_loss(kl_to_standard_normal(mean, variance), w, c.kl_weight) + q_loss(
        replay.q1(o, a, z)[..., 0], replay.q2(o, a, z)[..., 0], target, w
    )
    encoder_grads = torch.autograd.grad(critic, list(replay.encoder.parameters()))
    for got, expected in zip(agent.encoder.parameters(), encoder_grads):
        torch.testing.assert_close(got.grad, expected)
    # V's and the policy's losses against the stepped Q networks (agent.q1, agent.q2 hold them)
    min_q = torch.minimum(agent.q1(o, new_a, z.detach()), agent.q2(o, new_a, z.detach()))[..., 0]
    v_grads = torch.autograd.grad(
        value_loss(replay.v(o, z.detach())[..., 0], min_q, log_pi, w), list(replay.v.parameters())
    )
    for got, expected in zip(agent.v.parameters(), v_grads):
        torch.testing.assert_close(got.grad, expected)
    pi = policy_loss(log_pi, min_q, pmean, plog_std, w, c.policy_mean_reg, c.policy_std_reg)
    for got, expected in zip(agent.policy.parameters(), torch.autograd.grad(pi, list(replay.policy.parameters()))):
        torch.testing.assert_close(got.grad, expected)
    for t, old, v in zip(agent.target_v.parameters(), before_target, agent.v.parameters()):
        torch.testing.assert_close(t, (1 - c.tau) * old + c.tau * v)
    assert agent.gradient_steps == 1


def test_training_skips_steps_whose_slots_are_all_masked():
    agent, _ = filled_agent()
    only_slot_3 = np.array([0.0, 0.0, 0.0, 1.0])
    stats = agent.train(20, only_slot_3)
    assert stats["trained_steps"] + agent.skipped_steps == 20 and 0 < stats["trained_steps"] < 20
    assert agent.gradient_steps == stats["trained_steps"]
    assert agent.train(5, np.zeros(4)) == {"trained_steps": 0}
    with pytest.raises(ValueError, match="slot_weights must be 4 finite non-negative"):
        agent.train(1, np.ones(3))


# ------------------------------------------------------------------------------------------------ buffers
def test_slot_buffers_ring_grow_clear_and_sample_uniformly():
    buffer = SlotBuffer(3, 2, max_size=5, initial_capacity=2)
    rows = torch.arange(12, dtype=torch.float32).reshape(2, 3, 2)
    buffer.add([0, 2], rows)
    assert buffer.sizes.tolist() == [3, 0, 3] and buffer.capacity == 4  # grew from 2
    buffer.add([0], rows[:1] + 100)  # slot 0: 6 rows into a ring of 5, the oldest overwritten
    assert buffer.sizes[0] == 5 and buffer.capacity == 5
    assert buffer.rows(0)[:, 0].tolist() == [104.0, 2.0, 4.0, 100.0, 102.0]
    with pytest.raises(ValueError, match="distinct slots"):
        buffer.add([1, 1], rows)
    buffer.clear([2])
    assert buffer.sizes[2] == 0
    with pytest.raises(ValueError, match=r"slots \[2\] hold no rows"):
        buffer.sample([0, 2], 4, torch.Generator())
    draws = buffer.sample([0, 0], 20_000, torch.Generator().manual_seed(0))
    assert draws.shape == (2, 20_000, 2)
    counts = np.unique(draws[..., 0].numpy(), return_counts=True)[1]
    assert len(counts) == 5 and counts.min() > 0.18 * 40_000  # uniform over the 5 stored rows
    restored = SlotBuffer(3, 2, max_size=5, initial_capacity=2)
    restored.load_state_dict(buffer.state_dict())
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.equal(restored.sample([0, 0], 7, g1), buffer.sample([0, 0], 7, g2))


def test_collect_fills_the_slots_buffers_and_clears_the_encoder_buffer_of_new_tasks():
    agent, env = filled_agent()
    c = agent.config
    assert agent.replay.sizes.tolist() == [c.initial_steps] * 4 and agent.context.sizes.tolist() == [200] * 4
    returns = agent.collect(env, [1, 3], np.array([[1.0], [2.0]]))
    assert returns.shape == (2, (c.prior_steps + c.posterior_steps) // c.episode_length)
    assert agent.replay.sizes.tolist() == [200, 600, 200, 600]
    assert agent.context.sizes.tolist() == [200, c.prior_steps, 200, c.prior_steps]  # cleared, then the prior data
    # the encoder buffer holds the prior-phase transitions' (obs, action, reward): the RL buffer's new rows
    torch.testing.assert_close(agent.context.rows(1), agent.replay.rows(1)[200:400, : agent.context_width])
    assert agent.env_steps == 4 * 200 + 2 * 400
    with pytest.raises(ValueError, match="one sub-environment per slot"):
        agent.collect(env, [0, 1, 2], np.ones((3, 1)))


def test_clear_replay_leaves_a_reassigned_slot_only_its_new_tasks_transitions():
    """With ``clear_replay`` the RL buffers of the reassigned slots 1 and 3 hold exactly the 400 rows collected on
    their new tasks (the encoder buffer's 200 prior-phase rows first); slots 0 and 2 keep their initial data."""
    agent, env = filled_agent()
    agent.config = PEARLConfig.preset("smoke", clear_replay=True)
    before = [agent.replay.rows(slot).clone() for slot in (0, 2)]
    agent.collect(env, [1, 3], np.array([[1.0], [2.0]]))
    assert agent.replay.sizes.tolist() == [200, 400, 200, 400]
    for slot in (1, 3):
        torch.testing.assert_close(agent.context.rows(slot), agent.replay.rows(slot)[:200, : agent.context_width])
    for slot, rows in zip((0, 2), before):
        assert torch.equal(agent.replay.rows(slot), rows)
    with pytest.raises(ValueError, match="clear_replay must be True or False"):
        PEARLConfig(clear_replay=1)


def test_the_slots_reassigned_are_distinct_and_get_the_samplers_tasks(tmp_path, monkeypatch):
    """In a smoke run of the baseline, the initial collection gives all 4 slots the sampler's first 4 tasks; every
    iteration then gives ``tasks_per_iteration`` distinct slots the sampler's next tasks; the checkpoint holds each
    slot's latest task."""
    experiment = get_experiment("half-cheetah-vel")
    config = experiment.config("pearl", 5, "smoke")
    run = RunDir(tmp_path, "half-cheetah-vel", "pearl", 5)
    run.prepare(config.to_dict())
    calls = []
    collect = PEARL.collect

    def recording(self, env, slots, tasks, *args):
        calls.append((np.array(slots), np.array(tasks)))
        return collect(self, env, slots, tasks, *args)

    monkeypatch.setattr(PEARL, "collect", recording)
    experiment.run(config, run, lambda done, total: None)
    sampler = make_sampler(config, experiment.task_family(), np.random.SeedSequence(5).spawn(4)[0], "pearl", "pearl")
    assert isinstance(sampler, UniformSampler)
    assert len(calls) == 1 + config.loop.iterations
    np.testing.assert_array_equal(calls[0][0], np.arange(4))
    latest = np.zeros((4, 1))
    for (slots, tasks), n in zip(calls, [4, 2, 2, 2]):
        assert len(np.unique(slots)) == len(slots) == n
        np.testing.assert_array_equal(tasks, sampler.sample(n).tasks)
        latest[slots] = tasks
    assert len({tuple(slots) for slots, _ in calls[1:]}) > 1  # the reassigned slots vary
    # the final checkpoint (resumable state) records each slot's latest task
    np.testing.assert_array_equal(torch.load(run.checkpoint_file, weights_only=False)["slots"]["tasks"], latest)


def test_cvar_ml_trains_only_the_slots_in_the_alpha_tail():
    scores = np.arange(100.0)[::-1]  # slot 99 is the worst
    weights = slot_weights("pearl-cvar-ml", scores, 0.05)
    assert np.flatnonzero(weights).tolist() == [95, 96, 97, 98, 99]
    assert slot_weights("pearl-roml", scores, 0.05).tolist() == [1.0] * 100
    assert slot_weights("pearl", scores, 0.05).sum() == 100


def test_the_methods_use_the_uniform_roml_and_cvar_samplers():
    experiment = get_experiment("half-cheetah-mass")
    kinds = {"pearl": UniformSampler, "pearl-roml": RoMLSampler, "pearl-cvar-ml": CVaRSampler}
    for method, kind in kinds.items():
        config = experiment.config(method, 0, "paper")
        sampler = make_sampler(config, experiment.task_family(), 0, "pearl", SAMPLERS[method])
        assert type(sampler) is kind, method
    roml = make_sampler(experiment.config("pearl-roml", 0, "paper"), experiment.task_family(), 0, "pearl", "roml")
    assert (roml.alpha, roml.beta, roml.nu, roml.soft_update, roml.batch_size) == (0.05, 0.2, 0.2, 0.5, 128)


# ------------------------------------------------------------------------------------------------ runs
def test_a_smoke_run_writes_its_results_and_the_same_seed_gives_the_same_bytes(tmp_path):
    start = time.monotonic()
    args = ["train", "half-cheetah-vel", "--method", "pearl", "--scale", "smoke", "--out", str(tmp_path / "a")]
    assert main([*args, "--no-progress"]) == 0
    assert time.monotonic() - start < 60
    train("half-cheetah-vel", "pearl", 0, "smoke", tmp_path / "b", progress=False)
    a, b = (RunDir(tmp_path / name, "half-cheetah-vel", "pearl", 0) for name in "ab")
    summary = a.read_summary()
    metrics = summary["metrics"]
    for key in ("mean_return", "cvar_return", "mean_return@3", "cvar_return@1", "best_cvar_model_cvar_return"):
        assert key in metrics
    assert summary["n_test_tasks"] == 4 and metrics["cvar_return"] <= metrics["mean_return"]
    test = pd.read_csv(a.test_file)
    assert list(test.columns) == ["velocity", "return_0", "return_1", "return_2", "task_return"]
    np.testing.assert_allclose(test[["return_0", "return_1", "return_2"]].mean(axis=1), test["task_return"])
    for name in ("summary.json", "test.csv", "sampler.csv", "test_best_mean.csv"):
        assert (a.path / name).read_bytes() == (b.path / name).read_bytes(), name
    progress = pd.read_csv(a.progress_file)
    assert progress["frames"].tolist() == [4 * 200 + k * 2 * 400 for k in (1, 2, 3)]
    assert progress["valid_mean_return"].notna().tolist() == [False, True, True]
    assert (progress["trained_steps"] == 3).all() and progress["q_loss"].notna().all()
    other = train("half-cheetah-vel", "pearl", 1, "smoke", tmp_path / "a", progress=False)
    assert other["metrics"] != metrics
    train("half-cheetah-vel", "pearl-roml", 1, "smoke", tmp_path / "a", progress=False)
    # roml list and roml report read PEARL runs without importing torch
    code = (
        "import sys\nfrom roml.cli import main\n"
        "for args in (['list'], ['report', sys.argv[1]]):\n"
        "    assert main(args) == 0\n"
        "    print(f'torch after {args[0]}:', 'torch' in sys.modules)\n"
    )
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "a")], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    lines = [line for line in out.stdout.splitlines() if line.startswith("torch after")]
    assert lines == ["torch after list: False", "torch after report: False"]
    table = (tmp_path / "a" / "table.md").read_text()
    assert "pearl-roml" in out.stdout and "| pearl |" in table and "| pearl-roml |" in table
    assert "pearl-roml − pearl" in table and "− varibad" not in table  # PEARL's runs compared with PEARL


@pytest.mark.parametrize("method", ["pearl-roml", "pearl-cvar-ml"])
def test_a_run_killed_with_sigkill_resumes_to_the_uninterrupted_result(tmp_path, method):
    overrides = {"loop.iterations": 4, "sampler.cem_batch_size": 3}
    reference = train(
        "half-cheetah-10d-a", method, 2, "smoke", tmp_path / "reference", progress=False, overrides=overrides
    )
    out = tmp_path / "killed"
    run = kill_at_the_first_checkpoint("half-cheetah-10d-a", method, 2, out, overrides)
    assert 1 <= run.load_checkpoint()["iteration"] < 4  # what the rerun resumes from
    resumed = train("half-cheetah-10d-a", method, 2, "smoke", out, progress=False, overrides=overrides)
    assert resumed == reference
    reference_run = RunDir(tmp_path / "reference", "half-cheetah-10d-a", method, 2)
    for name in ("test.csv", "sampler.csv", "test_best_cvar.csv"):
        assert (run.path / name).read_bytes() == (reference_run.path / name).read_bytes(), name
    timing = ["wall_time", "steps_per_s"]
    pd.testing.assert_frame_equal(
        pd.read_csv(run.progress_file).drop(columns=timing),
        pd.read_csv(reference_run.progress_file).drop(columns=timing),
    )
    if method == "pearl-roml":  # 4 initial tasks, then 2 per iteration; a CEM update every 3
        assert len(pd.read_csv(run.sampler_file)) == (4 + 4 * 2) // 3


def test_the_agent_state_continues_bit_identically():
    agent, env = filled_agent(seed=4)
    agent.train(2)
    state = agent.state_dict()
    clone, clone_env = tiny_agent(seed=99)
    clone.load_state_dict(state)
    clone_env.np_random.bit_generator.state = env.np_random.bit_generator.state
    for a, e in ((agent, env), (clone, clone_env)):
        a.collect(e, a.choose_slots(), np.array([[1.0], [5.0]]))
    assert agent.train(3) == clone.train(3)
    for p, q in zip(agent.policy.parameters(), clone.policy.parameters()):
        assert torch.equal(p, q)
    assert clone.state_dict(include_buffer=False)["buffers"] is None


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_cuda_agent_matches_the_cpu_agent_up_to_rounding():
    cpu, env = filled_agent(seed=7)
    cuda, _ = tiny_agent(seed=7, device="cuda")
    cuda.load_state_dict(cpu.state_dict())
    for agent in (cpu, cuda):
        agent.train(5)
    for p, q in zip(cpu.encoder.parameters(), cuda.encoder.parameters()):
        torch.testing.assert_close(p, q.cpu(), rtol=1e-4, atol=1e-5)
    tasks = np.array([[1.0], [4.0]])
    returns = [
        a.test_returns(MujocoTaskVecEnv("HalfCheetahVel", 2, observation="authors"), tasks, 3) for a in (cpu, cuda)
    ]
    np.testing.assert_allclose(returns[0], returns[1], rtol=1e-3)


# ------------------------------------------------------------------------------------------------ configuration
def test_the_paper_settings_and_the_scales(capsys):
    experiment = get_experiment("half-cheetah-body")
    paper = experiment.config("pearl", 0, "paper")
    p = paper.pearl
    assert (p.num_slots, p.initial_steps, p.tasks_per_iteration, p.prior_steps, p.posterior_steps) == (
        100,
        2000,
        5,
        400,
        600,
    )
    assert (p.gradient_steps, p.meta_batch, p.batch_size, p.context_batch, p.latent_dim) == (2000, 16, 256, 100, 5)
    assert (p.hidden, p.encoder_hidden, p.lr, p.gamma, p.tau, p.reward_scale, p.kl_weight) == (
        (300, 300, 300),
        (200, 200, 200),
        3e-4,
        0.99,
        0.005,
        5.0,
        0.1,
    )
    assert (p.policy_mean_reg, p.policy_std_reg, p.device) == (1e-3, 1e-3, "cpu")
    assert (paper.loop.iterations, paper.eval.n_test_tasks, paper.env.mass_physics) == (500, 1000, "authors")
    assert paper.frames(500) == 100 * 2000 + 500 * 5 * 1000
    quick = experiment.config("pearl-roml", 0, "quick")
    assert quick.pearl.hidden == (64, 64) and quick.loop.iterations == 300 and quick.pearl.num_slots == 100
    assert quick.pearl.learned_temperature and quick.pearl.clear_replay and quick.pearl.reward_scale == 1.0
    assert get_experiment("half-cheetah-10d-c").config("pearl-roml", 0, "paper").sampler.cem_batch_size == 512
    assert experiment.config("pearl", 0, "smoke", {"pearl.device": "cuda"}).pearl.device == "cuda"
    assert main(["list", "--settings", "half-cheetah-body"]) == 0
    varibad, pearl = capsys.readouterr().out.split("\n\n")
    assert "varibad.num_envs" in varibad and "pearl." not in varibad
    lines = {line.split()[0]: line.split()[1:] for line in pearl.splitlines()}
    assert lines["settings"] == ["of", "pearl,", "pearl-roml,", "pearl-cvar-ml:"]
    assert lines["pearl.hidden"] == ["300,300,300", "16,16", "64,64"]
    assert lines["loop.iterations"] == ["500", "3", "300"]


def test_pearl_methods_are_run_only_when_named_and_only_on_half_cheetah(tmp_path, capsys):
    experiment = get_experiment("half-cheetah-vel")
    assert "pearl" not in experiment.methods and experiment.all_methods[-3:] == ("pearl", "pearl-roml", "pearl-cvar-ml")
    jobs = _make_jobs("half-cheetah-vel", None, [0], "smoke", tmp_path / "jobs")
    assert [job.config["method"] for job in jobs] == list(experiment.methods)
    with pytest.raises(ValueError, match="pearl-roml runs on the six HalfCheetah experiments only"):
        get_experiment("ant-goal").config("pearl-roml", 0, "smoke")
    assert main(["train", "humanoid-vel", "--method", "pearl", "--scale", "smoke", "--out", str(tmp_path)]) == 2
    assert "HalfCheetah experiments only" in capsys.readouterr().err
    pearl_smoke = ["train", "half-cheetah-vel", "--method", "pearl", "--scale", "smoke", "--out", str(tmp_path)]
    for args, message in (
        (["--set", "pearl.lr=0"], "lr must be a finite number > 0"),
        (["--set", "pearl.device=tpu"], "device must be 'cpu', 'cuda' or 'cuda:N'"),
        (["--set", "pearl.prior_steps=300"], "prior_steps must be a whole number of 200-step episodes"),
        (["--set", "pearl.tasks_per_iteration=9"], "tasks_per_iteration (9) must not exceed num_slots (4)"),
        (["--set", "varibad.num_envs=2"], "has no setting 'varibad.num_envs'"),
    ):
        assert main([*pearl_smoke, *args]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "half-cheetah-vel").exists()
