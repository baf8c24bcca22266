"""The networks of the paper's experiments: spiking layers of one model, then a readout.

``SpikingNetwork``: ``in -> [HetSynLIF preset, optionally recurrent] x L -> HetSynReadout``.
The four models of the paper (:data:`hetsyn_plugins.core.PRESETS`) differ only in how the
decays of every layer are shared; the readout follows the hidden layers' sharing unless told
otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple, Optional

import torch
from torch import Tensor, nn

from ..core import PRESETS, HetSynLIF, HetSynReadout
from ..core.spikes import SPIKE_FUNCTIONS
from ..core.timescales import TimescaleSpec
from ..core.validation import check_choice, check_positive_int

# The readout's sharing for each model: a HetSyn network reads out through per-synapse decays.
READOUT_HETEROGENEITY = {
    "HetSynLIF": "synapse",
    "HetNeuLIF": "neuron",
    "HomNeuLIF": "none",
    "HomNeuALIF": "none",
}


WEIGHT_INITS = ("uniform", "normal")


def paper_model_options(
    model: str,
    *,
    tau_syn: TimescaleSpec,
    readout_tau: TimescaleSpec,
    reset_tau: Optional[float] = None,
    learn_reset: bool = False,
    baseline_tau: Optional[float] = None,
    baseline_self_connections: bool = True,
    adapt_tau: Optional[float] = None,
    recurrent: bool = True,
) -> dict:
    """:class:`SpikingNetwork` options for ``model`` following the conventions of the paper's
    code (all times in steps):

    - ``reset_tau``: a reset current of its own with this fixed time constant in every model
      (learned with ``learn_reset``); None: the preset's (HetSynLIF draws it like ``tau_syn``,
      the shared models tie it to the neuron's decay);
    - ``baseline_tau``: the HomNeu models' one membrane time constant, fixed (None: learned,
      drawn like ``tau_syn``); ``baseline_self_connections``: whether their recurrent
      layers keep self-connections;
    - ``adapt_tau``: HomNeuALIF's adaptation time constant (None: the layer's default).

    HetSynLIF and HetNeuLIF learn their synaptic decays from ``tau_syn``.
    """
    check_choice("model", model, PRESETS)
    options: dict = {"tau_syn": tau_syn, "readout_tau": readout_tau}
    if reset_tau is not None:
        options.update(tau_reset=float(reset_tau), learn_reset_decay=bool(learn_reset))
    if model.startswith("HomNeu"):
        if baseline_tau is not None:
            options.update(tau_syn=float(baseline_tau), learn_decays=False)
        if recurrent and not baseline_self_connections:
            options["self_connections"] = False
    if model == "HomNeuALIF" and adapt_tau is not None:
        options["tau_adapt"] = float(adapt_tau)
    return options


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
        readout_bias: give the readout a bias current.
        dropout: drop each spike passed from a hidden layer to the next one (or to the
            readout) with this probability while training (the recurrent spikes are kept);
            the paper's SHD code: 0.2.
        weight_init: ``"uniform"`` (``nn.Linear``'s, U(-1/sqrt(fan_in), 1/sqrt(fan_in))) or
            ``"normal"`` (the paper's code: N(0, std = 1/sqrt(fan_in))), for the input,
            recurrent and readout weights.
        surrogate: the hidden layers' spike function by name (:data:`SPIKE_FUNCTIONS
            <hetsyn_plugins.core.spikes.SPIKE_FUNCTIONS>`: ``"atan"``, ``"multi_gaussian"``);
            None: the layers' default (or a ``spike_fn`` among ``layer_options``).
        hidden_heterogeneity: the hidden layers' ``heterogeneity`` in place of the model's (the
            timescale dial: ``"input"``, or ``"branch"`` with ``branches=K`` among
            ``layer_options``); the readout and every other choice stay the model's.
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
        readout_bias: Optional[bool] = None,
        dropout: float = 0.0,
        weight_init: str = "uniform",
        surrogate: Optional[str] = None,
        hidden_heterogeneity: Optional[str] = None,
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
        check_choice("weight_init", weight_init, WEIGHT_INITS)
        if not (isinstance(dropout, (int, float)) and 0 <= dropout < 1):
            raise ValueError(f"dropout must be in [0, 1); got {dropout!r}")
        if surrogate is not None:
            check_choice("surrogate", surrogate, SPIKE_FUNCTIONS)
            if "spike_fn" in layer_options:
                raise ValueError("give surrogate or spike_fn, not both")
            layer_options["spike_fn"] = SPIKE_FUNCTIONS[surrogate]()
        self.model = model
        sizes = (in_features, *hidden)
        sharing = dict(PRESETS[model])
        if hidden_heterogeneity is not None:  # the timescale dial: another sharing, same model
            sharing["heterogeneity"] = hidden_heterogeneity
        self.hidden = nn.ModuleList(
            HetSynLIF(
                n_in,
                n_out,
                recurrent=recurrent,
                tau_syn=tau_syn,
                **{**layer_options, **sharing},
            )
            for n_in, n_out in zip(sizes[:-1], sizes[1:])
        )
        self.readout = HetSynReadout(
            hidden[-1],
            out_features,
            heterogeneity=readout_heterogeneity or READOUT_HETEROGENEITY[model],
            tau_syn=readout_tau,
            learn_decays=learn_readout_decays,
            decay_parametrization=layer_options.get("decay_parametrization", "logit"),
            bias=layer_options.get("bias", True) if readout_bias is None else readout_bias,
        )
        self.dropout = nn.Dropout(dropout) if dropout > 0 else None
        if weight_init == "normal":
            self.normal_init_()

    @torch.no_grad()
    def normal_init_(self) -> None:
        """Input, recurrent and readout weights drawn from N(0, std = 1/sqrt(fan_in)) (the
        paper's code); a recurrent layer without self-connections keeps its diagonal at 0."""
        for layer in (*self.hidden, self.readout):
            layer.weight.normal_(0.0, 1 / math.sqrt(layer.in_features))
            rec = getattr(layer, "recurrent_weight", None)
            if rec is not None:
                rec.normal_(0.0, 1 / math.sqrt(layer.out_features))
                if not layer.self_connections:
                    rec.fill_diagonal_(0.0)

    def forward(self, x: Tensor) -> NetworkOutput:
        spikes = []
        for layer in self.hidden:
            if spikes and self.dropout is not None:
                x = self.dropout(x)
            x = layer(x)
            spikes.append(x)
        if self.dropout is not None:
            x = self.dropout(x)
        return NetworkOutput(self.readout(x), tuple(spikes))
