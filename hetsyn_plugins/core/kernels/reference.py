"""The reference multi-step path: the update rule applied step by step with plain autograd.

It keeps the full per-step state in the autograd graph (for per-synapse layers a
(B, out, in) tensor per step, as the paper's code does), so it is slow and memory-hungry on
long sequences. It is the oracle every faster path is tested against.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..dynamics import DynamicsConfig, HetSynParams, HetSynState, SpikeFn, readout_step, step


def run_spiking(
    x: Tensor,
    params: HetSynParams,
    state: HetSynState,
    spike_fn: SpikeFn,
    config: DynamicsConfig,
) -> tuple[Tensor, Tensor, HetSynState]:
    """Run :func:`~hetsyn_plugins.core.dynamics.step` over ``x`` (T, B, in).

    Returns spikes (T, B, out), membranes (T, B, out) and the final state.
    """
    spikes, membranes = [], []
    for x_t in x:
        z, v, state = step(x_t, params, state, spike_fn, config)
        spikes.append(z)
        membranes.append(v)
    return torch.stack(spikes), torch.stack(membranes), state


def run_readout(x: Tensor, params: HetSynParams, state: HetSynState) -> tuple[Tensor, HetSynState]:
    """Run :func:`~hetsyn_plugins.core.dynamics.readout_step` over ``x`` (T, B, in).

    Returns outputs (T, B, out) and the final state.
    """
    outputs = []
    for x_t in x:
        y, state = readout_step(x_t, params, state)
        outputs.append(y)
    return torch.stack(outputs), state
