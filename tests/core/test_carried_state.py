"""One carried state: what the per-step path gets right because the state a step returns is
the whole truth of the layer's memory (silent-results issue, items 2, 3, 5, 6, 7; the
converted-model issue, item 1: torch.compile)."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

snn = pytest.importorskip("snntorch")
sj = pytest.importorskip("spikingjelly.activation_based")

from spikingjelly.activation_based import base, functional, layer, neuron  # noqa: E402

from hetsyn_plugins import convert  # noqa: E402
from hetsyn_plugins.adapters.snntorch import HetSynLeaky  # noqa: E402
from hetsyn_plugins.adapters.spikingjelly import HetSynNode  # noqa: E402
from hetsyn_plugins.core import HetSynLIF  # noqa: E402

from ..conftest import bernoulli  # noqa: E402

B, N_IN, N_OUT, T = 3, 6, 5, 30


def _leaky_pair(**leaky):
    torch.manual_seed(0)
    fc = nn.Linear(N_IN, N_OUT)
    with torch.no_grad():
        fc.weight.mul_(3.0)  # spikes often: a comparison that sees no spike is void
    return fc, snn.Leaky(beta=0.9, **leaky)


# --------------------------------------------------------------------------- snnTorch's mem


def test_membrane_edited_in_place_is_honoured_as_snn_leaky():
    """``spk, mem = lif(x, mem); mem += 1``: the next step starts from the edited membrane,
    as ``snn.Leaky``'s does (bit for bit with heterogeneity="none"), its reset included."""
    fc, leaky = _leaky_pair()
    lif = HetSynLeaky.from_leaky(fc, leaky, heterogeneity="none")
    x = bernoulli((T, B, N_IN), p=0.5, dtype=torch.float32)
    mem_a, mem_b = leaky.init_leaky(), lif.reset_mem()
    edits = 0
    for t, x_t in enumerate(x):
        spk_a, mem_a = leaky(fc(x_t), mem_a)
        spk_b, mem_b = lif(x_t, mem_b)
        assert torch.equal(spk_a, spk_b) and torch.equal(mem_a, mem_b), t
        if t % 7 == 3:
            with torch.no_grad():
                mem_a += 0.6
                mem_b += 0.6
            edits += 1
    assert edits >= 3


def test_membrane_edited_in_place_is_refused_where_it_is_not_the_state():
    lif = HetSynLeaky(N_IN, N_OUT, beta=0.9)  # per-synapse: mem is not the whole state
    x = bernoulli((2, B, N_IN))
    spk, mem = lif(x[0].float(), lif.reset_mem())
    with torch.no_grad():
        mem += 1
    with pytest.raises(ValueError, match="edited in place"):
        lif(x[1].float(), mem)
    # the layer's own kept membrane (init_hidden's idiom: no mem passed) is checked too
    with pytest.raises(ValueError, match="edited in place"):
        lif(x[1].float())


def test_mem_detach_in_place_truncates_like_detach():
    """snnTorch's truncated BPTT: ``mem.detach_()`` on the returned membrane (a view could not
    be detached in place) cuts the graph as passing ``mem.detach()`` does."""
    x = bernoulli((T, B, 2, N_IN), p=0.4, dtype=torch.float32)

    def grads(cut):
        torch.manual_seed(0)
        lif = HetSynLeaky(N_IN, N_OUT, beta=0.9, sequence=False)  # (B, 2, in): a reshape
        mem, loss = lif.reset_mem(), 0
        g = torch.linspace(-1, 1, B * 2 * N_OUT).reshape(B, 2, N_OUT)
        for t, x_t in enumerate(x):
            spk, mem = lif(x_t, mem)
            loss = loss + (mem * g).sum()  # saves g, not mem (which mem.detach_() changes)
            if t == 12:
                mem = cut(mem)
        return torch.autograd.grad(loss, [lif.weight])[0]

    def in_place(mem):
        mem.detach_()
        return mem

    detached, full = grads(torch.Tensor.detach), grads(lambda m: m)
    assert not torch.allclose(detached, full)  # the cut matters
    torch.testing.assert_close(grads(in_place), detached, rtol=0, atol=0)


def test_another_batch_shape_starts_from_rest():
    """``sequence=False``: (2, 3, in) then (3, 2, in) is another batch, though of as many
    rows: the state restarts from rest, as the docs say."""
    lif = HetSynLeaky(N_IN, N_OUT, beta=0.9, sequence=False, dtype=torch.float64)
    with torch.no_grad():
        lif.layer.weight.mul_(3.0)
    fresh = copy.deepcopy(lif)
    a, b = bernoulli((2, 3, N_IN), seed=1), bernoulli((3, 2, N_IN), seed=2)
    for _ in range(3):
        lif(a)
    spk, mem = lif(b)
    want_spk, want_mem = fresh(b)
    assert torch.equal(spk, want_spk) and torch.equal(mem, want_mem)
    assert lif(b)[1].shape == (3, 2, N_OUT)


# --------------------------------------------------------------------------- parameters


@pytest.mark.parametrize(
    "options",
    [{}, {"decay_input": True}, {"recurrent": True, "self_connections": False}],
    ids=str,
)
@pytest.mark.parametrize("kernel", ["auto", "reference"])
def test_parameters_edited_through_data_mid_sequence_are_seen(options, kernel):
    """An edit through ``.data`` moves no version counter; the decoded parameters a per-step
    loop reuses are checked by contents, so the next step sees it, as it sees an edit
    through the optimizer (here: in place under no_grad)."""
    x = bernoulli((T, B, N_IN), p=0.5)
    outs = []
    for through_data in (True, False):
        torch.manual_seed(0)
        lif = HetSynLIF(N_IN, N_OUT, kernel=kernel, dtype=torch.float64, **options)
        with torch.no_grad():
            lif.weight.mul_(3.0)
        state, spikes = None, []
        for t, x_t in enumerate(x):
            out = lif.step(x_t, state)
            state = out.state
            spikes.append(out.membrane)
            if t == 10:
                raw = lif.decays["syn" if "syn" in lif.decays else "membrane"].raw
                edits = [(lif.weight, (0, 0), 2.5), (raw, (0,) * raw.dim(), 3.0)]
                if lif.recurrent_weight is not None:
                    edits.append((lif.recurrent_weight, (1, 0), -1.5))
                for p, index, value in edits:
                    if through_data:
                        p.data[index] = value
                    else:
                        with torch.no_grad():
                            p[index] = value
        outs.append(torch.stack(spikes))
    assert torch.equal(outs[0], outs[1])


# --------------------------------------------------------------------------- SpikingJelly's v


def _node_pair(v_reset=0.0):
    torch.manual_seed(0)
    fc = layer.Linear(N_IN, N_OUT)
    with torch.no_grad():
        fc.weight.mul_(3.0)
    lif = neuron.LIFNode(tau=2.0, v_reset=v_reset)
    return fc, lif, HetSynNode.from_linear_lif(fc, lif, heterogeneity="none")


@pytest.mark.parametrize("v_reset", [0.0, None])
def test_v_set_before_the_first_step_is_honoured(v_reset):
    """SpikingJelly's own tests set ``module.v`` before the first call."""
    fc, lif, node = _node_pair(v_reset)
    x = bernoulli((20, B, N_IN), p=0.4, dtype=torch.float32)
    at_rest = torch.stack([lif(fc(x_t)) for x_t in x])
    functional.reset_net(lif)
    v0 = torch.full((B, N_OUT), 0.95)
    lif.v, node.v = v0.clone(), v0.clone()
    want = torch.stack([lif(fc(x_t)) for x_t in x])
    got = torch.stack([node(x_t) for x_t in x])
    assert not torch.equal(want, at_rest)  # the set v matters
    assert torch.equal(got, want)
    assert torch.allclose(node.v, lif.v)


def test_v_passed_to_the_functional_forward_reaches_the_outputs():
    fc, lif, node = _node_pair()
    x = torch.zeros(B, N_IN)
    fn_node, fn_lif = base.to_functional_forward(node), base.to_functional_forward(lif)
    v0 = torch.full((B, N_OUT), 2.5)  # v + (x - v) / tau = 1.25 + fc's bias / 2: fires
    (got,), states = fn_node((x,), (v0, *tuple(node.memories())[1:]))
    (want,), _ = fn_lif((fc(x),), (v0,))
    assert want.sum() > 0 and torch.equal(got, want)
    assert torch.allclose(states[0], torch.zeros_like(v0))  # hard reset after the spike


def test_v_set_where_it_is_not_the_state_is_refused():
    node = HetSynNode(N_IN, N_OUT, tau=2.0)  # per-synapse
    node.v = torch.full((B, N_OUT), 0.5)
    with pytest.raises(ValueError, match="v set by the user"):
        node(torch.zeros(B, N_IN))


# --------------------------------------------------------------------------- torch.compile


class _SnnTorchNet(nn.Module):
    """snnTorch tutorial 5's loop, small."""

    def __init__(self):
        super().__init__()
        self.fc1, self.lif1 = nn.Linear(N_IN, 8), snn.Leaky(beta=0.9)
        self.fc2, self.lif2 = nn.Linear(8, 3), snn.Leaky(beta=0.9)

    def forward(self, x):
        mem1, mem2 = self.lif1.init_leaky(), self.lif2.init_leaky()
        out = []
        for _ in range(4):
            spk1, mem1 = self.lif1(self.fc1(x), mem1)
            spk2, mem2 = self.lif2(self.fc2(spk1), mem2)
            out.append(mem2)
        return torch.stack(out)


class _SpikingJellyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            layer.Linear(N_IN, 8), neuron.LIFNode(), layer.Linear(8, 3), neuron.LIFNode()
        )

    def forward(self, x):
        functional.reset_net(self.net)
        return torch.stack([self.net(x) + self.net[-1].v for _ in range(4)])


@pytest.mark.parametrize("host", [_SnnTorchNet, _SpikingJellyNet])
@pytest.mark.parametrize("heterogeneity", ["synapse", "neuron", "none"])
def test_compiled_converted_model_trains_like_the_eager_one(host, heterogeneity):
    """The converted-model issue's crash: an eager and a compiled no_grad run, then a compiled
    training step (forward, backward, optimizer step, forward again), equal to eager."""
    torch.manual_seed(0)
    model = convert(host(), heterogeneity=heterogeneity)
    twin = copy.deepcopy(model)
    x = torch.rand(B, N_IN) * 3
    with torch.no_grad():
        model(x)
    compiled = torch.compile(model, backend="eager")
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), twin(x))
    for m, fwd in ((model, compiled), (twin, twin)):
        opt = torch.optim.SGD(m.parameters(), lr=0.5)
        fwd(x).square().sum().backward()
        opt.step()
    torch.testing.assert_close(compiled(x), twin(x))
    model.eval(), twin.eval()
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), twin(x))


@pytest.mark.parametrize("frozen", [False, True])
def test_a_per_step_loop_decodes_its_parameters_once_per_chain(monkeypatch, frozen):
    """The decoded parameters travel with the state: one decoding per chain, for a trained
    layer and for a frozen one in grad mode (whose decoding has no graph to lose)."""
    calls = []
    params = HetSynLIF.params
    monkeypatch.setattr(HetSynLIF, "params", lambda self: calls.append(1) or params(self))
    lif = HetSynLIF(N_IN, N_OUT, dtype=torch.float64)
    lif.requires_grad_(not frozen)
    state = None
    for x_t in bernoulli((6, B, N_IN)):
        state = lif.step(x_t, state).state
    assert len(calls) == 1
    lif.step(bernoulli((B, N_IN)), state.detach())  # a cut state starts a new chain
    assert len(calls) == 2
