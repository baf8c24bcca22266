"""The memory-flat per-step path: one step of a per-synapse pathway, updated in place.

A per-step call (a Python loop calling the layer once per step: snnTorch's idiom,
SpikingJelly's ``step_mode="s"``, every converted model) cannot see the future inputs, so it
cannot use a whole-sequence scan. :func:`synapse_step` is the fused twin of the reference
:func:`hetsyn_plugins.core.dynamics.synapse_step`, with the same signature: one step of a
pathway of per-synapse currents (feedforward: ``inp = x^t``; recurrent: ``inp = z^{t-1}``)

.. math:: I^t_{ji} = r_{ji} I^{t-1}_{ji} + w_{ji}\\, \\mathrm{inp}_i, \\qquad
          S^t_j = \\textstyle\\sum_i I^t_{ji}.

Autograd keeps per step only ``inp`` (B, in) and the (shared) parameters, never a
(B, out, in) tensor: the currents are updated in place after the first step of a chain, and
the backward pass is the adjoint recursion of :mod:`.scan`, run step by step (batch left out;
``G = dL/dS^t``, ``Lambda^{t+1}`` and ``M^t`` arrive as the gradients of the returned
currents and carry)

.. math::
    \\Lambda^t &= G + r \\Lambda^{t+1}, \\qquad dL/d\\mathrm{inp}_i = \\textstyle\\sum_j w_{ji} \\Lambda^t_{ji},
    \\qquad dL/dw_{ji} \\mathrel{+}= \\mathrm{inp}_i \\Lambda^t_{ji}, \\\\
    dL/dr_{ji} &\\mathrel{+}= w_{ji}\\, \\mathrm{inp}_i M^t_{ji}, \\qquad M^{t-1} = \\Lambda^t + r M^t,

with ``dL/dr += I^{t-1} M^{t-1}`` at the first step of a chain (its starting currents are
kept then). The *carry* is a zero-size stand-in (an expanded zero) returned beside the
currents, whose gradient carries ``M`` to the step before; it lives in the state
(``HetSynState.syn_carry`` / ``rec_carry``).

In-place safety. Every buffer this module advances is registered (by storage, so detached
aliases count) with its version and the carry of the one state that may advance it next:

- a state whose buffer was advanced since (kept and passed again, a branch of a live state)
  raises ``RuntimeError`` instead of reading overwritten currents (``state.clone()`` ... is
  the way to branch: see :meth:`HetSynState.clone`);
- a buffer modified by anything else raises too;
- a state cut from the graph (``detach()``, SpikingJelly's in-place ``detach_()``) or made
  under ``torch.no_grad()`` starts a new chain: its currents are copied once, kept for the
  ``dL/dr`` term, and never touched again, so the graph before the cut stays valid;
- currents the module did not make (zeros of a fresh state, ``run``'s final state, a clone)
  are never written: the first step writes new ones.

The steps of a chain sum ``dL/dw`` and ``dL/dr`` into one (out, in) buffer each, which the
chain's first step (the last one backward) returns: no (out, in) gradient is allocated per
step (a step with other parameters than the chain's first returns its own). Nothing else is
kept between backward calls, so ``backward(retain_graph=True)`` twice gives twice the
gradients. With numba installed the loops are fused (:mod:`._numba_scan`; parallel
above a work size); otherwise the same recursions run as torch operations.

Learned decays in the logit parametrization arrive decoded (``sigmoid(raw)``, a fresh
(out, in) tensor per step); :func:`hetsyn_plugins.core.timescales.decoded_from` gives their
``raw`` parameter, which is what the step keeps and differentiates, so that no (out, in) tensor
is stored per step either.
"""

from __future__ import annotations

import weakref
from typing import NamedTuple, Optional

import torch
from torch import Tensor

from .. import dynamics
from ..timescales import decoded_from
from .scan import _fused, _np, loops, refuse_double_backward

# Work (batch x out x in) above which the fused loops run in parallel; below it, the threads'
# start-up and their contention with torch's own costs more than it saves.
PARALLEL_WORK = 1 << 18


class _Owner(NamedTuple):
    version: int
    carry: "weakref.ref"  # the storage of the carry of the state that owns the buffer
    graph: bool  # whether the buffer's values were made with an autograd graph
    grads: Optional["_ChainGrads"]  # where the chain's steps sum dL/dw and dL/dr


class _ChainGrads:
    """``dL/dw`` and ``dL/dr`` of one chain of steps, summed in place by the backward of every
    step that uses the chain's own ``weight`` and decay parameter, and returned once, by the
    chain's first step (which runs last), and the decay values those steps use: nothing of
    size (out, in) is allocated per step.

    Sums left by a backward pass that stopped before the first step
    (``torch.autograd.grad`` with respect to a later tensor) are dropped by the next pass.
    """

    def __init__(self, weight: Tensor, param: Tensor):
        self.weight, self.param = weakref.ref(weight), weakref.ref(param)
        self.flags = (weight.requires_grad, param.requires_grad)
        self.task = None
        self.dw = self.dr = self.r = None

    def serves(self, weight: Tensor, param: Tensor) -> bool:
        return (
            self.weight() is weight
            and self.param() is param
            and self.flags == (weight.requires_grad, param.requires_grad)
        )

    def buffers(self, w: Tensor, decay: Tensor, logit: bool, want_dr: bool):
        """``(r, dw, dr)`` for this backward pass: the decay values (decoded once per pass,
        not per step) and the sums (``dr`` None unless ``want_dr``)."""
        task = torch._C._current_graph_task_id()
        if self.task != task:
            self.task, self.dw, self.dr = task, torch.zeros_like(w), None
            self.r = _decay_values(decay.detach(), logit)
        if want_dr and self.dr is None:
            self.dr = torch.zeros_like(self.r)
        return self.r, self.dw, self.dr

    def take(self) -> tuple[Tensor, Optional[Tensor]]:
        dw, dr = self.dw, self.dr
        self.task = self.dw = self.dr = self.r = None
        return dw, dr


# id(storage) -> owner, for every buffer this module advances (entries leave with the storage)
_BUFFERS: dict[int, _Owner] = {}

FOREIGN, CHAINED, CUT = "foreign", "chained", "cut"


def _key(t: Tensor) -> int:
    return id(t.untyped_storage())


def _register(buffer: Tensor, carry: Tensor, graph: bool, grads: Optional[_ChainGrads]) -> None:
    storage = buffer.untyped_storage()
    key = id(storage)
    if key not in _BUFFERS:
        weakref.finalize(storage, _BUFFERS.pop, key, None)
    _BUFFERS[key] = _Owner(buffer._version, weakref.ref(carry.untyped_storage()), graph, grads)


def classify(current: Tensor, carry: Optional[Tensor]) -> str:
    """How the step may use ``current``: ``"chained"`` (advance it in place, carry the
    adjoint), ``"cut"`` (a buffer of this module cut from the graph: copy it once) or
    ``"foreign"`` (not made here: never write it). Raises for a stale state."""
    owner = _BUFFERS.get(_key(current))
    if owner is None:
        return FOREIGN
    if current._version != owner.version:
        raise RuntimeError(
            "the per-synapse currents of this state were modified in place after the step "
            "that made them; pass the state as the layer returned it (or state.clone())"
        )
    if carry is None or owner.carry() is not carry.untyped_storage():
        raise RuntimeError(
            "this state is stale: a later step has already advanced its per-synapse currents "
            "in place (they are not copied per step, to keep memory flat). Pass the latest "
            "state; to continue from one state more than once, keep state.clone() and pass "
            "clones"
        )
    if owner.graph and current.requires_grad != carry.requires_grad:
        raise RuntimeError(
            "state.syn/rec and their carry must be detached together (state.detach()); got "
            f"currents with requires_grad={current.requires_grad} and a carry with "
            f"requires_grad={carry.requires_grad}"
        )
    if owner.graph and current.requires_grad and torch.is_grad_enabled():
        return CHAINED
    return CUT


def release(current: Tensor) -> None:
    """Hand a buffer of this module over as foreign currents, which no step advances in place
    any more (the final state of a whole-sequence call)."""
    _BUFFERS.pop(_key(current), None)


def _carry(like: Tensor) -> Tensor:
    """A zero stand-in of ``like``'s shape holding one element of memory (all strides 0; not a
    view, so that hosts may ``detach_()`` it)."""
    carry = torch.empty_strided(like.shape, (0,) * like.dim(), dtype=like.dtype, device=like.device)
    carry.untyped_storage().fill_(0)  # its one element (``zero_()`` would visit every index)
    return carry


def _decay_values(decay: Tensor, logit: bool) -> Tensor:
    return torch.sigmoid(decay) if logit else decay


class _SynapseStep(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx, inp, current, carry, weight, decay, decay_values, mode, logit, keep_start, grads, flush
    ):
        # mode CHAINED: advance ``current`` in place; else write new currents.
        r = decay_values.detach()
        if mode == CHAINED:
            new = current
            ctx.mark_dirty(current)
        else:
            new = torch.empty(current.shape, dtype=current.dtype, device=current.device)
        src = current.detach()
        B, O, K = new.shape
        S = new.new_empty(B, O)
        if _fused(inp, src, weight, r) and new.is_contiguous():
            nb = loops()
            kernel = nb.syn_step_forward if B * O * K >= PARALLEL_WORK else nb.syn_step_forward_serial
            source = None if mode == CHAINED else _np(src)  # None: in place
            kernel(_np(inp), source, _np(weight), _np(r), new.detach().numpy(), S.numpy())
        else:
            torch.addcmul(r * src, weight.detach(), inp.detach().unsqueeze(-2), out=new.detach())
            torch.sum(new.detach(), -1, out=S)
        ctx.mode, ctx.logit, ctx.grads, ctx.flush = mode, logit, grads, flush
        ctx.set_materialize_grads(False)  # a missing gradient arrives as None, not as zeros
        start = src if keep_start else None
        ctx.save_for_backward(inp, weight, decay, start)
        return S, new, _carry(new)

    @staticmethod
    def backward(ctx, gS, lam, mu):
        refuse_double_backward("per-step path (every kernel but 'reference')")
        inp, weight, decay, start = ctx.saved_tensors
        needs = ctx.needs_input_grad
        want_dr = needs[4]  # M (the carry's gradient) serves dL/dr only
        mu = mu if want_dr else None
        w = weight.detach()
        B, K = inp.shape
        O = w.shape[0]
        shape = (B, O, K)
        gS = inp.new_zeros(B, O) if gS is None else gS
        want_current = needs[1]
        want_carry = needs[2] and ctx.mode == CHAINED and want_dr
        grads = ctx.grads
        if grads is not None:
            r, dw, dr = grads.buffers(w, decay, ctx.logit, want_dr)
        else:
            r = _decay_values(decay.detach(), ctx.logit)
            dw, dr = torch.zeros_like(w), torch.zeros_like(r) if want_dr else None
        if _fused(inp, w, r, gS) and all(t is None or _fused(inp, t) for t in (lam, mu, start)):
            # The adjoints passed back by the next step are buffers made here that nothing else
            # holds: the loops overwrite them in place rather than allocate (B, out, in) twice
            # per step.
            has_lam, has_mu = lam is not None, mu is not None
            empty = inp.new_empty(0, 0, 0)
            gI = _adjoint_buffer(lam, shape, inp) if has_lam or want_current else empty
            gD = _adjoint_buffer(mu, shape, inp) if has_mu or want_carry else empty
            chunks = torch.get_num_threads() if B * O * K >= PARALLEL_WORK else 1
            dinp = inp.new_zeros(chunks, B, K)
            nb = loops()
            kernel = nb.syn_step_backward if chunks > 1 else nb.syn_step_backward_serial
            kernel(
                _np(inp), _np(w), _np(r), _np(gS.contiguous()), gI.numpy(), gD.numpy(),
                (empty if start is None else start).numpy(), has_lam, has_mu, want_current,
                want_carry, dinp.numpy(), dw.numpy(), (dw if dr is None else dr).numpy(),
            )  # fmt: skip  (without dr, nothing writes the stand-in: no M, no start)
            dinp = dinp.sum(0)
        else:
            L = gS.unsqueeze(-1).expand(shape) if lam is None else lam + gS.unsqueeze(-1)
            x = inp.detach().unsqueeze(-2)
            dinp = (w * L).sum(-2)
            dw += (x * L).sum(0)
            gI = r * L
            gD = L if mu is None else L + r * mu
            if mu is not None:
                dr += (x * mu).sum(0) * w
            if start is not None:
                dr += (start * gD).sum(0)
        if grads is not None:
            dw, dr = grads.take() if ctx.flush else (None, None)
        if ctx.logit and dr is not None:
            dr = dr * r * (1 - r)
        return (
            dinp if needs[0] else None,
            _own(gI) if want_current else None,
            _own(gD) if want_carry else None,
            dw if needs[3] else None,
            dr if want_dr else None,
            None, None, None, None, None, None,
        )  # fmt: skip


# id -> weakref of the adjoint buffers made by a backward step: nothing else holds them, so the
# step before may overwrite them in place
_OWN: dict[int, weakref.ref] = {}


def _own(t: Tensor) -> Tensor:
    key = id(t)
    _OWN[key] = weakref.ref(t, lambda _, key=key: _OWN.pop(key, None))
    return t


def _take_own(t: Tensor) -> bool:
    """True (once) if ``t`` is such a buffer, still alive, contiguous: free to overwrite."""
    ref = _OWN.pop(id(t), None)
    return ref is not None and ref() is t and t.is_contiguous()


def _adjoint_buffer(grad: Optional[Tensor], shape, like: Tensor) -> Tensor:
    """Where the backward loops work in place: ``grad`` itself when this module made it and
    nothing else holds it, a copy of it otherwise, or a new buffer (no gradient came)."""
    if grad is None:
        return like.new_empty(shape)
    return grad if _take_own(grad) else grad.clone(memory_format=torch.contiguous_format)


def synapse_step(
    inp: Tensor, current: Tensor, carry: Optional[Tensor], weight: Tensor, decay: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """One step of a per-synapse pathway: ``(S, I_new, carry_new)``.

    ``inp`` (B, in); ``current`` ``I^{t-1}`` (B, out, in); ``carry`` the one returned with it
    (None for currents not made here); ``weight`` and ``decay`` (out, in). ``S = sum_i I_new``
    (B, out). Same values as :func:`hetsyn_plugins.core.dynamics.synapse_step`; see the module
    docstring for what is kept and when ``current`` is advanced in place.
    """
    if torch.compiler.is_compiling():  # torch.compile traces the plain rule instead
        return dynamics.synapse_step(inp, current, carry, weight, decay)
    mode = classify(current, carry)
    raw = decoded_from(decay)
    logit = raw is not None
    param = raw if logit else decay
    graph = torch.is_grad_enabled() and any(
        t.requires_grad for t in (inp, current, weight, param)
    )
    if not graph and mode != FOREIGN:
        mode = CHAINED  # no graph to keep valid: advance our own buffer in place
    elif graph and mode == CUT:
        current = current.detach()
    keep_start = graph and mode != CHAINED and param.requires_grad and bool(current.any())
    # The chain's gradient sums: a new chain starts them (and returns them); a chained step
    # adds to them when it uses the same parameters as the chain's first step.
    chain = grads = None
    if graph:
        if mode == CHAINED:
            chain = _BUFFERS[_key(current)].grads
            grads = chain if chain is not None and chain.serves(weight, param) else None
        else:
            chain = grads = _ChainGrads(weight, param)
    S, new, new_carry = _SynapseStep.apply(
        inp, current, carry if mode == CHAINED else None, weight, param, decay.detach(), mode,
        logit, keep_start, grads, mode != CHAINED,
    )  # fmt: skip
    _register(new, new_carry, graph, chain)
    return S, new, new_carry
