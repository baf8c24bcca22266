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
from .network import SpikingNetwork, paper_model_options
from .recipe import Recipe


@dataclass
class DelayedMatchToSample(SyntheticTask, ClassificationTask):
    """The delayed match-to-sample task.

    The defaults are the setting the reproduction record's protocol chose
    (``experiments/protocol.py``, setting ``chosen``): of the paper's conventions (its SHD
    code's, where its text is silent), the initialisation (no bias, weights
    N(0, 1/sqrt(fan_in))) and the baselines (HomNeu: a fixed 50 ms membrane, no
    self-connections), trained 1000 steps; not its reset current of 20 ms, clamped decays
    or multi-Gaussian surrogate, which each cost HetSynLIF solved seeds in the protocol, nor
    its sum-of-softmax loss, which added none to the base with the baselines (the table in
    ``docs/reproduction.md``). Each is an option.

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
        learn_readout: learn the readout's decays (one per synapse in HetSynLIF, per neuron
            in HetNeuLIF, one in the HomNeu models) instead of keeping them fixed.
        reset_tau_ms: the reset current's own fixed time constant in every model (the
            paper's code: 20 "ms", i.e. steps); None: the preset's (drawn like the synapses'
            in HetSynLIF, tied to the neuron's decay in the shared models).
        learn_reset: learn the reset decays.
        baseline_tau_ms: the HomNeu models' membrane time constant, fixed (the paper's code:
            50); None: learned, drawn like the synapses'.
        baseline_self_connections: whether the HomNeu models' recurrent layer keeps
            self-connections (the paper's code: no).
        adapt_tau_ms: HomNeuALIF's adaptation time constant.
        bias: bias currents in the hidden layer and the readout.
        decay_parametrization: ``"logit"`` or ``"clamp"`` (the decays learned directly and
            clamped, the paper's, trained at ``decay_lr_factor`` times the learning rate).
        decay_lr_factor: the decays' learning rate over the weights' (the paper: 2).
        weight_init: ``"uniform"`` (``nn.Linear``'s) or ``"normal"`` (N(0, 1/sqrt(fan_in))).
        surrogate: ``"atan"`` or ``"multi_gaussian"`` (the paper's).
        readout_loss: ``"mean"`` or ``"softmax_sum"`` over the decision window (see
            :class:`~hetsyn_plugins.tasks.base.ClassificationTask`).
        train_steps, lr, batch_size: the training recipe (Adam; :meth:`recipe`).
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
    learn_readout: bool = False
    reset_tau_ms: Optional[float] = None
    learn_reset: bool = False
    baseline_tau_ms: Optional[float] = 50.0
    baseline_self_connections: bool = False
    adapt_tau_ms: float = 1000.0
    bias: bool = False
    decay_parametrization: str = "logit"
    decay_lr_factor: float = 1.0
    weight_init: str = "normal"
    surrogate: str = "atan"
    readout_loss: str = "mean"
    train_steps: int = 1000
    lr: float = 1e-2
    batch_size: int = 64
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
        for name in ("reset_tau_ms", "baseline_tau_ms"):
            if getattr(self, name) is not None:
                check_positive(name, getattr(self, name))
        for name in ("adapt_tau_ms", "decay_lr_factor", "lr"):
            check_positive(name, getattr(self, name))
        self._check_readout()
        self.recipe()  # checks the training options
        with torch.random.fork_rng():  # checks the model options, the caller's RNG untouched
            self.build_model("HetSynLIF")

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

    def _steps_exact(self, ms: float) -> float:
        """A duration in ms in steps (a time constant need not be a whole number of steps)."""
        return ms / self.dt_ms

    def tau_init(self) -> TimescaleSpec:
        """The hidden layer's time-constant initializer, in steps."""
        low, high = self.tau_min_ms / self.dt_ms, self.tau_max_ms / self.dt_ms
        return Uniform(low, high) if high > low else Constant(low)

    def recipe(self) -> Recipe:
        decay_lr = self.lr * self.decay_lr_factor if self.decay_lr_factor != 1 else None
        return Recipe(
            steps=self.train_steps, batch_size=self.batch_size, lr=self.lr, decay_lr=decay_lr
        )

    def build_model(self, model: str, **options) -> SpikingNetwork:
        steps = self._steps_exact
        defaults = dict(
            hidden=(self.hidden,),
            recurrent=self.recurrent,
            bias=self.bias,
            decay_parametrization=self.decay_parametrization,
            weight_init=self.weight_init,
            surrogate=self.surrogate,
            **paper_model_options(
                model,
                tau_syn=self.tau_init(),
                readout_tau=steps(self.readout_tau_ms),
                reset_tau=None if self.reset_tau_ms is None else steps(self.reset_tau_ms),
                learn_reset=self.learn_reset,
                baseline_tau=None if self.baseline_tau_ms is None else steps(self.baseline_tau_ms),
                baseline_self_connections=self.baseline_self_connections,
                adapt_tau=steps(self.adapt_tau_ms),
                recurrent=self.recurrent,
            ),
            learn_readout_decays=self.learn_readout,
        )
        if not self.learn_readout:  # a fixed readout: one time constant for all
            defaults["readout_heterogeneity"] = "none"
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
