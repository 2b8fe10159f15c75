"""Adam over one flat buffer of parameters, for small networks updated many times per second.

``torch.optim.Adam`` (even ``fused=True``) and ``clip_grad_norm_`` spend about half a millisecond per step on
per-parameter bookkeeping in Python, which for VariBAD's 32k-parameter policy and 16 PPO minibatches per iteration
is more than the arithmetic. :class:`FlatAdam` instead re-homes every parameter (and its gradient) as a view into
one contiguous buffer, so that a step is a handful of element-wise kernels over that buffer.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn

__all__ = ["FlatAdam"]


class FlatAdam:
    """Adam (Kingma and Ba, 2015; PyTorch's default variant: no weight decay, no AMSGrad) with optional
    gradient-norm clipping, over parameters that share one flat storage.

    On construction every parameter's data and gradient become views of ``self.params`` and ``self.grads``.
    Autograd then accumulates gradients into those views in place, so :meth:`zero_grad` zeroes them rather than
    dropping them. Nothing may replace a parameter's ``.data`` or ``.grad`` afterwards (``load_state_dict`` on the
    module copies into the views and is fine).

    Args:
        parameters: the parameters to optimise (float32, all on one device, each once).
        lr, betas, eps: as ``torch.optim.Adam``.
        max_grad_norm: if given, the gradient is rescaled before every step so that its global L2 norm is at most
            this (``torch.nn.utils.clip_grad_norm_``'s rule: factor ``min(1, max_norm / (norm + 1e-6))``).
    """

    def __init__(
        self,
        parameters: Iterable[nn.Parameter],
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        max_grad_norm: float | None = None,
    ):
        self.parameters = list(parameters)
        if not self.parameters:
            raise ValueError("FlatAdam got no parameters")
        if len({id(p) for p in self.parameters}) != len(self.parameters):
            raise ValueError("FlatAdam got the same parameter twice")
        if any(p.dtype != torch.float32 or p.device != self.parameters[0].device for p in self.parameters):
            raise ValueError("FlatAdam takes float32 parameters on one device")
        if not (lr > 0 and eps > 0 and all(0 <= b < 1 for b in betas)):
            raise ValueError(f"invalid Adam settings lr={lr}, betas={betas}, eps={eps}")
        if max_grad_norm is not None and not max_grad_norm > 0:
            raise ValueError(f"max_grad_norm must be > 0, got {max_grad_norm}")
        self.lr, self.betas, self.eps, self.max_grad_norm = lr, tuple(betas), eps, max_grad_norm
        with torch.no_grad():
            self.params = torch.cat([p.detach().reshape(-1) for p in self.parameters])
        self.grads = torch.zeros_like(self.params)
        offset = 0
        for p in self.parameters:
            size = p.numel()
            p.data = self.params[offset : offset + size].view_as(p)
            p.grad = self.grads[offset : offset + size].view_as(p)
            offset += size
        self.exp_avg = torch.zeros_like(self.params)
        self.exp_avg_sq = torch.zeros_like(self.params)
        self.steps = 0

    def zero_grad(self) -> None:
        self.grads.zero_()

    @torch.no_grad()
    def step(self) -> torch.Tensor:
        """Clip (if configured) and apply one Adam step; returns the gradient's norm before clipping."""
        norm = torch.linalg.vector_norm(self.grads)
        if self.max_grad_norm is not None:
            self.grads.mul_((self.max_grad_norm / (norm + 1e-6)).clamp_(max=1.0))
        beta1, beta2 = self.betas
        self.steps += 1
        self.exp_avg.lerp_(self.grads, 1.0 - beta1)
        self.exp_avg_sq.mul_(beta2).addcmul_(self.grads, self.grads, value=1.0 - beta2)
        denominator = self.exp_avg_sq.sqrt().div_(math.sqrt(1.0 - beta2**self.steps)).add_(self.eps)
        self.params.addcdiv_(self.exp_avg, denominator, value=-self.lr / (1.0 - beta1**self.steps))
        return norm

    def state_dict(self) -> dict:
        return {"steps": self.steps, "exp_avg": self.exp_avg.clone(), "exp_avg_sq": self.exp_avg_sq.clone()}

    def load_state_dict(self, state: dict) -> None:
        if state["exp_avg"].shape != self.params.shape:
            raise ValueError(
                f"optimiser state for {state['exp_avg'].numel()} parameters, {self.params.numel()} configured"
            )
        self.steps = int(state["steps"])
        self.exp_avg.copy_(state["exp_avg"])
        self.exp_avg_sq.copy_(state["exp_avg_sq"])
