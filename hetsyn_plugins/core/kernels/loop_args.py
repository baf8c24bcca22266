"""The named arguments of the fused layer loops (numba, :mod:`._numba_scan`; Triton,
:mod:`.triton_fused`): what used to be 19-31 positional arrays, an int64 ``flags`` array and
an 8-row gradient buffer whose rows meant something by convention.

Both backends take the same tuples (torch tensors; the numba side converts them to arrays,
which numba reads by field name). Shapes: ``out`` neurons, batch ``B``, ``T`` steps, ``P``
chunks of the batch that sum parameter gradients separately (one per thread or program).
"""

from __future__ import annotations

from typing import Any, NamedTuple

RESET_CODES = {"none": 0, "subtract": 1, "zero": 2}


class Flags(NamedTuple):
    """What a layer loop computes (compile-time switches of the Triton loops)."""

    recurrent: bool  # recurrent currents (per-synapse Q, or the shared layouts' U z)
    bias: bool  # a decaying bias current (per-synapse layouts)
    reset: int  # RESET_CODES: 0 none, 1 subtract, 2 to zero
    at_spike: bool  # the reset acts at the spike (before the decay), not after
    adapt: bool  # threshold adaptation
    fires_at_zero: bool  # spikes at u >= 0 (SpikingJelly) rather than u > 0 (snnTorch)
    detach_reset: bool  # no gradient through the spikes that drive the reset


class NeuronParams(NamedTuple):
    """Per-neuron vectors (out,) of a per-synapse layer (zeros where a part is absent); as a
    gradient, per-chunk sums (P, out)."""

    bias: Any
    bias_decay: Any
    reset_decay: Any
    reset_amount: Any
    threshold: Any
    adapt_decay: Any
    adapt_strength: Any


class NeuronState(NamedTuple):
    """Per-neuron state (B, out) of a per-synapse layer: bias, reset and adaptation currents,
    membrane and spikes of the step before. As a gradient: that of the state."""

    bias: Any
    reset: Any
    adapt: Any
    v: Any
    spike: Any


class NeuronTrace(NamedTuple):
    """What the forward loop of a per-synapse layer writes for every step (T, B, out): spikes,
    membranes, bias, reset and adaptation currents (the backward sweep reads them)."""

    spike: Any
    v: Any
    bias: Any
    reset: Any
    adapt: Any


class SharedParams(NamedTuple):
    """Per-neuron vectors (out,) of the shared layouts; as a gradient, sums (P, out)."""

    decay: Any
    reset_amount: Any
    threshold: Any
    adapt_decay: Any
    adapt_strength: Any


class SharedState(NamedTuple):
    """State (B, out) of the shared layouts: summed current, adaptation, membrane, spikes."""

    current: Any
    adapt: Any
    v: Any
    spike: Any


class SharedTrace(NamedTuple):
    """What the shared layouts' forward loop writes for every step (T, B, out)."""

    spike: Any
    v: Any
    current: Any
    adapt: Any

