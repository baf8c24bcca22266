"""Make the decays of a converted core layer learnable (or keep them as the host had them),
and jitter its synaptic ones."""

from __future__ import annotations

import torch

from ..core.layers import HetSynLIF
from ..core.timescales import DecayParameter

# The decays that are the synapses' own: per synapse ("synapse", feedforward and recurrent)
# or the neuron's ("neuron").
_SYNAPTIC = ("syn", "rec", "membrane")
_EPS = 1e-6


@torch.no_grad()
def retune(
    layer: HetSynLIF,
    *,
    learnable: bool | None,
    parametrization: str,
    tau_jitter: float,
    generator: torch.Generator | None,
) -> None:
    """Rebuild the decays of ``layer`` as ``learnable`` (None: each as it is; learnable ones
    with ``parametrization``); multiply
    each synaptic time constant ``tau = -1 / ln r`` by ``exp(tau_jitter * N(0, 1))``
    (``r -> r ** exp(-tau_jitter * N(0, 1))``, kept within [1e-6, 1 - 1e-6]). Decays already
    as asked and not jittered are left untouched (exact)."""
    for key, old in list(layer.decays.items()):
        jitter = tau_jitter if key in _SYNAPTIC else 0.0
        learn = old.learnable if learnable is None else learnable
        same = old.learnable == learn and (not learn or old.parametrization == parametrization)
        if same and not jitter:
            continue
        value = old().detach()
        if jitter:
            noise = torch.randn(value.shape, generator=generator, dtype=torch.float64)
            value = value.double() ** torch.exp(-jitter * noise).to(value.device)
            value = value.clamp(_EPS, 1.0 - _EPS)  # stays in (0, 1) after rounding to float32
        layer.decays[key] = DecayParameter(
            value,
            learnable=learn,
            parametrization=parametrization,
            dtype=old().dtype,
            device=old().device,
        )
