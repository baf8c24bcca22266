"""The memory-flat exact scan of the feedforward per-synapse currents over a whole sequence
(:func:`feedforward_scan`), and the switch to the fused CPU loops (:func:`loops`).

.. math:: I^t_{ji} = r_{ji} I^{t-1}_{ji} + w_{ji} x^t_i, \\qquad S^t_j = \\textstyle\\sum_i I^t_{ji}.

No per-step (B, out, in) tensor is stored for the backward pass, which is the adjoint
recursion (batch left out; ``G^t = dL/dS^t``):

.. math::
    \\Lambda^t &= G^t + r \\Lambda^{t+1} \\;(+\\, dL/dI^{T-1} \\text{ at } t = T-1), \\\\
    dL/dx^t_i &= \\textstyle\\sum_j w_{ji} \\Lambda^t_{ji}, \\qquad
    dL/dw_{ji} = \\textstyle\\sum_t x^t_i \\Lambda^t_{ji}, \\\\
    M^{t-1} &= \\Lambda^t + r M^t \\;(M^{T-1} = 0), \\qquad
    dL/dr_{ji} = w_{ji} \\textstyle\\sum_t x^t_i M^t_{ji} + I^{-1}_{ji} M^{-1}_{ji},

so ``dL/dr = sum_t Lambda^t I^{t-1}`` is formed without keeping any ``I^{t-1}``. Recurrent
currents depend on the spikes of the step before, known only then: they run step by step, on
the per-step path of :mod:`.stepwise`.

With numba installed the loops are fused and parallel (:mod:`._numba_scan`); otherwise the
same recursions run as torch operations on (B, out, in) tensors, one step at a time. Under
``torch.compile`` the scan is left out of the graph (the compiled loops cannot be traced).
:func:`feedforward_scan_ref` is its pure-torch twin (same signature, plain autograd).
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from .. import dynamics

_NUMBA_DTYPES = (torch.float32, torch.float64)
use_numba = True  # switch for tests and benchmarks


_LOOPS = None  # the module, False where it cannot be imported; None until the first call


def loops():
    """The fused loops (:mod:`._numba_scan`), imported on first use, since importing numba
    costs a few tenths of a second; None where numba is missing. Each is called through
    :class:`_TorchThreads`."""
    global _LOOPS
    if _LOOPS is None:
        try:
            from . import _numba_scan as module
        except ImportError:  # pragma: no cover - depends on the environment
            _LOOPS = False
        else:
            _LOOPS = _TorchThreads(module)
    return _LOOPS or None


class _TorchThreads:
    """The numba loops of ``module``, run on as many threads as torch uses
    (``torch.set_num_threads``), and leaving torch's thread count as it was: numba's OpenMP
    layer would otherwise set the process's OpenMP threads to all cores, which torch then
    uses too (a process told to use one thread beside others oversubscribes the CPU)."""

    def __init__(self, module):
        self._module = module

    def __getattr__(self, name: str):
        import numba

        loop = getattr(self._module, name)

        def call(*args):
            threads = torch.get_num_threads()
            numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
            try:
                return loop(*args)
            finally:
                if torch.get_num_threads() != threads:
                    torch.set_num_threads(threads)

        return call


def have_numba() -> bool:
    """Whether the fused CPU loops are available (numba installed and importable)."""
    return loops() is not None


def unfused_reason(*tensors: Tensor) -> Optional[str]:
    """Why the numba loops cannot take these tensors (the first one is the input), in words;
    None when they can: numba installed and switched on, the CPU, float32 or float64, one
    dtype."""
    if not use_numba:
        return "the numba loops are switched off (kernels.scan.use_numba = False)"
    if not have_numba():
        return "numba is not installed (pip install numba)"
    x = tensors[0]
    if x.dtype not in _NUMBA_DTYPES:
        return f"the input is {x.dtype}; the numba loops take float32 and float64"
    for t in tensors:
        if t.device.type != "cpu":
            return f"a tensor is on {t.device}; the numba loops run on the CPU"
        if t.dtype != x.dtype:
            return (
                f"a parameter or state tensor is {t.dtype}, the input {x.dtype}; the numba "
                "loops take one dtype"
            )
    return None


def _fused(*tensors: Tensor) -> bool:
    return unfused_reason(*tensors) is None


def refuse_double_backward(kernel: str) -> None:
    """Raise where a backward pass is asked to build a graph (``create_graph=True``: gradient
    penalties, Hessian-vector products, meta-learning): the fast kernels' backward passes are
    hand-written and not differentiable, so their gradients would silently lack the
    second-order terms."""
    if torch.is_grad_enabled():
        raise RuntimeError(
            f"a second derivative (create_graph=True) through the {kernel} is not supported: "
            "its backward pass is not differentiable. Use kernel='reference' for gradient "
            "penalties, Hessian-vector products and other double backward"
        )


def _np(t: Tensor):
    return t.detach().contiguous().numpy()


# --------------------------------------------------------------------------- feedforward


class _FeedforwardScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, w: Tensor, r: Tensor, I0: Tensor):
        T, B, _ = x.shape
        O, K = w.shape
        nonzero = bool(I0.any())
        if _fused(x, w, r, I0):
            S = x.new_empty(T, B, O)
            I_out = x.new_empty(B, O, K)
            initial = _np(I0) if nonzero else None
            loops().ff_forward(_np(x), _np(w), _np(r), initial, S.numpy(), I_out.numpy())
        else:
            S = x.new_empty(T, B, O)
            I_out = I0
            for t in range(T):
                I_out = torch.addcmul(r * I_out, w, x[t].unsqueeze(-2))
                S[t] = I_out.sum(-1)
        # the initial currents enter the backward only through dL/dr
        ctx.initial_nonzero = nonzero
        ctx.save_for_backward(x, w, r, I0)
        return S, I_out

    @staticmethod
    def backward(ctx, G: Optional[Tensor], H: Optional[Tensor]):
        refuse_double_backward("feedforward scan (kernel='scan')")
        x, w, r, I0 = ctx.saved_tensors
        T, B, K = x.shape
        O = w.shape[0]
        G = x.new_zeros(T, B, O) if G is None else G
        if _fused(x, w, r, I0, G, *(() if H is None else (H,))):
            return _fused_backward(ctx, x, w, r, I0, G, H)
        H = I0.new_zeros(B, O, K) if H is None else H
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


def _fused_backward(ctx, x, w, r, I0, G, H):
    """The backward pass through the fused loop: only the gradients autograd asks for are
    computed (none for the input of a data layer, fixed decays or frozen weights), and the
    parameter gradients are summed over per-chunk partial sums, one per thread."""
    want_dx, want_dw, want_dr, want_dI0 = ctx.needs_input_grad
    T, B, K = x.shape
    O = w.shape[0]
    chunks = min(B, torch.get_num_threads())
    dx = x.new_zeros(T, B, K) if want_dx else None
    dW = w.new_zeros(chunks, O, K) if want_dw else None
    dXM = w.new_zeros(chunks, O, K) if want_dr else None
    dR0 = w.new_zeros(chunks, O, K) if want_dr and ctx.initial_nonzero else None
    dI0 = I0.new_empty(B, O, K) if want_dI0 else None
    loops().ff_backward(
        _np(x), _np(w), _np(r), _np(I0) if dR0 is not None else None, _np(G),
        None if H is None else _np(H),
        *(None if a is None else a.numpy() for a in (dx, dW, dXM, dR0, dI0)),
    )  # fmt: skip
    dw = None if dW is None else dW.sum(0)
    dr = None
    if dXM is not None:
        dr = w * dXM.sum(0)
        if dR0 is not None:
            dr += dR0.sum(0)
    return dx, dw, dr, dI0


def feedforward_scan(x: Tensor, weight: Tensor, decay: Tensor, initial: Tensor):
    """``(S, I_final)``: the feedforward sums (T, B, out) and the currents after the last step
    (B, out, in), from initial currents ``initial`` (B, out, in). Differentiable in all four."""
    return _FeedforwardScan.apply(x, weight, decay, initial)


def feedforward_scan_ref(x: Tensor, weight: Tensor, decay: Tensor, initial: Tensor):
    """The pure-torch twin of :func:`feedforward_scan` (same signature, same values):
    :func:`hetsyn_plugins.core.dynamics.synapse_step` over the sequence with plain autograd,
    which keeps a (B, out, in) tensor per step."""
    sums, current = [], initial
    for x_t in x:
        s, current, _ = dynamics.synapse_step(x_t, current, None, weight, decay)
        sums.append(s)
    return torch.stack(sums), current
