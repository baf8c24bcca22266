"""What every task of :mod:`hetsyn_plugins.tasks` provides: data, a model factory, a loss and a
metric, behind one small interface that the training loop, the evaluations and the ``hetsyn``
command use without knowing the task.

A task is a dataclass whose fields are its options (so ``dataclasses.asdict`` is its config,
saved with every checkpoint). Data come as ``(x, target)`` batches with ``x`` of shape
(T, B, in_features), time first, float32 spikes or values.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import ClassVar

import torch
from torch import Tensor
from torch.nn import functional as F

from ..core.validation import check_choice, check_positive_int
from .network import NetworkOutput, SpikingNetwork

SPLITS = ("train", "test")


class Task(ABC):
    """Base class of the tasks (subclasses are dataclasses; their fields are the options).

    Class attributes: ``name`` (the command-line name), ``metric_name`` and
    ``higher_is_better`` (how to read :meth:`metric`).
    """

    name: ClassVar[str]
    metric_name: ClassVar[str]
    higher_is_better: ClassVar[bool]

    @property
    @abstractmethod
    def in_features(self) -> int:
        """Inputs per time step."""

    @property
    @abstractmethod
    def out_features(self) -> int:
        """Readout units (classes, or output dimensions)."""

    @property
    @abstractmethod
    def steps(self) -> int:
        """Time steps per sample."""

    @abstractmethod
    def batches(
        self, split: str, batch_size: int, generator: torch.Generator
    ) -> Iterator[tuple[Tensor, Tensor]]:
        """One epoch of ``(x, target)`` batches of ``split`` (``"train"`` or ``"test"``);
        ``x`` is (T, B, in_features) float32. Training data are shuffled with ``generator``."""

    @abstractmethod
    def build_model(self, model: str, **options) -> SpikingNetwork:
        """The task's network for one of the four models; ``options`` override its defaults."""

    @abstractmethod
    def loss(self, output: NetworkOutput, target: Tensor) -> Tensor:
        """The training loss (a scalar)."""

    @abstractmethod
    def metric(self, output: NetworkOutput, target: Tensor) -> float:
        """The task's figure of merit on one batch (a mean over the batch)."""

    def config(self) -> dict:
        """The task's options, JSON-serialisable (they rebuild it: ``type(task)(**config)``)."""
        return dataclasses.asdict(self)

    @staticmethod
    def check_split(split: str) -> None:
        check_choice("split", split, SPLITS)


class ClassificationTask(Task):
    """A task whose target is a class index per sample (B,).

    The logits are the readout averaged over the last ``decision_steps`` steps (all steps when
    it is None); the loss is cross-entropy, the metric accuracy.
    """

    metric_name: ClassVar[str] = "accuracy"
    higher_is_better: ClassVar[bool] = True
    decision_steps: int | None

    def logits(self, output: NetworkOutput) -> Tensor:
        readout = output.readout
        if self.decision_steps is not None:
            readout = readout[-self.decision_steps :]
        return readout.mean(0)

    def loss(self, output: NetworkOutput, target: Tensor) -> Tensor:
        return F.cross_entropy(self.logits(output), target)

    def metric(self, output: NetworkOutput, target: Tensor) -> float:
        return (self.logits(output).argmax(-1) == target).float().mean().item()


class SyntheticTask(Task):
    """A task whose samples are generated: every training epoch draws ``train_samples`` fresh
    samples; the test set is the same ``test_samples`` every time (drawn from
    :attr:`test_seed`). Subclasses implement :meth:`sample` and have a ``dt_ms`` field."""

    train_samples: int
    test_samples: int
    dt_ms: float

    @abstractmethod
    def sample(self, batch: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """``batch`` fresh samples ``(x, target)`` drawn with ``generator``."""

    @property
    def test_seed(self) -> int:
        return self.seed  # type: ignore[attr-defined]

    def _per_step(self, rate_hz):
        """A firing rate in Hz as a spike probability per step (a float or a tensor)."""
        return rate_hz * self.dt_ms / 1000

    def _check_rate(self, name: str, rate_hz: float) -> None:
        """Raise unless ``rate_hz`` gives a spike probability per step in [0, 1]."""
        if not 0 <= self._per_step(rate_hz) <= 1:
            raise ValueError(
                f"{name} must be in [0, 1000 / dt_ms] Hz = [0, {1000 / self.dt_ms:g}]; "
                f"got {rate_hz!r}"
            )

    def _steps(self, ms: float) -> int:
        """A duration in ms as a whole number of steps (at least one)."""
        return max(1, round(ms / self.dt_ms))

    def batches(
        self, split: str, batch_size: int, generator: torch.Generator
    ) -> Iterator[tuple[Tensor, Tensor]]:
        self.check_split(split)
        batch_size = check_positive_int("batch_size", batch_size)
        if split == "train":
            total, gen = self.train_samples, generator
        else:  # the same test set every time
            total, gen = self.test_samples, torch.Generator().manual_seed(self.test_seed)
        for start in range(0, total, batch_size):
            yield self.sample(min(batch_size, total - start), gen)
