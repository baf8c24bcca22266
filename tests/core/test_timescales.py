"""Time constants <-> decays, initializers and the parametrizations of learnable decays."""

from __future__ import annotations

import math

import pytest
import torch

from hetsyn_plugins.core import HetSynLIF
from hetsyn_plugins.core.timescales import (
    Constant,
    Decay,
    DecayParameter,
    LogNormal,
    Normal,
    Uniform,
    clamp_decays_after_step,
    decay_to_tau,
    tau_to_decay,
)


def test_tau_decay_round_trip():
    tau = torch.tensor([0.5, 1.0, 20.0, 1000.0], dtype=torch.float64)
    r = tau_to_decay(tau, dt=1.0)
    torch.testing.assert_close(r, torch.exp(-1 / tau))
    torch.testing.assert_close(decay_to_tau(r), tau)
    torch.testing.assert_close(
        tau_to_decay(20.0, dt=5.0), torch.tensor(math.exp(-0.25), dtype=torch.float64)
    )


def test_dt_scales_the_decay():
    a = HetSynLIF(3, 2, tau_syn=20.0, dt=1.0)
    b = HetSynLIF(3, 2, tau_syn=20.0, dt=5.0)
    torch.testing.assert_close(b.syn_decay, a.syn_decay**5)
    torch.testing.assert_close(b.tau_syn, torch.full((2, 3), 20.0))


@pytest.mark.parametrize(
    "init, mean, std",
    [
        (Normal(20.0, 5.0), 20.0, 5.0),
        (Uniform(5.0, 20.0), 12.5, 15 / math.sqrt(12)),
        (LogNormal(40.0, 4.0), 40.0, 4.0),
        (Constant(7.0), 7.0, 0.0),
    ],
    ids=["normal", "uniform", "lognormal", "constant"],
)
def test_initializers_have_the_stated_moments(init, mean, std):
    tau = init.sample_tau((200, 200))
    assert tau.shape == (200, 200)
    assert (tau > 0).all()
    assert abs(tau.mean().item() - mean) < 0.02 * mean
    assert abs(tau.std().item() - std) < 0.05 * max(std, 1e-3) + 1e-9


def test_uniform_and_normal_stay_in_their_bounds():
    assert Uniform(5.0, 20.0).sample_tau((10_000,)).min() >= 5.0
    assert Uniform(5.0, 20.0).sample_tau((10_000,)).max() <= 20.0
    assert Normal(2.0, 5.0).sample_tau((10_000,)).min() >= 0.02  # truncated at mean / 100


def test_decay_initializer_keeps_values_exactly():
    r = torch.rand(3, 4) * 0.9 + 0.05
    layer = HetSynLIF(4, 3, tau_syn=Decay(r), tau_reset=5.0, learn_decays=False)
    assert torch.equal(layer.syn_decay, r)
    layer = HetSynLIF(4, 3, tau_syn=Decay(r), tau_reset=5.0, decay_parametrization="clamp")
    assert torch.equal(layer.syn_decay.detach(), r)


def test_logit_parametrization_stays_in_unit_interval_under_any_update():
    p = DecayParameter(torch.tensor([0.5, 0.9]), learnable=True, parametrization="logit")
    with torch.no_grad():
        p.raw.copy_(torch.tensor([-1e3, 1e3]))
    r = p()
    assert (r >= 0).all() and (r <= 1).all()
    torch.testing.assert_close(
        DecayParameter(torch.tensor([0.3]), learnable=True)(), torch.tensor([0.3])
    )


def test_clamp_parametrization_is_clamped_after_each_optimizer_step():
    layer = HetSynLIF(4, 3, decay_parametrization="clamp", tau_syn=Decay(0.999))
    opt = torch.optim.SGD(layer.parameters(), lr=10.0)
    handle = clamp_decays_after_step(opt, layer, eps=1e-3)
    x = torch.ones(5, 2, 4)
    layer(x).sum().backward()
    layer.decays["syn"].raw.grad.fill_(-1.0)  # push every decay above 1
    opt.step()
    assert layer.syn_decay.max().item() == pytest.approx(1 - 1e-3)
    handle.remove()
    layer.decays["syn"].raw.grad.fill_(-1.0)
    opt.step()
    assert layer.syn_decay.max().item() > 1  # without the hook nothing clamps


def test_fixed_decays_are_buffers_not_parameters():
    layer = HetSynLIF(4, 3, learn_decays=False)
    names = {n for n, _ in layer.named_parameters()}
    assert not any(n.startswith("decays.") for n in names)
    assert "decays.syn.value" in layer.state_dict()
