"""Spike functions: a Heaviside step with a surrogate gradient (arc-tangent, the default; the
multi-Gaussian of the paper's code).

Layers take the spike function as a callable ``spike_fn(v - threshold) -> z`` so that the
hosts can pass their own surrogates (snnTorch ``spike_grad``, SpikingJelly
``surrogate_function``). This module provides the default used when none is given: it fires
on ``v - threshold > 0`` (snnTorch's convention) and its backward pass is the derivative of

.. math:: \\tilde z(u) = \\tfrac{1}{\\pi} \\arctan\\!\\big(\\tfrac{\\pi}{2} \\alpha u\\big) + \\tfrac12,
          \\qquad \\tilde z'(u) = \\frac{\\alpha / 2}{1 + (\\pi \\alpha u / 2)^2}.

:class:`MultiGaussianSpike` is the paper's (see its docstring). Both give their surrogate
derivative as ``derivative(u)``, which the fused kernels call directly (for other spike
functions they differentiate the function by autograd).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .validation import check_positive


class _SurrogateSpike(torch.autograd.Function):
    """``[u > 0]`` forward; backward the derivative that ``spec`` gives (``spec.derivative``)."""

    @staticmethod
    def forward(ctx, u: Tensor, spec) -> Tensor:
        ctx.save_for_backward(u)
        ctx.spec = spec
        return (u > 0).to(u.dtype)

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        (u,) = ctx.saved_tensors
        return grad_out * ctx.spec.derivative(u), None


class ATanSpike:
    """Heaviside spike ``z = [u > 0]`` with the arc-tangent surrogate of slope ``alpha``."""

    elementwise = True  # each spike depends on its own u only (fused kernels rely on it)

    def __init__(self, alpha: float = 2.0):
        if not alpha > 0:
            raise ValueError(f"alpha must be > 0; got {alpha!r}")
        self.alpha = float(alpha)

    def derivative(self, u: Tensor) -> Tensor:
        """The surrogate derivative at ``u`` (elementwise)."""
        return (self.alpha / 2) / (1 + (math.pi / 2 * self.alpha * u) ** 2)

    def __call__(self, u: Tensor) -> Tensor:
        return _SurrogateSpike.apply(u, self)

    def __repr__(self) -> str:
        return f"ATanSpike(alpha={self.alpha})"


_EXP_FLOOR = -80.0  # exp(-80) = 1.8e-35: below it the density is taken as 0


def _normal_pdf(u: Tensor, mean: float, std: float) -> Tensor:
    """The normal density at ``u``, set to exactly 0 where ``exp`` would be below 1.8e-35:
    far from the threshold it would otherwise produce subnormal floats, which make the CPU's
    arithmetic some 25 times slower."""
    arg = -((u - mean) ** 2) / (2 * std**2)
    far = arg < _EXP_FLOOR
    density = torch.exp(arg.clamp(min=_EXP_FLOOR)) / (math.sqrt(2 * math.pi) * std)
    return density.masked_fill_(far, 0.0)


class MultiGaussianSpike:
    r"""Heaviside spike ``z = [u > 0]`` with the multi-Gaussian surrogate of Yin, Corradi and
    Bohté (2021), the one the paper's SHD code trains with:

    .. math:: \tilde z'(u) = \gamma \big[(1 + h)\, \mathcal N(u; 0, \sigma)
              - h\, \mathcal N(u; \sigma, s \sigma) - h\, \mathcal N(u; -\sigma, s \sigma)\big]

    with :math:`\mathcal N(u; \mu, \sigma)` the normal density, ``width`` :math:`\sigma = 0.5`,
    ``height`` :math:`h = 0.15`, ``scale`` :math:`s = 6` and ``gamma`` :math:`\gamma = 0.5`
    (the defaults are the paper's). The two wide negative side lobes push membranes away from
    the threshold; the derivative integrates to ``gamma (1 - h)`` over the real line.

    A plain callable: pass it as ``spike_fn`` to the core layers, ``spike_grad`` to
    ``snn.HetSynLeaky`` or ``surrogate_function`` to ``neuron.HetSynNode``.
    """

    elementwise = True

    def __init__(
        self, width: float = 0.5, height: float = 0.15, scale: float = 6.0, gamma: float = 0.5
    ):
        for name, value in (("width", width), ("scale", scale), ("gamma", gamma)):
            check_positive(name, value)
        if not height >= 0:
            raise ValueError(f"height must be >= 0; got {height!r}")
        self.width, self.height = float(width), float(height)
        self.scale, self.gamma = float(scale), float(gamma)

    def derivative(self, u: Tensor) -> Tensor:
        """The surrogate derivative at ``u`` (elementwise)."""
        w, h, side = self.width, self.height, self.scale * self.width
        centre = _normal_pdf(u, 0.0, w) * (1 + h)
        lobes = _normal_pdf(u, w, side) + _normal_pdf(u, -w, side)
        return self.gamma * (centre - h * lobes)

    def __call__(self, u: Tensor) -> Tensor:
        return _SurrogateSpike.apply(u, self)

    def __repr__(self) -> str:
        return (
            f"MultiGaussianSpike(width={self.width}, height={self.height}, "
            f"scale={self.scale}, gamma={self.gamma})"
        )


# Names of the spike functions for options that take one by name (the tasks' ``surrogate``).
SPIKE_FUNCTIONS = {"atan": ATanSpike, "multi_gaussian": MultiGaussianSpike}


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
