"""The four neuron models of the paper as parameter-sharing presets of :class:`HetSynLIF`.

=============  ======================  ==============  =======================================
name           synaptic decays         reset decay     identity
=============  ======================  ==============  =======================================
HetSynLIF      ``r_ji`` per synapse    ``kappa_j``     the full model
HetNeuLIF      ``r_ji = rho_j``        ``rho_j``       ``V = rho_j V' + W x - theta z'``
HomNeuLIF      ``r_ji = rho``          ``rho``         vanilla LIF (``nn.Linear`` + ``snn.Leaky``)
HomNeuALIF     ``r_ji = rho``          ``rho``         vanilla LIF + adaptation (Bellec 2018)
=============  ======================  ==============  =======================================
"""

from __future__ import annotations

from .layers import HetSynLIF
from .validation import check_choice

PRESETS: dict[str, dict] = {
    "HetSynLIF": {"heterogeneity": "synapse"},
    "HetNeuLIF": {"heterogeneity": "neuron"},
    "HomNeuLIF": {"heterogeneity": "none"},
    "HomNeuALIF": {"heterogeneity": "none", "adaptation": True},
}


def preset(name: str, in_features: int, out_features: int, **kwargs) -> HetSynLIF:
    """A :class:`HetSynLIF` layer configured as the paper's model ``name``.

    ``kwargs`` go to :class:`HetSynLIF`; they may not contradict the preset.
    """
    check_choice("name", name, PRESETS)
    fixed = PRESETS[name]
    for key, value in fixed.items():
        if key in kwargs and kwargs[key] != value:
            raise ValueError(f"{key} must be {value!r} for the {name} preset; got {kwargs[key]!r}")
    return HetSynLIF(in_features, out_features, **{**kwargs, **fixed})
