"""The update rule against the equations of DESIGN.md section 1, written out by hand here."""

from __future__ import annotations

import pytest
import torch

from hetsyn_plugins.core import HetSynLIF, HetSynReadout
from hetsyn_plugins.core.timescales import Decay, Uniform

from ..conftest import bernoulli

B, N_IN, N_OUT, T = 3, 5, 4, 30


def hand_written(layer: HetSynLIF, x: torch.Tensor):
    """Loop over explicit per-synapse states with scalar-level clarity (no vectorised sums)."""
    W = layer.weight.detach()
    r = layer.syn_decay.detach()
    kappa = layer.reset_decay.detach()
    theta = layer.threshold.detach().expand(N_OUT)
    b = None if layer.bias is None else layer.bias.detach()
    rb = None if layer.bias is None else layer.bias_decay.detach()
    U = None if not layer.recurrent else layer.recurrent_weight.detach()
    q = None if not layer.recurrent else layer.recurrent_decay.detach()
    reset, timing = layer.config.reset, layer.config.reset_timing
    theta_R = theta if layer.reset_amount is None else layer.reset_amount.expand(N_OUT)
    I = torch.zeros(B, N_OUT, N_IN, dtype=x.dtype)
    Q = torch.zeros(B, N_OUT, N_OUT, dtype=x.dtype)
    Bc = torch.zeros(B, N_OUT, dtype=x.dtype)
    J = torch.zeros(B, N_OUT, dtype=x.dtype)
    A = torch.zeros(B, N_OUT, dtype=x.dtype)
    z_prev = torch.zeros(B, N_OUT, dtype=x.dtype)
    v_prev = torch.zeros(B, N_OUT, dtype=x.dtype)
    zs, vs = [], []
    for t in range(x.shape[0]):
        V = torch.zeros(B, N_OUT, dtype=x.dtype)
        for n in range(B):
            for j in range(N_OUT):
                for i in range(N_IN):
                    I[n, j, i] = r[j, i] * I[n, j, i] + W[j, i] * x[t, n, i]
                    V[n, j] += I[n, j, i]
                if U is not None:
                    for k in range(N_OUT):
                        Q[n, j, k] = q[j, k] * Q[n, j, k] + U[j, k] * z_prev[n, k]
                        V[n, j] += Q[n, j, k]
                if b is not None:
                    Bc[n, j] = rb[j] * Bc[n, j] + b[j]
                    V[n, j] += Bc[n, j]
                if reset == "subtract":
                    R = theta_R[j] * z_prev[n, j]
                elif reset == "zero":
                    R = v_prev[n, j] * z_prev[n, j]
                else:
                    R = 0.0
                if timing == "next_step":
                    J[n, j] = kappa[j] * J[n, j] + R
                else:
                    J[n, j] = kappa[j] * (J[n, j] + R)
                V[n, j] -= J[n, j]
                if layer.adaptation:
                    A[n, j] = (
                        layer.adapt_decay[j].detach() * A[n, j]
                        + layer.adapt_strength.expand(N_OUT)[j] * z_prev[n, j]
                    )
                    V[n, j] -= A[n, j]
        z = (V - theta > 0).to(x.dtype)
        zs.append(z)
        vs.append(V.clone())
        z_prev, v_prev = z, V.clone()
    return torch.stack(zs), torch.stack(vs)


CASES = [
    dict(),
    dict(reset="zero"),
    dict(reset="none"),
    dict(reset_timing="at_spike"),
    dict(reset_amount=0.4),
    dict(recurrent=True),
    dict(bias=False),
    dict(adaptation=True, tau_adapt=30.0),
    dict(recurrent=True, adaptation=True, reset="zero", tau_bias=7.0),
]


@pytest.mark.parametrize(
    "options", CASES, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "default"
)
def test_rule_matches_hand_written_equations(options):
    layer = HetSynLIF(
        N_IN,
        N_OUT,
        tau_syn=Uniform(2.0, 30.0),
        tau_reset=Uniform(2.0, 30.0),
        threshold=torch.rand(N_OUT, dtype=torch.float64) + 0.2,
        dtype=torch.float64,
        **options,
    )
    with torch.no_grad():
        layer.weight.mul_(3.0)  # enough drive for frequent spikes and resets
    x = bernoulli((T, B, N_IN), p=0.4)
    z_ref, v_ref = hand_written(layer, x)
    out = layer.run(x)
    assert z_ref.sum() > 0, "the case must actually spike"
    torch.testing.assert_close(out.membrane, v_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(out.spikes, z_ref, rtol=0, atol=0)


def test_readout_matches_hand_written_equations():
    layer = HetSynReadout(
        N_IN, N_OUT, tau_syn=Uniform(2.0, 30.0), tau_bias=5.0, dtype=torch.float64
    )
    x = bernoulli((T, B, N_IN), p=0.4)
    r, W = layer.syn_decay.detach(), layer.weight.detach()
    rb, b = layer.bias_decay.detach(), layer.bias.detach()
    I = torch.zeros(B, N_OUT, N_IN, dtype=x.dtype)
    Bc = torch.zeros(B, N_OUT, dtype=x.dtype)
    ys = []
    for t in range(T):
        I = r * I + W * x[t][:, None, :]
        Bc = rb * Bc + b
        ys.append(I.sum(-1) + Bc)
    torch.testing.assert_close(layer(x), torch.stack(ys), rtol=1e-12, atol=1e-12)


def test_detach_reset_stops_gradient_through_reset_only():
    x = bernoulli((T, B, N_IN), p=0.5)
    grads = {}
    for detach in (False, True):
        torch.manual_seed(0)
        layer = HetSynLIF(N_IN, N_OUT, detach_reset=detach, dtype=torch.float64, tau_syn=Decay(0.8))
        with torch.no_grad():
            layer.weight.mul_(3.0)
        out = layer.run(x)
        out.membrane.sum().backward()
        grads[detach] = layer.weight.grad.clone()
        assert out.spikes.sum() > 0
    # forward identical, gradients differ because the reset path carries gradient or not
    assert not torch.allclose(grads[False], grads[True])


def test_reset_zero_sets_membrane_to_zero_at_spike():
    """With reset='zero' and a decay r everywhere, after a spike the next membrane is exactly
    the new input current (the old membrane was removed at the spike)."""
    layer = HetSynLIF(
        2,
        1,
        heterogeneity="synapse",
        tau_syn=Decay(0.5),
        tau_reset=Decay(0.5),
        reset="zero",
        bias=False,
        learn_decays=False,
        dtype=torch.float64,
    )
    with torch.no_grad():
        layer.weight.fill_(0.7)
    x = torch.ones(6, 1, 2, dtype=torch.float64)
    out = layer.run(x)
    v = out.membrane[:, 0, 0]
    z = out.spikes[:, 0, 0]
    # V^1 = 1.4 > 1 spikes; V^2 = 0.5 * (V^1 - V^1) + 1.4 = 1.4 ...
    assert z[0] == 1
    for t in range(1, 6):
        expected = 0.5 * v[t - 1] * (1 - z[t - 1]) + 1.4
        torch.testing.assert_close(v[t], expected)


def test_reset_zero_refuses_next_step_timing():
    with pytest.raises(ValueError, match="reset_timing"):
        HetSynLIF(3, 2, reset="zero", reset_timing="next_step")
