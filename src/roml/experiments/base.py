"""What every experiment provides to the runner, the report and the CLI."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from roml.experiments.config import config_from_dict, config_to_dict, with_overrides
from roml.experiments.results import RunDir

ProgressFn = Callable[[int, int], None]
"""``progress(done, total)``: called by a run as its training advances (iterations or frames)."""

SCALES = ("smoke", "quick", "paper")


@dataclass(frozen=True)
class RunConfig:
    """A run's identity; each experiment's configuration extends it with its parts (``sampler``, the algorithm,
    ``loop``, ``eval``, ...; see :mod:`roml.experiments.config`), whose defaults are the paper's settings."""

    experiment: str = ""
    method: str = ""
    seed: int = 0
    scale: str = "paper"

    def to_dict(self) -> dict[str, Any]:
        """The nested dict of ``config.json``."""
        return config_to_dict(self)


IDENTITY = ("experiment", "method", "seed", "scale")
"""The fields of :class:`RunConfig` that name a run rather than set it (no override can change them)."""


@dataclass(frozen=True)
class Metric:
    """A test metric as it appears in ``summary.json`` and in the report's table."""

    key: str
    label: str
    higher_is_better: bool


class Experiment(ABC):
    """A paper experiment: its methods, its scales and how one run trains, checkpoints and evaluates.

    Subclasses set the class attributes and implement :meth:`run`. ``presets`` maps each scale to the
    overrides of ``config_class``'s defaults (which are the paper's settings), nested (``{"loop": {"frames":
    ...}}``) or by dotted name.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    methods: ClassVar[tuple[str, ...]]
    """The baseline and the meta-algorithms: what ``reproduce`` runs unless told which."""
    reference_methods: ClassVar[tuple[str, ...]] = ()
    """The paper's non-meta references (e.g. ``cesor``): run when named, listed after ``methods``."""
    extra_methods: tuple[str, ...] = ()
    """The meta-algorithms on another meta-learner, with a configuration class of their own
    (:meth:`config_class_for`; HalfCheetah: ``pearl``, ``pearl-roml``, ``pearl-cvar-ml``): run when named, listed
    last."""
    method_presets: ClassVar[dict[str, dict[str, Any]]] = {}
    """Settings a method fixes (e.g. CeSoR's learner: VariBAD without the belief), applied after the scale's
    preset and before the user's overrides."""
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
        """The full configuration of one run: the paper's settings (``config_class``'s defaults), the scale's
        preset, then ``overrides`` (settings by dotted or bare name, see :func:`~roml.experiments.config.
        with_overrides`).

        Raises a ``ValueError`` naming an unknown method, scale or setting, or a setting of the wrong type or out
        of its range.
        """
        if method not in self.all_methods:
            raise ValueError(f"unknown method {method!r} for {self.name}; choose from {', '.join(self.all_methods)}")
        if scale not in self.presets:
            raise ValueError(f"unknown scale {scale!r}; choose from {', '.join(self.presets)}")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        fixed = set(IDENTITY) & set(overrides or {})
        if fixed:
            raise ValueError(f"cannot override {sorted(fixed)} of a {self.name} run")
        base = self.config_class_for(method)(experiment=self.name, method=method, seed=seed, scale=scale)
        preset = with_overrides(with_overrides(base, self.preset_for(method, scale)), self.method_presets.get(method))
        return with_overrides(preset, overrides)

    def config_class_for(self, method: str) -> type[RunConfig]:
        """The configuration class of ``method``'s runs: ``config_class`` unless the method trains another
        meta-learner (see ``extra_methods``)."""
        return self.config_class

    def preset_for(self, method: str, scale: str) -> dict[str, Any]:
        """The overrides of ``config_class_for(method)``'s defaults at ``scale``: ``presets[scale]`` unless the
        method has a configuration class of its own."""
        return self.presets[scale]

    @property
    def all_methods(self) -> tuple[str, ...]:
        """``methods``, ``reference_methods``, then ``extra_methods``: every method a run may name."""
        return (*self.methods, *self.reference_methods, *self.extra_methods)

    def config_from_dict(self, values: dict[str, Any]) -> RunConfig:
        """The run configuration of ``values``: a run's ``config.json`` (nested; or flat, as written before
        configurations had parts: converted), or :meth:`RunConfig.to_dict`'s output. Raises a ``ValueError``
        naming an unknown or bad setting."""
        if not isinstance(values, dict):
            raise ValueError(f"a configuration must be a dict, got {type(values).__name__}")
        identity = {key: values[key] for key in IDENTITY[1:] if key in values}
        base = self.config(
            identity.get("method", self.methods[0]), identity.get("seed", 0), identity.get("scale", "paper")
        )
        return config_from_dict(base, {key: value for key, value in values.items() if key != "experiment"})

    @abstractmethod
    def run(self, config: RunConfig, run_dir: RunDir, progress: ProgressFn) -> dict[str, Any]:
        """Train (resuming from ``run_dir``'s checkpoint if there is one), evaluate on the fixed test tasks,
        write the results files and return the summary. Same config and seed => identical summary."""
