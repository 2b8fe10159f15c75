"""Risk measures against closed forms and hand-built references."""

import numpy as np
import pytest
from scipy import stats

from roml.risk import confidence_interval, cvar, quantile, upper_cvar, weighted_mean


def test_cvar_of_one_to_hundred():
    assert cvar(np.arange(1, 101), 0.05) == 3.0
    assert cvar(list(range(1, 101)), 1.0) == 50.5
    assert upper_cvar(np.arange(1, 101), 0.05) == 98.0


def test_cvar_takes_the_boundary_sample_fractionally():
    # lowest 15% of 10 equally likely values: 1 whole sample and half of the next
    assert cvar([4.0, 1.0, 2.0, 9.0, 5, 6, 7, 8, 3, 10], 0.15) == pytest.approx((1.0 + 0.5 * 2.0) / 1.5)
    assert cvar([7.0], 0.01) == 7.0


def test_weighted_cvar_is_the_cvar_of_the_weighted_distribution():
    # weights 3:1 -> P(0) = 0.75; the lowest 50% is all 0, the lowest 100% has mean 0.25
    assert cvar([0.0, 1.0], 0.5, weights=[3, 1]) == 0.0
    assert cvar([0.0, 1.0], 1.0, weights=[3, 1]) == pytest.approx(0.25)
    # repeating a value k times equals weighting it by k
    rng = np.random.default_rng(0)
    x = rng.normal(size=30)
    k = rng.integers(1, 5, size=30)
    assert cvar(x, 0.2, weights=k) == pytest.approx(cvar(np.repeat(x, k), 0.2))


def test_unweighted_quantile_is_numpy_linear_and_weighted_reduces_to_it():
    rng = np.random.default_rng(1)
    x = rng.normal(size=57)
    for alpha in (0.01, 0.05, 0.2, 0.5, 0.99, 1.0):
        assert quantile(x, alpha) == pytest.approx(np.quantile(x, alpha))
        assert quantile(x, alpha, weights=np.full(57, 2.5)) == pytest.approx(np.quantile(x, alpha))
        assert quantile(x, alpha, underlying=True) == pytest.approx(np.quantile(x, alpha, method="weibull"))


def test_weighted_quantile_hand_built():
    # sorted x = 0, 1, 2 with w = 1, 2, 1: midpoints c = (0, 1.5, 3) / 3 -> 0, 0.5, 1
    assert quantile([2.0, 0.0, 1.0], 0.25, weights=[1, 1, 2]) == pytest.approx(0.5)
    assert quantile([2.0, 0.0, 1.0], 0.75, weights=[1, 1, 2]) == pytest.approx(1.5)


def test_underlying_correction_matches_the_authors_levels():
    # alpha' = alpha (n + 1)/(n - 1) - 1/(n - 1): 0.04291 for n = 128, alpha = 0.05 (docs/authors-code.md, section 1)
    x = np.arange(128.0)
    assert quantile(x, 0.05, underlying=True) == pytest.approx(np.quantile(x, 0.05 * 129 / 127 - 1 / 127))
    assert 0.05 * 129 / 127 - 1 / 127 == pytest.approx(0.04291, abs=1e-5)


def test_importance_weighted_estimates_recover_the_original_distribution():
    # samples from U(0, 1) weighted by Beta(2, 2)/U(0, 1) estimate the median, mean and CVaR_0.5 of Beta(2, 2):
    # 0.5, 0.5 and 12 (1/24 - 1/64) = 0.3125
    rng = np.random.default_rng(2)
    x = rng.uniform(size=200_000)
    w = stats.beta.pdf(x, 2, 2)
    assert quantile(x, 0.5, weights=w) == pytest.approx(0.5, abs=0.005)
    assert weighted_mean(x, w) == pytest.approx(0.5, abs=0.005)
    assert cvar(x, 0.5, weights=w) == pytest.approx(0.3125, abs=0.005)


def test_confidence_interval_is_student_t():
    values = [1.0, 2.0, 3.0, 4.0]
    ci = confidence_interval(values, 0.95)
    half = stats.t.ppf(0.975, 3) * np.std(values, ddof=1) / 2
    assert (ci.mean, ci.n) == (2.5, 4)
    assert (ci.low, ci.high) == (pytest.approx(2.5 - half), pytest.approx(2.5 + half))
    single = confidence_interval([3.0])
    assert (single.low, single.high, single.std) == (3.0, 3.0, 0.0)


@pytest.mark.parametrize("alpha", [0, -0.1, 1.01, float("nan"), "a", None])
def test_bad_alpha_is_named(alpha):
    with pytest.raises(ValueError, match="alpha"):
        cvar([1.0, 2.0], alpha)
    with pytest.raises(ValueError, match="alpha"):
        quantile([1.0, 2.0], alpha)


@pytest.mark.parametrize("fn", [cvar, quantile])
def test_bad_samples_and_weights_are_named(fn):
    with pytest.raises(ValueError, match="x must not be empty"):
        fn([], 0.5)
    with pytest.raises(ValueError, match="x must be finite"):
        fn([1.0, np.nan], 0.5)
    with pytest.raises(ValueError, match="x must be one-dimensional"):
        fn(np.ones((2, 2)), 0.5)
    with pytest.raises(ValueError, match="weights must have the shape"):
        fn([1.0, 2.0], 0.5, weights=[1.0])
    with pytest.raises(ValueError, match="weights must be finite and non-negative"):
        fn([1.0, 2.0], 0.5, weights=[1.0, -1.0])
    with pytest.raises(ValueError, match="weights must not all be zero"):
        fn([1.0, 2.0], 0.5, weights=[0.0, 0.0])
