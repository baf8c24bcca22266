"""Time-parallel per-synapse filter by FFT, memory-flat in the backward pass.

The feedforward synaptic part of a layer is linear in its input: with zero initial currents,

.. math:: S_j^t = \\sum_i w_{ji} \\sum_{s \\le t} r_{ji}^{t-s} x_i^s ,

a causal convolution per synapse followed by a sum over inputs. With an FFT of length
``L = 2T`` (no circular aliasing) and frequencies ``w_f = 2 pi f / L``, the truncated kernel
``k_ji^n = r_ji^n`` (n < T) has the closed-form transform

.. math:: \\hat k_{ji}(f) = \\frac{1 - r_{ji}^T e^{-i w_f T}}{1 - r_{ji} e^{-i w_f}}
          = \\frac{1 - r_{ji}^T (-1)^f}{1 - r_{ji} e^{-i w_f}},

so no power series is built, and per frequency ``S(f) = X(f) (W * K(f))^T`` is one complex
matrix product over the whole batch. The backward pass recomputes ``K`` per block of
frequencies and uses

- ``dL/dx``: the anti-causal filter of the output gradient, ``G(f) conj(W * K(f))``;
- ``dL/dw_ji = (1/L) sum_f c_f Re(K_ji(f) P_ji(f))`` and
  ``dL/dr_ji = (1/L) sum_f c_f Re(w_ji dK_ji(f)/dr P_ji(f))`` with
  ``P(f) = G(f)^H X(f)`` (Parseval; ``c_f`` = 1 at f = 0 and f = T, else 2).

Autograd keeps only ``x``, ``w`` and ``r``: nothing of size (T, out, in) or (T, B, out, in) is
stored, and frequencies are processed in blocks so the transient memory is bounded too.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .scan import refuse_double_backward

# Frequencies per block: bounds the transient (block, out, in) complex tensors.
_BLOCK_ELEMENTS = 1 << 22


def _block_size(out_features: int, in_features: int) -> int:
    return max(1, _BLOCK_ELEMENTS // (out_features * in_features))


def _frequencies(lo: int, hi: int, L: int, dtype: torch.dtype, device) -> tuple[Tensor, Tensor]:
    """``e^{-i w_f}`` and ``(-1)^f`` for f in [lo, hi), shaped (F, 1, 1)."""
    f = torch.arange(lo, hi, device=device, dtype=dtype)
    omega = (2 * math.pi / L) * f
    z = torch.polar(torch.ones_like(omega), -omega)
    sign = 1 - 2 * torch.remainder(f, 2)
    return z.view(-1, 1, 1), sign.view(-1, 1, 1)


def _kernel_transform(r: Tensor, r_T: Tensor, z: Tensor, sign: Tensor) -> tuple[Tensor, Tensor]:
    """``K(f)`` and ``1 / (1 - r e^{-i w_f})`` for a block of frequencies, (F, out, in)."""
    inv = 1 / (1 - r * z)
    return (1 - r_T * sign) * inv, inv


class _SynapticFilter(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, w: Tensor, r: Tensor) -> Tensor:
        T = x.shape[0]
        L = 2 * T
        X = torch.fft.rfft(x, n=L, dim=0)  # (F, B, in)
        r_T = r.pow(T)
        S = torch.empty(X.shape[0], x.shape[1], w.shape[0], dtype=X.dtype, device=x.device)
        step = _block_size(*w.shape)
        for lo in range(0, X.shape[0], step):
            hi = min(lo + step, X.shape[0])
            z, sign = _frequencies(lo, hi, L, x.dtype, x.device)
            K, _ = _kernel_transform(r, r_T, z, sign)
            S[lo:hi] = torch.matmul(X[lo:hi], (w * K).transpose(-1, -2))
        ctx.save_for_backward(x, w, r)
        return torch.fft.irfft(S, n=L, dim=0)[:T]

    @staticmethod
    def backward(ctx, grad: Tensor):
        refuse_double_backward("FFT filter (kernel='fft')")
        x, w, r = ctx.saved_tensors
        T = x.shape[0]
        L = 2 * T
        need_x, need_w, need_r = ctx.needs_input_grad
        G = torch.fft.rfft(grad, n=L, dim=0)  # (F, B, out)
        F = G.shape[0]
        X = torch.fft.rfft(x, n=L, dim=0) if need_w or need_r else None
        GX = G.new_empty(F, *x.shape[1:]) if need_x else None
        r_T = r.pow(T)
        r_T1 = r.pow(T - 1) * T
        gw = torch.zeros_like(w) if need_w else None
        gr = torch.zeros_like(r) if need_r else None
        step = _block_size(*w.shape)
        for lo in range(0, F, step):
            hi = min(lo + step, F)
            z, sign = _frequencies(lo, hi, L, x.dtype, x.device)
            K, inv = _kernel_transform(r, r_T, z, sign)
            if need_x:
                GX[lo:hi] = torch.matmul(G[lo:hi], (w * K).conj())
            if need_w or need_r:
                weight = torch.full((hi - lo, 1, 1), 2.0, dtype=x.dtype, device=x.device)
                weight[(torch.arange(lo, hi, device=x.device) % T) == 0] = 1.0  # f = 0 and f = T
                P = torch.matmul(G[lo:hi].conj().transpose(-1, -2), X[lo:hi])  # (F, out, in)
                if need_w:
                    gw += (weight * (K * P).real).sum(0)
                if need_r:
                    dK = (K * z - r_T1 * sign) * inv
                    gr += (weight * (dK * P).real).sum(0)
        grad_x = torch.fft.irfft(GX, n=L, dim=0)[:T] if need_x else None
        if need_w:
            gw /= L
        if need_r:
            gr *= w / L
        return grad_x, gw, gr


def synaptic_filter(x: Tensor, weight: Tensor, decay: Tensor) -> Tensor:
    """``S^t_j = sum_i w_ji sum_{s<=t} r_ji^{t-s} x_i^s`` for ``x`` (T, B, in), zero initial
    currents; returns (T, B, out). Differentiable in all three arguments."""
    return _SynapticFilter.apply(x, weight, decay)


def final_currents(x: Tensor, weight: Tensor, decay: Tensor) -> Tensor:
    """The per-synapse currents after the last step, ``I_ji^{T-1} = w_ji sum_s r_ji^{T-1-s}
    x_i^s`` (zero initial currents), shape (B, out, in); computed in blocks of steps."""
    T = x.shape[0]
    out, n_in = weight.shape
    acc = x.new_zeros(x.shape[1], out, n_in)
    step = _block_size(out, n_in)
    for lo in range(0, T, step):
        hi = min(lo + step, T)
        lags = torch.arange(T - 1 - lo, T - 1 - hi, -1, device=x.device, dtype=x.dtype)
        powers = decay.unsqueeze(0) ** lags.view(-1, 1, 1)  # (steps, out, in)
        acc = acc + torch.einsum("sbi,sji->bji", x[lo:hi], powers)
    return weight * acc
