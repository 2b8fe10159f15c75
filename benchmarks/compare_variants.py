"""Compare variants of one experiment's runs (e.g. the same method with different ``--set`` settings, each variant
in its own output folder): per variant and seed, the last validation and the final model's test.

    python benchmarks/compare_variants.py LABEL=OUT [LABEL=OUT ...] [--experiment half-cheetah-mass]
                                          [--method varibad]

Each ``OUT`` is a folder of ``roml train``/``roml reproduce`` (``OUT/<experiment>/<method>/seed<k>/``). For every
finished run it reads ``progress.csv`` (the validation mean and CVaR return at the last validation point) and
``summary.json`` (the test mean and CVaR return), and prints one markdown table: a row per variant with the values
per seed and their mean ± std over seeds, plus the settings in which the variant's ``config.json`` differs from the
first variant's. Used for the HalfCheetah-Mass fidelity measurements in ``docs/architecture.md``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

COLUMNS = (
    ("valid_mean_return", "valid mean"),
    ("valid_cvar_return", "valid CVaR"),
    ("mean_return", "test mean"),
    ("cvar_return", "test CVaR"),
)


def read_settings(path: Path) -> dict:
    """A run's ``config.json`` as ``{"part.field": value}`` (an older, flat one converted)."""
    from roml.experiments.config import flatten
    from roml.experiments.registry import get_experiment

    values = json.loads(path.read_text())
    return flatten(json.loads(json.dumps(get_experiment(values["experiment"]).config_from_dict(values).to_dict())))


def read_variant(folder: Path) -> tuple[pd.DataFrame, dict]:
    """One row per finished seed (the columns of :data:`COLUMNS` and ``frames``), and the first run's config."""
    rows, config = [], {}
    for run in sorted(folder.glob("seed*"), key=lambda p: int(p.name[4:])):
        if not (run / "summary.json").is_file():
            continue
        progress = pd.read_csv(run / "progress.csv").dropna(subset=["valid_mean_return"])
        metrics = json.loads((run / "summary.json").read_text())["metrics"]
        last = progress.iloc[-1]
        rows.append(
            {
                "seed": int(run.name[4:]),
                "frames": int(last["frames"]),
                "valid_mean_return": last["valid_mean_return"],
                "valid_cvar_return": last["valid_cvar_return"],
                "mean_return": metrics["mean_return"],
                "cvar_return": metrics["cvar_return"],
            }
        )
        config = config or read_settings(run / "config.json")
    return pd.DataFrame(rows), config


def cell(values: pd.Series) -> str:
    per_seed = ", ".join(f"{v:.0f}" for v in values)
    if len(values) < 2:
        return per_seed
    return f"**{values.mean():.0f} ± {values.std(ddof=1):.0f}** ({per_seed})"


def table(variants: dict[str, Path], experiment: str, method: str) -> str:
    read = {label: read_variant(out / experiment / method) for label, out in variants.items()}
    reference = next(iter(read.values()))[1]
    lines = [
        "| variant | seeds | frames | " + " | ".join(label for _, label in COLUMNS) + " | settings |",
        "|---|---|---|" + "---|" * len(COLUMNS) + "---|",
    ]
    for label, (frame, config) in read.items():
        if frame.empty:
            lines.append(f"| {label} | none finished |" + " |" * (len(COLUMNS) + 2))
            continue
        changed = [
            f"{k}={config[k]}"
            for k in sorted(config)
            if k not in ("seed", "scale") and config.get(k) != reference.get(k)
        ]
        cells = [cell(frame[key]) for key, _ in COLUMNS]
        seeds = ",".join(str(s) for s in frame["seed"])
        lines.append(
            f"| {label} | {seeds} | {frame['frames'].max():.3g} | "
            + " | ".join(cells)
            + f" | {', '.join(changed) or '(reference)'} |"
        )
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", nargs="+", help="LABEL=OUT pairs, the first the reference for 'settings'")
    parser.add_argument("--experiment", default="half-cheetah-mass")
    parser.add_argument("--method", default="varibad")
    args = parser.parse_args(argv)
    variants = {}
    for pair in args.variants:
        label, sep, folder = pair.partition("=")
        if not sep or not Path(folder).is_dir():
            parser.error(f"expected LABEL=OUT with an existing folder OUT, got {pair!r}")
        variants[label] = Path(folder)
    print(table(variants, args.experiment, args.method))


if __name__ == "__main__":
    main()
