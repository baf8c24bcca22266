"""hetsyn_plugins.convert: existing snnTorch / SpikingJelly models -> HetSyn, exactly (issue 6).

Every equivalence test runs the original and the converted model on the same random input and
compares spikes (identical) and membranes/outputs (bit for bit where the conversion is exact
by construction, else within ``TOL``: one rounding of the decay through its logit
parametrization and per-synapse sums in float32).
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from torch import nn

snn = pytest.importorskip("snntorch")
sj = pytest.importorskip("spikingjelly.activation_based.neuron")

from snntorch import utils as snn_utils
from spikingjelly.activation_based import functional, layer, neuron, surrogate

import hetsyn_plugins
from hetsyn_plugins import convert
from hetsyn_plugins.adapters.snntorch import HetSynLeaky
from hetsyn_plugins.adapters.spikingjelly import HetSynNode

TOL = 1e-5
NUM_STEPS = 4  # a module-level constant, as in snnTorch's tutorials (fx unrolls the loop)


def _statuses(report):
    return {e.modules: e.status for e in report}


def _drive(*linears, gain=3.0):
    """Stronger weights, so that the layers spike often (a test that sees no spike is void)."""
    with torch.no_grad():
        for lin in linears:
            lin.weight.mul_(gain)


class TutorialNet(nn.Module):
    """snnTorch tutorial 5: Linear -> Leaky -> Linear -> Leaky, explicit mem, loop over time."""

    def __init__(self, n_in=784, n_hidden=1000, n_out=10, beta=0.95, **leaky):
        super().__init__()
        self.fc1 = nn.Linear(n_in, n_hidden)
        self.lif1 = snn.Leaky(beta=beta, **leaky)
        self.fc2 = nn.Linear(n_hidden, n_out)
        self.lif2 = snn.Leaky(beta=beta, **leaky)

    def forward(self, x):
        mem1 = self.lif1.init_leaky()
        mem2 = self.lif2.init_leaky()
        spk2_rec, mem2_rec = [], []
        for _ in range(NUM_STEPS):
            cur1 = self.fc1(x.flatten(1))
            spk1, mem1 = self.lif1(cur1, mem1)
            cur2 = self.fc2(spk1)
            spk2, mem2 = self.lif2(cur2, mem2)
            spk2_rec.append(spk2)
            mem2_rec.append(mem2)
        return torch.stack(spk2_rec), torch.stack(mem2_rec)


def _check_same(original, converted, x, exact):
    spk_a, mem_a = original(x)
    spk_b, mem_b = converted(x)
    assert spk_a.sum() > 0  # the comparison is not void
    assert torch.equal(spk_a, spk_b)
    if exact:
        assert torch.equal(mem_a, mem_b)
    else:
        torch.testing.assert_close(mem_b, mem_a, rtol=0, atol=TOL)


def test_snntorch_tutorial_mlp_784_1000_10():
    net = TutorialNet()
    _drive(net.fc1, net.fc2, gain=4.0)
    x = torch.rand(2, 1, 28, 28)
    new, report = convert(net, return_report=True)
    assert [e.modules for e in report.converted] == ["fc1 + lif1", "fc2 + lif2"]
    assert isinstance(new.lif1, HetSynLeaky) and isinstance(new.fc1, nn.Identity)
    assert new.lif1.syn_decay.shape == (1000, 784)
    assert new.lif1.layer.decays["syn"].raw.requires_grad  # learnable per-synapse decays
    assert isinstance(net.lif1, snn.Leaky)  # the original is untouched (inplace=False)
    _check_same(net, new, x, exact=False)


@pytest.mark.parametrize("heterogeneity", ["none", "neuron", "synapse"])
@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_snntorch_explicit_mem_random_parameters(heterogeneity, reset):
    per_neuron = heterogeneity != "none"
    beta = torch.rand(24) * 0.8 + 0.1 if per_neuron else 0.83
    net = TutorialNet(20, 24, 6, beta=beta, reset_mechanism=reset, threshold=0.7)
    net.lif2.beta = torch.rand(6) * 0.8 + 0.1 if per_neuron else net.lif2.beta
    _drive(net.fc1, net.fc2)
    x = torch.rand(5, 20)
    new = convert(net, heterogeneity=heterogeneity, learn_decays=False)
    _check_same(net, new, x, exact=heterogeneity != "synapse")


def _run_steps(model, x):
    """Reset (``snntorch.utils.reset``), then step an ``init_hidden`` model returning
    ``(spk, mem)`` through ``x`` (T, ...); stacked spikes and membranes."""
    snn_utils.reset(model)
    outs = [model(x_t) for x_t in x]
    return torch.stack([s for s, _ in outs]), torch.stack([m for _, m in outs])


def _check_same_steps(original, converted, x):
    spk_a, mem_a = _run_steps(original, x)
    spk_b, mem_b = _run_steps(converted, x)
    assert spk_a.sum() > 0 and torch.equal(spk_a, spk_b)
    torch.testing.assert_close(mem_b, mem_a, rtol=0, atol=TOL)


def test_clamp_parametrization_keeps_learnable_decays_exact():
    net = TutorialNet(12, 9, 3, beta=0.85, threshold=0.6)
    net.lif1.beta = torch.rand(9) * 0.8 + 0.1
    _drive(net.fc1, net.fc2)
    new = convert(net, heterogeneity="neuron", decay_parametrization="clamp")
    assert new.lif1.layer.decays["membrane"].raw.requires_grad
    _check_same(net, new, torch.rand(5, 12), exact=True)


def test_snntorch_sequential_init_hidden():
    net = nn.Sequential(
        nn.Flatten(),
        nn.Linear(30, 40),
        snn.Leaky(beta=0.9, init_hidden=True, threshold=0.8),
        nn.Linear(40, 5),
        snn.Leaky(beta=0.7, init_hidden=True, output=True),
    )
    _drive(net[1], net[3])
    new, report = convert(net, tau_jitter=0.0, return_report=True)
    assert _statuses(report) == {"1 + 2": "converted", "3 + 4": "converted", "0": "kept"}
    assert isinstance(new[2], HetSynLeaky) and new[2].init_hidden and new[4].output
    x = torch.rand(NUM_STEPS, 3, 5, 6)
    _check_same_steps(net, new, x)
    spk_b, _ = _run_steps(new, x)  # utils.reset reaches the converted layers: the same again
    assert torch.equal(spk_b, _run_steps(net, x)[0])


def test_conv_front_end_only_the_head_is_converted():
    net = nn.Sequential(
        nn.Conv2d(1, 4, 3),
        nn.MaxPool2d(2),
        snn.Leaky(beta=0.8, init_hidden=True),
        nn.Flatten(),
        nn.Linear(4 * 3 * 3, 8),
        snn.Leaky(beta=0.9, init_hidden=True, output=True),
    )
    _drive(net[0], net[4])
    new, report = convert(net, return_report=True)
    status = _statuses(report)
    assert status == {"0": "kept", "1": "kept", "2": "kept", "3": "kept", "4 + 5": "converted"}
    assert "MaxPool2d, not a Linear" in {e.modules: e.detail for e in report}["2"]
    assert type(new[0]) is nn.Conv2d and type(new[2]) is snn.Leaky
    _check_same_steps(net, new, torch.rand(NUM_STEPS, 2, 1, 8, 8))


@pytest.mark.parametrize("heterogeneity", ["neuron", "synapse"])
def test_snntorch_rleaky_network(heterogeneity):
    net = nn.Sequential(
        nn.Linear(10, 16),
        snn.RLeaky(beta=torch.rand(16) * 0.8 + 0.1, linear_features=16, init_hidden=True),
        nn.Linear(16, 4),
        snn.RLeaky(beta=0.8, linear_features=4, init_hidden=True, output=True, threshold=0.6),
    )
    _drive(net[0], net[2], net[1].recurrent, net[3].recurrent)
    new, report = convert(net, heterogeneity=heterogeneity, return_report=True)
    assert [e.modules for e in report.converted] == ["0 + 1", "2 + 3"]
    assert new[1].layer.recurrent and new[1].recurrent_decay.shape == (16, 16)
    x = torch.rand(8, 3, 10)

    def run(model):
        snn_utils.reset(model)
        spk1, outs = [], []
        for x_t in x:
            h = model[1](model[0](x_t))
            spk1.append(h)
            outs.append(model[3](model[2](h)))
        return (
            torch.stack(spk1),
            torch.stack([s for s, _ in outs]),
            torch.stack([m for _, m in outs]),
        )

    hidden_a, spk_a, mem_a = run(net)
    hidden_b, spk_b, mem_b = run(new)
    assert hidden_a.sum() > 0 and spk_a.sum() > 0
    assert torch.equal(hidden_a, hidden_b) and torch.equal(spk_a, spk_b)
    torch.testing.assert_close(mem_b, mem_a, rtol=0, atol=TOL)


RLEAKY_STEPS = 120  # >= 100 steps of the tutorial loop below (fx unrolls it)


class RLeakyTutorialNet(nn.Module):
    """snnTorch's RLeaky example: explicit (spk, mem) state, a loop over time; a hidden layer
    with an all-to-all recurrence (``linear_features``) and an output layer with a one-to-one
    recurrence (``all_to_all=False``, per-neuron ``V``), random parameters."""

    def __init__(self, reset_mechanism="subtract", scalar_beta=False, n_in=10, n_hidden=16):
        super().__init__()
        beta1 = torch.tensor(0.85) if scalar_beta else torch.rand(n_hidden) * 0.8 + 0.1
        beta2 = torch.tensor(0.7) if scalar_beta else torch.rand(4) * 0.8 + 0.1
        self.fc1 = nn.Linear(n_in, n_hidden)
        self.rlif1 = snn.RLeaky(
            beta=beta1,
            linear_features=n_hidden,
            threshold=torch.rand(n_hidden) * 0.5 + 0.75,
            reset_mechanism=reset_mechanism,
        )
        self.fc2 = nn.Linear(n_hidden, 4)
        self.rlif2 = snn.RLeaky(
            beta=beta2,
            all_to_all=False,
            V=torch.randn(4),
            threshold=0.6,
            reset_mechanism=reset_mechanism,
        )
        _drive(self.fc1, self.rlif1.recurrent)

    def forward(self, x):  # x: (T, B, in)
        spk1, mem1 = self.rlif1.init_rleaky()
        spk2, mem2 = self.rlif2.reset_mem()  # RLeaky's reset_mem returns (spk, mem) too
        record = [], [], [], []
        for step in range(RLEAKY_STEPS):
            cur1 = self.fc1(x[step])
            spk1, mem1 = self.rlif1(cur1, spk1, mem1)
            cur2 = self.fc2(spk1)
            spk2, mem2 = self.rlif2(cur2, spk2, mem2)
            for rec, value in zip(record, (spk1, mem1, spk2, mem2)):
                rec.append(value)
        return tuple(torch.stack(r) for r in record)


def _check_rleaky_same(net, new, x):
    """Same spikes in both layers, membranes within float32 rounding (the sums are grouped
    differently), and the same input gradients through the fed-back spikes."""
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    weights = torch.rand(x.shape[0], x.shape[1], 4)
    outs = []
    for model, xx in ((net, xa), (new, xb)):
        spk1, mem1, spk2, mem2 = model(xx)
        ((mem2 * weights).sum() + mem1[::7].sum()).backward()
        outs.append((spk1, mem1, spk2, mem2))
    (spk1_a, mem1_a, spk2_a, mem2_a), (spk1_b, mem1_b, spk2_b, mem2_b) = outs
    for spk in (spk1_a, spk2_a):  # not void: both layers spike, not always
        assert 0 < spk.count_nonzero() < spk.numel()
    assert torch.equal(spk1_a, spk1_b) and torch.equal(spk2_a, spk2_b)
    for a, b in ((mem1_a, mem1_b), (mem2_a, mem2_b)):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-4)
    assert xa.grad.abs().max() > 0
    torch.testing.assert_close(xb.grad, xa.grad, rtol=1e-4, atol=1e-5 * xa.grad.abs().max())


@pytest.mark.parametrize("reset_mechanism", ["subtract", "none"])
@pytest.mark.parametrize("heterogeneity", ["none", "neuron", "synapse"])
def test_snntorch_rleaky_tutorial_explicit_state(heterogeneity, reset_mechanism):
    net = RLeakyTutorialNet(reset_mechanism, scalar_beta=heterogeneity == "none")
    new, report = convert(net, heterogeneity=heterogeneity, return_report=True)
    assert _statuses(report) == {"fc1 + rlif1": "converted", "fc2 + rlif2": "converted"}
    for lif in (new.rlif1, new.rlif2):
        assert type(lif) is HetSynLeaky and lif.layer.recurrent
        assert lif.call_convention == "rleaky" and lif.layer.heterogeneity == heterogeneity
    assert type(new.fc1) is nn.Identity
    # the one-to-one recurrence is the diagonal recurrent weight diag(V)
    assert torch.equal(new.rlif2.recurrent_weight, torch.diag(net.rlif2.V.detach()))
    x = torch.rand(RLEAKY_STEPS, 3, 10)
    _check_rleaky_same(net, new, x)
    _check_rleaky_same(net, new, torch.rand(RLEAKY_STEPS, 5, 10))  # a new batch size


def test_rleaky_one_to_one_weight_set_after_construction():
    """snnTorch's regression tutorial 2 sets ``rlif.V`` after construction; snnTorch's forward
    keeps using ``rlif.recurrent.V`` (the value at construction). The conversion takes what
    the forward uses."""
    torch.manual_seed(1)
    net = RLeakyTutorialNet()
    net.rlif2.V = nn.Parameter(torch.rand(1))  # not seen by snnTorch's forward
    new = convert(net, heterogeneity="neuron")
    used = torch.as_tensor(net.rlif2.recurrent.V).detach()
    assert not torch.equal(used, net.rlif2.V.detach())
    assert torch.equal(new.rlif2.recurrent_weight, torch.diag(used))
    _check_rleaky_same(net, new, torch.rand(RLEAKY_STEPS, 3, 10))


def test_converted_rleaky_tutorial_fine_tunes_per_synapse_decays():
    net = RLeakyTutorialNet()
    new = convert(net, heterogeneity="synapse")
    lif = new.rlif1
    syn, rec = lif.syn_decay.detach().clone(), lif.recurrent_decay.detach().clone()
    # it starts with one decay per neuron (beta_j), repeated along every row
    assert torch.equal(syn, syn[:, :1].expand_as(syn))
    optimizer = torch.optim.Adam(new.parameters(), lr=1e-2)
    x = torch.rand(RLEAKY_STEPS, 4, 10)
    target = torch.rand(RLEAKY_STEPS, 4, 4)
    for _ in range(3):
        optimizer.zero_grad()
        _, _, _, mem2 = new(x)
        loss = ((mem2 - target) ** 2).mean()
        loss.backward()
        optimizer.step()
    assert lif.weight.grad is not None and lif.recurrent_weight.grad.abs().sum() > 0
    changed = lif.syn_decay.detach()
    assert not torch.equal(changed, syn) and not torch.equal(lif.recurrent_decay.detach(), rec)
    # the decays of one neuron's synapses now differ: per-synapse time constants were learned
    assert (changed.std(dim=1) > 0).any()
    out_decay = new.rlif2.syn_decay.detach()
    assert not torch.equal(out_decay, out_decay[:, :1].expand_as(out_decay))


def _sj_mlp(v_reset, decay_input):
    return nn.Sequential(
        layer.Flatten(step_mode="m"),
        layer.SeqToANNContainer(nn.Linear(12, 16)),
        neuron.LIFNode(
            tau=float(torch.empty(()).uniform_(1.5, 4.0)),
            decay_input=decay_input,
            v_reset=v_reset,
            v_threshold=0.8,
            surrogate_function=surrogate.ATan(),
            step_mode="m",
        ),
        layer.Linear(16, 4, step_mode="m"),
        neuron.ParametricLIFNode(init_tau=3.0, v_reset=v_reset, step_mode="m"),
    )


@pytest.mark.parametrize("v_reset", [None, 0.0])
@pytest.mark.parametrize("decay_input", [True, False])
def test_spikingjelly_multistep_mlp(v_reset, decay_input):
    net = _sj_mlp(v_reset, decay_input)
    _drive(net[1][0], net[3], gain=6.0)
    new, report = convert(net, return_report=True)
    assert _statuses(report) == {"0": "kept", "1 + 2": "converted", "3 + 4": "converted"}
    assert isinstance(new[2], HetSynNode) and new[2].step_mode == "m"
    assert new[2].syn_decay.shape == (16, 12)
    x = torch.rand(6, 3, 3, 4)  # (T, N, 3, 4) -> flattened to 12
    outs = []
    for model in (net, new):
        functional.reset_net(model)
        outs.append(model(x))
    assert outs[0].sum() > 0 and torch.equal(outs[0], outs[1])
    torch.testing.assert_close(new[4].v, net[4].v, rtol=0, atol=TOL)


def test_spikingjelly_exact_with_fixed_shared_decay():
    net = _sj_mlp(None, False)
    _drive(net[1][0], net[3], gain=6.0)
    new = convert(net, heterogeneity="none", learn_decays=False)
    x = torch.rand(6, 3, 3, 4)
    a, b = net(x), new(x)
    assert a.sum() > 0 and torch.equal(a, b)


@pytest.mark.parametrize("parametrization", ["logit", "clamp"])
@pytest.mark.parametrize("heterogeneity", ["none", "neuron", "synapse"])
def test_learn_decays_false_keeps_the_hosts_decays_as_they_were(heterogeneity, parametrization):
    """``learn_decays=False``: a fixed beta stays fixed at its exact value, a learnable one
    (``learn_beta=True``) stays learnable (with ``"clamp"``, also at its exact value)."""
    torch.manual_seed(0)
    net = TutorialNet(10, 16, 3, beta=0.9)
    net.lif2 = snn.Leaky(beta=torch.tensor(0.83), learn_beta=True)
    _drive(net.fc1, net.fc2)
    new = convert(
        net, heterogeneity=heterogeneity, learn_decays=False, decay_parametrization=parametrization
    )
    fixed, learned = new.lif1.layer, new.lif2.layer
    assert not any(p.requires_grad for p in fixed.decays.parameters())
    assert all(not d.learnable for d in fixed.decays.values())
    assert torch.equal(fixed.syn_decay, torch.full_like(fixed.syn_decay, 0.9))  # exact
    assert all(d.learnable for d in learned.decays.values())
    if parametrization == "clamp":  # learned directly: exact too
        assert torch.equal(learned.syn_decay, torch.full_like(learned.syn_decay, 0.83))
    x = torch.rand(8, 10)
    (spk, mem), (spk_new, mem_new) = net(x), new(x)
    assert 0 < spk.sum() and torch.equal(spk, spk_new)
    if heterogeneity != "synapse" and parametrization == "clamp":
        assert torch.equal(mem, mem_new)  # bit for bit
    else:
        torch.testing.assert_close(mem_new, mem, rtol=0, atol=TOL)
    mem_new.sum().backward()
    assert all(d.raw.grad is not None for d in learned.decays.values())


def test_fine_tuning_learns_heterogeneous_decays():
    net = TutorialNet(10, 16, 3, beta=0.9)
    _drive(net.fc1, net.fc2)
    new = convert(net, tau_jitter=0.2, generator=torch.Generator().manual_seed(0))
    decay0 = new.lif1.syn_decay.detach().clone()
    assert decay0.std(dim=1).min() > 0  # jittered per synapse at init
    x = torch.rand(8, 10)
    target = torch.rand(NUM_STEPS, 8, 3)
    opt = torch.optim.Adam(new.parameters(), lr=0.05)
    losses = []
    for _ in range(8):
        opt.zero_grad()
        _, mem = new(x)
        loss = ((mem - target) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    assert not torch.allclose(new.lif1.syn_decay, decay0)
    assert bool(((new.lif1.syn_decay > 0) & (new.lif1.syn_decay < 1)).all())


def test_jitter_is_reproducible_and_zero_jitter_keeps_the_decays():
    net = TutorialNet(6, 5, 2, beta=0.8)
    g = lambda: torch.Generator().manual_seed(3)
    a = convert(net, tau_jitter=0.3, generator=g()).lif1.syn_decay
    b = convert(net, tau_jitter=0.3, generator=g()).lif1.syn_decay
    c = convert(net).lif1.syn_decay
    assert torch.equal(a, b) and not torch.allclose(a, c)
    torch.testing.assert_close(c, torch.full((5, 6), 0.8), rtol=0, atol=1e-7)


# --------------------------------------------------------------------------- refusals


class Branchy(nn.Module):
    """fc1's output also goes elsewhere; fc2's is scaled before the neuron; fc3 + lif3 pair."""

    def __init__(self):
        super().__init__()
        self.fc1, self.lif1 = nn.Linear(4, 4), snn.Leaky(beta=0.9)
        self.fc2, self.lif2 = nn.Linear(4, 4), snn.Leaky(beta=0.9)
        self.fc3, self.lif3 = nn.Linear(4, 4), snn.Leaky(beta=0.9)

    def forward(self, x):
        cur1 = self.fc1(x)
        spk1, _ = self.lif1(cur1)
        spk2, _ = self.lif2(2.0 * self.fc2(spk1))
        spk3, _ = self.lif3(self.fc3(spk2))
        return spk3 + cur1


def test_data_flow_other_than_linear_to_neuron_is_kept():
    new, report = convert(Branchy(), return_report=True)
    status = _statuses(report)
    assert status["fc3 + lif3"] == "converted"
    for name in ("fc1", "lif1", "fc2", "lif2"):
        assert status[name] == "kept"
    detail = {e.modules: e.detail for e in report}
    assert "not fed straight into one spiking neuron" in detail["fc1"]
    assert "mul" in detail["fc2"] and "mul" in detail["lif2"]
    assert type(new.fc1) is nn.Linear and type(new.lif2) is snn.Leaky


@pytest.mark.parametrize(
    "make, reason",
    [
        (
            lambda: snn.Synaptic(alpha=0.5, beta=0.9, init_hidden=True, reset_mechanism="zero"),
            "zeroes the new input",
        ),
        (
            lambda: snn.RLeaky(beta=0.9, conv2d_channels=5, kernel_size=3, init_hidden=True),
            "got a Conv2d recurrence",
        ),
        (
            lambda: snn.RLeaky(beta=0.9, V=torch.ones(3), all_to_all=False, init_hidden=True),
            "V must be a scalar or have shape (5,)",
        ),
        (
            lambda: snn.RLeaky(
                beta=0.9, linear_features=5, init_hidden=True, reset_mechanism="zero"
            ),
            "zeroes the new input",
        ),
        (
            lambda: snn.RLeaky(beta=0.9, V=0.5, all_to_all=False, reset_mechanism="zero"),
            "zeroes the new input",
        ),
        (lambda: snn.Leaky(beta=0.9, reset_delay=False, init_hidden=True), "reset_delay=False"),
        (lambda: snn.Leaky(beta=1.0, init_hidden=True), "beta must lie in the open interval"),
        (lambda: snn.Alpha(alpha=0.6, beta=0.5, init_hidden=True), "no HetSyn counterpart"),
        (lambda: neuron.IFNode(), "no HetSyn counterpart"),
    ],
)
def test_pairs_without_an_exact_equivalent_are_refused(make, reason):
    net = nn.Sequential(nn.Linear(3, 5), make())
    new, report = convert(net, return_report=True)
    (entry,) = report.refused
    assert entry.modules == "0 + 1" and reason in entry.detail
    assert type(new[1]) is type(net[1]) and type(new[0]) is nn.Linear


@pytest.mark.parametrize("heterogeneity", ["none", "synapse"])
def test_converted_models_take_more_batch_dimensions_per_step(heterogeneity):
    """Token inputs: snnTorch neurons take (B, *, F) per step, SpikingJelly nodes (T, N, *):
    the converted layers run the leading dimensions as one batch, as the originals do."""
    torch.manual_seed(0)

    class Tokens(nn.Module):  # snnTorch, an explicit mem loop over (B, L, F) steps
        def __init__(self):
            super().__init__()
            self.fc, self.lif = nn.Linear(6, 5), snn.Leaky(beta=0.8)

        def forward(self, x):
            mem, out = self.lif.init_leaky(), []
            for x_t in x:
                spk, mem = self.lif(self.fc(x_t), mem)
                out.append(spk)
            return torch.stack(out), mem

    net = Tokens()
    _drive(net.fc)
    x = torch.rand(7, 3, 4, 6)  # T, B, L, F
    new = convert(net, heterogeneity=heterogeneity)
    spk, mem = net(x)
    spk_new, mem_new = new(x)
    assert spk.shape == spk_new.shape == (7, 3, 4, 5) and mem_new.shape == (3, 4, 5)
    assert 0 < spk.sum() < spk.numel() and torch.equal(spk, spk_new)
    torch.testing.assert_close(mem_new, mem, rtol=0, atol=TOL)

    sj = nn.Sequential(layer.Linear(6, 5, step_mode="m"), neuron.LIFNode(tau=2.0, step_mode="m"))
    _drive(sj[0], gain=4.0)
    new_sj, report = convert(sj, heterogeneity=heterogeneity, return_report=True)
    assert [e.status for e in report] == ["converted"]
    out, out_new = sj(x), new_sj(x)
    assert 0 < out.sum() < out.numel() and torch.equal(out, out_new)
    torch.testing.assert_close(new_sj[1].v, sj[1].v, rtol=0, atol=TOL)


def test_untraceable_forward_is_reported_and_children_searched():
    class Loop(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc, self.lif = nn.Linear(3, 4), snn.Leaky(beta=0.9)
            self.head = nn.Sequential(nn.Linear(4, 2), snn.Leaky(beta=0.8, init_hidden=True))

        def forward(self, x):  # a loop over a traced size: fx cannot unroll it
            return [self.head(self.lif(self.fc(x_t))[0]) for x_t in x]

    _, report = convert(Loop(), return_report=True)
    status = _statuses(report)
    assert status == {"fc": "kept", "lif": "kept", "head.0 + head.1": "converted"}
    assert "cannot be traced by torch.fx" in report.kept[0].detail
    text = str(report)
    assert "head.0 + head.1" in text and "1 converted, 0 refused, 2 kept" in text


def test_untraceable_forward_that_opens_a_nested_sequential_keeps_it():
    """A forward torch.fx cannot trace that calls a nested Sequential's parts directly: the
    Sequential's pair is refused (converting it changed the output), a Sequential that the
    same forward only calls whole is still converted."""

    class Opens(nn.Module):
        def __init__(self):
            super().__init__()
            self.seq = nn.Sequential(nn.Linear(3, 4), snn.Leaky(beta=0.9, init_hidden=True))
            self.head = nn.Sequential(nn.Linear(4, 2), snn.Leaky(beta=0.8, init_hidden=True))

        def forward(self, x):  # a loop over a traced size: fx cannot unroll it
            out = []
            for x_t in x:
                cur = self.seq[0](x_t)  # the Linear alone, skipping the Sequential's neuron
                out.append(self.head(self.seq(x_t) + cur))
            return torch.stack(out)

    torch.manual_seed(0)
    net = Opens()
    x = torch.rand(6, 2, 3)
    snn_utils.reset(net)
    expected = net(x)
    new, report = convert(net, return_report=True)
    status = _statuses(report)
    assert status["head.0 + head.1"] == "converted"
    assert status["seq.0"] == status["seq.1"] == "kept"
    detail = {e.modules: e.detail for e in report.kept}["seq.0"]
    assert "uses seq other than by calling it (self.seq[0])" in detail
    assert type(new.seq[0]) is nn.Linear and type(new.seq[1]) is snn.Leaky
    snn_utils.reset(new)
    torch.testing.assert_close(new(x), expected, rtol=0, atol=1e-6)


def test_untraceable_forward_without_source_keeps_its_containers():
    namespace = {"nn": nn, "snn": snn}
    exec(  # a class whose source inspect cannot read
        "class NoSource(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.seq = nn.Sequential(nn.Linear(3, 4), snn.Leaky(beta=0.9, init_hidden=True))\n"
        "    def forward(self, x):\n"
        "        return [self.seq[0](x_t) for x_t in x]\n",
        namespace,
    )
    _, report = convert(namespace["NoSource"](), return_report=True)
    assert not report.converted
    assert all("its source cannot be read" in e.detail for e in report.kept)


def test_sequential_subclass_with_its_own_forward_is_traced_not_chained():
    class Skip(nn.Sequential):
        def forward(self, x):  # the Linear's output also skips past the neuron
            cur = self[0](x)
            return self[1](cur) + cur

    net = Skip(nn.Linear(3, 3), snn.Leaky(beta=0.9, init_hidden=True))
    new, report = convert(net, return_report=True)
    assert not report.converted and type(new[0]) is nn.Linear
    assert "not fed straight into one spiking neuron" in report.kept[0].detail


def test_input_passed_by_keyword():
    class Kw(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc, self.lif = nn.Linear(3, 4), snn.Leaky(beta=0.9)
            self.fc2, self.lif2 = nn.Linear(3, 4), snn.Leaky(beta=0.9)

        def forward(self, x, mem):
            a = self.lif(mem=mem, input_=self.fc(x))  # the Linear feeds input_: a pair
            b = self.lif2(input_=x.sum() * mem, mem=self.fc2(x))  # it feeds mem: not one
            return a, b

    _, report = convert(Kw(), return_report=True)
    assert _statuses(report) == {"fc + lif": "converted", "fc2": "kept", "lif2": "kept"}


def test_module_registered_twice_is_not_converted():
    net = nn.Sequential(nn.Linear(3, 4), snn.Leaky(beta=0.9, init_hidden=True))
    net.alias = net[0]  # replacing "0" would leave "alias" pointing at the Linear
    new, report = convert(net, return_report=True)
    assert not report.converted and type(new[1]) is snn.Leaky
    assert "registered under several names (0, alias)" in report.kept[0].detail


class SJStepNet(nn.Module):
    """SpikingJelly single-step network with a Python loop over time in a custom forward."""

    def __init__(self):
        super().__init__()
        self.fc1 = layer.Linear(6, 10)
        self.sn1 = neuron.LIFNode(tau=2.5, v_reset=None)
        self.fc2 = layer.Linear(10, 3)
        self.sn2 = neuron.ParametricLIFNode(init_tau=2.0, decay_input=False)

    def forward(self, x_seq):
        return torch.stack([self.sn2(self.fc2(self.sn1(self.fc1(x_seq[t])))) for t in range(5)])


def test_spikingjelly_custom_forward_single_step():
    net = SJStepNet()
    _drive(net.fc1, net.fc2, gain=5.0)
    new, report = convert(net, heterogeneity="neuron", return_report=True)
    assert [e.modules for e in report.converted] == ["fc1 + sn1", "fc2 + sn2"]
    assert isinstance(new.sn1, HetSynNode) and new.sn1.step_mode == "s"
    x = torch.rand(5, 4, 6)
    outs = []
    for model in (net, new):
        functional.reset_net(model)
        outs.append(model(x))
    assert outs[0].sum() > 0 and torch.equal(outs[0], outs[1])
    torch.testing.assert_close(new.sn2.v, net.sn2.v, rtol=0, atol=TOL)


def test_inplace_and_argument_errors():
    net = nn.Sequential(nn.Linear(3, 4), snn.Leaky(beta=0.9, init_hidden=True))
    assert convert(net, inplace=True) is net and isinstance(net[1], HetSynLeaky)
    assert hetsyn_plugins.convert is convert
    with pytest.raises(TypeError, match="model must be a torch.nn.Module; got str"):
        convert("net")
    with pytest.raises(ValueError, match="heterogeneity must be one of .*; got 'layer'"):
        convert(net, heterogeneity="layer")
    with pytest.raises(ValueError, match="tau_jitter must be a finite float >= 0; got -0.1"):
        convert(net, tau_jitter=-0.1)
    with pytest.raises(ValueError, match="tau_jitter needs heterogeneity"):
        convert(net, tau_jitter=0.1, heterogeneity="none")
    with pytest.raises(TypeError, match="inplace must be a bool; got 1"):
        convert(net, inplace=1)


def test_converting_twice_keeps_hetsyn_layers():
    net = nn.Sequential(nn.Linear(3, 4), snn.Leaky(beta=0.9, init_hidden=True))
    _, report = convert(convert(net), return_report=True)
    assert {e.status for e in report} == {"kept"}
    assert "already a HetSyn layer" in {e.modules: e.detail for e in report}["1"]
    net = nn.Sequential(nn.Linear(3, 4), HetSynLeaky(4, 2, beta=0.9, init_hidden=True))
    new, report = convert(net, return_report=True)
    assert [(e.modules, e.status) for e in report] == [("0 + 1", "kept")]
    assert type(new[0]) is nn.Linear


def test_converting_after_a_forward_pass():
    # The neurons then hold states in the autograd graph, which plain deepcopy refuses.
    snn_net = TutorialNet(5, 4, 2)
    sj_net = nn.Sequential(layer.Linear(5, 4), neuron.LIFNode(tau=2.0, step_mode="m"))
    sj_net(torch.rand(3, 2, 5))
    x = torch.rand(2, 5)
    spk, _ = snn_net(x)
    new = convert(snn_net)
    assert torch.equal(new(x)[0], spk)
    assert isinstance(convert(sj_net)[1], HetSynNode)


def test_works_with_only_one_host_installed():
    code = (
        "import sys; sys.modules['spikingjelly'] = None  # as if not installed\n"
        "import torch, snntorch as snn, hetsyn_plugins\n"
        "net = torch.nn.Sequential(torch.nn.Linear(3, 4), snn.Leaky(beta=0.9, init_hidden=True))\n"
        "new, report = hetsyn_plugins.convert(net, return_report=True)\n"
        "print(len(report.converted), type(new[1]).__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["1", "HetSynLeaky"]


@pytest.mark.parametrize("host", ["snntorch", "spikingjelly"])
def test_converted_modules_keep_the_mode_of_the_ones_they_replace(host):
    """A model converted in eval mode stays in eval mode, its new layers included (the
    converted-model issue, item 3)."""
    if host == "snntorch":
        model = TutorialNet(n_in=8, n_hidden=6, n_out=3)
    else:
        model = nn.Sequential(layer.Linear(8, 6), neuron.LIFNode(), layer.Linear(6, 3),
                              neuron.LIFNode())  # fmt: skip
    for training in (False, True):
        model.train(training)
        converted = convert(model)
        modes = {name: m.training for name, m in converted.named_modules()}
        assert set(modes.values()) == {training}, modes


@pytest.mark.parametrize("host", ["snntorch", "spikingjelly"])
def test_a_meta_model_is_refused_by_name(host):
    """The converted-model issue, item 2: a clear error instead of torch's bare one."""
    if host == "snntorch":
        model = TutorialNet(n_in=8, n_hidden=6, n_out=3)
    else:
        model = nn.Sequential(layer.Linear(8, 6), neuron.LIFNode())
    with pytest.raises(ValueError, match=r"convert needs the model's values.*meta device"):
        convert(model.to("meta"))


def test_a_linear_ending_a_larger_container_says_what_stopped_it():
    """The converted-model issue, item 5: the reason names the container, not a missing
    neuron."""
    model = nn.Sequential(
        layer.SeqToANNContainer(nn.Flatten(), nn.Linear(16, 8)), neuron.LIFNode(step_mode="m")
    )
    _, report = convert(model, return_report=True)
    reasons = {e.modules: e.detail for e in report}
    why = reasons["0.1"]
    assert "ends a SeqToANNContainer that holds more than it (Flatten, Linear)" in why
    assert "before the LIFNode" in why and "not followed" not in why
