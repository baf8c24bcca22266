"""The layer API: single step vs multi step, state handling, views, moves, state_dict."""

from __future__ import annotations

import copy

import pytest
import torch

from hetsyn_plugins.core import (
    HetSynLIF,
    HetSynReadout,
    PRESETS,
    detach_states,
    preset,
    reset_states,
)
from hetsyn_plugins.core.timescales import Decay, Normal, Uniform

from ..conftest import bernoulli

B, N_IN, N_OUT, T = 3, 6, 4, 25

VARIANTS = [
    dict(),
    dict(recurrent=True),
    dict(recurrent=True, adaptation=True, reset="zero"),
    dict(heterogeneity="neuron", recurrent=True),
    dict(heterogeneity="none", adaptation=True),
]


def _make(options, **kw):
    layer = HetSynLIF(
        N_IN,
        N_OUT,
        tau_syn=Normal(10.0, 3.0) if options.get("heterogeneity", "synapse") != "none" else 10.0,
        dtype=torch.float64,
        **options,
        **kw,
    )
    with torch.no_grad():
        layer.weight.abs_().mul_(2.0)  # excitatory drive: every variant spikes and resets
    return layer


@pytest.mark.parametrize("options", VARIANTS, ids=str)
def test_single_step_loop_equals_multi_step(options):
    layer = _make(options)
    x = bernoulli((T, B, N_IN))
    seq = layer.run(x)
    state, zs, vs = None, [], []
    for x_t in x:
        z, v, state = layer.step(x_t, state)
        zs.append(z)
        vs.append(v)
    assert seq.spikes.sum() > 0
    # the multi-step call may take a time-parallel path: equal up to float64 rounding
    torch.testing.assert_close(torch.stack(vs), seq.membrane, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(torch.stack(zs), seq.spikes, rtol=0, atol=0)
    for a, b in zip(state.tensors(), seq.state.tensors()):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_readout_step_loop_equals_multi_step():
    layer = HetSynReadout(N_IN, N_OUT, dtype=torch.float64)
    x = bernoulli((T, B, N_IN))
    state, ys = None, []
    for x_t in x:
        y, _, state = layer.step(x_t, state)
        ys.append(y)
    torch.testing.assert_close(torch.stack(ys), layer(x), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("options", VARIANTS, ids=str)
def test_split_sequence_with_explicit_state_equals_whole(options):
    layer = _make(options)
    x = bernoulli((T, B, N_IN))
    whole = layer.run(x)
    first = layer.run(x[:10])
    second = layer.run(x[10:], first.state)
    torch.testing.assert_close(torch.cat([first.membrane, second.membrane]), whole.membrane)


def test_stateful_layer_carries_state_until_reset():
    layer = _make({}, stateful=True)
    x = bernoulli((T, B, N_IN))
    whole = HetSynLIF.run(copy.deepcopy(layer).requires_grad_(False), x)
    a = layer(x[:10])
    b = layer(x[10:])
    torch.testing.assert_close(torch.cat([a, b]), whole.spikes)
    assert layer.state is not None
    layer.detach_state()
    assert not layer.state.syn.requires_grad
    reset_states(torch.nn.Sequential(layer))
    assert layer.state is None
    torch.testing.assert_close(layer(x[:10]), a)


def test_stateful_batch_mismatch_is_a_clear_error():
    layer = _make({}, stateful=True)
    layer(bernoulli((T, B, N_IN)))
    with pytest.raises(ValueError, match="reset_state"):
        layer(bernoulli((T, B + 1, N_IN)))


def test_stateless_layer_starts_from_zero_each_call():
    layer = _make({})
    x = bernoulli((T, B, N_IN))
    torch.testing.assert_close(layer(x), layer(x), rtol=0, atol=0)
    assert layer.state is None


def test_detach_states_in_a_network():
    net = torch.nn.Sequential(_make({}, stateful=True), _make({}, stateful=True))
    net[1] = HetSynLIF(N_OUT, N_OUT, stateful=True, dtype=torch.float64)
    net(bernoulli((T, B, N_IN)).requires_grad_())
    detach_states(net)
    assert all(not m.state.syn.requires_grad for m in net)


def test_wrong_state_shape_names_the_field():
    layer = _make({"recurrent": True})
    x = bernoulli((T, B, N_IN))
    state = layer.run(x).state
    with pytest.raises(ValueError, match=r"state\.syn must have shape"):
        layer.run(bernoulli((T, B + 1, N_IN)), state)
    with pytest.raises(TypeError, match="state must be a HetSynState"):
        layer.run(x, (state.syn, state.v))
    with pytest.raises(ValueError, match=r"state\.rec must have shape"):
        layer.run(x, state._replace(rec=None))


@pytest.mark.parametrize("options", VARIANTS, ids=str)
def test_state_dict_round_trip(options):
    layer = _make(options, learn_threshold=True)
    clone = HetSynLIF(N_IN, N_OUT, dtype=torch.float64, **options, learn_threshold=True)
    clone.load_state_dict(layer.state_dict())
    x = bernoulli((T, B, N_IN))
    torch.testing.assert_close(clone.run(x).membrane, layer.run(x).membrane, rtol=0, atol=0)


def test_dtype_and_device_moves():
    layer = HetSynLIF(N_IN, N_OUT, recurrent=True, learn_decays=False, stateful=True)
    x = bernoulli((T, B, N_IN), dtype=torch.float32)
    layer(x)
    layer.double()
    assert layer.weight.dtype == torch.float64
    assert layer.syn_decay.dtype == torch.float64
    assert layer.state.syn.dtype == torch.float64
    assert layer(x.double()).dtype == torch.float64
    layer.to("cpu", torch.float32)
    assert layer.reset_decay.dtype == torch.float32


def test_views_have_documented_shapes_and_values():
    r = torch.rand(N_OUT, N_IN) * 0.5 + 0.3
    layer = HetSynLIF(
        N_IN,
        N_OUT,
        recurrent=True,
        adaptation=True,
        tau_syn=Decay(r),
        tau_reset=5.0,
        tau_rec=7.0,
        learn_decays=False,
    )
    assert layer.weight.shape == (N_OUT, N_IN)
    assert torch.equal(layer.syn_decay, r)
    torch.testing.assert_close(layer.tau_syn, -1 / torch.log(r))
    torch.testing.assert_close(
        layer.reset_decay, torch.full((N_OUT,), torch.exp(torch.tensor(-1 / 5.0)).item())
    )
    assert layer.recurrent_weight.shape == (N_OUT, N_OUT)
    assert layer.recurrent_decay.shape == (N_OUT, N_OUT)
    assert layer.adapt_decay.shape == (N_OUT,)
    torch.testing.assert_close(layer.bias_decay, layer.reset_decay)  # tied by default
    shared = HetSynLIF(
        N_IN, N_OUT, heterogeneity="neuron", recurrent=True, tau_syn=torch.arange(1.0, N_OUT + 1)
    )
    assert shared.syn_decay.shape == (N_OUT, N_IN)
    torch.testing.assert_close(shared.syn_decay[:, 0], shared.reset_decay)
    torch.testing.assert_close(shared.syn_decay[:, 1], shared.reset_decay)
    assert shared.recurrent_decay.shape == (N_OUT, N_OUT)
    assert not hasattr(shared.decays, "syn")


def test_shared_layers_keep_no_per_synapse_state_or_parameter():
    for het in ("neuron", "none"):
        layer = HetSynLIF(N_IN, N_OUT, heterogeneity=het, recurrent=True)
        state = layer.run(bernoulli((T, B, N_IN), dtype=torch.float32)).state
        assert state.syn.shape == (B, N_OUT)
        assert state.rec is None
        n_decays = sum(p.numel() for p in layer.decays.parameters())
        assert n_decays == (N_OUT if het == "neuron" else 1)


def test_extra_repr_names_the_configuration():
    text = repr(HetSynLIF(3, 2, recurrent=True, reset="zero", heterogeneity="neuron"))
    for part in (
        "in_features=3",
        "out_features=2",
        "heterogeneity='neuron'",
        "recurrent=True",
        "reset='zero'",
    ):
        assert part in text
    assert "heterogeneity='synapse'" in repr(HetSynReadout(3, 2))


def test_presets_give_the_four_models():
    assert set(PRESETS) == {"HetSynLIF", "HetNeuLIF", "HomNeuLIF", "HomNeuALIF"}
    assert preset("HetSynLIF", 3, 2).heterogeneity == "synapse"
    assert preset("HetNeuLIF", 3, 2).heterogeneity == "neuron"
    assert preset("HomNeuLIF", 3, 2).heterogeneity == "none"
    alif = preset("HomNeuALIF", 3, 2)
    assert alif.heterogeneity == "none" and alif.adaptation
    with pytest.raises(ValueError, match="heterogeneity must be 'none' for the HomNeuLIF preset"):
        preset("HomNeuLIF", 3, 2, heterogeneity="synapse")
    with pytest.raises(ValueError, match="name must be one of"):
        preset("LIF", 3, 2)


def test_training_step_changes_decays_and_lowers_loss():
    torch.manual_seed(0)
    layer = HetSynLIF(N_IN, N_OUT, dtype=torch.float64)
    readout = HetSynReadout(N_OUT, 1, dtype=torch.float64)
    x = bernoulli((T, 8, N_IN))
    target = torch.linspace(0, 1, T, dtype=torch.float64)[:, None, None].expand(T, 8, 1)
    opt = torch.optim.Adam([*layer.parameters(), *readout.parameters()], lr=0.05)
    before = layer.syn_decay.detach().clone()
    losses = []
    for _ in range(30):
        loss = ((readout(layer(x)) - target) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    assert not torch.allclose(layer.syn_decay, before)
    assert ((layer.syn_decay > 0) & (layer.syn_decay < 1)).all()


@pytest.mark.parametrize("heterogeneity", ["synapse", "neuron"])
def test_decay_input_scales_each_input_by_one_minus_its_decay(heterogeneity):
    """``decay_input=True`` is the layer with every weight (and the bias) times ``1 - r`` of
    the pathway it enters (fixed decays: the same parameters written out by hand)."""
    torch.manual_seed(0)
    kw = dict(heterogeneity=heterogeneity, recurrent=True, learn_decays=False,
              dtype=torch.float64, kernel="reference")  # fmt: skip
    if heterogeneity == "synapse":
        kw.update(tau_syn=Uniform(2.0, 9.0), tau_reset=6.0, tau_rec=Uniform(2.0, 9.0), tau_bias=4.0)
    else:
        kw.update(tau_syn=Uniform(2.0, 9.0))
    scaled = HetSynLIF(5, 4, decay_input=True, **kw)
    with torch.no_grad():
        scaled.weight.uniform_(0.0, 1.0)  # enough drive to spike
    plain = HetSynLIF(5, 4, **kw)
    plain.load_state_dict(scaled.state_dict())
    p = plain.params()
    gain = (lambda r: (1 - r)[:, None]) if heterogeneity == "neuron" else (lambda r: 1 - r)
    bias_decay = p.syn_decay if heterogeneity == "neuron" else p.bias_decay
    with torch.no_grad():
        plain.weight.mul_(gain(p.syn_decay))
        rec_decay = p.rec_decay if heterogeneity == "synapse" else p.syn_decay
        plain.recurrent_weight.mul_(gain(rec_decay))
        plain.bias.mul_(1 - bias_decay)
    x = torch.rand(30, 3, 5, dtype=torch.float64) * 4
    a, b = scaled.run(x), plain.run(x)
    assert 0 < a.spikes.sum() < a.spikes.numel() and torch.equal(a.spikes, b.spikes)
    torch.testing.assert_close(a.membrane, b.membrane, rtol=1e-12, atol=1e-12)
    assert "decay_input=True" in repr(scaled)
