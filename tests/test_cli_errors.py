"""Every bad setting and every operating-system error ends a command with one line, and writes nothing."""

import numpy as np
import pytest

from roml.cli import main
from roml.envs.khazad_dum import KhazadDumEnv, KhazadDumVecEnv
from roml.experiments.registry import get_experiment
from roml.experiments.runner import train


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("roml: error: ") and len(err.splitlines()) == 1, err
    return err


BAD_SETTINGS = [
    ("sine", "checkpoint_every=0", "checkpoint_every must be in [1, inf)"),
    ("sine", "iterations=0", "iterations must be in [1, inf)"),
    ("sine", "iterations=-5", "iterations must be in [1, inf)"),
    ("sine", "n_test_tasks=0", "n_test_tasks must be in [1, inf)"),
    ("sine", "maml.tasks_per_batch=0", "maml: tasks_per_batch must be an integer >= 1"),
    ("sine", "sampler.alpha=2", "sampler: setting alpha must be in (0, 1]"),
    ("sine", "alpha=0", "alpha must be in (0, 1]"),
    ("sine", "beta=1", "beta must be in (0, 1)"),
    ("sine", "nu=1", "nu must be in [0, 1)"),
    ("sine", "soft_update=1", "soft_update must be in [0, 1)"),
    ("sine", "cem_batch_size=0", "cem_batch_size must be in [1, inf)"),
    ("sine", "pool_size=0", "pool_size must be in [1, inf)"),
    ("sine", "maml.inner_lr=nan", "maml: inner_lr must be finite and >= 0"),
    ("sine", "outer_lr=inf", "maml: outer_lr must be finite and > 0"),
    ("sine", "test_seed=-1", "test_seed must be in [0, inf)"),
    ("khazad-dum", "varibad.num_envs=0", "varibad: num_envs must be an integer >= 1"),
    ("khazad-dum", "episodes_per_task=0", "varibad: episodes_per_task must be an integer >= 1"),
    ("khazad-dum", "checkpoint_every=0", "checkpoint_every must be in [1, inf)"),
    ("khazad-dum", "eval_every=0", "eval_every must be in [1, inf)"),
    ("khazad-dum", "n_valid_tasks=0", "n_valid_tasks must be in [1, inf)"),
    ("khazad-dum", "n_test_tasks=0", "n_test_tasks must be in [1, inf)"),
    ("khazad-dum", "loop.frames=0", "loop: setting frames must be in [1, inf)"),
    ("khazad-dum", "gamma=1.5", "gamma must be in [0, 1]"),
]


@pytest.mark.parametrize("command", ["train", "reproduce"])
@pytest.mark.parametrize(("experiment", "setting", "message"), BAD_SETTINGS)
def test_a_setting_out_of_range_is_refused_up_front_and_nothing_is_written(
    tmp_path, capsys, command, experiment, setting, message
):
    out = tmp_path / "runs"
    assert main([command, experiment, "--scale", "smoke", "--out", str(out), "--set", setting, "--no-progress"]) == 2
    assert message in one_error_line(capsys)
    assert not out.exists()


def test_a_refused_setting_does_not_block_the_corrected_command(tmp_path, capsys):
    args = ["train", "sine", "--scale", "smoke", "--out", str(tmp_path), "--no-progress", "--set", "iterations=5"]
    assert main([*args, "alpha=2"]) == 2
    one_error_line(capsys)
    assert main([*args, "alpha=0.1"]) == 0


def test_a_bad_method_after_good_ones_writes_nothing(tmp_path, capsys):
    args = ["reproduce", "sine", "--scale", "smoke", "--out", str(tmp_path / "runs"), "--no-progress"]
    assert main([*args, "--methods", "roml", "bogus"]) == 2
    assert "unknown method 'bogus'" in one_error_line(capsys)
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"iterations": "5"}, "iterations must be an integer"),
        ({"iterations": 5.0}, "iterations must be an integer"),
        ({"first_order": 1}, "first_order must be a bool"),
        ({"alpha": True}, "alpha must be a real number"),
        ({"alpha": 0.5 + 0j}, "alpha must be a real number"),
    ],
)
def test_the_python_api_refuses_settings_of_the_wrong_type(tmp_path, overrides, message):
    with pytest.raises(ValueError, match=message):
        train("sine", "roml", 0, "smoke", tmp_path, progress=False, overrides=overrides)
    assert not any(tmp_path.iterdir())


def test_every_preset_of_every_experiment_passes_the_checks():
    from roml.experiments.registry import describe

    for name in describe():
        experiment = get_experiment(name)
        for scale in experiment.presets:
            config = experiment.config(experiment.methods[0], 0, scale)
            assert experiment.config_from_dict(config.to_dict()) == config


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "sine", "--scale", "smoke", "--no-progress", "--out", "{file}"], "Not a directory: {file}"),
        (["train", "sine", "--scale", "smoke", "--no-progress", "--out", "{file}/sub"], "Not a directory: {file}"),
        (["reproduce", "sine", "--scale", "smoke", "--no-progress", "--out", "{file}"], "Not a directory: {file}"),
        (["demo", "--updates", "2", "--out", "{file}"], "{file}"),
        (["demo", "--updates", "2", "--out", "{file}/sub"], "Not a directory: {file}"),
    ],
)
def test_a_file_where_a_folder_should_be_gets_one_line(tmp_path, capsys, args, message):
    file = tmp_path / "a-file"
    file.write_text("keep me")
    assert main([a.format(file=file) for a in args]) == 1
    assert message.format(file=file) in one_error_line(capsys)
    assert file.read_text() == "keep me"


def test_a_folder_that_cannot_be_written_gets_one_line(tmp_path, capsys, monkeypatch):
    """Permission denied (simulated: the tests may run as root, who may write anywhere)."""
    import roml.experiments.results as results

    assert (
        main(
            [
                "train",
                "sine",
                "--scale",
                "smoke",
                "--out",
                str(tmp_path),
                "--no-progress",
                "--set",
                "iterations=5",
                "n_test_tasks=10",
            ]
        )
        == 0
    )
    capsys.readouterr()

    def refuse(*args, dir=None, **kwargs):
        raise PermissionError(13, "Permission denied", str(dir))

    monkeypatch.setattr(results.tempfile, "mkstemp", refuse)
    assert main(["report", str(tmp_path)]) == 1
    assert f"Permission denied: {tmp_path}" in one_error_line(capsys)


@pytest.mark.parametrize(
    ("make", "options"),
    [
        (lambda: KhazadDumEnv(), {"taks": 0.5}),
        (lambda: KhazadDumEnv(), {"tasks": [0.5]}),
        (lambda: KhazadDumVecEnv(2), {"task": 0.5}),
        (lambda: KhazadDumVecEnv(2), {"start": (1.0, 1.0)}),
    ],
)
def test_khazad_dum_refuses_unknown_reset_options_and_keeps_its_state(make, options):
    env = make()
    env.reset(seed=0)
    before = env.np_random.bit_generator.state
    with pytest.raises(ValueError, match="unknown reset options"):
        env.reset(seed=1, options=options)
    assert env.np_random.bit_generator.state == before


def test_khazad_dum_known_reset_options_still_work():
    env = KhazadDumEnv()
    env.reset(seed=0, options={"task": 0.7, "start": (1.0, 2.0)})
    assert (env.task.tolist(), env.state_xy.tolist()) == ([0.7], [1.0, 2.0])
    vec = KhazadDumVecEnv(2)
    vec.reset(seed=0, options={"tasks": np.array([0.1, 0.2]), "starts": np.array([[1.0, 2.0], [2.0, 1.0]])})
    assert vec.tasks.tolist() == [[0.1], [0.2]] and vec.state_xy.tolist() == [[1.0, 2.0], [2.0, 1.0]]
