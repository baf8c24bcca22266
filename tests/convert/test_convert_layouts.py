"""``convert(..., heterogeneity="input" | "branch")`` and the current-based neurons: the
converted models start at the same dynamics (same spikes), keep the state of their layout
(never (B, out, in) for "input" or "branch"), and SpikingJelly's ``CUBALIFNode`` is converted
as ``snn.Synaptic`` is (``tests/snntorch/test_synaptic.py``)."""

from __future__ import annotations

import pytest
import snntorch as snn
import torch
from spikingjelly.activation_based import functional, layer, neuron
from torch import nn

from hetsyn_plugins import convert
from hetsyn_plugins.adapters.spikingjelly import HetSynNode
from hetsyn_plugins.core.layouts import BRANCH, INPUT

from .test_convert import TutorialNet, _check_same, _drive

LAYOUTS = [("input", {}, INPUT), ("branch", {"branches": 4}, BRANCH),
           ("branch", {"branches": 3, "branch_assignment": "random"}, BRANCH)]  # fmt: skip


@pytest.mark.parametrize("heterogeneity, options, layout", LAYOUTS, ids=str)
def test_tutorial_net_converts_to_each_layout(heterogeneity, options, layout):
    net = TutorialNet(30, 40, 5, beta=0.9, threshold=0.8)
    _drive(net.fc1, net.fc2)
    new, report = convert(net, heterogeneity=heterogeneity, return_report=True, **options)
    assert len(report.converted) == 2
    assert new.lif1.layer.layout is layout
    _check_same(net, new, torch.rand(6, 30), exact=False)
    state_shapes = new.lif1.state.shapes()
    assert all(30 * 40 != s[-1] * s[-2] for s in state_shapes.values() if len(s) == 3)


def test_per_neuron_beta_has_no_per_input_decay():
    net = TutorialNet(8, 6, 3, beta=torch.rand(6) * 0.5 + 0.3)
    _, report = convert(net, heterogeneity="input", return_report=True)
    assert "one decay per input" in report.refused[0].detail
    with pytest.raises(ValueError, match="heterogeneity='branch' needs branches"):
        convert(net, heterogeneity="branch")
    with pytest.raises(ValueError, match="branches needs heterogeneity='branch'"):
        convert(net, branches=2)


@pytest.mark.parametrize("heterogeneity, options", [("synapse", {}), ("branch", {"branches": 2})])
def test_rleaky_converts_to_the_branch_and_per_synapse_layouts(heterogeneity, options):
    torch.manual_seed(1)
    fc, rlif = nn.Linear(10, 8), snn.RLeaky(beta=0.85, linear_features=8, threshold=0.6)
    _drive(fc)
    net = nn.Sequential(fc, rlif)
    rlif.init_hidden = False
    new = convert(net, heterogeneity=heterogeneity, **options)
    x = (torch.rand(30, 4, 10, generator=torch.Generator().manual_seed(2)) < 0.4).float()
    outs = []
    for model in (net, new):
        spk, mem = model[1].init_rleaky()
        rec = []
        for x_t in x:
            spk, mem = model[1](model[0](x_t), spk, mem)
            rec.append(spk)
        outs.append(torch.stack(rec))
    assert 0 < outs[0].sum() < outs[0].numel()
    assert torch.equal(outs[0], outs[1])


@pytest.mark.parametrize("v_reset", [None, 0.0])
@pytest.mark.parametrize("step_mode", ["s", "m"])
@pytest.mark.parametrize(
    "heterogeneity, options",
    [("none", {}), ("synapse", {}), ("input", {}), ("branch", {"branches": 2})],
)
def test_cubalif_converts(v_reset, step_mode, heterogeneity, options):
    torch.manual_seed(3)
    net = nn.Sequential(
        layer.Linear(10, 6, step_mode=step_mode),
        neuron.CUBALIFNode(c_decay=0.6, v_decay=0.8, v_threshold=0.5, v_reset=v_reset),
    )
    net[1].step_mode = step_mode
    _drive(net[0], gain=2.0)
    new, report = convert(net, heterogeneity=heterogeneity, return_report=True, **options)
    assert [e.status for e in report] == ["converted"] and isinstance(new[1], HetSynNode)
    assert new[1].layer.membrane_decay is not None
    x = (torch.rand(40, 4, 10, generator=torch.Generator().manual_seed(4)) < 0.4).float()
    outs, voltages = [], []
    for model in (net, new):
        functional.reset_net(model)
        outs.append(model(x) if step_mode == "m" else torch.stack([model(x_t) for x_t in x]))
        voltages.append(model[1].v)
    assert 0 < outs[0].sum() < outs[0].numel()
    assert torch.equal(outs[0], outs[1])
    torch.testing.assert_close(voltages[1], voltages[0], rtol=1e-5, atol=1e-5)


def test_cubalif_with_another_reset_voltage_is_refused():
    net = nn.Sequential(layer.Linear(4, 3), neuron.CUBALIFNode(v_reset=-0.2))
    _, report = convert(net, return_report=True)
    assert "resets to v_reset=-0.2" in report.refused[0].detail


@pytest.mark.parametrize("heterogeneity, options", [("input", {}), ("branch", {"branches": 3})])
def test_lifnode_converts_to_the_new_layouts(heterogeneity, options):
    torch.manual_seed(5)
    net = nn.Sequential(layer.Linear(12, 7), neuron.LIFNode(tau=3.0, v_threshold=0.6))
    _drive(net[0], gain=2.0)
    new = convert(net, heterogeneity=heterogeneity, **options)
    x = (torch.rand(30, 4, 12, generator=torch.Generator().manual_seed(6)) < 0.4).float()
    outs = []
    for model in (net, new):
        functional.reset_net(model)
        outs.append(torch.stack([model(x_t) for x_t in x]))
    assert 0 < outs[0].sum() < outs[0].numel()
    assert torch.equal(outs[0], outs[1])


def test_cubalif_decays_learn_where_the_node_had_none():
    from hetsyn_plugins.adapters.spikingjelly._pairs import linear_cuba_node

    lin, node = layer.Linear(5, 3), neuron.CUBALIFNode()
    finer = linear_cuba_node(HetSynNode, lin, node, "synapse")
    assert finer.layer.decays["syn"].learnable and not finer.layer.decays["leak"].learnable
    same = linear_cuba_node(HetSynNode, lin, node, "none")
    assert not same.layer.decays["membrane"].learnable
    net = nn.Sequential(lin, node)
    kept = convert(net, heterogeneity="synapse", learn_decays=False)
    assert not kept[1].layer.decays["syn"].learnable
