"""snnTorch's option names translated into the core's :class:`~hetsyn_plugins.core.spec.
HetSynSpec` (pure functions, unit-tested).

``snn.HetSynLeaky`` and ``snn.HetSynLI`` take snnTorch's own arguments (``beta``,
``threshold``, ``spike_grad``, ``learn_beta``, ``reset_mechanism``, ``reset_delay`` ...) and
every other option of the core layer under the spec's own name; these functions make the spec
keywords of both. What a face cannot take is listed with the reason (:data:`LEAKY_EXCLUDED`,
:data:`LI_EXCLUDED`), and a spec name that snnTorch spells otherwise is refused with the name
to use (:data:`LEAKY_NAMES`).
"""

from __future__ import annotations

from typing import Optional

import torch

from ...core.spec import SPIKING_ONLY
from ...core.timescales import Decay, TimescaleSpec
from ..pairing import refuse_spec_names

# spec field -> snnTorch's argument for it
LEAKY_NAMES = {
    "learn_decays": "learn_beta",
    "reset": "reset_mechanism",
    "reset_timing": "reset_delay",
    "spike_fn": "spike_grad",
}
LI_NAMES = {"learn_decays": "learn_beta"}
# spec field -> why the face does not take it
LEAKY_EXCLUDED = {
    "readout": "snn.HetSynLeaky is the spiking layer; snn.HetSynLI is the readout",
    "stateful": "the face keeps its state as snnTorch neurons do (mem, reset_mem, init_hidden)",
}
LI_EXCLUDED = {
    "readout": "snn.HetSynLI is the readout; snn.HetSynLeaky is the spiking layer",
    "stateful": LEAKY_EXCLUDED["stateful"],
    **{name: "a leaky integrator has no spike, reset, recurrence or adaptation"
       for name in SPIKING_ONLY},
}  # fmt: skip


def decays(beta, tau_syn) -> TimescaleSpec:
    """The core ``tau_syn`` from snnTorch's ``beta`` (decays, kept exact) or ``tau_syn``."""
    if (beta is None) == (tau_syn is None):
        raise ValueError(
            "give exactly one of beta (decay factors in (0, 1)) and tau_syn (time constants "
            f"or an initializer); got beta={beta!r}, tau_syn={tau_syn!r}"
        )
    if beta is None:
        return tau_syn
    return Decay(beta, name="beta")


def per_neuron_beta(beta, out: int, heterogeneity: str, defaults: dict) -> tuple:
    """snnTorch's per-neuron ``beta`` of shape (out,) in a per-synapse layer: the decay of each
    neuron's synapses, (out, 1) (not one per input, which (out,) would broadcast to), and the
    default of the other pathways' decays (``defaults``: name -> given value or None; the
    missing ones become that beta, shaped for their pathway). Returns ``(beta, defaults)``."""
    if heterogeneity != "synapse" or beta is None or isinstance(beta, (int, float)):
        return beta, defaults
    b = torch.as_tensor(beta)
    if b.dim() != 1 or b.numel() != out:
        return beta, defaults
    shapes = {"tau_reset": (out,), "tau_rec": (out, 1), "tau_bias": (out,)}
    filled = {
        k: Decay(b.reshape(shapes[k]), name="beta") if v is None and k in shapes else v
        for k, v in defaults.items()
    }
    return b.reshape(out, 1), filled


def leaky_options(
    out_features: int,
    *,
    beta,
    threshold,
    spike_fn,
    learn_beta: bool,
    learn_threshold: bool,
    reset_mechanism: str,
    reset_delay: bool,
    detach_reset: Optional[bool],
    options: dict,
    alpha=None,
    learn_alpha: bool = False,
) -> dict:
    """The :class:`~hetsyn_plugins.core.spec.HetSynSpec` keywords of an ``snn.HetSynLeaky``:
    snnTorch's arguments translated, ``options`` (the spec's own names) passed on.

    With ``alpha`` (``snn.Synaptic``'s), ``alpha`` is the synaptic decay (``tau_syn``, and by
    default the bias and recurrent decays) and ``beta`` the membrane's leak
    (``membrane_decay``), learnable by ``learn_alpha`` and ``learn_beta``; without it ``beta``
    is the synaptic decay (``snn.Leaky``'s membrane is the summed current).

    ``reset_delay`` gives the core's ``reset_timing`` for ``"subtract"`` (``True``: the reset
    enters at the next step; ``False``: at the spike) and the default ``detach_reset`` (snnTorch
    detaches its delayed reset, not its immediate one); a 1-D ``beta`` of shape (out,) is per
    neuron also in a per-synapse layer (see :func:`per_neuron_beta`).
    """
    refuse_spec_names(options, LEAKY_NAMES, LEAKY_EXCLUDED, "snn.HetSynLeaky", "snnTorch")
    options = dict(options)
    heterogeneity = options.get("heterogeneity", "synapse")
    tau_syn = options.pop("tau_syn", None)
    learn = learn_beta
    if alpha is not None:  # snn.Synaptic: alpha the synapses', beta the membrane's decay
        if "membrane_decay" in options:
            raise ValueError("give beta (snnTorch's membrane decay) or membrane_decay, not both")
        options["membrane_decay"] = Decay(beta, name="beta") if beta is not None else None
        options["learn_membrane_decay"] = learn_beta
        beta, learn = alpha, learn_alpha
        defaults = {"tau_bias": options.get("tau_bias"), "tau_rec": options.get("tau_rec")}
    else:
        defaults = {"tau_reset": options.get("tau_reset"), "tau_rec": options.get("tau_rec")}
    beta, other = per_neuron_beta(beta, out_features, heterogeneity, defaults)
    for name in defaults:
        if name != "tau_rec" or options.get("recurrent", False):
            if name != "tau_bias" or options.get("bias", True):
                options[name] = other[name]
    timing = None
    if reset_mechanism == "subtract":
        timing = "next_step" if reset_delay else "at_spike"
    return {
        **options,
        "tau_syn": decays(beta, tau_syn),
        "threshold": threshold,
        "learn_threshold": learn_threshold,
        "reset": reset_mechanism,
        "reset_timing": timing,
        "detach_reset": reset_delay if detach_reset is None else detach_reset,
        "learn_decays": learn,
        "spike_fn": spike_fn,
    }


def li_options(out_features: int, *, beta, learn_beta: bool, options: dict) -> dict:
    """The :class:`~hetsyn_plugins.core.spec.HetSynSpec` keywords of an ``snn.HetSynLI``."""
    refuse_spec_names(options, LI_NAMES, LI_EXCLUDED, "snn.HetSynLI", "snnTorch")
    options = dict(options)
    tau_syn = options.pop("tau_syn", None)
    heterogeneity = options.get("heterogeneity", "synapse")
    beta, other = per_neuron_beta(
        beta, out_features, heterogeneity, {"tau_bias": options.get("tau_bias")}
    )
    if options.get("bias", True):  # no bias: no bias decay to set
        options["tau_bias"] = other["tau_bias"]
    return {**options, "tau_syn": decays(beta, tau_syn), "learn_decays": learn_beta}
