"""An input without a step or a sample (T = 0, B = 0) into a host face: a clear error that
names the argument and the shape it got (issue: a reshape error from deep inside)."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("snntorch")


@pytest.mark.parametrize("shape", [(0, 2, 4), (3, 0, 4)])
def test_snntorch_face_refuses_an_empty_sequence(shape):
    from hetsyn_plugins.adapters.snntorch import HetSynLeaky

    layer = HetSynLeaky(4, 3, beta=0.9)
    with pytest.raises(ValueError, match=r"input_ must have at least one step.*got shape \("):
        layer(torch.zeros(shape))


def test_snntorch_face_refuses_an_empty_batch_step():
    from hetsyn_plugins.adapters.snntorch import HetSynLeaky

    layer = HetSynLeaky(4, 3, beta=0.9, sequence=False)
    with pytest.raises(ValueError, match=r"input_ must have at least one step.*\(0, 4\)"):
        layer(torch.zeros(0, 4))


@pytest.mark.parametrize("step_mode, shape, name", [("m", (0, 2, 4), "x_seq"), ("s", (0, 4), "x")])
def test_spikingjelly_node_refuses_an_empty_input(step_mode, shape, name):
    pytest.importorskip("spikingjelly")
    from hetsyn_plugins.adapters.spikingjelly import HetSynNode

    node = HetSynNode(4, 3, step_mode=step_mode)
    with pytest.raises(ValueError, match=rf"{name} must have at least one step"):
        node(torch.zeros(shape))
