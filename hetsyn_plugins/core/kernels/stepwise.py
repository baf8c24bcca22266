"""The memory-flat per-step path: one step of a per-synapse pathway, updated in place.

A per-step call (a Python loop calling the layer once per step: snnTorch's idiom,
SpikingJelly's ``step_mode="s"``, every converted model) cannot see the future inputs, so it
cannot use a whole-sequence scan. :func:`synapse_step` is the fused twin of the reference
:func:`hetsyn_plugins.core.dynamics.synapse_step`, with the same signature: one step of a
pathway of per-synapse currents (feedforward: ``inp = x^t``; recurrent: ``inp = z^{t-1}``)

.. math:: I^t_{ji} = r_{ji} I^{t-1}_{ji} + w_{ji}\\, \\mathrm{inp}_i, \\qquad
          S^t_j = \\textstyle\\sum_i I^t_{ji}.

Autograd keeps per step only ``inp`` (B, in) and the parameters (the same tensors at every
step of a chain), never a (B, out, in) tensor: the currents are updated in place after the
first step of a chain, and the backward pass is the adjoint recursion of :mod:`.scan`, run
step by step (batch left out; ``G = dL/dS^t``, ``Lambda^{t+1}`` and ``M^t`` arrive as the
gradients of the returned currents and carry)

.. math::
    \\Lambda^t &= G + r \\Lambda^{t+1}, \\qquad dL/d\\mathrm{inp}_i = \\textstyle\\sum_j w_{ji} \\Lambda^t_{ji},
    \\qquad dL/dw_{ji} \\mathrel{+}= \\mathrm{inp}_i \\Lambda^t_{ji}, \\\\
    dL/dr_{ji} &\\mathrel{+}= w_{ji}\\, \\mathrm{inp}_i M^t_{ji}, \\qquad M^{t-1} = \\Lambda^t + r M^t,

with ``dL/dr += I^{t-1} M^{t-1}`` at the first step of a chain (its starting currents are
kept then). The *carry* is a zero-size stand-in (an expanded zero) whose gradient carries
``M`` to the step before.

The bookkeeping travels with the state, nowhere else: the step returns a :class:`PathwayLink`
beside the currents (the state holds it in :attr:`HetSynState.link
<hetsyn_plugins.core.dynamics.HetSynState.link>`): the buffer it may advance, the buffer's
version when the state was made, the carry and the chain the buffer belongs to. What a step
does with the currents it is given is decided by that link and the buffer's version counter:

- currents without a link, or not the link's buffer (zeros of a fresh state, ``run``'s final
  state, a clone, a detached state) are never written: the step writes new ones, starting a
  new chain;
- a state whose buffer a later step advanced (kept and passed again, a branch of a live
  state) raises ``RuntimeError`` instead of reading overwritten currents (``state.clone()``
  is the way to branch: see :meth:`HetSynState.clone`); a buffer modified by anything else
  raises too;
- a buffer cut from the graph in place (SpikingJelly's ``detach_()``) or a step under
  ``torch.no_grad()`` after steps with a graph: the currents are copied once into a new
  chain, so that the graph before the cut stays valid;
- otherwise the buffer is advanced in place.

Each step returns its own ``dL/dw`` and ``dL/dr``; a chain's steps share the parameter tensors
(the layer decodes them once per chain), so autograd sums them into one gradient. Nothing is
kept between backward calls, so ``backward(retain_graph=True)`` twice gives twice the
gradients. The adjoint buffers a step's backward hands to the step before are overwritten
there in place when autograd passes them on unchanged. With numba installed the loops are
fused (:mod:`._numba_scan`; parallel above a work size); otherwise the same recursions run as
torch operations.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import torch
from torch import Tensor

from .. import dynamics
from .scan import _fused, _np, loops, refuse_double_backward

# Work (batch x out x in) above which the fused loops run in parallel; below it, the threads'
# start-up and their contention with torch's own costs more than it saves.
PARALLEL_WORK = 1 << 18

FOREIGN, CHAINED, CUT = "foreign", "chained", "cut"


class _Chain:
    """What the steps of one chain (one buffer advanced in place) share: the version the last
    step wrote, the parameters whose gradients the chain sums (its first step's), and the
    adjoint buffers a backward step hands to the step before."""

    __slots__ = ("version", "retired", "params", "handed")

    def __init__(self, weight: Tensor, decay: Tensor):
        self.version, self.retired, self.params = -1, False, (weight, decay)
        self.handed = (None, None, None)

    def sums_for(self, weight: Tensor, decay: Tensor) -> bool:
        """Whether a step with these parameters adds its gradients to the chain's sums."""
        w, r = self.params
        return w is weight and r is decay


class PathwayLink(NamedTuple):
    """The per-step path's record of one pathway's currents, returned by :func:`synapse_step`
    and carried by the state: ``buffer`` (the currents, which the next step may advance in
    place), their ``version`` when this state was made, the ``carry`` (whose gradient carries
    the decays' adjoint to the step before), the ``sums`` (whose gradient carries the
    chain's ``dL/dw``, ``dL/dr`` sums to the step before: autograd itself scopes them to one
    backward pass), whether the currents were made with a ``graph``, and the ``chain`` of
    steps sharing the buffer."""

    buffer: Tensor
    version: int
    carry: Tensor
    sums: Tensor
    graph: bool
    chain: _Chain

    def detached(self) -> "PathwayLink":
        return self._replace(
            buffer=self.buffer.detach(), carry=self.carry.detach(), sums=self.sums.detach(),
            graph=False,
        )  # fmt: skip


def _same_buffer(a: Tensor, b: Tensor) -> bool:
    """``a`` is ``b`` or a detached alias of it (same memory, shape and strides)."""
    return a is b or (
        a.data_ptr() == b.data_ptr() and a.shape == b.shape and a.stride() == b.stride()
    )


def classify(current: Tensor, link: Optional[PathwayLink]) -> str:
    """How the step may use ``current``: ``"chained"`` (advance it in place, carry the
    adjoint), ``"cut"`` (the link's buffer, without a graph to continue: advance it in place
    when the step makes no graph, else copy it once) or ``"foreign"`` (never write it).
    Raises for a stale or modified state."""
    if link is None or link.chain.retired or not _same_buffer(current, link.buffer):
        return FOREIGN
    if current._version != link.version:
        if current._version == link.chain.version:
            raise RuntimeError(
                "this state is stale: a later step has already advanced its per-synapse "
                "currents in place (they are not copied per step, to keep memory flat). Pass "
                "the latest state; to continue from one state more than once, keep "
                "state.clone() and pass clones"
            )
        raise RuntimeError(
            "the per-synapse currents of this state were modified in place after the step "
            "that made them; pass the state as the layer returned it (or state.clone())"
        )
    if link.graph and current.requires_grad and torch.is_grad_enabled():
        if not link.carry.requires_grad:
            raise RuntimeError(
                "state.syn/rec and their link must be detached together (state.detach()); "
                "got currents with a graph and a detached link"
            )
        return CHAINED
    return CUT


def _carry(like: Tensor, shape=None) -> Tensor:
    """A zero stand-in of ``shape`` (default ``like``'s) holding one element of memory (all
    strides 0; not a view, so that hosts may ``detach_()`` it)."""
    shape = like.shape if shape is None else shape
    carry = torch.empty_strided(shape, (0,) * len(shape), dtype=like.dtype, device=like.device)
    carry.untyped_storage().fill_(0)  # its one element (``zero_()`` would visit every index)
    return carry


class _SynapseStep(torch.autograd.Function):
    @staticmethod
    def forward(ctx, inp, current, carry, sums, weight, decay, mode, keep_start, chain, own):
        # ``sums``: the stand-in whose gradient carries the chain's parameter gradients (None
        # at a chain's first step); ``own``: whether this step's go there (its parameters are
        # the chain's) or are returned by the step itself.
        # mode CHAINED: advance ``current`` in place; else write new currents.
        r = decay.detach()
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
        ctx.mode, ctx.chain, ctx.own = mode, chain, own
        ctx.set_materialize_grads(False)  # a missing gradient arrives as None, not as zeros
        start = src if keep_start else None
        ctx.save_for_backward(inp, weight, decay, start)
        return S, new, _carry(new), _carry(new, (2, O, K))

    @staticmethod
    def backward(ctx, gS, lam, mu, gsums):
        refuse_double_backward("per-step path (every kernel but 'reference')")
        inp, weight, decay, start = ctx.saved_tensors
        needs = ctx.needs_input_grad
        want_dr = needs[5]  # M (the carry's gradient) serves dL/dr only
        mu = mu if want_dr else None
        w, r = weight.detach(), decay.detach()
        B, K = inp.shape
        O = w.shape[0]
        shape = (B, O, K)
        gS = inp.new_zeros(B, O) if gS is None else gS
        want_current = needs[1]
        want_carry = needs[2] and ctx.mode == CHAINED and want_dr
        chain = ctx.chain
        handed_lam, handed_mu, handed_sums = chain.handed
        if ctx.own:  # add to the chain's sums, which the later steps passed back
            sums = _adjoint_buffer(gsums, handed_sums, (2, O, K), inp, zero=True)
        else:  # this step's own gradients (other parameters than the chain's)
            sums = inp.new_zeros(2, O, K)
        dw, dr = sums[0], sums[1] if want_dr else None
        if _fused(inp, w, r, gS) and all(t is None or _fused(inp, t) for t in (lam, mu, start)):
            # The adjoints passed back by the next step are buffers its backward made, which
            # autograd passes on unchanged when nothing else uses the currents: the loops
            # overwrite them in place rather than allocate (B, out, in) twice per step.
            has_lam, has_mu = lam is not None, mu is not None
            empty = inp.new_empty(0, 0, 0)
            gI = _adjoint_buffer(lam, handed_lam, shape, inp) if has_lam or want_current else empty
            gD = _adjoint_buffer(mu, handed_mu, shape, inp) if has_mu or want_carry else empty
            chunks = torch.get_num_threads() if B * O * K >= PARALLEL_WORK else 1
            dinp = inp.new_zeros(chunks, B, K)
            nb = loops()
            kernel = nb.syn_step_backward if chunks > 1 else nb.syn_step_backward_serial
            kernel(
                _np(inp), _np(w), _np(r), _np(gS.contiguous()),
                gI.numpy(), gD.numpy(), (empty if start is None else start).numpy(), has_lam,
                has_mu, want_current, want_carry, dinp.numpy(), dw.numpy(),
                (dw if dr is None else dr).numpy(),
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
        gI = gI if want_current else None
        gD = gD if want_carry else None
        chained = ctx.mode == CHAINED
        # the sums go on to the step before; the chain's first step returns them
        passed = (sums if ctx.own else gsums) if chained else None
        chain.handed = (gI, gD, passed) if chained else (None, None, None)
        if ctx.own and chained:
            dw = dr = None
        else:  # copies, not views of the sums, which a .grad would keep whole
            dw, dr = dw.clone(), None if dr is None else dr.clone()
        return (
            dinp if needs[0] else None, gI, gD, passed, dw if needs[4] else None,
            dr if needs[5] else None, None, None, None, None,
        )  # fmt: skip


def _adjoint_buffer(
    grad: Optional[Tensor], handed: Optional[Tensor], shape, like: Tensor, zero: bool = False
) -> Tensor:
    """Where the backward loops work in place: ``grad`` itself when it is the buffer the next
    step's backward handed over (nothing else holds it), a copy of it otherwise, or a new
    buffer (no gradient came; zeros if ``zero``)."""
    if grad is None:
        return like.new_zeros(shape) if zero else like.new_empty(shape)
    if grad is handed and grad.is_contiguous():
        return grad
    return grad.clone(memory_format=torch.contiguous_format)


def synapse_step(
    inp: Tensor,
    current: Tensor,
    link: Optional[PathwayLink],
    weight: Tensor,
    decay: Tensor,
) -> tuple[Tensor, Tensor, Optional[PathwayLink]]:
    """One step of a per-synapse pathway: ``(S, I_new, link_new)``.

    ``inp`` (B, in); ``current`` ``I^{t-1}`` (B, out, in); ``link`` the one returned with it
    (None for currents not made here); ``weight`` and ``decay`` (out, in). ``S = sum_i I_new``
    (B, out). Same values as :func:`hetsyn_plugins.core.dynamics.synapse_step`; see the module
    docstring for what is kept and when ``current`` is advanced in place.
    """
    if torch.compiler.is_compiling():  # torch.compile traces the plain rule instead
        return dynamics.synapse_step(inp, current, None, weight, decay)
    mode = classify(current, link)
    carry = link.carry if mode == CHAINED else None
    graph = torch.is_grad_enabled() and any(
        t.requires_grad for t in (inp, current, weight, decay)
    )
    if mode == CUT and not graph:
        mode = CHAINED  # our own buffer and no graph to keep valid: advance it in place
    elif mode == CUT:
        current = current.detach()
        link.chain.retired = True  # the new chain's first step may keep its buffer
    keep_start = graph and mode != CHAINED and decay.requires_grad and bool(current.any())
    chain = link.chain if mode == CHAINED else _Chain(weight, decay)
    sums = link.sums if mode == CHAINED else None
    S, new, carry, sums = _SynapseStep.apply(
        inp, current, carry, sums, weight, decay, mode, keep_start, chain,
        chain.sums_for(weight, decay),
    )  # fmt: skip
    chain.version = new._version
    return S, new, PathwayLink(new, new._version, carry, sums, graph, chain)
