"""The default spike function: a Heaviside step with an arc-tangent surrogate gradient.

Layers take the spike function as a callable ``spike_fn(v - threshold) -> z`` so that the
hosts can pass their own surrogates (snnTorch ``spike_grad``, SpikingJelly
``surrogate_function``). This module provides the default used when none is given: it fires
on ``v - threshold > 0`` (snnTorch's convention) and its backward pass is the derivative of

.. math:: \\tilde z(u) = \\tfrac{1}{\\pi} \\arctan\\!\\big(\\tfrac{\\pi}{2} \\alpha u\\big) + \\tfrac12,
          \\qquad \\tilde z'(u) = \\frac{\\alpha / 2}{1 + (\\pi \\alpha u / 2)^2}.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


class _ATanSpike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u: Tensor, alpha: float) -> Tensor:
        ctx.save_for_backward(u)
        ctx.alpha = alpha
        return (u > 0).to(u.dtype)

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        (u,) = ctx.saved_tensors
        alpha = ctx.alpha
        return grad_out * (alpha / 2) / (1 + (math.pi / 2 * alpha * u) ** 2), None


class ATanSpike:
    """Heaviside spike ``z = [u > 0]`` with the arc-tangent surrogate of slope ``alpha``."""

    elementwise = True  # each spike depends on its own u only (fused kernels rely on it)

    def __init__(self, alpha: float = 2.0):
        if not alpha > 0:
            raise ValueError(f"alpha must be > 0; got {alpha!r}")
        self.alpha = float(alpha)

    def __call__(self, u: Tensor) -> Tensor:
        return _ATanSpike.apply(u, self.alpha)

    def __repr__(self) -> str:
        return f"ATanSpike(alpha={self.alpha})"


# Types whose instances act elementwise (besides callables with ``elementwise = True``): the
# adapters add their hosts' surrogate base classes.
_ELEMENTWISE: list[type] = []


def declare_elementwise(cls: type) -> None:
    """Declare that instances of ``cls`` are elementwise spike functions (``z_j`` depends on
    ``u_j`` only), which the fused kernels need (:mod:`hetsyn_plugins.core.kernels.fused`)."""
    if cls not in _ELEMENTWISE:
        _ELEMENTWISE.append(cls)


def is_elementwise(spike_fn) -> bool:
    """Whether ``spike_fn`` is declared elementwise (attribute or :func:`declare_elementwise`)."""
    declared = bool(getattr(spike_fn, "elementwise", False))
    return declared or isinstance(spike_fn, tuple(_ELEMENTWISE))


def default_spike_fn() -> ATanSpike:
    """The spike function a layer uses when none is given."""
    return ATanSpike()
