"""Input perturbations for the robustness evaluations: deletion and addition noise on input
spikes, temporal jitter, and time warp.

Each ``make_*`` function returns a transform ``(x, generator) -> x'`` on a (T, B, in) spike
tensor, the form :func:`hetsyn_plugins.tasks.training.evaluate` takes.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..core.validation import check_choice, check_positive

PERTURBATIONS = ("deletion", "addition", "jitter", "warp")


def delete_spikes(x: Tensor, p: float, generator: torch.Generator) -> Tensor:
    """Remove every input spike independently with probability ``p`` in [0, 1]."""
    _check_probability("p", p)
    keep = torch.rand(x.shape, generator=generator) >= p
    return x * keep.to(x)


def add_spikes(x: Tensor, p: float, generator: torch.Generator) -> Tensor:
    """Add a spike to every (step, sample, channel) independently with probability ``p``
    (spikes already there stay). Binary input stays binary (clipped to 1); input with counts
    above 1 (binned spike counts) gets the added spikes on top."""
    _check_probability("p", p)
    extra = (torch.rand(x.shape, generator=generator) < p).to(x)
    return torch.clamp(x + extra, max=1.0) if x.max() <= 1 else x + extra


def jitter_spikes(x: Tensor, max_shift: int, generator: torch.Generator) -> Tensor:
    """Move every input spike (every unit of a count) by its own uniform random shift in
    ``[-max_shift, max_shift]`` steps, kept inside the trial (clamped to its first and last
    step); spikes landing on one step add up, so counts are kept."""
    whole = isinstance(max_shift, (int, float)) and float(max_shift).is_integer()
    if isinstance(max_shift, bool) or not whole or max_shift < 0:
        raise ValueError(f"max_shift must be a whole number of steps >= 0; got {max_shift!r}")
    max_shift = int(max_shift)
    if max_shift == 0:
        return x.clone()
    T = x.shape[0]
    index = torch.nonzero(x, as_tuple=True)
    shift = torch.randint(-max_shift, max_shift + 1, index[0].shape, generator=generator)
    moved = (index[0] + shift.to(index[0].device)).clamp(0, T - 1)
    out = torch.zeros_like(x)
    return out.index_put_((moved, *index[1:]), x[index], accumulate=True)


def time_warp(x: Tensor, factor: float) -> Tensor:
    """Stretch (``factor`` > 1) or compress (< 1) the time axis: the spike at step t moves to
    step ``floor(t * factor)`` of a sequence of ``round(T * factor)`` steps. Spike counts are
    kept (when compressing, spikes that land on the same step add up)."""
    check_positive("factor", factor)
    steps = x.shape[0]
    new_steps = max(1, round(steps * factor))
    target = torch.clamp((torch.arange(steps) * factor).long(), max=new_steps - 1)
    out = x.new_zeros((new_steps, *x.shape[1:]))
    return out.index_add_(0, target.to(x.device), x)


def make_perturbation(kind: str, level: float):
    """The transform of ``kind`` (``"deletion"``, ``"addition"``, ``"jitter"``, ``"warp"``)
    at ``level`` (a probability for the noises, the largest shift in steps for the jitter,
    the factor for the warp)."""
    check_choice("kind", kind, PERTURBATIONS)
    if kind == "jitter":
        return lambda x, g: jitter_spikes(x, level, g)
    if kind == "deletion":
        _check_probability("level", level)
        return lambda x, g: delete_spikes(x, level, g)
    if kind == "addition":
        _check_probability("level", level)
        return lambda x, g: add_spikes(x, level, g)
    check_positive("level", level)
    return lambda x, g: time_warp(x, level)


def _check_probability(name: str, p: float) -> None:
    if not 0 <= p <= 1:
        raise ValueError(f"{name} must be a probability in [0, 1]; got {p!r}")
