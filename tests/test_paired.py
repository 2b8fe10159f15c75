"""PAIRED (roml.algos.paired): the regret on a hand-built batch, an adversary that moves to where the regret is,
and the sampler's checkpoint."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from roml.algos.paired import Adversary, PairedSampler, regret
from roml.algos.varibad import VariBAD, VariBADConfig
from roml.envs.khazad_dum import KhazadDumVecEnv, rain_family


def test_regret_is_the_antagonists_best_episode_minus_the_protagonists_mean_floored_at_zero():
    scores = np.array([1.0, 5.0, 0.0, -2.0])
    antagonist = np.array([[2.0, 4.0], [3.0, 3.0], [-1.0, -2.0], [-3.0, -1.5]])
    np.testing.assert_array_equal(regret(scores, antagonist), [3.0, 0.0, 0.0, 0.5])
    with pytest.raises(ValueError, match=r"\(n, K\)"):
        regret(scores, antagonist[:3])


def test_the_adversary_learns_to_propose_where_the_regret_is():
    torch.manual_seed(0)
    adversary, rng = Adversary(2), np.random.default_rng(0)
    for _ in range(60):  # the regret grows with the first unit coordinate only
        logits = adversary.propose(rng.standard_normal((32, 2)))
        adversary.update(logits, 1.0 / (1.0 + np.exp(-logits[:, 0])))
    mean = adversary.mean.detach().numpy()
    assert 1.0 / (1.0 + np.exp(-mean[0])) > 0.8 and abs(mean[1]) < 0.5


def make_sampler(seed: int = 0) -> PairedSampler:
    env = KhazadDumVecEnv(4)
    env.reset(seed=seed)
    config = VariBADConfig(num_envs=4, episodes_per_task=2, belief=False, precollect_frames=0, ppo_minibatches=2)
    return PairedSampler(rain_family(), VariBAD.for_env(env, config, seed), env, seed=seed)


def test_the_sampler_resumes_exactly_from_its_state():
    def step(sampler):
        batch = sampler.sample(4)
        weights = sampler.observe(batch, -batch.tasks[:, 0])
        return batch.tasks.copy(), weights, dict(sampler.last_stats)

    sampler = make_sampler()
    step(sampler)
    state = sampler.state_dict()
    expected = [step(sampler) for _ in range(2)]
    resumed = make_sampler(seed=9)
    resumed.load_state_dict(state)
    got = [step(resumed) for _ in range(2)]
    for (tasks, weights, stats), (tasks2, weights2, stats2) in zip(expected, got):
        np.testing.assert_array_equal(tasks, tasks2)
        assert (weights == 1).all() and (weights2 == 1).all() and stats == stats2
    with pytest.raises(ValueError, match="PairedSampler"):
        resumed.load_state_dict({"sampler": "RoMLSampler"})
