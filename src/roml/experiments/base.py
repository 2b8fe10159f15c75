"""What every experiment provides to the runner, the report and the CLI."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, ClassVar

from roml.experiments.results import RunDir

ProgressFn = Callable[[int, int], None]
"""``progress(done, total)``: called by a run as its training advances (iterations or frames)."""

SCALES = ("smoke", "quick", "paper")


@dataclass(frozen=True)
class RunConfig:
    """Fields shared by every run's configuration; each experiment extends it with its hyper-parameters."""

    experiment: str = ""
    method: str = ""
    seed: int = 0
    scale: str = "paper"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Metric:
    """A test metric as it appears in ``summary.json`` and in the report's table."""

    key: str
    label: str
    higher_is_better: bool


class Experiment(ABC):
    """A paper experiment: its methods, its scales and how one run trains, checkpoints and evaluates.

    Subclasses set the class attributes and implement :meth:`run`. ``presets`` maps each scale to the
    overrides of ``config_class``'s defaults (which are the paper's settings).
    """

    name: ClassVar[str]
    description: ClassVar[str]
    methods: ClassVar[tuple[str, ...]]
    config_class: ClassVar[type[RunConfig]]
    presets: ClassVar[dict[str, dict[str, Any]]]
    table_metrics: ClassVar[tuple[Metric, ...]]
    curve_xlabel: ClassVar[str] = "x"
    """Report: the x axis of ``<metric>@<x>`` curves (sine: inner gradient steps at test time)."""
    phi0_line: ClassVar[float | dict[str, float] | None] = None
    """Report: the original distribution's phi, drawn dashed in the sampler figure (per dimension or one value)."""
    score_label: ClassVar[str] = "task score"
    """Report: what a task's score is (sine: minus the query loss; RL: the return)."""
    report_figures: ClassVar[dict[str, str]] = {}
    """Report: experiment-specific figures, ``{suffix: "module:function"}``; the report calls
    ``function(runs)`` with ``{method: [finished run folders]}`` and writes the returned matplotlib ``Figure``
    (or nothing for ``None``) to ``<experiment>_<suffix>.png``."""

    def config(self, method: str, seed: int, scale: str, overrides: dict[str, Any] | None = None) -> RunConfig:
        """The full configuration of one run: the paper's defaults, the scale's preset, then ``overrides``.

        Raises a ``ValueError`` naming an unknown method, scale or overridden field.
        """
        if method not in self.methods:
            raise ValueError(f"unknown method {method!r} for {self.name}; choose from {', '.join(self.methods)}")
        if scale not in self.presets:
            raise ValueError(f"unknown scale {scale!r}; choose from {', '.join(self.presets)}")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        overrides = dict(overrides or {})
        fixed = {"experiment", "method", "seed", "scale"} & set(overrides)
        unknown = set(overrides) - {f.name for f in fields(self.config_class)}
        if fixed or unknown:
            raise ValueError(f"cannot override {sorted(fixed | unknown)} of a {self.name} run")
        base = self.config_class(experiment=self.name, method=method, seed=seed, scale=scale)
        return replace(base, **{**self.presets[scale], **overrides})

    def config_from_dict(self, values: dict[str, Any]) -> RunConfig:
        known = {f.name for f in fields(self.config_class)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown configuration keys for {self.name}: {sorted(unknown)}")
        return self.config_class(**values)

    @abstractmethod
    def run(self, config: RunConfig, run_dir: RunDir, progress: ProgressFn) -> dict[str, Any]:
        """Train (resuming from ``run_dir``'s checkpoint if there is one), evaluate on the fixed test tasks,
        write the results files and return the summary. Same config and seed => identical summary."""
