"""TensorBoard event files beside a run's CSVs (roml.experiments.events): the same numbers as progress.csv and
sampler.csv, once each after a resume, and nothing when TensorBoard is not installed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from roml.experiments import events
from roml.experiments.events import progress_tag
from roml.experiments.registry import get_experiment
from roml.experiments.results import RunDir
from roml.experiments.runner import train

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

OVERRIDES = {"iterations": 40, "checkpoint_every": 20, "n_test_tasks": 20}


def scalars(folder) -> dict[str, dict[int, float]]:
    """Every scalar of the folder's event files: {tag: {step: value}} (a step written twice keeps the last)."""
    files = sorted(folder.glob("events.out.tfevents.*"))
    out: dict[str, dict[int, float]] = {}
    for path in files:
        accumulator = EventAccumulator(str(path), size_guidance={"scalars": 0})
        accumulator.Reload()
        for tag in accumulator.Tags()["scalars"]:
            out.setdefault(tag, {}).update((e.step, e.value) for e in accumulator.Scalars(tag))
    return out


def counts(folder) -> dict[str, int]:
    """How many events each tag has over all the folder's event files (to show that no row was written twice)."""
    total: dict[str, int] = {}
    for path in folder.glob("events.out.tfevents.*"):
        accumulator = EventAccumulator(str(path), size_guidance={"scalars": 0})
        accumulator.Reload()
        for tag in accumulator.Tags()["scalars"]:
            total[tag] = total.get(tag, 0) + len(accumulator.Scalars(tag))
    return total


def assert_matches_the_csvs(run: RunDir) -> None:
    progress, sampler = pd.read_csv(run.progress_file), pd.read_csv(run.sampler_file)
    found = scalars(run.path)
    assert counts(run.path) == {tag: len(steps) for tag, steps in found.items()}  # each step once
    for column in ("train_mean_loss", "train_cvar_loss", "steps_per_s"):
        tag = progress_tag(column)
        expected = dict(zip(progress["tasks"], progress[column]))
        assert found[tag].keys() == expected.keys()
        np.testing.assert_allclose([found[tag][k] for k in expected], list(expected.values()), rtol=1e-6)
    assert len(sampler) >= 2
    for column in ("phi_amplitude", "sample_cvar"):
        expected = dict(zip(sampler["update"], sampler[column]))
        np.testing.assert_allclose([found[f"cem/{column}"][k] for k in expected], list(expected.values()), rtol=1e-6)


def test_a_run_writes_its_curves_to_tensorboard_and_a_resumed_run_shows_them_once(tmp_path):
    train("sine", "roml", 0, "smoke", tmp_path, progress=False, overrides=OVERRIDES)
    run = RunDir(tmp_path, "sine", "roml", 0)
    assert len(list(run.path.glob("events.out.tfevents.*"))) == 1
    assert_matches_the_csvs(run)

    class Interrupt(Exception):
        pass

    def stop_after_the_first_checkpoint(done, total):
        if done > 20:
            raise Interrupt

    experiment = get_experiment("sine")
    interrupted = RunDir(tmp_path / "interrupted", "sine", "roml", 0)
    config = experiment.config("roml", 0, "smoke", OVERRIDES)
    interrupted.prepare(config.to_dict())
    with pytest.raises(Interrupt):
        experiment.run(config, interrupted, stop_after_the_first_checkpoint)
    assert len(scalars(interrupted.path)["train/mean_loss"]) == 20  # the rows of the first checkpoint
    train("sine", "roml", 0, "smoke", tmp_path / "interrupted", progress=False, overrides=OVERRIDES)
    assert len(list(interrupted.path.glob("events.out.tfevents.*"))) == 1  # the first process's file is replaced
    assert_matches_the_csvs(interrupted)


def test_without_tensorboard_no_event_files(tmp_path, monkeypatch):
    monkeypatch.setattr(events, "tensorboard_available", lambda: False)
    train("sine", "maml", 0, "smoke", tmp_path, progress=False, overrides=OVERRIDES)
    run = RunDir(tmp_path, "sine", "maml", 0)
    assert run.summary_file.exists() and not list(run.path.glob("events.out.tfevents.*"))


def test_progress_columns_have_grouped_tags():
    assert progress_tag("train_cvar_return") == "train/cvar_return"
    assert progress_tag("valid_mean_return") == "validation/mean_return"
    assert progress_tag("vae_kl") == "update/vae_kl"
    assert progress_tag("wall_time") == "speed/wall_time"
    assert progress_tag("frames") is None and progress_tag("tasks") is None
