"""The core of hetsyn-plugins: the HetSynLIF update rule, its kernels and layers.

Depends on torch only; it never imports a host library (snnTorch, SpikingJelly).
"""

from .dynamics import DynamicsConfig, HetSynParams, HetSynState, initial_state, readout_step, step
from .layers import (
    HETEROGENEITY,
    HetSynLIF,
    HetSynReadout,
    LayerOutput,
    detach_states,
    reset_states,
)
from .presets import OTHER_PRESETS, PRESETS, preset
from .spikes import ATanSpike, MultiGaussianSpike
from .timescales import (
    Constant,
    Decay,
    DecayParameter,
    LogitUniform,
    LogNormal,
    Normal,
    Uniform,
    clamp_decays_,
    clamp_decays_after_step,
    decay_to_tau,
    tau_to_decay,
)

__all__ = [
    "ATanSpike",
    "MultiGaussianSpike",
    "Constant",
    "Decay",
    "DecayParameter",
    "DynamicsConfig",
    "HETEROGENEITY",
    "HetSynLIF",
    "HetSynParams",
    "HetSynReadout",
    "HetSynState",
    "LayerOutput",
    "LogitUniform",
    "LogNormal",
    "Normal",
    "OTHER_PRESETS",
    "PRESETS",
    "Uniform",
    "clamp_decays_",
    "clamp_decays_after_step",
    "decay_to_tau",
    "detach_states",
    "initial_state",
    "preset",
    "readout_step",
    "reset_states",
    "step",
    "tau_to_decay",
]
