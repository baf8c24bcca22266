"""HetSynNode as a SpikingJelly node: step modes, memories, utilities, views, errors."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

pytest.importorskip("spikingjelly.activation_based.neuron")

from spikingjelly.activation_based import base, functional, layer, surrogate

from hetsyn_plugins.adapters.spikingjelly import HetSynNode
from hetsyn_plugins.core.timescales import Decay, Normal, Uniform

from ..conftest import bernoulli

B, N_IN, N_OUT, T = 3, 6, 4, 40

VARIANTS = [
    dict(),
    dict(v_reset=None),
    dict(v_reset=-0.3, recurrent=True),
    dict(recurrent=True, adaptation=True, v_reset=None),
    dict(heterogeneity="neuron", recurrent=True),
    dict(heterogeneity="none", adaptation=True),
]


def _node(options=(), **kw):
    options = {**dict(options), **kw}
    het = options.get("heterogeneity", "synapse")
    node = HetSynNode(
        N_IN,
        N_OUT,
        tau=Uniform(2.0, 10.0) if het != "none" else 4.0,
        surrogate_function=surrogate.ATan(),
        dtype=torch.float64,
        **options,
    )
    with torch.no_grad():
        node.weight.abs_().mul_(2.0)  # excitatory drive: every variant spikes and resets
    return node


def _loop(node, x):
    return torch.stack([node(x_t) for x_t in x])


def _memories(node):
    """The memories holding state (not the per-step path's bookkeeping, ``core_link``)."""
    return {k: v.clone() for k, v in node.named_memories() if k != "core_link"}


@pytest.mark.parametrize("options", VARIANTS, ids=str)
def test_single_step_loop_equals_multi_step(options):
    x = bernoulli((T, B, N_IN))
    s_node = _node(options, step_mode="s", store_v_seq=True)
    m_node = copy.deepcopy(s_node)
    m_node.step_mode = "m"

    s_spikes = _loop(s_node, x)
    m_spikes = m_node(x)
    assert 0 < m_spikes.mean() < 1
    assert torch.equal(s_spikes, m_spikes)
    g = torch.randn(T, B, N_OUT, dtype=torch.float64)
    (s_spikes * g).sum().backward()
    (m_spikes * g).sum().backward()
    assert s_node.weight.grad.abs().sum() > 0
    for (name, p_s), p_m in zip(s_node.named_parameters(), m_node.parameters(), strict=True):
        torch.testing.assert_close(p_s.grad, p_m.grad, rtol=1e-10, atol=1e-12, msg=name)
    torch.testing.assert_close(s_node.v_seq, m_node.v_seq, rtol=0, atol=1e-12)
    assert m_node.v_seq.shape == (T, B, N_OUT)
    s_mem, m_mem = _memories(s_node), _memories(m_node)
    assert s_mem.keys() == m_mem.keys() and len(s_mem) >= 4
    for k in s_mem:
        torch.testing.assert_close(s_mem[k], m_mem[k], rtol=0, atol=1e-12)


@pytest.mark.parametrize("v_reset", [None, 0.0, 0.4], ids=lambda v: f"v_reset={v}")
def test_stored_voltage_is_core_membrane_after_reset(v_reset):
    """The stated voltage mapping, against the core layer run on its own."""
    node = _node(v_reset=v_reset, step_mode="m", store_v_seq=True)
    x = bernoulli((T, B, N_IN))
    spikes = node(x)
    out = node.layer.run(x)  # the core alone: membrane V before the reset, measured from c
    assert torch.equal(spikes, out.spikes) and spikes.sum() > 0
    theta = node.v_threshold
    if v_reset is None:
        expected = out.membrane - theta * out.spikes
        assert torch.equal(node.layer.threshold, torch.tensor(theta, dtype=torch.float64))
    else:
        expected = (out.membrane + v_reset) * (1 - out.spikes) + v_reset * out.spikes
        assert node.layer.config.reset == "zero"
    torch.testing.assert_close(node.v_seq, expected, rtol=0, atol=1e-12)
    # Spikes follow SpikingJelly's rule on that voltage: v before the reset >= v_threshold.
    c = 0.0 if v_reset is None else v_reset
    assert torch.equal(spikes, (out.membrane + c >= theta).to(spikes.dtype))



@pytest.mark.parametrize("v_reset", [None, 0.0, 0.4], ids=lambda v: f"v_reset={v}")
def test_stored_voltage_keeps_nothing_new_for_backward(v_reset):
    """The stored ``v`` equals SpikingJelly's own reset (values, and gradients in float64),
    and autograd keeps no tensor for it besides the membrane and spikes (DESIGN: per-step
    memory), where ``apply_hard_reset`` itself would keep ``V + c`` and ``1 - z`` per step."""
    node = _node(v_reset=v_reset)
    membrane = torch.randn(B, N_OUT, dtype=torch.float64, requires_grad=True)
    z = (torch.rand(B, N_OUT, dtype=torch.float64) < 0.5).double().requires_grad_(True)
    kept = set()

    def pack(t):
        kept.add(t.untyped_storage().data_ptr())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        v = node._host_voltage(membrane, z)
    assert kept <= {membrane.untyped_storage().data_ptr(), z.untyped_storage().data_ptr()}
    c = 0.0 if v_reset is None else v_reset
    expected = (
        node.apply_soft_reset(membrane, z, node.v_threshold)
        if v_reset is None
        else node.apply_hard_reset(membrane + c, z, c)
    )
    assert torch.equal(v, expected)
    g = torch.randn_like(v)
    assert all(
        torch.allclose(a, b, rtol=0, atol=1e-15)
        for a, b in zip(
            torch.autograd.grad(v, (membrane, z), g),
            torch.autograd.grad(expected, (membrane, z), g),
        )
    )

def test_memories_registered_and_materialized():
    node = _node(recurrent=True, adaptation=True)
    names = [name for name, _ in node.named_memories()]
    assert names == [
        "v",
        "core_syn",
        "core_v",
        "core_spike",
        "core_rec",
        "core_bias",
        "core_reset",
        "core_adapt",
        "core_link",
    ]
    assert node.v == 0.0 and node.core_syn is None  # before the first step
    node(bernoulli((B, N_IN)))
    assert node.core_syn.shape == (B, N_OUT, N_IN)
    assert node.core_rec.shape == (B, N_OUT, N_OUT)
    assert node.v.shape == (B, N_OUT)
    shared = _node(heterogeneity="none")
    names = [n for n, _ in shared.named_memories()]
    assert names == ["v", "core_syn", "core_v", "core_spike", "core_link"]
    states = shared.materialize_states((bernoulli((B, N_IN)),), tuple(shared.memories()), "s")
    assert [tuple(s.shape) for s in states[:4]] == [(B, N_OUT)] * 4
    assert states[4] is None  # no link before the first step
    assert all(s.dtype == torch.float64 for s in states[:4])
    hard = _node(v_reset=-0.3)
    v = hard.materialize_states((bernoulli((T, B, N_IN)),), tuple(hard.memories()), "m")[0]
    assert torch.equal(v, torch.full((B, N_OUT), -0.3, dtype=torch.float64))


def test_reset_net_and_new_batch_size_start_afresh():
    node = _node(step_mode="m", recurrent=True)
    x = bernoulli((T, B, N_IN))
    first = node(x)
    assert not torch.equal(node(x), first)  # the state carries over between calls
    functional.reset_net(node)
    assert node.v == 0.0 and node.core_syn is None
    assert torch.equal(node(x), first)
    # As BaseNode: another batch size starts from a fresh state.
    assert torch.equal(node(x[:, :2]), first[:, :2])


def test_detach_net_truncates_backprop():
    node = _node(step_mode="m", store_v_seq=True)
    x1 = bernoulli((T, B, N_IN)).requires_grad_(True)
    x2 = bernoulli((T, B, N_IN), seed=1).requires_grad_(True)
    node(x1)
    held = [m for m in node.memories() if m is not None]  # the carries stay None in "m"
    assert len(held) >= 4 and all(m.requires_grad for m in held)
    functional.detach_net(node)
    assert not any(m.requires_grad for m in node.memories() if m is not None)
    assert not node.v_seq.requires_grad
    node(x2).sum().backward()
    assert x1.grad is None and x2.grad is not None and x2.grad.abs().sum() > 0
    # Without the detach the gradient reaches the first chunk.
    functional.reset_net(node)
    node(x1)
    node(x2).sum().backward()
    assert x1.grad is not None and x1.grad.abs().sum() > 0


@pytest.mark.parametrize("step_mode", ["s", "m"])
def test_to_functional_forward_is_pure_and_matches_forward(step_mode):
    node = _node(step_mode=step_mode, recurrent=True)
    x = bernoulli((T, B, N_IN) if step_mode == "m" else (B, N_IN))
    fn = base.to_functional_forward(node)
    initial = tuple(node.memories())
    (out,), states = fn((x,), initial)
    assert node.v == 0.0 and node.core_syn is None  # the module's memories are untouched
    expected = node(x)
    assert torch.equal(out, expected)
    for got, want in zip(states, node.memories(), strict=True):
        if isinstance(want, torch.Tensor):  # not core_link, the per-step path's bookkeeping
            assert torch.equal(got, want)
        else:
            assert type(got) is type(want)
    # Explicit states continue the sequence exactly as the module does.
    (out2,), _ = fn((x,), states)
    assert torch.equal(out2, node(x))
    with pytest.raises(ValueError, match="states"):
        fn((x,), initial[:-1])


def test_set_step_mode_and_seq_to_ann_container():
    torch.manual_seed(0)
    net = nn.Sequential(
        layer.SeqToANNContainer(nn.Linear(5, N_IN, dtype=torch.float64)),
        _node(recurrent=True),
        layer.SeqToANNContainer(nn.Linear(N_OUT, 2, dtype=torch.float64)),
    )
    functional.set_step_mode(net, "m")
    assert net[1].step_mode == "m"
    x = torch.rand(T, B, 5, dtype=torch.float64) * 3
    y = net(x)
    assert y.shape == (T, B, 2)
    y.sum().backward()
    assert net[0][0].weight.grad.abs().sum() > 0 and net[1].weight.grad.abs().sum() > 0
    # The same network stepped by hand with the node in single-step mode.
    functional.reset_net(net)
    net[1].step_mode = "s"
    stepped = torch.stack([net[2][0](net[1](net[0][0](x_t))) for x_t in x])
    torch.testing.assert_close(stepped, y, rtol=0, atol=1e-12)


def test_chunked_sequence_and_multi_step_container_match_one_call():
    """State carries across calls: chunks (functional.chunk_multi_step_forward) and a
    single-step node driven by layer.MultiStepContainer give the one-call result."""
    node = _node(step_mode="m", recurrent=True)
    x = bernoulli((T, B, N_IN))
    whole = node(x)
    functional.reset_net(node)
    chunked = functional.chunk_multi_step_forward(7, x, node)
    assert torch.equal(chunked, whole)
    functional.reset_net(node)
    node.step_mode = "s"
    assert torch.equal(layer.MultiStepContainer(node)(x), whole)


@pytest.fixture
def monitor():
    """SpikingJelly's monitor module, with the tensorboard it imports (installed by the
    Makefile beside SpikingJelly's other run-time needs, as the docs say)."""
    from spikingjelly.activation_based import monitor

    return monitor


def test_output_and_attribute_monitors(monitor):
    net = nn.Sequential(_node(step_mode="m", store_v_seq=True))
    node = net[0]
    out_mon = monitor.OutputMonitor(net, HetSynNode)
    v_mon = monitor.AttributeMonitor("v_seq", pre_forward=False, net=net, instance=HetSynNode)
    x = bernoulli((T, B, N_IN))
    spikes = net(x)
    assert len(out_mon.records) == 1 and torch.equal(out_mon.records[0], spikes)
    assert len(v_mon.records) == 1 and torch.equal(v_mon.records[0], node.v_seq)
    out_mon.remove_hooks()
    v_mon.remove_hooks()


def test_views_follow_the_core_and_are_read_only():
    node = _node(recurrent=True, adaptation=True)
    core = node.layer
    assert node.weight is core.weight and node.bias is core.bias
    assert node.recurrent_weight is core.recurrent_weight
    for name in ("syn_decay", "reset_decay", "recurrent_decay", "bias_decay", "adapt_decay"):
        assert torch.equal(getattr(node, name), getattr(core, name)), name
    assert node.syn_decay.shape == (N_OUT, N_IN)
    torch.testing.assert_close(node.tau, 1 / (1 - core.syn_decay))
    assert torch.all((node.tau >= 2.0 - 1e-9) & (node.tau <= 10.0 + 1e-9))  # Uniform(2, 10)
    with pytest.raises(AttributeError):
        node.syn_decay = torch.zeros(N_OUT, N_IN)
    assert "in_features=6, out_features=4" in repr(node)


def test_tau_in_steps_is_exact():
    """tau (SpikingJelly, in steps) -> decay 1 - 1/tau exactly, also per synapse."""
    tau = torch.rand(N_OUT, N_IN, dtype=torch.float64) * 20 + 1.5
    node = HetSynNode(N_IN, N_OUT, tau, tau_reset=3.0, learn_decays=False, dtype=torch.float64)
    assert torch.equal(node.syn_decay, 1 - 1 / tau)
    assert torch.equal(node.reset_decay, torch.full((N_OUT,), 1 - 1 / 3.0, dtype=torch.float64))
    direct = HetSynNode(N_IN, N_OUT, Decay(0.75), learn_decays=False)
    assert torch.all(direct.syn_decay == 0.75)
    drawn = HetSynNode(N_IN, N_OUT, Normal(20.0, 5.0), tau_reset=5.0, learn_decays=False)
    assert drawn.syn_decay.std() > 0 and torch.all(drawn.syn_decay > 0.5)


def test_surrogate_is_shared_with_the_core():
    node = _node()
    assert node.layer.spike_fn is node.surrogate_function
    new = surrogate.Sigmoid(alpha=2.0)
    node.surrogate_function = new
    assert node.layer.spike_fn is new and node.surrogate_function is new
    copied = copy.deepcopy(node)
    assert copied.layer.spike_fn is copied.surrogate_function is not new
    assert isinstance(HetSynNode(2, 2).surrogate_function, surrogate.Sigmoid)  # as LIFNode


def test_dtype_move_state_dict_and_detach_reset_flag():
    node = _node(step_mode="m", detach_reset=True)
    assert node.layer.config.detach_reset
    x = bernoulli((T, B, N_IN))
    out = node(x)
    node.float()
    assert node.weight.dtype == torch.float32 and node.core_syn.dtype == torch.float32
    clone = HetSynNode(N_IN, N_OUT, surrogate_function=surrogate.ATan())
    clone.load_state_dict(node.state_dict())
    node.double()
    clone.double()
    functional.reset_net(node)
    clone.step_mode = "m"
    assert torch.equal(clone(x), out) and torch.equal(node(x), out)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(tau=1.0), ValueError, r"tau must be > 1 everywhere.*got a minimum of 1\.0"),
        (dict(tau=Normal(1.2, 0.5)), ValueError, r"tau must be > 1.*Truncate a drawn tau above 1"),
        (dict(tau="2"), TypeError, "tau must be a float"),
        (dict(tau_reset=0.5), ValueError, "tau_reset must be > 1"),
        (dict(v_threshold="1"), TypeError, "v_threshold must be a finite float; got '1'"),
        (dict(v_reset=float("nan")), TypeError, "v_reset must be a finite float or None"),
        (dict(detach_reset=1), TypeError, "detach_reset must be a bool; got 1"),
        (dict(store_v_seq="yes"), TypeError, "store_v_seq must be a bool"),
        (dict(surrogate_function=3), TypeError, "surrogate_function must be a callable"),
        (dict(step_mode="x"), ValueError, r"step_mode must be one of 's', 'm'; got 'x'"),
        (dict(heterogeneity="all"), ValueError, "heterogeneity must be one of"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        HetSynNode(N_IN, N_OUT, **kwargs)


@pytest.mark.parametrize("step_mode", ["s", "m"])
def test_more_batch_dimensions_are_one_batch(step_mode):
    """SpikingJelly's (N, *) per step and (T, N, *) per sequence: the node runs the leading
    dimensions as one batch of N x ... rows, and keeps v shaped as SpikingJelly does."""
    node = _node(step_mode=step_mode, store_v_seq=True)
    flat = copy.deepcopy(node)
    x = bernoulli((T, B, 3, N_IN), p=0.4)
    if step_mode == "s":
        spikes = torch.stack([node(x_t) for x_t in x])
        expected = torch.stack([flat(x_t.reshape(-1, N_IN)) for x_t in x])
    else:
        spikes, expected = node(x), flat(x.reshape(T, -1, N_IN))
    assert spikes.shape == (T, B, 3, N_OUT) and 0 < spikes.sum() < spikes.numel()
    assert torch.equal(spikes.reshape(T, -1, N_OUT), expected)
    assert node.v.shape == (B, 3, N_OUT) and node.v_seq.shape == (T, B, 3, N_OUT)
    assert torch.equal(node.v.reshape(-1, N_OUT), flat.v)
    assert torch.equal(node.v_seq.reshape(T, -1, N_OUT), flat.v_seq)


def test_bad_inputs():
    node = _node()
    with pytest.raises(ValueError, match=r"input must have shape \(N, \*, in\) with in_features=6"):
        node(bernoulli((T, B, N_IN + 1)))
    with pytest.raises(ValueError, match=r"got shape \(6,\)"):
        node(bernoulli((N_IN,)))
    node.step_mode = "m"
    with pytest.raises(
        ValueError, match=r"shape \(T, N, \*, in\) with in_features=6; got shape \(3, 6\)"
    ):
        node(bernoulli((B, N_IN)))
    with pytest.raises(TypeError, match="input must be a torch.Tensor"):
        node([[0.0] * N_IN])
    with pytest.raises(TypeError, match="linear must be an nn.Linear; got Conv1d"):
        HetSynNode.from_linear_lif(nn.Conv1d(1, 1, 1), node)
    with pytest.raises(TypeError, match="LIFNode or ParametricLIFNode; got HetSynNode"):
        HetSynNode.from_linear_lif(nn.Linear(2, 2), node)


def test_symbolic_tracing_and_nir_export_refused_clearly():
    net = nn.Sequential(layer.Linear(3, N_IN), _node())
    with pytest.raises(NotImplementedError, match="cannot be traced symbolically.*every synapse"):
        torch.fx.symbolic_trace(net)


def test_nir_export_refused_clearly():
    pytest.importorskip("nirtorch")
    from spikingjelly.activation_based.nir_exchange import export_to_nir

    net = nn.Sequential(layer.Linear(3, N_IN), HetSynNode(N_IN, N_OUT))
    with pytest.raises(NotImplementedError, match="NIR export"):
        export_to_nir(net, torch.rand(2, 3))
