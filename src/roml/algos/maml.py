"""MAML (Finn et al., 2017) for regression, as used for the sine experiment of Section 6.3 and Appendix E.

One meta-iteration on a batch of ``n`` tasks (support set ``S_i``, query set ``Q_i``):

1. adapt: ``theta_i = theta - inner_lr * grad L_{S_i}(theta)`` (``inner_steps`` plain SGD steps; MSE loss);
2. score: ``L_i = L_{Q_i}(theta_i)``, the post-adaptation query loss (the sampler's score is ``-L_i``);
3. update: one Adam step on the meta-loss ``sum_i w_i L_i / n``, differentiating *through* the inner steps
   (second order) unless ``first_order`` is set.

The weights ``w_i`` are the task sampler's training weights: all ones for MAML and RoML, the alpha-tail
indicator for CVaR-ML (Algorithm 1, line 8). Dividing by ``n`` rather than by ``sum_i w_i`` is the authors'
normalisation (docs/authors-code.md, section 7: the selected tasks' query losses summed, then divided by 20);
Adam is invariant to a constant scale of the loss, so the choice only matters through Adam's ``eps``.

Defaults are the paper's, which are Finn et al.'s (Appendix E; docs/authors-code.md, section 7): an MLP 1-40-40-1
with ReLU, weights and biases initialised ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``, one second-order inner step with
learning rate 0.01, Adam with learning rate 1e-3, 20 tasks per meta-batch with 10 support and 10 query points each.

The inner loop is vectorised over tasks: the parameters get a leading task dimension and one
``torch.autograd.grad`` of the summed support losses adapts every task at once (the tasks are independent, so
row ``i`` of that gradient is task ``i``'s own). The forward pass over task-batched parameters is
``torch.func.functional_call``, ``vmap``-ed over tasks, unless the model provides ``task_batched_forward``
(:class:`SineMLP` does, with one ``baddbmm`` per layer). The tests check it against a plain per-task Python loop
with ``torch.autograd.grad(create_graph=True)`` (``tests/maml_reference.py``, also timed by
``benchmarks/bench_maml.py``). The number of torch threads is the caller's business.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, vmap

from roml.algos.maml_config import MAMLConfig

__all__ = ["MAML", "MAMLConfig", "SineMLP"]


def _as_generator(generator: torch.Generator | int) -> torch.Generator:
    if isinstance(generator, torch.Generator):
        return generator
    if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
        return torch.Generator().manual_seed(int(generator))
    raise TypeError(f"generator must be a torch.Generator or an int seed, got {type(generator).__name__}")


class _Dense(nn.Module):
    """``y = x W^T + b`` whose parameters are created without touching torch's global random state."""

    def __init__(self, fan_in: int, fan_out: int, dtype: torch.dtype):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(fan_out, fan_in, dtype=dtype))
        self.bias = nn.Parameter(torch.empty(fan_out, dtype=dtype))

    def reset_parameters(self, generator: torch.Generator) -> None:
        bound = 1.0 / math.sqrt(self.weight.shape[1])
        with torch.no_grad():
            self.weight.uniform_(-bound, bound, generator=generator)
            self.bias.uniform_(-bound, bound, generator=generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x, self.weight, self.bias)


class SineMLP(nn.Module):
    """The sine-regression network: an MLP ``1 -> 40 -> 40 -> 1`` with ReLU (Appendix E; docs/authors-code.md,
    section 7).

    Every weight and bias of a layer with ``fan_in`` inputs is drawn from ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``
    (the authors' initialisation, replacing PyTorch's Kaiming default), layer by layer, weight before bias, from
    ``generator`` alone; torch's global random state is never used.

    :meth:`task_batched_forward` evaluates one copy of the network per task, all tasks at once, which is how
    :class:`MAML` adapts a whole meta-batch in one pass.

    Args:
        generator: a ``torch.Generator`` (CPU) or an int seed for a fresh one.
        hidden: widths of the hidden layers.
        dtype: parameter dtype.
    """

    def __init__(
        self,
        generator: torch.Generator | int,
        hidden: Sequence[int] = (40, 40),
        dtype: torch.dtype = torch.float32,
    ):
        super().__init__()
        sizes = (1, *(int(h) for h in hidden), 1)
        if any(s < 1 for s in sizes):
            raise ValueError(f"hidden widths must be >= 1, got {tuple(hidden)}")
        self.layers = nn.ModuleList(_Dense(a, b, dtype) for a, b in zip(sizes[:-1], sizes[1:]))
        self.reset_parameters(generator)

    def reset_parameters(self, generator: torch.Generator | int) -> None:
        """Re-draw every parameter from ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` using ``generator``."""
        gen = _as_generator(generator)
        for layer in self.layers:
            layer.reset_parameters(gen)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map inputs ``(..., 1)`` to predictions ``(..., 1)``."""
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < last:
                x = torch.relu(x)
        return x

    def task_batched_forward(self, params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        """The network with task-batched parameters: task ``t``'s inputs ``x[t]`` through parameters ``params[.][t]``.

        Args:
            params: every entry of ``named_parameters()``, each with a leading task dimension ``T``.
            x: inputs ``(T, k, 1)``.

        Returns:
            Predictions ``(T, k, 1)``; one ``baddbmm`` per layer serves all tasks.
        """
        last = len(self.layers) - 1
        for i in range(len(self.layers)):
            weight, bias = params[f"layers.{i}.weight"], params[f"layers.{i}.bias"]
            x = torch.baddbmm(bias.unsqueeze(-2), x, weight.transpose(-1, -2))
            if i < last:
                x = torch.relu(x)
        return x


_FIELDS = ("x_support", "y_support", "x_query", "y_query")


def _mse(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (prediction - target).square().mean()


class MAML:
    """Model-agnostic meta-learning for regression with an MSE loss.

    ``MAML`` owns the model's parameters (updated in place) and the outer Adam optimiser. Data are any object
    with the attributes ``x_support``, ``y_support`` (``(n_tasks, n_support, ...)``) and ``x_query``,
    ``y_query`` (``(n_tasks, n_query, ...)``), numpy arrays or tensors, such as
    :class:`roml.envs.sine.SineData`; they are converted to the parameters' dtype and device. The model maps a
    task's inputs ``(k, ...)`` to predictions of the targets' shape.

    Args:
        model: the network to meta-train, e.g. ``SineMLP(generator)``; it must be a pure function of its
            parameters and buffers (no in-place buffer updates, no randomness in ``forward``).
        config: hyper-parameters; defaults to :class:`MAMLConfig` ``()``.

    Attributes:
        model, config: as given.
        optimizer: the outer ``torch.optim.Adam`` (learning rate ``config.outer_lr``, no weight decay; the fused
            implementation, a third of the cost of the default per-parameter loop for a network this small).
        iteration: number of meta-steps taken.
    """

    def __init__(self, model: nn.Module, config: MAMLConfig | None = None):
        self.model = model
        self.config = MAMLConfig() if config is None else config
        if not isinstance(self.config, MAMLConfig):
            raise TypeError(f"config must be a MAMLConfig, got {type(self.config).__name__}")
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=self.config.outer_lr, fused=True)
        self.iteration = 0

    @classmethod
    def for_sine(cls, generator: torch.Generator | int, config: MAMLConfig | None = None) -> MAML:
        """MAML on a fresh :class:`SineMLP` initialised from ``generator`` (Appendix E)."""
        return cls(SineMLP(generator), config)

    # ------------------------------------------------------------------------------------------------ helpers

    def _reference_tensor(self) -> torch.Tensor:
        return next(self.model.parameters())

    def _tensors(self, data) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The four data arrays as tensors of the model's dtype/device, validated."""
        ref = self._reference_tensor()
        out = []
        for name in _FIELDS:
            if not hasattr(data, name):
                raise ValueError(f"data must have the attributes {_FIELDS}; {name} is missing")
            value = torch.as_tensor(getattr(data, name)).to(dtype=ref.dtype, device=ref.device)
            if value.ndim < 2:
                raise ValueError(f"data.{name} must have shape (n_tasks, n_points, ...), got {tuple(value.shape)}")
            if not bool(torch.isfinite(value).all()):
                raise ValueError(f"data.{name} must be finite (found NaN or inf)")
            out.append(value)
        xs, ys, xq, yq = out
        n_tasks = xs.shape[0]
        if n_tasks < 1:
            raise ValueError("data must hold at least one task")
        if any(t.shape[0] != n_tasks for t in out):
            raise ValueError(f"data arrays disagree on n_tasks: {[tuple(t.shape) for t in out]}")
        if xs.shape[1] != ys.shape[1] or xs.shape[1] < 1:
            raise ValueError(
                f"data.x_support {tuple(xs.shape)} and data.y_support {tuple(ys.shape)} must hold "
                "the same number (>= 1) of support points"
            )
        if xq.shape[1] != yq.shape[1] or xq.shape[1] < 1:
            raise ValueError(
                f"data.x_query {tuple(xq.shape)} and data.y_query {tuple(yq.shape)} must hold "
                "the same number (>= 1) of query points"
            )
        return xs, ys, xq, yq

    def _weights(self, task_weights, n_tasks: int) -> torch.Tensor:
        ref = self._reference_tensor()
        if task_weights is None:
            return torch.ones(n_tasks, dtype=ref.dtype, device=ref.device)
        if isinstance(task_weights, torch.Tensor):
            task_weights = task_weights.detach().cpu().numpy()
        w = np.asarray(task_weights, dtype=np.float64)
        if w.shape != (n_tasks,):
            raise ValueError(f"task_weights must have shape ({n_tasks},), got {w.shape}")
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError(f"task_weights must be finite and >= 0, got {w.tolist()}")
        return torch.as_tensor(w, dtype=ref.dtype, device=ref.device)

    @staticmethod
    def _check_steps(steps, name: str = "steps") -> int:
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
            raise ValueError(f"{name} must be an integer >= 0, got {steps!r}")
        return int(steps)

    def _task_batched_call(self):
        """``(params, x) -> predictions`` for task-batched ``params`` (leading task dimension) and inputs.

        A model with a ``task_batched_forward(params, x)`` method (such as :class:`SineMLP`) provides it itself;
        any other model is called through ``functional_call``, ``vmap``-ed over the task dimension.
        """
        model = self.model
        if callable(getattr(model, "task_batched_forward", None)):
            return model.task_batched_forward
        buffers = dict(model.named_buffers())

        def call(params, x):
            return functional_call(model, {**params, **buffers}, (x,))

        return vmap(call)

    def _adapt(self, params: dict, xs, ys, xq, yq, steps: int, create_graph: bool, all_steps: bool):
        """Query losses of every task after ``steps`` inner SGD steps, all tasks at once.

        ``params`` hold one copy of the parameters per task (leading dimension ``T``). The tasks are independent,
        so the gradient of the *sum* of the support losses with respect to the task-batched parameters is, row by
        row, each task's own inner gradient: one ``autograd.grad`` call adapts every task. With ``create_graph``
        the step is differentiable (second-order MAML); without it the inner gradients are constants.

        Returns:
            ``(T,)`` losses after the last step, or ``(T, steps + 1)`` losses after ``0..steps`` steps.
        """
        call = self._task_batched_call()
        lr = self.config.inner_lr

        def task_losses(p, x, y):
            return (call(p, x) - y).square().flatten(1).mean(1)

        losses = []
        for _ in range(steps):
            if all_steps:
                losses.append(task_losses(params, xq, yq))
            names, values = zip(*params.items())
            grads = torch.autograd.grad(
                task_losses(params, xs, ys).sum(), values, create_graph=create_graph, allow_unused=True
            )
            params = {k: v if g is None else v - lr * g for k, v, g in zip(names, values, grads)}
        losses.append(task_losses(params, xq, yq))
        return torch.stack(losses, dim=1) if all_steps else losses[-1]

    # ------------------------------------------------------------------------------------------- vectorised

    def adapted_query_losses(self, data, steps: int | None = None) -> torch.Tensor:
        """Per-task query MSE after ``steps`` inner SGD steps on each task's support set.

        Vectorised over tasks: the parameters are expanded (a view, no copy) to one row per task and adapted all
        at once (see :meth:`_adapt`). The result, shape ``(n_tasks,)``, is differentiable with respect to the
        model's parameters *through* the inner steps (second order, the semantics of ``create_graph=True``)
        unless ``config.first_order``, in which case the inner gradients are constants.

        Args:
            data: support and query sets (see the class docstring).
            steps: inner steps; ``config.inner_steps`` when ``None``.
        """
        steps = self.config.inner_steps if steps is None else self._check_steps(steps)
        xs, ys, xq, yq = self._tensors(data)
        n_tasks = xs.shape[0]
        params = {k: p.expand(n_tasks, *p.shape) for k, p in self.model.named_parameters()}
        return self._adapt(params, xs, ys, xq, yq, steps, create_graph=not self.config.first_order, all_steps=False)

    def meta_loss(self, data, task_weights=None) -> tuple[torch.Tensor, torch.Tensor]:
        """The meta-loss ``sum_i w_i L_i / n_tasks`` and the per-task post-adaptation query losses ``L_i``.

        Args:
            data: support and query sets of ``n_tasks`` tasks.
            task_weights: the sampler's non-negative training weights ``(n_tasks,)``; all ones when ``None``.
        """
        losses = self.adapted_query_losses(data)
        weights = self._weights(task_weights, losses.shape[0])
        return (weights * losses).sum() / losses.shape[0], losses

    def meta_step(self, data, task_weights=None) -> np.ndarray:
        """One meta-iteration: adapt on each support set, score on its query set, take one Adam step.

        Args:
            data: support and query sets of the meta-batch.
            task_weights: the sampler's non-negative training weights ``(n_tasks,)`` (all ones for MAML and RoML,
                the alpha-tail indicator for CVaR-ML); all ones when ``None``. It may also be a callable that
                receives the post-adaptation losses (float64 numpy, checked finite) and returns the weights: that
                is how a task sampler scores the batch it handed out, in the same forward pass::

                    maml.meta_step(data, lambda losses: sampler.observe(batch, -losses))

        Returns:
            The post-adaptation query losses ``L_i`` (before this update), a float64 array ``(n_tasks,)``.

        Raises:
            ValueError: invalid data or weights (non-finite inputs included).
            FloatingPointError: a loss or the meta-gradient is not finite; the parameters are left unchanged.
        """
        if not callable(task_weights):
            return self._step(*self.meta_loss(data, task_weights))
        losses = self.adapted_query_losses(data)
        values = self._finite_losses(losses)
        weights = self._weights(task_weights(values), losses.shape[0])
        return self._step((weights * losses).sum() / losses.shape[0], losses)

    def _finite_losses(self, losses: torch.Tensor) -> np.ndarray:
        """The losses as float64 numpy, or a ``FloatingPointError`` naming the tasks whose loss is not finite."""
        values = losses.detach().cpu().numpy().astype(np.float64)
        if not np.all(np.isfinite(values)):
            bad = np.flatnonzero(~np.isfinite(values))
            shown = ", ".join(str(i) for i in bad[:10]) + (", ..." if bad.size > 10 else "")
            raise FloatingPointError(
                f"MAML meta-step {self.iteration}: non-finite post-adaptation query loss for {bad.size} of "
                f"{values.size} tasks ({shown}); parameters left unchanged (lower inner_lr or outer_lr?)"
            )
        return values

    def _step(self, meta_loss: torch.Tensor, losses: torch.Tensor) -> np.ndarray:
        values = self._finite_losses(losses)
        self.optimizer.zero_grad(set_to_none=True)
        meta_loss.backward()
        grads = [p.grad for p in self.model.parameters() if p.grad is not None]
        if grads and not bool(torch.isfinite(torch.stack(torch._foreach_norm(grads))).all()):
            self.optimizer.zero_grad(set_to_none=True)
            raise FloatingPointError(
                f"MAML meta-step {self.iteration}: non-finite meta-gradient; parameters left unchanged"
            )
        self.optimizer.step()
        self.iteration += 1
        return values

    # ----------------------------------------------------------------------------------------- evaluation

    def evaluate(self, data, max_steps: int = 5, chunk: int = 1000) -> np.ndarray:
        """Query MSE of every task after ``0, 1, ..., max_steps`` inner SGD steps on its support set.

        The test protocol of the paper (docs/authors-code.md, section 7) uses 10 support and 32 query points per
        task and records the losses after 0..5 steps. The model is not changed. Tasks are processed ``chunk`` at a
        time to bound memory; no graph through the model's parameters is built (each chunk adapts a detached
        copy).

        Returns:
            A float64 array ``(n_tasks, max_steps + 1)``; column ``k`` is the loss after ``k`` steps.
        """
        max_steps = self._check_steps(max_steps, "max_steps")
        if isinstance(chunk, bool) or not isinstance(chunk, (int, np.integer)) or chunk < 1:
            raise ValueError(f"chunk must be an integer >= 1, got {chunk!r}")
        xs, ys, xq, yq = self._tensors(data)
        base = {k: v.detach() for k, v in self.model.named_parameters()}
        out = []
        with torch.enable_grad():
            for start in range(0, xs.shape[0], int(chunk)):
                part = slice(start, start + int(chunk))
                n_tasks = xs[part].shape[0]
                params = {k: v.expand(n_tasks, *v.shape).requires_grad_() for k, v in base.items()}
                losses = self._adapt(
                    params, xs[part], ys[part], xq[part], yq[part], max_steps, create_graph=False, all_steps=True
                )
                out.append(losses.detach())
        return torch.cat(out).cpu().numpy().astype(np.float64)

    # ------------------------------------------------------------------------------------------ checkpoint

    def state_dict(self) -> dict:
        """A deep copy of the model and optimiser state, the config and the iteration count."""
        return {
            "model": copy.deepcopy(self.model.state_dict()),
            "optimizer": copy.deepcopy(self.optimizer.state_dict()),
            "config": dataclasses.asdict(self.config),
            "iteration": self.iteration,
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`'s output; the continued run is bit-identical to the uninterrupted one.

        Raises:
            ValueError: ``state`` lacks a key, or was saved with a different config.
        """
        missing = [k for k in ("model", "optimizer", "config", "iteration") if k not in state]
        if missing:
            raise ValueError(f"state is missing {missing}")
        current = dataclasses.asdict(self.config)
        differ = {k: (state["config"].get(k), v) for k, v in current.items() if state["config"].get(k) != v}
        if differ:
            raise ValueError(f"state was saved with a different config (saved, current): {differ}")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(copy.deepcopy(state["optimizer"]))
        self.iteration = int(state["iteration"])
