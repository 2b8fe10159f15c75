"""From a run's method name to its task sampler, and from a sampler's history to ``sampler.csv``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from roml.experiments.config import AT_LEAST_ONE, Limit, Part
from roml.samplers import CeSoRSampler, CVaRSampler, FixedPoolSampler, RoMLSampler, TaskSampler, UniformSampler
from roml.tasks import TaskFamily

if TYPE_CHECKING:  # pandas loads where a table is written, not for `roml list`
    import pandas as pd


@dataclass(frozen=True)
class SamplerConfig(Part):
    """The task sampler's settings (the ``sampler`` part of a run's configuration); the defaults are the paper's
    MuJoCo ones, and an experiment's configuration sets the values its paper setting differs in."""

    alpha: float = 0.05
    """Robustness level of CVaR-ML and RoML, and of the reported CVaR."""
    beta: float = 0.2
    """RoML: the CEM quantile."""
    nu: float = 0.0
    """RoML: fraction of every CEM batch drawn from the original distribution."""
    soft_update: float = 0.5
    """RoML: weight of the previous phi in the CEM's soft update."""
    cem_batch_size: int = 200
    """RoML: tasks per CEM update."""
    pool_size: int = 100
    """naive: size of the fixed task pool (App. D.4's M)."""
    soft_risk_fraction: float = 0.8
    """cesor: the fraction of training over which the soft risk level falls from 1 to alpha."""
    weight_clip: float = 5.0
    """cesor: importance weights are clipped to [1/weight_clip, weight_clip]."""
    threshold_window: int = 8
    """cesor: iterations whose task scores make the soft-risk threshold, the current one included."""

    limits = {
        "alpha": Limit(0, 1, open_low=True),
        "beta": Limit(0, 1, open_low=True, open_high=True),
        "nu": Limit(0, 1, open_high=True),
        "soft_update": Limit(0, 1, open_high=True),
        "cem_batch_size": AT_LEAST_ONE,
        "pool_size": AT_LEAST_ONE,
        "soft_risk_fraction": Limit(0, 1, open_low=True),
        "weight_clip": Limit(1, open_low=True),
        "threshold_window": AT_LEAST_ONE,
    }


def make_sampler(config, family: TaskFamily, seed, baseline: str, method: str | None = None) -> TaskSampler:
    """The sampler of run configuration ``config``'s method: the risk-neutral ``baseline`` (e.g. ``"maml"``),
    ``"cvar-ml"``, ``"roml"``, ``"naive"`` or the reference ``"cesor"`` (over ``config.iterations`` batches),
    with the settings of its ``sampler`` part. ``method`` names the sampler where the run's method name is not
    one of these (``pearl-roml`` runs ``"roml"``'s)."""
    method, settings = config.method if method is None else method, config.sampler
    cem = dict(  # RoML's dynamic CEM, which CeSoR shares
        alpha=settings.alpha,
        beta=settings.beta,
        nu=settings.nu,
        soft_update=settings.soft_update,
        batch_size=settings.cem_batch_size,
        seed=seed,
    )
    if method == baseline:
        return UniformSampler(family, seed=seed)
    if method == "cvar-ml":
        return CVaRSampler(family, alpha=settings.alpha, seed=seed)
    if method == "roml":
        return RoMLSampler(family, **cem)
    if method == "naive":
        return FixedPoolSampler(family, alpha=settings.alpha, pool_size=settings.pool_size, seed=seed)
    if method == "cesor":
        return CeSoRSampler(
            family,
            **cem,
            total_batches=config.iterations,
            soft_risk_fraction=settings.soft_risk_fraction,
            weight_clip=settings.weight_clip,
            threshold_window=settings.threshold_window,
        )
    raise ValueError(f"unknown method {method!r}; choose from {baseline}, cvar-ml, roml, naive, cesor")


HISTORY_COLUMNS = (
    "reference_quantile",
    "internal_quantile",
    "threshold",
    "n_selected",
    "sample_mean",
    "sample_cvar",
    "reference_mean",
    "reference_cvar",
)


def history_frame(history: Sequence[dict], names: Sequence[str]) -> pd.DataFrame:
    """One row per CEM update of a sampler's ``history`` (e.g. :attr:`roml.samplers.RoMLSampler.history`).

    The ``phi`` vector of each record is expanded into the columns ``phi_<name>``, one per entry of ``names``
    (the task family's ``names``; for a family whose ``phi`` is longer than its task, such as ``Categorical``,
    pass one name per entry of ``phi``). The columns are ``update``, ``n_tasks``, the ``phi_*`` columns, the
    quantiles and the sample/reference mean and CVaR, then any further keys of the records in their order.
    An empty history gives an empty frame with these columns.

    Raises:
        ValueError: a record without ``phi``, or whose ``phi`` does not have one entry per name.
    """
    import pandas as pd

    names = tuple(str(name) for name in names)
    phi_columns = [f"phi_{name}" for name in names]
    if len(set(phi_columns)) != len(phi_columns):
        raise ValueError(f"names must be distinct, got {names}")
    rows = []
    extra_keys: list[str] = []
    for i, record in enumerate(history):
        if "phi" not in record:
            raise ValueError(f"history[{i}] has no 'phi' entry (keys: {sorted(record)})")
        phi = np.asarray(record["phi"], dtype=float).reshape(-1)
        if phi.size != len(names):
            raise ValueError(f"history[{i}] has phi of length {phi.size}, but {len(names)} names were given: {names}")
        row = {key: value for key, value in record.items() if key != "phi"}
        row.update(zip(phi_columns, phi.tolist()))
        rows.append(row)
        extra_keys.extend(key for key in record if key not in extra_keys)
    leading = ["update", "n_tasks", *phi_columns, *HISTORY_COLUMNS]
    columns = leading + [key for key in extra_keys if key not in leading and key != "phi"]
    if not rows:
        return pd.DataFrame(columns=columns)
    frame = pd.DataFrame.from_records(rows)
    return frame.reindex(columns=[column for column in columns if column in frame.columns])
