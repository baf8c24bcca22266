"""Fused GPU kernel (Triton) for the feedforward per-synapse scan.

The same recursion and adjoint as :mod:`.scan` (see its docstring for the equations), laid
out for a GPU: one program owns a (BLOCK_J x BLOCK_K) tile of synapses of one batch element and
keeps their currents in registers over all T steps; the backward recomputes nothing per step
from memory, carrying the adjoints ``Lambda`` and ``M`` of the tile in registers too. Row sums
over input blocks and the batch sums of the weight/decay gradients are atomic adds.

Imported only when triton is installed. On CPU, the tests run it under ``TRITON_INTERPRET=1``
(slow, small shapes).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor

from .scan import refuse_double_backward

BLOCK_J = 16
BLOCK_K = 64


@triton.jit
def _tile(O, K, BLOCK_J: tl.constexpr, BLOCK_K: tl.constexpr):
    """This program's batch element, synapse rows j, columns k, their masks and offsets."""
    b = tl.program_id(0)
    j = tl.program_id(1) * BLOCK_J + tl.arange(0, BLOCK_J)
    k = tl.program_id(2) * BLOCK_K + tl.arange(0, BLOCK_K)
    mj, mk = j < O, k < K
    return b, j, k, mj, mk, mj[:, None] & mk[None, :], j[:, None] * K + k[None, :]


@triton.jit
def _ff_forward_kernel(
    x_ptr, w_ptr, r_ptr, i0_ptr, s_ptr, iout_ptr,
    T, B, O, K,
    BLOCK_J: tl.constexpr, BLOCK_K: tl.constexpr,
):  # fmt: skip
    b, j, k, mj, mk, m, jk = _tile(O, K, BLOCK_J, BLOCK_K)
    w = tl.load(w_ptr + jk, mask=m, other=0.0)
    r = tl.load(r_ptr + jk, mask=m, other=0.0)
    cur = tl.load(i0_ptr + b * O * K + jk, mask=m, other=0.0)
    for t in range(0, T):
        x = tl.load(x_ptr + (t * B + b) * K + k, mask=mk, other=0.0)
        cur = r * cur + w * x[None, :]
        tl.atomic_add(s_ptr + (t * B + b) * O + j, tl.sum(cur, axis=1), mask=mj)
    tl.store(iout_ptr + b * O * K + jk, cur, mask=m)


@triton.jit
def _ff_backward_kernel(
    x_ptr, w_ptr, r_ptr, i0_ptr, g_ptr, h_ptr, dx_ptr, dw_ptr, dr_ptr, di0_ptr,
    T, B, O, K,
    BLOCK_J: tl.constexpr, BLOCK_K: tl.constexpr,
):  # fmt: skip
    b, j, k, mj, mk, m, jk = _tile(O, K, BLOCK_J, BLOCK_K)
    w = tl.load(w_ptr + jk, mask=m, other=0.0)
    r = tl.load(r_ptr + jk, mask=m, other=0.0)
    carry = tl.load(h_ptr + b * O * K + jk, mask=m, other=0.0)
    M = tl.zeros((BLOCK_J, BLOCK_K), dtype=carry.dtype)
    dw = tl.zeros((BLOCK_J, BLOCK_K), dtype=carry.dtype)
    dr = tl.zeros((BLOCK_J, BLOCK_K), dtype=carry.dtype)
    for s in range(0, T):
        t = T - 1 - s
        g = tl.load(g_ptr + (t * B + b) * O + j, mask=mj, other=0.0)
        x = tl.load(x_ptr + (t * B + b) * K + k, mask=mk, other=0.0)
        lam = g[:, None] + carry
        tl.atomic_add(dx_ptr + (t * B + b) * K + k, tl.sum(w * lam, axis=0), mask=mk)
        dw += x[None, :] * lam
        dr += w * x[None, :] * M
        M = lam + r * M
        carry = r * lam
    dr += tl.load(i0_ptr + b * O * K + jk, mask=m, other=0.0) * M
    tl.store(di0_ptr + b * O * K + jk, carry, mask=m)
    tl.atomic_add(dw_ptr + jk, dw, mask=m)
    tl.atomic_add(dr_ptr + jk, dr, mask=m)


def _grid(B: int, O: int, K: int):
    return (B, triton.cdiv(O, BLOCK_J), triton.cdiv(K, BLOCK_K))


class _TritonFeedforwardScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, w: Tensor, r: Tensor, I0: Tensor):
        x, w, r, I0 = (t.contiguous() for t in (x, w, r, I0))
        T, B, K = x.shape
        O = w.shape[0]
        S = x.new_zeros(T, B, O)
        I_out = torch.empty_like(I0)
        _ff_forward_kernel[_grid(B, O, K)](
            x, w, r, I0, S, I_out, T, B, O, K, BLOCK_J=BLOCK_J, BLOCK_K=BLOCK_K
        )
        ctx.save_for_backward(x, w, r, I0)
        return S, I_out

    @staticmethod
    def backward(ctx, G, H):
        refuse_double_backward("Triton scan (kernel='triton')")
        x, w, r, I0 = ctx.saved_tensors
        T, B, K = x.shape
        O = w.shape[0]
        G = x.new_zeros(T, B, O) if G is None else G.contiguous()
        H = torch.zeros_like(I0) if H is None else H.contiguous()
        dx = torch.zeros_like(x)
        dw, dr = torch.zeros_like(w), torch.zeros_like(r)
        dI0 = torch.empty_like(I0)
        _ff_backward_kernel[_grid(B, O, K)](
            x, w, r, I0, G, H, dx, dw, dr, dI0, T, B, O, K, BLOCK_J=BLOCK_J, BLOCK_K=BLOCK_K
        )
        return dx, dw, dr, dI0


def feedforward_scan(x: Tensor, weight: Tensor, decay: Tensor, initial: Tensor):
    """As :func:`.scan.feedforward_scan`, fused on the GPU (or under ``TRITON_INTERPRET=1``)."""
    return _TritonFeedforwardScan.apply(x, weight, decay, initial)
