"""The per-task reference of MAML's vectorised meta-loss: a plain Python loop over tasks (slow; for the tests and
``benchmarks/bench_maml.py``, which imports it from here)."""

from __future__ import annotations

import numpy as np
import torch
from torch.func import functional_call

from roml.algos.maml import MAML, _mse


def loop_meta_loss(maml: MAML, data, task_weights=None) -> tuple[torch.Tensor, torch.Tensor]:
    """What :meth:`MAML.meta_loss` computes, task by task: each task adapted with ``torch.autograd.grad(...,
    create_graph=not first_order)`` on the model's own parameters. Equal up to floating-point rounding."""
    xs, ys, xq, yq = maml._tensors(data)
    n_tasks = xs.shape[0]
    weights = maml._weights(task_weights, n_tasks)
    config = maml.config
    names, base = zip(*maml.model.named_parameters())
    buffers = dict(maml.model.named_buffers())
    losses = []
    for i in range(n_tasks):
        params = list(base)
        for _ in range(config.inner_steps):
            prediction = functional_call(maml.model, {**dict(zip(names, params)), **buffers}, (xs[i],))
            grads = torch.autograd.grad(_mse(prediction, ys[i]), params, create_graph=not config.first_order)
            params = [p - config.inner_lr * g for p, g in zip(params, grads)]
        prediction = functional_call(maml.model, {**dict(zip(names, params)), **buffers}, (xq[i],))
        losses.append(_mse(prediction, yq[i]))
    stacked = torch.stack(losses)
    return (weights * stacked).sum() / n_tasks, stacked


def loop_meta_step(maml: MAML, data, task_weights=None) -> np.ndarray:
    """What :meth:`MAML.meta_step` does, on :func:`loop_meta_loss`."""
    return maml._step(*loop_meta_loss(maml, data, task_weights))
