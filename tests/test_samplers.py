"""Samplers: CVaR-ML's tail selection, RoML's dynamic CEM (Algorithm 2), the naive pool, checkpoints, bad input."""

import numpy as np
import pytest

from roml.risk import quantile
from roml.samplers import CeSoRSampler, CVaRSampler, FixedPoolSampler, RoMLSampler, TaskBatch, UniformSampler
from roml.tasks import BetaBox


def unit_interval():
    return BetaBox(0.0, 1.0, ("x",))


def run_roml(sampler, score_fn, n_batches, n_per_batch):
    for _ in range(n_batches):
        batch = sampler.sample(n_per_batch)
        sampler.observe(batch, score_fn(batch.tasks))
    return sampler


def states_equal(a, b):
    """Deep equality of two state dicts (numpy arrays compared element-wise)."""
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(states_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(states_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, TaskBatch):
        return states_equal(vars(a), vars(b))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(a, b, equal_nan=True)
    return a == b


def test_uniform_sampler_draws_from_the_original_distribution():
    sampler = UniformSampler(BetaBox([0, -1], [1, 1], ("a", "b")), seed=3)
    batch = sampler.sample(4000)
    assert batch.tasks.shape == (4000, 2)
    assert np.all(batch.weights == 1) and np.all(batch.from_original)
    np.testing.assert_allclose(batch.tasks.mean(axis=0), [0.5, 0.0], atol=0.03)
    np.testing.assert_array_equal(sampler.observe(batch, -batch.tasks[:, 0]), np.ones(4000))
    assert sampler.history == []


def test_cvar_sampler_keeps_exactly_the_worst_task_of_20_at_alpha_005():
    sampler = CVaRSampler(unit_interval(), alpha=0.05, seed=0)
    batch = sampler.sample(20)
    scores = np.random.default_rng(1).normal(size=20)
    weights = sampler.observe(batch, scores)
    expected = np.zeros(20)
    expected[np.argmin(scores)] = 1
    np.testing.assert_array_equal(weights, expected)


def test_cvar_sampler_selects_the_alpha_tail():
    sampler = CVaRSampler(unit_interval(), alpha=0.25, seed=0)
    batch = sampler.sample(8)
    weights = sampler.observe(batch, np.array([5.0, 1, 7, 3, 2, 8, 6, 4]))
    # 0.25-quantile with linear interpolation: position 1.75 between 2 and 3 -> 2.75; scores 1 and 2 are kept
    np.testing.assert_array_equal(weights, [0, 1, 0, 0, 1, 0, 0, 0])


def test_roml_update_matches_a_hand_computed_cem_step():
    family = unit_interval()
    sampler = RoMLSampler(family, alpha=0.1, beta=0.3, nu=0.0, soft_update=0.5, batch_size=10, seed=7)
    batch = sampler.sample(10)
    scores = -batch.tasks[:, 0]
    sampler.observe(batch, scores)
    # the first batch comes from phi0, so all importance weights are one
    np.testing.assert_allclose(batch.weights, 1.0)
    reference = np.quantile(scores, 0.1, method="weibull")
    internal = np.quantile(scores, 0.3)
    threshold = max(reference, internal)
    selected = scores <= threshold
    fitted = np.clip(batch.tasks[selected, 0].mean(), 0.02, 0.98)
    (record,) = sampler.history
    assert record["reference_quantile"] == pytest.approx(reference)
    assert record["internal_quantile"] == pytest.approx(internal)
    assert record["threshold"] == pytest.approx(threshold)
    assert record["n_selected"] == selected.sum()
    np.testing.assert_allclose(sampler.phi, [0.5 * 0.5 + 0.5 * fitted])
    np.testing.assert_allclose(record["phi"], sampler.phi)
    assert record["sample_mean"] == pytest.approx(scores.mean())


def test_roml_importance_weights_are_the_density_ratio_and_reference_draws_weigh_one():
    family = BetaBox([0, 0], [1, 2], ("a", "b"))
    sampler = RoMLSampler(family, alpha=0.05, nu=0.2, batch_size=128, seed=0)
    sampler.phi = np.array([0.8, 0.3])
    batch = sampler.sample(128)
    assert batch.from_original.sum() == 25  # floor(0.2 * 128), as in Algorithm 2 line 3
    np.testing.assert_array_equal(batch.weights[batch.from_original], 1.0)
    drawn = ~batch.from_original
    np.testing.assert_allclose(
        batch.weights[drawn], family.importance_weights(batch.tasks[drawn], np.array([0.8, 0.3]))
    )


def test_roml_reference_draws_are_placed_per_window_of_batch_size_draws():
    sampler = RoMLSampler(unit_interval(), nu=0.25, batch_size=40, seed=0)
    flags = np.concatenate([sampler.sample(n).from_original for n in (7, 13, 20, 40, 1, 39)])
    assert flags.size == 120
    np.testing.assert_array_equal(flags.reshape(3, 40).sum(axis=1), [10, 10, 10])


def test_roml_updates_every_batch_size_observed_tasks_across_sample_calls():
    sampler = RoMLSampler(unit_interval(), batch_size=50, seed=0)
    counts = []
    for _ in range(6):
        batch = sampler.sample(20)
        sampler.observe(batch, -batch.tasks[:, 0])
        counts.append(len(sampler.history))
    assert counts == [0, 0, 1, 1, 2, 2]
    assert [r["n_tasks"] for r in sampler.history] == [50, 100]
    big = sampler.sample(140)  # 20 buffered + 140 observed = 160 -> three more updates, 10 left over
    sampler.observe(big, -big.tasks[:, 0])
    assert [r["n_tasks"] for r in sampler.history] == [50, 100, 150, 200, 250]
    assert sampler._n_buffered == 10


def test_cem_finds_the_tail_of_a_one_dimensional_box():
    """Score -x: the hard tasks are the high ones; the alpha-tail of D_phi0 = U(0, 1) is x >= 0.95."""
    sampler = RoMLSampler(unit_interval(), alpha=0.05, beta=0.2, batch_size=128, seed=0)
    run_roml(sampler, lambda tasks: -tasks[:, 0], n_batches=300, n_per_batch=128)
    late = sampler.history[-100:]
    sampled = sampler.sample(5000).tasks[:, 0]
    assert sampled.mean() >= 0.85
    mean_reference_quantile = np.mean([r["reference_quantile"] for r in late])
    assert abs(mean_reference_quantile - (-0.95)) <= 0.03
    # the importance-weighted reference CVaR matches the closed form E[-x | x >= 0.95] = -0.975. (The reference
    # *mean* is biased low, about -0.59, once D_phi sits in the tail: with nu = 0 few draws cover the bulk.)
    assert np.mean([r["reference_cvar"] for r in late]) == pytest.approx(-0.975, abs=0.01)
    assert np.mean([r["sample_mean"] for r in late]) < -0.85


def test_cem_moves_only_the_dimension_that_matters():
    """The paper's Fig. 13 behaviour: phi moves where the score depends on the task, not elsewhere."""
    family = BetaBox([0, 0, 0], [1, 1, 1], ("hard", "idle1", "idle2"))
    sampler = RoMLSampler(family, alpha=0.05, batch_size=128, seed=1)
    run_roml(sampler, lambda tasks: -tasks[:, 0], n_batches=200, n_per_batch=128)
    phis = np.array([r["phi"] for r in sampler.history])
    assert phis[-1, 0] > 0.85
    idle = np.abs(phis[:, 1:] - 0.5)
    assert np.all(idle[-1] <= 0.15)
    # RMS over the run: single updates stray further (up to ~0.2) because the importance weights of the selected
    # tasks are dominated by the saturated first dimension (effective sample size ~10 of ~110 selected)
    assert np.sqrt(np.mean(idle**2)) <= 0.1


def test_same_seed_gives_identical_histories_and_different_seeds_differ():
    def history(seed):
        sampler = RoMLSampler(BetaBox([0, 0], [1, 1], ("a", "b")), nu=0.2, batch_size=64, seed=seed)
        run_roml(sampler, lambda t: -t[:, 0] * t[:, 1], n_batches=30, n_per_batch=32)
        return sampler.history

    assert states_equal(history(5), history(5))
    assert not states_equal(history(5), history(6))


@pytest.mark.parametrize(
    "make",
    [
        lambda: UniformSampler(unit_interval(), seed=2),
        lambda: CVaRSampler(unit_interval(), alpha=0.1, seed=2),
        lambda: RoMLSampler(unit_interval(), nu=0.2, batch_size=50, seed=2),
        lambda: FixedPoolSampler(unit_interval(), alpha=0.1, pool_size=30, seed=2),
        lambda: CeSoRSampler(unit_interval(), batch_size=50, total_batches=10, threshold_window=3, seed=2),
    ],
    ids=["uniform", "cvar", "roml", "pool", "cesor"],
)
def test_load_state_dict_resumes_exactly(make):
    def drive(sampler, n_batches):
        out = []
        for _ in range(n_batches):
            batch = sampler.sample(17)
            out.append((batch.tasks.copy(), sampler.observe(batch, -batch.tasks[:, 0])))
        return out

    original = make()
    drive(original, 5)  # leaves a partly filled CEM buffer / a half-scored pool behind
    pending = original.sample(9)
    state = original.state_dict()
    expected = [(pending.tasks, original.observe(pending, -pending.tasks[:, 0]))] + drive(original, 6)

    resumed = make()
    resumed.load_state_dict(state)
    restored_pending = resumed._pending[pending.index]
    got = [(restored_pending.tasks, resumed.observe(pending, -pending.tasks[:, 0]))] + drive(resumed, 6)
    assert states_equal(expected, got)
    assert states_equal(original.state_dict(), resumed.state_dict())


def test_load_state_dict_rejects_another_configuration_and_keeps_state():
    sampler = RoMLSampler(unit_interval(), alpha=0.05, batch_size=50, seed=0)
    other = RoMLSampler(unit_interval(), alpha=0.01, batch_size=50, seed=0)
    before = sampler.state_dict()
    with pytest.raises(ValueError, match="alpha"):
        sampler.load_state_dict(other.state_dict())
    with pytest.raises(ValueError, match="CVaRSampler"):
        sampler.load_state_dict(CVaRSampler(unit_interval()).state_dict())
    assert states_equal(before, sampler.state_dict())


def test_fixed_pool_sampler_hands_out_the_pool_then_only_its_hardest_tasks():
    sampler = FixedPoolSampler(unit_interval(), alpha=0.05, pool_size=100, seed=4)
    first = [sampler.sample(20) for _ in range(5)]
    for batch in first:
        assert batch.from_original.all()
        sampler.observe(batch, -batch.tasks[:, 0])
    pool = np.concatenate([b.tasks for b in first])[:, 0]
    np.testing.assert_array_equal(pool, sampler.pool[:, 0])
    hardest = np.sort(pool)[-5:]  # round(0.05 * 100) lowest scores = highest x
    later = sampler.sample(1000)
    assert not later.from_original.any()
    assert set(later.tasks[:, 0]) == set(hardest)


@pytest.mark.parametrize(
    "make",
    [
        lambda: CVaRSampler(unit_interval(), alpha=0.1, seed=2),
        lambda: RoMLSampler(unit_interval(), batch_size=10, seed=2),
        lambda: FixedPoolSampler(unit_interval(), pool_size=10, seed=2),
        lambda: CeSoRSampler(unit_interval(), batch_size=10, seed=2),
    ],
    ids=["cvar", "roml", "pool", "cesor"],
)
def test_bad_input_raises_and_leaves_the_sampler_unchanged(make):
    sampler = make()
    batch = sampler.sample(5)
    before = sampler.state_dict()
    for n in (0, -1, 2.5, True, "3"):
        with pytest.raises(ValueError, match="n must be an integer"):
            sampler.sample(n)
    with pytest.raises(ValueError, match=r"scores must have shape \(5,\)"):
        sampler.observe(batch, np.zeros(4))
    for bad in (np.nan, np.inf, -np.inf):
        with pytest.raises(ValueError, match="scores must be finite"):
            sampler.observe(batch, [0.0, 1.0, bad, 2.0, 3.0])
    foreign = make().sample(5)
    forged = TaskBatch(foreign.tasks + 1, foreign.weights, foreign.from_original, batch.index)
    for unknown in (forged, TaskBatch(batch.tasks, batch.weights, batch.from_original, 99), "batch"):
        with pytest.raises(ValueError, match="was not issued by this sampler"):
            sampler.observe(unknown, np.zeros(5))
    assert states_equal(before, sampler.state_dict())
    sampler.observe(batch, np.zeros(5))
    with pytest.raises(ValueError, match="already been observed"):
        sampler.observe(batch, np.zeros(5))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"alpha": 0.0}, "alpha"),
        ({"alpha": 1.5}, "alpha"),
        ({"alpha": float("nan")}, "alpha"),
        ({"beta": 1.0}, "beta"),
        ({"nu": 1.0}, "nu"),
        ({"soft_update": -0.1}, "soft_update"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_bad_configuration_is_rejected_with_the_argument_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RoMLSampler(unit_interval(), **kwargs)


def test_family_must_be_a_task_family():
    with pytest.raises(ValueError, match="family"):
        UniformSampler("sine")


def test_quantile_threshold_used_by_cvar_ml_is_the_risk_module_quantile():
    scores = np.linspace(-3, 3, 41)
    sampler = CVaRSampler(unit_interval(), alpha=0.1, seed=0)
    weights = sampler.observe(sampler.sample(41), scores)
    np.testing.assert_array_equal(weights, (scores <= quantile(scores, 0.1)).astype(float))


# ------------------------------------------------------------------------------------------------------ CeSoR


def test_cesor_soft_risk_level_falls_linearly_over_80_percent_of_training():
    sampler = CeSoRSampler(unit_interval(), alpha=0.05, total_batches=10)
    levels = [sampler.risk_level(k) for k in range(12)]  # 8 batches to fall: 1, 1 - 0.95/8, ..., 0.05, 0.05
    np.testing.assert_allclose(levels, [1 - 0.95 * min(1, k / 8) for k in range(12)])
    assert sampler.risk_level() == 1.0


def test_cesor_weights_are_the_importance_weights_of_the_window_tail_normalised():
    sampler = CeSoRSampler(unit_interval(), alpha=0.25, nu=0.0, total_batches=1, threshold_window=2, seed=0)
    first = sampler.sample(4)  # phi = phi0: importance weights 1
    np.testing.assert_array_equal(first.weights, np.ones(4))
    assert sampler.risk_level() == 1.0  # the first batch: every task counts, weighted by its importance weight
    np.testing.assert_allclose(sampler.observe(first, [3.0, 4.0, 6.0, 8.0]), np.full(4, 0.25))
    assert sampler.risk_level() == 0.25
    second = sampler.sample(4)
    # the threshold pools both batches: scores 1..8 at equal weight sit at positions 0, 1/7, ..., 1 of the
    # interpolated quantile function, so the 0.25-quantile is 1 + 0.25 * 7 = 2.75: the tasks scoring 1 and 2
    np.testing.assert_allclose(sampler.observe(second, [2.0, 5.0, 1.0, 7.0]), [0.5, 0.0, 0.5, 0.0])
    third = sampler.sample(4)  # the window drops the first batch: threshold of 2, 5, 1, 7, 9, 9, 9, 9 is 2.75 again
    np.testing.assert_allclose(sampler.observe(third, [9.0, 9.0, 9.0, 9.0]), np.zeros(4))  # no task in the tail


def test_cesor_clips_the_importance_weights_and_runs_romls_cem():
    family = BetaBox(0.0, 1.0, ("x",))
    cesor = CeSoRSampler(family, nu=0.0, batch_size=32, weight_clip=5.0, seed=3)
    cesor.phi = np.array([0.9])  # a mean far from phi0's 0.5: density ratios beyond [1/5, 5]
    batch = cesor.sample(200)
    raw = np.exp(family.log_pdf(batch.tasks, family.phi0) - family.log_pdf(batch.tasks, cesor.phi))
    assert raw.min() < 0.2 and raw.max() > 5
    np.testing.assert_allclose(batch.weights, np.clip(raw, 0.2, 5.0))
    # with weights inside the clip, CeSoR's CEM is RoML's: the same tasks and the same phi after every update
    wide = CeSoRSampler(unit_interval(), nu=0.2, batch_size=32, weight_clip=1e12, total_batches=20, seed=4)
    roml = RoMLSampler(unit_interval(), nu=0.2, batch_size=32, seed=4)
    for sampler in (wide, roml):
        run_roml(sampler, lambda t: -t[:, 0], n_batches=20, n_per_batch=16)
    assert len(roml.history) == 10 and states_equal(wide.history, roml.history)
    assert roml.history[-1]["phi"][0] > 0.7  # from 0.5 towards x = 1, the hard tasks


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"total_batches": 0}, "total_batches"),
        ({"soft_risk_fraction": 0.0}, "soft_risk_fraction"),
        ({"soft_risk_fraction": 1.5}, "soft_risk_fraction"),
        ({"weight_clip": 1.0}, "weight_clip"),
        ({"weight_clip": float("inf")}, "weight_clip"),
        ({"threshold_window": 0}, "threshold_window"),
    ],
)
def test_bad_cesor_settings_are_rejected_with_the_argument_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CeSoRSampler(unit_interval(), **kwargs)


def test_a_cesor_state_with_a_bad_window_is_refused_and_changes_nothing():
    sampler = CeSoRSampler(unit_interval(), batch_size=8, threshold_window=2, seed=1)
    run_roml(sampler, lambda t: -t[:, 0], n_batches=3, n_per_batch=4)
    before = sampler.state_dict()
    for recent, message in (
        ([(np.zeros(4), np.ones(4))] * 2, "fewer than 2"),
        ([(np.zeros(4), np.zeros(4))], "not positive"),
        ([np.zeros(4)], "pair"),
    ):
        with pytest.raises(ValueError, match=message):
            sampler.load_state_dict({**before, "_recent": recent})
    assert states_equal(before, sampler.state_dict())
