"""The timescale dial between one decay per synapse and one per neuron: the per-input layout
(``heterogeneity="input"``), dendritic branches (``"branch"``), and the membrane leak
(``membrane_decay``). Each is held to the identity it claims, exactly (float64): per input
with tied decays = per synapse; one branch = HetNeuLIF; one branch per input = HetSynLIF;
and the per-step path keeps the layout's state, never (B, out, in)."""

from __future__ import annotations

import pytest
import torch

from hetsyn_plugins.core import Decay, HetSynLIF, HetSynReadout, preset
from hetsyn_plugins.core.layouts import BRANCH, INPUT, PER_SYNAPSE, SHARED, SHARED_RESET

from ..conftest import bernoulli
from ..kernels.test_stepwise import saved_bytes_per_step

N_IN, N_OUT, B, T = 8, 5, 3, 40
F64 = torch.float64


def _decays(shape, seed, low=0.55, high=0.95):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=g, dtype=F64) * (high - low) + low


def _copy_common(src: HetSynLIF, dst: HetSynLIF) -> None:
    """Weights, bias, threshold and the per-neuron decays of ``src`` into ``dst``."""
    with torch.no_grad():
        dst.weight.copy_(src.weight)
        if src.bias is not None:
            dst.bias.copy_(src.bias)
        if src.recurrent_weight is not None:
            dst.recurrent_weight.copy_(src.recurrent_weight)
        dst.threshold.copy_(src.threshold)


def _assert_same_run(a: HetSynLIF, b: HetSynLIF, x: torch.Tensor, tol=1e-12):
    oa, ob = a.run(x), b.run(x)
    assert 0 < ob.spikes.sum() < ob.spikes.numel()
    assert torch.equal(oa.spikes, ob.spikes)
    torch.testing.assert_close(oa.membrane, ob.membrane, rtol=tol, atol=tol)
    return oa, ob


# --------------------------------------------------------------------------- layouts


def test_each_heterogeneity_picks_its_layout():
    assert HetSynLIF(4, 3, heterogeneity="input").layout is INPUT
    assert HetSynLIF(4, 3, heterogeneity="branch", branches=2).layout is BRANCH
    assert HetSynLIF(4, 3, membrane_decay=0.9).layout is PER_SYNAPSE
    assert HetSynLIF(4, 3, heterogeneity="neuron", membrane_decay=0.9).layout is SHARED_RESET
    assert HetSynLIF(4, 3, heterogeneity="neuron").layout is SHARED


@pytest.mark.parametrize("recurrent", [False, True])
@pytest.mark.parametrize("options", [{}, {"reset": "zero"}, {"adaptation": True},
                                     {"reset_timing": "at_spike", "decay_input": True}], ids=str)
@pytest.mark.parametrize("kernel", ["reference", "scan"])
def test_per_input_with_tied_decays_is_per_synapse(recurrent, options, kernel):
    """``r_ji = r_i`` (and ``q_jk = q_k``): the per-synapse rule, bit for bit in the spikes."""
    r, q, kappa = _decays(N_IN, 1), _decays(N_OUT, 2), _decays(N_OUT, 3)
    common = dict(recurrent=recurrent, dtype=F64, threshold=0.6, tau_reset=Decay(kappa),
                  **options)  # fmt: skip
    per_input = HetSynLIF(N_IN, N_OUT, heterogeneity="input", tau_syn=Decay(r),
                          tau_rec=Decay(q) if recurrent else None, kernel=kernel, **common)
    per_synapse = HetSynLIF(N_IN, N_OUT, tau_syn=Decay(r.expand(N_OUT, N_IN)),
                            tau_rec=Decay(q.expand(N_OUT, N_OUT)) if recurrent else None,
                            kernel="reference", **common)  # fmt: skip
    _copy_common(per_input, per_synapse)
    if options.get("adaptation"):
        with torch.no_grad():
            per_synapse.adapt_strength.copy_(per_input.adapt_strength)
    with torch.no_grad():
        per_input.weight.mul_(3.0)
        per_synapse.weight.mul_(3.0)
    x = bernoulli((T, B, N_IN), p=0.4)
    a, b = _assert_same_run(per_input, per_synapse, x)
    # the state: one trace per input, F_i = I_ji / w_ji
    assert a.state.syn.shape == (B, N_IN)
    torch.testing.assert_close(a.state.bias, b.state.bias, rtol=1e-12, atol=1e-12)
    # gradients: the per-input decay's is the per-synapse ones summed over neurons
    g = torch.linspace(-1, 1, a.membrane.numel(), dtype=F64).reshape(a.membrane.shape)
    ga = torch.autograd.grad((a.membrane * g).sum(),
                             [per_input.weight, per_input.decays["syn"].raw])  # fmt: skip
    gb = torch.autograd.grad((b.membrane * g).sum(),
                             [per_synapse.weight, per_synapse.decays["syn"].raw])  # fmt: skip
    torch.testing.assert_close(ga[0], gb[0], rtol=1e-9, atol=1e-11)
    torch.testing.assert_close(ga[1], gb[1].sum(0), rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("recurrent", [False, True])
@pytest.mark.parametrize("kernel", ["reference", "scan"])
def test_one_branch_is_hetneulif(recurrent, kernel):
    """K = 1 with the reset and bias decays tied to the branch's: HetNeuLIF (shared layout)."""
    rho = _decays(N_OUT, 4)
    branch = HetSynLIF(N_IN, N_OUT, heterogeneity="branch", branches=1, recurrent=recurrent,
                       tau_syn=Decay(rho[:, None]), tau_reset=Decay(rho), dtype=F64,
                       threshold=0.5, kernel=kernel)  # fmt: skip
    neuron = HetSynLIF(N_IN, N_OUT, heterogeneity="neuron", recurrent=recurrent,
                       tau_syn=Decay(rho), dtype=F64, threshold=0.5, kernel="reference")
    _copy_common(branch, neuron)
    x = bernoulli((T, B, N_IN), p=0.5)
    a, b = _assert_same_run(branch, neuron, x)
    assert a.state.syn.shape == (B, N_OUT, 1)


@pytest.mark.parametrize("recurrent", [False, True])
@pytest.mark.parametrize("kernel", ["reference", "scan"])
def test_one_branch_per_synapse_is_hetsynlif(recurrent, kernel):
    """K = in (+ out when recurrent) with the contiguous (identity) assignment: every synapse
    its own branch, HetSynLIF."""
    n = N_IN + (N_OUT if recurrent else 0)
    d, kappa = _decays((N_OUT, n), 5), _decays(N_OUT, 6)
    branch = HetSynLIF(N_IN, N_OUT, heterogeneity="branch", branches=n, recurrent=recurrent,
                       tau_syn=Decay(d), tau_reset=Decay(kappa), dtype=F64, threshold=0.5,
                       kernel=kernel)  # fmt: skip
    per_synapse = HetSynLIF(N_IN, N_OUT, recurrent=recurrent, tau_syn=Decay(d[:, :N_IN]),
                            tau_rec=Decay(d[:, N_IN:]) if recurrent else None,
                            tau_reset=Decay(kappa), dtype=F64, threshold=0.5, kernel="reference")
    _copy_common(branch, per_synapse)
    assert torch.equal(branch.branch_index[0], torch.arange(n))
    x = bernoulli((T, B, N_IN), p=0.5)
    a, b = _assert_same_run(branch, per_synapse, x)
    currents = b.state.syn if not recurrent else torch.cat([b.state.syn, b.state.rec], -1)
    torch.testing.assert_close(a.state.syn, currents, rtol=1e-12, atol=1e-12)


def test_branch_assignments():
    torch.manual_seed(0)
    contiguous = HetSynLIF(10, 3, heterogeneity="branch", branches=4)
    assert contiguous.branch_index[0].tolist() == [0, 0, 0, 1, 1, 2, 2, 2, 3, 3]
    assert contiguous.params().branches.blocks == ((0, 3), (3, 5), (5, 8), (8, 10))
    random = HetSynLIF(10, 3, heterogeneity="branch", branches=4, branch_assignment="random")
    assert random.params().branches.blocks is None
    for row in random.branch_index:  # a permutation of the same group sizes per neuron
        assert sorted(row.tolist()) == [0, 0, 0, 1, 1, 2, 2, 2, 3, 3]
    assert not torch.equal(random.branch_index[0], random.branch_index[1])
    mine = torch.tensor([[0, 1, 0], [1, 1, 0]])
    own = HetSynLIF(3, 2, heterogeneity="branch", branches=2, branch_assignment=mine)
    assert torch.equal(own.branch_index, mine)
    # every synapse in exactly one branch
    assert torch.equal(own.params().branches.mask.sum(0), torch.ones(2, 3))
    # the assignment is saved with the model
    assert "branch_index" in random.state_dict()


@pytest.mark.parametrize("assignment", ["contiguous", "random"])
def test_branch_layout_per_synapse_view(assignment):
    """``layer.syn_decay``: each synapse's decay is its branch's."""
    layer = HetSynLIF(7, 3, heterogeneity="branch", branches=3, branch_assignment=assignment,
                      tau_syn=Decay(_decays((3, 3), 7)), tau_reset=20.0)
    d = layer.decays["syn"]()
    for j in range(3):
        for i in range(7):
            assert layer.syn_decay[j, i] == d[j, layer.branch_index[j, i]]


def test_dhlif_preset():
    torch.manual_seed(1)
    layer = preset("DHLIF", 12, 4, branches=3)
    assert layer.layout is BRANCH and layer.spec.branch_assignment == "random"
    assert layer.membrane_decay is not None and layer.decays["leak"].learnable
    d = layer.decays["syn"]()
    assert d.shape == (4, 3) and bool(((d > 0.5) & (d < 1)).all())
    assert layer.run(bernoulli((5, 2, 12), p=0.5, dtype=torch.float32)).spikes.shape == (5, 2, 4)
    with pytest.raises(ValueError, match="heterogeneity must be 'branch' for the DHLIF"):
        preset("DHLIF", 12, 4, heterogeneity="synapse")


# --------------------------------------------------------------------------- leak


@pytest.mark.parametrize("timing", ["next_step", "at_spike"])
@pytest.mark.parametrize("kernel", ["reference", "scan"])
def test_membrane_leak_is_a_current_based_lif(timing, kernel):
    """``membrane_decay`` beta with every synaptic decay alpha: ``syn = alpha syn + W x + b``,
    ``mem = beta mem + syn - theta z`` (``next_step``; ``at_spike``: the reset leaks once)."""
    alpha, beta, theta = 0.8, 0.7, 0.6
    layer = HetSynLIF(N_IN, N_OUT, tau_syn=Decay(alpha), tau_bias=Decay(alpha),
                      membrane_decay=beta, threshold=theta, reset_timing=timing, dtype=F64,
                      kernel=kernel)  # fmt: skip
    x = bernoulli((T, B, N_IN), p=0.5)
    out = layer.run(x)
    syn = mem = torch.zeros(B, N_OUT, dtype=F64)
    z = torch.zeros(B, N_OUT, dtype=F64)
    spikes = []
    for x_t in x:
        syn = alpha * syn + torch.nn.functional.linear(x_t, layer.weight, layer.bias)
        if timing == "next_step":
            mem = beta * mem + syn - theta * z
        else:
            mem = beta * (mem - theta * z) + syn
        z = (mem > theta).to(F64)
        spikes.append(z)
    assert 0 < out.spikes.sum() < out.spikes.numel()
    assert torch.equal(out.spikes, torch.stack(spikes))
    assert out.state.reset is None  # the leaky membrane holds the reset


def test_leak_options_are_checked():
    with pytest.raises(ValueError, match="membrane_decay must lie in the open interval"):
        HetSynLIF(3, 2, membrane_decay=1.0)
    with pytest.raises(ValueError, match="tau_reset must be None with membrane_decay"):
        HetSynLIF(3, 2, membrane_decay=0.9, tau_reset=5.0)
    with pytest.raises(ValueError, match="learn_membrane_decay needs membrane_decay"):
        HetSynLIF(3, 2, learn_membrane_decay=True)
    with pytest.raises(ValueError, match="takes none of membrane_decay"):
        HetSynReadout(3, 2, membrane_decay=0.9)
    with pytest.raises(ValueError, match="branches needs heterogeneity='branch'"):
        HetSynLIF(3, 2, branches=2)
    with pytest.raises(ValueError, match="heterogeneity='branch' needs branches"):
        HetSynLIF(3, 2, heterogeneity="branch")
    with pytest.raises(ValueError, match="branches must be at most the 3 synapses"):
        HetSynLIF(3, 2, heterogeneity="branch", branches=4)
    with pytest.raises(ValueError, match=r"branch_assignment must be an integer tensor of shape"):
        HetSynLIF(3, 2, heterogeneity="branch", branches=2, branch_assignment=torch.zeros(2, 3))
    with pytest.raises(ValueError, match="branch_assignment must hold branches 0..1"):
        HetSynLIF(3, 2, heterogeneity="branch", branches=2,
                  branch_assignment=torch.full((2, 3), 2))
    with pytest.raises(ValueError, match="tau_rec must be None with heterogeneity='branch'"):
        HetSynLIF(3, 2, heterogeneity="branch", branches=2, recurrent=True, tau_rec=5.0)


# --------------------------------------------------------------------------- per step


@pytest.mark.parametrize(
    "options",
    [{"heterogeneity": "input", "recurrent": True}, {"heterogeneity": "branch", "branches": 4},
     {"heterogeneity": "branch", "branches": 4, "branch_assignment": "random",
      "recurrent": True}, {"heterogeneity": "input", "membrane_decay": 0.9}],
    ids=str,
)  # fmt: skip
def test_per_step_path_equals_the_sequence_and_keeps_the_layouts_state(options):
    torch.manual_seed(2)
    layer = HetSynLIF(N_IN, N_OUT, dtype=F64, threshold=0.4, **options)
    x = bernoulli((T, B, N_IN), p=0.5)
    whole = layer.run(x)
    state, membranes = None, []
    for x_t in x:
        out = layer.step(x_t, state)
        state, membranes = out.state, membranes + [out.membrane]
    torch.testing.assert_close(torch.stack(membranes), whole.membrane, rtol=1e-12, atol=1e-12)
    for field, shape in state.shapes().items():
        assert N_OUT * N_IN not in (shape[-1] * shape[-2] if len(shape) == 3 else 0,), field

    def growth(n_in):
        torch.manual_seed(0)
        big = HetSynLIF(n_in, 64, **options)
        xs = torch.rand(40, 8, n_in, requires_grad=True)
        holder = {"state": None}

        def step(t):
            out = big.step(xs[t], holder["state"])
            holder["state"] = out.state

        return saved_bytes_per_step(step, 10)

    one_state = 8 * 64 * 400 * 4  # one (B, out, in) float32 state at in = 400
    assert growth(400) < one_state / 4


def test_a_network_dials_its_hidden_layers():
    from hetsyn_plugins.tasks.network import SpikingNetwork

    net = SpikingNetwork(6, (4, 3), 2, model="HetSynLIF", recurrent=True,
                         hidden_heterogeneity="branch", branches=2)  # fmt: skip
    assert all(layer.layout is BRANCH for layer in net.hidden)
    assert net.readout.layout is PER_SYNAPSE  # the model's readout
    assert net(bernoulli((5, 2, 6), p=0.5, dtype=torch.float32)).readout.shape == (5, 2, 2)
