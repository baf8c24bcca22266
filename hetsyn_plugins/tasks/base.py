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
from .recipe import Recipe

SPLITS = ("train", "validation", "test")


class Task(ABC):
    """Base class of the tasks (subclasses are dataclasses; their fields are the options).

    Splits: ``"train"``, ``"test"`` and, where the task has one, ``"validation"``.

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

    def recipe(self) -> Recipe:
        """The task's default training recipe (:class:`~hetsyn_plugins.tasks.recipe.Recipe`)."""
        return Recipe()

    @abstractmethod
    def num_samples(self, split: str) -> int:
        """Samples in one epoch of ``split``."""

    def steps_per_epoch(self, batch_size: int) -> int:
        """Optimizer steps in one pass over the training split."""
        return -(-self.num_samples("train") // check_positive_int("batch_size", batch_size))

    @property
    def has_validation(self) -> bool:
        """Whether the task has a validation split (else ``batches("validation", ...)``
        raises)."""
        return False

    def config(self) -> dict:
        """The task's options, JSON-serialisable (they rebuild it: ``type(task)(**config)``)."""
        return dataclasses.asdict(self)

    def check_split(self, split: str) -> None:
        check_choice("split", split, SPLITS)
        if split == "validation" and not self.has_validation:
            raise ValueError(
                f"task {self.name!r} has no validation split here; choose 'train' or 'test'"
                + (" (or set validation_fraction > 0)" if hasattr(self, "validation_fraction")
                   else "")
            )  # fmt: skip


READOUT_LOSSES = ("mean", "softmax_sum")


class ClassificationTask(Task):
    """A task whose target is a class index per sample (B,).

    The decision window is the last ``decision_steps`` steps (all when None) after the first
    ``skip_steps``. The class scores ("logits") are, by ``readout_loss``:

    - ``"mean"``: the readout ``v_t`` averaged over the window;
    - ``"softmax_sum"`` (the paper's SHD code): ``sum_t softmax(v_t)`` over the window.

    The prediction is their argmax (the metric: accuracy) and the loss the cross-entropy of
    the scores (for ``"softmax_sum"``, as in the paper's code, cross-entropy treats the sum of
    softmaxes as logits: ``-log softmax(sum_t softmax(v_t))[target]``).
    """

    metric_name: ClassVar[str] = "accuracy"
    higher_is_better: ClassVar[bool] = True
    decision_steps: int | None
    readout_loss: str = "mean"
    skip_steps: int = 0

    def _check_readout(self) -> None:
        check_choice("readout_loss", self.readout_loss, READOUT_LOSSES)
        if isinstance(self.skip_steps, bool) or not isinstance(self.skip_steps, int) or (
            self.skip_steps < 0
        ):
            raise ValueError(f"skip_steps must be an integer >= 0; got {self.skip_steps!r}")

    def logits(self, output: NetworkOutput) -> Tensor:
        readout = output.readout[self.skip_steps :]
        if self.decision_steps is not None:
            readout = readout[-self.decision_steps :]
        if readout.shape[0] == 0:
            raise ValueError(
                f"the decision window is empty: skip_steps={self.skip_steps} leaves no step of "
                f"the readout's {output.readout.shape[0]}"
            )
        if self.readout_loss == "softmax_sum":
            return readout.softmax(-1).sum(0)
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

    def num_samples(self, split: str) -> int:
        self.check_split(split)
        return self.train_samples if split == "train" else self.test_samples

    @property
    def has_validation(self) -> bool:
        return True  # a fixed set of test_samples, drawn from its own seed

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
        else:  # the same test (validation) set every time
            seed = self.test_seed if split == "test" else self.test_seed + 1000003
            total, gen = self.test_samples, torch.Generator().manual_seed(seed)
        for start in range(0, total, batch_size):
            yield self.sample(min(batch_size, total - start), gen)
