"""The MuJoCo experiments with VariBAD at smoke scale: the CLI reproduction and report of half-cheetah-mass, one
run per robot family, resume after an interruption, and the experiments' settings."""

import json

import numpy as np
import pandas as pd
import pytest

from roml.algos.varibad.config import PRESETS
from roml.cli import main
from roml.experiments.registry import experiment_names, get_experiment
from roml.experiments.results import RunDir
from roml.experiments.runner import train
from roml.report.experiment_figures import _range_labels
from roml.tasks import LogBetaBox, PolarDisc

MUJOCO = (
    "half-cheetah-vel",
    "half-cheetah-mass",
    "half-cheetah-body",
    "half-cheetah-10d-a",
    "half-cheetah-10d-b",
    "half-cheetah-10d-c",
    "humanoid-vel",
    "humanoid-mass",
    "humanoid-body",
    "ant-goal",
    "ant-mass",
    "ant-body",
)


def check_run(run: RunDir, n_test: int, columns: tuple[str, ...]) -> dict:
    summary = run.read_summary()
    metrics = summary["metrics"]
    assert summary["n_test_tasks"] == n_test and summary["alpha"] == 0.05
    assert metrics["cvar_return"] <= metrics["mean_return"]
    test = pd.read_csv(run.test_file)
    assert list(test.columns) == [*columns, "return_0", "return_1", "task_return"] and len(test) == n_test
    np.testing.assert_allclose((test["return_0"] + test["return_1"]) / 2, test["task_return"], rtol=1e-12)
    np.testing.assert_allclose(test["task_return"].mean(), metrics["mean_return"], rtol=1e-12)
    return metrics


def test_smoke_reproduction_and_report_through_the_cli(tmp_path):
    out = tmp_path / "runs"
    args = ["reproduce", "half-cheetah-mass", "--scale", "smoke", "--seeds", "1", "--out", str(out), "--workers", "2"]
    assert main([*args, "--no-progress"]) == 0
    for method in get_experiment("half-cheetah-mass").methods:
        run = RunDir(out, "half-cheetah-mass", method, 0)
        check_run(run, 20, ("mass",))
        progress = pd.read_csv(run.progress_file)
        assert list(progress["frames"]) == [1600, 3200, 4800] and progress["valid_cvar_return"].notna().sum() == 1
        assert progress["policy_loss"].notna().all()  # 800 precollected frames: every iteration trains
    roml = RunDir(out, "half-cheetah-mass", "roml", 0)
    sampler = pd.read_csv(roml.sampler_file)
    assert len(sampler) == 12 // 8 and sampler["phi_mass"].between(0.02, 0.98).all()
    assert main(["report", str(out)]) == 0
    table = (out / "table.md").read_text()
    assert "CVaR_0.05 return" in table and "| roml |" in table and "best-valid-CVaR model" in table
    for figure in ("test_curves", "sampler", "training", "task_ranges"):
        assert (out / f"half-cheetah-mass_{figure}.png").stat().st_size > 10_000, figure


@pytest.mark.parametrize(
    "experiment, method, columns",
    [
        ("humanoid-vel", "cvar-ml", ("velocity",)),
        ("ant-goal", "roml", ("goal_x", "goal_y")),
    ],
)
def test_one_smoke_run_per_robot(tmp_path, experiment, method, columns):
    train(experiment, method, 0, "smoke", tmp_path, progress=False)
    run = RunDir(tmp_path, experiment, method, 0)
    check_run(run, 8, columns)
    config = json.loads(run.config_file.read_text())
    robot = "humanoid" if experiment.startswith("humanoid") else "ant"
    assert config["varibad"]["action_map"] == PRESETS[robot]["action_map"]
    assert config["varibad"]["policy_init"] == "orthogonal" and config["varibad"]["anneal_lr"]


def test_an_interrupted_run_resumes_to_the_uninterrupted_result(tmp_path):
    experiment = get_experiment("half-cheetah-10d-b")
    overrides = {"cem_batch_size": 4, "eval_every": 1}  # best-validation models are kept across the interruption
    config = experiment.config("roml", 3, "smoke", overrides)
    reference = train(
        "half-cheetah-10d-b", "roml", 3, "smoke", tmp_path / "reference", progress=False, overrides=overrides
    )

    class Interrupt(Exception):
        pass

    def stop_in_the_last_iteration(done, total):
        if done >= 3 * config.frames_per_iteration:  # after iteration 3 (the last), before its checkpoint
            assert run.checkpoint_file.exists()  # written after iteration 2
            raise Interrupt

    run = RunDir(tmp_path / "interrupted", "half-cheetah-10d-b", "roml", 3)
    run.prepare(config.to_dict())
    with pytest.raises(Interrupt):
        experiment.run(config, run, stop_in_the_last_iteration)
    assert run.checkpoint_file.exists() and not run.is_finished()
    resumed = experiment.run(config, run, lambda done, total: None)
    assert resumed == reference
    reference_run = RunDir(tmp_path / "reference", "half-cheetah-10d-b", "roml", 3)
    for name in ("test.csv", "test_best_mean.csv", "test_best_cvar.csv", "sampler.csv"):
        assert (run.path / name).read_bytes() == (reference_run.path / name).read_bytes(), name
    timing = ["wall_time", "steps_per_s"]
    pd.testing.assert_frame_equal(
        pd.read_csv(run.progress_file).drop(columns=timing),
        pd.read_csv(reference_run.progress_file).drop(columns=timing),
    )
    assert len(pd.read_csv(run.sampler_file)) == 3  # 12 tasks, a CEM update every 4


def test_the_best_validation_models_are_the_ones_tested(tmp_path):
    """With a validation after every iteration, each best model is the one saved at its criterion's arg-max in
    ``progress.csv``, its test table gives its summary metrics, and a best model that is the final one tests
    identically to it."""
    train("half-cheetah-mass", "varibad", 1, "smoke", tmp_path, progress=False, overrides={"eval_every": 1})
    run = RunDir(tmp_path, "half-cheetah-mass", "varibad", 1)
    metrics = run.read_summary()["metrics"]
    progress = pd.read_csv(run.progress_file)
    assert progress["valid_cvar_return"].notna().all()
    for criterion in ("mean", "cvar"):
        valid = progress[f"valid_{criterion}_return"]
        assert metrics[f"best_{criterion}_model_frames"] == progress["frames"][valid.idxmax()]
        test = pd.read_csv(run.model_file("test", f"best_{criterion}"))
        assert len(test) == 20
        np.testing.assert_allclose(
            test["task_return"].mean(), metrics[f"best_{criterion}_model_mean_return"], rtol=1e-12
        )
        assert metrics[f"best_{criterion}_model_cvar_return"] == pytest.approx(np.sort(test["task_return"])[0])
        if metrics[f"best_{criterion}_model_frames"] == progress["frames"].iloc[-1]:
            assert run.model_file("test", f"best_{criterion}").read_bytes() == run.test_file.read_bytes()
        else:
            assert metrics[f"best_{criterion}_model_mean_return"] != metrics["mean_return"]
    assert not get_experiment("khazad-dum").config("roml", 0, "smoke").eval.test_best_valid  # KD reports the final


def test_the_twelve_experiments_carry_their_robots_settings():
    assert [name for name in experiment_names() if name not in ("sine", "khazad-dum")] == list(MUJOCO)
    frames = {
        "half-cheetah-vel": 3e7,
        "half-cheetah-body": 6e7,
        "half-cheetah-10d-c": 8e7,
        "humanoid-mass": 3e7,
        "humanoid-body": 6e7,
        "ant-goal": 1e8,
        "ant-body": 7e7,
    }
    for name, expected in frames.items():
        assert get_experiment(name).config("varibad", 0, "paper").loop.frames == expected, name
    hc = get_experiment("half-cheetah-mass").config("roml", 0, "paper")
    s = hc.sampler
    assert (s.alpha, s.beta, s.nu, s.soft_update, s.cem_batch_size) == (0.05, 0.2, 0.2, 0.5, 128)
    assert (hc.varibad.num_envs, hc.frames_per_iteration, hc.iterations, hc.eval.n_test_tasks) == (16, 6400, 4688, 1000)
    assert get_experiment("half-cheetah-10d-a").config("roml", 0, "paper").sampler.cem_batch_size == 512
    humanoid = get_experiment("humanoid-body").config("roml", 0, "quick")
    v = humanoid.varibad
    assert (v.policy_layers, v.action_map, humanoid.frames_per_iteration) == ((512, 256), "tanh", 12800)
    assert humanoid.varibad_config().total_iterations == humanoid.iterations  # what the learning rate anneals over
    ant = get_experiment("ant-mass").config("varibad", 0, "paper").varibad
    assert (ant.num_envs, ant.ppo_clip, ant.vae_subsample_elbos, ant.tbptt) == (8, 0.05, 100, None)
    assert get_experiment("ant-body").config("varibad", 0, "paper").varibad.vae_subsample_decodes is None
    quick = get_experiment("ant-body").config("varibad", 0, "quick")  # decoding all pairs is too slow on a CPU
    v = quick.varibad
    assert (quick.loop.frames, v.vae_subsample_elbos, v.vae_subsample_decodes) == (1_000_000, 100, 100)
    assert get_experiment("half-cheetah-vel").config("varibad", 0, "quick").loop.frames == 3_000_000
    assert get_experiment("ant-goal").phi_names == ("radius", "angle")
    with pytest.raises(ValueError, match="ant-goal has no setting 'bogus'"):
        get_experiment("ant-goal").config("roml", 0, "smoke", {"bogus": 1})
    with pytest.raises(ValueError, match="cannot override"):
        get_experiment("ant-goal").config("roml", 0, "smoke", {"seed": 1})
    with pytest.raises(ValueError, match="varibad.total_iterations is not a run setting"):
        get_experiment("ant-goal").config("roml", 0, "smoke", {"varibad.total_iterations": 5})
    with pytest.raises(ValueError, match="ppo_clip"):
        get_experiment("ant-goal").config("roml", 0, "smoke", {"ppo_clip": -1.0})


def test_half_cheetah_experiments_use_the_authors_gae_observation_and_mass_physics(tmp_path, capsys):
    for name in MUJOCO:
        config = get_experiment(name).config("varibad", 0, "quick")
        assert config.varibad.episode_ends == "truncate" and config.varibad.kl_reduction == "mean", name
        mass = name.endswith(("-mass", "-body"))
        observation = "authors" if name.startswith("half-cheetah") else None
        assert (config.env.observation, config.env.mass_physics) == (observation, "authors" if mass else None), name
    experiment = get_experiment("half-cheetah-body")
    config = experiment.config("varibad", 0, "smoke", {"env.observation": "v5", "mass_physics": "density"})
    assert experiment.make_env(2, config).single_observation_space.shape == (17,)
    env = experiment.make_env(2, experiment.config("varibad", 0, "smoke"))
    assert env.single_observation_space.shape == (20,) and env.envs[0].mass_physics == "authors"
    for args, message in (
        (["half-cheetah-mass", "--set", "observation=full"], "observation must be one of"),
        (["half-cheetah-vel", "--set", "mass_physics=authors"], "has no option mass_physics"),
        (["humanoid-mass", "--set", "observation=authors"], "has no option observation"),
        (["ant-goal", "--set", "mass_physics=authors"], "has no option mass_physics"),
        (["half-cheetah-mass", "--set", "episode_ends=never"], "episode_ends must be"),
    ):
        assert main(["train", *args, "--scale", "smoke", "--out", str(tmp_path)]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err
    assert not any(tmp_path.iterdir())  # refused before any run folder


def test_task_ranges_are_labelled_in_task_units():
    mass = LogBetaBox(-1.0, 1.0, ("mass",))
    name, labels = _range_labels(mass, 0, np.linspace(0, 1, 5))
    assert name == "mass" and labels == ["0.5-0.707", "0.707-1", "1-1.41", "1.41-2"]
    disc = PolarDisc(5.0, ("goal_x", "goal_y"))
    assert _range_labels(disc, 0, np.array([0.0, 0.25, 1.0])) == ("goal radius", ["0-2.5", "2.5-5"])
    assert _range_labels(disc, 1, np.array([0.0, 0.5, 1.0])) == ("goal angle (degrees)", ["0-180", "180-360"])
