"""HetSynNode against SpikingJelly's own LIFNode and ParametricLIFNode (DESIGN.md sections 1, 4).

With ``heterogeneity="none"`` a HetSynNode built by ``from_linear_lif`` from
``layer.Linear(W, b)`` + ``LIFNode(tau, decay_input, v_reset)`` must give identical spikes over
150 steps, the same stored voltage ``v`` (SpikingJelly's is post-reset) up to float rounding,
and the same gradients in float64 with the same surrogate.
"""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("spikingjelly.activation_based.neuron")

from spikingjelly.activation_based import functional, layer, neuron, surrogate

from hetsyn_plugins.adapters.spikingjelly import HetSynNode

from ..conftest import bernoulli

B, N_IN, N_OUT, T = 4, 7, 5, 150
# Voltages differ by float rounding only (SpikingJelly computes v - v/tau, the core r * v).
V_TOL = {torch.float64: 1e-12, torch.float32: 1e-5}


def _host(tau, decay_input, v_reset, dtype, plif=False, detach_reset=False, step_mode="m"):
    """A random layer.Linear + (P)LIFNode with enough drive to spike and reset often."""
    lin = layer.Linear(N_IN, N_OUT, step_mode=step_mode).to(dtype)
    with torch.no_grad():
        lin.weight.uniform_(-0.5, 1.5).mul_(tau if decay_input else 1.0)
        lin.bias.uniform_(-0.2, 0.2)
    kwargs = dict(
        decay_input=decay_input,
        v_threshold=0.9,
        v_reset=v_reset,
        surrogate_function=surrogate.ATan(),
        detach_reset=detach_reset,
        step_mode=step_mode,
        store_v_seq=True,
    )
    lif = (
        neuron.ParametricLIFNode(init_tau=tau, **kwargs) if plif else neuron.LIFNode(tau, **kwargs)
    )
    return lin, lif.to(dtype)


def _run(fn, node, x):
    """Spikes and stored voltages of ``fn`` (ending in ``node``), in ``node``'s step mode."""
    if node.step_mode == "m":
        return fn(x), node.v_seq
    spikes, vs = [], []
    for x_t in x:
        spikes.append(fn(x_t))
        vs.append(node.v)
    return torch.stack(spikes), torch.stack(vs)


def _run_host(lin, lif, x):
    return _run(lambda x: lif(lin(x)), lif, x)


def _run_node(node, x):
    return _run(node, node, x)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
@pytest.mark.parametrize("v_reset", [None, 0.0, -0.5], ids=lambda v: f"v_reset={v}")
@pytest.mark.parametrize("decay_input", [True, False], ids=lambda d: f"decay_input={d}")
@pytest.mark.parametrize("step_mode", ["s", "m"])
def test_lif_spikes_and_voltages_equal(step_mode, decay_input, v_reset, dtype):
    tau = float(torch.empty(()).uniform_(1.5, 8.0))
    lin, lif = _host(tau, decay_input, v_reset, dtype, step_mode=step_mode)
    node = HetSynNode.from_linear_lif(lin, lif)
    assert node.heterogeneity == "none" and node.step_mode == step_mode
    x = bernoulli((T, B, N_IN), dtype=dtype, seed=3)

    host_spikes, host_v = _run_host(lin, lif, x)
    spikes, v = _run_node(node, x)

    rate = host_spikes.mean().item()
    assert 0.05 < rate < 0.6, rate  # the comparison covers many spikes and resets
    assert torch.equal(spikes, host_spikes)
    # SpikingJelly's stored v is the voltage after the reset; the node's v is the same.
    torch.testing.assert_close(v, host_v, rtol=0, atol=V_TOL[dtype])
    torch.testing.assert_close(node.v, lif.v, rtol=0, atol=V_TOL[dtype])


@pytest.mark.parametrize("v_reset", [None, 0.0, 0.3], ids=lambda v: f"v_reset={v}")
@pytest.mark.parametrize("decay_input", [True, False], ids=lambda d: f"decay_input={d}")
@pytest.mark.parametrize("detach_reset", [False, True], ids=lambda d: f"detach_reset={d}")
def test_lif_gradients_equal_float64(detach_reset, decay_input, v_reset):
    tau = 3.0
    lin, lif = _host(tau, decay_input, v_reset, torch.float64, detach_reset=detach_reset)
    node = HetSynNode.from_linear_lif(lin, lif)
    assert node.detach_reset == detach_reset
    x = bernoulli((T, B, N_IN), seed=5).requires_grad_(True)
    g_s = torch.randn(T, B, N_OUT, dtype=torch.float64)
    g_v = torch.randn(T, B, N_OUT, dtype=torch.float64)

    def grads(run, params):
        x.grad = None
        spikes, v = run(x)
        ((spikes * g_s).sum() + (v * g_v).sum()).backward()
        return [x.grad.clone()] + [p.grad.clone() for p in params]

    host = grads(lambda x: _run_host(lin, lif, x), [lin.weight, lin.bias])
    mine = grads(lambda x: _run_node(node, x), [node.weight, node.bias])
    # the node keeps W and b (decay_input scales them inside, as LIFNode scales its input)
    assert node.decay_input == decay_input and torch.equal(node.weight, lin.weight)
    assert host[0].abs().sum() > 0
    for h, m in zip(host, mine):
        torch.testing.assert_close(m, h, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("v_reset", [None, 0.0], ids=lambda v: f"v_reset={v}")
@pytest.mark.parametrize("decay_input", [True, False], ids=lambda d: f"decay_input={d}")
def test_parametric_lif_equal_with_learnable_decay(decay_input, v_reset):
    tau = 2.5
    lin, plif = _host(tau, decay_input, v_reset, torch.float64, plif=True)
    with torch.no_grad():
        plif.w.fill_(-0.9)  # another tau than init_tau: the conversion reads w
    node = HetSynNode.from_linear_lif(lin, plif)
    raw = node.layer.decays["membrane"].raw
    assert raw.requires_grad
    torch.testing.assert_close(node.syn_decay[0, 0], 1 - torch.sigmoid(plif.w), rtol=0, atol=1e-15)

    x = bernoulli((T, B, N_IN), seed=7)
    g_s = torch.randn(T, B, N_OUT, dtype=torch.float64)
    host_spikes, host_v = _run_host(lin, plif, x)
    spikes, v = _run_node(node, x)
    assert 0.05 < host_spikes.mean().item() < 0.6
    assert torch.equal(spikes, host_spikes)
    torch.testing.assert_close(v, host_v, rtol=0, atol=1e-12)

    (host_spikes * g_s).sum().backward()
    (spikes * g_s).sum().backward()
    # The node's decay is sigmoid(raw) with raw = -w, so d/dw = -d/draw; with decay_input the
    # input scale 1 - sigmoid(raw) = sigmoid(w) follows it inside the node, as in the PLIF.
    torch.testing.assert_close(node.weight.grad, lin.weight.grad, rtol=1e-9, atol=1e-12)
    assert plif.w.grad.abs() > 0
    torch.testing.assert_close(-raw.grad, plif.w.grad, rtol=1e-9, atol=1e-12)


def test_reset_net_then_same_result():
    """A second sequence after functional.reset_net matches a fresh host as well."""
    lin, lif = _host(4.0, False, None, torch.float64)
    node = HetSynNode.from_linear_lif(lin, lif)
    for seed in (1, 2):
        x = bernoulli((T, B, N_IN), seed=seed)
        assert torch.equal(_run_node(node, x)[0], _run_host(lin, lif, x)[0])
        functional.reset_net(node)
        functional.reset_net(lif)


def test_fires_at_equality_as_spikingjelly():
    """SpikingJelly fires on v >= v_threshold: the node uses the host's surrogate, so a membrane
    exactly at the threshold spikes, as in LIFNode (the core's default spike needs v > theta)."""
    lin = layer.Linear(1, 1, bias=False).double()
    with torch.no_grad():
        lin.weight.fill_(1.0)
    lif = neuron.LIFNode(tau=2.0, decay_input=False, v_threshold=1.0).double()
    node = HetSynNode.from_linear_lif(lin, lif)
    x = torch.ones(1, 1, dtype=torch.float64)
    assert lif(lin(x)).item() == 1.0
    assert node(x).item() == 1.0
    assert node.layer.spike_fn is lif.surrogate_function


@pytest.mark.parametrize("v_reset", [None, 0.0, -0.5], ids=lambda v: f"v_reset={v}")
@pytest.mark.parametrize("step_mode", ["s", "m"])
def test_v_set_by_the_user_is_honoured(step_mode, v_reset):
    """``node.v = ...`` (SpikingJelly's own tests and code do it) mid-sequence: the node
    carries on from that voltage exactly as the LIFNode does."""
    lin, lif = _host(3.0, False, v_reset, torch.float64, step_mode=step_mode)
    node = HetSynNode.from_linear_lif(lin, lif)
    x = bernoulli((40, B, N_IN), dtype=torch.float64, seed=7)
    _run_host(lin, lif, x[:20]), _run_node(node, x[:20])
    v = torch.rand(B, N_OUT, dtype=torch.float64) * 1.2 - 0.2
    lif.v, node.v = v.clone(), v.clone()
    (host_spikes, host_v), (spikes, node_v) = _run_host(lin, lif, x[20:]), _run_node(node, x[20:])
    assert 0 < host_spikes.sum() < host_spikes.numel()
    assert torch.equal(spikes, host_spikes)
    torch.testing.assert_close(node_v, host_v, rtol=0, atol=1e-12)
    lif.v, node.v = 0.25, 0.25  # a float, as BaseNode's v_reset
    assert torch.equal(_run_node(node, x[:5])[0], _run_host(lin, lif, x[:5])[0])


def test_v_set_by_the_user_where_it_is_not_the_whole_state_raises():
    node = HetSynNode(N_IN, N_OUT, step_mode="s")  # per-synapse currents
    x = bernoulli((3, B, N_IN), seed=1, dtype=torch.float32)
    node(x[0])
    node.v = torch.zeros(B, N_OUT)
    with pytest.raises(ValueError, match="a v set by the user can set the node's state only"):
        node(x[1])
    functional.reset_net(node)
    node(x[0])
    node.v = torch.zeros(B + 1, N_OUT)
    with pytest.raises(ValueError, match=r"v must be a float or a tensor of shape"):
        node(x[1])


@pytest.mark.parametrize("decay_input", [True, False], ids=lambda d: f"decay_input={d}")
def test_node_in_place_of_linear_and_lif_with_the_same_tau(decay_input):
    """``HetSynNode(tau=...)`` written in place of ``layer.Linear`` + ``LIFNode(tau=...)``
    (``decay_input`` True by default in both) gives the same spikes: the input is scaled
    by 1/tau as LIFNode scales it."""
    tau = 3.0
    lin, lif = _host(tau, decay_input, 0.0, torch.float64)
    kwargs = {} if decay_input else {"decay_input": False}
    node = HetSynNode(N_IN, N_OUT, tau, heterogeneity="none", v_threshold=0.9,
                      surrogate_function=surrogate.ATan(), store_v_seq=True, step_mode="m",
                      dtype=torch.float64, **kwargs)  # fmt: skip
    assert node.decay_input == decay_input
    with torch.no_grad():
        node.layer.weight.copy_(lin.weight)
        node.layer.bias.copy_(lin.bias)
    x = bernoulli((T, B, N_IN), dtype=torch.float64, seed=4)
    (host_spikes, host_v), (spikes, v) = _run_host(lin, lif, x), _run_node(node, x)
    assert 0.05 < host_spikes.mean().item() < 0.6 and torch.equal(spikes, host_spikes)
    torch.testing.assert_close(v, host_v, rtol=0, atol=1e-12)
