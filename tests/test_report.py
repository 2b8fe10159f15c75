"""roml.report on hand-built run folders: summary.csv, table.md (mean ± std, bold, unfinished runs), the PNG figures
and the clear errors for an empty folder or a corrupt summary."""

import json

import numpy as np
import pandas as pd
import pytest

from roml.experiments.registry import get_experiment
from roml.experiments.results import RunFolderError
from roml.experiments.samplers import history_frame
from roml.report import SUMMARY_COLUMNS, write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SINE_NAMES = ("amplitude", "phase", "frequency")
STEPS = range(6)
# (method, loss kind) -> (value at 1 step for seed 0, increase per seed); the loss halves with every step
LEVELS = {
    ("maml", "mean"): (0.5, 0.1),
    ("maml", "cvar"): (3.0, 0.2),
    ("roml", "mean"): (0.8, 0.1),
    ("roml", "cvar"): (2.0, 0.1),
    ("naive", "mean"): (0.7, 0.0),
    ("naive", "cvar"): (2.5, 0.0),
}
SEEDS = {"maml": (0, 1, 2), "roml": (0, 1, 2), "naive": (0,)}


def sine_metrics(method, seed):
    return {
        f"{kind}_loss@{step}": (LEVELS[method, kind][0] + LEVELS[method, kind][1] * seed) * 2.0 ** (1 - step)
        for kind in ("mean", "cvar")
        for step in STEPS
    }


def progress_frame(seed, n=20):
    iteration = np.arange(1, n + 1)
    return pd.DataFrame(
        {
            "iteration": iteration,
            "tasks": 20 * iteration,
            "wall_time": 0.1 * iteration,
            "steps_per_s": 10.0,
            "train_mean_loss": 3.0 / iteration + 0.01 * seed,
            "train_cvar_loss": 9.0 / np.sqrt(iteration) + 0.02 * seed,
            "trained_tasks": 20,
        }
    )


def sampler_frame(seed, n_updates):
    records = [
        {
            "update": u,
            "n_tasks": 200 * u,
            "phi": [0.5 + 0.4 * (1 - 0.5**u), 0.5, 0.5 + 0.1 * u / n_updates + 0.01 * seed],
            "reference_quantile": -3.0 + 0.1 * u,
            "internal_quantile": -4.0 + 0.1 * u,
            "threshold": -4.0 + 0.1 * u,
            "n_selected": 40,
            "sample_mean": -2.0 - 0.2 * u,
            "sample_cvar": -5.0 - 0.2 * u,
            "reference_mean": -1.0 + 0.05 * u,
            "reference_cvar": -4.0 + 0.1 * u,
        }
        for u in range(1, n_updates + 1)
    ]
    return history_frame(records, SINE_NAMES)


def write_run(root, method, seed, metrics, *, experiment="sine", n_updates=0, files=("progress", "sampler")):
    path = root / experiment / method / f"seed{seed}"
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"experiment": experiment, "method": method, "seed": seed}))
    if "progress" in files:
        progress_frame(seed).to_csv(path / "progress.csv", index=False)
    if "sampler" in files:
        sampler_frame(seed, n_updates).to_csv(path / "sampler.csv", index=False)
    summary = {
        "experiment": experiment,
        "method": method,
        "seed": seed,
        "scale": "smoke",
        "alpha": 0.05,
        "n_test_tasks": 300,
        "metrics": metrics,
    }
    (path / "summary.json").write_text(json.dumps(summary))
    return path


def build_sine(root, **kwargs):
    for method, seeds in SEEDS.items():
        for seed in seeds:
            n_updates = kwargs.get("n_updates", 4) if method == "roml" else 0
            write_run(root, method, seed, sine_metrics(method, seed), n_updates=n_updates, **kwargs.get("run", {}))
    unfinished = root / "sine" / "roml" / "seed3"
    unfinished.mkdir(parents=True)
    (unfinished / "config.json").write_text("{}")
    return root


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = build_sine(tmp_path_factory.mktemp("runs"))
    return root, write_report(root)


def test_returns_the_written_paths_in_order(report):
    root, paths = report
    names = [path.name for path in paths]
    assert names == ["summary.csv", "table.md", "sine_test_curves.png", "sine_sampler.png", "sine_training.png"]
    assert all(path.parent == root for path in paths)
    for path in paths[2:]:
        assert path.read_bytes().startswith(PNG_MAGIC)
        assert path.stat().st_size > 10_000


def test_summary_csv_is_long_with_every_metric_of_every_finished_run(report):
    root, _ = report
    summary = pd.read_csv(root / "summary.csv")
    assert tuple(summary.columns) == SUMMARY_COLUMNS
    assert len(summary) == 7 * 12  # 7 finished runs x 12 metrics; the unfinished roml/seed3 is left out
    assert set(summary["scale"]) == {"smoke"} and set(summary["experiment"]) == {"sine"}
    assert list(dict.fromkeys(summary["method"])) == ["maml", "roml", "naive"]  # the experiment's order
    one = summary.query("method == 'maml' and seed == 1 and metric == 'mean_loss@1'")["value"]
    assert one.tolist() == [pytest.approx(0.6)]
    five = summary.query("method == 'roml' and seed == 2 and metric == 'cvar_loss@5'")["value"]
    assert five.tolist() == [pytest.approx(2.2 / 16)]


def test_table_has_mean_std_bold_best_and_seed_counts(report):
    root, _ = report
    table = (root / "table.md").read_text()
    assert "## sine — Sine regression with MAML (Section 6.3, App. E) (scale smoke, 1-3 seeds per method)" in table
    assert "Test: 300 test tasks per run, α = 0.05." in table
    assert "| Method | Mean loss (1 step) | CVaR_0.05 loss (1 step) | Seeds |" in table
    # maml: 0.5, 0.6, 0.7 -> 0.6 ± 0.1 (best mean loss); roml: 2.0, 2.1, 2.2 -> 2.1 ± 0.1 (best CVaR loss)
    assert "| maml | **0.6000 ± 0.1000** | 3.200 ± 0.200 | 3 |" in table
    assert "| roml | 0.9000 ± 0.1000 | **2.100 ± 0.100** | 3 |" in table
    lines = table.splitlines()
    assert lines.index("| maml | **0.6000 ± 0.1000** | 3.200 ± 0.200 | 3 |") < lines.index(
        "| roml | 0.9000 ± 0.1000 | **2.100 ± 0.100** | 3 |"
    )


def test_settings_changed_from_the_preset_are_named_in_the_header(tmp_path):
    for seed in (0, 1):
        path = write_run(tmp_path, "maml", seed, sine_metrics("maml", seed))
        config = get_experiment("sine").config("maml", seed, "smoke", {"iterations": 90, "inner_lr": 0.02})
        (path / "config.json").write_text(json.dumps(config.to_dict()))
    write_report(tmp_path)
    table = (tmp_path / "table.md").read_text()
    assert "(scale smoke, with iterations=90 inner_lr=0.02, 2 seeds per method)" in table


def test_a_single_seed_shows_the_value_alone(report):
    root, _ = report
    table = (root / "table.md").read_text()
    assert "| naive | 0.7000 | 2.500 | 1 |" in table
    assert not [line for line in table.splitlines() if line.startswith("| naive") and "±" in line]


def test_table_shows_every_metric_family_and_the_unfinished_run(report):
    root, _ = report
    table = (root / "table.md").read_text()
    assert "### mean_loss@x" in table and "### cvar_loss@x" in table
    assert "| Method | x = 0 | x = 1 | x = 2 | x = 3 | x = 4 | x = 5 | Seeds |" in table
    # cvar after 0 steps: maml 6.4 ± 0.4, roml 4.2 ± 0.2 (bold: lower is better, from the table metrics)
    assert "| roml | **4.200 ± 0.200** |" in table
    assert "| maml | 6.400 ± 0.400 |" in table
    assert "Unfinished (skipped): roml/seed3." in table
    assert "Figures: sine_test_curves.png, sine_sampler.png, sine_training.png." in table


@pytest.mark.parametrize("phi0_line", [0.5, {"amplitude": 0.5, "frequency": 0.5}])
def test_optional_experiment_attributes_label_the_report(tmp_path, monkeypatch, phi0_line):
    from roml.experiments.sine import SineExperiment

    monkeypatch.setattr(SineExperiment, "curve_xlabel", "inner gradient steps at test time", raising=False)
    monkeypatch.setattr(SineExperiment, "phi0_line", phi0_line, raising=False)
    monkeypatch.setattr(SineExperiment, "score_label", "minus the query loss", raising=False)
    paths = write_report(build_sine(tmp_path))
    table = (tmp_path / "table.md").read_text()
    assert "### mean_loss@x (x = inner gradient steps at test time)" in table
    assert "sine_sampler.png" in [path.name for path in paths]


def test_no_sampler_figure_without_cem_rows_and_missing_csv_files_are_skipped(tmp_path):
    build_sine(tmp_path, n_updates=0, run={"files": ()})
    names = [path.name for path in write_report(tmp_path)]
    assert names == ["summary.csv", "table.md", "sine_test_curves.png"]


def test_an_unregistered_experiment_is_reported_generically(tmp_path):
    for seed, (mean, cvar) in enumerate([(10.0, 2.0), (12.0, 4.0)]):
        write_run(tmp_path, "baseline", seed, {"mean_return": mean, "cvar_return": cvar}, experiment="toy")
    write_run(tmp_path, "roml", 0, {"mean_return": 11.0, "cvar_return": 5.0}, experiment="toy", n_updates=3)
    paths = write_report(tmp_path)
    table = (tmp_path / "table.md").read_text()
    assert "## toy — not a registered experiment (scale smoke, 1-2 seeds per method)" in table
    assert "| Method | mean_return | cvar_return | Seeds |" in table
    assert "| baseline | 11.00 ± 1.41 | 3.000 ± 1.414 | 2 |" in table
    assert "| roml | 11.00 | 5.000 | 1 |" in table
    assert "**" not in table.split("| Method")[1]  # no direction known: nothing in bold
    assert [path.name for path in paths] == ["summary.csv", "table.md", "toy_sampler.png", "toy_training.png"]


def test_missing_or_empty_folder_has_no_finished_runs(tmp_path):
    with pytest.raises(ValueError, match="^no finished runs in .*missing$"):
        write_report(tmp_path / "missing")
    with pytest.raises(ValueError, match="^no finished runs in "):
        write_report(tmp_path)
    (tmp_path / "sine" / "roml" / "seed0").mkdir(parents=True)
    (tmp_path / "sine" / "roml" / "seed0" / "config.json").write_text("{}")
    with pytest.raises(ValueError, match="^no finished runs in "):
        write_report(tmp_path)
    assert not (tmp_path / "table.md").exists()


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"metrics": {"mean_loss@1": 0.5', "unreadable or corrupt"),
        ('{"experiment": "sine"}', "no 'metrics' object"),
        ('{"metrics": {"mean_loss@1": "NaN"}}', "must be a finite number"),
        ('{"metrics": {"mean_loss@1": NaN}}', "must be a finite number"),
    ],
)
def test_a_corrupt_summary_names_its_file_and_nothing_is_written(tmp_path, content, message):
    write_run(tmp_path, "maml", 0, sine_metrics("maml", 0))
    bad = write_run(tmp_path, "roml", 0, sine_metrics("roml", 0)) / "summary.json"
    bad.write_text(content)
    with pytest.raises(RunFolderError, match=message) as error:
        write_report(tmp_path)
    assert isinstance(error.value, ValueError)
    assert str(bad) in str(error.value)
    assert not (tmp_path / "summary.csv").exists() and not (tmp_path / "table.md").exists()


def test_rerunning_the_report_overwrites_its_files(report):
    root, paths = report
    again = write_report(root)
    assert again == paths
    assert not list(root.glob(".*.tmp"))
