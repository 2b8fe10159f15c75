"""The RoML demo: history CSV, the CEM finds the hard dimension, the figure, determinism, bad input."""

import numpy as np
import pandas as pd
import pytest

from roml.demo import run_demo
from roml.experiments.samplers import history_frame

N_UPDATES = 15
EXPECTED_COLUMNS = [
    "update",
    "n_tasks",
    "phi_hard",
    "phi_medium",
    "phi_idle",
    "reference_quantile",
    "internal_quantile",
    "threshold",
    "n_selected",
    "sample_mean",
    "sample_cvar",
    "reference_mean",
    "reference_cvar",
]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    lines = []
    png = run_demo(out, n_updates=N_UPDATES, log=lines.append)
    return out, png, lines


def test_history_csv_has_one_row_per_update_and_the_expected_columns(demo_run):
    out, _, _ = demo_run
    frame = pd.read_csv(out / "demo_history.csv")
    assert list(frame.columns) == EXPECTED_COLUMNS
    assert len(frame) == N_UPDATES
    assert frame["update"].tolist() == list(range(1, N_UPDATES + 1))
    assert frame["n_tasks"].tolist() == [128 * k for k in range(1, N_UPDATES + 1)]
    assert np.all(frame["threshold"] >= frame[["reference_quantile", "internal_quantile"]].max(axis=1) - 1e-12)


def test_cem_oversamples_the_hard_dimension_and_leaves_the_idle_one(demo_run):
    out, _, _ = demo_run
    last = pd.read_csv(out / "demo_history.csv").iloc[-1]
    assert last["phi_hard"] > 0.6
    assert abs(last["phi_idle"] - 0.5) < 0.2
    assert last["sample_mean"] < last["reference_mean"]  # the sampler draws harder tasks than the original


def test_logs_every_ten_updates_and_after_the_last(demo_run):
    _, _, lines = demo_run
    assert len(lines) == 2
    assert lines[0].startswith("update 10/15") and lines[1].startswith("update 15/15")
    assert "phi=(" in lines[0] and "reference CVaR=" in lines[0] and "threshold=" in lines[0]


def test_figure_is_a_png(demo_run):
    out, png, _ = demo_run
    assert png == out / "demo_cem.png"
    data = png.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 20_000


def test_same_seed_gives_identical_csv(demo_run, tmp_path):
    out, _, _ = demo_run
    run_demo(tmp_path, n_updates=N_UPDATES, seed=0, log=None)
    assert (tmp_path / "demo_history.csv").read_bytes() == (out / "demo_history.csv").read_bytes()


def test_another_seed_gives_another_run(demo_run, tmp_path):
    out, _, _ = demo_run
    run_demo(tmp_path, n_updates=2, seed=1, log=None)
    first = pd.read_csv(out / "demo_history.csv").iloc[:2]
    other = pd.read_csv(tmp_path / "demo_history.csv")
    assert not np.allclose(first["phi_hard"], other["phi_hard"])


@pytest.mark.parametrize("bad", [0, -3, 2.5, "10", True, None])
def test_bad_n_updates_raises(tmp_path, bad):
    with pytest.raises(ValueError, match="n_updates"):
        run_demo(tmp_path / "out", n_updates=bad, log=None)
    assert not (tmp_path / "out").exists()  # nothing written on bad input


def test_history_frame_expands_phi_and_checks_its_length():
    history = [
        {"update": 1, "n_tasks": 4, "phi": np.array([0.2, 0.7]), "threshold": -1.0, "extra": 3},
        {"update": 2, "n_tasks": 8, "phi": np.array([0.3, 0.6]), "threshold": -0.5, "extra": 4},
    ]
    frame = history_frame(history, ("a", "b"))
    assert list(frame.columns) == ["update", "n_tasks", "phi_a", "phi_b", "threshold", "extra"]
    assert frame["phi_b"].tolist() == [0.7, 0.6]
    empty = history_frame([], ("a", "b"))
    assert len(empty) == 0 and list(empty.columns[:4]) == ["update", "n_tasks", "phi_a", "phi_b"]
    with pytest.raises(ValueError, match="phi"):
        history_frame(history, ("a", "b", "c"))
