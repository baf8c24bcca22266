"""The reference multi-step path (``kernel="reference"``): the pure-torch twins of the fast
kernels, composed as the fast path composes the kernels.

The feedforward drive of every step comes from :func:`.scan.feedforward_scan_ref` (the
per-synapse currents step by step; in the shared layouts ``W x + b``), the rest of the layer
from :func:`.fused.spiking_scan_ref` / :func:`.fused.readout_scan_ref` (the update rule of
:mod:`hetsyn_plugins.core.dynamics` step by step). Plain autograd keeps the full per-step
state (for per-synapse layers a (B, out, in) tensor per step, as the paper's code does), so it
is slow and memory-hungry on long sequences. It is the oracle every faster path is tested
against; each fast kernel is also tested against its own twin.
"""

from __future__ import annotations

from typing import Optional

from torch import Tensor

from ..dynamics import DynamicsConfig, HetSynParams, HetSynState, SpikeFn
from .fused import readout_scan_ref, spiking_scan_ref
from .scan import feedforward_scan_ref


def feedforward_ref(
    x: Tensor, params: HetSynParams, state: HetSynState
) -> tuple[Tensor, Optional[Tensor]]:
    """The drive of ``x`` (T, B, in) that the layout's loop takes (its ``sequence_drive``;
    the per-synapse layout: the summed feedforward currents (T, B, out)) and, in the
    per-synapse layout, the currents after the last step (None in the others, whose loop
    carries its synaptic state)."""
    if not params.layout.per_synapse:
        return params.layout.sequence_drive(x, params), None
    return feedforward_scan_ref(x, params.weight, params.syn_decay, state.syn)


def run_spiking(
    x: Tensor,
    params: HetSynParams,
    state: HetSynState,
    spike_fn: SpikeFn,
    config: DynamicsConfig,
) -> tuple[Tensor, Tensor, HetSynState]:
    """Spikes (T, B, out), membranes (T, B, out) and final state of a spiking layer on
    ``x`` (T, B, in)."""
    drive, currents = feedforward_ref(x, params, state)
    spikes, membranes, final = spiking_scan_ref(drive, params, state, spike_fn, config)
    return spikes, membranes, final if currents is None else final._replace(syn=currents)


def run_readout(x: Tensor, params: HetSynParams, state: HetSynState) -> tuple[Tensor, HetSynState]:
    """Outputs (T, B, out) and final state of a readout layer on ``x`` (T, B, in)."""
    drive, currents = feedforward_ref(x, params, state)
    outputs, final = readout_scan_ref(drive, params, state)
    return outputs, final if currents is None else final._replace(syn=currents)
