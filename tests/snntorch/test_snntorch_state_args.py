"""The rules by which the snnTorch face reads its state arguments, as pure functions
(``hetsyn_plugins.adapters.snntorch._state_args``)."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("snntorch")

from hetsyn_plugins.adapters.snntorch import _state_args as rules  # noqa: E402


def test_same_tensor_recognises_the_tensor_and_its_detached_aliases():
    t = torch.rand(3, 4, requires_grad=True) * 1.0
    assert rules.same_tensor(t, t) and rules.same_tensor(t.detach(), t)
    assert not rules.same_tensor(t.clone(), t)  # equal values, another tensor
    assert not rules.same_tensor(t.view(4, 3), t)  # same storage, another shape
    assert not rules.same_tensor(t.t(), t)  # same storage, other strides


def test_flat_state_arg_takes_more_batch_dimensions_as_one_batch():
    own = torch.rand(2, 3, 5)
    other = torch.rand(2, 3, 5)
    assert rules.flat_state_arg(other, own, (2, 3), 6).shape == (6, 5)
    assert rules.flat_state_arg(own, own, (2, 3), 6) is own  # the layer's own: recognised
    assert rules.flat_state_arg(other, None, (2,), 2) is other  # one batch dimension
    assert rules.flat_state_arg(None, own, (2, 3), 6) is None


def _args(state, spk=None, mem=None, recurrent=True, convention="leaky", last=None):
    last = torch.zeros(0) if last is None else last
    return rules.state_arguments(
        state, spk, mem, recurrent=recurrent, call_convention=convention, last_spk=last
    )


def test_state_arguments_follow_leaky_and_rleaky_orders():
    a, b = torch.rand(2, 3), torch.rand(2, 3)
    assert _args((a,), recurrent=False) == (None, a)  # lif(x, mem)
    assert _args((a, b)) == (a, b)  # lif(x, spk, mem)
    assert _args((a,), convention="rleaky") == (a, None)  # RLeaky(x, spk)
    assert _args((), spk=a, mem=b) == (a, b)
    assert _args((a,), spk=b) == (b, a)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda a: _args((a, a), recurrent=False), TypeError, r"at most 1 state argument"),
        (lambda a: _args((a, a, a)), TypeError, r"at most 2 state argument"),
        (lambda a: _args((a,), mem=a), TypeError, "multiple values for argument 'mem'"),
        (lambda a: _args((), spk=a, recurrent=False), TypeError, "needs a recurrent"),
        (lambda a: _args((a,), last=a), TypeError, "is the spikes this layer returned last"),
    ],
)
def test_state_arguments_that_cannot_be_read(call, error, match):
    with pytest.raises(error, match=match):
        call(torch.rand(2, 3))
