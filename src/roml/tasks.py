"""Parametric task families ``D_phi`` with ``D_phi0`` the original task distribution (Section 5, Eq. (9)).

A family describes the task space (``names``, ``low``/``high``) and a parametric distribution over it.
RoML's cross-entropy method samples from ``D_phi``, weighs samples by ``D_phi0/D_phi`` (via ``log_pdf``) and
moves ``phi`` towards the hard tasks with the weighted fit of Eq. (9) (``fit``).

The concrete families are the paper's (App. C, D.1, D.2, E) plus a discrete one:

=================  ==========================================  ============================================
family             task                                        used by
=================  ==========================================  ============================================
``BetaBox``        ``low + (high - low) u`` per dimension      HalfCheetah-Vel, Humanoid-Vel, sine regression
``LogBetaBox``     ``2 ** (lo + (hi - lo) u)`` per dimension   Mass, Body and 10-D MuJoCo tasks
``Exponential``    ``Exp(mean phi)``                           Khazad-Dum rain intensity
``PolarDisc``      ``R sqrt(u_r) (cos, sin)(2 pi u_theta)``    Ant-Goal target
``Categorical``    an index in ``{0, ..., n_tasks - 1}``       finite task sets (beyond the paper)
=================  ==========================================  ============================================

Every Beta family uses the authors' mean parameterisation ``u ~ Beta(2 phi, 2 - 2 phi)``: ``E[u] = phi``, the
concentration is fixed at 2 and ``phi = 0.5`` is ``U(0, 1)``.

This module imports only numpy and scipy.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import math
from collections.abc import Sequence

import numpy as np
from scipy import special

from roml.risk import check_real, real_array

__all__ = ["BetaBox", "Categorical", "Exponential", "LogBetaBox", "PolarDisc", "TaskFamily"]


class TaskFamily(ABC):
    """A parametric distribution ``D_phi`` over task parameters; ``phi0`` gives the original distribution.

    Attributes:
        names: one name per task dimension (``d = len(names)``), e.g. ``("amplitude", "phase", "frequency")``.
        phi0: the parameter of the original distribution ``D = D_phi0`` (1-D float array).
        phi_low, phi_high: element-wise bounds that every ``phi`` returned by ``fit`` respects.
        low, high: bounds of the task space, shape ``(d,)`` (``inf`` where unbounded).
    """

    names: tuple[str, ...]
    phi0: np.ndarray
    phi_low: np.ndarray
    phi_high: np.ndarray
    low: np.ndarray
    high: np.ndarray

    @property
    def dim(self) -> int:
        """Number of task parameters ``d``."""
        return len(self.names)

    @abstractmethod
    def sample(self, phi: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        """Draw ``n`` tasks from ``D_phi``: an ``(n, d)`` float array."""

    @abstractmethod
    def log_pdf(self, x: np.ndarray, phi: np.ndarray) -> np.ndarray:
        """Log-density of ``D_phi`` at the tasks ``x`` (``(n, d)``), w.r.t. Lebesgue measure on the task space
        (counting measure for discrete families): an ``(n,)`` array."""

    @abstractmethod
    def fit(self, x: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """The weighted maximum-likelihood / moment update of Eq. (9): the ``phi`` that best fits the tasks ``x``
        (``(n, d)``) under the non-negative ``weights`` (``(n,)``), clipped to ``[phi_low, phi_high]``."""

    @abstractmethod
    def to_unit(self, x) -> np.ndarray:
        """Map tasks ``x`` (``(n, d)``) to unit coordinates ``u`` (``(n, d)`` in ``[0, 1]^d``): the bijection under
        which the original distribution ``D_phi0`` is uniform on the unit cube (``u = 0.5`` in every coordinate is
        ``D_phi0``'s median task). Raises a ``ValueError`` for tasks outside the task space. Environments use it to
        validate tasks and figures to place tasks on a common scale."""

    @abstractmethod
    def from_unit(self, u) -> np.ndarray:
        """Map unit coordinates ``u`` (``(n, d)`` in ``[0, 1]^d``) to tasks: the inverse of :meth:`to_unit`."""

    def importance_weights(self, x: np.ndarray, phi: np.ndarray) -> np.ndarray:
        """``D_phi0(x) / D_phi(x)``: the importance weights of tasks drawn from ``D_phi`` (Algorithm 2, line 11)."""
        return np.exp(self.log_pdf(x, self.phi0) - self.log_pdf(x, phi))

    def check_phi(self, phi, name: str = "phi") -> np.ndarray:
        """Return ``phi`` as a float array of ``phi0``'s shape, or raise a ``ValueError`` naming it."""
        value = real_array(phi, name)
        if value.shape != self.phi0.shape:
            raise ValueError(f"{name} must have shape {self.phi0.shape}, got {value.shape}")
        if not np.all(np.isfinite(value)):
            raise ValueError(f"{name} must be finite, got {value.tolist()}")
        return value

    def check_tasks(self, x, name: str = "x") -> np.ndarray:
        """Return ``x`` as an ``(n, d)`` float array, or raise a ``ValueError`` naming it."""
        value = real_array(x, name)
        if value.ndim == 1 and self.dim == 1:
            value = value[:, None]
        if value.ndim != 2 or value.shape[1] != self.dim:
            raise ValueError(f"{name} must have shape (n, {self.dim}), got {np.shape(x)}")
        if not np.all(np.isfinite(value)):
            raise ValueError(f"{name} must be finite")
        return value

    def __repr__(self) -> str:
        return f"{type(self).__name__}(names={self.names}, phi0={self.phi0.tolist()})"


# --------------------------------------------------------------------------------------------------------------------
# Validation helpers shared by the families
# --------------------------------------------------------------------------------------------------------------------

_UNIT_TOL = 1e-9  # tasks this far (in unit coordinates) outside the task space count as rounding, not as errors
_U_CLIP = 1e-12  # log_pdf evaluates the Beta density on [_U_CLIP, 1 - _U_CLIP], so boundary tasks stay finite


def _check_count(n, name: str = "n") -> int:
    """Return ``n`` as an int if it is an integer >= 1, else raise a ``ValueError`` naming it."""
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {n!r}")
    return int(n)


def _check_rng(rng, name: str = "rng") -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise ValueError(
            f"{name} must be a numpy.random.Generator (e.g. np.random.default_rng(seed)), got {type(rng).__name__}"
        )
    return rng


def _check_weights(weights, n: int, name: str = "weights") -> np.ndarray:
    """Return ``weights`` as an ``(n,)`` float array rescaled to max 1 (finite, non-negative, not all zero)."""
    w = real_array(weights, name)
    if w.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) to match the {n} tasks, got {np.shape(weights)}")
    if not np.all(np.isfinite(w)):
        raise ValueError(f"{name} must be finite, got {w[~np.isfinite(w)][:3].tolist()} among its values")
    if np.any(w < 0):
        raise ValueError(f"{name} must be non-negative, got {w[w < 0][:3].tolist()} among its values")
    if not w.max() > 0:
        raise ValueError(f"{name} must not all be zero")
    return w / w.max()  # the fits are scale-free; rescaling keeps sum(w) finite for huge weights


def _weighted_mean(values: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Column-wise weighted mean of the ``(n, k)`` ``values``."""
    return w @ values / w.sum()


def _check_names(names, dim: int) -> tuple[str, ...]:
    if names is None:
        return ("tau",) if dim == 1 else tuple(f"tau{j}" for j in range(dim))
    if isinstance(names, str):
        names = (names,)
    names = tuple(str(name) for name in names)
    if len(names) != dim:
        raise ValueError(f"names must have one entry per task dimension ({dim}), got {len(names)}: {names}")
    return names


def _check_bounds(low, high, low_name: str, high_name: str) -> tuple[np.ndarray, np.ndarray]:
    """Broadcast scalar-or-sequence bounds to two finite 1-D arrays with ``low < high``."""
    low_array, high_array = real_array(low, low_name), real_array(high, high_name)
    try:
        lo, hi = np.broadcast_arrays(np.atleast_1d(low_array), np.atleast_1d(high_array))
    except ValueError:
        raise ValueError(
            f"{low_name} and {high_name} must be scalars or sequences of one length, "
            f"got shapes {np.shape(low)} and {np.shape(high)}"
        ) from None
    if lo.ndim != 1 or lo.size == 0:
        raise ValueError(f"{low_name} and {high_name} must be scalars or non-empty 1-D sequences, got {low!r}")
    for name, value in ((low_name, lo), (high_name, hi)):
        if not np.all(np.isfinite(value)):
            raise ValueError(f"{name} must be finite, got {value.tolist()}")
    if not np.all(lo < hi):
        raise ValueError(f"{low_name} must be < {high_name} in every dimension, got {lo.tolist()} and {hi.tolist()}")
    return lo.copy(), hi.copy()


def _check_eps(eps, upper: float, name: str = "eps") -> float:
    value = check_real(eps, name)
    if not (0.0 < value < upper):
        raise ValueError(f"{name} must be in (0, {upper}), got {eps!r}")
    return value


def _check_unit(u, dim: int) -> np.ndarray:
    """Unit coordinates as an ``(n, dim)`` float array in ``[0, 1]``, or a ``ValueError``."""
    value = real_array(u, "u")
    if value.ndim == 1 and dim == 1:
        value = value[:, None]
    if value.ndim != 2 or value.shape[1] != dim:
        raise ValueError(f"u must have shape (n, {dim}), got {np.shape(u)}")
    if not np.all((value >= 0.0) & (value <= 1.0)):  # also rejects NaN
        raise ValueError(f"u must lie in [0, 1], got {value[~((value >= 0) & (value <= 1))][:3].tolist()}")
    return value


def _frozen(*arrays: np.ndarray) -> None:
    """Make the family's parameter arrays read-only, so that no caller can change ``phi0`` in place."""
    for array in arrays:
        array.setflags(write=False)


def _beta_log_density(u: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """Element-wise ``log Beta(u; 2 phi, 2 - 2 phi)`` for ``u`` strictly inside (0, 1)."""
    a = 2.0 * phi
    b = 2.0 - 2.0 * phi
    return (a - 1.0) * np.log(u) + (b - 1.0) * np.log1p(-u) - special.betaln(a, b)


# --------------------------------------------------------------------------------------------------------------------
# Beta families: each coordinate of u in [0, 1]^d is Beta(2 phi_j, 2 - 2 phi_j), and a bijection maps u to the task
# --------------------------------------------------------------------------------------------------------------------


class _BetaProductFamily(TaskFamily):
    """Shared machinery of the families built on independent ``u_j ~ Beta(2 phi_j, 2 - 2 phi_j)``.

    Subclasses define the bijection between the unit cube and the task space (``_to_unit`` / ``_from_unit``) and
    ``_log_abs_jacobian(x)`` = ``log |det du/dx|``; the density in task space is then
    ``prod_j Beta(u_j; 2 phi_j, 2 - 2 phi_j) * |det du/dx|``.

    ``fit`` is the authors' moment update: ``phi_j = sum_i w_i u_ij / sum_i w_i`` (the mean of ``Beta(2 phi, 2 - 2
    phi)`` is ``phi``), clipped to ``[eps, 1 - eps]``. The concentration ``a + b`` stays fixed at 2, so this matches
    the mean rather than maximising the likelihood over the full Beta family.
    """

    def _init_phi(self, eps: float) -> None:
        self.eps = _check_eps(eps, 0.5)
        d = self.dim
        self.phi0 = np.full(d, 0.5)
        self.phi_low = np.full(d, self.eps)
        self.phi_high = np.full(d, 1.0 - self.eps)
        _frozen(self.phi0, self.phi_low, self.phi_high, self.low, self.high)

    # bijection --------------------------------------------------------------------------------------------------
    def _to_unit(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _from_unit(self, u: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _log_abs_jacobian(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _unit_or_raise(self, u: np.ndarray, x: np.ndarray, space: str, name: str = "x") -> np.ndarray:
        """Clip ``u`` to [0, 1] after checking that every task lies in the task space (up to rounding)."""
        outside = np.any((u < -_UNIT_TOL) | (u > 1.0 + _UNIT_TOL), axis=1)
        if np.any(outside):
            raise ValueError(f"{name} must lie in the task space {space}, got {x[outside][:3].tolist()} among its rows")
        return np.clip(u, 0.0, 1.0)

    def to_unit(self, x) -> np.ndarray:
        """Map tasks ``x`` (``(n, d)``) to their unit coordinates ``u`` in ``[0, 1]^d``, where ``u_j ~ Beta``."""
        return self._to_unit(self.check_tasks(x))

    def from_unit(self, u) -> np.ndarray:
        """Map unit coordinates ``u`` (``(n, d)`` in ``[0, 1]^d``) to tasks; the inverse of ``to_unit``."""
        return self._from_unit(_check_unit(u, self.dim))

    # TaskFamily -------------------------------------------------------------------------------------------------
    def check_phi(self, phi, name: str = "phi") -> np.ndarray:
        """Like :meth:`TaskFamily.check_phi`, and every entry must lie strictly inside (0, 1)."""
        value = super().check_phi(phi, name)
        if not np.all((value > 0.0) & (value < 1.0)):
            raise ValueError(
                f"{name} must lie strictly inside (0, 1) (the mean of Beta(2 phi, 2 - 2 phi)), got {value.tolist()}"
            )
        return value

    def sample(self, phi, n, rng) -> np.ndarray:
        phi = self.check_phi(phi)
        n = _check_count(n)
        rng = _check_rng(rng)
        u = rng.beta(2.0 * phi, 2.0 - 2.0 * phi, size=(n, self.dim))
        return self._from_unit(u)

    def log_pdf(self, x, phi) -> np.ndarray:
        phi = self.check_phi(phi)
        x = self.check_tasks(x)
        u = np.clip(self._to_unit(x), _U_CLIP, 1.0 - _U_CLIP)
        return _beta_log_density(u, phi).sum(axis=1) + self._log_abs_jacobian(x)

    def fit(self, x, weights) -> np.ndarray:
        x = self.check_tasks(x)
        w = _check_weights(weights, len(x))
        return np.clip(_weighted_mean(self._to_unit(x), w), self.phi_low, self.phi_high)


class BetaBox(_BetaProductFamily):
    """Uniform tasks on a box, ``tau_j ~ U(low_j, high_j)``, written as a mean-parameterised Beta family.

    Used by HalfCheetah-Vel (``U(0, 7)``) and Humanoid-Vel (``U(0, 2.5)``) in App. D.2, and by the sine regression
    of App. E (``(A, b, omega)`` on ``[0.1, 5] x [0, 2 pi] x [0.3, 3]``).

    Per dimension, independently::

        tau_j = low_j + (high_j - low_j) u_j,      u_j ~ Beta(2 phi_j, 2 - 2 phi_j)
        E[tau_j] = low_j + (high_j - low_j) phi_j
        log D_phi(tau) = sum_j [log Beta(u_j; 2 phi_j, 2 - 2 phi_j) - log(high_j - low_j)]

    ``phi0 = (0.5, ..., 0.5)`` gives ``Beta(1, 1) = U(0, 1)``, the original uniform distribution. ``fit`` is the
    per-dimension weighted mean of ``u`` clipped to ``[eps, 1 - eps]`` (the authors' moment update; the concentration
    stays 2). ``log_pdf`` evaluates the Beta density at ``u`` clipped to ``[1e-12, 1 - 1e-12]``, so tasks on the
    boundary of the box give finite values; tasks outside the box raise a ``ValueError``.

    Args:
        low, high: the box, scalars (1-D task) or sequences of one length (``low < high``).
        names: one name per dimension (default ``("tau",)`` or ``("tau0", "tau1", ...)``).
        eps: ``phi`` is clipped to ``[eps, 1 - eps]`` by ``fit`` (the authors' samplers: 0.02; their sine code: 0.001;
            docs/authors-code.md, section 2).
    """

    def __init__(self, low, high, names: Sequence[str] | str | None = None, *, eps: float = 0.02):
        self.low, self.high = _check_bounds(low, high, "low", "high")
        self.names = _check_names(names, self.low.size)
        self._log_width = np.log(self.high - self.low)
        self._init_phi(eps)

    def _to_unit(self, x: np.ndarray) -> np.ndarray:
        u = (x - self.low) / (self.high - self.low)
        return self._unit_or_raise(u, x, f"[{self.low.tolist()}, {self.high.tolist()}]")

    def _from_unit(self, u: np.ndarray) -> np.ndarray:
        return self.low + (self.high - self.low) * u

    def _log_abs_jacobian(self, x: np.ndarray) -> np.ndarray:
        return np.full(len(x), -self._log_width.sum())


class LogBetaBox(_BetaProductFamily):
    """Multiplicative factors uniform in log2, ``log2 tau_j ~ U(lo_j, hi_j)``, as a mean-parameterised Beta family.

    Used by the MuJoCo Mass tasks (1-D, ``log2 tau ~ U(-1, 1)``, i.e. ``tau in [0.5, 2]``), the Body tasks (3-D, each
    ``U(-1, 1)``) and the HalfCheetah 10-D tasks (each ``U(-0.5, 0.5)``) of App. D.2.

    Per dimension, independently::

        tau_j = 2 ** (lo_j + (hi_j - lo_j) u_j),      u_j ~ Beta(2 phi_j, 2 - 2 phi_j)
        E[log2 tau_j] = lo_j + (hi_j - lo_j) phi_j
        log D_phi(tau) = sum_j [log Beta(u_j; 2 phi_j, 2 - 2 phi_j) - log((hi_j - lo_j) tau_j ln 2)]

    ``log_pdf`` is the density of the factor ``tau`` itself (``|du_j/dtau_j| = 1 / ((hi_j - lo_j) tau_j ln 2)``); at
    ``phi0 = (0.5, ..., 0.5)`` it is the log-uniform density. ``fit`` is the per-dimension weighted mean of ``u``
    clipped to ``[eps, 1 - eps]`` (concentration fixed at 2). The task space is ``[2 ** lo, 2 ** hi]``.

    Args:
        log2_low, log2_high: ``lo`` and ``hi``, scalars or sequences of one length (``lo < hi``).
        names: one name per dimension, e.g. ``("mass", "damping", "head_size")``.
        eps: ``phi`` is clipped to ``[eps, 1 - eps]`` by ``fit`` (paper: 0.02).
    """

    def __init__(self, log2_low, log2_high, names: Sequence[str] | str | None = None, *, eps: float = 0.02):
        self.log2_low, self.log2_high = _check_bounds(log2_low, log2_high, "log2_low", "log2_high")
        self.names = _check_names(names, self.log2_low.size)
        self.low = np.exp2(self.log2_low)
        self.high = np.exp2(self.log2_high)
        self._log_span = np.log((self.log2_high - self.log2_low) * math.log(2.0))
        self._init_phi(eps)
        _frozen(self.log2_low, self.log2_high)

    def _to_unit(self, x: np.ndarray) -> np.ndarray:
        if np.any(x <= 0):
            raise ValueError(f"x must be positive (multiplicative factors), got {x[x <= 0][:3].tolist()} among them")
        u = (np.log2(x) - self.log2_low) / (self.log2_high - self.log2_low)
        return self._unit_or_raise(u, x, f"[{self.low.tolist()}, {self.high.tolist()}]")

    def _from_unit(self, u: np.ndarray) -> np.ndarray:
        return np.exp2(self.log2_low + (self.log2_high - self.log2_low) * u)

    def _log_abs_jacobian(self, x: np.ndarray) -> np.ndarray:
        return -(self._log_span + np.log(x)).sum(axis=1)


class PolarDisc(_BetaProductFamily):
    """Uniform points in a disc of radius ``R``, in polar coordinates with a Beta family per coordinate.

    Used by Ant-Goal (App. D.2; ``R = 5``): the task is the Cartesian goal ``(x, y)``::

        u_r ~ Beta(2 phi_r, 2 - 2 phi_r),   u_theta ~ Beta(2 phi_theta, 2 - 2 phi_theta)
        r = R sqrt(u_r),   theta = 2 pi u_theta,   (x, y) = (r cos theta, r sin theta)
        log D_phi(x, y) = log Beta(u_r) + log Beta(u_theta) - log(pi R^2)

    The map ``(x, y) -> (u_r, u_theta) = ((x^2 + y^2) / R^2, theta / (2 pi))`` has the constant Jacobian
    ``1 / (pi R^2)`` (``dx dy = r dr dtheta`` and ``du_r du_theta = 2 r dr dtheta / (2 pi R^2)``), so
    ``phi0 = (0.5, 0.5)`` is the uniform distribution on the disc. ``E[u_r] = E[r^2] / R^2 = phi_r`` and
    ``E[theta] = 2 pi phi_theta``. ``fit`` is the weighted mean of ``(u_r, u_theta)`` clipped to ``[eps, 1 - eps]``.

    ``to_unit`` and ``from_unit`` are exact inverses: the angle is ``atan2(y, x)`` mapped to ``[0, 2 pi)`` with
    ``np.mod`` (``u_theta = 1`` can only arise from rounding just below a full turn). The official code's inverse
    used ``(atan2(y, x) + pi) / (2 pi)``, half a turn away from the sampling map, so its angle update and its
    importance weights ran in a rotated frame; we fix that. Its ``eps = 0`` also allowed infinite densities; here
    ``log_pdf`` clips ``u`` to ``[1e-12, 1 - 1e-12]`` and ``fit`` clips ``phi`` to ``[eps, 1 - eps]``.

    Args:
        radius: ``R > 0``.
        names: the two coordinate names (default ``("x", "y")``).
        eps: ``phi`` is clipped to ``[eps, 1 - eps]`` by ``fit`` (default 0.02, as the other Beta families).
    """

    def __init__(self, radius: float, names: Sequence[str] = ("x", "y"), *, eps: float = 0.02):
        value = check_real(radius, "radius")
        if not (0.0 < value < np.inf):
            raise ValueError(f"radius must be positive and finite, got {radius!r}")
        self.radius = value
        self.names = _check_names(names, 2)
        self.low = np.full(2, -value)
        self.high = np.full(2, value)
        self._log_area = math.log(math.pi * value**2)
        self._init_phi(eps)

    def _to_unit(self, x: np.ndarray) -> np.ndarray:
        scaled = x / self.radius
        u_r = scaled[:, 0] ** 2 + scaled[:, 1] ** 2
        u_theta = np.mod(np.arctan2(x[:, 1], x[:, 0]), 2.0 * np.pi) / (2.0 * np.pi)
        u = np.stack([u_r, u_theta], axis=1)
        return self._unit_or_raise(u, x, f"(the disc of radius {self.radius})")

    def _from_unit(self, u: np.ndarray) -> np.ndarray:
        r = self.radius * np.sqrt(u[:, 0])
        theta = 2.0 * np.pi * u[:, 1]
        return np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1)

    def _log_abs_jacobian(self, x: np.ndarray) -> np.ndarray:
        return np.full(len(x), -self._log_area)

    def __repr__(self) -> str:
        return f"PolarDisc(radius={self.radius}, names={self.names}, phi0={self.phi0.tolist()})"


# --------------------------------------------------------------------------------------------------------------------
# Exponential and categorical families
# --------------------------------------------------------------------------------------------------------------------


class Exponential(TaskFamily):
    """A 1-D exponential task distribution with mean ``phi``: ``tau ~ Exp(mean phi)``.

    Used by Khazad-Dum (App. D.1), whose rain intensity is ``tau ~ Exp(mean 0.1)``::

        log D_phi(tau) = -log(phi) - tau / phi,   tau >= 0
        fit: phi = sum_i w_i tau_i / sum_i w_i

    The fit is the exponential family's weighted maximum-likelihood estimate, clipped to ``[phi_low, phi_high]``
    (default ``[mean / 100, 100 mean]``). The official code has no bound; we add one so that ``phi`` can never
    collapse to 0 or explode, which keeps the importance weights ``D_phi0 / D_phi`` finite. ``phi`` is the mean
    (the scale), not the rate. The task space is ``[0, inf)``; negative tasks raise a ``ValueError``.

    Args:
        mean: the original mean ``phi0`` (> 0), 0.1 for Khazad-Dum.
        names: the task's name (default ``("tau",)``).
        phi_low, phi_high: override the bounds of ``phi`` (``0 < phi_low <= mean <= phi_high``).
    """

    def __init__(
        self,
        mean: float,
        names: Sequence[str] | str = ("tau",),
        *,
        phi_low: float | None = None,
        phi_high: float | None = None,
    ):
        mean = self._positive(mean, "mean")
        low = mean / 100.0 if phi_low is None else self._positive(phi_low, "phi_low")
        high = mean * 100.0 if phi_high is None else self._positive(phi_high, "phi_high")
        if not (low <= mean <= high):
            raise ValueError(f"phi_low <= mean <= phi_high must hold, got phi_low={low}, mean={mean}, phi_high={high}")
        self.names = _check_names(names, 1)
        self.phi0 = np.array([mean])
        self.phi_low = np.array([low])
        self.phi_high = np.array([high])
        self.low = np.array([0.0])
        self.high = np.array([np.inf])
        _frozen(self.phi0, self.phi_low, self.phi_high, self.low, self.high)

    @staticmethod
    def _positive(value, name: str) -> float:
        number = check_real(value, name)
        if not (0.0 < number < np.inf):
            raise ValueError(f"{name} must be positive and finite, got {value!r}")
        return number

    def check_phi(self, phi, name: str = "phi") -> np.ndarray:
        """Like :meth:`TaskFamily.check_phi`, and the mean must be positive."""
        value = super().check_phi(phi, name)
        if not np.all(value > 0):
            raise ValueError(f"{name} (the mean) must be positive, got {value.tolist()}")
        return value

    def check_tasks(self, x, name: str = "x") -> np.ndarray:
        """Like :meth:`TaskFamily.check_tasks`, and every task must be non-negative."""
        value = super().check_tasks(x, name)
        if np.any(value < 0):
            raise ValueError(f"{name} must be non-negative, got {value[value < 0][:3].tolist()} among its values")
        return value

    def to_unit(self, x) -> np.ndarray:
        """The original distribution's CDF, ``u = 1 - exp(-tau / phi0)``."""
        return -np.expm1(-self.check_tasks(x) / self.phi0[0])

    def from_unit(self, u) -> np.ndarray:
        """The inverse CDF ``tau = -phi0 log(1 - u)``; ``u = 1`` (an infinite task) raises a ``ValueError``."""
        value = _check_unit(u, 1)
        if np.any(value == 1.0):
            raise ValueError("u must lie in [0, 1) for an exponential family (u = 1 is an infinite task)")
        return -self.phi0[0] * np.log1p(-value)

    def sample(self, phi, n, rng) -> np.ndarray:
        phi = self.check_phi(phi)
        n = _check_count(n)
        rng = _check_rng(rng)
        return rng.exponential(phi[0], size=(n, 1))

    def log_pdf(self, x, phi) -> np.ndarray:
        phi = self.check_phi(phi)
        x = self.check_tasks(x)
        return -np.log(phi[0]) - x[:, 0] / phi[0]

    def fit(self, x, weights) -> np.ndarray:
        x = self.check_tasks(x)
        w = _check_weights(weights, len(x))
        return np.clip(_weighted_mean(x, w), self.phi_low, self.phi_high)

    def __repr__(self) -> str:
        return (
            f"Exponential(mean={self.phi0[0]}, names={self.names}, phi_low={self.phi_low[0]}, "
            f"phi_high={self.phi_high[0]})"
        )


class Categorical(TaskFamily):
    """A finite task set ``{0, ..., n_tasks - 1}`` with task probabilities ``phi``.

    Beyond the paper, which names discrete task spaces as a limitation of RoML (Section 5, App. C.2): with no
    structure between the tasks, the CEM learns each task's probability separately, so it needs many samples per
    task. A task is an ``(n, 1)`` float array of integer indices::

        D_phi(k) = phi_k  (w.r.t. counting measure),   phi0 = (1/n_tasks, ..., 1/n_tasks)
        fit: phi = (1 - eps) * freq + eps / n_tasks,   freq_k = sum_{i: tau_i = k} w_i / sum_i w_i

    ``freq`` alone is the weighted maximum-likelihood estimate; mixing in ``eps`` of the uniform distribution (default
    0.02) keeps every task's probability at least ``eps / n_tasks``, so no task is ever starved and the importance
    weights ``D_phi0 / D_phi <= n_tasks / eps`` stay finite. ``phi_low = eps / n_tasks`` and ``phi_high = 1``.
    ``phi`` must be a probability vector (non-negative, summing to 1 within 1e-9); tasks that are not integers in
    ``{0, ..., n_tasks - 1}`` raise a ``ValueError``.

    Args:
        n_tasks: the number of tasks (an integer >= 2).
        names: the task's name (default ``("task",)``).
        eps: the uniform mixing weight of ``fit``, in (0, 1].
    """

    def __init__(self, n_tasks: int, names: Sequence[str] | str = ("task",), *, eps: float = 0.02):
        if isinstance(n_tasks, (bool, np.bool_)) or not isinstance(n_tasks, (int, np.integer)) or n_tasks < 2:
            raise ValueError(f"n_tasks must be an integer >= 2, got {n_tasks!r}")
        eps_value = check_real(eps, "eps")
        if not (0.0 < eps_value <= 1.0):
            raise ValueError(f"eps must be in (0, 1], got {eps!r}")
        self.n_tasks = int(n_tasks)
        self.eps = eps_value
        self.names = _check_names(names, 1)
        self.phi0 = np.full(self.n_tasks, 1.0 / self.n_tasks)
        self.phi_low = np.full(self.n_tasks, self.eps / self.n_tasks)
        self.phi_high = np.ones(self.n_tasks)
        self.low = np.array([0.0])
        self.high = np.array([float(self.n_tasks - 1)])
        _frozen(self.phi0, self.phi_low, self.phi_high, self.low, self.high)

    def check_phi(self, phi, name: str = "phi") -> np.ndarray:
        """Like :meth:`TaskFamily.check_phi`, and ``phi`` must be a probability vector."""
        value = super().check_phi(phi, name)
        if np.any(value < 0) or abs(value.sum() - 1.0) > 1e-9:
            raise ValueError(f"{name} must be a probability vector (non-negative, summing to 1), got {value.tolist()}")
        return value

    def check_tasks(self, x, name: str = "x") -> np.ndarray:
        """Like :meth:`TaskFamily.check_tasks`, and every task must be an index in ``{0, ..., n_tasks - 1}``."""
        value = super().check_tasks(x, name)
        bad = (value != np.round(value)) | (value < 0) | (value > self.n_tasks - 1)
        if np.any(bad):
            raise ValueError(
                f"{name} must hold task indices in {{0, ..., {self.n_tasks - 1}}}, "
                f"got {value[bad][:3].tolist()} among its values"
            )
        return value

    def to_unit(self, x) -> np.ndarray:
        """Task ``k`` -> ``(k + 0.5) / n_tasks``, the middle of its interval of the uniform distribution's CDF."""
        return (self.check_tasks(x) + 0.5) / self.n_tasks

    def from_unit(self, u) -> np.ndarray:
        """``u`` -> the task whose CDF interval ``[k / n_tasks, (k + 1) / n_tasks)`` holds it (``u = 1``: the last)."""
        return np.minimum(np.floor(_check_unit(u, 1) * self.n_tasks), self.n_tasks - 1)

    def sample(self, phi, n, rng) -> np.ndarray:
        phi = self.check_phi(phi)
        n = _check_count(n)
        rng = _check_rng(rng)
        return rng.choice(self.n_tasks, size=n, p=phi).astype(float)[:, None]

    def log_pdf(self, x, phi) -> np.ndarray:
        phi = self.check_phi(phi)
        index = self.check_tasks(x)[:, 0].astype(int)
        with np.errstate(divide="ignore"):  # a task of probability 0 has log-probability -inf
            return np.log(phi)[index]

    def fit(self, x, weights) -> np.ndarray:
        index = self.check_tasks(x)[:, 0].astype(int)
        w = _check_weights(weights, len(index))
        freq = np.bincount(index, weights=w, minlength=self.n_tasks) / w.sum()
        phi = np.clip((1.0 - self.eps) * freq + self.eps / self.n_tasks, self.phi_low, self.phi_high)
        return phi / phi.sum()

    def __repr__(self) -> str:
        return f"Categorical(n_tasks={self.n_tasks}, names={self.names}, eps={self.eps})"
