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
    """Override settings of the scale's preset, as FIELD=VALUE (e.g. --set frames=8000000 tail_masking=advantages)."""

    def __call__(self) -> None:
        from roml.experiments.runner import train

        summary = train(
            self.experiment,
            self.method,
            self.seed,
            self.scale,
            self.out,
            progress=self.progress,
            overrides=_parse_overrides(self.experiment, self.set),
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
    """Override settings of the scale's preset for every run, as FIELD=VALUE (see `roml train --help`)."""

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
            overrides=_parse_overrides(self.experiment, self.set),
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
    """List the experiments with their methods and scales."""

    def __call__(self) -> None:
        from roml.experiments.registry import describe, get_experiment

        for name, description in describe().items():
            experiment = get_experiment(name)
            print(f"{name:<18} {description}")
            print(f"{'':<18} methods: {', '.join(experiment.methods)}; scales: {', '.join(experiment.presets)}")


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


def _parse_overrides(experiment: str, pairs: tuple[str, ...]) -> dict:
    """``FIELD=VALUE`` strings as a dict of the experiment config's fields, each value converted to the type of the
    field's default (bool: true/false; numbers; strings; tuples of integers: comma-separated, e.g. 128,128; ``none``
    for a field that may be None). Raises ValueError naming a malformed pair or field."""
    from dataclasses import MISSING, fields

    from roml.experiments.registry import get_experiment

    config_fields = [f for f in fields(get_experiment(experiment).config_class) if f.default is not MISSING]
    defaults = {f.name: f.default for f in config_fields}
    optional = {f.name for f in config_fields if "None" in str(f.type)}
    strings = {f.name for f in config_fields if str(f.type).startswith("str")}  # e.g. "str | None", default None
    integers = {f.name for f in config_fields if str(f.type).startswith("int")}  # e.g. "int | None", default None
    overrides = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name:
            raise ValueError(f"--set takes FIELD=VALUE, got {pair!r}")
        if name not in defaults:
            raise ValueError(f"--set: {experiment} has no setting {name!r}; settings: {', '.join(sorted(defaults))}")
        default = defaults[name]
        try:
            if name in optional and text.lower() == "none":
                value = None
            elif isinstance(default, tuple):
                value = tuple(int(part) for part in text.split(","))
            elif isinstance(default, bool):
                if text.lower() not in ("true", "false"):
                    raise ValueError
                value = text.lower() == "true"
            elif isinstance(default, int) or name in integers:  # 8e6 is accepted, 0.5 is not
                number = float(text)
                if not number.is_integer():
                    raise ValueError
                value = int(number)
            elif isinstance(default, float):
                value = float(text)
            elif isinstance(default, str) or name in strings:
                value = text
            else:
                raise ValueError
        except ValueError:
            kind = "int" if name in integers else type(default).__name__
            raise ValueError(f"--set {name}: cannot read {text!r} as {kind}") from None
        overrides[name] = value
    return overrides


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
    from roml.experiments.runner import RunFailure

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
