"""Delayed match-to-sample: a working-memory task (the paper's first experiment).

Two cues, each on the left or the right, separated by a long delay; at the end the network
says whether the second cue matched the first. Input: 30 channels (by default), 10 for the
left cue, 10 for the right cue, 10 background channels, all Poisson. Timeline (dt = 5 ms)::

    | cue 1 (100 ms) | delay (800 ms) | cue 2 (100 ms) | decision (50 ms) |

Cue channels fire at ``cue_rate`` while their cue is shown and at ``noise_rate`` otherwise, as do
the noise channels throughout. The class is 1 for a match, 0 otherwise (chance: 50 %). The
readout is a fast, fixed leaky integrator by default, so that the memory of cue 1 across the
delay has to live in the spiking layer, where per-synapse time constants can hold it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional

import torch
from torch import Tensor

from ..core.timescales import Constant, TimescaleSpec, Uniform
from ..core.validation import check_positive, check_positive_int
from .base import ClassificationTask, SyntheticTask
from .network import SpikingNetwork


@dataclass
class DelayedMatchToSample(SyntheticTask, ClassificationTask):
    """The delayed match-to-sample task.

    Args (all fields; durations in ms, rates in Hz):
        delay_ms: delay between the cues (the paper: 800; up to 2500).
        cue_ms: duration of each cue.
        decision_ms: the window at the end whose mean readout is the decision.
        dt_ms: the time step.
        cue_rate, noise_rate: firing rate of a cue channel while its cue is on, and of every
            channel otherwise (background noise).
        channels_per_group: channels per group (left cue, right cue, noise).
        hidden: hidden neurons.
        recurrent: recurrent hidden layer.
        tau_min_ms, tau_max_ms: the hidden layer's initial synaptic time constants are drawn
            uniformly from this range (one draw per synapse, per neuron or per layer, as the
            model shares them); equal bounds give one constant.
        frozen_fraction: fraction of the synaptic decays that are not learned (a fixed random
            subset keeps its initial value; gradients to it are masked).
        readout_tau_ms: time constant of the fixed readout.
        train_samples, test_samples: samples per training epoch (fresh each epoch) and in the
            fixed test set.
        seed: seed of the test set.

    ``x``: (T, B, 3 * channels_per_group) spikes; target (B,): 1 for a match.
    """

    name: ClassVar[str] = "dms"

    delay_ms: float = 800.0
    cue_ms: float = 100.0
    decision_ms: float = 50.0
    dt_ms: float = 5.0
    cue_rate: float = 40.0
    noise_rate: float = 10.0
    channels_per_group: int = 10
    hidden: int = 5
    recurrent: bool = True
    tau_min_ms: float = 50.0
    tau_max_ms: float = 2000.0
    frozen_fraction: float = 0.0
    readout_tau_ms: float = 10.0
    train_samples: int = 2048
    test_samples: int = 512
    seed: int = 1234

    def __post_init__(self) -> None:
        for name in (
            "delay_ms",
            "cue_ms",
            "decision_ms",
            "dt_ms",
            "tau_min_ms",
            "tau_max_ms",
            "readout_tau_ms",
        ):
            check_positive(name, getattr(self, name))
        for name in ("cue_rate", "noise_rate"):
            self._check_rate(name, getattr(self, name))
        for name in ("channels_per_group", "hidden", "train_samples", "test_samples"):
            check_positive_int(name, getattr(self, name))
        if self.tau_max_ms < self.tau_min_ms:
            raise ValueError(
                f"tau_max_ms must be >= tau_min_ms={self.tau_min_ms!r}; got {self.tau_max_ms!r}"
            )
        if not 0 <= self.frozen_fraction <= 1:
            raise ValueError(f"frozen_fraction must be in [0, 1]; got {self.frozen_fraction!r}")

    # ------------------------------------------------------------------ shape of the data

    @property
    def decision_steps(self) -> int:  # type: ignore[override]
        return self._steps(self.decision_ms)

    @property
    def in_features(self) -> int:
        return 3 * self.channels_per_group

    @property
    def out_features(self) -> int:
        return 2

    @property
    def steps(self) -> int:
        return 2 * self._steps(self.cue_ms) + self._steps(self.delay_ms) + self.decision_steps

    # ------------------------------------------------------------------ data

    def sample(self, batch: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """``batch`` fresh samples: spikes (T, B, in) and targets (B,), 1 for a match."""
        g, cue = self.channels_per_group, self._steps(self.cue_ms)
        first, second = torch.randint(0, 2, (2, batch), generator=generator)
        p_cue, p_noise = self._per_step(self.cue_rate), self._per_step(self.noise_rate)
        prob = torch.full((self.steps, batch, self.in_features), p_noise)
        start2 = cue + self._steps(self.delay_ms)
        for side, window in ((first, slice(0, cue)), (second, slice(start2, start2 + cue))):
            on = torch.zeros(batch, self.in_features, dtype=torch.bool)
            on[:, :g] = (side == 0)[:, None]
            on[:, g : 2 * g] = (side == 1)[:, None]
            prob[window] = torch.where(on, p_cue, p_noise)
        return torch.bernoulli(prob, generator=generator), (first == second).long()

    # ------------------------------------------------------------------ model

    def tau_init(self) -> TimescaleSpec:
        """The hidden layer's time-constant initializer, in steps."""
        low, high = self.tau_min_ms / self.dt_ms, self.tau_max_ms / self.dt_ms
        return Uniform(low, high) if high > low else Constant(low)

    def build_model(self, model: str, **options) -> SpikingNetwork:
        defaults = dict(
            hidden=(self.hidden,),
            recurrent=self.recurrent,
            tau_syn=self.tau_init(),
            readout_tau=self.readout_tau_ms / self.dt_ms,
            readout_heterogeneity="none",
            learn_readout_decays=False,
        )
        net = SpikingNetwork(
            self.in_features, out_features=2, model=model, **{**defaults, **options}
        )
        if self.frozen_fraction > 0:
            freeze_decays(net, self.frozen_fraction, torch.Generator().manual_seed(self.seed))
        return net


def freeze_decays(
    net: SpikingNetwork, fraction: float, generator: Optional[torch.Generator] = None
):
    """Keep a random ``fraction`` of every hidden layer's learnable decays at their initial
    values: their gradients are zeroed by a hook (the optimizer then leaves them as they are,
    for SGD and Adam without weight decay)."""
    for layer in net.hidden:
        for param in layer.decays.parameters():
            mask = (torch.rand(param.shape, generator=generator) >= fraction).to(param)
            param.register_hook(lambda grad, mask=mask: grad * mask)
