"""Samplers are transactional, validate a loaded state entry by entry, take only real numbers, and survive
importance weights that underflow and scores near the largest float."""

import copy
import warnings

import numpy as np
import pytest

from roml.experiments.samplers import history_frame
from roml.risk import cvar, quantile, weighted_mean
from roml.samplers import CeSoRSampler, CVaRSampler, FixedPoolSampler, RoMLSampler, TaskBatch, UniformSampler
from roml.tasks import BetaBox, Exponential
from test_samplers import states_equal


class FlakyBox(BetaBox):
    """The unit interval, whose ``fit`` and ``sample`` raise while ``broken`` names them (a user's family)."""

    broken: frozenset = frozenset()

    def fit(self, x, weights):
        if "fit" in self.broken:
            raise RuntimeError("fit failed")
        return super().fit(x, weights)

    def sample(self, phi, n, rng):
        if "sample" in self.broken:
            raise RuntimeError("sample failed")
        return super().sample(phi, n, rng)


MAKERS = {
    "uniform": lambda family: UniformSampler(family, seed=1),
    "cvar": lambda family: CVaRSampler(family, alpha=0.2, seed=1),
    "roml": lambda family: RoMLSampler(family, batch_size=8, nu=0.25, seed=1),
    "pool": lambda family: FixedPoolSampler(family, alpha=0.2, pool_size=10, seed=1),
    "cesor": lambda family: CeSoRSampler(family, batch_size=8, nu=0.25, total_batches=6, threshold_window=2, seed=1),
}


def drive(sampler, n_batches, n=5):
    """Sample and observe ``n_batches`` batches (score: minus the task); the tasks and training weights."""
    out = []
    for _ in range(n_batches):
        batch = sampler.sample(n)
        out.append((batch.tasks.copy(), sampler.observe(batch, -batch.tasks[:, 0])))
    return out


@pytest.mark.parametrize("name", MAKERS)
def test_a_failing_family_leaves_the_state_as_it_was_and_a_retry_continues_exactly(name):
    family, reference = FlakyBox(0.0, 1.0, ("x",)), MAKERS[name](BetaBox(0.0, 1.0, ("x",)))
    sampler = MAKERS[name](family)
    drive(sampler, 3)
    drive(reference, 3)
    batch = sampler.sample(5)
    before = sampler.state_dict()
    family.broken = frozenset({"sample", "fit"})
    if name != "pool":  # the pool sampler draws from its family once, when it is made
        with pytest.raises(RuntimeError, match="sample failed"):
            sampler.sample(4)
        assert states_equal(before, sampler.state_dict())
    if name == "roml":  # 7 buffered + 5 tasks reach the next update of 8: the fit runs
        with pytest.raises(RuntimeError, match="fit failed"):
            sampler.observe(batch, -batch.tasks[:, 0])
        assert states_equal(before, sampler.state_dict())
    family.broken = frozenset()
    got = [(batch.tasks.copy(), sampler.observe(batch, -batch.tasks[:, 0]))] + drive(sampler, 4)
    expected = drive(reference, 5)
    assert states_equal(expected, got)
    assert states_equal(reference.state_dict(), sampler.state_dict())


@pytest.mark.parametrize("name", MAKERS)
@pytest.mark.parametrize(
    ("scores", "message"),
    [
        ([True, False, True, True, False], "scores must hold real numbers"),
        ([1 + 0j, 0, 0, 0, 0], "scores must hold real numbers"),
        (["1", "2", "3", "4", "5"], "scores must hold real numbers"),
        ("12345", "scores must hold real numbers"),
        ([[1, 2], [3]], "rectangular"),
        ([0, 0, float("nan"), 0, 0], "scores must be finite"),
    ],
)
def test_scores_that_are_not_real_numbers_are_refused_and_change_nothing(name, scores, message):
    sampler = MAKERS[name](BetaBox(0.0, 1.0, ("x",)))
    batch = sampler.sample(5)
    before = sampler.state_dict()
    with pytest.raises(ValueError, match=message):
        sampler.observe(batch, scores)
    assert states_equal(before, sampler.state_dict())


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda f: CVaRSampler(f, alpha=True), "alpha must be a real number"),
        (lambda f: CVaRSampler(f, alpha="0.5"), "alpha must be a real number"),
        (lambda f: CVaRSampler(f, alpha=0.5 + 0j), "alpha must be a real number"),
        (lambda f: RoMLSampler(f, beta=np.True_), "beta must be a real number"),
        (lambda f: RoMLSampler(f, soft_update="0"), "soft_update must be a real number"),
        (lambda f: RoMLSampler(f, batch_size=True), "batch_size must be an integer"),
        (lambda f: FixedPoolSampler(f, pool_size=10.0), "pool_size must be an integer"),
        (lambda f: UniformSampler(f, seed=True), "seed must be"),
        (lambda f: UniformSampler(f, seed=1.5), "seed must be"),
        (lambda f: UniformSampler(f, seed="0"), "seed must be"),
    ],
)
def test_settings_that_are_not_real_numbers_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make(BetaBox(0.0, 1.0, ("x",)))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda f: f.log_pdf(np.array([[True], [False]]), f.phi0), "x must hold real numbers"),
        (lambda f: f.log_pdf([[0.5]], [0.5 + 0j]), "phi must hold real numbers"),
        (lambda f: f.fit([[0.5], [0.2]], ["1", "1"]), "weights must hold real numbers"),
        (lambda f: BetaBox(0.0, True), "high must hold real numbers"),
        (lambda f: BetaBox(0.0, 1.0, eps="0.1"), "eps must be a real number"),
        (lambda f: Exponential(True), "mean must be a real number"),
        (lambda f: quantile([True, False], 0.5), "x must hold real numbers"),
        (lambda f: cvar([1.0, 2.0], True), "alpha must be a real number"),
        (lambda f: weighted_mean([1.0, 2.0], [1j, 1j]), "weights must hold real numbers"),
    ],
)
def test_families_and_risk_measures_refuse_what_is_not_a_real_number(call, message):
    with pytest.raises(ValueError, match=message):
        call(BetaBox(0.0, 1.0, ("x",)))


def test_the_cem_survives_importance_weights_that_underflow_and_fits_in_log_space():
    """The issue's case: phi grows towards 1000 while phi0 = 0.1, so D_phi0/D_phi of the selected (large) tasks
    is below the smallest float. Each update must equal the weighted fit with weights from the closed-form log
    ratio, log D_phi0(t)/D_phi(t) = log(phi/phi0) + t/phi - t/phi0, rescaled in log space."""
    family = Exponential(0.1, phi_high=1000.0)
    sampler = RoMLSampler(family, batch_size=10, soft_update=0.0, seed=0)
    underflowed = 0
    for _ in range(40):
        phi = float(sampler.phi[0])
        batch = sampler.sample(10)
        tau = batch.tasks[:, 0]
        underflowed += int(np.any(batch.weights == 0))
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # log space, no fallback: nothing to warn about
            sampler.observe(batch, -tau)
        record = sampler.history[-1]
        log_w = np.log(phi / 0.1) + tau / phi - tau / 0.1
        selected = -tau <= record["threshold"]
        w = np.exp(log_w[selected] - log_w[selected].max())
        expected = np.clip(np.dot(w, tau[selected]) / w.sum(), 0.001, 1000.0)
        np.testing.assert_allclose(sampler.phi, [expected], rtol=1e-9)
        np.testing.assert_allclose(batch.log_weights, log_w, rtol=1e-9, atol=1e-9)
    assert underflowed > 10 and sampler.phi[0] > 50
    assert np.all(np.isfinite(history_frame(sampler.history, family.names).to_numpy(dtype=float)))


def test_weights_of_zero_density_fall_back_to_the_unweighted_fit_with_a_warning():
    sampler = RoMLSampler(BetaBox(0.0, 1.0, ("x",)), batch_size=4, soft_update=0.0, seed=0)
    batch = sampler.sample(4)
    degenerate = TaskBatch(batch.tasks, np.zeros(4), batch.from_original, batch.index, np.full(4, -np.inf))
    sampler._pending[batch.index] = degenerate  # as if every task had zero density under D_phi0
    with pytest.warns(RuntimeWarning, match="using them unweighted"):
        sampler.observe(degenerate, -batch.tasks[:, 0])
    selected = -batch.tasks[:, 0] <= sampler.history[-1]["threshold"]
    np.testing.assert_allclose(sampler.phi, np.clip(batch.tasks[selected, 0].mean(), 0.02, 0.98))


@pytest.mark.parametrize("extreme", [1e308, -1e308, np.finfo(float).max])
def test_scores_near_the_largest_float_keep_the_history_finite(extreme):
    sampler = RoMLSampler(BetaBox(0.0, 1.0, ("x",)), batch_size=6, seed=0)
    batch = sampler.sample(6)
    scores = np.array([extreme, -extreme, extreme, 0.0, extreme / 2, -extreme])
    sampler.observe(batch, scores)
    frame = history_frame(sampler.history, ("x",))
    assert np.all(np.isfinite(frame.to_numpy(dtype=float)))
    record = sampler.history[-1]
    assert record["sample_mean"] == pytest.approx(np.mean(scores / 2**10) * 2**10)
    assert record["sample_cvar"] == -abs(extreme)


def corrupt(state, path, value):
    """A copy of ``state`` with the entry at ``path`` (keys and attribute names) set to ``value``."""
    state = copy.deepcopy(state)
    *parents, last = path
    target = state
    for key in parents:
        target = target[key]
    if isinstance(target, TaskBatch):
        object.__setattr__(target, last, value)
    else:
        target[last] = value
    return state


def roml_state():
    sampler = RoMLSampler(BetaBox(0.0, 1.0, ("x",)), batch_size=8, seed=0)
    drive(sampler, 3)
    sampler.sample(3)
    return sampler.state_dict()


def pool_state():
    sampler = FixedPoolSampler(BetaBox(0.0, 1.0, ("x",)), alpha=0.2, pool_size=10, seed=0)
    drive(sampler, 3)
    sampler.sample(3)
    return sampler.state_dict()


ROML_BAD = [
    (("phi",), np.array([np.nan]), "phi"),
    (("phi",), np.array([1.5]), "phi"),
    (("phi",), [0.5], "phi"),
    (("phi",), np.array([0.5, 0.5]), "phi"),
    (("n_sampled",), -1, "n_sampled"),
    (("n_sampled",), 2.5, "n_sampled"),
    (("n_observed",), 10**6, "n_observed"),
    (("_next_index",), True, "_next_index"),
    (("_n_buffered",), 3, "_n_buffered"),
    (("_n_buffered",), 8, "_n_buffered"),
    (("_buffer",), [(np.zeros((7, 1)),)], "_buffer"),
    (("_reference_slots",), np.zeros(3), "_reference_slots"),
    (("n_reference",), 5, "n_reference"),
    (("history",), {"phi": 1}, "history"),
    (("history", 0, "phi"), np.array([np.inf]), r"history\[0\].phi"),
    (("_pending",), [], "_pending"),
    (("_pending", 3, "tasks"), np.zeros((3, 2)), r"_pending\[3\].tasks"),
    (("_pending", 3, "weights"), np.full(3, -1.0), r"_pending\[3\].weights"),
    (("_pending", 3, "from_original"), np.zeros(3), r"_pending\[3\].from_original"),
    (("rng", "state"), "nonsense", "rng"),
    (("rng", "bit_generator"), "os.system", "rng"),
]


@pytest.mark.parametrize(("path", "value", "field"), ROML_BAD, ids=[" ".join(map(str, b[0])) for b in ROML_BAD])
def test_a_roml_state_with_a_bad_value_is_refused_naming_it_and_changes_nothing(path, value, field):
    state = roml_state()
    sampler = RoMLSampler(BetaBox(0.0, 1.0, ("x",)), batch_size=8, seed=5)
    before = sampler.state_dict()
    with pytest.raises(ValueError, match=field):
        sampler.load_state_dict(corrupt(state, path, value))
    assert states_equal(before, sampler.state_dict())
    sampler.load_state_dict(state)  # the untouched state loads
    assert states_equal(state, sampler.state_dict())


POOL_BAD = [
    (("pool",), np.zeros((9, 1)), "pool"),
    (("pool_scores",), np.full(10, np.inf), "pool_scores"),
    (("hard_pool",), np.array([0, 11]), "hard_pool"),
    (("_pool_handed_out",), 11, "_pool_handed_out"),
    (("_batch_pool_indices",), {}, "_batch_pool_indices"),
    (("_batch_pool_indices", 3), np.array([0, 1, 99]), r"_batch_pool_indices\[3\]"),
]


@pytest.mark.parametrize(("path", "value", "field"), POOL_BAD, ids=[" ".join(map(str, b[0])) for b in POOL_BAD])
def test_a_pool_state_with_a_bad_value_is_refused_naming_it(path, value, field):
    sampler = FixedPoolSampler(BetaBox(0.0, 1.0, ("x",)), alpha=0.2, pool_size=10, seed=5)
    before = sampler.state_dict()
    with pytest.raises(ValueError, match=field):
        sampler.load_state_dict(corrupt(pool_state(), path, value))
    assert states_equal(before, sampler.state_dict())


def test_a_state_without_its_generator_is_refused_with_a_value_error():
    state = roml_state()
    del state["rng"]
    with pytest.raises(ValueError, match="missing.*rng"):
        RoMLSampler(BetaBox(0.0, 1.0, ("x",)), batch_size=8).load_state_dict(state)


def test_a_state_saved_before_log_weights_were_kept_resumes_exactly():
    """States of earlier versions: CEM buffer entries (tasks, weights, scores), pending batches without logs."""
    original = RoMLSampler(BetaBox(0.0, 1.0, ("x",)), batch_size=8, nu=0.25, seed=0)
    drive(original, 3)
    pending = original.sample(3)
    old = original.state_dict()
    old["_buffer"] = [part[:3] for part in old["_buffer"]]
    old["_pending"] = {i: TaskBatch(b.tasks, b.weights, b.from_original, b.index) for i, b in old["_pending"].items()}
    resumed = RoMLSampler(BetaBox(0.0, 1.0, ("x",)), batch_size=8, nu=0.25, seed=0)
    resumed.load_state_dict(old)
    expected = [original.observe(pending, -pending.tasks[:, 0])] + drive(original, 5)
    got = [resumed.observe(pending, -pending.tasks[:, 0])] + drive(resumed, 5)
    assert states_equal(expected, got)
    assert states_equal(original.history, resumed.history)
