"""Tests for roml.algos.varibad: the networks, GAE, the ELBO, the buffer, PPO weighting, determinism and resume."""

import numpy as np
import pytest
import torch
from gymnasium import spaces

from roml.algos.optim import FlatAdam
from roml.algos.varibad import TrajectoryBuffer, VariBAD, VariBADConfig
from roml.algos.varibad.config import PRESETS
from roml.algos.varibad.networks import ActorCritic, Encoder, RewardDecoder, RunningNorm, fast_tanh
from roml.algos.varibad.ppo import discounted_advantages, discounted_sums
from roml.algos.varibad.vae import elbo_backward, elbo_loss, gaussian_kl
from roml.envs.khazad_dum import KhazadDumVecEnv

SMALL = dict(
    num_envs=6,
    episodes_per_task=2,
    vae_buffer_size=20,
    vae_batch_size=4,
    precollect_frames=0,
    ppo_minibatches=4,
    vae_subsample_elbos=8,
    vae_subsample_decodes=8,
)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def small_agent(seed=0, **overrides):
    config = VariBADConfig(**{**SMALL, **overrides})
    env = KhazadDumVecEnv(config.num_envs)
    env.reset(seed=seed)
    return VariBAD.for_env(env, config, seed), env


def params(module):
    return [p.detach().clone() for p in module.parameters()]


# ------------------------------------------------------------------------------------------------- networks


def test_running_norm_matches_the_statistics_of_all_batches_together():
    rng = np.random.default_rng(0)
    batches = [rng.normal(3.0, 2.0, size=(n, 4)) for n in (5, 17, 40)]
    norm = RunningNorm(4, eps=0.0)
    norm.count.fill_(0.0)  # exact moments (the default count 1e-4 is a prior of mean 0, variance 1)
    for batch in batches:
        norm.update(torch.as_tensor(batch))
    everything = np.concatenate(batches)
    np.testing.assert_allclose(norm.mean.numpy(), everything.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(norm.var.numpy(), everything.var(axis=0), rtol=1e-10)
    x = torch.as_tensor(everything[:3], dtype=torch.float32)
    expected = (everything[:3] - everything.mean(0)) / everything.std(0)
    np.testing.assert_allclose(norm.normalize(x).numpy(), expected, rtol=1e-5, atol=1e-5)


def test_fast_tanh_equals_tanh_in_value_and_gradient():
    x = torch.linspace(-12, 12, 20_001, dtype=torch.float32).reshape(-1, 1).repeat(1, 2).requires_grad_()
    y = fast_tanh(x)
    torch.testing.assert_close(y, torch.tanh(x), atol=3e-7, rtol=0)
    (g,) = torch.autograd.grad(y.sum(), x)
    torch.testing.assert_close(g, 1 - torch.tanh(x.detach()) ** 2, atol=1e-6, rtol=0)


def test_encoder_sequence_equals_step_by_step_and_starts_at_the_prior():
    encoder = Encoder(
        obs_dim=7,
        action_dim=3,
        latent_dim=4,
        hidden=16,
        action_embedding=5,
        obs_embedding=6,
        reward_embedding=2,
        generator=gen(),
    )
    steps, b = 9, 3
    a = torch.randn(steps, b, 3, generator=gen(1))
    s = torch.randn(steps, b, 7, generator=gen(2))
    r = torch.randn(steps, b, generator=gen(3))
    mean, logvar = encoder.sequence(a, s, r)
    assert mean.shape == logvar.shape == (steps + 1, b, 4)
    hidden = encoder.initial_hidden(b)
    prior = encoder.heads(hidden)
    torch.testing.assert_close(mean[0], prior[0])
    for t in range(steps):
        hidden = encoder.step(hidden, a[t], s[t], r[t])
        m, lv = encoder.heads(hidden)
        torch.testing.assert_close(mean[t + 1], m, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(logvar[t + 1], lv, rtol=1e-5, atol=1e-6)
    # truncated back-propagation changes the gradient, not the values
    mean_tbptt, _ = encoder.sequence(a, s, r, tbptt=4)
    torch.testing.assert_close(mean_tbptt, mean)


def test_reward_decoder_broadcast_equals_the_concatenated_layer():
    decoder = RewardDecoder(
        latent_dim=3, obs_dim=5, action_dim=2, layers=(8, 4), obs_embedding=6, action_embedding=3, generator=gen()
    )
    z = torch.randn(4, 1, 3, generator=gen(1))
    prev, act, nxt = (torch.randn(1, 7, d, generator=gen(i)) for i, d in ((2, 5), (3, 2), (4, 5)))
    out = decoder(z, decoder.transition_features(prev, act, nxt))
    assert out.shape == (4, 7)
    relu = torch.relu
    embedded = torch.cat(
        [relu(decoder.embed_obs(nxt)), relu(decoder.embed_obs(prev)), relu(decoder.embed_action(act))], dim=-1
    ).expand(4, 7, -1)
    weight = torch.cat([decoder.from_latent.weight, decoder.from_transition.weight], dim=1)
    x = relu(
        torch.nn.functional.linear(torch.cat([z.expand(4, 7, 3), embedded], dim=-1), weight, decoder.from_latent.bias)
    )
    for layer in decoder.hidden:
        x = relu(layer(x))
    torch.testing.assert_close(out, decoder.out(x).squeeze(-1))


@pytest.mark.parametrize("discrete", [True, False])
def test_log_prob_and_entropy_match_torch_distributions(discrete):
    kwargs = dict(n_actions=4) if discrete else dict(action_dim=3, init_std=0.7)
    policy = ActorCritic(6, 4, (8, 8), 5, 5, gen(), **kwargs)
    params_ = torch.randn(10, 4 if discrete else 3, generator=gen(1))
    if discrete:
        actions = torch.randint(0, 4, (10,), generator=gen(2))
        dist = torch.distributions.Categorical(logits=params_)
    else:
        actions = torch.randn(10, 3, generator=gen(2))
        dist = torch.distributions.Independent(torch.distributions.Normal(params_, policy.log_std.exp()), 1)
    log_prob, entropy = policy.log_prob_entropy(params_, actions)
    torch.testing.assert_close(log_prob, dist.log_prob(actions))
    torch.testing.assert_close(entropy, dist.entropy())


def test_initial_discrete_policy_is_nearly_uniform():
    policy = ActorCritic(6, 4, (64, 64), 8, 8, gen(), n_actions=4)
    features = policy.features(torch.randn(50, 6, generator=gen(1)), torch.randn(50, 4, generator=gen(2)))
    probs = torch.softmax(policy.action_params(features), dim=-1)
    assert (probs - 0.25).abs().max() < 0.02


# -------------------------------------------------------------------------------------------- GAE and ELBO


def test_gae_against_the_closed_forms():
    rng = np.random.default_rng(0)
    rewards, values = (torch.as_tensor(rng.normal(size=(6, 3)), dtype=torch.float64) for _ in range(2))
    gamma = 0.9
    # lambda = 1: the discounted return to the end of the BAMDP minus the value
    returns = torch.zeros(3, dtype=torch.float64)
    expected = torch.empty_like(rewards)
    for t in range(5, -1, -1):
        returns = rewards[t] + gamma * returns
        expected[t] = returns - values[t]
    torch.testing.assert_close(discounted_advantages(rewards, values, gamma, 1.0), expected)
    # lambda = 0: the one-step TD error, with no bootstrap after the last step
    next_values = torch.cat([values[1:], torch.zeros(1, 3, dtype=torch.float64)])
    torch.testing.assert_close(
        discounted_advantages(rewards, values, gamma, 0.0), rewards + gamma * next_values - values
    )


def test_truncated_gae_is_the_authors_recursion_with_bad_masks():
    """episode_ends: the recursion of the authors' VariBAD with proper time limits, written out: masks[t+1] = 0 only
    at the BAMDP's end, bad_masks[t+1] = 0 at every episode end, ``gae = (delta + gamma lam masks gae) bad_masks``."""
    rng = np.random.default_rng(1)
    steps, n, episode = 12, 3, 4
    rewards, values = (torch.as_tensor(rng.normal(size=(steps, n)), dtype=torch.float64) for _ in range(2))
    gamma, lam = 0.97, 0.9
    ends = torch.zeros(steps, dtype=torch.bool)
    ends[episode - 1 :: episode] = True
    expected = torch.empty_like(rewards)
    gae = torch.zeros(n, dtype=torch.float64)
    for t in range(steps - 1, -1, -1):
        mask = 0.0 if t == steps - 1 else 1.0
        bad_mask = 0.0 if ends[t] else 1.0
        next_value = values[t + 1] if t + 1 < steps else torch.zeros(n, dtype=torch.float64)
        delta = rewards[t] + gamma * next_value * mask - values[t]
        gae = (delta + gamma * lam * mask * gae) * bad_mask
        expected[t] = gae
    advantages = discounted_advantages(rewards, values, gamma, lam, ends)
    torch.testing.assert_close(advantages, expected)
    assert torch.all(advantages[ends] == 0)
    # the step before an episode's last one bootstraps from the last state's value
    torch.testing.assert_close(advantages[2], rewards[2] + gamma * values[3] - values[2])
    for bad in (ends[:-1], torch.zeros(steps, dtype=torch.bool), ends.flip(0)):
        with pytest.raises(ValueError, match="episode_ends"):
            discounted_advantages(rewards, values, gamma, lam, bad)


def test_authors_kl_reduction_sums_over_the_batch():
    batch = {
        "prev_obs": torch.randn(6, 3, 4, generator=gen(2)),
        "action_inputs": torch.randn(6, 3, 2, generator=gen(3)),
        "rewards": torch.randn(6, 3, generator=gen(4)),
        "next_obs": torch.randn(6, 3, 4, generator=gen(5)),
    }
    terms = {}
    for reduction in ("mean", "sum"):
        config = VariBADConfig(latent_dim=2, vae_subsample_elbos=4, vae_subsample_decodes=3, kl_reduction=reduction)
        encoder = Encoder(4, 2, 2, 8, 3, 3, 2, gen())
        decoder = RewardDecoder(2, 4, 2, (6,), 3, 3, gen(1))
        terms[reduction] = elbo_loss(encoder, decoder, batch, config, gen(6))
    (_, rec_mean, kl_mean), (loss_sum, rec_sum, kl_sum) = terms["mean"], terms["sum"]
    torch.testing.assert_close(rec_sum, rec_mean)
    torch.testing.assert_close(kl_sum, 3 * kl_mean)
    torch.testing.assert_close(loss_sum, rec_sum + 0.1 * kl_sum)


@pytest.mark.parametrize("subsample", [None, 3])
def test_chunked_elbo_backward_gives_the_loss_and_gradient_of_one_pass(subsample):
    """Decoding in chunks of ELBO terms (each back-propagated on its own) changes only the rounding; with the limit
    above the batch's size, it is bit for bit ``elbo_loss(...).backward()``."""
    steps, b = 7, 3
    batch = {
        "prev_obs": torch.randn(steps, b, 4, generator=gen(2)),
        "action_inputs": torch.randn(steps, b, 2, generator=gen(3)),
        "rewards": torch.randn(steps, b, generator=gen(4)),
        "next_obs": torch.randn(steps, b, 4, generator=gen(5)),
    }
    results = {}
    for rows in (None, 2 * b * (subsample or steps), 10**6, 1):
        config = VariBADConfig(
            latent_dim=2,
            vae_subsample_elbos=subsample,
            vae_subsample_decodes=subsample,
            tbptt=None,
            vae_decode_rows=rows,
        )
        encoder = Encoder(4, 2, 2, 8, 3, 3, 2, gen())
        decoder = RewardDecoder(2, 4, 2, (6,), 3, 3, gen(1))
        if rows is None:
            loss, reconstruction, kl = elbo_loss(encoder, decoder, batch, config, gen(6))
            loss.backward()
        else:
            loss, reconstruction, kl = elbo_backward(encoder, decoder, batch, config, gen(6))
        grads = [p.grad.clone() for p in (*encoder.parameters(), *decoder.parameters())]
        results[rows] = (torch.stack([loss.detach(), reconstruction.detach(), kl.detach()]), grads)
    reference, reference_grads = results[None]
    assert torch.equal(results[10**6][0], reference)  # one pass: the same computation
    assert all(torch.equal(x, y) for x, y in zip(results[10**6][1], reference_grads))
    for rows in (2 * b * (subsample or steps), 1):  # two ELBO terms per chunk; one per chunk
        values, grads = results[rows]
        torch.testing.assert_close(values, reference)
        for x, y in zip(grads, reference_grads):
            torch.testing.assert_close(x, y)


def test_gaussian_kl_matches_torch():
    m, lv, pm, plv = (torch.randn(5, 3, generator=gen(i)) for i in range(4))
    q = torch.distributions.Normal(m, (0.5 * lv).exp())
    p = torch.distributions.Normal(pm, (0.5 * plv).exp())
    torch.testing.assert_close(gaussian_kl(m, lv, pm, plv), torch.distributions.kl_divergence(q, p).sum(-1))


def test_elbo_without_subsampling_is_the_full_sum():
    config = VariBADConfig(
        latent_dim=2, vae_subsample_elbos=None, vae_subsample_decodes=None, tbptt=None, kl_weight=0.3
    )
    encoder = Encoder(4, 2, 2, 8, 3, 3, 2, gen())
    decoder = RewardDecoder(2, 4, 2, (6,), 3, 3, gen(1))
    steps, b = 5, 2
    batch = {
        "prev_obs": torch.randn(steps, b, 4, generator=gen(2)),
        "action_inputs": torch.randn(steps, b, 2, generator=gen(3)),
        "rewards": torch.randn(steps, b, generator=gen(4)),
        "next_obs": torch.randn(steps, b, 4, generator=gen(5)),
    }
    loss, reconstruction, kl = elbo_loss(encoder, decoder, batch, config, gen(6))
    # by hand: the same noise, every (ELBO term, transition) pair, summed, then averaged over trajectories
    mean, logvar = encoder.sequence(batch["action_inputs"], batch["next_obs"], batch["rewards"])
    noise = torch.randn(mean.shape, generator=gen(6))
    z = mean + (0.5 * logvar).exp() * noise
    features = decoder.transition_features(batch["prev_obs"], batch["action_inputs"], batch["next_obs"])
    total_rec, total_kl = 0.0, 0.0
    for j in range(b):
        for t in range(steps + 1):
            prior = (torch.zeros(2), torch.zeros(2)) if t == 0 else (mean[t - 1, j], logvar[t - 1, j])
            total_kl += gaussian_kl(mean[t, j], logvar[t, j], *prior)
            for d in range(steps):
                total_rec += (decoder(z[t, j], features[d, j]) - batch["rewards"][d, j]) ** 2
    torch.testing.assert_close(reconstruction, total_rec / b)
    torch.testing.assert_close(kl, total_kl / b)
    torch.testing.assert_close(loss, (total_rec + 0.3 * total_kl) / b)


# ------------------------------------------------------------------------------------------------- buffer


def test_trajectory_buffer_rebuilds_next_observations_and_wraps():
    agent, env = small_agent()
    rollouts = [agent.collect(env, np.full(6, 0.2)) for _ in range(4)]
    buffer = TrajectoryBuffer(capacity=10)
    for rollout in rollouts:
        buffer.add(rollout, episodes=2)
    assert len(buffer) == 10 and buffer.next_index == 24 % 10
    batch = buffer.sample(10, gen())
    # every sampled trajectory is one of the last 10 added (rollout 2 envs 2..5, rollout 3 envs 0..5)
    kept = [(2, i) for i in range(2, 6)] + [(3, i) for i in range(6)]
    for j in range(10):
        matches = [(r, i) for r, i in kept if torch.equal(batch["rewards"][:, j], rollouts[r].rewards[:, i])]
        assert len(matches) == 1
        r, i = matches[0]
        torch.testing.assert_close(batch["next_obs"][:, j], rollouts[r].next_obs[:, i], rtol=0, atol=0)
        torch.testing.assert_close(batch["prev_obs"][:, j], rollouts[r].obs[:, i], rtol=0, atol=0)
    restored = TrajectoryBuffer(capacity=10)
    restored.load_state_dict(buffer.state_dict())
    for key, value in restored.sample(10, gen(5)).items():
        torch.testing.assert_close(value, buffer.sample(10, gen(5))[key], rtol=0, atol=0)
    with pytest.raises(ValueError, match="cannot draw"):
        buffer.sample(11, gen())


@pytest.mark.parametrize("embeddings", [(64, 64), (0, 8), (8, 0)])
def test_folded_actor_equals_the_networks(embeddings):
    # the folded snapshot (normalisers folded into the embeddings, block-diagonal layers, merged heads) acts as
    # the modular policy on normalised inputs and steps as the encoder
    state_embedding, latent_embedding = embeddings
    agent, env = small_agent(2, state_embedding=state_embedding, latent_embedding=latent_embedding)
    for _ in range(2):  # non-trivial normaliser statistics and trained weights
        agent.update(agent.collect(env, np.full(6, 0.2)))
    rollout = agent.collect(env, np.full(6, 0.4))
    actor = agent.folded_actor()
    obs, latent = rollout.obs.reshape(-1, 100), rollout.latent.reshape(-1, 10)
    expected = agent.policy.action_params(agent.policy.features(*agent._policy_inputs(obs, latent)))
    torch.testing.assert_close(actor.action_params(obs, latent), expected, rtol=1e-5, atol=1e-5)
    hidden, prior = actor.initial(6)
    torch.testing.assert_close(prior, torch.cat(agent.encoder.heads(agent.encoder.initial_hidden(6)), dim=-1))
    transitions = torch.cat([rollout.action_inputs, rollout.next_obs, rollout.rewards.unsqueeze(-1)], dim=-1)
    latents = [prior]
    for t in range(transitions.shape[0]):
        hidden, latent_t = actor.encode(hidden, transitions[t])
        latents.append(latent_t)
    mean, logvar = agent.encoder.sequence(rollout.action_inputs, rollout.next_obs, rollout.rewards)
    torch.testing.assert_close(torch.stack(latents), torch.cat([mean, logvar], dim=-1), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(rollout.latent, torch.stack(latents[:-1]))  # what collect recorded


def test_sampled_actions_follow_the_softmax():
    agent, _ = small_agent()
    logits = torch.tensor([[0.0, 1.0, -1.0, 2.0]]).expand(40_000, 4)
    counts = torch.bincount(agent._sample(logits, deterministic=False), minlength=4).numpy()
    probs = torch.softmax(logits[0], dim=0).numpy()
    sigma = np.sqrt(40_000 * probs * (1 - probs))
    assert np.all(np.abs(counts - 40_000 * probs) < 4 * sigma), (counts, 40_000 * probs)
    assert agent._sample(logits[:3], deterministic=True).tolist() == [3, 3, 3]


def test_flat_adam_equals_torch_adam_with_gradient_clipping():
    def model():
        return torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 2))

    a, b = model(), model()
    b.load_state_dict(a.state_dict())
    flat = FlatAdam(a.parameters(), lr=0.01, eps=1e-6, max_grad_norm=0.3)
    reference = torch.optim.Adam(b.parameters(), lr=0.01, eps=1e-6)
    x, y = torch.randn(32, 5, generator=gen(1)), torch.randn(32, 2, generator=gen(2))
    for _ in range(25):
        flat.zero_grad()
        (a(x) - y).square().mean().backward()
        flat.step()
        reference.zero_grad()
        (b(x) - y).square().mean().backward()
        torch.nn.utils.clip_grad_norm_(b.parameters(), 0.3)
        reference.step()
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
    a.load_state_dict(b.state_dict())  # copies into the flat storage: the optimiser still sees the parameters
    torch.testing.assert_close(flat.params[:35], b[0].weight.detach().reshape(-1))
    with pytest.raises(ValueError, match="same parameter twice"):
        FlatAdam([*b.parameters(), next(b.parameters())], lr=0.1)


def test_discounted_sums_match_the_recursion():
    x = torch.randn(9, 3, generator=gen(3))
    forward, backward = torch.zeros_like(x), torch.zeros_like(x)
    run_f, run_b = torch.zeros(3), torch.zeros(3)
    for t in range(9):
        run_f = x[t] + 0.9 * run_f
        forward[t] = run_f
        run_b = x[8 - t] + 0.9 * run_b
        backward[8 - t] = run_b
    torch.testing.assert_close(discounted_sums(x, 0.9), forward)
    torch.testing.assert_close(discounted_sums(x, 0.9, reverse=True), backward)


# -------------------------------------------------------------------------------------------------- agent


def test_collect_runs_bamdps_and_the_encoder_sees_the_terminal_observation():
    agent, env = small_agent()
    rollout = agent.collect(env, np.linspace(0, 0.5, 6))
    t, n = 64, 6
    assert rollout.obs.shape == (t, n, 100) and rollout.latent.shape == (t, n, 10)
    assert rollout.actions.shape == (t, n) and rollout.action_inputs.shape == (t, n, 4)
    flags = rollout.next_obs[:, :, -1]
    assert flags[[31, 63]].eq(1).all() and flags.sum() == 2 * n  # the done flag marks each episode's last step
    assert rollout.obs[:, :, -1].eq(0).all()  # the policy acts on fresh observations only
    np.testing.assert_allclose(rollout.episode_returns.sum(axis=1), rollout.rewards.sum(dim=0).numpy(), rtol=1e-5)
    np.testing.assert_allclose(rollout.task_scores, rollout.episode_returns.mean(axis=1))
    assert len(rollout.episode_infos) == 2 and rollout.frames == t * n
    # the belief carries across the episodes of a task: the first latent of episode 2 is not the prior
    assert not torch.allclose(rollout.latent[32], rollout.latent[0])
    assert torch.allclose(rollout.latent[0], rollout.latent[0, :1].expand(n, -1))  # everyone starts at the prior


def test_same_seed_gives_identical_training():
    def run(seed):
        return run_with(seed)

    def run_with(seed, **overrides):
        agent, env = small_agent(seed, **overrides)
        stats = []
        for _ in range(3):
            rollout = agent.collect(env, np.full(6, 0.1))
            stats.append(agent.update(rollout))
        return agent, stats

    a, stats_a = run(3)
    b, stats_b = run(3)
    assert stats_a == stats_b
    for p, q in zip(a.policy.parameters(), b.policy.parameters()):
        assert torch.equal(p, q)
    # the VAE update in a second thread gives exactly what running it after PPO gives
    sequential, stats_s = run_with(3, parallel_updates=False)
    assert stats_s == stats_a
    for p, q in zip(
        [*a.policy.parameters(), *a.encoder.parameters()],
        [*sequential.policy.parameters(), *sequential.encoder.parameters()],
    ):
        assert torch.equal(p, q)
    c, _ = run(4)
    assert not all(torch.equal(p, q) for p, q in zip(a.policy.parameters(), c.policy.parameters()))


def test_state_dict_resumes_bit_identically():
    agent, env = small_agent(1)
    for _ in range(2):
        agent.update(agent.collect(env, np.full(6, 0.1)))
    state = agent.state_dict()
    env_state = env.np_random.bit_generator.state
    reference = [agent.update(agent.collect(env, np.full(6, 0.3))) for _ in range(2)]
    other, other_env = small_agent(99)
    other.load_state_dict(state)
    other_env.np_random.bit_generator.state = env_state
    resumed = [other.update(other.collect(other_env, np.full(6, 0.3))) for _ in range(2)]
    assert resumed == reference
    for p, q in zip(agent.decoder.parameters(), other.decoder.parameters()):
        assert torch.equal(p, q)


def _update_twice_with_one_trained_task(**overrides):
    """Update once on a rollout in which only task 4 has a non-zero weight, and once more from the same state
    with the other tasks' rewards changed; returns the agent (at that state), the rollout, the first update's
    stats and the policy parameters after each update."""
    agent, env = small_agent(2, normalize_rewards=False, **overrides)
    rollout = agent.collect(env, np.full(6, 0.1))
    weights = np.zeros(6)
    weights[4] = 1.0
    changed = rollout.rewards.clone()
    changed[:, [0, 1, 2, 3, 5]] += torch.randn(64, 5, generator=gen(7))
    state = agent.state_dict()
    stats = agent.update(rollout, weights)
    first = params(agent.policy)
    agent.load_state_dict(state)
    agent.update(type(rollout)(**{**rollout.__dict__, "rewards": changed}), weights)
    second = params(agent.policy)
    agent.load_state_dict(state)
    return agent, rollout, stats, first, second


def test_zero_weight_tasks_do_not_reach_the_policy_update():
    # without reward normalisation (whose statistics see every task's rewards) nothing of a zero-weight task
    # reaches the policy: changing its rewards leaves the update bit-identical
    agent, rollout, _, expected, changed = _update_twice_with_one_trained_task()
    for p, q in zip(changed, expected):
        assert torch.equal(p, q)
    agent.update(rollout, np.ones(6))
    assert any((p - q).abs().max() > 1e-4 for p, q in zip(params(agent.policy), expected))


def test_authors_tail_masking_keeps_masked_frames_with_zero_advantage():
    # tail_masking="advantages" (the authors' bad_masks): a masked task's rewards still do not matter (its
    # advantages are zeroed), but its frames stay in the loss, so the update differs from the "loss" scheme
    updates = {}
    for mode in ("advantages", "loss"):
        _, _, stats, updates[mode], changed = _update_twice_with_one_trained_task(tail_masking=mode)
        assert stats["trained_tasks"] == 1
        for p, q in zip(changed, updates[mode]):
            assert torch.equal(p, q)
    assert any((p - q).abs().max() > 1e-5 for p, q in zip(updates["advantages"], updates["loss"]))
    with pytest.raises(ValueError, match="tail_masking"):
        VariBADConfig(tail_masking="bad_masks")


@pytest.mark.parametrize(
    "weights, match",
    [
        (np.ones(5), "6 finite non-negative"),
        (np.array([1, 1, 1, 1, 1, -1.0]), "6 finite non-negative"),
        (np.array([1, 1, 1, 1, 1, np.nan]), "6 finite non-negative"),
    ],
)
def test_bad_weights_raise_and_change_nothing(weights, match):
    agent, env = small_agent()
    rollout = agent.collect(env, np.full(6, 0.1))
    before = params(agent.policy)
    with pytest.raises(ValueError, match=match):
        agent.update(rollout, weights)
    assert agent.iteration == 0 and len(agent.buffer) == 0
    assert all(torch.equal(p, q) for p, q in zip(before, agent.policy.parameters()))


def test_config_validation():
    with pytest.raises(ValueError, match="num_envs"):
        VariBADConfig(num_envs=0)
    with pytest.raises(ValueError, match="gamma"):
        VariBADConfig(gamma=1.5)
    with pytest.raises(ValueError, match="vae_batch_size"):
        VariBADConfig(vae_batch_size=20, vae_buffer_size=10)
    with pytest.raises(ValueError, match="episode_ends"):
        VariBADConfig(episode_ends="terminal")
    with pytest.raises(ValueError, match="kl_reduction"):
        VariBADConfig(kl_reduction="max")
    assert VariBADConfig().episode_ends == "bamdp"  # Khazad-Dum
    assert all(PRESETS[robot]["episode_ends"] == "truncate" for robot in ("half-cheetah", "humanoid", "ant"))
    with pytest.raises(ValueError, match="action_space"):
        VariBAD(spaces.Box(-1, 1, (3,)), spaces.MultiDiscrete([2, 2]))


@pytest.mark.parametrize("belief, iterations", [(True, 25), (False, 40)])  # VariBAD, and plain PPO
def test_the_agent_learns_to_leave_the_start_on_khazad_dum(belief, iterations):
    overrides = dict(num_envs=16, episodes_per_task=1, vae_buffer_size=200, vae_batch_size=10)
    agent, env = small_agent(0, belief=belief, **overrides)
    rng = np.random.default_rng(0)
    first = agent.collect(env, rng.exponential(0.1, 16)).task_scores.mean()
    for _ in range(iterations):
        agent.update(agent.collect(env, rng.exponential(0.1, 16)))
    test = agent.collect(env, rng.exponential(0.1, 16), deterministic=True)
    assert test.task_scores.mean() > first + 0.3


def test_without_a_belief_it_is_plain_ppo_on_the_observation():
    agent, env = small_agent(0, belief=False)
    assert agent.encoder is None and agent.decoder is None and agent.policy.latent_in == 0
    rollout = agent.collect(env, np.full(6, 0.2))
    assert rollout.latent.shape == (*rollout.rewards.shape, 0)
    stats = agent.update(rollout)
    assert set(stats) == {"policy_loss", "value_loss", "entropy", "trained_tasks"} and len(agent.buffer) == 0
    rollout = agent.collect(env, np.full(6, 0.4))
    obs = rollout.obs.reshape(-1, rollout.obs.shape[-1])
    none = torch.zeros(len(obs), 0)
    expected = agent.policy.action_params(agent.policy.features(*agent._policy_inputs(obs, none)))
    torch.testing.assert_close(agent.folded_actor().action_params(obs, none), expected, rtol=1e-5, atol=1e-5)


def test_a_plain_ppo_agent_resumes_bit_identically_and_refuses_a_state_with_a_belief():
    agent, env = small_agent(1, belief=False)
    agent.update(agent.collect(env, np.full(6, 0.1)))
    state, env_state = agent.state_dict(), env.np_random.bit_generator.state
    reference = [agent.update(agent.collect(env, np.full(6, 0.3))) for _ in range(2)]
    other, other_env = small_agent(99, belief=False)
    other.load_state_dict(state)
    other_env.np_random.bit_generator.state = env_state
    assert [other.update(other.collect(other_env, np.full(6, 0.3))) for _ in range(2)] == reference
    with pytest.raises(ValueError, match="with a belief"):
        other.load_state_dict(small_agent(0)[0].state_dict())
    with pytest.raises(ValueError, match="without a belief"):
        small_agent(0)[0].load_state_dict(state)
