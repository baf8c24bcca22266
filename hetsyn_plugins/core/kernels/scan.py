"""Memory-flat exact scans of the per-synapse currents.

Feedforward synapses (:func:`feedforward_scan`): over a whole sequence,

.. math:: I^t_{ji} = r_{ji} I^{t-1}_{ji} + w_{ji} x^t_i, \\qquad S^t_j = \\textstyle\\sum_i I^t_{ji}.

Recurrent synapses (:func:`recurrent_step`): one step ``Q^t = q Q^{t-1} + u z^{t-1}``,
``R^t = sum_k Q^t``, since the spikes of step ``t-1`` are only known then.

Neither stores a per-step (B, out, in) tensor for the backward pass. The backward is the
adjoint recursion (batch left out; ``G^t = dL/dS^t``):

.. math::
    \\Lambda^t &= G^t + r \\Lambda^{t+1} \\;(+\\, dL/dI^{T-1} \\text{ at } t = T-1), \\\\
    dL/dx^t_i &= \\textstyle\\sum_j w_{ji} \\Lambda^t_{ji}, \\qquad
    dL/dw_{ji} = \\textstyle\\sum_t x^t_i \\Lambda^t_{ji}, \\\\
    M^{t-1} &= \\Lambda^t + r M^t \\;(M^{T-1} = 0), \\qquad
    dL/dr_{ji} = w_{ji} \\textstyle\\sum_t x^t_i M^t_{ji} + I^{-1}_{ji} M^{-1}_{ji},

so ``dL/dr = sum_t Lambda^t I^{t-1}`` is formed without keeping any ``I^{t-1}``. The recurrent
step carries ``M`` backwards as the gradient of a dummy output, so a chain of steps stores only
the spikes (B, out) per step (and the initial currents, if any).

With numba installed the loops are fused and parallel (:mod:`._numba_scan`); otherwise the
same recursions run as torch operations on (B, out, in) tensors, one step at a time.
"""

from __future__ import annotations

import weakref
from typing import Optional

import torch
from torch import Tensor

try:  # optional: pip install hetsyn-plugins[fast]
    from . import _numba_scan as _nb
except ImportError:  # pragma: no cover - depends on the environment
    _nb = None

HAVE_NUMBA = _nb is not None
_NUMBA_DTYPES = (torch.float32, torch.float64)
use_numba = True  # switch for tests and benchmarks


def _fused(*tensors: Tensor) -> bool:
    dtype = tensors[0].dtype
    return (
        HAVE_NUMBA
        and use_numba
        and dtype in _NUMBA_DTYPES
        and all(t.device.type == "cpu" and t.dtype == dtype for t in tensors)
    )


def _np(t: Tensor):
    return t.detach().contiguous().numpy()


# --------------------------------------------------------------------------- feedforward


class _FeedforwardScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, w: Tensor, r: Tensor, I0: Tensor):
        T, B, _ = x.shape
        O, K = w.shape
        if _fused(x, w, r, I0):
            S = x.new_empty(T, B, O)
            I_out = x.new_empty(B, O, K)
            _nb.ff_forward(_np(x), _np(w), _np(r), _np(I0), S.numpy(), I_out.numpy())
        else:
            S = x.new_empty(T, B, O)
            I_out = I0
            for t in range(T):
                I_out = torch.addcmul(r * I_out, w, x[t].unsqueeze(-2))
                S[t] = I_out.sum(-1)
        ctx.save_for_backward(x, w, r, I0)
        return S, I_out

    @staticmethod
    def backward(ctx, G: Optional[Tensor], H: Optional[Tensor]):
        x, w, r, I0 = ctx.saved_tensors
        T, B, K = x.shape
        O = w.shape[0]
        G = x.new_zeros(T, B, O) if G is None else G
        H = I0.new_zeros(B, O, K) if H is None else H
        if _fused(x, w, r, I0, G, H):
            dx = x.new_empty(T, B, K)
            dwT, drT = w.new_zeros(K, O), w.new_zeros(K, O)
            dI0T = I0.new_empty(K, B, O)
            _nb.ff_backward(
                _np(x), _np(w.t()), _np(r.t()), _np(I0.permute(2, 0, 1)), _np(G),
                _np(H.permute(2, 0, 1)), dx.numpy(), dwT.numpy(), drT.numpy(), dI0T.numpy(),
            )  # fmt: skip
            return dx, dwT.t(), drT.t(), dI0T.permute(1, 2, 0)
        dx = x.new_empty(T, B, K)
        dw, dr = torch.zeros_like(w), torch.zeros_like(r)
        carry, M = H, torch.zeros_like(H)
        for t in range(T - 1, -1, -1):
            lam = G[t].unsqueeze(-1) + carry
            x_t = x[t].unsqueeze(-2)
            dx[t] = (w * lam).sum(-2)
            dw += (x_t * lam).sum(0)
            dr += (x_t * M).sum(0) * w
            M = lam + r * M
            carry = r * lam
        dr += (I0 * M).sum(0)
        return dx, dw, dr, carry


# The scans call compiled loops that torch.compile cannot trace: they run eagerly inside a
# compiled model (a graph break), everything around them still compiles.
@torch.compiler.disable
def feedforward_scan(x: Tensor, weight: Tensor, decay: Tensor, initial: Tensor):
    """``(S, I_final)``: the feedforward sums (T, B, out) and the currents after the last step
    (B, out, in), from initial currents ``initial`` (B, out, in). Differentiable in all four."""
    return _FeedforwardScan.apply(x, weight, decay, initial)


# --------------------------------------------------------------------------- recurrent


_OWN: dict[int, weakref.ref] = {}


def _own(t: Tensor) -> Tensor:
    """Remember ``t`` as a gradient buffer made by :class:`_RecurrentStep`'s backward."""
    key = id(t)
    _OWN[key] = weakref.ref(t, lambda _, key=key: _OWN.pop(key, None))
    return t


def _take_own(t: Tensor) -> bool:
    """True (once) if ``t`` is such a buffer, still alive, contiguous: free to overwrite."""
    ref = _OWN.pop(id(t), None)
    return ref is not None and ref() is t and t.is_contiguous()


class _RecurrentStep(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z: Tensor, Q: Tensor, carry: Tensor, u: Tensor, q: Tensor, first: bool):
        B, O, K = Q.shape
        # After the first step the currents are updated in place: nothing keeps Q^{t-1} (the
        # backward does not need it), and one buffer instead of a fresh (B, out, out) tensor
        # per step keeps the allocator from fragmenting (measured: ~2 MB of RSS per step).
        if first:
            Q_new = Q.clone(memory_format=torch.contiguous_format)
        else:
            Q_new = Q
            ctx.mark_dirty(Q)
        if _fused(z, Q_new, u, q) and Q_new.is_contiguous():
            R = Q.new_empty(B, O)
            _nb.rec_forward(Q_new.detach().numpy(), _np(q), _np(u), _np(z), R.numpy())
        else:
            Q_new.mul_(q).addcmul_(u, z.unsqueeze(-2))
            R = Q_new.sum(-1)
        ctx.first = first
        ctx.save_for_backward(z, u, q, Q if first else None)
        # the dummy output whose gradient carries M backwards (no memory: an expanded scalar)
        return R, Q_new, Q.new_zeros(()).expand(B, O, K)

    @staticmethod
    def backward(ctx, gR: Optional[Tensor], lam: Optional[Tensor], mu: Optional[Tensor]):
        z, u, q, Q0 = ctx.saved_tensors
        B, K = z.shape
        O = u.shape[0]
        shape = (B, O, K)
        gR = z.new_zeros(B, O) if gR is None else gR
        lam = z.new_zeros(shape) if lam is None else lam
        mu = z.new_zeros(shape) if mu is None else mu
        if _fused(z, u, q, gR, lam, mu):
            # The adjoints passed back by the step after this one are buffers this function
            # made and nothing else holds: overwrite them instead of allocating 2 new
            # (B, out, out) tensors per step (the allocation cost more than the loop).
            gQ = lam if _take_own(lam) else z.new_empty(shape)
            gD = mu if _take_own(mu) else z.new_empty(shape)
            gz, du, dq = z.new_zeros(B, K), torch.zeros_like(u), torch.zeros_like(q)
            _nb.rec_backward(
                _np(lam), _np(mu), _np(gR), _np(q), _np(u), _np(z), gQ.numpy(), gD.numpy(),
                gz.numpy(), du.numpy(), dq.numpy(),
            )  # fmt: skip
        else:
            A = lam + gR.unsqueeze(-1)
            gQ = q * A
            gD = A + q * mu
            gz = (u * A).sum(-2)
            z_k = z.unsqueeze(-2)
            du = (A * z_k).sum(0)
            dq = u * (z_k * mu).sum(0)
        if ctx.first and Q0 is not None:
            dq = dq + (Q0 * gD).sum(0)  # the decay of the initial currents
        return gz, _own(gQ), _own(gD), du, dq, None


@torch.compiler.disable
def recurrent_step(z: Tensor, Q: Tensor, carry: Optional[Tensor], u: Tensor, q: Tensor):
    """One recurrent step: ``(R, Q_new, carry_new)`` with ``R = sum_k Q_new`` (B, out).

    ``carry`` is the dummy returned by the previous step (None at the first step); pass it
    along so that the backward pass can form ``dL/dq`` without stored currents.
    """
    first = carry is None
    if first:
        carry = Q.new_zeros(()).expand_as(Q)
    return _RecurrentStep.apply(z, Q, carry, u, q, first)
