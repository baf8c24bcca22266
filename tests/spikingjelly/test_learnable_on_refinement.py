"""``HetSynNode.from_linear_lif``: which decays learn (the "frozen per-synapse decays" trap).

The rule: ``heterogeneity="none"`` keeps the node's one decay and its learnability (a
``ParametricLIFNode`` learns it, a ``LIFNode`` does not); any other level asks for decays the
node did not have, and they are learnable; ``learn_decays`` decides when given. ``convert``
builds with the node's own and applies its ``learn_decays`` itself.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

pytest.importorskip("spikingjelly.activation_based.neuron")

from spikingjelly.activation_based import layer, neuron, surrogate  # noqa: E402

from hetsyn_plugins import convert  # noqa: E402
from hetsyn_plugins.adapters.spikingjelly import HetSynNode  # noqa: E402

N_IN, N_OUT, T = 6, 4, 16
TAU = 4.0


def _pair(plif: bool = False):
    torch.manual_seed(0)
    lin = nn.Linear(N_IN, N_OUT)
    with torch.no_grad():
        lin.weight.uniform_(0.0, 2.0).mul_(TAU)  # decay_input scales the input by 1/tau
    kwargs = dict(v_reset=None, surrogate_function=surrogate.ATan(), step_mode="m")
    if plif:
        return lin, neuron.ParametricLIFNode(init_tau=TAU, **kwargs)
    return lin, neuron.LIFNode(TAU, **kwargs)


def _learnable(node: HetSynNode) -> dict[str, bool]:
    return {key: decay.learnable for key, decay in node.layer.decays.items()}


def test_none_keeps_a_lifnodes_fixed_decay_fixed_and_exact():
    lin, lif = _pair()
    node = HetSynNode.from_linear_lif(lin, lif, "none")
    assert not any(_learnable(node).values())
    assert torch.equal(node.syn_decay, torch.full_like(node.syn_decay, 1 - 1 / TAU))


@pytest.mark.parametrize("heterogeneity", ["synapse", "neuron"])
def test_asking_for_finer_decays_makes_them_learnable(heterogeneity):
    lin, lif = _pair()
    node = HetSynNode.from_linear_lif(lin, lif, heterogeneity)
    learnable = _learnable(node)
    assert learnable and all(learnable.values()), learnable
    x = (torch.rand(T, 3, N_IN) < 0.5).float()
    spikes = node(x)
    with torch.no_grad():
        expected = lif(lin(x))
    assert expected.sum() > 0 and torch.equal(spikes, expected)  # same dynamics at the start
    spikes.sum().backward()
    grads = [p.grad for p in node.layer.decays.parameters()]
    assert grads and all(g is not None and g.abs().sum() > 0 for g in grads)


def test_learn_decays_decides_when_given():
    lin, lif = _pair()
    fixed = HetSynNode.from_linear_lif(lin, lif, "synapse", learn_decays=False)
    assert not any(_learnable(fixed).values())
    learned = HetSynNode.from_linear_lif(lin, lif, "none", learn_decays=True)
    assert all(_learnable(learned).values())


@pytest.mark.parametrize("heterogeneity", ["none", "neuron", "synapse"])
def test_a_parametric_lifnodes_decay_stays_learnable(heterogeneity):
    lin, plif = _pair(plif=True)
    assert all(_learnable(HetSynNode.from_linear_lif(lin, plif, heterogeneity)).values())


@pytest.mark.parametrize("learn_decays", [True, False])
def test_convert_keeps_its_own_rule(learn_decays):
    lin, lif = _pair()
    net = nn.Sequential(layer.SeqToANNContainer(lin), lif)
    new = convert(net, heterogeneity="synapse", learn_decays=learn_decays)
    assert isinstance(new[1], HetSynNode)
    assert set(_learnable(new[1]).values()) == {learn_decays}
