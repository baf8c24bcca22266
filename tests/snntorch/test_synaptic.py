"""``snn.Synaptic`` as a special case of the membrane leak: ``HetSynLeaky(alpha=..., beta=...,
call_convention="synaptic")`` equals ``nn.Linear`` + ``snn.Synaptic`` (spikes, ``syn`` and
``mem`` bit for bit with per-layer or per-neuron decays; same spikes with a decay per synapse,
per input or per branch), and ``convert`` turns snnTorch's own ``Synaptic`` example network
(its class docstring, run from the installed source) into HetSyn layers."""

from __future__ import annotations

import inspect
import re
import textwrap

import pytest
import snntorch as snn
import torch
from torch import nn

from hetsyn_plugins import convert
from hetsyn_plugins.adapters.snntorch import HetSynLeaky

T, B, N_IN, N_OUT = 60, 4, 12, 7


def _pair(alpha, beta, seed=0, **synaptic):
    torch.manual_seed(seed)
    fc = nn.Linear(N_IN, N_OUT)
    with torch.no_grad():
        fc.weight.mul_(3.0)
    return fc, snn.Synaptic(alpha=alpha, beta=beta, **synaptic)


def _run_host(fc, neuron, x):
    syn, mem = neuron.init_synaptic()
    out = []
    for x_t in x:
        spk, syn, mem = neuron(fc(x_t), syn, mem)
        out.append((spk, syn, mem))
    return [torch.stack(t) for t in zip(*out)]


def _run_face(layer, x):
    syn, mem = layer.init_synaptic()
    out = []
    for x_t in x:
        spk, syn, mem = layer(x_t, syn, mem)
        out.append((spk, syn, mem))
    return [torch.stack(t) for t in zip(*out)]


DECAYS = [
    ("scalar", lambda g: (float(torch.rand(1, generator=g) * 0.5 + 0.45),
                          float(torch.rand(1, generator=g) * 0.5 + 0.45))),
    ("per neuron", lambda g: (torch.rand(N_OUT, generator=g) * 0.5 + 0.45,
                              torch.rand(N_OUT, generator=g) * 0.5 + 0.45)),
]  # fmt: skip


@pytest.mark.parametrize("decays", DECAYS, ids=lambda d: d[0])
@pytest.mark.parametrize("reset", ["subtract", "none"])
@pytest.mark.parametrize("seed", [0, 1])
def test_from_synaptic_is_bit_for_bit(decays, reset, seed):
    g = torch.Generator().manual_seed(seed)
    alpha, beta = decays[1](g)
    threshold = float(torch.rand(1, generator=g) * 0.8 + 0.4)
    fc, neuron = _pair(alpha, beta, seed, threshold=threshold, reset_mechanism=reset)
    layer = HetSynLeaky.from_synaptic(fc, neuron, sequence=False)
    x = (torch.rand(T, B, N_IN, generator=g) < 0.3).float()
    host, face = _run_host(fc, neuron, x), _run_face(layer, x)
    assert 0 < host[0].sum() < host[0].numel()
    for a, b in zip(host, face):
        assert torch.equal(a, b)


@pytest.mark.parametrize("heterogeneity, extra", [("synapse", {}), ("input", {}),
                                                  ("branch", {"branches": 3})])  # fmt: skip
def test_finer_heterogeneities_start_at_the_same_dynamics(heterogeneity, extra):
    fc, neuron = _pair(0.85, 0.75, threshold=0.8)
    layer = HetSynLeaky.from_synaptic(fc, neuron, heterogeneity, sequence=False, **extra)
    assert layer.layer.heterogeneity == heterogeneity
    x = (torch.rand(T, B, N_IN, generator=torch.Generator().manual_seed(3)) < 0.3).float()
    host, face = _run_host(fc, neuron, x), _run_face(layer, x)
    assert 0 < host[0].sum() < host[0].numel()
    assert torch.equal(host[0], face[0])
    torch.testing.assert_close(face[2], host[2], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(face[1], host[1], rtol=1e-5, atol=1e-5)


def test_learnable_decays_follow_the_host():
    fc = nn.Linear(N_IN, N_OUT)
    neuron = snn.Synaptic(alpha=0.9, beta=0.8, learn_alpha=True, learn_beta=False)
    layer = HetSynLeaky.from_synaptic(fc, neuron)
    assert layer.layer.decays["membrane"].learnable and not layer.layer.decays["leak"].learnable
    neuron = snn.Synaptic(alpha=0.9, beta=0.8, learn_beta=True)
    layer = HetSynLeaky.from_synaptic(fc, neuron)
    assert layer.layer.decays["leak"].learnable and not layer.layer.decays["membrane"].learnable


def test_synaptic_state_arguments():
    fc, neuron = _pair(0.9, 0.8, threshold=0.5)
    layer = HetSynLeaky.from_synaptic(fc, neuron, sequence=False)
    x = (torch.rand(5, B, N_IN, generator=torch.Generator().manual_seed(4)) < 0.4).float()
    # a (syn, mem) of the host's own sets the state (shared layouts, where it is all of it)
    syn0, mem0 = torch.rand(B, N_OUT), torch.rand(B, N_OUT)
    _, s1, m1 = neuron(fc(x[0]), syn0.clone(), mem0.clone())
    _, s2, m2 = layer(x[0], syn0.clone(), mem0.clone())
    assert torch.equal(s1, s2) and torch.equal(m1, m2)
    per_synapse = HetSynLeaky.from_synaptic(fc, neuron, "synapse", sequence=False)
    with pytest.raises(ValueError, match="syn and mem can set the full state only"):
        per_synapse(x[0], syn0, mem0)
    with pytest.raises(TypeError, match="takes at most 2 state arguments"):
        layer(x[0], syn0, mem0, mem0)
    with pytest.raises(ValueError, match="one step per call"):
        HetSynLeaky(N_IN, N_OUT, alpha=0.9, beta=0.8, call_convention="synaptic")(x)
    with pytest.raises(ValueError, match="needs alpha"):
        HetSynLeaky(N_IN, N_OUT, beta=0.8, call_convention="synaptic")


def _docstring_network():
    """snnTorch's own example network for ``snn.Synaptic`` (its class docstring)."""
    doc = inspect.getdoc(snn.Synaptic)
    code = textwrap.dedent(re.search(r"Example::\n(.*?)\n\s*:param", doc, re.S).group(1))
    namespace: dict = {}
    exec(code, namespace)
    return namespace["Net"]


@pytest.mark.parametrize("heterogeneity", ["none", "synapse", "input"])
def test_convert_snntorchs_synaptic_example(heterogeneity):
    Net = _docstring_network()
    torch.manual_seed(5)
    net = Net(16, 20, 4)
    with torch.no_grad():
        net.fc1.weight.mul_(4.0)
        net.fc2.weight.mul_(4.0)
    new, report = convert(net, heterogeneity=heterogeneity, return_report=True)
    assert {e.modules for e in report.converted} == {"fc1 + lif1", "fc2 + lif2"}
    assert isinstance(new.lif1, HetSynLeaky) and isinstance(new.lif2, HetSynLeaky)
    x = (torch.rand(50, 3, 16, generator=torch.Generator().manual_seed(6)) < 0.3).float()

    def run(model):
        syn1, mem1 = model.lif1.init_synaptic()
        syn2, mem2 = model.lif2.init_synaptic()
        spk1 = None
        spikes, mems = [], []
        for x_t in x:
            syn1, mem1, spk1, syn2, mem2, spk2 = model(x_t, syn1, mem1, spk1, syn2, mem2)
            spikes.append(spk2)
            mems.append(mem2)
        return torch.stack(spikes), torch.stack(mems)

    (s_host, m_host), (s_new, m_new) = run(net), run(new)
    assert 0 < s_host.sum() < s_host.numel()
    assert torch.equal(s_host, s_new)
    if heterogeneity == "none":
        assert torch.equal(m_host, m_new)
    else:
        torch.testing.assert_close(m_new, m_host, rtol=1e-5, atol=1e-5)


def test_convert_refuses_a_synaptic_reset_to_zero():
    net = nn.Sequential(nn.Linear(4, 3), snn.Synaptic(alpha=0.5, beta=0.9, init_hidden=True,
                                                      reset_mechanism="zero"))  # fmt: skip
    _, report = convert(net, return_report=True)
    assert len(report.refused) == 1 and "zeroes the new input" in report.refused[0].detail


def test_convert_synaptic_with_init_hidden():
    torch.manual_seed(7)
    net = nn.Sequential(nn.Linear(N_IN, N_OUT), snn.Synaptic(alpha=0.8, beta=0.9, threshold=0.4,
                                                             init_hidden=True))  # fmt: skip
    new = convert(net, heterogeneity="none")
    x = (torch.rand(30, B, N_IN, generator=torch.Generator().manual_seed(8)) < 0.4).float()
    out = []
    for model in (net, new):
        model[1].reset_mem()
        out.append(torch.stack([model(x_t) for x_t in x]))
    assert 0 < out[0].sum() < out[0].numel()
    assert torch.equal(out[0], out[1])


def test_finer_decays_than_the_hosts_are_learnable():
    """from_leaky's rule: decays the Synaptic did not have learn; its own keep its choice."""
    fc = nn.Linear(N_IN, N_OUT)
    layer = HetSynLeaky.from_synaptic(fc, snn.Synaptic(alpha=0.9, beta=0.8), "synapse")
    assert layer.layer.decays["syn"].learnable and not layer.layer.decays["leak"].learnable
    frozen = HetSynLeaky.from_synaptic(fc, snn.Synaptic(alpha=0.9, beta=0.8), "synapse",
                                       learn_alpha=False)  # fmt: skip
    assert not frozen.layer.decays["syn"].learnable
    net = nn.Sequential(nn.Linear(N_IN, N_OUT), snn.Synaptic(alpha=0.9, beta=0.8,
                                                             init_hidden=True))  # fmt: skip
    kept = convert(net, heterogeneity="synapse", learn_decays=False)
    assert not kept[1].layer.decays["syn"].learnable  # convert: each as the host had it
