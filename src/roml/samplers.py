"""Task samplers: the meta-algorithms of the paper as framework-agnostic components.

Every sampler wraps a meta-learning loop the same way (Definition 2: the baseline's training step is a black box)::

    batch = sampler.sample(n)                  # tasks (n, d), importance weights, which rows came from D_phi0
    scores = run_and_score(batch.tasks)        # higher is better: returns, or minus the post-adaptation loss
    weights = sampler.observe(batch, scores)   # per-task training weights for the baseline's training step

* :class:`UniformSampler` - the risk-neutral baseline: always the original distribution ``D = D_phi0``.
* :class:`CVaRSampler` - CVaR-ML (Algorithm 1): ``D_phi0``, train only on the alpha-tail of each batch.
* :class:`RoMLSampler` - RoML (Algorithm 2): a dynamic cross-entropy method over-samples the hard tasks.
* :class:`FixedPoolSampler` - the naive adversarial sampler of App. D.4 (ablation).
* :class:`CeSoRSampler` - the reference CeSoR: RoML's CEM with clipped importance weights and a soft-risk CVaR
  policy gradient as training weights (Table 1's CeSoR rows; not a meta-learner).

Samplers are deterministic given their ``seed`` and checkpointable with ``state_dict`` / ``load_state_dict``.
Bad input raises a ``ValueError``; ``sample`` and ``observe`` are transactions (computed on copies, committed at
the end), so any error, a user family's included, leaves the sampler's state exactly as it was. Numbers must be real
numbers: booleans, strings and complex numbers are refused, not converted.

This module imports only numpy (and roml's own numpy/scipy core).
"""

from __future__ import annotations

import copy
import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from roml.risk import check_alpha, check_real, cvar, quantile, real_array, weighted_mean
from roml.tasks import TaskFamily

__all__ = [
    "CVaRSampler",
    "CeSoRSampler",
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
        log_weights: ``(n,)`` the logarithms of ``weights``, kept because ``weights`` may underflow to 0 or
            overflow where the CEM still needs their ratios (``None`` in batches of states saved before).
    """

    tasks: np.ndarray
    weights: np.ndarray
    from_original: np.ndarray
    index: int
    log_weights: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.tasks)

    def log_importance_weights(self) -> np.ndarray:
        """``log_weights``, or the logarithm of ``weights`` for a batch saved without them."""
        if self.log_weights is not None:
            return self.log_weights
        with np.errstate(divide="ignore"):
            return np.log(self.weights)


def _check_count(n, name: str = "n") -> int:
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {n!r}")
    return int(n)


def _check_fraction(value, name: str, *, low_inclusive: bool, high_inclusive: bool) -> float:
    x = check_real(value, name)
    above = x >= 0 if low_inclusive else x > 0
    below = x <= 1 if high_inclusive else x < 1
    if not (above and below):
        interval = ("[" if low_inclusive else "(") + "0, 1" + ("]" if high_inclusive else ")")
        raise ValueError(f"{name} must be in {interval}, got {value!r}")
    return x


def _check_seed(seed):
    """A seed ``np.random.default_rng`` takes: None, a non-negative integer or a ``SeedSequence`` (no bools,
    floats or strings, which numpy would read or refuse in surprising ways)."""
    if seed is None or isinstance(seed, (np.random.SeedSequence, np.random.BitGenerator)):
        return seed
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, a numpy SeedSequence or None, got {seed!r}")
    return seed


# --- checks of a loaded state: each raises a ValueError naming the entry ---------------------------------------------
def _state_count(state: dict, key: str, high: int | None = None, value=None) -> int:
    """``state[key]`` (or ``value``, named ``key``) as an integer in ``[0, high]``."""
    value = state[key] if value is None else value
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"state has {key}={value!r}, not a non-negative integer")
    if high is not None and value > high:
        raise ValueError(f"state has {key}={value!r}, more than {high}")
    return int(value)


def _state_array(state: dict, key: str, shape: tuple, kind: str = "f", value=None, finite: bool = True) -> np.ndarray:
    """``state[key]`` (or ``value``, named ``key``) as a numpy array of ``shape`` (``-1``: any length) whose dtype
    is of ``kind`` (``"f"``: real numbers, finite if ``finite``; ``"b"``: booleans; ``"i"``: integers)."""
    value = state[key] if value is None else value
    kinds = {"f": "iuf", "b": "b", "i": "iu"}[kind]
    if not isinstance(value, np.ndarray) or value.dtype.kind not in kinds:
        raise ValueError(
            f"state has {key} of type {type(value).__name__}{getattr(value, 'dtype', '')}, "
            f"not a numpy array of {dict(f='real numbers', b='booleans', i='integers')[kind]}"
        )
    if len(value.shape) != len(shape) or any(want not in (-1, got) for want, got in zip(shape, value.shape)):
        raise ValueError(f"state has {key} of shape {value.shape}, expected {shape} (-1: any)")
    if kind == "f" and finite and not np.all(np.isfinite(value)):
        raise ValueError(f"state has {key} with values that are not finite")
    return value


def _state_history(state: dict, phi_shape: tuple) -> None:
    """The history: a list of dicts, each with a finite ``phi`` of the family's shape."""
    history = state["history"]
    if not isinstance(history, list) or not all(isinstance(record, dict) and "phi" in record for record in history):
        raise ValueError("state has a history that is not a list of records with a phi")
    for i, record in enumerate(history):
        _state_array(state, f"history[{i}].phi", phi_shape, value=np.asarray(record["phi"]))


def _state_pending(state: dict, next_index: int, dim: int) -> None:
    """The batches handed out and not yet observed: ``{index: TaskBatch}``, indices below ``next_index``."""
    pending = state["_pending"]
    if not isinstance(pending, dict):
        raise ValueError(f"state has _pending of type {type(pending).__name__}, not a dict")
    for index, batch in pending.items():
        name = f"_pending[{index!r}]"
        if not isinstance(batch, TaskBatch) or batch.index != index:
            raise ValueError(f"state has {name} that is not the TaskBatch of that index")
        _state_count(state, name, high=next_index - 1, value=index)
        n = len(_state_array(state, f"{name}.tasks", (-1, dim), value=batch.tasks))
        weights = _state_array(state, f"{name}.weights", (n,), value=batch.weights, finite=False)
        if np.any(np.isnan(weights)) or np.any(weights < 0):
            raise ValueError(f"state has {name}.weights that are negative or NaN")
        _state_array(state, f"{name}.from_original", (n,), "b", value=batch.from_original)


class TaskSampler(ABC):
    """Common interface and bookkeeping of every sampler (see the module docstring for the loop).

    Subclasses implement :meth:`_draw` (the tasks of a new batch) and :meth:`_training_weights`
    (what ``observe`` returns, plus the changes of the sampler's own state), list their constructor settings
    in ``_config_keys`` (checked when a state is loaded) and check the values of their own state entries in
    :meth:`_check_state`.

    Both hooks are transactional: they compute on copies and return the new values of the attributes they change,
    which :meth:`sample` and :meth:`observe` assign only once everything has been computed. An error anywhere
    (bad input, a family whose ``fit`` or ``sample`` raises) leaves :meth:`state_dict` exactly as it was.
    """

    _config_keys: tuple[str, ...] = ()

    def __init__(self, family: TaskFamily, seed: int | np.random.SeedSequence | None = 0):
        if not isinstance(family, TaskFamily):
            raise ValueError(f"family must be a roml.tasks.TaskFamily, got {type(family).__name__}")
        self.family = family
        self.rng = np.random.default_rng(_check_seed(seed))
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
        rng = copy.deepcopy(self.rng)  # drawn from a copy, committed with the rest
        tasks, log_weights, from_original, changes = self._draw(n, rng)
        log_weights = np.asarray(log_weights, dtype=float)
        batch = TaskBatch(
            tasks=np.asarray(tasks, dtype=float),
            weights=np.exp(log_weights),
            from_original=np.asarray(from_original, dtype=bool),
            index=self._next_index,
            log_weights=log_weights,
        )
        for array in (batch.tasks, batch.weights, batch.from_original, log_weights):
            array.setflags(write=False)  # the sampler keeps the batch to match it in observe
        self._commit(
            {
                **changes,
                "rng": rng,
                "_next_index": self._next_index + 1,
                "n_sampled": self.n_sampled + n,
                "_pending": {**self._pending, batch.index: batch},
            }
        )
        return batch

    def observe(self, batch: TaskBatch, scores) -> np.ndarray:
        """Report the scores (higher is better) of a batch from :meth:`sample`; returns per-task training weights.

        Each batch is observed exactly once. Scores must be finite real numbers, one per task. An error leaves the
        sampler exactly as it was, so the batch can be observed again.
        """
        index = getattr(batch, "index", None)
        pending = self._pending.get(int(index)) if isinstance(index, (int, np.integer)) else None
        if pending is None or not (pending is batch or np.array_equal(pending.tasks, batch.tasks)):
            raise ValueError(
                f"batch (index {getattr(batch, 'index', None)!r}) was not issued by this sampler "
                "or has already been observed"
            )
        batch = pending
        values = real_array(scores, "scores")
        if values.shape != (len(batch),):
            raise ValueError(f"scores must have shape ({len(batch)},), got {np.shape(scores)}")
        if not np.all(np.isfinite(values)):
            raise ValueError(f"scores must be finite, got {values[~np.isfinite(values)][:3].tolist()} among them")
        weights, changes = self._training_weights(batch, values)
        records = changes.pop("history", [])
        self._commit(
            {
                **changes,
                "n_observed": self.n_observed + len(batch),
                "_pending": {k: v for k, v in self._pending.items() if k != batch.index},
            }
        )
        self.history.extend(records)
        return weights

    def _commit(self, changes: dict) -> None:
        """Assign the new values of a transaction (plain assignments: nothing here can fail)."""
        for key, value in changes.items():
            setattr(self, key, value)

    # --- hooks -----------------------------------------------------------------------------------------------
    @abstractmethod
    def _draw(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
        """Tasks ``(n, d)``, log importance weights ``(n,)``, from-original flags ``(n,)`` of a new batch drawn with
        ``rng``, and the new values of the attributes the draw changes (nothing is changed in place)."""

    @abstractmethod
    def _training_weights(self, batch: TaskBatch, scores: np.ndarray) -> tuple[np.ndarray, dict]:
        """Per-task training weights for a validated batch and the new values of the attributes the observation
        changes (``"history"``: the records to append); nothing is changed in place."""

    # --- checkpointing ---------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Everything needed to resume exactly: RNG state, phi, history, counters and batches not yet observed."""
        state = {key: copy.deepcopy(value) for key, value in vars(self).items() if key not in ("family", "rng")}
        state["rng"] = copy.deepcopy(self.rng.bit_generator.state)
        state["sampler"] = type(self).__name__
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restore a :meth:`state_dict` taken from a sampler of the same class and configuration.

        Every value is checked (type, shape, range, consistency with the rest); a state of another sampler class
        or configuration, a missing entry or a bad value raises a ``ValueError`` naming the entry and leaves this
        sampler unchanged.
        """
        if not isinstance(state, dict) or state.get("sampler") != type(self).__name__:
            found = state.get("sampler") if isinstance(state, dict) else type(state).__name__
            raise ValueError(f"state is for a {found!r}, not a {type(self).__name__!r}")
        mine = set(vars(self)) - {"family"}
        missing = mine - set(state)
        if missing:
            raise ValueError(f"state is missing {sorted(missing)}")
        for key in self._config_keys:
            if state[key] != getattr(self, key):
                raise ValueError(f"state has {key}={state[key]!r}, this sampler has {key}={getattr(self, key)!r}")
        restored = {key: copy.deepcopy(state[key]) for key in mine - {"rng"}}
        restored = self._upgrade_state(restored)
        self._check_state(restored)
        self._commit({**restored, "rng": _generator_from_state(state["rng"])})

    def _upgrade_state(self, state: dict) -> dict:
        """A state saved by an earlier version in today's form (nothing to do unless a subclass says so)."""
        return state

    def _check_state(self, state: dict) -> None:
        """Check every value of a state (``ValueError`` naming the entry); subclasses extend it."""
        phi = _state_array(state, "phi", self.family.phi0.shape)
        if np.any(phi < self.family.phi_low) or np.any(phi > self.family.phi_high):
            raise ValueError(
                f"state has phi={phi.tolist()} outside the family's range "
                f"[{self.family.phi_low.tolist()}, {self.family.phi_high.tolist()}]"
            )
        next_index = _state_count(state, "_next_index")
        n_sampled = _state_count(state, "n_sampled")
        _state_count(state, "n_observed", high=n_sampled)
        _state_history(state, self.family.phi0.shape)
        _state_pending(state, next_index, self.family.dim)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.family!r}, phi={np.round(self.phi, 4).tolist()})"


def _generator_from_state(rng_state) -> np.random.Generator:
    """A fresh generator in ``rng_state`` (a bit generator's ``state`` dict), or a ``ValueError`` naming ``rng``."""
    try:
        name = rng_state["bit_generator"]
        bit_generator = (
            getattr(np.random, name)() if name in ("PCG64", "PCG64DXSM", "Philox", "SFC64", "MT19937") else None
        )
        if bit_generator is None:
            raise ValueError(f"unknown bit generator {name!r}")
        bit_generator.state = copy.deepcopy(rng_state)
    except (TypeError, ValueError, KeyError, OverflowError) as error:
        raise ValueError(f"state has an invalid rng ({type(error).__name__}: {error})") from None
    return np.random.Generator(bit_generator)


class UniformSampler(TaskSampler):
    """The risk-neutral baseline: every task from the original distribution ``D_phi0``, training weights all one."""

    def _draw(self, n, rng):
        return self.family.sample(self.family.phi0, n, rng), np.zeros(n), np.ones(n, dtype=bool), {}

    def _training_weights(self, batch, scores):
        return np.ones(len(batch)), {}


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
        return (scores <= threshold).astype(float), {}


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

    _config_keys: tuple[str, ...] = ("alpha", "beta", "nu", "soft_update", "batch_size")

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

    def _next_reference_flags(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Flags of the next ``n`` draws (each window of ``batch_size`` draws holds ``n_reference`` from D_phi0),
        and the flags of the draws after them."""
        slots = self._reference_slots
        while slots.size < n:
            window = np.zeros(self.batch_size, dtype=bool)
            window[rng.choice(self.batch_size, size=self.n_reference, replace=False)] = True
            slots = np.concatenate((slots, window))
        return slots[:n], slots[n:]

    def _draw(self, n, rng):
        from_original, later = self._next_reference_flags(n, rng)
        tasks = np.empty((n, self.family.dim))
        log_weights = np.zeros(n)
        n_original = int(from_original.sum())
        if n_original:
            tasks[from_original] = self.family.sample(self.family.phi0, n_original, rng)
        if n_original < n:
            drawn = self.family.sample(self.phi, n - n_original, rng)
            tasks[~from_original] = drawn
            log_weights[~from_original] = self.family.log_pdf(drawn, self.family.phi0) - self.family.log_pdf(
                drawn, self.phi
            )
        return tasks, log_weights, from_original, {"_reference_slots": later}

    def _training_weights(self, batch, scores):
        buffer = [*self._buffer, (batch.tasks, batch.weights, scores, batch.log_importance_weights())]
        n_buffered = self._n_buffered + len(batch)
        phi, records = self.phi, []
        if n_buffered >= self.batch_size:
            parts = [np.concatenate(column) for column in zip(*buffer)]
            n_updates = n_buffered // self.batch_size
            for k in range(n_updates):
                window = slice(k * self.batch_size, (k + 1) * self.batch_size)
                phi, record = self._update(phi, *(part[window] for part in parts))
                records.append(
                    {
                        "update": len(self.history) + k + 1,
                        "n_tasks": (len(self.history) + k + 1) * self.batch_size,
                        **record,
                    }
                )
            buffer = [tuple(part[n_updates * self.batch_size :] for part in parts)]
            n_buffered -= n_updates * self.batch_size
        changes = {"_buffer": buffer, "_n_buffered": n_buffered, "phi": phi, "history": records}
        return np.ones(len(batch)), changes

    def _update(self, phi, tasks, weights, scores, log_weights) -> tuple[np.ndarray, dict]:
        """One CEM step on a full batch (Algorithm 2, lines 10-16, then the soft update) from ``phi``: the new phi
        and the step's history record. Changes nothing."""
        reference_weights = _scale_free_weights(weights, log_weights, "the reference quantile, mean and CVaR")
        reference_quantile = quantile(scores, self.alpha, reference_weights, underlying=True)
        internal_quantile = quantile(scores, self.beta)
        threshold = max(reference_quantile, internal_quantile)
        selected = scores <= threshold
        fit_weights = _scale_free_weights(weights[selected], log_weights[selected], "the fit of the selected tasks")
        fitted = self.family.fit(tasks[selected], np.ones(selected.sum()) if fit_weights is None else fit_weights)
        phi = np.clip(
            self.soft_update * phi + (1 - self.soft_update) * fitted, self.family.phi_low, self.family.phi_high
        )
        return phi, {
            "phi": phi.copy(),
            "reference_quantile": reference_quantile,
            "internal_quantile": internal_quantile,
            "threshold": threshold,
            "n_selected": int(selected.sum()),
            "sample_mean": weighted_mean(scores),
            "sample_cvar": cvar(scores, self.alpha),
            "reference_mean": weighted_mean(scores, reference_weights),
            "reference_cvar": cvar(scores, self.alpha, reference_weights),
        }

    def _upgrade_state(self, state):
        """Buffers saved before the log weights were kept hold ``(tasks, weights, scores)``: add their logs."""
        buffer = state.get("_buffer")
        if isinstance(buffer, list) and all(isinstance(part, tuple) and len(part) == 3 for part in buffer):
            with np.errstate(divide="ignore"):
                state["_buffer"] = [(*part, np.log(np.asarray(part[1], dtype=float))) for part in buffer]
        return state

    def _check_state(self, state):
        super()._check_state(state)
        if _state_count(state, "n_reference") != self.n_reference:
            raise ValueError(f"state has n_reference={state['n_reference']}, this sampler has {self.n_reference}")
        _state_array(state, "_reference_slots", (-1,), "b")
        n_buffered = _state_count(state, "_n_buffered", high=self.batch_size - 1)
        buffer = state["_buffer"]
        if not isinstance(buffer, list) or not all(isinstance(part, tuple) and len(part) == 4 for part in buffer):
            raise ValueError("state has a _buffer that is not a list of (tasks, weights, scores, log_weights)")
        sizes = [len(_state_array(state, "_buffer tasks", (-1, self.family.dim), value=part[0])) for part in buffer]
        for size, (_, weights, scores, log_weights) in zip(sizes, buffer):
            _state_array(state, "_buffer weights", (size,), value=weights, finite=False)
            _state_array(state, "_buffer scores", (size,), value=scores)
            _state_array(state, "_buffer log_weights", (size,), value=log_weights, finite=False)
            if np.any(np.isnan(log_weights)) or np.any(log_weights == np.inf) or np.any(np.isnan(weights)):
                raise ValueError("state has _buffer weights that are NaN or infinite logs")
        if sum(sizes) != n_buffered:
            raise ValueError(f"state has _n_buffered={n_buffered}, but its _buffer holds {sum(sizes)} tasks")


class CeSoRSampler(RoMLSampler):
    """CeSoR (Greenberg et al., 2022, "Efficient Risk-Averse Reinforcement Learning") as a task sampler: RoML's CEM
    over the task parameters, and a CVaR policy gradient at a *soft* risk level as training weights.

    Sampling and the CEM are :class:`RoMLSampler`'s, with every importance weight ``D_phi0/D_phi`` clipped to
    ``[1 / weight_clip, weight_clip]`` when the task is drawn, so the CEM's quantiles and fit and the training
    weights all use the clipped weights. The CEM's reference level stays ``alpha``.

    Training weights of the ``k``-th observed batch (``k = 0, 1, ...``): the soft risk level

        ``alpha_k = 1 - (1 - alpha) * min(1, k / (soft_risk_fraction * total_batches))``

    falls linearly from 1 to ``alpha`` over the first ``soft_risk_fraction`` of the ``total_batches`` batches of
    training and stays at ``alpha``; the threshold is the importance-weighted ``alpha_k``-quantile of the scores of
    this batch and of the ``threshold_window - 1`` batches before it (:func:`roml.risk.quantile`; pooling batches
    keeps a late tail of more than one task: with 16 tasks a batch and the default window of 8, about 6 tasks at
    ``alpha = 0.05``); a task's weight is its importance weight if its score is at or below the threshold, else 0,
    normalised to sum 1 over the batch (all 0 when no task of the batch is in the tail: the baseline then skips
    its update). At ``alpha_k = 1`` every task counts, weighted by its importance weight.

    Args:
        total_batches: the batches (``observe`` calls) of the whole training run.
        soft_risk_fraction: the fraction of training over which the risk level falls, in (0, 1] (0.8).
        weight_clip: the importance weights' clip ``c > 1``: weights are kept in ``[1/c, c]`` (5).
        threshold_window: batches whose scores make the threshold, the current one included (8).
        Other arguments: :class:`RoMLSampler`'s.
    """

    _config_keys: tuple[str, ...] = (
        *RoMLSampler._config_keys,
        "total_batches",
        "soft_risk_fraction",
        "weight_clip",
        "threshold_window",
    )

    def __init__(
        self,
        family: TaskFamily,
        alpha: float = 0.05,
        beta: float = 0.2,
        nu: float = 0.2,
        soft_update: float = 0.5,
        batch_size: int = 128,
        total_batches: int = 1000,
        soft_risk_fraction: float = 0.8,
        weight_clip: float = 5.0,
        threshold_window: int = 8,
        seed=0,
    ):
        super().__init__(family, alpha, beta, nu, soft_update, batch_size, seed)
        self.total_batches = _check_count(total_batches, "total_batches")
        self.soft_risk_fraction = _check_fraction(
            soft_risk_fraction, "soft_risk_fraction", low_inclusive=False, high_inclusive=True
        )
        self.weight_clip = check_real(weight_clip, "weight_clip")
        if not (np.isfinite(self.weight_clip) and self.weight_clip > 1):
            raise ValueError(f"weight_clip must be a finite number > 1, got {weight_clip!r}")
        self.threshold_window = _check_count(threshold_window, "threshold_window")
        self._n_batches = 0  # batches observed so far
        self._recent: list[tuple[np.ndarray, np.ndarray]] = []  # (scores, weights) of the window's earlier batches

    def risk_level(self, k: int | None = None) -> float:
        """The soft risk level ``alpha_k`` of the ``k``-th observed batch (default: the next one)."""
        k = self._n_batches if k is None else k
        progress = min(1.0, k / (self.soft_risk_fraction * self.total_batches))
        return 1.0 - (1.0 - self.alpha) * progress

    def _draw(self, n, rng):
        tasks, log_weights, from_original, changes = super()._draw(n, rng)
        bound = np.log(self.weight_clip)
        return tasks, np.clip(log_weights, -bound, bound), from_original, changes

    def _training_weights(self, batch, scores):
        _, changes = super()._training_weights(batch, scores)
        pooled = [*self._recent, (scores, batch.weights)]
        pooled_scores, pooled_weights = (np.concatenate(column) for column in zip(*pooled))
        threshold = quantile(pooled_scores, self.risk_level(), pooled_weights)
        weights = np.where(scores <= threshold, batch.weights, 0.0)
        if weights.sum() > 0:
            weights = weights / weights.sum()
        keep = pooled[max(0, len(pooled) - self.threshold_window + 1) :]  # the last threshold_window - 1
        changes.update(_n_batches=self._n_batches + 1, _recent=keep)
        return weights, changes

    def _check_state(self, state):
        super()._check_state(state)
        _state_count(state, "_n_batches")
        recent = state["_recent"]
        if not isinstance(recent, list) or len(recent) >= self.threshold_window:
            raise ValueError(f"state has a _recent that is not a list of fewer than {self.threshold_window} batches")
        for part in recent:
            if not isinstance(part, tuple) or len(part) != 2:
                raise ValueError("state has a _recent entry that is not a (scores, weights) pair")
            size = len(_state_array(state, "_recent scores", (-1,), value=part[0]))
            if np.any(_state_array(state, "_recent weights", (size,), value=part[1]) <= 0):
                raise ValueError("state has _recent weights that are not positive")


def _scale_free_weights(weights: np.ndarray, log_weights: np.ndarray, purpose: str) -> np.ndarray | None:
    """Importance weights for a use that only needs them up to a common factor (a weighted quantile, mean, CVaR
    or fit).

    The weights as sampled when they are finite and not all zero (so results are bit-identical to weights kept as
    numbers); else, when ``D_phi0/D_phi`` underflowed to 0 or overflowed, ``exp(log w - max log w)``: the same
    ratios, computed in log space, with the largest weight 1. ``None``, with a warning, when every weight is
    exactly zero even in log space (tasks of zero density under ``D_phi0``): the caller then goes unweighted.
    """
    if np.all(np.isfinite(weights)) and weights.max() > 0:
        return weights
    top = log_weights.max()
    if top == -np.inf:
        warnings.warn(
            f"RoML: every importance weight of {purpose} is zero (tasks of zero density under D_phi0); "
            "using them unweighted",
            RuntimeWarning,
            stacklevel=4,
        )
        return None
    return np.exp(log_weights - top)


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

    @property
    def n_hard(self) -> int:
        """Size of the hard pool: the ``alpha`` fraction of the pool, at least one task."""
        return max(1, int(round(self.alpha * self.pool_size)))

    def _draw(self, n, rng):
        fresh = np.arange(self._pool_handed_out, min(self._pool_handed_out + n, self.pool_size))
        rest = n - fresh.size
        candidates = self.hard_pool if self.hard_pool is not None else np.arange(self.pool_size)
        indices = np.concatenate((fresh, candidates[rng.integers(candidates.size, size=rest)]))
        from_original = np.zeros(n, dtype=bool)
        from_original[: fresh.size] = True
        changes = {
            "_pool_handed_out": self._pool_handed_out + fresh.size,
            "_batch_pool_indices": {**self._batch_pool_indices, self._next_index: indices},
        }
        return self.pool[indices], np.zeros(n), from_original, changes

    def _training_weights(self, batch, scores):
        indices = self._batch_pool_indices[batch.index]
        first_time = batch.from_original
        pool_scores = self.pool_scores.copy()
        pool_scores[indices[first_time]] = scores[first_time]
        hard_pool = self.hard_pool
        if hard_pool is None and not np.isnan(pool_scores).any():
            hard_pool = np.argsort(pool_scores, kind="stable")[: self.n_hard]
        changes = {
            "pool_scores": pool_scores,
            "hard_pool": hard_pool,
            "_batch_pool_indices": {k: v for k, v in self._batch_pool_indices.items() if k != batch.index},
        }
        return np.ones(len(batch)), changes

    def _check_state(self, state):
        super()._check_state(state)
        _state_array(state, "pool", (self.pool_size, self.family.dim))
        scores = _state_array(state, "pool_scores", (self.pool_size,), finite=False)
        if np.any(np.isinf(scores)):
            raise ValueError("state has pool_scores that are infinite (NaN marks a task not yet scored)")
        _state_count(state, "_pool_handed_out", high=self.pool_size)
        if state["hard_pool"] is not None:
            hard = _state_array(state, "hard_pool", (self.n_hard,), "i")
            if np.any(hard >= self.pool_size) or np.isnan(scores).any():
                raise ValueError("state has a hard_pool outside the pool, or one chosen before the pool was scored")
        indices = state["_batch_pool_indices"]
        if not isinstance(indices, dict) or set(indices) != set(state["_pending"]):
            raise ValueError("state has _batch_pool_indices that do not match its pending batches")
        for index, chosen in indices.items():
            n = len(state["_pending"][index])
            chosen = _state_array(state, f"_batch_pool_indices[{index}]", (n,), "i", value=chosen)
            if np.any(chosen >= self.pool_size):
                raise ValueError(f"state has _batch_pool_indices[{index}] outside the pool")
