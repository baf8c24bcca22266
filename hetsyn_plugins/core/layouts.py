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
:data:`SHARED`          ``U`` (out,) (reset folded in), ``A``        HetNeuLIF, HomNeuLIF(A),
                                                                     a readout's shared models
:data:`SHARED_RESET`    ``U`` (out,), ``J`` (out,), ``A``            HetNeuLIF / HomNeuLIF with
                                                                     a reset current of its own
======================  ===========================================  ===========================
"""

from __future__ import annotations

from typing import Callable

from . import dynamics


class Layout:
    """A layout: its ``name``, whether it keeps ``per_synapse`` currents, and its rule
    functions (``step``, ``readout_step``, ``state_shapes``; signatures as
    :func:`~hetsyn_plugins.core.dynamics.step`, :func:`~hetsyn_plugins.core.dynamics.readout_step`,
    :func:`~hetsyn_plugins.core.dynamics.state_shapes`)."""

    def __init__(
        self,
        name: str,
        *,
        per_synapse: bool,
        step: Callable,
        readout_step: Callable,
        state_shapes: Callable,
    ):
        self.name, self.per_synapse = name, per_synapse
        self.step, self.readout_step, self.state_shapes = step, readout_step, state_shapes

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
SHARED = Layout(
    "shared",
    per_synapse=False,
    step=dynamics.shared_step,
    readout_step=dynamics.shared_readout_step,
    state_shapes=dynamics.shared_state_shapes,
)
SHARED_RESET = Layout(
    "shared, own reset",
    per_synapse=False,
    step=dynamics.shared_reset_step,
    readout_step=dynamics.shared_readout_step,
    state_shapes=dynamics.shared_reset_state_shapes,
)
LAYOUTS = (PER_SYNAPSE, SHARED, SHARED_RESET)


def by_name(name: str) -> Layout:
    """The layout called ``name``."""
    return {layout.name: layout for layout in LAYOUTS}[name]


__all__ = ["LAYOUTS", "Layout", "PER_SYNAPSE", "SHARED", "SHARED_RESET", "by_name"]
