"""Task samplers: the meta-algorithms of the paper as framework-agnostic components.

Every sampler wraps a meta-learning loop the same way (Definition 2: the baseline's training step is a black box)::

    batch = sampler.sample(n)                  # tasks (n, d), importance weights, which rows came from D_phi0
    scores = run_and_score(batch.tasks)        # higher is better: returns, or minus the post-adaptation loss
    weights = sampler.observe(batch, scores)   # per-task training weights for the baseline's training step

* :class:`UniformSampler` - the risk-neutral baseline: always the original distribution ``D = D_phi0``.
* :class:`CVaRSampler` - CVaR-ML (Algorithm 1): ``D_phi0``, train only on the alpha-tail of each batch.
* :class:`RoMLSampler` - RoML (Algorithm 2): a dynamic cross-entropy method over-samples the hard tasks.
* :class:`FixedPoolSampler` - the naive adversarial sampler of App. D.4 (ablation).

Samplers are deterministic given their ``seed`` and checkpointable with ``state_dict`` / ``load_state_dict``.
Bad input raises a ``ValueError`` and leaves the sampler's state unchanged.

This module imports only numpy (and roml's own numpy/scipy core).
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from roml.risk import check_alpha, cvar, quantile, weighted_mean
from roml.tasks import TaskFamily

__all__ = [
    "CVaRSampler",
    "FixedPoolSampler",
    "RoMLSampler",
    "TaskBatch",
    "TaskSampler",
    "UniformSampler",
]


@dataclass(frozen=True, eq=False)
class TaskBatch:
    """A batch of tasks handed out by a sampler; give it back to :meth:`TaskSampler.observe` with the scores.

    Attributes:
        tasks: ``(n, d)`` task parameters.
        weights: ``(n,)`` importance weights ``D_phi0(z)/D_phi(z)`` (1 for tasks drawn from ``D_phi0``).
        from_original: ``(n,)`` bool, True where the task was drawn from the original distribution ``D_phi0``.
        index: serial number of the batch within its sampler (used to match ``observe`` calls).
    """

    tasks: np.ndarray
    weights: np.ndarray
    from_original: np.ndarray
    index: int

    def __len__(self) -> int:
        return len(self.tasks)


def _check_count(n, name: str = "n") -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {n!r}")
    return int(n)


def _check_fraction(value, name: str, *, low_inclusive: bool, high_inclusive: bool) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    above = x >= 0 if low_inclusive else x > 0
    below = x <= 1 if high_inclusive else x < 1
    if not (above and below):
        interval = ("[" if low_inclusive else "(") + "0, 1" + ("]" if high_inclusive else ")")
        raise ValueError(f"{name} must be in {interval}, got {value!r}")
    return x


class TaskSampler(ABC):
    """Common interface and bookkeeping of every sampler (see the module docstring for the loop).

    Subclasses implement :meth:`_draw` (the tasks of a new batch) and :meth:`_training_weights`
    (what ``observe`` returns, plus any update of the sampler's own state), and list their constructor settings
    in ``_config_keys`` (checked when a state is loaded).
    """

    _config_keys: tuple[str, ...] = ()

    def __init__(self, family: TaskFamily, seed: int | np.random.SeedSequence | None = 0):
        if not isinstance(family, TaskFamily):
            raise ValueError(f"family must be a roml.tasks.TaskFamily, got {type(family).__name__}")
        self.family = family
        self.rng = np.random.default_rng(seed)
        self.phi = family.phi0.copy()
        self.history: list[dict] = []
        self._next_index = 0
        self._pending: dict[int, TaskBatch] = {}
        self.n_sampled = 0
        self.n_observed = 0

    # --- the public loop -------------------------------------------------------------------------------------
    def sample(self, n: int) -> TaskBatch:
        """Draw a batch of ``n`` tasks (``n >= 1``)."""
        n = _check_count(n)
        tasks, weights, from_original = self._draw(n)
        batch = TaskBatch(
            tasks=np.asarray(tasks, dtype=float),
            weights=np.asarray(weights, dtype=float),
            from_original=np.asarray(from_original, dtype=bool),
            index=self._next_index,
        )
        for array in (batch.tasks, batch.weights, batch.from_original):
            array.setflags(write=False)  # the sampler keeps the batch to match it in observe
        self._next_index += 1
        self.n_sampled += n
        self._pending[batch.index] = batch
        return batch

    def observe(self, batch: TaskBatch, scores) -> np.ndarray:
        """Report the scores (higher is better) of a batch from :meth:`sample`; returns per-task training weights.

        Each batch is observed exactly once. Scores must be finite, one per task.
        """
        pending = self._pending.get(getattr(batch, "index", None))
        if pending is None or not (pending is batch or np.array_equal(pending.tasks, batch.tasks)):
            raise ValueError(
                f"batch (index {getattr(batch, 'index', None)!r}) was not issued by this sampler "
                "or has already been observed"
            )
        batch = pending
        values = np.asarray(scores, dtype=float)
        if values.shape != (len(batch),):
            raise ValueError(f"scores must have shape ({len(batch)},), got {np.shape(scores)}")
        if not np.all(np.isfinite(values)):
            raise ValueError(f"scores must be finite, got {values[~np.isfinite(values)][:3].tolist()} among them")
        weights = self._training_weights(batch, values)
        del self._pending[batch.index]
        self.n_observed += len(batch)
        return weights

    # --- hooks -----------------------------------------------------------------------------------------------
    @abstractmethod
    def _draw(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Tasks ``(n, d)``, importance weights ``(n,)`` and from-original flags ``(n,)`` of a new batch."""

    @abstractmethod
    def _training_weights(self, batch: TaskBatch, scores: np.ndarray) -> np.ndarray:
        """Per-task training weights for a validated batch; may update the sampler (must not fail midway)."""

    # --- checkpointing ---------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Everything needed to resume exactly: RNG state, phi, history, counters and batches not yet observed."""
        state = {key: copy.deepcopy(value) for key, value in vars(self).items() if key not in ("family", "rng")}
        state["rng"] = copy.deepcopy(self.rng.bit_generator.state)
        state["sampler"] = type(self).__name__
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restore a :meth:`state_dict` taken from a sampler of the same class and configuration.

        A state of another sampler class, another configuration (alpha, batch size, ...) or another family's
        parameter shape raises a ``ValueError`` and leaves this sampler unchanged.
        """
        if not isinstance(state, dict) or state.get("sampler") != type(self).__name__:
            found = state.get("sampler") if isinstance(state, dict) else type(state).__name__
            raise ValueError(f"state is for a {found!r}, not a {type(self).__name__!r}")
        mine = set(vars(self)) - {"family", "rng"}
        missing = mine - set(state)
        if missing:
            raise ValueError(f"state is missing {sorted(missing)}")
        for key in self._config_keys:
            if state[key] != getattr(self, key):
                raise ValueError(f"state has {key}={state[key]!r}, this sampler has {key}={getattr(self, key)!r}")
        if np.shape(state["phi"]) != self.family.phi0.shape:
            raise ValueError(
                f"state has phi of shape {np.shape(state['phi'])}, the family's is {self.family.phi0.shape}"
            )
        rng = np.random.default_rng()
        rng.bit_generator.state = copy.deepcopy(state["rng"])
        restored = {key: copy.deepcopy(state[key]) for key in mine}
        self.rng = rng
        for key, value in restored.items():
            setattr(self, key, value)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.family!r}, phi={np.round(self.phi, 4).tolist()})"


class UniformSampler(TaskSampler):
    """The risk-neutral baseline: every task from the original distribution ``D_phi0``, training weights all one."""

    def _draw(self, n):
        return self.family.sample(self.family.phi0, n, self.rng), np.ones(n), np.ones(n, dtype=bool)

    def _training_weights(self, batch, scores):
        return np.ones(len(batch))


class CVaRSampler(UniformSampler):
    """CVaR-ML (Algorithm 1): tasks from ``D_phi0``; train only on the alpha-tail of each batch.

    The training weight is 1 for tasks whose score is at or below the batch's alpha-quantile
    (:func:`roml.risk.quantile`, linear interpolation; Algorithm 1, lines 6-8) and 0 otherwise. With 20 tasks and
    alpha = 0.05 exactly the worst task is kept. By Theorem 1 the resulting gradient is unbiased for any baseline.
    """

    _config_keys = ("alpha",)

    def __init__(self, family: TaskFamily, alpha: float = 0.05, seed=0):
        super().__init__(family, seed)
        self.alpha = check_alpha(alpha)

    def _training_weights(self, batch, scores):
        threshold = quantile(scores, self.alpha)
        return (scores <= threshold).astype(float)


class RoMLSampler(TaskSampler):
    """RoML (Algorithm 2): a dynamic cross-entropy method (App. C) that learns to over-sample the alpha-tail.

    Sampling (Algorithm 2, lines 5-6): of every ``batch_size`` consecutive tasks handed out, ``floor(nu *
    batch_size)`` randomly placed ones come from ``D_phi0`` (weight 1), the rest from ``D_phi`` with importance
    weight ``D_phi0/D_phi`` computed at sampling time (line 11).

    Update, after every ``batch_size`` observed tasks (which may span several ``sample`` calls):

    1. the reference alpha-quantile of the scores under ``D_phi0``, estimated with the importance weights and the
       small-sample correction (lines 10-13; :func:`roml.risk.quantile` with ``underlying=True``, as the authors'
       CEM does);
    2. the internal beta-quantile of the batch's scores (line 14, unweighted);
    3. the threshold ``q = max(reference quantile, beta-quantile)`` (line 15);
    4. ``phi_fit = family.fit(tasks with score <= q, their importance weights)`` (line 16, Eq. (9));
    5. the soft update ``phi <- soft_update * phi + (1 - soft_update) * phi_fit`` (App. C; the authors' default 0.5).

    ``observe`` returns training weights all one: RoML changes which tasks are trained on, not how.
    Each update appends a record to :attr:`history` (phi, quantiles, sample and reference mean/CVaR).

    Args:
        family: the task family ``D_phi``; ``family.phi0`` is the original distribution.
        alpha: robustness level in (0, 1] (the CVaR level being optimised).
        beta: the CEM quantile in (0, 1) (0.2 in the paper; 0.05 for Khazad-Dum).
        nu: fraction in [0, 1) of every batch drawn from the original distribution (0.2 in MuJoCo, 0 elsewhere).
        soft_update: weight of the previous phi in the update, in [0, 1).
        batch_size: number of observed tasks per CEM update (the paper's N).
        seed: seed of the sampler's generator.
    """

    _config_keys = ("alpha", "beta", "nu", "soft_update", "batch_size")

    def __init__(
        self,
        family: TaskFamily,
        alpha: float = 0.05,
        beta: float = 0.2,
        nu: float = 0.0,
        soft_update: float = 0.5,
        batch_size: int = 128,
        seed=0,
    ):
        super().__init__(family, seed)
        self.alpha = check_alpha(alpha)
        self.beta = _check_fraction(beta, "beta", low_inclusive=False, high_inclusive=False)
        self.nu = _check_fraction(nu, "nu", low_inclusive=True, high_inclusive=False)
        self.soft_update = _check_fraction(soft_update, "soft_update", low_inclusive=True, high_inclusive=False)
        self.batch_size = _check_count(batch_size, "batch_size")
        self.n_reference = int(np.floor(self.nu * self.batch_size))
        self._reference_slots = np.zeros(0, dtype=bool)  # which upcoming draws come from D_phi0
        self._buffer: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # observed, not yet used by an update
        self._n_buffered = 0

    def _next_reference_flags(self, n: int) -> np.ndarray:
        """Flags of the next ``n`` draws: each window of ``batch_size`` draws holds ``n_reference`` from D_phi0."""
        while self._reference_slots.size < n:
            window = np.zeros(self.batch_size, dtype=bool)
            window[self.rng.choice(self.batch_size, size=self.n_reference, replace=False)] = True
            self._reference_slots = np.concatenate((self._reference_slots, window))
        flags, self._reference_slots = self._reference_slots[:n], self._reference_slots[n:]
        return flags

    def _draw(self, n):
        from_original = self._next_reference_flags(n)
        tasks = np.empty((n, self.family.dim))
        weights = np.ones(n)
        n_original = int(from_original.sum())
        if n_original:
            tasks[from_original] = self.family.sample(self.family.phi0, n_original, self.rng)
        if n_original < n:
            drawn = self.family.sample(self.phi, n - n_original, self.rng)
            tasks[~from_original] = drawn
            weights[~from_original] = self.family.importance_weights(drawn, self.phi)
        return tasks, weights, from_original

    def _training_weights(self, batch, scores):
        self._buffer.append((batch.tasks, batch.weights, scores))
        self._n_buffered += len(batch)
        if self._n_buffered >= self.batch_size:
            tasks, weights, all_scores = (np.concatenate(parts) for parts in zip(*self._buffer))
            n_updates = self._n_buffered // self.batch_size
            for k in range(n_updates):
                window = slice(k * self.batch_size, (k + 1) * self.batch_size)
                self._update(tasks[window], weights[window], all_scores[window])
            rest = slice(n_updates * self.batch_size, None)
            self._buffer = [(tasks[rest], weights[rest], all_scores[rest])]
            self._n_buffered -= n_updates * self.batch_size
        return np.ones(len(batch))

    def _update(self, tasks: np.ndarray, weights: np.ndarray, scores: np.ndarray) -> None:
        """One CEM step on a full batch (Algorithm 2, lines 10-16, then the soft update)."""
        reference_quantile = quantile(scores, self.alpha, weights, underlying=True)
        internal_quantile = quantile(scores, self.beta)
        threshold = max(reference_quantile, internal_quantile)
        selected = scores <= threshold
        fitted = self.family.fit(tasks[selected], weights[selected])
        previous = self.phi
        self.phi = np.clip(
            self.soft_update * previous + (1 - self.soft_update) * fitted, self.family.phi_low, self.family.phi_high
        )
        self.history.append(
            {
                "update": len(self.history) + 1,
                "n_tasks": (len(self.history) + 1) * self.batch_size,
                "phi": self.phi.copy(),
                "reference_quantile": reference_quantile,
                "internal_quantile": internal_quantile,
                "threshold": threshold,
                "n_selected": int(selected.sum()),
                "sample_mean": float(scores.mean()),
                "sample_cvar": cvar(scores, self.alpha),
                "reference_mean": weighted_mean(scores, weights),
                "reference_cvar": cvar(scores, self.alpha, weights),
            }
        )


class FixedPoolSampler(TaskSampler):
    """The naive adversarial sampler of the ablation in App. D.4.

    The first ``pool_size`` tasks (the paper's M = 100) are drawn from the original distribution and handed out in
    order; once all of them have been scored, the sampler memorises the ``max(1, round(alpha * pool_size))``
    lowest-scoring ones and from then on draws uniformly from them. Tasks requested after the pool is used up but
    before all of it has been scored are drawn uniformly from the whole pool.

    The authors' version never used its hard pool (it kept sampling from all 100 tasks); this one does what the
    paper describes. Importance weights are reported as 1 (the sampler has no density), training weights are all one.
    """

    _config_keys = ("alpha", "pool_size")

    def __init__(self, family: TaskFamily, alpha: float = 0.05, pool_size: int = 100, seed=0):
        super().__init__(family, seed)
        self.alpha = check_alpha(alpha)
        self.pool_size = _check_count(pool_size, "pool_size")
        self.pool = family.sample(family.phi0, self.pool_size, self.rng)
        self.pool_scores = np.full(self.pool_size, np.nan)
        self.hard_pool: np.ndarray | None = None  # indices into the pool once all of it has been scored
        self._pool_handed_out = 0
        self._batch_pool_indices: dict[int, np.ndarray] = {}

    def _draw(self, n):
        fresh = np.arange(self._pool_handed_out, min(self._pool_handed_out + n, self.pool_size))
        self._pool_handed_out += fresh.size
        rest = n - fresh.size
        candidates = self.hard_pool if self.hard_pool is not None else np.arange(self.pool_size)
        indices = np.concatenate((fresh, candidates[self.rng.integers(candidates.size, size=rest)]))
        self._batch_pool_indices[self._next_index] = indices
        from_original = np.zeros(n, dtype=bool)
        from_original[: fresh.size] = True
        return self.pool[indices], np.ones(n), from_original

    def _training_weights(self, batch, scores):
        indices = self._batch_pool_indices.pop(batch.index)
        first_time = batch.from_original
        self.pool_scores[indices[first_time]] = scores[first_time]
        if self.hard_pool is None and not np.isnan(self.pool_scores).any():
            n_hard = max(1, int(round(self.alpha * self.pool_size)))
            self.hard_pool = np.argsort(self.pool_scores, kind="stable")[:n_hard]
        return np.ones(len(batch))
