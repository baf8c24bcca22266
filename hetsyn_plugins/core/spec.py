"""Every option of a HetSyn layer, once: :class:`HetSynSpec`.

The layers (:class:`~hetsyn_plugins.core.layers.HetSynLIF`,
:class:`~hetsyn_plugins.core.layers.HetSynReadout`), the presets and every host face build
from a spec: the faces only translate their host's names (``beta``, ``reset_mechanism``,
``v_threshold``, ``tau`` in SpikingJelly's sense ...) into spec fields and pass every other
keyword on as the spec's own. A new neuron option is one field here (and its use in the
layer); validation that needs no tensor shape of the layer lives here too.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional

import torch
from torch import Tensor

from .dynamics import DynamicsConfig, SpikeFn
from .kernels import KERNELS
from .layouts import BRANCH, INPUT, PER_SYNAPSE, SHARED, SHARED_RESET, Layout
from .spikes import default_spike_fn
from .timescales import PARAMETRIZATIONS, TimescaleInit, TimescaleSpec
from .validation import (
    check_bool,
    check_broadcastable,
    check_choice,
    check_decay,
    check_finite,
    check_number,
    check_positive,
    check_positive_int,
)

HETEROGENEITY = ("synapse", "input", "branch", "neuron", "none")
# the heterogeneities whose decays are shared per neuron (one summed current per neuron)
SHARED_MODELS = ("neuron", "none")
BRANCH_ASSIGNMENTS = ("contiguous", "random")


@dataclass(frozen=True, eq=False)
class HetSynSpec:
    """The options of one HetSyn layer (see :class:`~hetsyn_plugins.core.layers.HetSynLIF`
    for what each means), validated on construction; ``readout=True`` is a
    :class:`~hetsyn_plugins.core.layers.HetSynReadout` (no spike, reset, recurrence or
    adaptation: those fields must keep their defaults).

    Use :meth:`replace` for a changed copy (validated again).
    """

    in_features: int
    out_features: int
    readout: bool = False
    heterogeneity: str = "synapse"
    recurrent: bool = False
    self_connections: bool = True
    tau_syn: TimescaleSpec = 20.0
    tau_reset: Optional[TimescaleSpec] = None
    learn_reset_decay: Optional[bool] = None
    tau_rec: Optional[TimescaleSpec] = None
    tau_bias: Optional[TimescaleSpec] = None
    adaptation: bool = False
    tau_adapt: TimescaleSpec = 200.0
    adapt_strength: Optional[float | Tensor] = None
    threshold: float | Tensor = 1.0
    learn_threshold: bool = False
    reset: str = "subtract"
    reset_amount: Optional[float | Tensor] = None
    reset_timing: Optional[str] = None
    detach_reset: bool = False
    bias: bool = True
    learn_decays: bool = True
    decay_parametrization: str = "logit"
    spike_fn: Optional[SpikeFn] = None
    dt: float = 1.0
    kernel: str = "auto"
    stateful: bool = False
    decay_input: bool = False
    branches: Optional[int] = None
    branch_assignment: str | Tensor = "contiguous"
    membrane_decay: Optional[float | Tensor | TimescaleInit] = None
    learn_membrane_decay: Optional[bool] = None

    def __post_init__(self):
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731
        set_("in_features", check_positive_int("in_features", self.in_features))
        set_("out_features", check_positive_int("out_features", self.out_features))
        for name in BOOLS:
            set_(name, check_bool(name, getattr(self, name)))
        if self.learn_reset_decay is not None:
            check_bool("learn_reset_decay", self.learn_reset_decay)
        check_choice("heterogeneity", self.heterogeneity, HETEROGENEITY)
        check_choice("kernel", self.kernel, KERNELS)
        check_choice("decay_parametrization", self.decay_parametrization, PARAMETRIZATIONS)
        check_number("dt", self.dt)
        check_positive("dt", self.dt)
        set_("dt", float(self.dt))
        if self.readout:
            changed = [f for f in SPIKING_ONLY if _differs(getattr(self, f), _DEFAULTS[f])]
            if changed:
                raise ValueError(
                    "a readout (leaky integrator: no spike, reset, recurrence or adaptation) "
                    f"takes none of {', '.join(changed)}; got "
                    + ", ".join(f"{f}={getattr(self, f)!r}" for f in changed)
                )
        set_("_config", DynamicsConfig(self.reset, self.reset_timing, self.detach_reset))
        if self.spike_fn is None and not self.readout:
            set_("spike_fn", default_spike_fn())
        if self.spike_fn is not None and not callable(self.spike_fn):
            raise TypeError(f"spike_fn must be callable; got {type(self.spike_fn).__name__}")
        self._check_combinations()
        self._check_branches()
        self._check_leak()
        out = (self.out_features,)
        for name, positive in (("threshold", True), ("reset_amount", False)):
            value = getattr(self, name)
            if value is not None:
                check_number(name, value)
                (check_positive if positive else check_finite)(name, value)
                check_broadcastable(name, torch.as_tensor(value), out)
        if self.adapt_strength is not None:
            check_number("adapt_strength", self.adapt_strength)
            check_finite("adapt_strength", self.adapt_strength)
            check_broadcastable("adapt_strength", torch.as_tensor(self.adapt_strength), out)

    def _check_branches(self) -> None:
        if self.heterogeneity != "branch":
            for name, default in (("branches", None), ("branch_assignment", "contiguous")):
                value = getattr(self, name)
                if isinstance(value, Tensor) or value != default:
                    raise ValueError(
                        f"{name} needs heterogeneity='branch'; got {name}={value!r} with "
                        f"heterogeneity={self.heterogeneity!r}"
                    )
            return
        if self.branches is None:
            raise ValueError("heterogeneity='branch' needs branches=K (branches per neuron)")
        check_positive_int("branches", self.branches)
        n = self.branch_columns
        if self.branches > n:
            raise ValueError(
                f"branches must be at most the {n} synapses of a neuron (every branch needs "
                f"one); got branches={self.branches}"
            )
        a = self.branch_assignment
        if isinstance(a, Tensor):
            shape = (self.out_features, n)
            if tuple(a.shape) != shape or a.dtype.is_floating_point or a.dtype == torch.bool:
                raise ValueError(
                    f"branch_assignment must be an integer tensor of shape {shape} (the branch "
                    "of every synapse: inputs, then the layer's own neurons when recurrent); "
                    f"got {a.dtype} of shape {tuple(a.shape)}"
                )
            if a.numel() and (int(a.min()) < 0 or int(a.max()) >= self.branches):
                raise ValueError(
                    f"branch_assignment must hold branches 0..{self.branches - 1}; got values "
                    f"from {int(a.min())} to {int(a.max())}"
                )
        else:
            check_choice("branch_assignment", a, BRANCH_ASSIGNMENTS)

    def _check_leak(self) -> None:
        leak = self.membrane_decay
        if leak is None:
            if self.learn_membrane_decay is not None:
                raise ValueError(
                    "learn_membrane_decay needs membrane_decay; got membrane_decay=None"
                )
            return
        if self.readout:
            return  # refused with the other spiking options
        if not isinstance(leak, TimescaleInit):
            check_number("membrane_decay", leak)
            check_decay("membrane_decay", leak)
            check_broadcastable("membrane_decay", torch.as_tensor(leak), (self.out_features,))
        if self.learn_membrane_decay is not None:
            check_bool("learn_membrane_decay", self.learn_membrane_decay)
        for name in ("tau_reset", "learn_reset_decay"):
            if getattr(self, name) is not None:
                raise ValueError(
                    f"{name} must be None with membrane_decay (the leaky membrane holds the "
                    f"reset: there is no reset current); got {name}={getattr(self, name)!r}"
                )

    def _check_combinations(self) -> None:
        shared = self.heterogeneity in SHARED_MODELS
        if not self.self_connections and not self.recurrent:
            raise ValueError("self_connections=False needs recurrent=True; got recurrent=False")
        if self.tau_rec is not None and not self.recurrent:
            raise ValueError(f"tau_rec needs recurrent=True; got tau_rec={self.tau_rec!r}")
        if self.tau_bias is not None and not self.bias:
            raise ValueError(f"tau_bias needs bias=True; got tau_bias={self.tau_bias!r}")
        if shared:
            for name in ("tau_rec", "tau_bias"):
                if getattr(self, name) is not None:
                    raise ValueError(
                        f"{name} must be None when heterogeneity={self.heterogeneity!r}: every "
                        "decay of a neuron is tied to tau_syn in that model; got "
                        f"{getattr(self, name)!r}"
                    )
            if self.learn_reset_decay is not None and self.tau_reset is None:
                raise ValueError(
                    f"learn_reset_decay needs tau_reset when heterogeneity="
                    f"{self.heterogeneity!r} (the reset is tied to the neuron's decay); got "
                    "tau_reset=None"
                )
        if self.reset_amount is not None and self._config.reset != "subtract":
            raise ValueError(
                f"reset_amount applies to reset='subtract' only; got reset={self.reset!r}"
            )
        if self.heterogeneity == "branch" and self.tau_rec is not None:
            raise ValueError(
                "tau_rec must be None with heterogeneity='branch' (the recurrent synapses feed "
                f"the branches and decay with them); got tau_rec={self.tau_rec!r}"
            )
        if self.adapt_strength is not None and not self.adaptation:
            raise ValueError(
                "adapt_strength needs adaptation=True; got "
                f"adapt_strength={self.adapt_strength!r}"
            )

    # ------------------------------------------------------------------ derived

    @property
    def config(self) -> DynamicsConfig:
        """The update rule's static choices (reset mode, timing, detaching)."""
        return self._config

    @property
    def untied_reset(self) -> bool:
        """A shared model (``"neuron"`` / ``"none"``) whose reset is not tied to its decay: a
        reset current of its own (``tau_reset``) or a leaky membrane (``membrane_decay``)."""
        untied = self.tau_reset is not None or self.membrane_decay is not None
        return self.heterogeneity in SHARED_MODELS and untied and not self.readout

    @property
    def leaky(self) -> bool:
        """Whether the membrane leaks (``membrane_decay`` given; never in a readout)."""
        return self.membrane_decay is not None and not self.readout

    @property
    def branch_columns(self) -> int:
        """The synapses of a neuron that the branches share out: its inputs, and the layer's
        own neurons when it is recurrent."""
        return self.in_features + (self.out_features if self.recurrent else 0)

    @property
    def layout(self) -> Layout:
        """The layout of the layer's state (:mod:`hetsyn_plugins.core.layouts`): per synapse
        (``heterogeneity="synapse"``), per input (``"input"``), per branch (``"branch"``),
        shared (the decays shared per neuron, the reset tied to them), or shared with a reset
        current or leaky membrane of its own (``tau_reset`` or ``membrane_decay`` given)."""
        by_heterogeneity = {"synapse": PER_SYNAPSE, "input": INPUT, "branch": BRANCH}
        if self.heterogeneity in by_heterogeneity:
            return by_heterogeneity[self.heterogeneity]
        return SHARED_RESET if self.untied_reset else SHARED

    @property
    def shared(self) -> bool:
        """Whether the layer runs the shared layout (see :attr:`layout`)."""
        return self.layout is SHARED

    def replace(self, **changes) -> "HetSynSpec":
        """A copy with ``changes`` (validated)."""
        return dataclasses.replace(self, **changes)

    def options(self) -> dict:
        """The fields but the sizes, as keywords (``HetSynLIF(in, out, **spec.options())``)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)[2:]}


def _differs(value, default) -> bool:
    if isinstance(value, Tensor) or isinstance(default, Tensor):
        return True
    return value != default


FIELDS = tuple(f.name for f in dataclasses.fields(HetSynSpec))
_DEFAULTS = {f.name: f.default for f in dataclasses.fields(HetSynSpec)[2:]}
BOOLS = tuple(
    name
    for name, default in _DEFAULTS.items()
    if isinstance(default, bool)
)
# the options of the spiking model that a readout has not
SPIKING_ONLY = (
    "recurrent", "self_connections", "tau_reset", "learn_reset_decay", "tau_rec", "adaptation",
    "tau_adapt", "adapt_strength", "threshold", "learn_threshold", "reset", "reset_amount",
    "reset_timing", "detach_reset", "spike_fn", "decay_input", "membrane_decay",
    "learn_membrane_decay",
)  # fmt: skip

__all__ = ["BRANCH_ASSIGNMENTS", "FIELDS", "HETEROGENEITY", "HetSynSpec", "SHARED_MODELS",
           "SPIKING_ONLY"]
