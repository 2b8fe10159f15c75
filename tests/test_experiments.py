"""The experiment layer end to end: CLI, determinism, resume after SIGKILL, bad input, parallel and Ray backends."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from roml.cli import main
from roml.experiments.registry import get_experiment
from roml.experiments.results import RunDir
from roml.experiments.runner import reproduce, train
from test_report import build_mujoco, build_sine

RESUME = {"iterations": 240, "checkpoint_every": 10, "n_test_tasks": 200}


def run_files(root: Path, method: str, seed: int = 0) -> RunDir:
    return RunDir(root, "sine", method, seed)


def test_smoke_reproduction_and_report_through_the_cli(tmp_path, capsys):
    out = tmp_path / "runs"
    args = ["reproduce", "sine", "--scale", "smoke", "--seeds", "1", "--out", str(out), "--workers", "2"]
    assert main([*args, "--no-progress"]) == 0
    for method in get_experiment("sine").methods:
        run = run_files(out, method)
        for name in ("config.json", "progress.csv", "sampler.csv", "checkpoint.pt", "test.csv", "summary.json"):
            assert (run.path / name).exists(), (method, name)
        summary = run.read_summary()
        assert summary["n_test_tasks"] == 300 and summary["alpha"] == 0.05
        assert summary["metrics"]["cvar_loss@1"] >= summary["metrics"]["mean_loss@1"] > 0
    assert len(pd.read_csv(run_files(out, "roml").sampler_file)) == 60 * 20 // 40  # one row per CEM update
    assert main(["report", str(out)]) == 0
    assert (out / "table.md").exists() and (out / "summary.csv").exists()
    # a second identical command finds every run finished and changes nothing
    before = run_files(out, "maml").summary_file.stat().st_mtime_ns
    assert main([*args, "--no-progress"]) == 0
    assert run_files(out, "maml").summary_file.stat().st_mtime_ns == before


def test_same_seed_gives_identical_results(tmp_path):
    for folder in ("a", "b"):
        train("sine", "roml", 3, "smoke", tmp_path / folder, progress=False)
    a, b = run_files(tmp_path / "a", "roml", 3), run_files(tmp_path / "b", "roml", 3)
    assert a.summary_file.read_bytes() == b.summary_file.read_bytes()
    assert a.test_file.read_bytes() == b.test_file.read_bytes()
    assert a.sampler_file.read_bytes() == b.sampler_file.read_bytes()
    train("sine", "roml", 4, "smoke", tmp_path / "a", progress=False)
    assert run_files(tmp_path / "a", "roml", 4).read_summary() != a.read_summary()


def _kill_when(run: RunDir, predicate, process: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()


def kill_at_the_first_checkpoint(experiment: str, method: str, seed: int, out: Path, overrides: dict) -> RunDir:
    """Train one smoke run in a new process and SIGKILL it as soon as its first checkpoint is written; returns the
    run's folder, after checking that the kill came before the run finished."""
    run = RunDir(out, experiment, method, seed)
    script = (
        "from roml.experiments.runner import train; "
        f"train({experiment!r}, {method!r}, {seed}, 'smoke', {str(out)!r}, progress=False, overrides={overrides!r})"
    )
    process = subprocess.Popen([sys.executable, "-c", script], env={**os.environ, "OMP_NUM_THREADS": "1"})
    _kill_when(run, run.checkpoint_file.exists, process)
    assert process.returncode == -signal.SIGKILL and not run.is_finished()
    return run


@pytest.mark.parametrize("method", ["roml", "cvar-ml"])
def test_a_run_killed_with_sigkill_resumes_to_the_uninterrupted_result(tmp_path, method):
    reference = train("sine", method, 1, "smoke", tmp_path / "reference", progress=False, overrides=RESUME)
    out = tmp_path / "killed"
    run = run_files(out, method, 1)
    script = (
        "from roml.experiments.runner import train; "
        f"train('sine', {method!r}, 1, 'smoke', {str(out)!r}, progress=False, overrides={RESUME!r})"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    kills = 0
    for _ in range(3):  # kill it three times at different moments: after a first, then later checkpoints
        process = subprocess.Popen([sys.executable, "-c", script], env=env)
        previous = run.checkpoint_file.stat().st_mtime_ns if run.checkpoint_file.exists() else 0

        def advanced(previous=previous):
            return run.checkpoint_file.exists() and run.checkpoint_file.stat().st_mtime_ns != previous

        _kill_when(run, advanced, process)
        kills += process.returncode == -signal.SIGKILL
    assert kills >= 1 and not run.is_finished()
    resumed = train("sine", method, 1, "smoke", out, progress=False, overrides=RESUME)
    assert resumed == reference
    assert run.test_file.read_bytes() == run_files(tmp_path / "reference", method, 1).test_file.read_bytes()
    assert len(pd.read_csv(run.progress_file)) == RESUME["iterations"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "nope"], "unknown experiment 'nope'; choose from sine"),
        (["train", "sine", "--method", "ppo"], "unknown method 'ppo' for sine"),
        (["train", "sine", "--scale", "huge"], "unknown scale 'huge'"),
        (["reproduce", "sine", "--seeds", "0"], "seeds must be a positive count"),
        (["reproduce", "sine", "--workers", "0"], "workers must be an integer >= 1"),
        (["report", "missing-folder"], "no finished runs"),
        (["train", "sine", "--set", "bogus=1"], "sine has no setting 'bogus'"),
        (["train", "sine", "--set", "iterations=1.5"], "--set loop.iterations: cannot read '1.5' as an integer"),
        (["train", "sine", "--set", "maml.first_order=maybe"], "--set maml.first_order: cannot read 'maybe' as a bool"),
        (["train", "sine", "--set", "loop.bogus=1"], "sine has no setting 'loop.bogus'"),
        (["train", "sine", "--set", "maml.inner_lr=-1"], "maml: inner_lr must be finite and >= 0"),
        (["reproduce", "sine", "--set", "iterations"], "--set takes PART.FIELD=VALUE"),
    ],
)
def test_bad_input_gets_one_clear_line(tmp_path, capsys, args, message):
    args = [a if a != "missing-folder" else str(tmp_path / "missing") for a in args]
    assert main([*args, *(["--out", str(tmp_path)] if args[0] != "report" else [])]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("roml: error: ") and message in err and len(err.splitlines()) == 1


def test_a_folder_of_another_configuration_is_refused_and_nothing_is_lost(tmp_path, capsys):
    train("sine", "maml", 0, "smoke", tmp_path, progress=False)
    run = run_files(tmp_path, "maml")
    files = {p.name: p.read_bytes() for p in run.path.iterdir()}
    assert main(["train", "sine", "--method", "maml", "--scale", "quick", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "holds a run of another configuration" in err and "iterations" in err
    assert {p.name: p.read_bytes() for p in run.path.iterdir()} == files


def test_a_corrupt_checkpoint_is_reported_and_kept(tmp_path, capsys):
    out = tmp_path / "runs"
    run = run_files(out, "roml")
    run.prepare(get_experiment("sine").config("roml", 0, "smoke").to_dict())
    run.checkpoint_file.write_bytes(b"this is not a checkpoint")
    assert main(["train", "sine", "--scale", "smoke", "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "checkpoint.pt is corrupt or unreadable" in err and "delete it" in err
    assert run.checkpoint_file.read_bytes() == b"this is not a checkpoint"
    assert not run.is_finished()


def test_a_corrupt_config_is_reported(tmp_path, capsys):
    run = run_files(tmp_path, "roml")
    run.path.mkdir(parents=True)
    run.config_file.write_text("{not json")
    assert main(["train", "sine", "--scale", "smoke", "--out", str(tmp_path)]) == 2
    assert "config.json is unreadable or corrupt" in capsys.readouterr().err


def test_set_overrides_the_preset(tmp_path, capsys):
    args = ["train", "sine", "--method", "maml", "--scale", "smoke", "--out", str(tmp_path), "--no-progress"]
    assert main([*args, "--set", "loop.iterations=3e0", "maml.first_order=true", "inner_lr=0.05"]) == 0
    config = json.loads(run_files(tmp_path, "maml").config_file.read_text())  # nested: one dict per part
    assert (config["loop"]["iterations"], config["maml"]["first_order"], config["maml"]["inner_lr"]) == (3, True, 0.05)
    assert config["sampler"]["cem_batch_size"] == 40 and config["eval"]["n_test_tasks"] == 300  # the smoke preset


def test_list_settings_names_every_setting_with_its_value_per_scale(capsys):
    assert main(["list", "--settings", "khazad-dum"]) == 0
    lines = {line.split()[0]: line.split()[1:] for line in capsys.readouterr().out.splitlines()}
    assert lines["setting"] == ["paper", "smoke", "quick"]
    assert lines["loop.frames"] == ["5000000", "6144", "2000000"] and lines["sampler.alpha"] == ["0.01"] * 3
    assert lines["varibad.policy_layers"] == ["64,64"] * 3 and "eval.n_shown_tasks" in lines


def test_list_and_version(capsys):
    assert main(["list"]) == 0
    assert "sine" in capsys.readouterr().out
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("roml 0.")


def test_list_and_report_import_neither_torch_nor_numba(tmp_path):
    """``roml list`` and ``roml report`` read the experiments' descriptions and results files: they import no
    algorithm (torch), no compiled environment (numba) and no MuJoCo, which would cost them seconds; ``roml list``
    not even pandas, scipy.stats or the progress bars (it takes well under a second)."""
    build_mujoco(build_sine(tmp_path))  # a MuJoCo experiment also draws a figure and compares settings with presets
    code = (
        "import sys\n"
        "from roml.cli import main\n"
        "for args in (['list'], ['report', sys.argv[1]]):\n"
        "    assert main(args) == 0\n"
        "    heavy = [name for name in ('torch', 'numba', 'mujoco') if name in sys.modules]\n"
        "    if args[0] == 'list':  # roml list also leaves out what only a run or a report needs\n"
        "        heavy += [name for name in ('pandas', 'scipy.stats', 'tqdm', 'matplotlib') if name in sys.modules]\n"
        "    print(f'imported after {args[0]}: {heavy}')\n"
    )
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, env=env, timeout=300
    )
    assert out.returncode == 0, out.stderr
    lines = [line for line in out.stdout.splitlines() if line.startswith("imported after")]
    assert lines == ["imported after list: []", "imported after report: []"]


def test_ray_backend_runs_a_smoke_reproduction(tmp_path):
    pytest.importorskip("ray")
    summaries = reproduce("sine", 1, "smoke", tmp_path, methods=["roml"], backend="ray", progress=False)
    assert sorted(summaries) == ["sine/roml/seed0"]
    local = train("sine", "roml", 0, "smoke", tmp_path / "local", progress=False)
    assert summaries["sine/roml/seed0"] == local
    assert json.loads(run_files(tmp_path, "roml").summary_file.read_text()) == local
