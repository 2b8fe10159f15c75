"""Sine regression: the supervised meta-learning task family of Section 6.3 and Appendix E.

A task is ``tau = (A, b, omega)`` (amplitude, phase, frequency) and its data are pairs ``(x, y)`` with

    x ~ U[0, 2 pi),        y = A sin(omega x + b).

The original task distribution is uniform over the box
``Omega = [0.1, 5] x [0, 2 pi] x [0.3, 3]`` (Appendix E; the frequency is the paper's addition to the task
space of Finn et al. [2017], which "was too simplistic to pose a mean/CVaR tradeoff"). Training uses 10 support
and 10 query points per task; the test protocol uses 10 support and 32 query points
(docs/authors-code.md, section 7).

This module imports only numpy. The task family itself is the Beta box over ``[SINE_LOW, SINE_HIGH]``
(``roml.tasks``); here we only turn task parameters into data, a whole meta-batch in one vectorised operation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "SINE_HIGH",
    "SINE_LOW",
    "SINE_NAMES",
    "X_HIGH",
    "X_LOW",
    "SineData",
    "sample_sine_data",
    "sine_function",
]

SINE_NAMES: tuple[str, str, str] = ("amplitude", "phase", "frequency")
"""Names of the three task parameters, in the column order of a task array."""

SINE_LOW: tuple[float, float, float] = (0.1, 0.0, 0.3)
"""Lower corner of the task box ``Omega`` (Appendix E): amplitude 0.1, phase 0, frequency 0.3."""

SINE_HIGH: tuple[float, float, float] = (5.0, 2.0 * math.pi, 3.0)
"""Upper corner of the task box ``Omega`` (Appendix E): amplitude 5, phase 2 pi, frequency 3."""

X_LOW: float = 0.0
"""Inputs are drawn from ``U[X_LOW, X_HIGH)``."""

X_HIGH: float = 2.0 * math.pi
"""Inputs are drawn from ``U[X_LOW, X_HIGH)`` (the upper end excluded, also after rounding to float32)."""

# float32(2 pi) rounds *up*, above 2 pi; inputs are capped at the largest float32 strictly below 2 pi.
_X_MAX_F32 = np.nextafter(np.float32(X_HIGH), np.float32(0.0))
if float(_X_MAX_F32) >= X_HIGH:  # pragma: no cover - guards the reasoning above on exotic platforms
    _X_MAX_F32 = np.nextafter(_X_MAX_F32, np.float32(0.0))


@dataclass(frozen=True)
class SineData:
    """Support and query sets of a meta-batch of sine tasks (float32 arrays, one row per task).

    Attributes:
        x_support: ``(n_tasks, n_support, 1)`` support inputs.
        y_support: ``(n_tasks, n_support, 1)`` support targets.
        x_query: ``(n_tasks, n_query, 1)`` query inputs.
        y_query: ``(n_tasks, n_query, 1)`` query targets.
    """

    x_support: np.ndarray
    y_support: np.ndarray
    x_query: np.ndarray
    y_query: np.ndarray

    @property
    def n_tasks(self) -> int:
        """Number of tasks in the batch."""
        return int(self.x_support.shape[0])

    @property
    def n_support(self) -> int:
        """Support points per task."""
        return int(self.x_support.shape[1])

    @property
    def n_query(self) -> int:
        """Query points per task."""
        return int(self.x_query.shape[1])

    def __len__(self) -> int:
        return self.n_tasks

    def subset(self, index) -> SineData:
        """The tasks selected by ``index`` (a slice, integer array or boolean mask over tasks)."""
        if isinstance(index, (int, np.integer)):
            index = slice(int(index), int(index) + 1)
        return SineData(
            x_support=self.x_support[index],
            y_support=self.y_support[index],
            x_query=self.x_query[index],
            y_query=self.y_query[index],
        )


def _check_tasks(tasks) -> np.ndarray:
    value = np.asarray(tasks, dtype=np.float64)
    if value.ndim != 2 or value.shape[1] != len(SINE_NAMES):
        raise ValueError(f"tasks must have shape (n, {len(SINE_NAMES)}) {SINE_NAMES}, got {np.shape(tasks)}")
    if not np.all(np.isfinite(value)):
        raise ValueError("tasks must be finite")
    return value


def _check_count(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def sine_function(tasks, x) -> np.ndarray:
    """``y = A sin(omega x + b)`` for each task (row of ``tasks``) at its inputs.

    Args:
        tasks: ``(n, 3)`` task parameters ``(A, b, omega)``.
        x: inputs of shape ``(n, ...)``; row ``i`` belongs to task ``i``.

    Returns:
        ``y`` with the shape of ``x``, computed in float64.
    """
    value = _check_tasks(tasks)
    x = np.asarray(x, dtype=np.float64)
    if x.ndim < 1 or x.shape[0] != value.shape[0]:
        raise ValueError(f"x must have shape (n, ...) with n = {value.shape[0]} tasks, got {x.shape}")
    shape = (value.shape[0],) + (1,) * (x.ndim - 1)
    amplitude, phase, frequency = (value[:, j].reshape(shape) for j in range(3))
    return amplitude * np.sin(frequency * x + phase)


def sample_sine_data(tasks, n_support: int, n_query: int, rng: np.random.Generator) -> SineData:
    """Draw support and query sets for a batch of sine tasks (Appendix E) in one vectorised operation.

    For each task ``(A, b, omega)`` the inputs are ``x ~ U[0, 2 pi)`` i.i.d. and the targets are exactly
    ``A sin(omega x + b)`` (no observation noise), evaluated in float64 at the float32 inputs and then rounded
    to float32. The support and query inputs of all tasks come from a single draw of shape
    ``(n_tasks, n_support + n_query)``: support first, then query.

    Args:
        tasks: ``(n_tasks, 3)`` task parameters, columns ``SINE_NAMES``; any finite values are accepted.
        n_support: support points per task (10 in training and testing).
        n_query: query points per task (10 in training, 32 in the test protocol).
        rng: the ``numpy.random.Generator`` that draws the inputs.

    Returns:
        A :class:`SineData` with float32 arrays of shape ``(n_tasks, n, 1)``.

    Raises:
        ValueError: ``tasks`` is not a finite ``(n, 3)`` array, or ``n_support`` / ``n_query`` is not an
            integer >= 1.
        TypeError: ``rng`` is not a ``numpy.random.Generator``.
    """
    value = _check_tasks(tasks)
    n_support = _check_count(n_support, "n_support")
    n_query = _check_count(n_query, "n_query")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    n_tasks = value.shape[0]
    n_points = n_support + n_query
    x = rng.uniform(X_LOW, X_HIGH, size=(n_tasks, n_points, 1)).astype(np.float32)
    np.minimum(x, _X_MAX_F32, out=x)
    y = sine_function(value, x).astype(np.float32)
    return SineData(
        x_support=np.ascontiguousarray(x[:, :n_support]),
        y_support=np.ascontiguousarray(y[:, :n_support]),
        x_query=np.ascontiguousarray(x[:, n_support:]),
        y_query=np.ascontiguousarray(y[:, n_support:]),
    )
