"""The ``roml`` command: train, reproduce, report, list, demo.

Errors a user can fix (an unknown experiment, method or scale, a setting of the wrong type or out of range, a
folder holding runs of another configuration, a corrupt or foreign checkpoint) end the command with a one-line
``roml: error: ...`` and exit status 2; an operating-system error (a folder that cannot be created or written, a
file where a folder should be) ends it with one line naming the path and exit status 1. Settings are checked before
anything is written, and nothing already written is overwritten or deleted.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import tyro

from roml import __version__

Positional = tyro.conf.Positional


@dataclass
class Train:
    """Train, evaluate and write one run (resuming it if a checkpoint exists)."""

    experiment: Positional[str]
    """Experiment name (see `roml list`)."""
    method: str = "roml"
    """Method: the baseline, cvar-ml, roml or naive (see `roml list`)."""
    seed: int = 0
    """Training seed."""
    scale: str = "quick"
    """Preset: smoke (seconds), quick (minutes) or paper (the paper's settings)."""
    out: Path = Path("runs")
    """Output folder; the run goes to OUT/EXPERIMENT/METHOD/seedSEED."""
    progress: bool = True
    """Show a progress bar."""
    set: tuple[str, ...] = ()
    """Override settings of the scale's preset, as PART.FIELD=VALUE, or FIELD=VALUE where one part has the field
    (e.g. --set loop.frames=8e6 varibad.tail_masking=advantages); `roml list --settings` lists them."""

    def __call__(self) -> None:
        from roml.experiments.runner import train

        summary = train(
            self.experiment,
            self.method,
            self.seed,
            self.scale,
            self.out,
            progress=self.progress,
            overrides=_parse_overrides(self.experiment, self.set, (self.method,)),
        )
        print(_format_metrics(summary))


@dataclass
class Reproduce:
    """Train every method on several seeds, in parallel, skipping finished runs and resuming unfinished ones."""

    experiment: Positional[str]
    """Experiment name (see `roml list`)."""
    seeds: int = 5
    """Number of seeds per method (seeds 0..N-1)."""
    methods: tuple[str, ...] = ()
    """Methods to run (default: all of the experiment's methods)."""
    scale: str = "quick"
    """Preset: smoke (seconds), quick (minutes) or paper (the paper's settings)."""
    out: Path = Path("runs")
    """Output folder."""
    workers: int | None = None
    """Parallel runs for the local backend (default: the number of cores)."""
    backend: Literal["local", "ray"] = "local"
    """local: one process per run; ray: one Ray task per run (needs `pip install 'roml-rl[ray]'`)."""
    address: str | None = None
    """Ray cluster address for `ray.init` (default: start a local Ray instance)."""
    progress: bool = True
    """Show progress bars."""
    set: tuple[str, ...] = ()
    """Override settings of the scale's preset for every run, as PART.FIELD=VALUE (see `roml train --help`)."""

    def __call__(self) -> None:
        from roml.experiments.runner import reproduce

        summaries = reproduce(
            self.experiment,
            self.seeds,
            self.scale,
            self.out,
            methods=self.methods or None,
            workers=self.workers,
            backend=self.backend,
            address=self.address,
            progress=self.progress,
            overrides=_parse_overrides(self.experiment, self.set, self.methods),
        )
        print(f"{len(summaries)} runs finished in {self.out}; next: roml report {self.out}")


@dataclass
class Report:
    """Write summary.csv, table.md and the paper's figures from a folder of runs."""

    out: Positional[Path]
    """Folder of runs (the --out of train / reproduce)."""

    def __call__(self) -> None:
        from roml.report import write_report

        skipped: list[str] = []
        for path in write_report(self.out, skipped):
            print(path)
        for note in skipped:
            print(f"roml: skipped: {note}", file=sys.stderr)


@dataclass
class List:
    """List the experiments with their methods and scales, or one experiment's settings."""

    settings: str | None = None
    """Instead, list this experiment's settings (the PART.FIELD names of --set) with their value at each scale."""

    def __call__(self) -> None:
        from roml.experiments.registry import describe, get_experiment

        if self.settings is not None:
            print(_settings_table(get_experiment(self.settings)))
            return
        for name, description in describe().items():
            experiment = get_experiment(name)
            print(f"{name:<18} {description}")
            references = (
                f" (references: {', '.join(experiment.reference_methods)})" if experiment.reference_methods else ""
            )
            methods = ", ".join(experiment.methods)
            extra = f" (also: {', '.join(experiment.extra_methods)})" if experiment.extra_methods else ""
            print(f"{'':<18} methods: {methods}{references}{extra}; scales: {', '.join(experiment.presets)}")


@dataclass
class Demo:
    """RoML's sampler on a synthetic 3-D task family: prints phi moving and saves a figure (Fig. 10-13 style)."""

    out: Path = Path("runs/demo")
    """Output folder for demo_history.csv and demo_cem.png."""
    updates: int = 100
    """Number of CEM updates."""
    seed: int = 0
    """Seed."""

    def __call__(self) -> None:
        from roml.demo import run_demo

        print(run_demo(self.out, n_updates=self.updates, seed=self.seed))


def _parse_overrides(experiment: str, pairs: tuple[str, ...], methods: tuple[str, ...] = ()) -> dict:
    """``PART.FIELD=VALUE`` strings as ``{"part.field": value}``, each value read by its field's type (see
    :func:`roml.experiments.config.parse_settings`) in the configuration class of every one of ``methods`` (default:
    the experiment's ``methods``; PEARL's runs have their own). Raises ValueError naming a malformed pair or a
    setting that one of the methods' configurations lacks."""
    from roml.experiments.config import parse_settings
    from roml.experiments.registry import get_experiment

    spec = get_experiment(experiment)
    classes = dict.fromkeys(spec.config_class_for(m) for m in (methods or spec.methods) if m in spec.all_methods)
    settings: dict = {}
    for config_class in classes or (spec.config_class,):
        settings = parse_settings(config_class, pairs, owner=experiment)
    return settings


def _settings_table(experiment) -> str:
    """One line per setting of ``experiment``: its dotted name and its value at each scale (paper first), as
    ``--set`` reads them; methods with a configuration of their own (PEARL's) get a table of their own after it."""
    from roml.experiments.base import IDENTITY
    from roml.experiments.config import flatten

    scales = ["paper", *(scale for scale in experiment.presets if scale != "paper")]
    groups: dict[type, list[str]] = {}
    for method in experiment.all_methods:
        groups.setdefault(experiment.config_class_for(method), []).append(method)
    tables = []
    for methods in groups.values():
        values = {scale: flatten(experiment.config(methods[0], 0, scale).to_dict()) for scale in scales}
        names = [name for name in values["paper"] if name not in IDENTITY]
        width = max(map(len, names))
        lines = [] if not tables else [f"settings of {', '.join(methods)}:"]
        lines += [f"{'setting':<{width}}  " + "  ".join(f"{scale:<12}" for scale in scales)]
        lines += [
            f"{name:<{width}}  " + "  ".join(f"{_as_set(values[scale][name]):<12}" for scale in scales)
            for name in names
        ]
        tables.append("\n".join(line.rstrip() for line in lines))
    return "\n\n".join(tables)


def _as_set(value) -> str:
    """A setting's value as ``--set`` reads it (a tuple as ``128,128``)."""
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


def _format_metrics(summary: dict) -> str:
    metrics = summary.get("metrics", {})
    return ", ".join(f"{key} = {value:.4g}" for key, value in metrics.items())


COMMANDS = {
    "train": Train,
    "reproduce": Reproduce,
    "report": Report,
    "list": List,
    "demo": Demo,
}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``roml`` console script."""
    args = sys.argv[1:] if argv is None else list(argv)
    if args[:1] in (["--version"], ["-V"]):
        print(f"roml {__version__}")
        return 0
    command = tyro.extras.subcommand_cli_from_dict(
        {name: Annotated[cls, tyro.conf.arg(help=cls.__doc__)] for name, cls in COMMANDS.items()},
        prog="roml",
        description=f"roml {__version__}: robust meta-learning (CVaR-ML and RoML). "
        "`roml --version` prints the version.",
        args=args,
    )
    from roml.experiments.results import RunFailure

    try:
        command()
    except ValueError as error:  # bad input, another configuration, a corrupt file: one clear line
        print(f"roml: error: {error}", file=sys.stderr)
        return 2
    except RunFailure as error:  # some runs failed; the others were kept
        print(f"roml: error: {error}", file=sys.stderr)
        return 1
    except OSError as error:  # a path that cannot be created, read or written
        print(f"roml: error: {_describe_os_error(error)}", file=sys.stderr)
        return 1
    return 0


def _describe_os_error(error: OSError) -> str:
    """``<what went wrong>: <path>`` on one line (``str(error)`` adds an errno and may span lines)."""
    reason = error.strerror or str(error).strip().splitlines()[0]
    paths = [str(p) for p in (error.filename, error.filename2) if p is not None]
    return f"{reason}: {' -> '.join(paths)}" if paths else reason


if __name__ == "__main__":
    sys.exit(main())
