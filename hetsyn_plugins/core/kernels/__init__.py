"""Multi-step paths behind one dispatcher.

:func:`run_spiking` and :func:`run_readout` take a whole sequence (T, B, in) and pick a
kernel by name. ``"auto"`` picks the fastest path available for the device, layout and
length; every other path is tested against ``"reference"``.
"""

from __future__ import annotations

from torch import Tensor

from ..dynamics import DynamicsConfig, HetSynParams, HetSynState, SpikeFn
from ..validation import check_choice
from . import reference

KERNELS = ("auto", "reference")


def choose_kernel(kernel: str, x: Tensor, params: HetSynParams) -> str:
    """The concrete kernel ``"auto"`` stands for, for this input and these parameters."""
    check_choice("kernel", kernel, KERNELS)
    if kernel != "auto":
        return kernel
    return "reference"


def run_spiking(
    x: Tensor,
    params: HetSynParams,
    state: HetSynState,
    spike_fn: SpikeFn,
    config: DynamicsConfig,
    kernel: str = "auto",
) -> tuple[Tensor, Tensor, HetSynState]:
    """Spikes (T, B, out), membranes (T, B, out) and final state of a spiking layer."""
    choose_kernel(kernel, x, params)
    return reference.run_spiking(x, params, state, spike_fn, config)


def run_readout(
    x: Tensor, params: HetSynParams, state: HetSynState, kernel: str = "auto"
) -> tuple[Tensor, HetSynState]:
    """Outputs (T, B, out) and final state of a readout layer."""
    choose_kernel(kernel, x, params)
    return reference.run_readout(x, params, state)
