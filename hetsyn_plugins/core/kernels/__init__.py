"""Multi-step paths behind one dispatcher.

:func:`run_spiking` and :func:`run_readout` take a whole sequence (T, B, in) and pick a
kernel by name:

- ``"reference"``: the update rule step by step with plain autograd (the oracle);
- ``"fft"``: the feedforward synaptic drive of the whole sequence at once (per-synapse layout:
  the FFT filter of :mod:`.fft_filter`, memory-flat in the backward; shared layout: one
  matrix product for all steps), then the per-neuron recursion step by step. A non-zero
  initial feedforward state falls back to the reference path.
- ``"auto"``: the fastest path available for the device, layout and length.

Every path is tested against ``"reference"`` (forward and gradients, float64).
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from ..dynamics import DynamicsConfig, HetSynParams, HetSynState, SpikeFn, readout_step, step
from ..validation import check_choice
from . import reference
from .fft_filter import final_currents, synaptic_filter

KERNELS = ("auto", "reference", "fft")


def choose_kernel(kernel: str, x: Tensor, params: HetSynParams, state: HetSynState) -> str:
    """The concrete kernel for this input, these parameters and this initial state."""
    check_choice("kernel", kernel, KERNELS)
    if kernel == "reference":
        return kernel
    if not params.shared and bool(state.syn.any()):
        return "reference"  # the time-parallel filter starts from zero currents
    return "fft"


def _feedforward(x: Tensor, params: HetSynParams) -> Tensor:
    """The feedforward drive of every step at once, (T, B, out)."""
    if params.shared:
        return F.linear(x, params.weight, params.bias)
    return synaptic_filter(x, params.weight, params.syn_decay)


def _final_syn(x: Tensor, params: HetSynParams, last: HetSynState) -> Optional[Tensor]:
    if params.shared:
        return last.syn
    return final_currents(x, params.weight, params.syn_decay)


def run_spiking(
    x: Tensor,
    params: HetSynParams,
    state: HetSynState,
    spike_fn: SpikeFn,
    config: DynamicsConfig,
    kernel: str = "auto",
    need_state: bool = True,
) -> tuple[Tensor, Tensor, Optional[HetSynState]]:
    """Spikes (T, B, out), membranes (T, B, out) and final state (None unless
    ``need_state``) of a spiking layer."""
    if choose_kernel(kernel, x, params, state) == "reference":
        return reference.run_spiking(x, params, state, spike_fn, config)
    ff = _feedforward(x, params)
    spikes, membranes = [], []
    for ff_t in ff:
        z, v, state = step(None, params, state, spike_fn, config, ff=ff_t)
        spikes.append(z)
        membranes.append(v)
    final = state._replace(syn=_final_syn(x, params, state)) if need_state else None
    return torch.stack(spikes), torch.stack(membranes), final


def run_readout(
    x: Tensor,
    params: HetSynParams,
    state: HetSynState,
    kernel: str = "auto",
    need_state: bool = True,
) -> tuple[Tensor, Optional[HetSynState]]:
    """Outputs (T, B, out) and final state (None unless ``need_state``) of a readout layer."""
    if choose_kernel(kernel, x, params, state) == "reference":
        return reference.run_readout(x, params, state)
    ff = _feedforward(x, params)
    outputs = []
    for ff_t in ff:
        y, state = readout_step(None, params, state, ff=ff_t)
        outputs.append(y)
    final = state._replace(syn=_final_syn(x, params, state)) if need_state else None
    return torch.stack(outputs), final
