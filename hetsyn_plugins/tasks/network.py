"""The networks of the paper's experiments: spiking layers of one model, then a readout.

``SpikingNetwork``: ``in -> [HetSynLIF preset, optionally recurrent] x L -> HetSynReadout``.
The four models of the paper (:data:`hetsyn_plugins.core.PRESETS`) differ only in how the
decays of every layer are shared; the readout follows the hidden layers' sharing unless told
otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Optional

from torch import Tensor, nn

from ..core import PRESETS, HetSynLIF, HetSynReadout
from ..core.timescales import TimescaleSpec
from ..core.validation import check_choice, check_positive_int

# The readout's sharing for each model: a HetSyn network reads out through per-synapse decays.
READOUT_HETEROGENEITY = {
    "HetSynLIF": "synapse",
    "HetNeuLIF": "neuron",
    "HomNeuLIF": "none",
    "HomNeuALIF": "none",
}


class NetworkOutput(NamedTuple):
    """What :class:`SpikingNetwork` returns.

    ``readout``: (T, B, out), the readout layer's output at every step.
    ``spikes``: one (T, B, hidden_l) tensor of spikes per hidden layer.
    """

    readout: Tensor
    spikes: tuple[Tensor, ...]


class SpikingNetwork(nn.Module):
    """Hidden layers of one of the paper's models followed by a leaky-integrator readout.

    Args:
        in_features: inputs per step.
        hidden: sizes of the hidden spiking layers (at least one).
        out_features: readout units.
        model: ``"HetSynLIF"``, ``"HetNeuLIF"``, ``"HomNeuLIF"`` or ``"HomNeuALIF"``.
        recurrent: give every hidden layer recurrent synapses.
        tau_syn: initial synaptic time constants of the hidden layers (in steps).
        readout_tau: initial time constants of the readout (in steps).
        readout_heterogeneity: the readout's sharing; default by ``model``
            (:data:`READOUT_HETEROGENEITY`).
        learn_readout_decays: make the readout decays learnable.
        **layer_options: further :class:`~hetsyn_plugins.core.HetSynLIF` arguments for every
            hidden layer (they may not contradict the preset).

    Shapes:
        input (T, B, in_features) -> :class:`NetworkOutput` (readout (T, B, out_features)).
    """

    def __init__(
        self,
        in_features: int,
        hidden: Sequence[int],
        out_features: int,
        *,
        model: str = "HetSynLIF",
        recurrent: bool = False,
        tau_syn: TimescaleSpec = 20.0,
        readout_tau: TimescaleSpec = 20.0,
        readout_heterogeneity: Optional[str] = None,
        learn_readout_decays: bool = True,
        **layer_options,
    ):
        super().__init__()
        check_choice("model", model, PRESETS)
        hidden = tuple(hidden)
        if not hidden:
            raise ValueError("hidden must name at least one hidden layer size; got ()")
        for size in hidden:
            check_positive_int("hidden size", size)
        for key, value in PRESETS[model].items():
            if key in layer_options and layer_options[key] != value:
                raise ValueError(
                    f"{key} must be {value!r} for the {model} model; got {layer_options[key]!r}"
                )
        self.model = model
        sizes = (in_features, *hidden)
        self.hidden = nn.ModuleList(
            HetSynLIF(
                n_in,
                n_out,
                recurrent=recurrent,
                tau_syn=tau_syn,
                **{**layer_options, **PRESETS[model]},
            )
            for n_in, n_out in zip(sizes[:-1], sizes[1:])
        )
        self.readout = HetSynReadout(
            hidden[-1],
            out_features,
            heterogeneity=readout_heterogeneity or READOUT_HETEROGENEITY[model],
            tau_syn=readout_tau,
            learn_decays=learn_readout_decays,
        )

    def forward(self, x: Tensor) -> NetworkOutput:
        spikes = []
        for layer in self.hidden:
            x = layer(x)
            spikes.append(x)
        return NetworkOutput(self.readout(x), tuple(spikes))
