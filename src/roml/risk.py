"""Risk measures over tasks: (weighted) quantiles, CVaR and confidence intervals over seeds.

Conventions (the paper's, Section 3): scores are *returns*, higher is better, and the CVaR is the mean of the
**lower** tail, ``CVaR_alpha(X) = E[X | X <= q_alpha(X)]``. For a loss, take ``-cvar(-loss, alpha)``
(see :func:`upper_cvar`).

Definitions used throughout roml
--------------------------------
* ``quantile`` is the quantile of the (weighted) empirical distribution with linear interpolation between the
  *mid-points* of the cumulative weights: sorted values ``x_(i)`` with weights ``w_(i)`` sit at the positions
  ``c_i = (S_i - w_i/2 - w_1/2) / (S_n - w_n/2 - w_1/2)`` (``S_i`` the cumulative sum). With equal weights
  ``c_i = (i - 1)/(n - 1)``, which is exactly ``numpy.quantile(..., method="linear")``; the weighted version is
  the one the authors' CEM uses for RoML's reference quantile (Algorithm 2, lines 10-13).
* ``quantile(..., underlying=True)`` additionally applies the authors' small-sample correction
  ``alpha' = clip(alpha (n + 1)/(n - 1) - 1/(n - 1), 0, 1)``. With equal weights this is the Weibull plotting
  position (Hyndman & Fan type 6, ``numpy.quantile(..., method="weibull")``), an estimate of the quantile of the
  *underlying* distribution rather than of the sample; RoML uses it for the reference quantile.
* ``cvar`` is the exact CVaR of the (weighted) empirical distribution: the mean of the lowest ``alpha`` of the
  probability mass, where the sample on the boundary contributes the fraction of its weight needed to fill
  ``alpha``. When ``alpha * n`` is an integer and the weights are equal this is the mean of the ``alpha * n`` lowest
  values, the paper's reported metric (e.g. 1000 test tasks at alpha 0.05: the mean of the worst 50).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "ConfidenceInterval",
    "check_alpha",
    "check_real",
    "confidence_interval",
    "cvar",
    "quantile",
    "real_array",
    "upper_cvar",
    "weighted_mean",
]


def check_real(value, name: str) -> float:
    """``value`` as a float if it is a real number (int or float, numpy's included), else a ``ValueError`` naming
    it: ``True``, ``"0.5"`` and ``1 + 0j`` are refused rather than read as 1, 0.5 and 1."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a real number, got {value!r} ({type(value).__name__})")
    return float(value)


def real_array(x, name: str) -> np.ndarray:
    """``x`` as a float array if its entries are real numbers, else a ``ValueError`` naming it (booleans,
    strings, complex numbers and other objects are refused, not converted)."""
    if isinstance(x, (str, bytes)):
        raise ValueError(f"{name} must hold real numbers, got {x!r}")
    try:
        array = np.asarray(x)
    except ValueError:  # ragged nesting
        raise ValueError(f"{name} must be a rectangular array of real numbers, got {x!r}") from None
    if array.dtype.kind not in "iuf":
        raise ValueError(f"{name} must hold real numbers, got an array of dtype {array.dtype}")
    return array.astype(float, copy=False)


def _overflow_scale(values: np.ndarray) -> float:
    """A power of two (so scaling is exact) that brings a sample of huge magnitude below 2**896, where the
    differences and sums the risk measures take cannot overflow; 1 for every ordinary sample."""
    return 2.0**-128 if values.size and np.max(np.abs(values)) > 2.0**896 else 1.0


def check_alpha(alpha: float, name: str = "alpha") -> float:
    """Return ``alpha`` as a float if it lies in (0, 1], else raise a ``ValueError`` naming it."""
    value = check_real(alpha, name)
    if not (0.0 < value <= 1.0):  # also rejects NaN
        raise ValueError(f"{name} must be in (0, 1], got {alpha!r}")
    return value


def _as_sample(x, weights) -> tuple[np.ndarray, np.ndarray | None]:
    """Validate a 1-D sample and its optional non-negative weights (clear errors, no NaN)."""
    values = real_array(x, "x")
    if values.ndim != 1:
        raise ValueError(f"x must be one-dimensional, got shape {np.shape(x)}")
    if values.size == 0:
        raise ValueError("x must not be empty")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"x must be finite, got {values[~np.isfinite(values)][:3].tolist()} among its values")
    if weights is None:
        return values, None
    w = real_array(weights, "weights").reshape(-1)
    if w.shape != values.shape:
        raise ValueError(f"weights must have the shape of x {values.shape}, got {np.shape(weights)}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("weights must be finite and non-negative")
    if w.sum() <= 0:
        raise ValueError("weights must not all be zero")
    return values, w


def quantile(x, alpha: float, weights=None, *, underlying: bool = False) -> float:
    """The ``alpha``-quantile of ``x``, optionally importance-weighted (see the module docstring).

    Args:
        x: 1-D sample (finite).
        alpha: level in (0, 1].
        weights: optional non-negative weights, e.g. importance weights ``D_phi0(z)/D_phi(z)``.
        underlying: apply the small-sample correction that estimates the quantile of the underlying
            distribution (the authors' ``estimate_underlying_quantile``; RoML's reference quantile).
    """
    alpha = check_alpha(alpha)
    values, w = _as_sample(x, weights)
    n = values.size
    if underlying and n > 1:
        alpha = float(np.clip(alpha * (n + 1) / (n - 1) - 1 / (n - 1), 0.0, 1.0))
    if n == 1:
        return float(values[0])
    scale = _overflow_scale(values)
    order = np.argsort(values, kind="stable")
    sorted_x = values[order] * scale
    sorted_w = np.ones(n) if w is None else w[order]
    cum = np.cumsum(sorted_w)
    span = cum[-1] - sorted_w[-1] / 2 - sorted_w[0] / 2
    if span <= 0:  # all the weight sits on the two end points
        return float((sorted_x[0] if alpha <= 0.5 else sorted_x[-1]) / scale)
    positions = (cum - sorted_w / 2 - sorted_w[0] / 2) / span
    return float(np.interp(alpha, positions, sorted_x) / scale)


def cvar(x, alpha: float, weights=None) -> float:
    """Mean of the worst (lowest) ``alpha`` fraction of ``x``: the CVaR of the weighted empirical distribution.

    ``cvar(range(1, 101), 0.05) == 3.0``. With importance weights ``w_i = D_phi0(z_i)/D_phi(z_i)`` it is the
    self-normalised importance-sampling estimate of the CVaR under ``D_phi0`` (the "reference CVaR" of App. D.3).
    """
    alpha = check_alpha(alpha)
    values, w = _as_sample(x, weights)
    scale = _overflow_scale(values)
    order = np.argsort(values, kind="stable")
    sorted_x = values[order] * scale
    mass = np.ones(values.size) if w is None else w[order]
    tail_mass = alpha * mass.sum()
    if np.round(tail_mass) > 0 and np.isclose(tail_mass, np.round(tail_mass), rtol=0.0, atol=1e-9):
        tail_mass = np.round(tail_mass)  # alpha * n = 5.000000000000001 must mean exactly the 5 lowest values
    mass_before = np.concatenate(([0.0], np.cumsum(mass)[:-1]))
    taken = np.clip(tail_mass - mass_before, 0.0, mass)
    # measured from the minimum: exact for constant samples and less rounding for the rest
    return float((sorted_x[0] + np.dot(taken, sorted_x - sorted_x[0]) / taken.sum()) / scale)


def upper_cvar(x, alpha: float, weights=None) -> float:
    """Mean of the highest ``alpha`` fraction of ``x`` (the CVaR of a *loss*): ``-cvar(-x, alpha, weights)``."""
    return -cvar(-real_array(x, "x"), alpha, weights)


def weighted_mean(x, weights=None) -> float:
    """Self-normalised (importance-)weighted mean of ``x``; the plain mean without weights."""
    values, w = _as_sample(x, weights)
    scale = _overflow_scale(values)
    values = values * scale
    return float((values.mean() if w is None else np.dot(w, values) / w.sum()) / scale)


@dataclass(frozen=True)
class ConfidenceInterval:
    """Mean of a metric over seeds with a two-sided Student-t confidence interval."""

    mean: float
    low: float
    high: float
    std: float
    n: int


def confidence_interval(values, level: float = 0.95) -> ConfidenceInterval:
    """Student-t confidence interval of the mean of ``values`` (one value per seed).

    With a single seed the interval collapses to the value itself (no spread can be estimated).
    """
    level = check_alpha(level, "level")
    sample, _ = _as_sample(values, None)
    n = sample.size
    mean = float(sample.mean())
    if n == 1:
        return ConfidenceInterval(mean, mean, mean, 0.0, 1)
    std = float(sample.std(ddof=1))
    from scipy import stats  # here, not at the top: scipy.stats takes most of a second to import

    half = float(stats.t.ppf(0.5 + level / 2, df=n - 1) * std / np.sqrt(n))
    return ConfidenceInterval(mean, mean - half, mean + half, std, n)
