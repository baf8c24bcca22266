"""Gradients of the reference path by ``torch.autograd.gradcheck`` in float64.

The spike is replaced by a smooth function (the spike function is a parameter of the rule),
so numerical and analytical derivatives must agree for every input and parameter: input,
weights, decays (through their parametrization), bias, threshold, recurrent and adaptation
parameters.
"""

from __future__ import annotations

import pytest
import torch
from torch.func import functional_call

from hetsyn_plugins.core import HetSynLIF, HetSynReadout
from hetsyn_plugins.core.timescales import Uniform

from ..conftest import smooth_spike

B, N_IN, N_OUT, T = 2, 3, 2, 6


class _Outputs(torch.nn.Module):
    """Wraps a layer so that ``functional_call`` returns the chosen fields of ``run``."""

    def __init__(self, layer, outputs):
        super().__init__()
        self.layer, self.outputs = layer, outputs

    def forward(self, x):
        result = self.layer.run(x)
        return tuple(getattr(result, o) for o in self.outputs)


def _gradcheck_layer(layer: torch.nn.Module, outputs):
    wrapper = _Outputs(layer, outputs)
    names = [n for n, _ in wrapper.named_parameters()]
    params = [p.detach().clone().requires_grad_(True) for p in wrapper.parameters()]
    x = torch.rand(T, B, N_IN, dtype=torch.float64, requires_grad=True)

    def fn(x, *ps):
        return functional_call(wrapper, dict(zip(names, ps)), (x,))

    assert torch.autograd.gradcheck(fn, (x, *params), eps=1e-6, atol=1e-7, rtol=1e-5)
    return [n.removeprefix("layer.") for n in names]


SPIKING = [
    dict(),
    dict(recurrent=True),
    dict(adaptation=True, tau_adapt=Uniform(5.0, 20.0)),
    dict(reset="zero"),
    dict(reset_timing="at_spike", tau_bias=4.0),
    dict(decay_parametrization="clamp", recurrent=True),
    dict(heterogeneity="neuron", recurrent=True),
    dict(heterogeneity="none", adaptation=True),
    dict(heterogeneity="neuron", reset="zero"),
]


@pytest.mark.parametrize(
    "options", SPIKING, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "default"
)
def test_gradcheck_spiking_reference(options):
    layer = HetSynLIF(
        N_IN,
        N_OUT,
        tau_syn=Uniform(2.0, 10.0),
        learn_threshold=True,
        spike_fn=smooth_spike,
        kernel="reference",
        dtype=torch.float64,
        **options,
    )
    names = _gradcheck_layer(layer, ("spikes", "membrane"))
    # every kind of parameter took part
    assert "weight" in names and "bias" in names and "threshold" in names
    assert any(n.startswith("decays.") for n in names)


@pytest.mark.parametrize("heterogeneity", ["synapse", "neuron", "none"])
def test_gradcheck_readout_reference(heterogeneity):
    layer = HetSynReadout(
        N_IN,
        N_OUT,
        heterogeneity=heterogeneity,
        tau_syn=Uniform(2.0, 10.0) if heterogeneity != "none" else 5.0,
        kernel="reference",
        dtype=torch.float64,
    )
    names = _gradcheck_layer(layer, ("spikes",))
    assert any(n.startswith("decays.") for n in names)


def test_surrogate_gradient_flows_through_default_spike():
    layer = HetSynLIF(N_IN, N_OUT, dtype=torch.float64)
    x = torch.rand(T, B, N_IN, dtype=torch.float64, requires_grad=True)
    layer(x).sum().backward()
    assert x.grad.abs().sum() > 0
    assert layer.decays["syn"].raw.grad.abs().sum() > 0
