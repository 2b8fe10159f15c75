"""The khazad-dum experiment end to end at smoke scale: CLI and report, determinism, resume after SIGKILL."""

import pandas as pd
import pytest

from roml.cli import main
from roml.experiments.registry import get_experiment
from roml.experiments.results import RunDir
from roml.experiments.runner import train
from test_experiments import kill_at_the_first_checkpoint

PATH_COLUMNS = ("path_0", "path_1")


def test_smoke_reproduction_and_report_through_the_cli(tmp_path):
    out = tmp_path / "runs"
    args = ["reproduce", "khazad-dum", "--scale", "smoke", "--seeds", "1", "--out", str(out), "--workers", "2"]
    assert main([*args, "--no-progress"]) == 0
    experiment = get_experiment("khazad-dum")
    for method in experiment.methods:
        run = RunDir(out, "khazad-dum", method, 0)
        summary = run.read_summary()
        metrics = summary["metrics"]
        assert summary["n_test_tasks"] == 100 and summary["alpha"] == 0.01
        assert -1.2 < metrics["cvar_return"] <= metrics["mean_return"] < 0.2
        assert all(0 <= metrics[path] <= 1 for path in ("short", "long", "fell", "reached_goal"))
        test = pd.read_csv(run.test_file)
        assert len(test) == 100 and set(PATH_COLUMNS) <= set(test.columns)
        assert ((test["return_0"] + test["return_1"]) / 2 - test["task_return"]).abs().max() < 1e-9
        episodes = pd.read_csv(run.path / "episodes.csv")
        assert len(episodes) == 2 * 2 * 33  # 2 rainiest tasks x 2 episodes x (start + 32 steps)
        assert episodes["tau"].min() >= test["tau"].nlargest(2).min()
        progress = pd.read_csv(run.progress_file)
        assert len(progress) == 12 and progress["valid_cvar_return"].notna().sum() == 3
    assert len(pd.read_csv(RunDir(out, "khazad-dum", "roml", 0).sampler_file)) == 12 * 8 // 16
    assert not (out / "khazad-dum" / "cesor").exists()  # a reference runs only when named
    assert main(["report", str(out)]) == 0
    table = (out / "table.md").read_text()
    assert "CVaR_0.01 return" in table and "Long path" in table
    for figure in ("test_curves", "sampler", "training", "episodes"):
        assert (out / f"khazad-dum_{figure}.png").stat().st_size > 10_000


def test_same_seed_gives_identical_results(tmp_path):
    for folder in ("a", "b"):
        train("khazad-dum", "cvar-ml", 5, "smoke", tmp_path / folder, progress=False)
    a, b = (RunDir(tmp_path / f, "khazad-dum", "cvar-ml", 5) for f in ("a", "b"))
    for name in ("summary.json", "test.csv", "sampler.csv", "episodes.csv"):
        assert (a.path / name).read_bytes() == (b.path / name).read_bytes(), name
    timing = ["wall_time", "steps_per_s"]
    pd.testing.assert_frame_equal(
        pd.read_csv(a.progress_file).drop(columns=timing), pd.read_csv(b.progress_file).drop(columns=timing)
    )


@pytest.mark.parametrize("method", ["roml", "cesor", "paired"])
def test_a_run_killed_with_sigkill_resumes_to_the_uninterrupted_result(tmp_path, method):
    overrides = {"checkpoint_every": 2}
    reference = train("khazad-dum", method, 1, "smoke", tmp_path / "reference", progress=False, overrides=overrides)
    out = tmp_path / "killed"
    run = kill_at_the_first_checkpoint("khazad-dum", method, 1, out, overrides)
    resumed = train("khazad-dum", method, 1, "smoke", out, progress=False, overrides=overrides)
    assert resumed == reference
    reference_run = RunDir(tmp_path / "reference", "khazad-dum", method, 1)
    for name in ("test.csv", "sampler.csv", "episodes.csv"):
        assert (run.path / name).read_bytes() == (reference_run.path / name).read_bytes(), name


def test_cesor_is_a_reference_run_by_plain_ppo_under_the_cesor_sampler():
    from roml.experiments.samplers import make_sampler
    from roml.samplers import CeSoRSampler

    experiment = get_experiment("half-cheetah-mass")
    assert "cesor" in experiment.reference_methods and "cesor" not in experiment.methods
    config = experiment.config("cesor", 0, "quick")
    assert config.varibad.belief is False and experiment.config("roml", 0, "quick").varibad.belief is True
    assert experiment.config("paired", 0, "quick").varibad.belief is False
    assert experiment.config("cesor", 0, "quick", {"varibad.belief": True}).varibad.belief is True  # users may
    sampler = make_sampler(config, experiment.task_family(), 0, baseline="varibad")
    assert isinstance(sampler, CeSoRSampler) and sampler.total_batches == config.iterations
    assert (sampler.alpha, sampler.beta, sampler.nu, sampler.weight_clip) == (0.05, 0.2, 0.2, 5.0)
    assert sampler.batch_size == config.sampler.cem_batch_size
