"""The identities of DESIGN.md section 1 (the paper's Props. 1-3), on random parameters.

- HetSynLIF is the full rule (see test_dynamics.py);
- HetNeuLIF: r_ji = kappa_j = rho_j gives V^t = rho_j V^{t-1} + sum_i w_ji x_i^t - theta z^{t-1};
- HomNeuLIF: one rho, the vanilla LIF recursion (and nn.Linear + snn.Leaky, bit for bit);
- HomNeuALIF: the vanilla LIF with an adaptation current.
"""

from __future__ import annotations

import pytest
import torch

from hetsyn_plugins.core import HetSynLIF, HetSynReadout, preset
from hetsyn_plugins.core.timescales import Decay, Uniform

from ..conftest import bernoulli

B, N_IN, N_OUT, T = 4, 7, 5, 120


def lif_recursion(x, W, b, rho, theta, U=None, adapt=None):
    """V^t = rho V^{t-1} + W x^t + U z^{t-1} + b - theta z^{t-1} - A^t (A: adaptation)."""
    V = torch.zeros(x.shape[1], W.shape[0], dtype=x.dtype)
    A = torch.zeros_like(V)
    z = torch.zeros_like(V)
    zs, vs = [], []
    for x_t in x:
        U_prev = V + A  # the non-adaptation part of the membrane
        drive = x_t @ W.T + (0 if b is None else b) + (0 if U is None else z @ U.T)
        U_t = rho * U_prev + drive - theta * z
        if adapt is not None:
            rho_a, a = adapt
            A = rho_a * A + a * z
        V = U_t - A
        z = (V - theta > 0).to(x.dtype)
        zs.append(z)
        vs.append(V)
    return torch.stack(zs), torch.stack(vs)


def _drive(layer, scale=3.0):
    with torch.no_grad():
        layer.weight.mul_(scale)
        if layer.recurrent_weight is not None:
            layer.recurrent_weight.mul_(0.5)


@pytest.mark.parametrize("recurrent", [False, True])
def test_hetneu_equals_per_neuron_lif(recurrent):
    rho = torch.rand(N_OUT, dtype=torch.float64) * 0.8 + 0.1
    theta = torch.rand(N_OUT, dtype=torch.float64) + 0.5
    layer = HetSynLIF(
        N_IN,
        N_OUT,
        heterogeneity="neuron",
        tau_syn=Decay(rho),
        threshold=theta,
        recurrent=recurrent,
        dtype=torch.float64,
    )
    _drive(layer)
    x = bernoulli((T, B, N_IN), p=0.3)
    out = layer.run(x)
    U = layer.recurrent_weight.detach() if recurrent else None
    z, v = lif_recursion(x, layer.weight.detach(), layer.bias.detach(), rho, theta, U)
    assert 0 < z.sum() < z.numel()
    torch.testing.assert_close(out.membrane, v)
    torch.testing.assert_close(out.spikes, z, rtol=0, atol=0)


@pytest.mark.parametrize("recurrent", [False, True])
@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
def test_per_synapse_layer_with_tied_decays_equals_hetneu(recurrent, reset):
    """The per-synapse layout with every decay of neuron j set to rho_j is HetNeuLIF."""
    rho = torch.rand(N_OUT, dtype=torch.float64) * 0.8 + 0.1
    common = dict(recurrent=recurrent, reset=reset, dtype=torch.float64)
    neuron = HetSynLIF(N_IN, N_OUT, heterogeneity="neuron", tau_syn=Decay(rho), **common)
    synapse = HetSynLIF(
        N_IN,
        N_OUT,
        heterogeneity="synapse",
        tau_syn=Decay(rho[:, None]),
        tau_reset=Decay(rho),
        tau_rec=Decay(rho[:, None]) if recurrent else None,
        **common,
    )
    _drive(neuron)
    synapse.load_state_dict(
        {k: v for k, v in neuron.state_dict().items() if not k.startswith("decays.")}, strict=False
    )
    x = bernoulli((T, B, N_IN), p=0.3)
    a, b = neuron.run(x), synapse.run(x)
    assert 0 < a.spikes.sum() < a.spikes.numel()
    torch.testing.assert_close(b.membrane, a.membrane)
    torch.testing.assert_close(b.spikes, a.spikes, rtol=0, atol=0)


def test_homneu_equals_vanilla_lif():
    rho = float(torch.rand(()) * 0.8 + 0.1)
    layer = preset("HomNeuLIF", N_IN, N_OUT, tau_syn=Decay(rho), dtype=torch.float64)
    _drive(layer)
    x = bernoulli((T, B, N_IN), p=0.3)
    out = layer.run(x)
    z, v = lif_recursion(x, layer.weight.detach(), layer.bias.detach(), rho, 1.0)
    assert 0 < z.sum() < z.numel()
    torch.testing.assert_close(out.membrane, v)
    torch.testing.assert_close(out.spikes, z, rtol=0, atol=0)


def test_homneu_alif_equals_lif_with_adaptation():
    rho, rho_a, a = 0.85, 0.97, 0.3
    layer = preset(
        "HomNeuALIF",
        N_IN,
        N_OUT,
        tau_syn=Decay(rho),
        tau_adapt=Decay(rho_a),
        adapt_strength=a,
        dtype=torch.float64,
    )
    _drive(layer)
    x = bernoulli((T, B, N_IN), p=0.3)
    out = layer.run(x)
    z, v = lif_recursion(x, layer.weight.detach(), layer.bias.detach(), rho, 1.0, adapt=(rho_a, a))
    no_adapt, _ = lif_recursion(x, layer.weight.detach(), layer.bias.detach(), rho, 1.0)
    assert z.sum() < no_adapt.sum(), "adaptation must lower the firing"
    torch.testing.assert_close(out.membrane, v)
    torch.testing.assert_close(out.spikes, z, rtol=0, atol=0)


def test_readout_shared_equals_leaky_integrator():
    rho = torch.rand(N_OUT, dtype=torch.float64) * 0.8 + 0.1
    shared = HetSynReadout(
        N_IN, N_OUT, heterogeneity="neuron", tau_syn=Decay(rho), dtype=torch.float64
    )
    per_syn = HetSynReadout(
        N_IN, N_OUT, tau_syn=Decay(rho[:, None]), tau_bias=Decay(rho), dtype=torch.float64
    )
    per_syn.weight.data.copy_(shared.weight.data)
    per_syn.bias.data.copy_(shared.bias.data)
    x = bernoulli((T, B, N_IN), p=0.3)
    torch.testing.assert_close(per_syn(x), shared(x))


def test_homneu_equals_linear_plus_snntorch_leaky_bit_for_bit():
    snn = pytest.importorskip("snntorch")
    beta, T_long = 0.83, 150
    fc = torch.nn.Linear(N_IN, N_OUT)
    with torch.no_grad():
        fc.weight.mul_(4.0)
    leaky = snn.Leaky(beta=beta, reset_mechanism="subtract")
    layer = preset(
        "HomNeuLIF", N_IN, N_OUT, tau_syn=Decay(beta), learn_decays=False, detach_reset=True
    )
    layer.weight.data.copy_(fc.weight.data)
    layer.bias.data.copy_(fc.bias.data)
    x = bernoulli((T_long, B, N_IN), p=0.3, dtype=torch.float32)
    mem = leaky.reset_mem()
    spk_ref, mem_ref = [], []
    for x_t in x:
        spk, mem = leaky(fc(x_t), mem)
        spk_ref.append(spk)
        mem_ref.append(mem)
    out = layer.run(x)
    assert 0 < torch.stack(spk_ref).sum() < out.spikes.numel()
    assert torch.equal(out.membrane, torch.stack(mem_ref))
    assert torch.equal(out.spikes, torch.stack(spk_ref))


def test_synapse_heterogeneity_is_not_a_per_neuron_lif():
    """Sanity check of the tests above: per-synapse decays really change the dynamics."""
    layer = HetSynLIF(N_IN, N_OUT, tau_syn=Uniform(1.0, 50.0), dtype=torch.float64)
    tied = HetSynLIF(N_IN, N_OUT, heterogeneity="neuron", tau_syn=10.0, dtype=torch.float64)
    tied.load_state_dict(
        {k: v for k, v in layer.state_dict().items() if not k.startswith("decays.")}, strict=False
    )
    x = bernoulli((T, B, N_IN), p=0.3)
    assert not torch.allclose(layer.run(x).membrane, tied.run(x).membrane)
