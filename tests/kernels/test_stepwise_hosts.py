"""The memory-flat per-step path through both host faces and a converted snnTorch model: the
bytes autograd keeps per step, and stale states reused through the hosts' own calls."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import hetsyn_plugins

from .test_stepwise import saved_bytes_per_step

snn = pytest.importorskip("snntorch")
sj = pytest.importorskip("spikingjelly.activation_based")
from spikingjelly.activation_based import base, functional, layer, neuron  # noqa: E402

BATCH = 4
SIZES = ((32, 32), (32, 256), (256, 32))


def _growth_bounds(growth):
    for (n_in, n_out), g in growth.items():
        assert g <= 16 * BATCH * (n_in + n_out) * 4, (n_in, n_out, g)
    assert growth[(32, 256)] - growth[(32, 32)] <= 16 * BATCH * (256 - 32) * 4


@pytest.mark.parametrize("init_hidden", [False, True])
def test_snntorch_face_saves_no_synapse_tensor_per_step(init_hidden):
    growth = {}
    for n_in, n_out in SIZES:
        lif = snn.HetSynLeaky(n_in, n_out, beta=0.9, recurrent=True, init_hidden=init_hidden,
                              learn_beta=True)  # fmt: skip
        x = torch.randn(BATCH, n_in, requires_grad=True)
        mem = {"mem": lif.reset_mem()}

        def step(t, lif=lif, x=x, mem=mem):
            if init_hidden:
                lif(x)
            else:
                _, mem["mem"] = lif(x, mem["mem"])

        growth[(n_in, n_out)] = saved_bytes_per_step(step, 6)
    _growth_bounds(growth)


def test_spikingjelly_single_step_saves_no_synapse_tensor_per_step():
    growth = {}
    for n_in, n_out in SIZES:
        node = neuron.HetSynNode(n_in, n_out, 10.0, recurrent=True, step_mode="s")
        x = torch.randn(BATCH, n_in, requires_grad=True)
        growth[(n_in, n_out)] = saved_bytes_per_step(lambda t, node=node, x=x: node(x), 6)
    _growth_bounds(growth)


class _Tutorial5(nn.Module):
    """snnTorch tutorial 5's network (784-1000-10 there), explicit ``mem`` loop."""

    def __init__(self, n_in, n_hidden, n_out=10, num_steps=5):
        super().__init__()
        self.num_steps = num_steps
        self.fc1, self.lif1 = nn.Linear(n_in, n_hidden), snn.Leaky(beta=0.95)
        self.fc2, self.lif2 = nn.Linear(n_hidden, n_out), snn.Leaky(beta=0.95)

    def forward(self, x):
        mem1, mem2 = self.lif1.init_leaky(), self.lif2.init_leaky()
        spk_rec = []
        for step in range(self.num_steps):
            spk1, mem1 = self.lif1(self.fc1(x[step]), mem1)
            spk2, mem2 = self.lif2(self.fc2(spk1), mem2)
            spk_rec.append(spk2)
        return torch.stack(spk_rec)


def test_converted_tutorial_model_saves_no_synapse_tensor_per_step():
    growth = {}
    for n_in, n_hidden in SIZES:
        models = {
            T: hetsyn_plugins.convert(_Tutorial5(n_in, n_hidden, num_steps=T), heterogeneity="synapse")
            for T in (5, 10)
        }
        assert all(isinstance(m.lif1, snn.HetSynLeaky) for m in models.values())

        def per_T(T, models=models, n_in=n_in):
            return lambda _: models[T](torch.randn(T, BATCH, n_in, requires_grad=True))

        # the model's own loop over T steps: growth per step between T = 5 and T = 10
        small = saved_bytes_per_step(per_T(5), 1)
        large = saved_bytes_per_step(per_T(10), 1)
        growth[(n_in, n_hidden)] = (large - small) / 5
    _growth_bounds(growth)


def test_snntorch_stale_state_raises():
    lif = snn.HetSynLeaky(5, 4, beta=0.9)
    x = torch.rand(6, 2, 5)
    mem = lif.reset_mem()
    for x_t in x[:3]:
        _, mem = lif(x_t, mem)
    kept = lif.state
    for x_t in x[3:]:
        _, mem = lif(x_t, mem)
    with pytest.raises(RuntimeError, match="stale"):
        lif(x[0], kept)
    with pytest.raises(ValueError, match="mem"):  # an old membrane of a per-synapse layer
        lif(x[0], torch.ones(2, 4))


def test_snntorch_truncated_bptt_with_detached_mem():
    """snnTorch's truncated BPTT idiom, a detached alias of mem, gives the reference's
    gradients (the per-synapse currents are cut too)."""
    torch.manual_seed(0)
    kw = {"tau_syn": hetsyn_plugins.Normal(8.0, 2.0), "learn_beta": True}
    fast = snn.HetSynLeaky(5, 4, **kw)
    ref = snn.HetSynLeaky(5, 4, kernel="reference", **kw)
    ref.load_state_dict(fast.state_dict())
    x = torch.rand(40, 2, 5) * 2
    for lif in (fast, ref):
        mem, loss = lif.reset_mem(), 0
        for t, x_t in enumerate(x):
            if t % 10 == 0:
                mem = mem.detach()
            spk, mem = lif(x_t, mem)
            loss = loss + (spk + mem).sum()
        loss.backward()
    assert fast.layer.weight.grad.abs().sum() > 0
    for a, b in zip(fast.parameters(), ref.parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-5, atol=1e-6)


def test_spikingjelly_functional_forward_twice_from_one_state_raises():
    node = neuron.HetSynNode(5, 4, 10.0, step_mode="s")
    fn = base.to_functional_forward(node)
    x = torch.rand(2, 5)
    _, states = fn((x,), tuple(node.memories()))
    _, later = fn((x,), states)
    with pytest.raises(RuntimeError, match="stale"):
        fn((x,), states)
    fn((x,), later)  # the latest continues


def test_spikingjelly_converted_step_mode_s_matches_original():
    torch.manual_seed(0)
    net = nn.Sequential(layer.Linear(6, 8), neuron.LIFNode(tau=2.0, step_mode="s"))
    converted = hetsyn_plugins.convert(net, heterogeneity="synapse")
    x = torch.rand(30, 3, 6) * 2
    outs = []
    for model in (net, converted):
        functional.reset_net(model)
        outs.append(torch.stack([model(x_t) for x_t in x]))
    assert outs[0].sum() > 0
    assert torch.equal(outs[0], outs[1])
