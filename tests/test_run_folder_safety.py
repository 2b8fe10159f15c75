"""Results folders are data, not code: checkpoints load without running anything, foreign files get one line."""

import io
import json
import os
import stat

import pytest
import torch

from roml.cli import main
from roml.experiments.registry import get_experiment
from roml.experiments.results import RunDir
from roml.experiments.runner import train

SMOKE = ["--scale", "smoke", "--no-progress"]


def folder_bytes(path):
    """Every file of a folder tree and its bytes (to show that a refused command changed nothing)."""
    return {p.relative_to(path): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


class Payload:
    """Pickles as a call of ``open(marker, "w")``, creating the marker: what a hostile checkpoint would do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def prepared_run(out, method="roml"):
    run = RunDir(out, "sine", method, 0)
    run.prepare(get_experiment("sine").config(method, 0, "smoke").to_dict())
    return run


def assert_refused(out, run, capsys, *phrases):
    before = folder_bytes(out)
    assert main(["train", "sine", "--method", run.method, "--out", str(out), *SMOKE]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("roml: error: ") and len(err.splitlines()) == 1 and str(run.checkpoint_file) in err
    assert all(phrase in err for phrase in phrases), err
    assert folder_bytes(out) == before and not run.is_finished()


def test_a_checkpoint_that_would_run_code_is_refused_and_the_code_does_not_run(tmp_path, capsys):
    out, marker = tmp_path / "runs", tmp_path / "payload-ran"
    run = prepared_run(out)
    buffer = io.BytesIO()
    torch.save({"sampler": Payload(marker), "progress": [], "iteration": 0}, buffer)
    run.checkpoint_file.write_bytes(buffer.getvalue())
    assert_refused(out, run, capsys, "io.open", "never does")
    assert not marker.exists()


@pytest.mark.parametrize(
    "content",
    [b"", b"not a checkpoint", "plain-pickle", "tensor", "dict-of-other-things"],
)
def test_a_foreign_checkpoint_gets_one_line_and_nothing_changes(tmp_path, capsys, content):
    out = tmp_path / "runs"
    run = prepared_run(out)
    if isinstance(content, str):
        import pickle

        obj = {"plain-pickle": None, "tensor": torch.zeros(3), "dict-of-other-things": {"weights": torch.ones(2)}}
        buffer = io.BytesIO()
        if content == "plain-pickle":
            pickle.dump({"a": 1}, buffer)
        else:
            torch.save(obj[content], buffer)
        content = buffer.getvalue()
    run.checkpoint_file.write_bytes(content)
    assert_refused(out, run, capsys, "delete it")


def test_a_valid_checkpoint_of_another_run_or_experiment_is_refused(tmp_path, capsys):
    train("sine", "maml", 0, "smoke", tmp_path / "a", progress=False, overrides={"iterations": 20})
    train(
        "khazad-dum",
        "roml",
        0,
        "smoke",
        tmp_path / "b",
        progress=False,
        overrides={"frames": 2 * 512, "n_test_tasks": 10, "n_valid_tasks": 10},
    )
    for source, phrase in [
        (RunDir(tmp_path / "a", "sine", "maml", 0), "checkpoint of run sine/maml/seed0"),
        (RunDir(tmp_path / "b", "khazad-dum", "roml", 0), "checkpoint of run khazad-dum/roml"),
    ]:
        out = tmp_path / f"runs-{source.experiment}"
        run = prepared_run(out)
        run.checkpoint_file.write_bytes(source.checkpoint_file.read_bytes())
        assert_refused(out, run, capsys, phrase, "not of sine/roml/seed0")


def test_a_checkpoint_of_the_same_run_with_another_configuration_is_refused(tmp_path, capsys):
    train("sine", "roml", 0, "smoke", tmp_path / "a", progress=False, overrides={"iterations": 20})
    out = tmp_path / "runs"
    run = prepared_run(out)
    run.checkpoint_file.write_bytes(RunDir(tmp_path / "a", "sine", "roml", 0).checkpoint_file.read_bytes())
    assert_refused(out, run, capsys, "another configuration")


def test_a_checkpoint_without_the_run_identity_still_resumes(tmp_path):
    """Checkpoints written before the identity was recorded (a bare state) load, with nothing run."""
    overrides = {"iterations": 40, "checkpoint_every": 20, "n_test_tasks": 50}
    whole = train("sine", "roml", 0, "smoke", tmp_path / "whole", progress=False, overrides=overrides)
    half = train(
        "sine", "roml", 0, "smoke", tmp_path / "half", progress=False, overrides={**overrides, "iterations": 20}
    )
    assert half != whole
    run = RunDir(tmp_path / "half", "sine", "roml", 0)
    state = run.load_checkpoint()
    assert "roml_run" not in state and state["iteration"] == 20
    resumed = RunDir(tmp_path / "resumed", "sine", "roml", 0)
    resumed.prepare(get_experiment("sine").config("roml", 0, "smoke", overrides).to_dict())
    buffer = io.BytesIO()
    torch.save(state, buffer)  # as roml wrote it before: the experiment's state alone
    resumed.checkpoint_file.write_bytes(buffer.getvalue())
    assert train("sine", "roml", 0, "smoke", tmp_path / "resumed", progress=False, overrides=overrides) == whole


def test_results_files_are_readable_by_the_group(tmp_path):
    train("sine", "maml", 0, "smoke", tmp_path, progress=False, overrides={"iterations": 20, "n_test_tasks": 20})
    umask = os.umask(0o022)
    os.umask(umask)
    files = list(RunDir(tmp_path, "sine", "maml", 0).path.iterdir())
    assert files and {stat.S_IMODE(p.stat().st_mode) for p in files} == {0o666 & ~umask}


def test_each_run_records_what_produced_it_once_per_environment(tmp_path, monkeypatch):
    import importlib.metadata
    import platform

    import numpy

    import roml
    from roml.experiments import results

    train("sine", "maml", 0, "smoke", tmp_path, progress=False, overrides={"iterations": 10, "n_test_tasks": 20})
    run = RunDir(tmp_path, "sine", "maml", 0)
    (session,) = json.loads(run.versions_file.read_text())["sessions"]
    assert session["roml"] == roml.__version__ and session["python"] == platform.python_version()
    assert session["numpy"] == numpy.__version__ and session["torch"] == importlib.metadata.version("torch")
    assert {"git_commit", "mujoco", "gymnasium", "cpu"} <= set(session) and session["cpu"]
    elsewhere = {**session, "numpy": "0.0-elsewhere"}
    monkeypatch.setattr(results, "environment_versions", lambda: elsewhere)
    for _ in range(2):  # as when the run resumes on another machine, twice
        RunDir(tmp_path, "sine", "maml", 0).save_checkpoint({})
    assert json.loads(run.versions_file.read_text())["sessions"] == [session, elsewhere]


def test_numba_caches_its_compiled_functions_in_the_user_cache_not_the_package(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    import roml

    env = {key: value for key, value in os.environ.items() if key != "NUMBA_CACHE_DIR"}
    env["XDG_CACHE_HOME"] = str(tmp_path)
    code = "from roml.envs.khazad_dum import KhazadDumVecEnv; KhazadDumVecEnv(2).reset(seed=0)"
    package = Path(roml.__file__).parent
    before = {p for p in package.rglob("*.nbi")}
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=300)
    assert list((tmp_path / "roml" / "numba").rglob("khazad_dum.*.nbi"))
    assert {p for p in package.rglob("*.nbi")} == before


def _flat(config: dict) -> dict:
    """A configuration as roml wrote ``config.json`` before configurations had parts: one flat dict."""
    return {key: value for part in config.values() if isinstance(part, dict) for key, value in part.items()} | {
        key: value for key, value in config.items() if not isinstance(value, dict)
    }


def test_a_run_folder_with_a_flat_config_of_an_older_roml_resumes_and_reports(tmp_path, capsys):
    overrides = {"iterations": 40, "checkpoint_every": 20, "n_test_tasks": 50}
    whole = train("sine", "roml", 0, "smoke", tmp_path / "whole", progress=False, overrides=overrides)
    experiment = get_experiment("sine")
    config = experiment.config("roml", 0, "smoke", overrides)
    flat = _flat(json.loads(json.dumps(config.to_dict())))
    assert "maml" not in flat and flat["inner_lr"] == 0.01 and flat["iterations"] == 40
    old = RunDir(tmp_path / "old", "sine", "roml", 0)
    old.path.mkdir(parents=True)
    old.config_file.write_text(json.dumps(flat))

    class Interrupt(Exception):
        pass

    def stop_after_the_first_checkpoint(done, total):
        if done > 20:
            raise Interrupt

    with pytest.raises(Interrupt):  # an old run, interrupted: its checkpoint names the flat configuration
        experiment.run(config, old, stop_after_the_first_checkpoint)
    assert old.load_checkpoint()["iteration"] == 20
    assert train("sine", "roml", 0, "smoke", tmp_path / "old", progress=False, overrides=overrides) == whole
    assert json.loads(old.config_file.read_text()) == flat  # kept as it was
    assert main(["report", str(tmp_path / "old")]) == 0
    table = (tmp_path / "old" / "table.md").read_text()
    assert "with loop.iterations=40 eval.n_test_tasks=50" in table  # the settings changed from the preset


def test_a_flat_config_of_another_configuration_is_refused(tmp_path, capsys):
    run = RunDir(tmp_path, "sine", "roml", 0)
    run.path.mkdir(parents=True)
    flat = _flat(json.loads(json.dumps(get_experiment("sine").config("roml", 0, "smoke").to_dict())))
    run.config_file.write_text(json.dumps({**flat, "inner_lr": 0.5}))
    assert main(["train", "sine", "--method", "roml", "--out", str(tmp_path), *SMOKE]) == 2
    assert "differs in maml.inner_lr" in capsys.readouterr().err
