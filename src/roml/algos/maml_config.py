"""MAML's hyper-parameters, :class:`MAMLConfig` (apart from :mod:`roml.algos.maml`, so that a run's configuration
can hold them without importing torch)."""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["MAMLConfig"]


@dataclass
class MAMLConfig:
    """Hyper-parameters of MAML; the defaults are Finn et al.'s, used unchanged by the paper (Appendix E)."""

    inner_lr: float = 0.01
    """Learning rate of the inner (adaptation) SGD steps."""

    inner_steps: int = 1
    """Inner SGD steps on the support set during meta-training."""

    first_order: bool = False
    """Treat the inner gradients as constants (first-order MAML); the paper uses the second-order gradient."""

    outer_lr: float = 1e-3
    """Learning rate of the outer Adam optimiser (no weight decay)."""

    tasks_per_batch: int = 20
    """Tasks per meta-batch (used by the training loop that draws the batches)."""

    n_support: int = 10
    """Support points per task in meta-training (used by the training loop that draws the data)."""

    n_query: int = 10
    """Query points per task in meta-training (used by the training loop that draws the data)."""

    def __post_init__(self):
        if not (math.isfinite(self.inner_lr) and self.inner_lr >= 0):
            raise ValueError(f"inner_lr must be finite and >= 0, got {self.inner_lr!r}")
        if not (math.isfinite(self.outer_lr) and self.outer_lr > 0):
            raise ValueError(f"outer_lr must be finite and > 0, got {self.outer_lr!r}")
        if isinstance(self.inner_steps, bool) or int(self.inner_steps) != self.inner_steps or self.inner_steps < 0:
            raise ValueError(f"inner_steps must be an integer >= 0, got {self.inner_steps!r}")
        for name in ("tasks_per_batch", "n_support", "n_query"):
            value = getattr(self, name)
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        self.inner_steps = int(self.inner_steps)
        self.first_order = bool(self.first_order)
