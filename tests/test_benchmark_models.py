"""The benchmarks measure what their tables say they measure.

- The yardstick (``nn.Linear`` + ``snn.Leaky``) indexes its input projection without making
  its backward quadratic in T (``first[t]`` did: each index's gradient is a zero tensor of the
  whole sequence; B2's yardstick took 237x the time for 10x the steps).
- B5's converted models are converted (SpikingJelly's was silently kept as it was: its
  ``forward`` cannot be traced), and their whole-sequence variants give the same spikes.
"""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("snntorch")


def _graph_ops(out: torch.Tensor) -> set[str]:
    seen, todo, names = set(), [out.grad_fn], set()
    while todo:
        fn = todo.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        names.add(type(fn).__name__)
        todo.extend(f for f, _ in fn.next_functions)
    return names


def test_the_yardstick_unbinds_its_input_projection():
    from benchmarks.common import LeakyYardstick

    model = LeakyYardstick([6, 5, 4, 3], recurrent=True)
    ops = _graph_ops(model(torch.rand(7, 2, 6)))
    assert "UnbindBackward0" in ops
    assert "SelectBackward0" not in ops  # a first[t] per step: quadratic backward


def _spiking(model):
    """Larger weights, so that the 784-1000-10 networks spike on a uniform input."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "weight" in name:
                p.mul_(20.0)
    return model


@pytest.mark.parametrize("host", ["snntorch", "spikingjelly"])
def test_b5_converts_its_models_and_the_sequence_call_gives_the_same_spikes(host):
    pytest.importorskip("spikingjelly")
    from benchmarks import b5_per_step as b5
    from hetsyn_plugins.adapters.snntorch import HetSynLeaky
    from hetsyn_plugins.adapters.spikingjelly import HetSynNode

    torch.manual_seed(0)
    per_step = _spiking(b5.build(f"{host}-converted", T=4))
    hetsyn = [m for m in per_step.modules() if isinstance(m, (HetSynLeaky, HetSynNode))]
    assert len(hetsyn) == 2 and all(m.syn_decay.dim() == 2 for m in hetsyn)  # per synapse
    sequence = b5.build(f"{host}-converted-sequence", T=4)
    sequence.load_state_dict(per_step.state_dict())
    x = torch.rand(4, 2, b5.N_IN)
    with torch.no_grad():
        spikes, _ = per_step(x)
        again, _ = sequence(x)
    assert spikes.sum() > 0 and torch.equal(spikes, again)
