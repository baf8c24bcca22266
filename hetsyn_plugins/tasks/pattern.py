"""Pattern generation: turn a repeated input pattern into a slow target signal (regression).

Input: ``inputs`` Poisson channels. A frozen ``segment_ms`` pattern at ``segment_rate`` is shown
``repeats`` times with ``gap_ms`` of silence between the repeats; every channel also carries
fresh background noise at a rate drawn uniformly from ``background_rate`` for every sample.
Target: one signal over the whole trial, a sum of ``n_cosines`` cosines with frequencies,
amplitudes and phases fixed by ``seed``. Since the same input segment must produce different
outputs on each repeat, the network has to keep time across the trial.

Loss: ``MSE(readout, target) + rate_weight * mean_j (rate_j - target_rate)^2`` with the hidden
neurons' rates ``rate_j`` in Hz, averaged over the batch and the trial. Metric: the MSE.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from ..core.validation import check_positive, check_positive_int
from .base import SyntheticTask
from .network import NetworkOutput, SpikingNetwork


@dataclass
class PatternGeneration(SyntheticTask):
    """The pattern-generation task (durations in ms, rates in Hz).

    Args:
        inputs: input channels (the paper: 100).
        segment_ms, repeats, gap_ms: the frozen pattern, how often it is shown, the silence
            between two showings (the paper: 500 ms, 3, 250 ms).
        segment_rate: rate of the frozen pattern (10 Hz).
        background_rate: (low, high) range of the per-channel background rate (1-4 Hz).
        n_cosines: cosines in the target; frequencies uniform in ``freq_range`` (Hz),
            amplitudes uniform in (0.5, 1), phases uniform.
        dt_ms: the time step.
        hidden: hidden neurons (100).
        recurrent: recurrent hidden layer.
        tau_ms: initial synaptic time constants of the hidden layer and the readout.
        target_rate, rate_weight: the firing-rate term (10 Hz, 0.01).
        train_samples, test_samples: samples per epoch (fresh noise) and in the fixed test set.
        seed: seed of the frozen pattern, the target and the test set.

    ``x``: (T, B, inputs) spikes; target (T, B, 1).
    """

    name: ClassVar[str] = "pattern"
    metric_name: ClassVar[str] = "mse"
    higher_is_better: ClassVar[bool] = False

    inputs: int = 100
    segment_ms: float = 500.0
    repeats: int = 3
    gap_ms: float = 250.0
    segment_rate: float = 10.0
    background_rate: tuple[float, float] = (1.0, 4.0)
    n_cosines: int = 5
    freq_range: tuple[float, float] = (0.5, 4.0)
    dt_ms: float = 5.0
    hidden: int = 100
    recurrent: bool = False
    tau_ms: float = 100.0
    target_rate: float = 10.0
    rate_weight: float = 0.01
    train_samples: int = 64
    test_samples: int = 64
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("inputs", "repeats", "n_cosines", "hidden", "train_samples", "test_samples"):
            check_positive_int(name, getattr(self, name))
        for name in ("segment_ms", "dt_ms", "tau_ms", "segment_rate", "target_rate"):
            check_positive(name, getattr(self, name))
        if self.gap_ms < 0 or self.rate_weight < 0:
            raise ValueError(
                f"gap_ms and rate_weight must be >= 0; got {self.gap_ms!r}, {self.rate_weight!r}"
            )
        self.background_rate = _range("background_rate", self.background_rate, allow_zero=True)
        self.freq_range = _range("freq_range", self.freq_range, allow_zero=False)
        self._check_rate("segment_rate", self.segment_rate)
        self._check_rate("background_rate", self.background_rate[1])
        gen = torch.Generator().manual_seed(self.seed)
        p = self._per_step(self.segment_rate)
        self._segment = torch.bernoulli(
            torch.full((self._steps(self.segment_ms), self.inputs), p), generator=gen
        )
        self._target = self._make_target(gen)

    # ------------------------------------------------------------------ shape of the data

    @property
    def in_features(self) -> int:
        return self.inputs

    @property
    def out_features(self) -> int:
        return 1

    @property
    def steps(self) -> int:
        return self.repeats * self._steps(self.segment_ms) + (self.repeats - 1) * (
            round(self.gap_ms / self.dt_ms)
        )

    @property
    def target(self) -> Tensor:
        """The target signal, (T,)."""
        return self._target

    def _make_target(self, gen: torch.Generator) -> Tensor:
        t = torch.arange(self.steps, dtype=torch.float64) * self.dt_ms / 1000
        lo, hi = self.freq_range
        freq = lo + (hi - lo) * torch.rand(self.n_cosines, generator=gen, dtype=torch.float64)
        amp = 0.5 + 0.5 * torch.rand(self.n_cosines, generator=gen, dtype=torch.float64)
        phase = 2 * math.pi * torch.rand(self.n_cosines, generator=gen, dtype=torch.float64)
        signal = (amp * torch.cos(2 * math.pi * freq * t[:, None] + phase)).sum(-1)
        return (signal / signal.abs().max()).float()  # in [-1, 1]

    # ------------------------------------------------------------------ data

    def sample(self, batch: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """``batch`` samples: spikes (T, B, inputs) and the target (T, B, 1)."""
        lo, hi = self.background_rate
        rate = lo + (hi - lo) * torch.rand(1, batch, self.inputs, generator=generator)
        x = torch.bernoulli(
            self._per_step(rate).expand(self.steps, -1, -1).contiguous(), generator=generator
        )
        seg, gap = self._segment.shape[0], round(self.gap_ms / self.dt_ms)
        for k in range(self.repeats):
            start = k * (seg + gap)
            x[start : start + seg] = torch.maximum(x[start : start + seg], self._segment[:, None])
        return x, self._target[:, None, None].expand(-1, batch, 1)

    @property
    def test_seed(self) -> int:
        return self.seed + 1  # the seed itself draws the frozen pattern and the target

    # ------------------------------------------------------------------ model, loss, metric

    def build_model(self, model: str, **options) -> SpikingNetwork:
        tau = self.tau_ms / self.dt_ms
        defaults = dict(
            hidden=(self.hidden,), recurrent=self.recurrent, tau_syn=tau, readout_tau=tau
        )
        return SpikingNetwork(self.inputs, out_features=1, model=model, **{**defaults, **options})

    def firing_rates(self, output: NetworkOutput) -> Tensor:
        """Mean rate (Hz) of every hidden neuron over the trial and the batch, one tensor."""
        return torch.cat([s.mean((0, 1)) for s in output.spikes]) * (1000 / self.dt_ms)

    def loss(self, output: NetworkOutput, target: Tensor) -> Tensor:
        mse = torch.mean((output.readout - target) ** 2)
        rate_term = torch.mean((self.firing_rates(output) - self.target_rate) ** 2)
        return mse + self.rate_weight * rate_term

    def metric(self, output: NetworkOutput, target: Tensor) -> float:
        return torch.mean((output.readout - target) ** 2).item()


def _range(name: str, value, *, allow_zero: bool) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (low, high); got {value!r}") from None
    if not (lo >= 0 if allow_zero else lo > 0) or hi < lo:
        raise ValueError(
            f"{name} must satisfy {'0 <=' if allow_zero else '0 <'} low <= high; got {value!r}"
        )
    return lo, hi
