"""The runnable examples finish their --smoke runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.parametrize("method", ["roml", "cvar-ml"])
def test_sb3_example_smoke(method):
    pytest.importorskip("stable_baselines3")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / "sb3_khazad_dum.py"), "--smoke", "--method", method],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "tasks scored" in out.stdout and ("phi (mean rain)" in out.stdout) == (method == "roml")


def test_cleanrl_style_example_smoke_with_cvar_ml():
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / "cleanrl_ppo_khazad_dum.py"), "--smoke", "--method", "cvar-ml"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("tasks trained on") >= 5


def test_rllib_example_smoke():
    pytest.importorskip("ray.rllib")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / "rllib_ppo_khazad_dum.py"), "--smoke"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("iteration") == 3 and "CEM updates" in out.stdout
