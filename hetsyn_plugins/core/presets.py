"""The four neuron models of the paper as parameter-sharing presets of :class:`HetSynLIF`,
and the dendritic-heterogeneity neuron of DH-SNN (Zheng et al., Nature Communications 2024).

=============  ======================  ==============  =======================================
name           synaptic decays         reset decay     identity
=============  ======================  ==============  =======================================
HetSynLIF      ``r_ji`` per synapse    ``kappa_j``     the full model
HetNeuLIF      ``r_ji = rho_j``        ``rho_j``       ``V = rho_j V' + W x - theta z'``
HomNeuLIF      ``r_ji = rho``          ``rho``         vanilla LIF (``nn.Linear`` + ``snn.Leaky``)
HomNeuALIF     ``r_ji = rho``          ``rho``         vanilla LIF + adaptation (Bellec 2018)
DHLIF          ``r_ji = d_jk(j,i)``    leaky membrane  DH-SNN's neuron: K dendritic branches
=============  ======================  ==============  =======================================

DHLIF (``heterogeneity="branch"``): each neuron has ``branches`` K (default 4) dendritic
branches; each of its synapses belongs to one, drawn at random per neuron in K near-equal
groups (DH-SNN's connection pattern; the recurrent synapses of a recurrent layer are shared
out with the inputs); each (neuron, branch) has a learnable decay, drawn as
``sigmoid(U(2, 6))``, and the membrane leaks with a learnable per-neuron
``beta = sigmoid(U(0, 4))`` (DH-SNN's initialisation), the reset held in the membrane.
Options given to :func:`preset` replace these defaults (``branch_assignment="contiguous"``,
``tau_syn``, ``membrane_decay`` ...); ``heterogeneity`` is fixed.
"""

from __future__ import annotations

from .layers import HetSynLIF
from .timescales import LogitUniform
from .validation import check_choice

PRESETS: dict[str, dict] = {
    "HetSynLIF": {"heterogeneity": "synapse"},
    "HetNeuLIF": {"heterogeneity": "neuron"},
    "HomNeuLIF": {"heterogeneity": "none"},
    "HomNeuALIF": {"heterogeneity": "none", "adaptation": True},
}
"""The paper's four models (the tasks and experiments compare these)."""
OTHER_PRESETS: dict[str, dict] = {"DHLIF": {"heterogeneity": "branch"}}
"""Models from other papers that the package's rule contains."""
# the presets' defaults that a caller may replace
DEFAULTS: dict[str, dict] = {
    "DHLIF": {
        "branches": 4,
        "branch_assignment": "random",
        "tau_syn": LogitUniform(2.0, 6.0),
        "membrane_decay": LogitUniform(0.0, 4.0),
    },
}


def preset(name: str, in_features: int, out_features: int, **kwargs) -> HetSynLIF:
    """A :class:`HetSynLIF` layer configured as the paper's model ``name``.

    ``kwargs`` go to :class:`HetSynLIF`; they may not contradict the preset's fixed options
    (they replace its defaults).
    """
    every = {**PRESETS, **OTHER_PRESETS}
    check_choice("name", name, every)
    fixed = every[name]
    for key, value in fixed.items():
        if key in kwargs and kwargs[key] != value:
            raise ValueError(f"{key} must be {value!r} for the {name} preset; got {kwargs[key]!r}")
    return HetSynLIF(in_features, out_features, **{**DEFAULTS.get(name, {}), **kwargs, **fixed})
