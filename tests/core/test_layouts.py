"""Layouts as types (``core.layouts``): each layout's rule against the per-synapse rule with
tied decays, its fused loop against its twin, and the state it carries: a shared model with
a reset current of its own (the paper's SHD baselines) keeps no per-synapse state."""

from __future__ import annotations

import pytest
import torch

from hetsyn_plugins.core import Decay, HetSynLIF
from hetsyn_plugins.core.layouts import LAYOUTS, PER_SYNAPSE, SHARED, SHARED_RESET, by_name
from hetsyn_plugins.tasks.network import SpikingNetwork, paper_model_options

from ..conftest import bernoulli

N_IN, N_OUT, B, T = 9, 6, 3, 40
F64 = torch.float64


def test_a_layer_picks_its_layout_once_from_its_options():
    assert HetSynLIF(3, 2).layout is PER_SYNAPSE
    assert HetSynLIF(3, 2, heterogeneity="neuron").layout is SHARED
    assert HetSynLIF(3, 2, heterogeneity="none", tau_reset=20.0).layout is SHARED_RESET
    assert HetSynLIF(3, 2, heterogeneity="none", tau_reset=20.0).params().layout is SHARED_RESET
    assert [by_name(layout.name) for layout in LAYOUTS] == list(LAYOUTS)
    import copy
    import pickle

    assert pickle.loads(pickle.dumps(SHARED_RESET)) is SHARED_RESET
    assert copy.deepcopy(HetSynLIF(3, 2, heterogeneity="neuron")).layout is SHARED


def _tied_pair(heterogeneity, recurrent, reset, adaptation):
    """A shared layer with its own reset current, and the per-synapse layer whose every
    synaptic decay of neuron j is that layer's rho_j (and the same kappa_j)."""
    g = torch.Generator().manual_seed(3)
    shape = (N_OUT,) if heterogeneity == "neuron" else ()
    rho = torch.rand(shape, generator=g, dtype=F64) * 0.3 + 0.6
    kappa = torch.rand(shape, generator=g, dtype=F64) * 0.3 + 0.5
    common = dict(recurrent=recurrent, reset=reset, adaptation=adaptation, dtype=F64,
                  learn_decays=True)  # fmt: skip
    shared = HetSynLIF(
        N_IN, N_OUT, heterogeneity=heterogeneity, tau_syn=Decay(rho), tau_reset=Decay(kappa),
        learn_reset_decay=True, **common,
    )  # fmt: skip
    rows = rho.reshape(-1, 1) if rho.dim() else rho
    per_synapse = HetSynLIF(
        N_IN, N_OUT, tau_syn=Decay(rows.expand(N_OUT, N_IN)),
        tau_reset=Decay(kappa.expand(N_OUT)), tau_bias=Decay(rho.expand(N_OUT)),
        tau_rec=Decay(rows.expand(N_OUT, N_OUT)) if recurrent else None, **common,
    )  # fmt: skip
    with torch.no_grad():
        shared.weight.mul_(4.0)
        per_synapse.weight.copy_(shared.weight)
        per_synapse.bias.copy_(shared.bias)
        per_synapse.threshold.copy_(shared.threshold)
        if recurrent:
            per_synapse.recurrent_weight.copy_(shared.recurrent_weight)
        if adaptation:
            per_synapse.decays["adapt"].assign_(shared.decays["adapt"]())
            per_synapse.adapt_strength.copy_(shared.adapt_strength)
    return shared, per_synapse


CASES = [
    ("neuron", False, "subtract", False),
    ("neuron", True, "subtract", True),
    ("none", True, "zero", False),
    ("neuron", True, "none", False),
]


@pytest.mark.parametrize("case", CASES, ids=str)
@pytest.mark.parametrize("kernel", ["reference", "scan"])
def test_shared_reset_layout_is_the_per_synapse_rule_with_tied_decays(case, kernel):
    shared, per_synapse = _tied_pair(*case)
    assert shared.layout is SHARED_RESET
    shared.kernel = kernel
    per_synapse.kernel = "reference"
    x = bernoulli((T, B, N_IN), p=0.4)
    a, b = shared.run(x), per_synapse.run(x)
    assert b.spikes.sum() > 0 and torch.equal(a.spikes, b.spikes)
    torch.testing.assert_close(a.membrane, b.membrane, rtol=1e-12, atol=1e-12)
    # the summed current is the per-synapse currents summed per neuron
    summed = b.state.syn.sum(-1) + b.state.bias
    if b.state.rec is not None:
        summed = summed + b.state.rec.sum(-1)
    torch.testing.assert_close(a.state.syn, summed, rtol=1e-12, atol=1e-12)
    if b.state.reset is not None:
        torch.testing.assert_close(a.state.reset, b.state.reset, rtol=1e-12, atol=1e-12)
    # gradients of the shared parameters: the per-synapse ones summed per neuron
    g = torch.linspace(-1, 1, a.membrane.numel(), dtype=F64).reshape(a.membrane.shape)
    wa = [shared.weight, shared.bias] + [shared.recurrent_weight] * case[1]
    wb = [per_synapse.weight, per_synapse.bias] + [per_synapse.recurrent_weight] * case[1]
    ga = torch.autograd.grad((a.membrane * g).sum(), wa)
    gb = torch.autograd.grad((b.membrane * g).sum(), wb)
    for x_, y_ in zip(ga, gb):
        torch.testing.assert_close(x_, y_, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_shared_reset_fused_loop_equals_its_twin_and_the_step_loop(case):
    fast, _ = _tied_pair(*case)
    ref, _ = _tied_pair(*case)
    ref.load_state_dict(fast.state_dict())
    fast.kernel, ref.kernel = "scan", "reference"
    x = bernoulli((T, B, N_IN), p=0.4)
    a, b = fast.run(x), ref.run(x)
    torch.testing.assert_close(a.membrane, b.membrane, rtol=1e-12, atol=1e-12)
    params = list(fast.parameters())
    ga = torch.autograd.grad((a.membrane**2).sum() + a.state.syn.sum(), params, allow_unused=True)
    gb = torch.autograd.grad(
        (b.membrane**2).sum() + b.state.syn.sum(), list(ref.parameters()), allow_unused=True
    )
    for p, x_, y_ in zip(params, ga, gb):
        x_ = torch.zeros_like(p) if x_ is None else x_
        y_ = torch.zeros_like(p) if y_ is None else y_
        torch.testing.assert_close(x_, y_, rtol=1e-10, atol=1e-10)
    state, membranes = None, []
    for x_t in x:  # the per-step path: the same layout's rule, one step at a time
        out = fast.step(x_t, state)
        state = out.state
        membranes.append(out.membrane)
    torch.testing.assert_close(torch.stack(membranes), b.membrane, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("model", ["HomNeuLIF", "HetNeuLIF"])
def test_shd_recipe_baselines_carry_no_per_synapse_state(model):
    """The paper's SHD baselines (a reset current of their own, fixed at 20 steps): the
    state is per neuron, and the bytes autograd saves per step do not grow with out x in."""
    options = paper_model_options(model, tau_syn=20.0, readout_tau=20.0, reset_tau=20.0)

    def saved_per_step(n_in, hidden):
        net = SpikingNetwork(n_in, (hidden, hidden), 4, model=model, recurrent=True, **options)
        for layer in net.modules():
            if isinstance(layer, HetSynLIF):
                assert layer.layout is SHARED_RESET
        storages = {}

        def pack(t):
            s = t.untyped_storage()
            storages[s.data_ptr()] = s.nbytes()
            return t

        sizes = []
        for steps in (20, 60):
            storages.clear()
            x = bernoulli((steps, 2, n_in), p=0.1, dtype=torch.float32)
            with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
                net(x)
            sizes.append(sum(storages.values()))
        return (sizes[1] - sizes[0]) / 40

    small, large = saved_per_step(40, 16), saved_per_step(400, 64)
    # per step only inputs and per-neuron tensors: O(B (in + hidden)), not O(B hidden in)
    assert large <= 16 * 2 * (400 + 3 * 64) * 4
    assert large < 2 * 64 * 400 * 4  # less than one per-synapse state of the first layer
    assert small > 0
    state = SpikingNetwork(
        40, (16,), 4, model=model, recurrent=True, **options
    ).hidden[0].run(bernoulli((5, 2, 40), dtype=torch.float32)).state
    assert set(state.shapes().values()) == {(2, 16)}
