"""What every experiment provides to the runner, the report and the CLI."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
import math
from dataclasses import MISSING, asdict, dataclass, fields, replace
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
class Limit:
    """The range of a numeric setting: ``low <= value <= high`` (``<`` where ``open_low`` / ``open_high``)."""

    low: float = 0.0
    high: float = math.inf
    open_low: bool = False
    open_high: bool = False

    def __str__(self) -> str:
        closed_high = not self.open_high and math.isfinite(self.high)
        return f"{'(' if self.open_low else '['}{self.low:g}, {self.high:g}{']' if closed_high else ')'}"

    def admits(self, value: float) -> bool:
        above = value > self.low if self.open_low else value >= self.low
        below = value < self.high if self.open_high else value <= self.high
        return above and below and math.isfinite(value)


AT_LEAST_ONE, NON_NEGATIVE, POSITIVE = Limit(1), Limit(0), Limit(0, open_low=True)
SETTING_LIMITS: dict[str, Limit] = {
    **dict.fromkeys(
        (
            "iterations",
            "tasks_per_batch",
            "n_support",
            "n_query",
            "cem_batch_size",
            "n_test_tasks",
            "test_support",
            "test_query",
            "checkpoint_every",
            "pool_size",
            "frames",
            "num_envs",
            "episodes_per_task",
            "n_valid_tasks",
            "eval_every",
            "latent_dim",
            "vae_buffer_size",
        ),
        AT_LEAST_ONE,
    ),
    **dict.fromkeys(
        ("seed", "test_seed", "n_shown_tasks", "precollect_frames", "inner_steps", "inner_lr", "entropy_coef"),
        NON_NEGATIVE,
    ),
    **dict.fromkeys(("outer_lr", "policy_lr"), POSITIVE),
    "alpha": Limit(0, 1, open_low=True),
    "beta": Limit(0, 1, open_low=True, open_high=True),
    "nu": Limit(0, 1, open_high=True),
    "soft_update": Limit(0, 1, open_high=True),
    "gamma": Limit(0, 1),
}
"""The range of every numeric setting of the experiments' run configurations, by field name (a setting not named
here has no range beyond its type, or is checked by the algorithm's own configuration)."""


def check_settings(config_class: type, values: dict[str, Any]) -> None:
    """Check ``values`` (field name -> value) against the fields of ``config_class``: the type of the field's
    default (``bool`` for a bool; an ``int`` for an int, not a bool; a real number for a float; ``None`` where
    the field may be None) and the range of :data:`SETTING_LIMITS`. Raises a ``ValueError`` naming the first
    bad setting, before anything is built or written."""
    for field in fields(config_class):
        if field.name not in values or field.default is MISSING:
            continue
        value, default = values[field.name], field.default
        if value is None and "None" in str(field.type):
            continue
        expected = _setting_type(default, str(field.type))
        if not _has_type(value, expected):
            raise ValueError(f"setting {field.name} must be {expected}, got {value!r} ({type(value).__name__})")
        limit = SETTING_LIMITS.get(field.name)
        if limit is not None and not limit.admits(value):
            raise ValueError(f"setting {field.name} must be in {limit}, got {value!r}")


def _setting_type(default, annotation: str) -> str:
    """What a setting must be, from its default (or, for a default of None, its annotation: ``str | None``)."""
    if default is None:
        default = {"str": "", "int": 0, "float": 0.0, "bool": False}.get(annotation.split(" | ")[0], default)
    if isinstance(default, bool):
        return "a bool"
    if isinstance(default, int):
        return "an integer"
    if isinstance(default, float):
        return "a real number"
    return f"a {type(default).__name__}"


def _has_type(value, expected: str) -> bool:
    if expected == "a bool":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if expected == "an integer":
        return isinstance(value, int)
    if expected == "a real number":
        return isinstance(value, (int, float))
    return type(value).__name__ == expected[2:]


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

        Raises a ``ValueError`` naming an unknown method, scale or overridden field, or a setting of the wrong
        type or out of its range (:func:`check_settings`).
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
        settings = {**self.presets[scale], **overrides}
        check_settings(self.config_class, settings)
        base = self.config_class(experiment=self.name, method=method, seed=seed, scale=scale)
        return replace(base, **settings)

    def config_from_dict(self, values: dict[str, Any]) -> RunConfig:
        """The run configuration of ``values`` (e.g. a run's ``config.json``: its lists are read as tuples)."""
        values = {key: tuple(value) if isinstance(value, list) else value for key, value in values.items()}
        known = {f.name for f in fields(self.config_class)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown configuration keys for {self.name}: {sorted(unknown)}")
        check_settings(self.config_class, values)
        return self.config_class(**values)

    @abstractmethod
    def run(self, config: RunConfig, run_dir: RunDir, progress: ProgressFn) -> dict[str, Any]:
        """Train (resuming from ``run_dir``'s checkpoint if there is one), evaluate on the fixed test tasks,
        write the results files and return the summary. Same config and seed => identical summary."""
