"""Sequential digits: scikit-learn's 8x8 handwritten digits shown row by row as spikes.

Data: :func:`sklearn.datasets.load_digits` (1797 images of 8x8 pixels, intensities 0..16, ten
classes; a copy of the UCI "Optical Recognition of Handwritten Digits" test set that ships with
scikit-learn, so no download is needed).

Encoding (rate code, one row at a time)::

    image rows:   row 0        row 1        ...   row 7        (decision: the last row)
    time steps:   | s steps |  | s steps |  ...   | s steps |
    channel i:    Bernoulli(pixel[row, i] / 16) at every step of the row's window

``x`` has shape (T, B, 8) with ``T = 8 * steps_per_row``: at step ``t`` channel ``i`` spikes with
probability ``image[t // steps_per_row, i] / 16``. Only one row is visible at a time and the
class is read from the readout averaged over the last ``decision_steps`` steps (by default
the last row's window), so the network has to carry what it saw in the earlier rows across
time. Training batches draw fresh spikes every epoch (with the training generator); the test
set's spikes are drawn once from ``seed`` and are the same on every call.

The split is a fixed random permutation from ``seed``: ``test_fraction`` of the images
(default 25 %: 1348 training, 449 test images) form the test set.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar, Optional

import torch
from torch import Tensor

from ..core.validation import check_positive, check_positive_int
from .base import ClassificationTask
from .network import SpikingNetwork

ROWS = COLS = 8
MAX_INTENSITY = 16.0
N_CLASSES = 10


def load_digit_images() -> tuple[Tensor, Tensor]:
    """scikit-learn's 8x8 digits: images (N, 8, 8) float32 in [0, 1] and labels (N,) int64."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the 'digits' task needs scikit-learn: pip install 'hetsyn-plugins[tasks]' "
            "(or pip install scikit-learn)"
        ) from err
    data = load_digits()
    images = torch.as_tensor(data.images, dtype=torch.float32) / MAX_INTENSITY
    labels = torch.as_tensor(data.target, dtype=torch.int64)
    return images, labels


def rows_to_spike_probabilities(images: Tensor, steps_per_row: int) -> Tensor:
    """Images (B, 8, 8) in [0, 1] -> spike probabilities (8 * steps_per_row, B, 8): row ``r``
    is held for ``steps_per_row`` steps starting at step ``r * steps_per_row``."""
    prob = images.permute(1, 0, 2)  # (rows, B, cols)
    return prob.repeat_interleave(steps_per_row, dim=0)


@dataclass
class SequentialDigits(ClassificationTask):
    """The sequential 8x8 digits task (ten classes, chance 10 %).

    Args (all fields):
        steps_per_row: time steps each image row is shown for (T = 8 * steps_per_row).
        decision_steps: the last steps whose mean readout gives the logits; default (None):
            the last row's window (``steps_per_row``).
        hidden: hidden spiking neurons (one layer).
        recurrent: recurrent hidden layer.
        tau_steps: initial synaptic time constants of the hidden layer, in steps.
        readout_tau_steps: initial time constants of the readout, in steps.
        test_fraction: fraction of the 1797 images held out for testing.
        limit: use only the first ``limit`` images of each split (quick runs); None for all.
        seed: seed of the split and of the test set's spikes.

    ``x``: (T, B, 8) float32 spikes (0/1); target (B,): the digit, int64.
    """

    name: ClassVar[str] = "digits"

    steps_per_row: int = 4
    decision_steps: Optional[int] = None
    hidden: int = 64
    recurrent: bool = True
    tau_steps: float = 8.0
    readout_tau_steps: float = 8.0
    test_fraction: float = 0.25
    limit: Optional[int] = None
    seed: int = 0

    def __post_init__(self) -> None:
        check_positive_int("steps_per_row", self.steps_per_row)
        check_positive_int("hidden", self.hidden)
        if self.decision_steps is None:
            self.decision_steps = self.steps_per_row
        check_positive_int("decision_steps", self.decision_steps)
        if self.decision_steps > self.steps:
            raise ValueError(
                f"decision_steps must be at most the sequence length {self.steps}; "
                f"got {self.decision_steps}"
            )
        check_positive("tau_steps", self.tau_steps)
        check_positive("readout_tau_steps", self.readout_tau_steps)
        if not 0 < self.test_fraction < 1:
            raise ValueError(f"test_fraction must be in (0, 1); got {self.test_fraction!r}")
        if self.limit is not None:
            check_positive_int("limit", self.limit)
        self._data: Optional[dict[str, tuple[Tensor, Tensor]]] = None
        self._test_spikes: Optional[Tensor] = None

    # ------------------------------------------------------------------ shape of the data

    @property
    def in_features(self) -> int:
        return COLS

    @property
    def out_features(self) -> int:
        return N_CLASSES

    @property
    def steps(self) -> int:
        return ROWS * self.steps_per_row

    # ------------------------------------------------------------------ data

    def num_samples(self, split: str) -> int:
        return len(self.split_images(split)[1])

    def split_images(self, split: str) -> tuple[Tensor, Tensor]:
        """The images (N, 8, 8) in [0, 1] and labels (N,) of ``split`` (fixed by ``seed``)."""
        self.check_split(split)
        if self._data is None:
            images, labels = load_digit_images()
            perm = torch.randperm(len(labels), generator=torch.Generator().manual_seed(self.seed))
            n_test = round(self.test_fraction * len(labels))
            parts = {"test": perm[:n_test], "train": perm[n_test:]}
            self._data = {}
            for name, idx in parts.items():
                if self.limit is not None:
                    idx = idx[: self.limit]
                self._data[name] = (images[idx], labels[idx])
        return self._data[split]

    def encode(self, images: Tensor, generator: torch.Generator) -> Tensor:
        """Images (B, 8, 8) in [0, 1] -> spikes (T, B, 8) float32, drawn with ``generator``."""
        prob = rows_to_spike_probabilities(images, self.steps_per_row)
        return torch.bernoulli(prob, generator=generator)

    def batches(
        self, split: str, batch_size: int, generator: torch.Generator
    ) -> Iterator[tuple[Tensor, Tensor]]:
        self.check_split(split)
        batch_size = check_positive_int("batch_size", batch_size)
        images, labels = self.split_images(split)
        n = len(labels)
        if split == "test":  # the same spikes on every pass, whatever the batch size
            spikes = self.test_spikes()
            for start in range(0, n, batch_size):
                yield spikes[:, start : start + batch_size], labels[start : start + batch_size]
            return
        order = torch.randperm(n, generator=generator)
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            yield self.encode(images[idx], generator), labels[idx]

    def test_spikes(self) -> Tensor:
        """The test set's spikes (T, N_test, 8), drawn once from ``seed``."""
        if self._test_spikes is None:
            images, _ = self.split_images("test")
            self._test_spikes = self.encode(images, torch.Generator().manual_seed(self.seed + 1))
        return self._test_spikes

    # ------------------------------------------------------------------ model

    def build_model(self, model: str, **options) -> SpikingNetwork:
        defaults = dict(
            hidden=(self.hidden,),
            recurrent=self.recurrent,
            tau_syn=self.tau_steps,
            readout_tau=self.readout_tau_steps,
        )
        return SpikingNetwork(
            self.in_features, out_features=N_CLASSES, model=model, **{**defaults, **options}
        )
