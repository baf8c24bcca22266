"""Time constants and decay factors: conversion, initializers, parametrizations.

A time constant ``tau`` (in the same unit as the step ``dt``; with ``dt = 1`` it counts steps)
gives the per-step decay factor

.. math:: r = \\exp(-\\Delta t / \\tau), \\qquad \\tau = -\\Delta t / \\ln r,

so ``tau > 0`` maps one to one onto ``0 < r < 1``.

Initializers (:class:`Constant`, :class:`Normal`, :class:`Uniform`, :class:`LogNormal` for time
constants, :class:`Decay` for decay factors given directly, snnTorch's ``beta`` style) are
what every time-scale argument of the layers accepts, besides a plain float or tensor (a
constant time constant).

A :class:`DecayParameter` holds the decay factors of one pathway. Learnable decays are
parametrized so that they stay in (0, 1):

- ``"logit"`` (default): ``r = sigmoid(p)``, in (0, 1) by construction;
- ``"clamp"`` (the paper's way): ``r`` is learned directly and clamped back into
  ``[eps, 1 - eps]`` after each optimizer step (:func:`clamp_decays_after_step`).

Fixed decays are stored as buffers, exactly as given.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Optional

import torch
from torch import Tensor, nn

from .validation import check_broadcastable, check_choice, check_decay, check_positive

PARAMETRIZATIONS = ("logit", "clamp")
DEFAULT_CLAMP_EPS = 1e-4


def tau_to_decay(tau: float | Tensor, dt: float = 1.0) -> Tensor:
    """Decay factor ``r = exp(-dt / tau)`` of a time constant ``tau > 0``."""
    check_positive("tau", tau)
    check_positive("dt", dt)
    return torch.exp(-dt / torch.as_tensor(tau, dtype=_float_dtype(tau)))


def decay_to_tau(decay: float | Tensor, dt: float = 1.0) -> Tensor:
    """Time constant ``tau = -dt / ln(r)`` of a decay factor ``0 < r < 1``."""
    check_decay("decay", decay)
    check_positive("dt", dt)
    return -dt / torch.log(torch.as_tensor(decay, dtype=_float_dtype(decay)))


def _float_dtype(value: float | Tensor) -> torch.dtype:
    if isinstance(value, Tensor) and torch.is_floating_point(value):
        return value.dtype
    return torch.float64


# --------------------------------------------------------------------------- initializers


class TimescaleInit:
    """Base class of time-scale initializers.

    Subclasses implement :meth:`sample_tau`; :meth:`decay` turns the sampled time constants
    into checked decay factors of the requested shape.
    """

    def sample_tau(
        self, shape: Sequence[int], name: str = "tau"
    ) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def decay(self, name: str, shape: Sequence[int], dt: float) -> Tensor:
        """Decay factors of ``shape`` (float64), checked to lie in (0, 1)."""
        tau = self.sample_tau(shape, name)
        check_positive(name, tau)
        r = torch.exp(-dt / tau)
        check_decay(f"decay of {name} (exp(-dt/tau) with dt={dt})", r)
        return r

    @property
    def elementwise(self) -> bool:
        """True when the initializer holds one value per element (it has a fixed shape)."""
        value = getattr(self, "tau", getattr(self, "value", None))
        return isinstance(value, Tensor) and value.numel() > 1

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={_short(v)}" for k, v in vars(self).items() if v is not None)
        return f"{type(self).__name__}({args})"


class Constant(TimescaleInit):
    """The same time constant everywhere (a float, or a tensor broadcastable to the shape)."""

    def __init__(self, tau: float | Tensor):
        check_positive("tau", tau)
        self.tau = tau

    def sample_tau(self, shape: Sequence[int], name: str = "tau") -> Tensor:
        tau = torch.as_tensor(self.tau, dtype=torch.float64)
        return check_broadcastable(name, tau, shape).clone()


class Normal(TimescaleInit):
    """Time constants drawn from N(mean, std), truncated below at ``low`` (> 0).

    ``low`` defaults to ``mean / 100``; the paper's N(20, 5) and N(40, 4) never reach it in
    practice.
    """

    def __init__(self, mean: float, std: float, low: float | None = None):
        check_positive("mean", mean)
        check_positive("std", std)
        low = mean / 100 if low is None else low
        check_positive("low", low)
        if low >= mean:
            raise ValueError(f"low must be below mean={mean}; got {low}")
        self.mean, self.std, self.low = float(mean), float(std), float(low)

    def sample_tau(self, shape: Sequence[int], name: str = "tau") -> Tensor:
        t = torch.empty(tuple(shape), dtype=torch.float64)
        return nn.init.trunc_normal_(t, self.mean, self.std, a=self.low, b=math.inf)


class Uniform(TimescaleInit):
    """Time constants drawn uniformly from [low, high], ``0 < low < high``."""

    def __init__(self, low: float, high: float):
        check_positive("low", low)
        check_positive("high", high)
        if high <= low:
            raise ValueError(f"high must be greater than low={low}; got {high}")
        self.low, self.high = float(low), float(high)

    def sample_tau(self, shape: Sequence[int], name: str = "tau") -> Tensor:
        return torch.empty(tuple(shape), dtype=torch.float64).uniform_(self.low, self.high)


class LogNormal(TimescaleInit):
    """Log-normal time constants with the given ``mean`` and ``std`` (of tau itself)."""

    def __init__(self, mean: float, std: float):
        check_positive("mean", mean)
        check_positive("std", std)
        self.mean, self.std = float(mean), float(std)

    def sample_tau(self, shape: Sequence[int], name: str = "tau") -> Tensor:
        sigma2 = math.log1p((self.std / self.mean) ** 2)
        mu = math.log(self.mean) - sigma2 / 2
        return torch.empty(tuple(shape), dtype=torch.float64).log_normal_(mu, math.sqrt(sigma2))


class Decay(TimescaleInit):
    """Decay factors given directly (snnTorch's ``beta``), each in the open interval (0, 1).

    Kept exactly as given (no round trip through ``tau``), which conversions of existing
    models rely on.
    """

    def __init__(self, decay: float | Tensor, *, name: Optional[str] = None):
        check_decay(name or "decay", decay)
        self.value = decay
        self.name = name  # what errors call the value (a host's own name: snnTorch's beta)

    def decay(self, name: str, shape: Sequence[int], dt: float) -> Tensor:
        value = self.value
        if not (isinstance(value, Tensor) and torch.is_floating_point(value)):
            value = torch.as_tensor(value, dtype=torch.float64)  # keep a Python float exact
        return check_broadcastable(self.name or name, value, shape).clone()

    def sample_tau(self, shape: Sequence[int], name: str = "tau") -> Tensor:
        return -1.0 / torch.log(self.decay(name, shape, 1.0).double())


class LogitUniform(TimescaleInit):
    """Decay factors ``sigmoid(u)`` with ``u`` drawn uniformly from [low, high] (DH-SNN's
    initialisation of its branch and membrane decays: (2, 6) and (0, 4) there)."""

    def __init__(self, low: float, high: float):
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ValueError(f"LogitUniform needs finite low < high; got low={low}, high={high}")
        self.low, self.high = float(low), float(high)

    def sample_tau(self, shape: Sequence[int], name: str = "tau") -> Tensor:
        u = torch.empty(tuple(shape), dtype=torch.float64).uniform_(self.low, self.high)
        return -1.0 / torch.nn.functional.logsigmoid(u)


TimescaleSpec = float | int | Tensor | TimescaleInit


def as_initializer(name: str, spec: TimescaleSpec) -> TimescaleInit:
    """Turn a time-scale argument (float, tensor of taus, or initializer) into an initializer."""
    if isinstance(spec, TimescaleInit):
        return spec
    if isinstance(spec, bool) or not isinstance(spec, (float, int, Tensor)):
        raise TypeError(
            f"{name} must be a float, a tensor of time constants or an initializer from "
            f"hetsyn_plugins.core.timescales; got {type(spec).__name__}"
        )
    check_positive(name, spec)
    return Constant(spec)


def _short(v: object) -> str:
    if isinstance(v, Tensor):
        return f"tensor(shape={tuple(v.shape)})" if v.numel() > 1 else repr(v.item())
    return repr(v)


# --------------------------------------------------------------------------- parameters


class DecayParameter(nn.Module):
    """The decay factors of one pathway, of a fixed shape, kept in (0, 1).

    Call the module to get the current decay tensor. Fixed decays are a buffer ``value``;
    learnable ones a parameter ``raw`` whose meaning depends on ``parametrization``
    (``"logit"``: ``r = sigmoid(raw)``; ``"clamp"``: ``r = raw``, clamped by :meth:`clamp_`).
    """

    def __init__(
        self,
        decay: Tensor,
        *,
        learnable: bool,
        parametrization: str = "logit",
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
        name: str = "decay",
    ):
        super().__init__()
        check_choice("decay_parametrization", parametrization, PARAMETRIZATIONS)
        check_decay(name, decay)
        dtype = dtype or torch.get_default_dtype()
        decay = decay.detach().to(dtype=dtype, device=device)
        # a decay within 1e-8 of 1 (a time constant of 1e8 steps) rounds to 1.0 in float32
        check_decay(f"{name} in the layer's dtype {dtype}", decay)
        self.learnable = bool(learnable)
        self.parametrization = parametrization
        if not self.learnable:
            self.register_buffer("value", decay.clone())
        elif parametrization == "logit":
            self.raw = nn.Parameter(torch.logit(decay))
        else:
            self.raw = nn.Parameter(decay.clone())

    def forward(self) -> Tensor:
        """The decay factors."""
        if not self.learnable:
            return self.value
        if self.parametrization == "logit":
            return torch.sigmoid(self.raw)
        return self.raw

    @torch.no_grad()
    def assign_(self, decay: Tensor) -> None:
        """Overwrite the decay factors with ``decay`` (broadcastable to the shape, in (0, 1))."""
        current = self()
        decay = torch.as_tensor(decay, dtype=current.dtype, device=current.device)
        check_decay("decay", decay)
        decay = check_broadcastable("decay", decay, tuple(current.shape))
        if not self.learnable:
            self.value.copy_(decay)
        elif self.parametrization == "logit":
            self.raw.copy_(torch.logit(decay))
        else:
            self.raw.copy_(decay)

    @torch.no_grad()
    def clamp_(self, eps: float = DEFAULT_CLAMP_EPS) -> None:
        """Clamp directly learned decays into ``[eps, 1 - eps]`` (no-op for other modes)."""
        if self.learnable and self.parametrization == "clamp":
            self.raw.clamp_(eps, 1.0 - eps)

    def extra_repr(self) -> str:
        mode = self.parametrization if self.learnable else "fixed"
        return f"shape={tuple(self().shape)}, {mode}"


def clamp_decays_(module: nn.Module, eps: float = DEFAULT_CLAMP_EPS) -> None:
    """Clamp every directly learned decay inside ``module`` into ``[eps, 1 - eps]``."""
    for m in module.modules():
        if isinstance(m, DecayParameter):
            m.clamp_(eps)


def clamp_decays_after_step(
    optimizer: torch.optim.Optimizer, module: nn.Module, eps: float = DEFAULT_CLAMP_EPS
):
    """Clamp the ``"clamp"``-parametrized decays of ``module`` after every optimizer step.

    This is the paper's training recipe for learning decay factors directly. Returns the hook
    handle (``handle.remove()`` undoes it).
    """
    return optimizer.register_step_post_hook(lambda *_: clamp_decays_(module, eps))
