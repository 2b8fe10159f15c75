"""Parametric task families ``D_phi`` with ``D_phi0`` the original task distribution (Section 5, Eq. (9)).

A family describes the task space (``names``, ``low``/``high``) and a parametric distribution over it.
RoML's cross-entropy method samples from ``D_phi``, weighs samples by ``D_phi0/D_phi`` (via ``log_pdf``) and
moves ``phi`` towards the hard tasks with the weighted fit of Eq. (9) (``fit``).

This module imports only numpy and scipy.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

__all__ = ["TaskFamily"]


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

    def importance_weights(self, x: np.ndarray, phi: np.ndarray) -> np.ndarray:
        """``D_phi0(x) / D_phi(x)``: the importance weights of tasks drawn from ``D_phi`` (Algorithm 2, line 11)."""
        return np.exp(self.log_pdf(x, self.phi0) - self.log_pdf(x, phi))

    def check_phi(self, phi, name: str = "phi") -> np.ndarray:
        """Return ``phi`` as a float array of ``phi0``'s shape, or raise a ``ValueError`` naming it."""
        value = np.asarray(phi, dtype=float)
        if value.shape != self.phi0.shape:
            raise ValueError(f"{name} must have shape {self.phi0.shape}, got {value.shape}")
        if not np.all(np.isfinite(value)):
            raise ValueError(f"{name} must be finite, got {value.tolist()}")
        return value

    def check_tasks(self, x, name: str = "x") -> np.ndarray:
        """Return ``x`` as an ``(n, d)`` float array, or raise a ``ValueError`` naming it."""
        value = np.asarray(x, dtype=float)
        if value.ndim == 1 and self.dim == 1:
            value = value[:, None]
        if value.ndim != 2 or value.shape[1] != self.dim:
            raise ValueError(f"{name} must have shape (n, {self.dim}), got {np.shape(x)}")
        if not np.all(np.isfinite(value)):
            raise ValueError(f"{name} must be finite")
        return value

    def __repr__(self) -> str:
        return f"{type(self).__name__}(names={self.names}, phi0={self.phi0.tolist()})"
