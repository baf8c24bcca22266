"""``copy.deepcopy`` of every face mid-sequence (after a forward pass with a graph): the copy
carries on from a detached copy of the state, exactly as the original does."""

from __future__ import annotations

import copy

import pytest
import torch

from hetsyn_plugins.core import HetSynLIF, HetSynReadout

from ..conftest import bernoulli

snn = pytest.importorskip("snntorch")
sj = pytest.importorskip("spikingjelly.activation_based.neuron")

N_IN, N_OUT, B = 5, 4, 3


def _core(cls, **kw):
    return lambda: cls(N_IN, N_OUT, stateful=True, **kw)


FACES = {
    "core per-synapse, per step": (_core(HetSynLIF, recurrent=True), "step"),
    "core per-synapse, sequence": (_core(HetSynLIF, recurrent=True), "sequence"),
    "core neuron": (_core(HetSynLIF, heterogeneity="neuron"), "step"),
    "core readout": (_core(HetSynReadout), "step"),
    "snnTorch init_hidden": (
        lambda: snn.HetSynLeaky(N_IN, N_OUT, beta=0.9, init_hidden=True), "step"
    ),
    "snnTorch recurrent": (
        lambda: snn.HetSynLeaky(N_IN, N_OUT, beta=0.9, recurrent=True, init_hidden=True), "step"
    ),
    "snnTorch LI": (lambda: snn.HetSynLI(N_IN, N_OUT, beta=0.9, init_hidden=True), "step"),
    "SpikingJelly s": (lambda: sj.HetSynNode(N_IN, N_OUT), "step"),
    "SpikingJelly m": (lambda: sj.HetSynNode(N_IN, N_OUT, step_mode="m"), "sequence"),
}


def _call(module, x, mode):
    if mode == "sequence":
        return _first(module(x))
    step = module.step if isinstance(module, (HetSynLIF, HetSynReadout)) else module
    return torch.stack([_first(step(x_t)) for x_t in x])


def _first(out):
    if isinstance(out, tuple):
        return out[0]
    return getattr(out, "spikes", out)


@pytest.mark.parametrize("face", list(FACES))
def test_deepcopy_mid_sequence_continues_like_the_original(face):
    make, mode = FACES[face]
    torch.manual_seed(0)
    module = make().double()
    x = bernoulli((6, B, N_IN), p=0.5) * 2.0
    _call(module, x, mode)  # a forward with a graph: the module holds state with grad_fn
    twin = copy.deepcopy(module)
    with torch.no_grad():
        ours, theirs = _call(module, x, mode), _call(twin, x, mode)
    torch.testing.assert_close(theirs, ours, rtol=1e-13, atol=1e-13)  # float64 rounding
    # and the copy trains on its own
    _call(twin, x, mode).sum().backward()
    assert any(p.grad is not None for p in twin.parameters())
