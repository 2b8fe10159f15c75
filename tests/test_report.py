"""roml.report on hand-built run folders: summary.csv, table.md (mean ± std and ± standard error, bold, unfinished
runs; each method against the baseline: the per-seed CVaR differences with a paired t-test and the validation-CVaR
lead over training), the PNG figures and the clear errors for an empty folder or a corrupt summary."""

import json
import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from roml.experiments.registry import get_experiment
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
    assert "(scale smoke, with maml.inner_lr=0.02 loop.iterations=90, 2 seeds per method)" in table


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
def test_a_corrupt_summary_is_named_and_its_run_left_out(tmp_path, content, message):
    write_run(tmp_path, "maml", 0, sine_metrics("maml", 0))
    bad = write_run(tmp_path, "roml", 0, sine_metrics("roml", 0)) / "summary.json"
    bad.write_text(content)
    skipped = []
    write_report(tmp_path, skipped)
    assert len(skipped) == 1 and str(bad) in skipped[0] and message in skipped[0] and "left out" in skipped[0]
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert set(summary["method"]) == {"maml"}
    table = (tmp_path / "table.md").read_text()
    assert "## Files not read" in table and str(bad) in table


def test_only_corrupt_summaries_is_no_finished_runs_and_names_one(tmp_path):
    bad = write_run(tmp_path, "roml", 0, sine_metrics("roml", 0)) / "summary.json"
    bad.write_text("{")
    with pytest.raises(ValueError, match=f"no finished runs in .*1 unreadable: {bad}"):
        write_report(tmp_path)
    assert not (tmp_path / "table.md").exists()


@pytest.mark.parametrize(
    ("damage", "note", "rows"),
    [
        (lambda text: "", "is empty; skipped", None),
        (lambda text: text[: len(text) - 9], "torn line", 19),
        (lambda text: text.replace("\n5,", "\n5,1,2,3,4,5,6,7,8,9,", 1), "is corrupt", None),
        (lambda text: b"\xff\xfe\x00garbage\n", "is unreadable", None),
    ],
    ids=["empty", "torn", "extra-fields", "garbled"],
)
def test_a_damaged_progress_csv_is_named_and_the_rest_reported(tmp_path, damage, note, rows):
    from roml.report import reading as report_module

    for seed in (0, 1):
        write_run(tmp_path, "maml", seed, sine_metrics("maml", seed))
    progress = tmp_path / "sine" / "maml" / "seed1" / "progress.csv"
    damaged = damage(progress.read_text())
    progress.write_bytes(damaged if isinstance(damaged, bytes) else damaged.encode())
    skipped = []
    paths = write_report(tmp_path, skipped)
    assert len(skipped) == 1 and str(progress) in skipped[0] and note in skipped[0]
    assert tmp_path / "sine_training.png" in paths
    reader = report_module._Reader()
    frame = reader.csv(progress)
    assert (None if frame is None else len(frame)) == rows
    if rows is not None:  # the torn row is dropped, the whole rows are kept as written
        pd.testing.assert_frame_equal(frame, progress_frame(1).iloc[:rows])


def test_the_report_command_prints_each_skipped_file_on_one_line(tmp_path, capsys):
    from roml.cli import main

    write_run(tmp_path, "maml", 0, sine_metrics("maml", 0))
    (tmp_path / "sine" / "maml" / "seed0" / "sampler.csv").write_text("")
    assert main(["report", str(tmp_path)]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"roml: skipped: {tmp_path / 'sine' / 'maml' / 'seed0' / 'sampler.csv'} is empty; skipped"]


def test_rerunning_the_report_overwrites_its_files(report):
    root, paths = report
    again = write_report(root)
    assert again == paths
    assert not list(root.glob(".*.tmp"))


# --- each method against the baseline: standard errors, paired differences, validation lead -----------------------

FRAMES_PER_ITERATION = 6400
# final test CVaR_0.05 return per seed; roml/seed3 is unfinished and cvar-ml has one seed
CVAR = {"varibad": (600.0, 640.0, 620.0, 660.0), "roml": (650.0, 630.0, 700.0), "cvar-ml": (500.0,)}
VALID_DEV = (0.0, 3.0, -3.0, 6.0)  # roml's per-seed deviation of the validation CVaR
ITERATIONS = {"varibad": 100, "roml": 100, "cvar-ml": 100}
UNFINISHED_ITERATIONS = 40  # roml/seed3's progress so far


def valid_cvar(method, seed, frames):
    """varibad: 500 + frames/1000 + 7 seed; roml 20 lower at the start, gaining 0.2 per 1000 frames, plus a per-seed
    deviation; cvar-ml 50 lower than varibad throughout."""
    base = 500.0 + frames / 1000 + 7 * seed
    return {"varibad": base, "roml": base - 20 + 0.2 * frames / 1000 + VALID_DEV[seed], "cvar-ml": base - 50}[method]


def mujoco_progress(method, seed, iterations):
    """progress.csv as VariBAD writes it: one row per iteration, the valid_* columns every 5th iteration (NaN
    otherwise)."""
    iteration = np.arange(1, iterations + 1)
    frames = FRAMES_PER_ITERATION * iteration
    valid = np.where(iteration % 5 == 0, [valid_cvar(method, seed, f) for f in frames], np.nan)
    return pd.DataFrame(
        {
            "iteration": iteration,
            "frames": frames,
            "train_cvar_return": 1.0,
            "valid_mean_return": valid + 300,
            "valid_cvar_return": valid,
        }
    )


def build_mujoco(root, cvar=CVAR):
    for method, values in cvar.items():
        for seed, value in enumerate(values):
            path = write_run(
                root,
                method,
                seed,
                {"mean_return": value + 300, "cvar_return": value},
                experiment="half-cheetah-mass",
                files=(),
            )
            mujoco_progress(method, seed, ITERATIONS[method]).to_csv(path / "progress.csv", index=False)
    if len(cvar.get("roml", ())) == 3:
        unfinished = root / "half-cheetah-mass" / "roml" / "seed3"
        unfinished.mkdir(parents=True)
        (unfinished / "config.json").write_text("{}")
        mujoco_progress("roml", 3, UNFINISHED_ITERATIONS).to_csv(unfinished / "progress.csv", index=False)
    return root


@pytest.fixture(scope="module")
def mujoco_table(tmp_path_factory):
    root = build_mujoco(tmp_path_factory.mktemp("mujoco"))
    write_report(root)
    return (root / "table.md").read_text()


def section(table, heading):
    """The lines of ``table`` from the ``### <heading>...`` line to the next blank line after its table."""
    lines = table.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"### {heading}"))
    end = next(i for i in range(start + 4, len(lines)) if lines[i].startswith("|") and not lines[i + 1])
    return lines[start : end + 1]


def row(lines, first):
    """The cells of the table row whose first cell is ``first``."""
    line = next(line for line in lines if line.startswith(f"| {first} |"))
    return [cell.strip() for cell in line.strip().strip("|").split("|")][1:]


def numbers(cell):
    """The numbers in a table cell: ``+0.7000 ± 1.9365 (4)`` -> ``[0.7, 1.9365, 4.0]``."""
    return [float(x) for x in re.findall(r"[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?", cell)]


def test_the_main_table_is_also_given_with_standard_errors(mujoco_table):
    # varibad's CVaR: 600, 640, 620, 660 -> mean 630, std 25.82, standard error 25.82 / 2 = 12.91
    assert "| varibad | 930.0 ± 25.8 | 630.0 ± 25.8 | 4 |" in mujoco_table
    sem = section(mujoco_table, "Mean ± standard error over seeds")
    assert "Cells: mean ± standard error of the mean over seeds (std / √seeds" in sem[2]
    assert "| varibad | 930.0 ± 12.9 | 630.0 ± 12.9 | 4 |" in sem
    assert "| roml | **960.0 ± 20.8** | **660.0 ± 20.8** | 3 |" in sem  # 650, 630, 700: std 36.06 / √3
    assert "| cvar-ml | 800.0 | 500.0 | 1 |" in sem


def test_paired_differences_of_the_final_cvar_with_a_paired_t_test(mujoco_table):
    lines = section(mujoco_table, "CVaR_0.05 return: each method − varibad, paired by seed")
    assert "d > 0 favours the method" in lines[2] and "scipy.stats.ttest_rel" in lines[2]
    assert lines[4] == "| Seed | cvar-ml − varibad | roml − varibad |"  # the experiment's order
    d = np.array(CVAR["roml"]) - np.array(CVAR["varibad"][:3])  # roml/seed3 unfinished: 3 pairs
    assert [row(lines, seed) for seed in range(3)] == [["-100.0", "+50.00"], ["–", "-10.00"], ["–", "+80.00"]]
    assert not [line for line in lines if line.startswith("| 3 |")]  # no finished pair on seed 3
    assert row(lines, "**mean d**") == ["**-100.0**", "**+40.00**"]
    t = d.mean() / (d.std(ddof=1) / np.sqrt(d.size))
    assert row(lines, "t") == ["needs ≥ 2 pairs", f"{t:.3f}"]
    p = 2 * stats.t.sf(abs(t), df=d.size - 1)
    assert float(row(lines, "p (two-sided)")[1]) == pytest.approx(p, rel=1e-2)
    assert row(lines, "p (two-sided)")[0] == "–"
    assert row(lines, "pairs") == ["1", "3"]


def test_the_validation_lead_over_training_is_paired_by_seed_and_thinned(mujoco_table):
    lines = section(mujoco_table, "Validation lead over varibad during training (`valid_cvar_return`")
    assert "nearest each multiple of 5e4, and the last" in lines[2] and "finished or not" in lines[2]
    assert "Unfinished runs included: roml/seed3." in lines[2]
    assert lines[4] == "| frames | cvar-ml − varibad | roml − varibad |"
    # validation every 5 x 6400 = 32000 frames, 20 points up to 640000: the points nearest 50000, 100000, ..., 600000
    # and the last one
    points = np.arange(1, 21) * 32_000
    targets = 50_000 * np.arange(1, 13)
    expected = sorted({int(points[np.argmin(abs(points - t))]) for t in targets} | {640_000})
    body = lines[6:]
    assert [int(float(line.split(" | ")[0].strip("| "))) for line in body] == expected
    for line, frames in zip(body, expected):
        cvar_ml, roml = line.strip("|").split(" | ")[1:]
        assert numbers(cvar_ml) == [pytest.approx(-50.0), 1.0]  # one pair: the mean alone, then the count
        seeds = range(4) if frames <= UNFINISHED_ITERATIONS * FRAMES_PER_ITERATION else range(3)
        lead = np.array([valid_cvar("roml", s, frames) - valid_cvar("varibad", s, frames) for s in seeds])
        mean, sem, pairs = numbers(roml)
        assert mean == pytest.approx(lead.mean(), abs=0.051)  # four significant digits: 101.6, 88.80
        assert sem == pytest.approx(lead.std(ddof=1) / np.sqrt(lead.size), abs=0.051)  # at the mean's decimals
        assert pairs == lead.size
    assert "| 9.6e4 | -50.00 (1) | +0.7000 ± 1.9365 (4) |" in body  # -20 + 19.2 + mean(0, 3, -3, 6)


def test_with_one_pair_the_t_test_says_it_needs_two(tmp_path):
    build_mujoco(tmp_path, {"varibad": (600.0,), "roml": (650.0,)})
    write_report(tmp_path)
    lines = section((tmp_path / "table.md").read_text(), "CVaR_0.05 return: each method − varibad")
    assert row(lines, "0") == ["+50.00"]
    assert row(lines, "t") == ["needs ≥ 2 pairs"] and row(lines, "p (two-sided)") == ["–"]
    assert row(lines, "pairs") == ["1"]
    lead = section((tmp_path / "table.md").read_text(), "Validation lead over varibad")
    assert row(lead, "6.4e4") == ["-7.200 (1)"]  # -20 + 0.2 x 64


def test_constant_differences_have_no_t_statistic(tmp_path):
    build_mujoco(tmp_path, {"varibad": (600.0, 610.0), "roml": (620.0, 630.0)})
    write_report(tmp_path)
    lines = section((tmp_path / "table.md").read_text(), "CVaR_0.05 return: each method − varibad")
    assert row(lines, "t") == ["undefined (d constant)"] and row(lines, "pairs") == ["2"]


def test_sine_compares_with_maml_and_has_no_validation_lead(report):
    root, _ = report
    table = (root / "table.md").read_text()
    lines = section(table, "CVaR_0.05 loss (1 step): each method − maml, paired by seed")
    assert "lower is better, so d < 0 favours the method" in lines[2]
    assert lines[4] == "| Seed | roml − maml | naive − maml |"
    assert row(lines, "**mean d**") == ["**-1.100**", "**-0.5000**"]  # roml 2.0, 2.1, 2.2 vs maml 3.0, 3.2, 3.4
    assert "Validation lead" not in table  # sine's progress.csv has no valid_* column


def test_no_comparison_without_a_baseline_run(tmp_path):
    build_mujoco(tmp_path, {"roml": (650.0, 630.0)})
    write_report(tmp_path)
    table = (tmp_path / "table.md").read_text()
    assert "paired by seed" not in table and "Validation lead" not in table


def test_lead_points_show_every_point_up_to_15_and_thin_longer_runs():
    from roml.report.tables import _lead_points

    few = np.arange(1, 16) * 320_000.0
    assert _lead_points(few)[0].tolist() == few.tolist()
    paper = np.append(np.arange(1, 94) * 320_000.0, 30_003_200.0)  # HalfCheetah: every 50 x 6400 frames, 3e7
    points, rule = _lead_points(paper)
    assert rule == "the validation point nearest each multiple of 2.5e6, and the last"
    # 2.5e6, 5e6, ..., 3e7 (the last point is the nearest to 3e7)
    assert len(points) == 12 and points[0] == 2_560_000 and points[-1] == 30_003_200


def test_a_table_of_runs_from_different_versions_says_so_in_its_header(tmp_path):
    versions = {"roml": "0.1.0", "python": "3.11.7", "numpy": "2.4.6", "cpu": "AMD EPYC"}
    for seed, numpy in ((0, "2.4.6"), (1, "2.4.6"), (2, "2.3.0")):
        path = write_run(tmp_path, "maml", seed, sine_metrics("maml", seed))
        (path / "versions.json").write_text(json.dumps({"sessions": [{**versions, "numpy": numpy}]}))
    write_report(tmp_path)
    table = (tmp_path / "table.md").read_text()
    assert "**Mixed versions**" in table and "numpy: 2.3.0 (1 run), 2.4.6 (2 runs)" in table
    assert "python:" not in table.split("**Mixed versions**")[1].splitlines()[0]
    (tmp_path / "sine" / "maml" / "seed2" / "versions.json").write_text(json.dumps({"sessions": [versions]}))
    write_report(tmp_path)
    assert "Mixed versions" not in (tmp_path / "table.md").read_text()


def test_a_damaged_test_csv_costs_its_figure_not_the_report(tmp_path):
    root = build_mujoco(tmp_path)
    (root / "half-cheetah-mass" / "roml" / "seed0" / "test.csv").write_text("a,b\n1,2\n")  # no task columns
    paths = write_report(root)
    table = (root / "table.md").read_text()
    assert "- half-cheetah-mass_task_ranges.png not drawn: KeyError" in table.split("## Files not read")[1]
    assert "CVaR_0.05 return" in table and root / "half-cheetah-mass_training.png" in paths
    assert not (root / "half-cheetah-mass_task_ranges.png").exists()
