"""A self-contained demo of RoML's sampler (the dynamic CEM of Algorithm 2) on a synthetic task family.

It mirrors the sampler figures of the paper's App. D.3 (Figs. 10-13): the CEM's ``phi`` over training, and the
mean score of the *sampled* tasks against the importance-weighted *reference* mean and CVaR under the original
distribution.

The problem
-----------
Tasks are ``x = (x_hard, x_medium, x_idle)`` on the unit cube, ``BetaBox([0, 0, 0], [1, 1, 1])``; the original
distribution ``D_phi0`` is uniform (``phi0 = (0.5, 0.5, 0.5)``). The score of a task (higher is better, like a
return) is fixed; no agent learns::

    score(x) = -(x_hard + 0.3 * x_medium) + 0.02 * eps,        eps ~ N(0, 1)

The noise ``eps`` comes from its own generator, seeded from ``seed`` but independent of the sampler's generator,
so the noise never changes which tasks the sampler draws. The hard tasks are those with a large ``x_hard`` (and,
less so, a large ``x_medium``); ``x_idle`` has no effect. RoML should therefore push ``phi_hard`` close to its
bound 0.98, ``phi_medium`` up less far (the alpha-tail also favours a large ``x_medium``), and leave ``phi_idle``
near 0.5, while the sample mean score drops from the reference mean towards the reference CVaR. Under ``D_phi0``
the exact mean score is -0.65 and the exact CVaR_0.05 is about -1.19; the reference estimates in the figure are
self-normalised importance-sampling estimates from each batch, so they scatter around these values.

Run it with ``roml demo --out DIR`` or ``python -c "from roml.demo import run_demo; run_demo('demo')"``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from roml.experiments.samplers import history_frame
from roml.samplers import RoMLSampler
from roml.tasks import BetaBox

__all__ = ["run_demo"]

NAMES = ("hard", "medium", "idle")
WEIGHTS = np.array([1.0, 0.3, 0.0])  # score = -(WEIGHTS @ x) + NOISE_STD * eps
NOISE_STD = 0.02
ALPHA = 0.05
BETA = 0.2
NU = 0.2
BATCH_SIZE = 128
LOG_EVERY = 10


# the scalar entries of a RoMLSampler history record, in the order of the CSV columns (after the phi columns)
def _check_n_updates(n_updates) -> int:
    if isinstance(n_updates, (bool, np.bool_)) or not isinstance(n_updates, (int, np.integer)) or n_updates < 1:
        raise ValueError(f"n_updates must be an integer >= 1, got {n_updates!r}")
    return int(n_updates)


def _score(tasks: np.ndarray, noise_rng: np.random.Generator) -> np.ndarray:
    """``-(x_hard + 0.3 x_medium) + 0.02 N(0, 1)`` per task (see the module docstring)."""
    return -(tasks @ WEIGHTS) + NOISE_STD * noise_rng.standard_normal(len(tasks))


def _log_line(record: dict, n_updates: int) -> str:
    phi = ", ".join(f"{value:.2f}" for value in record["phi"])
    return (
        f"update {record['update']:>{len(str(n_updates))}}/{n_updates}  phi=({phi})  "
        f"sample mean={record['sample_mean']:+.3f}  reference mean={record['reference_mean']:+.3f}  "
        f"reference CVaR={record['reference_cvar']:+.3f}  threshold={record['threshold']:+.3f}"
    )


def _plot(frame: pd.DataFrame, names: Sequence[str], phi0: float, path: Path) -> None:
    """Two panels: phi per dimension (Figs. 10, 11, 13 left) and sample vs reference scores (Figs. 10, 12, 13)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11, 4.2), layout="constrained")
    FigureCanvasAgg(figure)
    left, right = figure.subplots(1, 2)
    updates = frame["update"].to_numpy()

    # colours distinct from the right panel's, so that no line reads as its neighbour's
    colours = ["tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan", "tab:gray"]
    for j, name in enumerate(names):
        left.plot(updates, frame[f"phi_{name}"].to_numpy(), label=name, linewidth=1.8, color=colours[j % len(colours)])
    left.axhline(phi0, color="gray", linestyle="--", linewidth=1.2, label=r"$\phi_0$ (original)")
    left.set_ylim(0.0, 1.0)
    left.set_xlabel("CEM update")
    left.set_ylabel(r"$\phi$ (mean of the sampled $u$)")
    left.set_title("Learned sample distribution")
    left.legend(title="task dimension", loc="best", fontsize="small")
    left.grid(alpha=0.3)

    right.plot(updates, frame["sample_mean"].to_numpy(), color="tab:green", linewidth=1.8, label="sample mean")
    right.plot(updates, frame["reference_mean"].to_numpy(), color="tab:blue", linewidth=1.8, label="reference mean")
    right.plot(
        updates,
        frame["reference_cvar"].to_numpy(),
        color="tab:orange",
        linewidth=1.8,
        label=rf"reference CVaR$_{{{ALPHA:g}}}$",
    )
    right.set_xlabel("CEM update")
    right.set_ylabel("score (higher is better)")
    right.set_title("Sample vs reference scores")
    right.legend(loc="best", fontsize="small")
    right.grid(alpha=0.3)

    figure.suptitle(
        rf"RoML's CEM on score $= -(x_{{hard}} + 0.3\,x_{{medium}})$ + noise "
        rf"($\alpha$={ALPHA:g}, $\beta$={BETA:g}, $\nu$={NU:g}, batch {BATCH_SIZE})"
    )
    figure.savefig(path, dpi=120)


def run_demo(
    out_dir: str | Path, n_updates: int = 100, seed: int = 0, log: Callable[[str], object] | None = print
) -> Path:
    """Drive :class:`~roml.samplers.RoMLSampler` on the synthetic problem of the module docstring.

    The sampler is ``RoMLSampler(BetaBox([0, 0, 0], [1, 1, 1], names=("hard", "medium", "idle")), alpha=0.05,
    beta=0.2, nu=0.2, batch_size=128)``; each CEM update draws one batch of 128 tasks, scores it and reports the
    scores. Every 10 updates (and after the last) ``log`` gets one line: the update, ``phi``, the sample mean
    score, the reference mean and CVaR and the CEM threshold. Same ``seed``, same files.

    Writes into ``out_dir`` (created if needed):

    * ``demo_history.csv``: one row per CEM update (:func:`history_frame` of the sampler's history);
    * ``demo_cem.png``: ``phi`` per dimension against the update, with ``phi0`` dashed, and the sample mean score
      against the importance-weighted reference mean and reference CVaR_alpha.

    Args:
        out_dir: folder for the two files.
        n_updates: number of CEM updates (>= 1).
        seed: seeds both the sampler and the score noise (through ``np.random.SeedSequence``).
        log: called with each progress line; ``None`` for silence.

    Returns:
        The path of ``demo_cem.png``.

    Raises:
        ValueError: ``n_updates`` is not an integer >= 1, or ``seed`` is not a non-negative integer.
    """
    n_updates = _check_n_updates(n_updates)
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    family = BetaBox([0.0, 0.0, 0.0], [1.0, 1.0, 1.0], names=NAMES)
    sampler_seed, noise_seed = np.random.SeedSequence(int(seed)).spawn(2)
    sampler = RoMLSampler(family, alpha=ALPHA, beta=BETA, nu=NU, batch_size=BATCH_SIZE, seed=sampler_seed)
    noise_rng = np.random.default_rng(noise_seed)

    for update in range(1, n_updates + 1):
        batch = sampler.sample(BATCH_SIZE)
        sampler.observe(batch, _score(batch.tasks, noise_rng))
        record = sampler.history[-1]
        if log is not None and (update % LOG_EVERY == 0 or update == n_updates):
            log(_log_line(record, n_updates))

    frame = history_frame(sampler.history, family.names)
    frame.to_csv(out / "demo_history.csv", index=False)
    png = out / "demo_cem.png"
    _plot(frame, family.names, float(family.phi0[0]), png)
    return png
