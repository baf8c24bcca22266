"""The rules by which snnTorch's state arguments are read (pure functions, unit-tested).

snnTorch passes a neuron's state as tensors (``mem``; ``spk, mem`` for ``snn.RLeaky``) and
lets a neuron recognise the ones it returned; the HetSyn faces keep the full core state
themselves. These functions decide which argument is which, when a tensor is the one the
layer returned (a detached alias included, an in-place edit told apart by its version
counter), and how a batch with more dimensions is taken.
"""

from __future__ import annotations

from typing import NamedTuple, Optional, Union

import torch
from torch import Tensor

from ...core.dynamics import HetSynState

Membrane = Union[Tensor, HetSynState]

# How the state arguments after ``input_`` are read: snn.Leaky's ``(input_, mem)``,
# snn.RLeaky's ``(input_, spk, mem)`` or snn.Synaptic's ``(input_, syn, mem)`` (see
# HetSynLeaky.forward).
CALL_CONVENTIONS = ("leaky", "rleaky", "synaptic")


def same_tensor(a: Tensor, b: Tensor) -> bool:
    """True when ``a`` is ``b`` or a detached alias of it (same storage, shape and strides)."""
    return a is b or (
        a.data_ptr() == b.data_ptr() and a.shape == b.shape and a.stride() == b.stride()
    )


class Stamp(NamedTuple):
    """What a state argument the layer returned was when it returned it: its version counter
    and whether it had an autograd graph (``mem.detach_()`` changes the latter in place)."""

    version: int
    graph: bool

    @classmethod
    def of(cls, t: Tensor) -> "Stamp":
        return cls(t._version, t.requires_grad)


KEPT, CUT, EDITED, OTHER = "kept", "cut", "edited", "other"


def recognise(value: Tensor, own: Tensor, stamp: Stamp) -> str:
    """How a state argument relates to ``own``, the tensor the layer returned (stamped
    ``stamp`` then), decided by version counters and contents:

    - ``"kept"``: ``own`` unchanged, or a tensor equal to it (a detached alias, a copy): the
      layer carries on from its kept state;
    - ``"cut"``: the same, without the graph ``own`` had (``mem.detach()``, ``mem.detach_()``:
      truncated BPTT): carry on, cut from the graph;
    - ``"edited"``: ``own`` (or an alias) modified in place since (``mem += 1``);
    - ``"other"``: any other tensor.
    """
    if same_tensor(value, own):
        if value._version != stamp.version:
            return EDITED
    elif not (
        value.shape == own.shape
        and value.dtype == own.dtype
        and value.device == own.device
        and own._version == stamp.version
        and torch.equal(value.detach(), own.detach())
    ):
        return OTHER
    return CUT if stamp.graph and not value.requires_grad else KEPT


def flat_state_arg(value, own: Optional[Tensor], lead: tuple, batch: int):
    """A state argument shaped as the batch, (B, *, out), taken as (B x ..., out) (the core's
    batch); ``own`` (the tensor the layer returned, recognised by :func:`same_tensor`) and
    anything else pass unchanged."""
    if (
        isinstance(value, Tensor)
        and len(lead) > 1
        and tuple(value.shape[:-1]) == tuple(lead)
        and not (own is not None and same_tensor(value, own))
    ):
        return value.reshape(batch, value.shape[-1])
    return value


def state_arguments(
    state: tuple, spk, mem, *, recurrent: bool, call_convention: str, last_spk: Tensor
) -> tuple[Optional[Tensor], object]:
    """``(spk, mem)`` from the positional (``state``) and keyword state arguments of
    ``HetSynLeaky.forward``: snn.Leaky's ``(input_, mem)``, and for a ``recurrent`` layer
    snn.RLeaky's ``(input_, spk, mem)``; with ``call_convention="rleaky"`` a single
    positional argument is ``spk``. ``last_spk``: the spikes the layer returned last (a
    single positional argument that is them, read as ``mem``, is a mistake and raises)."""
    names = ("spk", "mem") if recurrent else ("mem",)
    if len(state) > len(names):
        raise TypeError(
            f"HetSynLeaky takes at most {len(names)} state argument(s) after input_ "
            f"({', '.join(names)}{'' if recurrent else '; spk needs recurrent=True'}); "
            f"got {len(state)}"
        )
    if len(state) == 1:
        names = ("spk",) if call_convention == "rleaky" else ("mem",)
        (value,) = state
        if (
            recurrent
            and names == ("mem",)
            and isinstance(value, Tensor)
            and last_spk.numel()
            and same_tensor(value, last_spk)
        ):
            raise TypeError(
                "the single state argument of HetSynLeaky(call_convention='leaky') is mem "
                "(snn.Leaky's order), but the tensor passed is the spikes this layer "
                "returned last: call lif(input_, spk, mem) or lif(input_, spk=spk) "
                "(call_convention='rleaky' reads a single argument as spk, as snn.RLeaky)"
            )
    given = {"spk": spk, "mem": mem}
    for name, value in zip(names, state):
        if given[name] is not None:
            raise TypeError(f"forward() got multiple values for argument {name!r}")
        given[name] = value
    if given["spk"] is not None and not recurrent:
        raise TypeError(
            "spk (snn.RLeaky's spikes fed back) needs a recurrent HetSynLeaky "
            "(recurrent=True); this layer is feedforward: call lif(input_, mem)"
        )
    return given["spk"], given["mem"]


def synaptic_arguments(state: tuple, syn, mem) -> tuple[object, object]:
    """``(syn, mem)`` from the positional (``state``) and keyword state arguments of
    ``HetSynLeaky.forward`` with ``call_convention="synaptic"``: snn.Synaptic's
    ``(input_, syn, mem)``."""
    if len(state) > 2:
        raise TypeError(
            "HetSynLeaky(call_convention='synaptic') takes at most 2 state arguments after "
            f"input_ (syn, mem), as snn.Synaptic; got {len(state)}"
        )
    given = {"syn": syn, "mem": mem}
    for name, value in zip(("syn", "mem"), state):
        if given[name] is not None:
            raise TypeError(f"forward() got multiple values for argument {name!r}")
        given[name] = value
    return given["syn"], given["mem"]
