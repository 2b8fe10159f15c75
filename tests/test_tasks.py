"""Tests of the task families in roml.tasks against closed forms.

Monte Carlo checks use a tolerance of ``Z`` standard errors, where the standard error comes from a known bound
on the standard deviation of the averaged quantity (or, for importance sampling, from the effective sample
size). With ``Z = 5`` a correct implementation fails with probability below 1e-6 per check, and every draw is
seeded, so the tests are deterministic anyway.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
from scipy import integrate, special, stats

from roml.tasks import BetaBox, Categorical, Exponential, LogBetaBox, PolarDisc, TaskFamily

Z = 5.0  # standard errors allowed by the Monte Carlo checks
N = 100_000  # Monte Carlo sample size


@dataclass
class Case:
    """A family with parameters to test it at.

    ``phis``: non-central parameters for sampling and fitting. ``phi_is``: a parameter moderate enough that the
    importance weights between it and ``phi0`` have finite variance. ``fit_target(phi)``: what ``fit`` returns on
    an infinite sample of ``D_phi``. ``stat_sd(phi)``: a bound on the standard deviation of the statistic that
    ``fit`` averages.
    """

    family: TaskFamily
    phis: list[np.ndarray]
    phi_is: np.ndarray
    fit_target: Callable[[np.ndarray], np.ndarray] = lambda phi: phi
    stat_sd: Callable[[np.ndarray], float] = lambda phi: 0.5  # u in [0, 1] or an indicator: sd <= 1/2


def _categorical_case() -> Case:
    family = Categorical(5)
    return Case(
        family,
        phis=[np.array([0.4, 0.3, 0.15, 0.1, 0.05]), np.array([0.0, 0.0, 0.0, 0.5, 0.5])],
        phi_is=np.array([0.1, 0.15, 0.2, 0.25, 0.3]),
        fit_target=lambda phi: (1 - family.eps) * phi + family.eps / family.n_tasks,
    )


CASES = {
    "velocity": Case(BetaBox(0.0, 7.0, "velocity"), [np.array([0.15]), np.array([0.8])], np.array([0.65])),
    "sine": Case(
        BetaBox([0.1, 0.0, 0.3], [5.0, 2 * np.pi, 3.0], ("amplitude", "phase", "frequency")),
        [np.array([0.9, 0.5, 0.6]), np.array([0.1, 0.3, 0.7])],
        np.array([0.6, 0.5, 0.4]),
    ),
    "mass": Case(LogBetaBox(-1.0, 1.0, "mass"), [np.array([0.25]), np.array([0.9])], np.array([0.4])),
    "body": Case(
        LogBetaBox([-1.0] * 3, [1.0] * 3, ("mass", "damping", "head_size")),
        [np.array([0.8, 0.3, 0.5]), np.array([0.05, 0.95, 0.6])],
        np.array([0.6, 0.4, 0.5]),
    ),
    "rain": Case(
        Exponential(0.1),
        [np.array([0.03]), np.array([0.25])],
        np.array([0.15]),  # the IS weights have finite variance only for phi < 2 phi0
        stat_sd=lambda phi: float(phi[0]),
    ),
    "goal": Case(PolarDisc(5.0), [np.array([0.8, 0.2]), np.array([0.3, 0.9])], np.array([0.6, 0.4])),
    "finite": _categorical_case(),
}
CASE_IDS = list(CASES)


@pytest.fixture(params=CASE_IDS)
def case(request) -> Case:
    return CASES[request.param]


def sample(family: TaskFamily, phi, n: int = N, seed: int = 0) -> np.ndarray:
    return family.sample(np.asarray(phi, dtype=float), n, np.random.default_rng(seed))


def in_task_space(family: TaskFamily, x: np.ndarray) -> bool:
    inside = bool(np.all((x >= family.low) & (x <= family.high)))
    if isinstance(family, PolarDisc):
        inside &= bool(np.all(np.hypot(x[:, 0], x[:, 1]) <= family.radius * (1 + 1e-12)))
    if isinstance(family, Categorical):
        inside &= bool(np.all(x == np.round(x)))
    return inside


# ----------------------------------------------------------------------------------------------------------------
# Properties every family has
# ----------------------------------------------------------------------------------------------------------------


def test_attributes_are_consistent(case):
    family = case.family
    assert family.low.shape == family.high.shape == (family.dim,)
    assert family.phi_low.shape == family.phi_high.shape == family.phi0.shape
    assert np.all(family.phi_low <= family.phi0) and np.all(family.phi0 <= family.phi_high)
    with pytest.raises(ValueError, match="read-only"):
        family.phi0[0] = 0.3  # nobody can move the original distribution by accident


def test_samples_lie_in_task_space(case):
    for phi in [case.family.phi0, *case.phis]:
        x = sample(case.family, phi, n=20_000)
        assert x.shape == (20_000, case.family.dim) and x.dtype == float
        assert in_task_space(case.family, x)
        assert np.all(np.isfinite(case.family.log_pdf(x, phi)))


def test_same_seed_same_samples(case):
    phi = case.phis[0]
    np.testing.assert_array_equal(sample(case.family, phi, 500, seed=7), sample(case.family, phi, 500, seed=7))
    assert not np.array_equal(sample(case.family, phi, 500, seed=7), sample(case.family, phi, 500, seed=8))


@pytest.mark.parametrize("which", [0, 1])
def test_fit_recovers_phi(case, which):
    phi = case.phis[which]
    x = sample(case.family, phi)
    fitted = case.family.fit(x, np.ones(N))
    assert fitted.shape == case.family.phi0.shape
    np.testing.assert_allclose(fitted, case.fit_target(phi), rtol=0, atol=Z * case.stat_sd(phi) / math.sqrt(N))


def test_fit_with_importance_weights_recovers_phi(case):
    """Draw from D_phi0 and weight by D_phi/D_phi0: the weighted fit estimates the fit under D_phi (Eq. (9))."""
    family, phi = case.family, case.phi_is
    x = sample(family, family.phi0, seed=1)
    w = np.exp(family.log_pdf(x, phi) - family.log_pdf(x, family.phi0))
    ess = w.sum() ** 2 / (w**2).sum()  # Kish's effective sample size
    assert ess > N / 10
    tol = Z * case.stat_sd(phi) / math.sqrt(ess)
    np.testing.assert_allclose(family.fit(x, w), case.fit_target(phi), rtol=0, atol=tol)


def test_importance_weights_average_to_one(case):
    """E_{D_phi}[D_phi0 / D_phi] = 1 (Algorithm 2, line 11)."""
    family, phi = case.family, case.phi_is
    x = sample(family, phi, seed=2)
    w = family.importance_weights(x, phi)
    assert np.all(np.isfinite(w)) and np.all(w > 0)
    assert abs(w.mean() - 1) <= Z * w.std() / math.sqrt(N)


def test_fit_ignores_zero_weights_and_weight_scale(case):
    family = case.family
    x = sample(family, case.phis[0], n=1000, seed=3)
    w = np.random.default_rng(4).uniform(size=1000)
    w[::3] = 0.0
    np.testing.assert_allclose(family.fit(x, w), family.fit(x[w > 0], w[w > 0]), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(family.fit(x, 1e300 * w), family.fit(x, w), rtol=1e-12, atol=1e-15)


def test_fit_stays_within_bounds(case):
    family = case.family
    x = sample(family, case.phis[1], n=50, seed=5)
    for w in (np.ones(50), np.eye(50)[0], np.eye(50)[-1]):
        fitted = family.fit(x, w)
        assert np.all(family.phi_low <= fitted) and np.all(fitted <= family.phi_high)


# ----------------------------------------------------------------------------------------------------------------
# Closed forms per family
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("phi", [0.5, 0.1, 0.8, 0.98])
def test_betabox_sample_mean(phi):
    family = CASES["sine"].family
    phi = np.full(3, phi)
    x = sample(family, phi)
    sd = (family.high - family.low) * np.sqrt(phi * (1 - phi) / 3)  # sd of Beta(2 phi, 2 - 2 phi) is that root
    np.testing.assert_allclose(
        x.mean(axis=0), family.low + (family.high - family.low) * phi, rtol=0, atol=Z * sd.max() / math.sqrt(N)
    )


@pytest.mark.parametrize("phi", [0.5, 0.2, 0.9])
def test_logbetabox_sample_mean(phi):
    family = CASES["mass"].family  # log2 tau in [-1, 1]
    x = sample(family, [phi])[:, 0]
    # E[2 ** (lo + (hi - lo) u)] = 2 ** lo * E[exp(t u)], t = (hi - lo) ln 2, and E[exp(t u)] = 1F1(a; a + b; t)
    expected = 0.5 * special.hyp1f1(2 * phi, 2.0, 2 * math.log(2))
    assert abs(x.mean() - expected) <= Z * (2 - 0.5) / 2 / math.sqrt(N)
    assert abs(np.log2(x).mean() - (-1 + 2 * phi)) <= Z * 1.0 / math.sqrt(N)


@pytest.mark.parametrize("phi", [0.1, 0.02, 0.5])
def test_exponential_sample_mean(phi):
    x = sample(Exponential(0.1), [phi])
    assert abs(x.mean() - phi) <= Z * phi / math.sqrt(N)


@pytest.mark.parametrize("phi", [(0.5, 0.5), (0.8, 0.2), (0.3, 0.9)])
def test_polardisc_sample_moments(phi):
    family = PolarDisc(5.0)
    x = sample(family, phi)
    radius2, theta = x[:, 0] ** 2 + x[:, 1] ** 2, np.mod(np.arctan2(x[:, 1], x[:, 0]), 2 * np.pi)
    assert abs(radius2.mean() - 25 * phi[0]) <= Z * 25 / 2 / math.sqrt(N)  # E[r^2] = R^2 phi_r
    assert abs(theta.mean() - 2 * np.pi * phi[1]) <= Z * np.pi / math.sqrt(N)  # E[theta] = 2 pi phi_theta
    if phi == (0.5, 0.5):  # uniform on the disc: centred
        np.testing.assert_allclose(x.mean(axis=0), 0.0, atol=Z * 5 / math.sqrt(N))


def test_categorical_sample_frequencies():
    family = CASES["finite"].family
    for phi in CASES["finite"].phis:
        x = sample(family, phi)
        freq = np.bincount(x[:, 0].astype(int), minlength=5) / N
        np.testing.assert_allclose(freq, phi, rtol=0, atol=Z * 0.5 / math.sqrt(N))


def _quad(f, a, b) -> float:
    value, error = integrate.quad(f, a, b, limit=200)
    return value


@pytest.mark.parametrize("phi", [0.5, 0.3, 0.85])
def test_betabox_density_integrates_to_one(phi):
    family = BetaBox(0.0, 7.0)
    assert _quad(lambda t: np.exp(family.log_pdf([[t]], [phi])[0]), 0.0, 7.0) == pytest.approx(1, abs=1e-6)


@pytest.mark.parametrize("phi", [0.5, 0.3, 0.85])
def test_logbetabox_density_integrates_to_one(phi):
    family = LogBetaBox(-1.0, 1.0)
    assert _quad(lambda t: np.exp(family.log_pdf([[t]], [phi])[0]), 0.5, 2.0) == pytest.approx(1, abs=1e-6)


@pytest.mark.parametrize("phi", [0.1, 0.4])
def test_exponential_density_integrates_to_one(phi):
    family = Exponential(0.1)
    assert _quad(lambda t: np.exp(family.log_pdf([[t]], [phi])[0]), 0.0, np.inf) == pytest.approx(1, abs=1e-8)


def _tanh_sinh(a: float, b: float, h: float = 1 / 16, t_max: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of the tanh-sinh rule on (a, b), which copes with integrable endpoint singularities."""
    t = np.arange(-t_max, t_max + h / 2, h)
    s = np.pi / 2 * np.sinh(t)
    return (a + b) / 2 + (b - a) / 2 * np.tanh(s), (b - a) / 2 * h * np.pi / 2 * np.cosh(t) / np.cosh(s) ** 2


@pytest.mark.parametrize("phi", [(0.5, 0.5), (0.7, 0.35)])
def test_polardisc_density_integrates_to_one(phi):
    """Integrate the Cartesian density over the disc in polar coordinates, dx dy = r dr dtheta."""
    family = PolarDisc(2.0)
    r, w_r = _tanh_sinh(0.0, 2.0)
    theta, w_theta = _tanh_sinh(0.0, 2 * np.pi)
    r, theta = (grid.ravel() for grid in np.meshgrid(r, theta, indexing="ij"))
    weights = np.outer(w_r, w_theta).ravel() * r
    density = np.exp(family.log_pdf(np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1), phi))
    # The only loss is the Beta mass within 1e-12 of an end, where log_pdf clips u: ~1e-12 ** 0.6 here.
    assert weights @ density == pytest.approx(1, abs=1e-6)


def test_categorical_probabilities_sum_to_one():
    family = CASES["finite"].family
    tasks = np.arange(5.0)[:, None]
    for phi in [family.phi0, *CASES["finite"].phis]:
        np.testing.assert_allclose(np.exp(family.log_pdf(tasks, phi)), phi, rtol=1e-15)
        assert np.exp(family.log_pdf(tasks, phi)).sum() == pytest.approx(1, abs=1e-12)


def test_log_pdf_matches_scipy():
    rng = np.random.default_rng(6)
    box = BetaBox(0.0, 7.0)
    x = rng.uniform(0.01, 6.99, size=(100, 1))
    for phi in (0.5, 0.2, 0.9):
        expected = stats.beta(2 * phi, 2 - 2 * phi, loc=0, scale=7).logpdf(x[:, 0])
        np.testing.assert_allclose(box.log_pdf(x, [phi]), expected, rtol=1e-12)
    factors = rng.uniform(0.51, 1.99, size=(100, 1))
    expected = stats.loguniform(0.5, 2.0).logpdf(factors[:, 0])
    np.testing.assert_allclose(LogBetaBox(-1, 1).log_pdf(factors, [0.5]), expected, rtol=1e-12)
    intensity = rng.exponential(0.1, size=(100, 1))
    expected = stats.expon(scale=0.3).logpdf(intensity[:, 0])
    np.testing.assert_allclose(Exponential(0.1).log_pdf(intensity, [0.3]), expected, rtol=1e-12)


@pytest.mark.parametrize("name", ["sine", "body"])
def test_multidimensional_density_is_a_product(name):
    family = CASES[name].family
    phi = CASES[name].phis[0]
    x = sample(family, phi, n=200)
    one_d = type(family)
    lows = family.low if isinstance(family, BetaBox) else family.log2_low
    highs = family.high if isinstance(family, BetaBox) else family.log2_high
    per_dim = [one_d(lo, hi).log_pdf(x[:, [j]], [phi[j]]) for j, (lo, hi) in enumerate(zip(lows, highs))]
    np.testing.assert_allclose(family.log_pdf(x, phi), np.sum(per_dim, axis=0), rtol=1e-12)


def test_original_distribution_is_uniform():
    rng = np.random.default_rng(7)
    sine = CASES["sine"].family
    x = sine.from_unit(rng.uniform(size=(50, 3)))
    np.testing.assert_allclose(sine.log_pdf(x, sine.phi0), -np.log(np.prod(sine.high - sine.low)), rtol=1e-14)

    body = CASES["body"].family  # uniform in u, so the factor's density is only the Jacobian
    x = body.from_unit(rng.uniform(size=(50, 3)))
    expected = -np.sum(np.log(2 * x * math.log(2)), axis=1)
    np.testing.assert_allclose(body.log_pdf(x, body.phi0), expected, rtol=1e-12)

    goal = PolarDisc(5.0)
    x = goal.from_unit(rng.uniform(size=(50, 2)))
    np.testing.assert_allclose(goal.log_pdf(x, goal.phi0), -np.log(np.pi * 25), rtol=1e-14)

    finite = CASES["finite"].family
    np.testing.assert_allclose(finite.log_pdf(np.arange(5.0), finite.phi0), -np.log(5), rtol=1e-14)


def test_boundary_tasks_have_finite_density():
    extreme = [0.02, 0.98]
    box = BetaBox(0.0, 7.0)
    for phi in extreme:
        assert np.all(np.isfinite(box.log_pdf([[0.0], [7.0]], [phi])))
        assert np.all(np.isfinite(box.importance_weights(np.array([[0.0], [7.0]]), np.array([phi]))))
    mass = LogBetaBox(-1.0, 1.0)
    for phi in extreme:
        assert np.all(np.isfinite(mass.log_pdf([[0.5], [2.0]], [phi])))
    goal = PolarDisc(5.0)
    edge = [[5.0, 0.0], [0.0, 0.0], [0.0, -5.0], [-5.0, 0.0]]
    for phi in ([0.02, 0.98], [0.98, 0.02]):
        assert np.all(np.isfinite(goal.log_pdf(edge, phi)))


def test_beta_fit_is_clipped():
    box = BetaBox(0.0, 7.0)
    assert box.fit([[7.0]] * 4, np.ones(4)) == pytest.approx([0.98])
    assert box.fit([[0.0]] * 4, np.ones(4)) == pytest.approx([0.02])
    assert BetaBox(0.0, 7.0, eps=0.001).fit([[7.0]], [1.0]) == pytest.approx([0.999])
    goal = PolarDisc(5.0)
    np.testing.assert_allclose(goal.fit([[1e-3, 0.0]], [1.0]), [0.02, 0.02])


def test_beta_fit_is_the_weighted_mean_of_u():
    family = CASES["sine"].family
    x = sample(family, [0.3, 0.6, 0.5], n=30, seed=8)
    w = np.random.default_rng(9).uniform(size=30)
    u = (x - family.low) / (family.high - family.low)
    np.testing.assert_allclose(family.fit(x, w), np.clip(w @ u / w.sum(), 0.02, 0.98), rtol=1e-13)


def test_exponential_fit_is_the_weighted_mean_clipped():
    family = Exponential(0.1)
    assert family.fit([[0.1], [0.4]], [3.0, 1.0]) == pytest.approx([0.175])
    assert family.fit([[0.0], [1e-6]], [1.0, 1.0]) == pytest.approx([0.001])  # phi_low = mean / 100
    assert family.fit([[1e3]], [1.0]) == pytest.approx([10.0])  # phi_high = mean * 100
    custom = Exponential(0.1, phi_low=0.05, phi_high=0.2)
    assert custom.fit([[0.0]], [1.0]) == pytest.approx([0.05])
    assert custom.fit([[5.0]], [1.0]) == pytest.approx([0.2])
    assert family.low[0] == 0 and family.high[0] == np.inf


def test_categorical_fit_keeps_every_task():
    family = Categorical(4, eps=0.1)
    fitted = family.fit([[2.0], [2.0], [0.0]], [1.0, 1.0, 0.0])  # all the weight on task 2
    np.testing.assert_allclose(fitted, [0.025, 0.025, 0.925, 0.025])
    assert fitted.sum() == pytest.approx(1, abs=1e-15)
    w = family.importance_weights(np.arange(4.0), fitted)
    np.testing.assert_allclose(w, [10, 10, 0.25 / 0.925, 10])  # at most n_tasks / eps
    assert family.log_pdf([[1.0]], [0.5, 0.0, 0.5, 0.0])[0] == -np.inf  # phi may set a task's probability to 0


# ----------------------------------------------------------------------------------------------------------------
# PolarDisc coordinates
# ----------------------------------------------------------------------------------------------------------------


def test_polardisc_quadrants_and_angles():
    goal = PolarDisc(2.0)
    x = np.array([[1.0, 1.0], [-1.0, 1.0], [-1.0, -1.0], [1.0, -1.0], [2.0, 0.0], [0.0, -2.0]])
    u = goal.to_unit(x)
    np.testing.assert_allclose(u[:, 0], [0.5, 0.5, 0.5, 0.5, 1.0, 1.0], rtol=1e-15)
    np.testing.assert_allclose(u[:, 1], [1 / 8, 3 / 8, 5 / 8, 7 / 8, 0.0, 3 / 4], rtol=1e-15)
    np.testing.assert_allclose(goal.from_unit([[0.25, 0.25]]), [[0.0, 1.0]], atol=1e-15)


def test_polardisc_round_trips():
    goal = PolarDisc(5.0)
    rng = np.random.default_rng(10)
    near_edges = [0.0, 1e-12, 1e-9, 0.25, 0.5, 0.75, 1 - 1e-9, 1 - 1e-12]
    u = np.concatenate(
        [
            np.stack(np.meshgrid([1e-6, 0.3, 0.999, 1.0], near_edges), axis=-1).reshape(-1, 2),
            rng.uniform(1e-6, 1.0, size=(1000, 2)),
        ]
    )
    np.testing.assert_allclose(goal.to_unit(goal.from_unit(u)), u, rtol=0, atol=1e-12)

    x = np.concatenate(
        [
            [[3.0, 1e-13], [3.0, -1e-13], [-3.0, 1e-13], [-3.0, -1e-13], [1e-13, 3.0], [-1e-13, -3.0]],
            [[2.0, 1.0], [-2.0, 1.0], [-2.0, -1.0], [2.0, -1.0], [5.0, 0.0], [0.0, 0.0]],
            goal.sample(goal.phi0, 1000, rng),
        ]
    )
    np.testing.assert_allclose(goal.from_unit(goal.to_unit(x)), x, rtol=0, atol=1e-12)
    assert np.all((goal.to_unit(x) >= 0) & (goal.to_unit(x) <= 1))


def test_unit_maps_of_boxes_invert():
    rng = np.random.default_rng(11)
    for name in ("sine", "body"):
        family = CASES[name].family
        u = rng.uniform(size=(200, 3))
        np.testing.assert_allclose(family.to_unit(family.from_unit(u)), u, rtol=0, atol=1e-12)


def test_exponential_unit_coordinates_are_the_original_cdf():
    family = Exponential(0.1)
    median = 0.1 * np.log(2.0)  # the median of Exp(mean 0.1) sits at u = 0.5
    np.testing.assert_allclose(family.to_unit([[0.0], [median], [0.3]]), [[0.0], [0.5], [1 - np.exp(-3.0)]])
    u = np.random.default_rng(4).uniform(size=(100, 1))
    np.testing.assert_allclose(family.to_unit(family.from_unit(u)), u, rtol=1e-12, atol=0)
    draws = family.to_unit(family.sample(family.phi0, 20_000, np.random.default_rng(5)))
    assert abs(draws.mean() - 0.5) < 0.01 and abs(np.mean(draws < 0.25) - 0.25) < 0.01  # uniform under phi0
    with pytest.raises(ValueError, match="infinite task"):
        family.from_unit([[1.0]])
    with pytest.raises(ValueError, match="non-negative"):
        family.to_unit([[-0.1]])


def test_categorical_unit_coordinates_are_the_middles_of_the_cdf_steps():
    family = Categorical(4)
    np.testing.assert_array_equal(family.to_unit([[0.0], [3.0]]), [[0.125], [0.875]])
    np.testing.assert_array_equal(family.from_unit([[0.0], [0.2499], [0.25], [1.0]]), [[0.0], [0.0], [1.0], [3.0]])
    tasks = np.arange(4.0)[:, None]
    np.testing.assert_array_equal(family.from_unit(family.to_unit(tasks)), tasks)
    with pytest.raises(ValueError, match="task indices"):
        family.to_unit([[1.5]])


# ----------------------------------------------------------------------------------------------------------------
# Input validation
# ----------------------------------------------------------------------------------------------------------------

BOX = BetaBox(0.0, 7.0)
GOAL = PolarDisc(5.0)
RAIN = Exponential(0.1)
FINITE = Categorical(3)
RNG = np.random.default_rng(0)

BAD_INPUTS = {
    "box low >= high": (lambda: BetaBox(1.0, 0.0), "low"),
    "box bounds not finite": (lambda: BetaBox(0.0, np.inf), "high"),
    "box names length": (lambda: BetaBox([0, 0], [1, 1], ("a",)), "names"),
    "box bounds lengths": (lambda: BetaBox([0, 0], [1, 1, 1]), "low"),
    "box eps": (lambda: BetaBox(0, 1, eps=0.5), "eps"),
    "logbox low >= high": (lambda: LogBetaBox(1.0, -1.0), "log2_low"),
    "exp mean zero": (lambda: Exponential(0.0), "mean"),
    "exp mean negative": (lambda: Exponential(-1.0), "mean"),
    "exp bounds around mean": (lambda: Exponential(0.1, phi_low=0.2), "phi_low"),
    "exp phi_high": (lambda: Exponential(0.1, phi_high=-1.0), "phi_high"),
    "disc radius": (lambda: PolarDisc(0.0), "radius"),
    "disc names": (lambda: PolarDisc(1.0, names=("x",)), "names"),
    "categorical one task": (lambda: Categorical(1), "n_tasks"),
    "categorical float n_tasks": (lambda: Categorical(2.5), "n_tasks"),
    "categorical names": (lambda: Categorical(3, names=("a", "b")), "names"),
    "categorical eps": (lambda: Categorical(3, eps=0.0), "eps"),
    "n zero": (lambda: BOX.sample(BOX.phi0, 0, RNG), "n"),
    "n float": (lambda: BOX.sample(BOX.phi0, 2.0, RNG), "n"),
    "n bool": (lambda: RAIN.sample(RAIN.phi0, True, RNG), "n"),
    "rng not a generator": (lambda: BOX.sample(BOX.phi0, 3, 42), "rng"),
    "phi shape": (lambda: BOX.sample([0.5, 0.5], 3, RNG), "phi"),
    "phi outside (0, 1)": (lambda: BOX.sample([1.0], 3, RNG), "phi"),
    "phi nan": (lambda: GOAL.log_pdf([[0.0, 0.0]], [np.nan, 0.5]), "phi"),
    "exp phi non-positive": (lambda: RAIN.log_pdf([[0.1]], [0.0]), "phi"),
    "categorical phi not a distribution": (lambda: FINITE.sample([0.5, 0.5, 0.5], 3, RNG), "phi"),
    "categorical phi negative": (lambda: FINITE.log_pdf([[0.0]], [1.5, -0.5, 0.0]), "phi"),
    "x shape": (lambda: GOAL.log_pdf([1.0, 2.0, 3.0], GOAL.phi0), "x"),
    "x nan": (lambda: BOX.log_pdf([[np.nan]], BOX.phi0), "x"),
    "x outside box": (lambda: BOX.log_pdf([[7.5]], BOX.phi0), "x"),
    "x outside log box": (lambda: LogBetaBox(-1, 1).log_pdf([[4.0]], [0.5]), "x"),
    "x non-positive factor": (lambda: LogBetaBox(-1, 1).fit([[0.0]], [1.0]), "x"),
    "x outside disc": (lambda: GOAL.log_pdf([[4.0, 4.0]], GOAL.phi0), "x"),
    "x negative intensity": (lambda: RAIN.log_pdf([[-0.1]], RAIN.phi0), "x"),
    "x not an index": (lambda: FINITE.log_pdf([[1.5]], FINITE.phi0), "x"),
    "x index out of range": (lambda: FINITE.fit([[3.0]], [1.0]), "x"),
    "u outside unit square": (lambda: GOAL.from_unit([[0.5, 1.5]]), "u"),
    "weights length": (lambda: BOX.fit([[1.0], [2.0]], [1.0]), "weights"),
    "weights negative": (lambda: RAIN.fit([[1.0], [2.0]], [1.0, -1.0]), "weights"),
    "weights all zero": (lambda: GOAL.fit([[1.0, 2.0]], [0.0]), "weights"),
    "weights infinite": (lambda: FINITE.fit([[1.0], [2.0]], [1.0, np.inf]), "weights"),
}


@pytest.mark.parametrize("call, name", list(BAD_INPUTS.values()), ids=list(BAD_INPUTS))
def test_bad_input_raises_value_error_naming_it(call, name):
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        call()
