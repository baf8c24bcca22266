"""Multi-step paths behind one dispatcher.

:func:`run_spiking` and :func:`run_readout` take a whole sequence (T, B, in) and pick a
kernel by name:

- ``"reference"``: the update rule step by step with plain autograd (the oracle; keeps the
  per-synapse state of every step for the backward pass);
- ``"scan"``: the memory-flat exact scan (:mod:`.scan`) of the feedforward per-synapse
  currents, fused CPU loops when numba is installed; recurrent per-synapse currents, which
  need the spikes of the step before, on the per-step path of :mod:`.stepwise`;
- ``"fft"``: the feedforward currents of the whole sequence at once by FFT
  (:mod:`.fft_filter`, memory-flat too), recurrent currents as in ``"scan"``; from a non-zero
  initial feedforward state it runs as ``"scan"``;
- ``"triton"``: the feedforward scan fused in a Triton GPU kernel (:mod:`.triton_scan`; CUDA
  tensors, or any under ``TRITON_INTERPRET=1``), and the rest of a layer (every layout,
  spiking or readout) in one more (:mod:`.triton_fused`, the twin of the numba loops below);
- ``"auto"``: the fastest of these for the device, layout and length (see :func:`choose_kernel`).

In the shared layouts (heterogeneity ``"neuron"``/``"none"``, with or without a reset current
of their own) both fast paths compute ``W x + b`` for all steps with one matrix product.
With ``"scan"`` on the CPU, the rest of a layer (recurrent currents, bias, reset,
adaptation, spikes; every layout, spiking or readout) runs as one fused call for the whole sequence (:mod:`.fused`) where the spike function is
declared elementwise; otherwise that part runs step by step through
:func:`hetsyn_plugins.core.dynamics.step`. Every path is tested against
``"reference"`` (forward and gradients, float64).

One step at a time (:func:`step_spiking`, :func:`step_readout`: the per-step calls of the
layers and host faces), every kernel but ``"reference"`` takes the memory-flat per-step path
of :mod:`.stepwise`.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from typing import Optional

import torch
from torch import Tensor

from ..dynamics import DynamicsConfig, HetSynParams, HetSynState, SpikeFn, readout_step, step
from ..validation import check_choice
from . import fused, reference, scan, stepwise
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
            kernel = "scan" if scan.have_numba() else "fft"
    if kernel == "triton":
        interpreted = os.environ.get("TRITON_INTERPRET") == "1"
        if not have_triton() or not (cuda or interpreted):
            raise ValueError(
                "kernel='triton' needs triton installed and CUDA tensors (or TRITON_INTERPRET=1 "
                f"for testing on the CPU); got triton installed={have_triton()}, "
                f"device={x.device.type!r}"
            )
    if kernel == "fft" and params.layout.per_synapse and (
        state.syn.requires_grad or bool(state.syn.any())
    ):
        return "scan"  # the FFT filter starts from zero currents, and has no gradient for them
    return kernel


def _feedforward(
    kernel: str, x: Tensor, params: HetSynParams, state: HetSynState, need_state: bool
):
    """The feedforward drive of every step at once (the layout's ``sequence_drive``; the
    per-synapse layout: its summed currents (T, B, out) by a scan), and the per-synapse
    currents after the last step (None in the other layouts, whose loop carries its synaptic
    state, and when the final state is not needed)."""
    if not params.layout.per_synapse:
        return params.layout.sequence_drive(x, params), None
    if kernel in ("scan", "triton"):
        if kernel == "triton":
            from .triton_scan import feedforward_scan
        else:
            feedforward_scan = _eager(scan.feedforward_scan)
        return feedforward_scan(x, params.weight, params.syn_decay, state.syn)
    S = synaptic_filter(x, params.weight, params.syn_decay)
    return S, final_currents(x, params.weight, params.syn_decay) if need_state else None


def _eager(fn):
    """``fn``, left out of the graph under ``torch.compile`` (a graph break: what it calls
    cannot be traced). Applied per call, as importing ``torch.compiler.disable`` imports
    ``torch._dynamo``, which only a compiling caller has imported."""
    return torch.compiler.disable(fn) if torch.compiler.is_compiling() else fn


def _final(state: HetSynState, ff_final: Optional[Tensor]) -> HetSynState:
    """The final state of a sequence: the feedforward currents its kernel gave, and the
    recurrent buffer of the per-step path handed over (without its link, no later step
    advances it in place)."""
    if ff_final is not None:
        state = state._replace(syn=ff_final)
    return state.without_link()


def _layer_loop(kernel: str, drive: Tensor, params: HetSynParams, state: HetSynState, spike_fn):
    """``(loop, reason)``: the fused loop for the rest of a layer after its feedforward drive
    (``"scan"`` / ``"triton"``) or None, with the reason it does not apply (then the layer
    steps through the pure-torch twin)."""
    if kernel not in ("scan", "triton"):
        return None, f"kernel={kernel!r} has no fused layer loop"
    reason = fused.applicable(kernel, drive, params, state, spike_fn)
    return (None, reason) if reason else (kernel, None)


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
    ff, ff_final = _feedforward(kernel, x, params, state, need_state)
    loop, _ = _layer_loop(kernel, ff, params, state, spike_fn)
    if loop is not None:
        whole = fused.SPIKING_LOOPS[params.layout]
        spikes, membranes, final = whole(ff, params, state, spike_fn, config, kernel=loop)
    else:
        spikes, membranes, final = fused.spiking_scan_ref(
            ff, params, state, spike_fn, config, recurrent=stepwise.synapse_step
        )
    return spikes, membranes, _final(final, ff_final) if need_state else None


def step_spiking(
    x: Tensor,
    params: HetSynParams,
    state: HetSynState,
    spike_fn: SpikeFn,
    config: DynamicsConfig,
    kernel: str = "auto",
) -> tuple[Tensor, Tensor, HetSynState]:
    """One step (B, in) of a spiking layer: ``(z, v, new_state)``.

    Every kernel but ``"reference"`` runs the per-synapse pathways through the memory-flat
    per-step path (:mod:`.stepwise`); the shared layouts are one matrix product either way.
    """
    check_choice("kernel", kernel, KERNELS)
    if kernel == "reference" or not params.layout.per_synapse:
        return step(x, params, state, spike_fn, config)
    return step(x, params, state, spike_fn, config, stepwise.synapse_step, stepwise.synapse_step)


def step_readout(
    x: Tensor, params: HetSynParams, state: HetSynState, kernel: str = "auto"
) -> tuple[Tensor, HetSynState]:
    """One step (B, in) of a readout layer: ``(y, new_state)``; kernels as :func:`step_spiking`."""
    check_choice("kernel", kernel, KERNELS)
    if kernel == "reference" or not params.layout.per_synapse:
        return readout_step(x, params, state)
    return readout_step(x, params, state, stepwise.synapse_step)


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
    ff, ff_final = _feedforward(kernel, x, params, state, need_state)
    loop, _ = _layer_loop(kernel, ff, params, state, None)
    if loop is not None:
        y, final = fused.READOUT_LOOPS[params.layout](ff, params, state, kernel=loop)
    else:
        y, final = fused.readout_scan_ref(ff, params, state)
    return y, _final(final, ff_final) if need_state else None


from .explain import Explanation, explain  # noqa: E402,F401  (it asks the functions above)
