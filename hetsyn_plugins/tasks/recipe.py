"""How a network is trained: the optimizer, its learning rates and their schedule, the batch size
and the length of the run, as one :class:`Recipe` (every task has a default,
:meth:`~hetsyn_plugins.tasks.base.Task.recipe`).

The learning rate of step ``s`` (1-based) of an ``S``-step run is ``lr * f(s)`` (decays:
``decay_lr * f(s)``) with

.. math::

    f(s) = \\begin{cases}
        s / W & s \\le W \\quad \\text{(linear warm-up over } W = \\mathrm{warmup} \\cdot S
            \\text{ steps)} \\\\
        m + (1 - m)\\, \\tfrac12 \\big(1 + \\cos(\\pi \\tfrac{s - W}{H - W})\\big) & W < s \\le H
            \\quad \\text{(cosine)} \\\\
        m & s > H \\quad \\text{(flat)}
    \\end{cases}

where ``H`` is the cosine's horizon (``cosine_epochs`` epochs; the whole run when None) and
``m = final_lr`` the fraction of the peak it ends at. ``schedule="constant"`` keeps ``f = 1``.

The paper's SHD recipe is AdamW, ``lr = 2e-3`` for weights and ``4e-3`` for decays, weight
decay ``4e-3`` on both, 5 % warm-up, a cosine whose horizon is 40 of the 100 epochs and which
stays at 0.68 % of the peak after it, batches of 32 (:data:`PAPER_SHD`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Optional

import torch
from torch import nn

from ..core.validation import check_choice, check_positive, check_positive_int

OPTIMIZERS = ("adam", "adamw")
SCHEDULES = ("constant", "cosine")


@dataclass(frozen=True)
class Recipe:
    """A training recipe (all fields are options of :func:`~hetsyn_plugins.tasks.train`).

    Args:
        steps: optimizer steps in all; ignored when ``epochs`` is given.
        epochs: passes over the training set (then ``steps = epochs * batches per epoch``).
        batch_size: samples per step.
        optimizer: ``"adam"`` or ``"adamw"`` (decoupled weight decay).
        lr: learning rate of every parameter but the decays.
        decay_lr: learning rate of the synaptic, reset and readout decays; None: ``lr``.
        weight_decay: the optimizer's weight decay (on every parameter, decays included).
        schedule: ``"constant"`` or ``"cosine"`` (warm-up, cosine, flat; see the module).
        warmup: warm-up length as a fraction of the run.
        cosine_epochs: the cosine's horizon in epochs; None: the end of the run.
        final_lr: the fraction of the peak the cosine ends at and stays at.
    """

    steps: int = 500
    epochs: Optional[int] = None
    batch_size: int = 64
    optimizer: str = "adam"
    lr: float = 1e-2
    decay_lr: Optional[float] = None
    weight_decay: float = 0.0
    schedule: str = "constant"
    warmup: float = 0.0
    cosine_epochs: Optional[float] = None
    final_lr: float = 0.0

    def __post_init__(self) -> None:
        check_positive_int("steps", self.steps)
        if self.epochs is not None:
            check_positive_int("epochs", self.epochs)
        check_positive_int("batch_size", self.batch_size)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_choice("schedule", self.schedule, SCHEDULES)
        check_positive("lr", self.lr)
        if self.decay_lr is not None:
            check_positive("decay_lr", self.decay_lr)
        for name in ("weight_decay", "warmup", "final_lr"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and value >= 0):
                raise ValueError(f"{name} must be a number >= 0; got {value!r}")
        if self.warmup >= 1 or self.final_lr > 1:
            raise ValueError(
                f"warmup must be < 1 and final_lr <= 1; got {self.warmup!r}, {self.final_lr!r}"
            )
        if self.cosine_epochs is not None:
            check_positive("cosine_epochs", self.cosine_epochs)

    def with_options(self, **options) -> "Recipe":
        """This recipe with ``options`` (field names) changed; unknown names raise."""
        unknown = sorted(set(options) - set(asdict(self)))
        if unknown:
            raise TypeError(
                f"unknown training options {unknown}; expected some of {sorted(asdict(self))}"
            )
        return replace(self, **options)

    def total_steps(self, steps_per_epoch: int) -> int:
        """The run's length in steps."""
        return self.steps if self.epochs is None else self.epochs * steps_per_epoch

    def lr_factor(self, step: int, steps_per_epoch: int) -> float:
        """``f(step)`` of the module docstring (``step`` counted from 1)."""
        if self.schedule == "constant":
            return 1.0
        total = self.total_steps(steps_per_epoch)
        warm = self.warmup * total
        if step <= warm:
            return step / warm
        horizon = total if self.cosine_epochs is None else self.cosine_epochs * steps_per_epoch
        if step >= horizon:
            return self.final_lr
        progress = (step - warm) / (horizon - warm)
        return self.final_lr + (1 - self.final_lr) * 0.5 * (1 + math.cos(math.pi * progress))

    def build_optimizer(self, net: nn.Module) -> torch.optim.Optimizer:
        """The optimizer over ``net``'s parameters: decays in a group of their own (their
        learning rate is ``decay_lr``); each group's peak rate is kept as ``"peak_lr"``."""
        decays = [p for n, p in net.named_parameters() if _is_decay(n)]
        others = [p for n, p in net.named_parameters() if not _is_decay(n)]
        groups = [
            {"params": others, "lr": self.lr, "peak_lr": self.lr},
            {"params": decays, "lr": self.decay_lr or self.lr, "peak_lr": self.decay_lr or self.lr},
        ]
        groups = [g for g in groups if g["params"]]
        cls = torch.optim.AdamW if self.optimizer == "adamw" else torch.optim.Adam
        return cls(groups, lr=self.lr, weight_decay=self.weight_decay)

    def set_lr(self, optimizer: torch.optim.Optimizer, step: int, steps_per_epoch: int) -> None:
        """Set every group's learning rate for ``step`` (1-based): ``peak_lr * f(step)``."""
        factor = self.lr_factor(step, steps_per_epoch)
        for group in optimizer.param_groups:
            group["lr"] = group["peak_lr"] * factor


def _is_decay(name: str) -> bool:
    """Whether the parameter called ``name`` is a decay (under a layer's ``decays``)."""
    return ".decays." in f".{name}"


PAPER_SHD = Recipe(
    epochs=100,
    batch_size=32,
    optimizer="adamw",
    lr=2e-3,
    decay_lr=4e-3,
    weight_decay=4e-3,
    schedule="cosine",
    warmup=0.05,
    cosine_epochs=40,
    final_lr=0.0068,
)
"""The paper's SHD recipe (see the module docstring)."""
