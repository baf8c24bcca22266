"""Multi-step paths behind one dispatcher.

:func:`run_spiking` and :func:`run_readout` take a whole sequence (T, B, in) and pick a
kernel by name:

- ``"reference"``: the update rule step by step with plain autograd (the oracle; keeps the
  per-synapse state of every step for the backward pass);
- ``"scan"``: memory-flat exact scans (:mod:`.scan`) of the feedforward and recurrent
  per-synapse currents, fused CPU loops when numba is installed;
- ``"fft"``: the feedforward currents of the whole sequence at once by FFT
  (:mod:`.fft_filter`, memory-flat too), recurrent currents as in ``"scan"``; from a non-zero
  initial feedforward state it runs as ``"scan"``;
- ``"triton"``: the feedforward scan fused in a Triton GPU kernel (:mod:`.triton_scan`; CUDA
  tensors, or any under ``TRITON_INTERPRET=1``), recurrent currents as in ``"scan"``;
- ``"auto"``: the fastest of these for the device, layout and length (see :func:`choose_kernel`).

In the shared layouts (heterogeneity ``"neuron"``/``"none"``) both fast paths compute
``W x + b`` for all steps with one matrix product. The per-neuron part of the rule (reset,
adaptation, spike) always runs step by step through
:func:`hetsyn_plugins.core.dynamics.step`. Every path is tested against ``"reference"``
(forward and gradients, float64).
"""

from __future__ import annotations

import functools
import importlib.util
import os
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from ..dynamics import DynamicsConfig, HetSynParams, HetSynState, SpikeFn, readout_step, step
from ..validation import check_choice
from . import reference, scan
from .fft_filter import final_currents, synaptic_filter

KERNELS = ("auto", "reference", "scan", "fft", "triton")


@functools.cache
def have_triton() -> bool:
    """Whether the Triton kernel can be imported."""
    return importlib.util.find_spec("triton") is not None


def choose_kernel(kernel: str, x: Tensor, params: HetSynParams, state: HetSynState) -> str:
    """The concrete kernel for this input, these parameters and this initial state.

    ``"auto"``: on the CPU the numba scan when numba is installed (the fastest kernel in
    benchmark B2, ``benchmarks/results/b2.json``), else the FFT filter; on CUDA
    the Triton kernel when triton is installed, else the FFT filter.
    """
    check_choice("kernel", kernel, KERNELS)
    cuda = x.device.type == "cuda"
    if kernel == "auto":
        if cuda:
            kernel = "triton" if have_triton() else "fft"
        else:
            kernel = "scan" if scan.HAVE_NUMBA else "fft"
    if kernel == "triton":
        interpreted = os.environ.get("TRITON_INTERPRET") == "1"
        if not have_triton() or not (cuda or interpreted):
            raise ValueError(
                "kernel='triton' needs triton installed and CUDA tensors (or TRITON_INTERPRET=1 "
                f"for testing on the CPU); got triton installed={have_triton()}, "
                f"device={x.device.type!r}"
            )
    if kernel == "fft" and not params.shared and bool(state.syn.any()):
        return "scan"  # the FFT filter starts from zero currents
    return kernel


def _feedforward(kernel: str, x: Tensor, params: HetSynParams, state: HetSynState):
    """The feedforward drive of every step at once (T, B, out), and a function of the last
    state giving the final feedforward state."""
    if params.shared:
        return F.linear(x, params.weight, params.bias), lambda last: last.syn
    if kernel in ("scan", "triton"):
        if kernel == "triton":
            from .triton_scan import feedforward_scan
        else:
            feedforward_scan = scan.feedforward_scan
        S, I_final = feedforward_scan(x, params.weight, params.syn_decay, state.syn)
        return S, lambda last: I_final
    S = synaptic_filter(x, params.weight, params.syn_decay)
    return S, lambda last: final_currents(x, params.weight, params.syn_decay)


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
    kernel = choose_kernel(kernel, x, params, state)
    if kernel == "reference":
        return reference.run_spiking(x, params, state, spike_fn, config)
    ff, final_syn = _feedforward(kernel, x, params, state)
    recurrent = params.rec_weight is not None and not params.shared
    spikes, membranes, carry = [], [], None
    for ff_t in ff:
        rec = None
        if recurrent:
            R, Q, carry = scan.recurrent_step(
                state.spike, state.rec, carry, params.rec_weight, params.rec_decay
            )
            rec = (R, Q)
        z, v, state = step(None, params, state, spike_fn, config, ff=ff_t, rec=rec)
        spikes.append(z)
        membranes.append(v)
    final = state._replace(syn=final_syn(state)) if need_state else None
    return torch.stack(spikes), torch.stack(membranes), final


def run_readout(
    x: Tensor,
    params: HetSynParams,
    state: HetSynState,
    kernel: str = "auto",
    need_state: bool = True,
) -> tuple[Tensor, Optional[HetSynState]]:
    """Outputs (T, B, out) and final state (None unless ``need_state``) of a readout layer."""
    kernel = choose_kernel(kernel, x, params, state)
    if kernel == "reference":
        return reference.run_readout(x, params, state)
    ff, final_syn = _feedforward(kernel, x, params, state)
    outputs = []
    for ff_t in ff:
        y, state = readout_step(None, params, state, ff=ff_t)
        outputs.append(y)
    final = state._replace(syn=final_syn(state)) if need_state else None
    return torch.stack(outputs), final
