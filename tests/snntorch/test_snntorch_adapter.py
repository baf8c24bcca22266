"""snn.HetSynLeaky / snn.HetSynLI: snnTorch conventions, state handling, utilities, errors."""

from __future__ import annotations

import sys
import types
import warnings

import pytest
import torch
from torch import nn

snn = pytest.importorskip("snntorch")

from hetsyn_plugins.adapters.snntorch import HetSynLeaky, HetSynLI  # noqa: E402
from hetsyn_plugins.core import HetSynState, Uniform  # noqa: E402

from ..conftest import bernoulli  # noqa: E402

B, N_IN, N_OUT, T = 3, 6, 4, 120
F64 = torch.float64

VARIANTS = [
    {"heterogeneity": "synapse", "tau_syn": Uniform(2.0, 30.0), "tau_reset": 10.0},
    {"heterogeneity": "synapse", "beta": 0.9, "recurrent": True, "reset_mechanism": "zero"},
    {"heterogeneity": "synapse", "beta": 0.8, "adaptation": True, "reset_delay": False},
    {"heterogeneity": "neuron", "beta": torch.linspace(0.5, 0.95, N_OUT), "recurrent": True},
    {"heterogeneity": "none", "beta": 0.85, "reset_mechanism": "none", "graded_spikes_factor": 2.0},
]


def _lif(**kw):
    lif = HetSynLeaky(N_IN, N_OUT, dtype=F64, **kw)
    with torch.no_grad():  # excitatory on average: every variant spikes
        lif.weight.uniform_(-0.5, 1.0)
    return lif


def _loop(module, x, *, pass_mem=True):
    mem = module.reset_mem()
    outs = []
    for x_t in x:
        out = module(x_t, mem) if pass_mem else module(x_t)
        mem = out[1] if isinstance(out, tuple) else out
        outs.append(out)
    if isinstance(outs[0], tuple):
        return tuple(torch.stack(o) for o in zip(*outs))
    return torch.stack(outs)


# --------------------------------------------------------------------------- single vs multi step


@pytest.mark.parametrize("kw", VARIANTS)
def test_single_step_loop_equals_multi_step_call(kw):
    lif = _lif(**kw)
    x = bernoulli((T, B, N_IN), p=0.3)
    spk, mem = _loop(lif, x)
    lif.reset_mem()
    spk_seq, mem_seq = lif(x)
    assert 0 < spk.count_nonzero() < spk.numel()
    assert torch.equal(spk_seq, spk)
    torch.testing.assert_close(mem_seq, mem, rtol=1e-12, atol=1e-12)
    # without passing mem, the layer carries its state on, as snn.Leaky
    spk_nomem, mem_nomem = _loop(lif, x, pass_mem=False)
    assert torch.equal(spk_nomem, spk) and torch.equal(mem_nomem, mem)


@pytest.mark.parametrize("kw", VARIANTS)
def test_more_batch_dimensions_with_sequence_set(kw):
    """snnTorch neurons take (B, *, F) per step: with ``sequence=False`` every call is one
    step of (B, *, in), with ``sequence=True`` a sequence (T, B, *, in); the leading
    dimensions are one batch, the outputs and ``mem`` keep them."""
    x = bernoulli((T, B, 2, N_IN), p=0.3)
    flat = _lif(**kw)
    spk_ref, mem_ref = _loop(flat, x.reshape(T, -1, N_IN))
    per_step = _lif(**kw, sequence=False)
    per_step.load_state_dict(flat.state_dict())
    spk, mem = _loop(per_step, x)
    assert spk.shape == (T, B, 2, N_OUT) and per_step.mem.shape == (B, 2, N_OUT)
    assert 0 < spk_ref.count_nonzero() < spk_ref.numel()
    assert torch.equal(spk.reshape(T, -1, N_OUT), spk_ref)
    assert torch.equal(mem.reshape(T, -1, N_OUT), mem_ref)
    whole = _lif(**kw, sequence=True)
    whole.load_state_dict(flat.state_dict())
    spk_seq, mem_seq = whole(x)
    assert spk_seq.shape == (T, B, 2, N_OUT) and torch.equal(spk_seq, spk)
    torch.testing.assert_close(mem_seq, mem, rtol=1e-12, atol=1e-12)


def test_ambiguous_or_wrong_shapes_name_sequence():
    lif = _lif(beta=0.9)
    with pytest.raises(ValueError, match=r"set sequence=False for one step of \(B, \*, in\)"):
        lif(torch.zeros(T, B, 2, N_IN, dtype=F64))
    with pytest.raises(ValueError, match=r"\(B, \*, in\) or \(in,\): one step \(sequence=False\)"):
        _lif(beta=0.9, sequence=False)(torch.zeros(N_IN + 1, dtype=F64))
    with pytest.raises(ValueError, match=r"\(T, B, \*, in\): a sequence .*got shape \(3, 6\)"):
        _lif(beta=0.9, sequence=True)(torch.zeros(B, N_IN, dtype=F64))
    message = r"sequence must be None \(2-D input: one step, 3-D: a sequence\), True or False"
    with pytest.raises(TypeError, match=message + "; got 'no'"):
        HetSynLeaky(N_IN, N_OUT, beta=0.9, sequence="no")
    # a membrane shaped as the batch sets the state, as snn.Leaky's (B, *, out) mem does
    shared = _lif(beta=0.9, heterogeneity="none", sequence=False)
    mem = torch.rand(B, 2, N_OUT, dtype=F64)
    spk, new_mem = shared(torch.zeros(B, 2, N_IN, dtype=F64), mem)
    flat_spk, flat_mem = shared(torch.zeros(B * 2, N_IN, dtype=F64), mem.reshape(-1, N_OUT))
    assert torch.equal(new_mem.reshape(-1, N_OUT), flat_mem)


@pytest.mark.parametrize("kw", VARIANTS[:3])
def test_sequence_in_chunks_equals_one_call(kw):
    lif = _lif(**kw)
    x = bernoulli((T, B, N_IN), p=0.3)
    spk, mem = lif(x)
    lif.reset_mem()
    a_spk, a_mem = lif(x[:50])
    b_spk, b_mem = lif(x[50:])
    assert torch.equal(torch.cat([a_spk, b_spk]), spk)
    torch.testing.assert_close(torch.cat([a_mem, b_mem]), mem, rtol=1e-12, atol=1e-12)


def test_readout_single_step_loop_equals_multi_step_call():
    li = HetSynLI(N_IN, N_OUT, tau_syn=Uniform(2.0, 30.0), dtype=F64)
    x = bernoulli((T, B, N_IN), p=0.3)
    mem = _loop(li, x)
    li.reset_mem()
    torch.testing.assert_close(li(x), mem, rtol=1e-12, atol=1e-12)
    assert mem.abs().sum() > 0


# --------------------------------------------------------------------------- the mem convention


def test_state_convention_full_state_and_zeros():
    lif = _lif(**VARIANTS[0])
    x = bernoulli((T, B, N_IN), p=0.3)
    lif(x[:30])
    saved = lif.state
    assert isinstance(saved, HetSynState) and saved.syn.shape == (B, N_OUT, N_IN)
    spk_a, mem_a = lif(x[30:])
    spk_b, mem_b = lif(x[30:], saved)  # explicit full state
    assert torch.equal(spk_a, spk_b) and torch.equal(mem_a, mem_b)
    # zeros start from rest, like reset_mem()
    spk_z, mem_z = lif(x[30:], torch.zeros(B, N_OUT, dtype=F64))
    lif.reset_mem()
    spk_r, mem_r = lif(x[30:])
    assert torch.equal(spk_z, spk_r) and torch.equal(mem_z, mem_r)
    assert not torch.equal(mem_r, mem_a)


@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize("reset_delay", [True, False])
def test_membrane_sets_the_state_like_snn_leaky(reset, reset_delay):
    """A given (non-zero) membrane starts the layer exactly where snn.Leaky starts from it."""
    beta, threshold = torch.tensor(0.8, dtype=F64), torch.tensor(1.0, dtype=F64)
    kw = dict(threshold=threshold, reset_mechanism=reset, reset_delay=reset_delay)
    fc = nn.Linear(N_IN, N_OUT, dtype=F64)
    leaky = snn.Leaky(beta=beta, **kw)
    lif = HetSynLeaky(N_IN, N_OUT, beta=beta, heterogeneity="none", dtype=F64, **kw)
    with torch.no_grad():
        lif.weight.copy_(fc.weight)
        lif.bias.copy_(fc.bias)
    # a post-reset membrane above threshold is snnTorch's reset_delay=False corner case
    high = 1.5 if reset_delay else 0.95
    mem0 = torch.linspace(-0.5, high, B * N_OUT, dtype=F64).reshape(B, N_OUT)
    x = bernoulli((20, B, N_IN), p=0.3)
    mem_ref, mem = mem0.clone(), mem0.clone()
    for x_t in x:
        spk_ref, mem_ref = leaky(fc(x_t), mem_ref)
        spk, mem = lif(x_t, mem)
        assert torch.equal(spk, spk_ref) and torch.equal(mem, mem_ref)


def test_membrane_cannot_set_a_per_synapse_state():
    lif = _lif(**VARIANTS[0])
    lif(torch.rand(B, N_IN, dtype=F64))
    with pytest.raises(ValueError, match="mem can set the full state only.*'synapse'"):
        lif(torch.rand(B, N_IN, dtype=F64), torch.ones(B, N_OUT, dtype=F64))


def test_batch_size_change_starts_from_rest():
    lif = _lif(**VARIANTS[0])
    x = bernoulli((10, 2, N_IN), p=0.3)
    lif(bernoulli((10, B, N_IN), p=0.3))
    spk, mem = lif(x)
    lif.reset_mem()
    spk_r, mem_r = lif(x)
    assert torch.equal(mem, mem_r)


def test_reset_mem_detach_hidden_reset_hidden():
    lif = _lif(**VARIANTS[0])
    other = _lif(**VARIANTS[1])
    x = bernoulli((5, B, N_IN), p=0.3).requires_grad_(True)
    lif(x)
    other(x)
    assert lif.mem.grad_fn is not None and lif.state.syn.grad_fn is not None
    mem = lif.mem
    HetSynLeaky.detach_hidden()
    assert lif.mem.grad_fn is None and all(
        t is None or t.grad_fn is None for t in (*lif.state, *other.state)
    )
    with pytest.raises(ValueError, match="mem can set the full state only"):
        lif(x[0], mem.detach() + 0.5)  # another membrane cannot stand for the per-synapse state
    lif(x[0], mem)  # the membrane returned before detaching still carries the state on
    HetSynLeaky.reset_hidden()
    assert lif.state is None and other.state is None and not lif.mem.any()
    out = lif.reset_mem()
    assert out is lif.mem and not out.any()


def test_init_hidden_and_output_conventions():
    lif = HetSynLeaky(N_IN, N_OUT, beta=0.9, init_hidden=True)
    x = torch.rand(B, N_IN)
    spk = lif(x)
    assert isinstance(spk, torch.Tensor) and spk.shape == (B, N_OUT)
    with pytest.raises(TypeError, match="`mem` should not be passed"):
        lif(x, lif.mem)
    lif_out = HetSynLeaky(N_IN, N_OUT, beta=0.9, init_hidden=True, output=True)
    spk, mem = lif_out(x)
    assert mem.shape == (B, N_OUT)
    li = HetSynLI(N_IN, N_OUT, beta=0.9, init_hidden=True)
    assert li(x).shape == (B, N_OUT)
    with pytest.raises(TypeError, match="`mem` should not be passed"):
        li(x, li.mem)


def test_state_follows_dtype_and_device_moves():
    lif = _lif(**VARIANTS[1])
    lif(torch.rand(B, N_IN, dtype=F64))
    lif.float()
    assert lif.state.syn.dtype == torch.float32 and lif.mem.dtype == torch.float32
    spk, mem = lif(torch.rand(B, N_IN), lif.mem)
    assert mem.dtype == torch.float32


def test_read_only_views_and_snntorch_attributes():
    beta = torch.rand(N_OUT, N_IN) * 0.5 + 0.3
    lif = HetSynLeaky(N_IN, N_OUT, beta=beta, tau_reset=5.0, learn_threshold=True, threshold=0.7)
    assert torch.equal(lif.syn_decay, beta)
    assert torch.allclose(lif.tau_syn, -1 / torch.log(beta))
    assert lif.weight is lif.layer.weight and lif.bias is lif.layer.bias
    assert lif.reset_decay.shape == (N_OUT,)
    assert lif.recurrent_weight is None and lif.recurrent_decay is None
    assert isinstance(lif.threshold, nn.Parameter) and lif.threshold is lif.layer.threshold
    assert sum(p is lif.threshold for p in lif.parameters()) == 1
    assert lif.reset_mechanism == "subtract"
    with pytest.raises(AttributeError, match="fixed at construction"):
        lif.reset_mechanism = "zero"
    assert isinstance(lif, snn.SpikingNeuron)
    learnable = HetSynLeaky(N_IN, N_OUT, beta=0.9, learn_beta=True)
    assert any(n.startswith("layer.decays") for n, _ in learnable.named_parameters())
    assert not any(n.startswith("layer.decays") for n, _ in lif.named_parameters())


# --------------------------------------------------------------------------- snnTorch utilities


def _net():
    return nn.Sequential(
        HetSynLeaky(N_IN, 5, beta=0.9, init_hidden=True),
        nn.Sequential(nn.Linear(5, 5), snn.Leaky(beta=0.8, init_hidden=True)),
        nn.Sequential(HetSynLI(5, 2, beta=0.7, init_hidden=True)),
    )


def test_sequential_with_init_hidden_single_and_multi_step():
    import snntorch.utils as utils

    net = _net()
    x = bernoulli((T, B, N_IN), p=0.5, dtype=torch.float32)
    assert net(x[0]).shape == (B, 2)
    utils.reset(net)
    loop = torch.stack([net(x_t) for x_t in x])
    assert loop.shape == (T, B, 2)
    utils.reset(net)
    first, leaky = net[0], net[1][1]
    # with init_hidden (snnTorch's per-step idiom) a 3-D input is ambiguous: say which
    with pytest.raises(ValueError, match="3-D input is ambiguous: set sequence=False"):
        first(x)
    # the multi-step call of the HetSyn layers equals their single-step loop
    first.sequence = True
    spk_seq = first(x)
    first.sequence = None
    first.reset_mem()
    assert torch.equal(spk_seq, torch.stack([first(x_t) for x_t in x]))
    assert leaky.mem.numel() > 0


def test_utils_reset_resets_nested_hetsyn_layers_of_net_only():
    import snntorch.utils as utils

    net, outside = _net(), HetSynLeaky(N_IN, 5, beta=0.9)
    x = torch.rand(B, N_IN)
    net(x)
    outside(x)
    hetsyn = [m for m in net.modules() if isinstance(m, (HetSynLeaky, HetSynLI))]
    assert len(hetsyn) == 2 and all(m.state is not None for m in hetsyn)
    utils.reset(net)
    assert all(m.state is None and not m.mem.any() for m in hetsyn)
    assert outside.state is not None, "utils.reset(net) must not touch layers outside net"
    # snnTorch's own behaviour is kept: it resets its neuron types (as before, by type)
    utils.reset(nn.Sequential(snn.Leaky(beta=0.5)))


def test_functional_losses_and_accuracy_accept_the_outputs():
    import snntorch.functional as SF

    lif = HetSynLeaky(N_IN, 3, beta=0.9)
    with torch.no_grad():
        lif.weight.mul_(4.0)
    x = bernoulli((30, B, N_IN), p=0.5, dtype=torch.float32)
    targets = torch.tensor([0, 1, 2])
    spk, mem = lif(x)
    for loss_fn in (SF.ce_rate_loss(), SF.mse_count_loss(), SF.ce_count_loss()):
        loss = loss_fn(spk, targets)
        (grad,) = torch.autograd.grad(loss, lif.weight, retain_graph=True)
        assert torch.isfinite(loss) and grad.abs().sum() > 0
    loss = SF.ce_max_membrane_loss()(mem, targets)
    assert torch.isfinite(loss)
    assert 0.0 <= SF.accuracy_rate(spk, targets) <= 1.0


def test_spikeplot_accepts_the_outputs():
    pytest.importorskip("pandas")
    plt = pytest.importorskip("matplotlib.pyplot")
    import snntorch.spikeplot as splt

    lif = HetSynLeaky(N_IN, N_OUT, beta=0.9)
    spk, _ = lif(bernoulli((30, B, N_IN), p=0.5, dtype=torch.float32))
    fig, ax = plt.subplots()
    splt.raster(spk[:, 0], ax)
    assert len(ax.collections) == 1 and len(ax.collections[0].get_offsets()) == spk[:, 0].sum()
    plt.close(fig)


def test_backprop_refuses_networks_with_hetsyn_layers():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import snntorch.backprop as backprop
    net = nn.Sequential(nn.Linear(N_IN, 4), nn.Sequential(HetSynLeaky(4, 2, beta=0.9)))
    for fn in (backprop.BPTT, backprop.TBPTT, backprop.RTRL):
        with pytest.raises(TypeError, match="snntorch.backprop cannot take.*HetSynLeaky"):
            fn(net, [], None, None)
    with pytest.raises(TypeError, match="snntorch.backprop cannot take"):
        backprop.BPTT(net=net, dataloader=[], optimizer=None, criterion=None)
    # other networks go through to snnTorch untouched
    assert backprop.TBPTT.__wrapped__.__module__ == "snntorch.backprop"


def test_export_nir_refuses_networks_with_hetsyn_layers(monkeypatch):
    nir = types.ModuleType("nir")
    nir.NIRNode = object
    monkeypatch.setitem(sys.modules, "nir", nir)
    monkeypatch.setitem(sys.modules, "nirtorch", types.ModuleType("nirtorch"))
    monkeypatch.delitem(sys.modules, "snntorch.export_nir", raising=False)
    import snntorch.export_nir as export_nir

    try:
        net = nn.Sequential(HetSynLeaky(N_IN, 2, beta=0.9, init_hidden=True))
        with pytest.raises(TypeError, match="export_to_nir cannot take.*per synapse"):
            export_nir.export_to_nir(net, torch.zeros(1, N_IN))
        with pytest.raises(TypeError, match="export_to_nir cannot take"):
            export_nir.export_to_nir(module=net, sample_data=torch.zeros(1, N_IN))
    finally:
        sys.modules.pop("snntorch.export_nir", None)
        monkeypatch.delattr(snn, "export_nir", raising=False)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        ({}, ValueError, r"exactly one of beta .* got beta=None, tau_syn=None"),
        ({"beta": 0.9, "tau_syn": 5.0}, ValueError, "exactly one of beta"),
        ({"beta": 1.0}, ValueError, r"beta must lie in the open interval \(0, 1\).*1.0"),
        ({"beta": torch.ones(3, 3) * 0.5}, ValueError, r"broadcastable to shape \(4, 6\)"),
        ({"beta": 0.9, "reset_mechanism": "hard"}, ValueError, "reset_mechanism must be"),
        ({"beta": 0.9, "heterogeneity": "layer"}, ValueError, "heterogeneity must be one of"),
        ({"beta": 0.9, "spike_grad": "atan"}, TypeError, "spike_grad must be.*got str"),
        ({"beta": 0.9, "inhibition": True}, ValueError, "inhibition is not supported.*True"),
        ({"beta": 0.9, "state_quant": abs}, ValueError, "state_quant is not supported"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    before = list(snn.SpikingNeuron.instances)
    with pytest.raises(error, match=match):
        HetSynLeaky(N_IN, N_OUT, **kwargs)
    # a failed construction leaves no half-built neuron for reset_hidden() to meet
    assert snn.SpikingNeuron.instances == before
    with pytest.raises(ValueError, match="exactly one of beta"):
        HetSynLI(N_IN, N_OUT)
    assert snn.SpikingNeuron.instances == before
    HetSynLeaky.reset_hidden()
    HetSynLI.detach_hidden()


def test_bad_inputs():
    lif = HetSynLeaky(N_IN, N_OUT, beta=0.9, heterogeneity="none")
    with pytest.raises(ValueError, match=r"input_ must have shape \(in,\) or \(B, in\).*in=6.*\(3, 5\)"):
        lif(torch.rand(3, 5))
    with pytest.raises(ValueError, match=r"got shape \(2, 3, 4, 6\)"):
        lif(torch.rand(2, 3, 4, 6))
    with pytest.raises(TypeError, match="input_ must have a floating-point dtype"):
        lif(torch.ones(3, N_IN, dtype=torch.long))
    with pytest.raises(TypeError, match="input_ must be a torch.Tensor; got list"):
        lif([[0.0] * N_IN])
    with pytest.raises(ValueError, match=r"mem must have shape \(B, out\) = \(3, 4\); got \(4,\)"):
        lif(torch.rand(3, N_IN), torch.rand(4))
    with pytest.raises(TypeError, match="mem must be a torch.Tensor; got str"):
        lif(torch.rand(3, N_IN), "mem")


def test_positional_arguments_follow_snn_leaky():
    args = (0.9, 0.75, None, False, True, False, False, False, "zero", False, True, 2.0)
    leaky = snn.Leaky(*args)
    lif = HetSynLeaky(N_IN, N_OUT, *args, heterogeneity="none")
    assert float(lif.threshold) == float(leaky.threshold) == 0.75
    assert lif.init_hidden and lif.output and lif.reset_mechanism == leaky.reset_mechanism
    assert float(lif.graded_spikes_factor) == float(leaky.graded_spikes_factor) == 2.0


def _tutorial_net(host_class: str) -> nn.Module:
    """An init_hidden network as snnTorch's tutorials write it."""
    torch.manual_seed(0)
    if host_class == "Leaky":
        second = snn.Leaky(beta=0.7, init_hidden=True, output=True)
    else:
        second = snn.RLeaky(beta=0.7, linear_features=3, init_hidden=True, output=True)
    return nn.Sequential(
        nn.Linear(N_IN, 6), snn.Leaky(beta=0.8, init_hidden=True), nn.Linear(6, 3), second
    )


@pytest.mark.parametrize("host_class", ["Leaky", "RLeaky"])
def test_host_class_reset_and_detach_hidden_reach_converted_layers(host_class):
    """``snn.Leaky.reset_hidden()`` between batches and ``detach_hidden()`` in truncated BPTT
    (class methods over snnTorch's instance list) also reset / detach the HetSyn faces of a
    converted model: it then runs as the original does."""
    import hetsyn_plugins

    nets = [_tutorial_net(host_class), _tutorial_net(host_class)]
    nets[1] = hetsyn_plugins.convert(nets[1], heterogeneity="none")
    # the calls of the original: each class it has, as snnTorch resets by class
    classes = [snn.Leaky] if host_class == "Leaky" else [snn.Leaky, snn.RLeaky]
    results = []
    for net in nets:
        outs = []
        for batch in (4, 2):  # another batch size: a state carried over would fail or leak
            for cls in classes:
                cls.reset_hidden()
            x = bernoulli((12, batch, N_IN), p=0.4, seed=batch, dtype=torch.float32)
            for chunk in (x[:6], x[6:]):  # truncated BPTT: one backward per chunk
                mems = [net(x_t)[1] for x_t in chunk]
                torch.stack(mems).sum().backward()
                outs.append(torch.stack(mems).detach())
                for cls in classes:
                    cls.detach_hidden()
        results.append(torch.cat([o.flatten() for o in outs]))
    torch.testing.assert_close(results[1], results[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["init_hidden", "output", "reset_delay", "recurrent"])
def test_string_flags_are_refused(name):
    with pytest.raises(TypeError, match=f"{name} must be True or False; got 'False'"):
        HetSynLeaky(N_IN, N_OUT, beta=0.9, **{name: "False"})


@pytest.mark.parametrize(
    "options, match",
    [
        ({"beta": torch.full((5,), 0.5)}, r"beta must be broadcastable to shape \(4, 6\)"),
        ({"beta": 0.9, "graded_spikes_factor": float("nan")}, "graded_spikes_factor must be finite"),
        ({"beta": 0.9, "threshold": "1"}, "threshold must be a number"),
    ],
)
def test_host_arguments_are_named_in_errors(options, match):
    with pytest.raises((TypeError, ValueError), match=match):
        HetSynLeaky(N_IN, N_OUT, **options)


@pytest.mark.parametrize("n_in", [N_OUT, N_IN])  # in == out: (out,) must not broadcast over in
@pytest.mark.parametrize("recurrent", [False, True])
def test_per_neuron_beta_in_a_per_synapse_layer(n_in, recurrent):
    """snnTorch's per-neuron beta (out,) under heterogeneity="synapse": each neuron's synapses
    (and its reset and recurrent decays) start at its beta, the same dynamics as
    heterogeneity="neuron"."""
    beta = torch.linspace(0.5, 0.95, N_OUT, dtype=F64)
    kw = dict(beta=beta, recurrent=recurrent, dtype=F64)
    syn = HetSynLeaky(n_in, N_OUT, heterogeneity="synapse", **kw)
    neu = HetSynLeaky(n_in, N_OUT, heterogeneity="neuron", **kw)
    with torch.no_grad():
        syn.weight.uniform_(-0.5, 1.2)
        neu.weight.copy_(syn.weight)
        if recurrent:
            neu.layer.recurrent_weight.copy_(syn.recurrent_weight)
        neu.layer.bias.copy_(syn.bias)
    assert torch.equal(syn.syn_decay, beta[:, None].expand(N_OUT, n_in))
    assert torch.equal(syn.reset_decay, beta)
    x = bernoulli((40, B, n_in), p=0.4)
    (s1, m1), (s2, m2) = syn(x), neu(x)
    assert 0 < s2.sum() < s2.numel() and torch.equal(s1, s2)
    torch.testing.assert_close(m1, m2, rtol=1e-12, atol=1e-12)
    li = HetSynLI(n_in, N_OUT, beta=beta, dtype=F64)
    assert torch.equal(li.syn_decay, beta[:, None].expand(N_OUT, n_in))
    assert torch.equal(li.bias_decay, beta)
