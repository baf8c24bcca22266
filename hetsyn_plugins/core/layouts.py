"""The layouts of a layer's state, as types: which state a step carries and which rule of
:mod:`hetsyn_plugins.core.dynamics` steps it. A layer picks its layout once, at construction
(:attr:`HetSynSpec.layout <hetsyn_plugins.core.spec.HetSynSpec.layout>`), and its parameters
carry it (:attr:`HetSynParams.layout <hetsyn_plugins.core.dynamics.HetSynParams>`); the
kernels pick their fused loop by it.

======================  ===========================================  ===========================
layout                  state per sample                             models
======================  ===========================================  ===========================
:data:`PER_SYNAPSE`     ``I`` (out, in), ``Q`` (out, out), ``B``,    HetSynLIF
                        ``J``, ``A`` (out,)
:data:`INPUT`           ``F`` (in,), ``G`` (out,), ``B``, ``J``,     one decay per input
                        ``A`` (out,)                                 (``heterogeneity="input"``)
:data:`BRANCH`          ``D`` (out, K), ``B``, ``J``, ``A`` (out,)   dendritic branches, DHLIF
                                                                     (``"branch"``)
:data:`SHARED`          ``U`` (out,) (reset folded in), ``A``        HetNeuLIF, HomNeuLIF(A),
                                                                     a readout's shared models
:data:`SHARED_RESET`    ``U`` (out,), ``J`` (out,), ``A``            HetNeuLIF / HomNeuLIF with
                                                                     a reset current of its own
                                                                     or a leaky membrane
======================  ===========================================  ===========================

With a membrane leak (``membrane_decay``) the layouts but :data:`SHARED` keep no reset
current: the membrane ``V + A`` is the state that holds the reset
(:func:`~hetsyn_plugins.core.dynamics.membrane_current`).

Each layout also says what its fast paths feed their whole-sequence loop
(``sequence_drive``): the per-synapse layout the summed currents of its scans
(:mod:`hetsyn_plugins.core.kernels`), the shared layouts ``W x + b``, the per-input layout the
input itself (filtered in the loop), the branch layout the weighted input of every branch.
"""

from __future__ import annotations

from typing import Callable, Optional

import torch.nn.functional as F
from torch import Tensor

from . import dynamics


class Layout:
    """A layout: its ``name``, whether it keeps ``per_synapse`` currents, and its rule
    functions (``step``, ``readout_step``, ``state_shapes``; signatures as
    :func:`~hetsyn_plugins.core.dynamics.step`, :func:`~hetsyn_plugins.core.dynamics.readout_step`,
    :func:`~hetsyn_plugins.core.dynamics.state_shapes`), and ``sequence_drive(x, params)``:
    what the fast paths give the layout's whole-sequence loop for an input ``x`` (T, B, in)
    (None for the per-synapse layout, whose scans give it)."""

    def __init__(
        self,
        name: str,
        *,
        per_synapse: bool,
        step: Callable,
        readout_step: Callable,
        state_shapes: Callable,
        sequence_drive: Optional[Callable[[Tensor, "dynamics.HetSynParams"], Tensor]] = None,
        drive: str = "",
        holds_synaptic_current: bool = False,
        grouped_decays: bool = False,
    ):
        self.name, self.per_synapse = name, per_synapse
        self.step, self.readout_step, self.state_shapes = step, readout_step, state_shapes
        self.sequence_drive = sequence_drive
        self.drive = drive  # its feedforward drive, in words (for explain())
        # whether ``state.syn`` is the summed synaptic current a leaky membrane integrates
        self.holds_synaptic_current = holds_synaptic_current
        # whether a decay is shared by a group of synapses other than a neuron's (an input's,
        # a branch's): dynamics.synapse_decays spreads it to the synapses
        self.grouped_decays = grouped_decays

    def __repr__(self) -> str:
        return f"<layout {self.name}>"

    def __reduce__(self):  # pickled (copied) as the one instance of its name
        return (by_name, (self.name,))


PER_SYNAPSE = Layout(
    "per-synapse",
    per_synapse=True,
    step=dynamics.per_synapse_step,
    readout_step=dynamics.per_synapse_readout_step,
    state_shapes=dynamics.per_synapse_state_shapes,
)
INPUT = Layout(
    "per-input",
    per_synapse=False,
    step=dynamics.input_step,
    readout_step=dynamics.input_readout_step,
    state_shapes=dynamics.input_state_shapes,
    sequence_drive=lambda x, params: x,
    drive="one trace per input (B, in), then one matrix product W F per step",
    grouped_decays=True,
)
BRANCH = Layout(
    "branch",
    per_synapse=False,
    step=dynamics.branch_step,
    readout_step=dynamics.branch_readout_step,
    state_shapes=dynamics.branch_state_shapes,
    sequence_drive=lambda x, params: dynamics.branch_product(x, params.weight, params.branches),
    drive="the weighted input of each branch (K block or masked matrix products), filtered "
    "per (neuron, branch)",
    grouped_decays=True,
)


def _linear(x: Tensor, params: "dynamics.HetSynParams") -> Tensor:
    return F.linear(x, params.weight, params.bias)


SHARED = Layout(
    "shared",
    per_synapse=False,
    step=dynamics.shared_step,
    readout_step=dynamics.shared_readout_step,
    state_shapes=dynamics.shared_state_shapes,
    sequence_drive=_linear,
    drive="one matrix product W x + b",
)
SHARED_RESET = Layout(
    "shared, own reset",
    per_synapse=False,
    step=dynamics.shared_reset_step,
    readout_step=dynamics.shared_readout_step,
    state_shapes=dynamics.shared_reset_state_shapes,
    sequence_drive=_linear,
    drive="one matrix product W x + b",
    holds_synaptic_current=True,
)
LAYOUTS = (PER_SYNAPSE, INPUT, BRANCH, SHARED, SHARED_RESET)


def by_name(name: str) -> Layout:
    """The layout called ``name``."""
    return {layout.name: layout for layout in LAYOUTS}[name]


__all__ = [
    "BRANCH", "INPUT", "LAYOUTS", "Layout", "PER_SYNAPSE", "SHARED", "SHARED_RESET", "by_name",
]  # fmt: skip
