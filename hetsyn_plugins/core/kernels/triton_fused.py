"""The fused loops of :mod:`.fused` as Triton kernels: the GPU twins of the numba loops
:func:`._numba_scan.spiking_forward` / ``spiking_backward`` (per-synapse layers and readouts)
and :func:`._numba_scan.shared_forward` / ``shared_backward`` (the shared layouts).

The same recursions (see :mod:`.fused` for the equations), laid out for a GPU: one program
owns one batch element and all its neurons (a block of the next power of two >= out), and
keeps the per-neuron state and, in a recurrent layer, the (out, out) recurrent currents in
registers over all T steps. The backward sweep recomputes nothing from memory but the saved
per-neuron sequences (spikes, membranes, bias / reset / adaptation currents) and carries the
adjoints of the tile in registers too. Each program writes its own partial sums of the
parameter gradients (summed over the batch afterwards, deterministically: no atomics).

Same arguments as the numba loops (torch tensors and the named tuples of :mod:`.loop_args`);
the :class:`~.loop_args.Flags` become compile-time constants.
Imported only when triton is installed; on the CPU the tests run it under
``TRITON_INTERPRET=1``.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

# Above this many neurons a recurrent (out, out) tile no longer fits a program's registers.
MAX_RECURRENT = 256


@triton.jit
def _per_neuron(ptr, n, j, mj, O):
    return tl.load(ptr + n * O + j, mask=mj, other=0.0)


@triton.jit
def _at(ptr, t, n, j, mj, NB, O):
    return tl.load(ptr + (t * NB + n) * O + j, mask=mj, other=0.0)


@triton.jit
def _before(seq_ptr, first_ptr, t, n, j, mj, NB, O):
    """Row t - 1 of a (T, B, O) sequence, or the initial row at t = 0 (no branch)."""
    tt = j * 0 + t  # the step as a block, so that the masks are blocks of booleans
    prev = tl.load(seq_ptr + ((t - 1) * NB + n) * O + j, mask=mj & (tt > 0), other=0.0)
    return prev + tl.load(first_ptr + n * O + j, mask=mj & (tt == 0), other=0.0)


@triton.jit
def _fire(v, thr, mj, GE: tl.constexpr):
    """The spikes of membranes ``v``: ``v - thr >= 0`` with ``GE`` (SpikingJelly's rule), else
    ``> 0`` (snnTorch's); none in the padding lanes."""
    d = v - thr
    if GE:
        fired = mj & (d >= 0.0)
    else:
        fired = mj & (d > 0.0)
    return tl.where(fired, 1.0, 0.0).to(v.dtype)


# The adjoint pieces every layout's backward kernel shares, written once.
@triton.jit
def _adaptation_adjoint(la, prev, zj, rho_a, a):
    """Through ``A^t = rho_a A^{t-1} + a z^{t-1}``, given ``la = dL/dA^t``: the gradients of
    ``rho_a``, ``a`` and ``z^{t-1}``, and ``dL/dA^{t-1}``."""
    return la * prev, la * zj, la * a, rho_a * la


@triton.jit
def _reset_signal_adjoint(dR, zj, vj, th, RESET: tl.constexpr, DETACH: tl.constexpr):
    """Through the reset signal of the step before, ``R = theta_R z`` (``RESET`` 1) or
    ``R = V z`` (2), given ``dR``: the gradients of ``theta_R``, ``z^{t-1}`` and
    ``V^{t-1}``."""
    zero = dR * 0
    if RESET == 1:
        d_th = dR * zj
        d_v = zero
        d_z = dR * th
    else:
        d_th = zero
        d_v = dR * zj
        d_z = dR * vj
    if DETACH:
        d_z = zero
    return d_th, d_z, d_v


@triton.jit
def _spiking_forward_kernel(
    S, u, q, b, rb, kap, th, thr, rho, beta, Q, B0, J0, A0, v0, z0, z, v, Bs, Js, As,
    T, NB, O,
    BLOCK: tl.constexpr, RECURRENT: tl.constexpr, BIAS: tl.constexpr, RESET: tl.constexpr,
    AT_SPIKE: tl.constexpr, ADAPT: tl.constexpr, GE: tl.constexpr,
):  # fmt: skip
    n = tl.program_id(0)
    j = tl.arange(0, BLOCK)
    mj = j < O
    vb, vrb = tl.load(b + j, mask=mj, other=0.0), tl.load(rb + j, mask=mj, other=0.0)
    vkap, vth = tl.load(kap + j, mask=mj, other=0.0), tl.load(th + j, mask=mj, other=0.0)
    vthr, vrho = tl.load(thr + j, mask=mj, other=0.0), tl.load(rho + j, mask=mj, other=0.0)
    vbeta = tl.load(beta + j, mask=mj, other=0.0)
    zp, vp = _per_neuron(z0, n, j, mj, O), _per_neuron(v0, n, j, mj, O)
    Bc, Jc = _per_neuron(B0, n, j, mj, O), _per_neuron(J0, n, j, mj, O)
    Ac = _per_neuron(A0, n, j, mj, O)
    if RECURRENT:
        jk = j[:, None] * O + j[None, :]
        m2 = mj[:, None] & mj[None, :]
        U = tl.load(u + jk, mask=m2, other=0.0)
        qq = tl.load(q + jk, mask=m2, other=0.0)
        Qc = tl.load(Q + n * O * O + jk, mask=m2, other=0.0)
    for t in range(T):
        cur = _at(S, t, n, j, mj, NB, O)
        if RECURRENT:
            Qc = qq * Qc + U * zp[None, :]
            cur += tl.sum(Qc, axis=1)
        if BIAS:
            Bc = vrb * Bc + vb
            cur += Bc
        if RESET != 0:
            if RESET == 1:
                sig = vth * zp
            else:
                sig = vp * zp
            if AT_SPIKE:
                Jc = vkap * (Jc + sig)
            else:
                Jc = vkap * Jc + sig
            cur -= Jc
        if ADAPT:
            Ac = vrho * Ac + vbeta * zp
            cur -= Ac
        row = (t * NB + n) * O + j
        tl.store(v + row, cur, mask=mj)
        tl.store(Bs + row, Bc, mask=mj)
        tl.store(Js + row, Jc, mask=mj)
        tl.store(As + row, Ac, mask=mj)
        zp = _fire(cur, vthr, mj, GE)
        vp = cur
        tl.store(z + row, zp, mask=mj)
    if RECURRENT:
        tl.store(Q + n * O * O + jk, Qc, mask=m2)


@triton.jit
def _spiking_backward_kernel(
    u, q, rb, kap, th, rho, beta, z, v, Bs, Js, As, B0, J0, A0, v0, z0, Q0, gv, sg,
    gQ, gB, gJ, gA, dS, dz0, dv0, grads, du, dq,
    T, NB, O,
    BLOCK: tl.constexpr, RECURRENT: tl.constexpr, BIAS: tl.constexpr, RESET: tl.constexpr,
    AT_SPIKE: tl.constexpr, ADAPT: tl.constexpr, DETACH: tl.constexpr,
):  # fmt: skip
    n = tl.program_id(0)
    j = tl.arange(0, BLOCK)
    mj = j < O
    vrb, vkap = tl.load(rb + j, mask=mj, other=0.0), tl.load(kap + j, mask=mj, other=0.0)
    vth, vrho = tl.load(th + j, mask=mj, other=0.0), tl.load(rho + j, mask=mj, other=0.0)
    vbeta = tl.load(beta + j, mask=mj, other=0.0)
    lB, lJ = _per_neuron(gB, n, j, mj, O), _per_neuron(gJ, n, j, mj, O)
    lA = _per_neuron(gA, n, j, mj, O)
    zero = tl.zeros((BLOCK,), dtype=lB.dtype)
    g_b, g_rb, g_kap, g_th, g_thr, g_rho, g_beta = zero, zero, zero, zero, zero, zero, zero
    gzn, gvn = zero, zero  # dL/dz^t and dL/dv^t from step t + 1
    if RECURRENT:
        jk = j[:, None] * O + j[None, :]
        m2 = mj[:, None] & mj[None, :]
        U = tl.load(u + jk, mask=m2, other=0.0)
        qq = tl.load(q + jk, mask=m2, other=0.0)
        Cq = tl.load(gQ + n * O * O + jk, mask=m2, other=0.0)
        M = tl.zeros((BLOCK, BLOCK), dtype=Cq.dtype)
        dU, dQ = M, M
    for s in range(T):
        t = T - 1 - s
        zprev = _before(z, z0, t, n, j, mj, NB, O)
        vprev = _before(v, v0, t, n, j, mj, NB, O)
        gu = gzn * _at(sg, t, n, j, mj, NB, O)
        g_thr -= gu
        lv = _at(gv, t, n, j, mj, NB, O) + gvn + gu
        tl.store(dS + (t * NB + n) * O + j, lv, mask=mj)
        dzp, dvp = zero, zero
        if BIAS:
            lb = lv + lB
            g_b += lb
            g_rb += lb * _before(Bs, B0, t, n, j, mj, NB, O)
            lB = vrb * lb
        if RESET != 0:
            lj = lJ - lv
            prev = _before(Js, J0, t, n, j, mj, NB, O)
            if RESET == 1:
                sig = vth * zprev
            else:
                sig = vprev * zprev
            if AT_SPIKE:
                g_kap += lj * (prev + sig)
                dsig = vkap * lj
            else:
                g_kap += lj * prev
                dsig = lj
            lJ = vkap * lj
            d_th, d_z, d_v = _reset_signal_adjoint(dsig, zprev, vprev, vth, RESET, DETACH)
            g_th += d_th
            dzp += d_z
            dvp += d_v
        if ADAPT:
            prev = _before(As, A0, t, n, j, mj, NB, O)
            d_rho, d_beta, d_z, lA = _adaptation_adjoint(lA - lv, prev, zprev, vrho, vbeta)
            g_rho += d_rho
            g_beta += d_beta
            dzp += d_z
        if RECURRENT:
            lam = lv[:, None] + Cq
            dzp += tl.sum(U * lam, axis=0)
            dU += lam * zprev[None, :]
            dQ += U * zprev[None, :] * M
            M = lam + qq * M
            Cq = qq * lam
        gzn, gvn = dzp, dvp
    own = n * O + j
    tl.store(dz0 + own, gzn, mask=mj)
    tl.store(dv0 + own, gvn, mask=mj)
    tl.store(gB + own, lB, mask=mj)
    tl.store(gJ + own, lJ, mask=mj)
    tl.store(gA + own, lA, mask=mj)
    rows = grads + n * 8 * O + j  # rows: b, rb, kap, th, thr, rho, beta, unused
    tl.store(rows, g_b, mask=mj)
    tl.store(rows + O, g_rb, mask=mj)
    tl.store(rows + 2 * O, g_kap, mask=mj)
    tl.store(rows + 3 * O, g_th, mask=mj)
    tl.store(rows + 4 * O, g_thr, mask=mj)
    tl.store(rows + 5 * O, g_rho, mask=mj)
    tl.store(rows + 6 * O, g_beta, mask=mj)
    if RECURRENT:
        dQ += tl.load(Q0 + n * O * O + jk, mask=m2, other=0.0) * M
        tl.store(gQ + n * O * O + jk, Cq, mask=m2)
        tl.store(du + n * O * O + jk, dU, mask=m2)
        tl.store(dq + n * O * O + jk, dQ, mask=m2)


@triton.jit
def _shared_forward_kernel(
    C, U, rho, th, thr, rho_a, beta, u0, A0, v0, z0, z, v, us, As,
    T, NB, O,
    BLOCK: tl.constexpr, RECURRENT: tl.constexpr, RESET: tl.constexpr,
    AT_SPIKE: tl.constexpr, ADAPT: tl.constexpr, GE: tl.constexpr,
):  # fmt: skip
    n = tl.program_id(0)
    j = tl.arange(0, BLOCK)
    mj = j < O
    vrho, vth = tl.load(rho + j, mask=mj, other=0.0), tl.load(th + j, mask=mj, other=0.0)
    vthr, vrhoa = tl.load(thr + j, mask=mj, other=0.0), tl.load(rho_a + j, mask=mj, other=0.0)
    vbeta = tl.load(beta + j, mask=mj, other=0.0)
    zp, vp = _per_neuron(z0, n, j, mj, O), _per_neuron(v0, n, j, mj, O)
    uc, Ac = _per_neuron(u0, n, j, mj, O), _per_neuron(A0, n, j, mj, O)
    if RECURRENT:
        m2 = mj[:, None] & mj[None, :]
        Ut = tl.load(U + j[:, None] * O + j[None, :], mask=m2, other=0.0)
    for t in range(T):
        cur = _at(C, t, n, j, mj, NB, O)
        if RECURRENT:
            cur = cur + tl.sum(Ut * zp[None, :], axis=1)
        if RESET == 0:
            uc = vrho * uc + cur
        else:
            if RESET == 1:
                R = vth * zp
            else:
                R = vp * zp
            if AT_SPIKE:
                uc = vrho * (uc - R) + cur
            else:
                uc = vrho * uc + cur - R
        if ADAPT:
            Ac = vrhoa * Ac + vbeta * zp
            vv = uc - Ac
        else:
            vv = uc
        row = (t * NB + n) * O + j
        tl.store(v + row, vv, mask=mj)
        tl.store(us + row, uc, mask=mj)
        tl.store(As + row, Ac, mask=mj)
        zp = _fire(vv, vthr, mj, GE)
        vp = vv
        tl.store(z + row, zp, mask=mj)


@triton.jit
def _shared_backward_kernel(
    U, rho, th, rho_a, beta, z, v, us, As, u0, A0, v0, z0, gv, sg, gu, gA, dC, dz0, dv0,
    grads, dU,
    T, NB, O,
    BLOCK: tl.constexpr, RECURRENT: tl.constexpr, RESET: tl.constexpr,
    AT_SPIKE: tl.constexpr, ADAPT: tl.constexpr, DETACH: tl.constexpr,
):  # fmt: skip
    n = tl.program_id(0)
    j = tl.arange(0, BLOCK)
    mj = j < O
    vrho, vth = tl.load(rho + j, mask=mj, other=0.0), tl.load(th + j, mask=mj, other=0.0)
    vrhoa, vbeta = tl.load(rho_a + j, mask=mj, other=0.0), tl.load(beta + j, mask=mj, other=0.0)
    lu, lA = _per_neuron(gu, n, j, mj, O), _per_neuron(gA, n, j, mj, O)
    zero = tl.zeros((BLOCK,), dtype=lu.dtype)
    g_rho, g_th, g_thr, g_rhoa, g_beta = zero, zero, zero, zero, zero
    gzn, gvn = zero, zero
    if RECURRENT:
        m2 = mj[:, None] & mj[None, :]
        Ut = tl.load(U + j[:, None] * O + j[None, :], mask=m2, other=0.0)
        dUc = tl.zeros((BLOCK, BLOCK), dtype=lu.dtype)
    for s in range(T):
        t = T - 1 - s
        gsp = gzn * _at(sg, t, n, j, mj, NB, O)
        g_thr -= gsp
        lv = _at(gv, t, n, j, mj, NB, O) + gvn + gsp
        dzp, dvp = zero, zero
        zj = _before(z, z0, t, n, j, mj, NB, O)
        vj = _before(v, v0, t, n, j, mj, NB, O)
        up = _before(us, u0, t, n, j, mj, NB, O)
        if ADAPT:
            prev = _before(As, A0, t, n, j, mj, NB, O)
            d_rho, d_beta, d_z, lA = _adaptation_adjoint(lA - lv, prev, zj, vrhoa, vbeta)
            g_rhoa += d_rho
            g_beta += d_beta
            dzp += d_z
        lam = lv + lu  # dL/du^t
        tl.store(dC + (t * NB + n) * O + j, lam, mask=mj)
        if RESET == 0:
            g_rho += lam * up
            dR = -lam
        else:
            if RESET == 1:
                R = vth * zj
            else:
                R = vj * zj
            if AT_SPIKE:
                g_rho += lam * (up - R)
                dR = -vrho * lam
            else:
                g_rho += lam * up
                dR = -lam
        lu = vrho * lam
        if RESET != 0:
            d_th, d_z, d_v = _reset_signal_adjoint(dR, zj, vj, vth, RESET, DETACH)
            g_th += d_th
            dzp += d_z
            dvp += d_v
        if RECURRENT:
            dzp += tl.sum(Ut * lam[:, None], axis=0)
            dUc += lam[:, None] * zj[None, :]
        gzn, gvn = dzp, dvp
    own = n * O + j
    tl.store(dz0 + own, gzn, mask=mj)
    tl.store(dv0 + own, gvn, mask=mj)
    tl.store(gu + own, lu, mask=mj)
    tl.store(gA + own, lA, mask=mj)
    rows = grads + n * 8 * O + j  # rows: rho, th, thr, rho_a, beta
    tl.store(rows, g_rho, mask=mj)
    tl.store(rows + O, g_th, mask=mj)
    tl.store(rows + 2 * O, g_thr, mask=mj)
    tl.store(rows + 3 * O, g_rhoa, mask=mj)
    tl.store(rows + 4 * O, g_beta, mask=mj)
    if RECURRENT:
        tl.store(dU + n * O * O + j[:, None] * O + j[None, :], dUc, mask=m2)


def _constants(flags, O: int) -> dict:
    recurrent, bias, reset, at_spike, adapt, ge, detach = (int(f) for f in flags)
    return dict(
        BLOCK=triton.next_power_of_2(max(O, 1)), RECURRENT=bool(recurrent), BIAS=bool(bias),
        RESET=reset, AT_SPIKE=bool(at_spike), ADAPT=bool(adapt), GE=bool(ge),
        DETACH=bool(detach),
    )  # fmt: skip


class Loops:
    """The Triton loops behind :class:`.fused._SpikingScan`: same arguments as the numba
    loops (torch tensors, contiguous), one program per batch element."""

    @staticmethod
    def chunks(batch: int) -> int:
        return batch  # one partial sum of the parameter gradients per program

    @staticmethod
    def spiking_forward(S, u, q, p, flags, Q, start, trace):
        T, NB, O = S.shape
        c = _constants(flags, O)
        del c["DETACH"]
        _spiking_forward_kernel[(NB,)](S, u, q, *p, Q, *start, *trace, T, NB, O, **c)

    @staticmethod
    def spiking_backward(u, q, p, flags, trace, start, Q0, gv, sg, gQ, gstate, dS, grads, du, dq):
        T, NB, O = trace.spike.shape
        c = _constants(flags, O)
        del c["GE"]
        rows = torch.zeros(NB, 8, O, dtype=gv.dtype, device=gv.device)  # the kernel's layout
        _spiking_backward_kernel[(NB,)](
            u, q, p.bias_decay, p.reset_decay, p.reset_amount, p.adapt_decay, p.adapt_strength,
            *trace, *start, Q0, gv, sg, gQ, gstate.bias, gstate.reset, gstate.adapt, dS,
            gstate.spike, gstate.v, rows, du, dq, T, NB, O, **c,
        )  # fmt: skip
        for k, g in enumerate(grads):  # rows: the fields of NeuronParams, in order
            g += rows[:, k]

    @staticmethod
    def shared_forward(C, U, p, flags, start, trace):
        T, NB, O = C.shape
        c = _constants(flags, O)
        del c["DETACH"], c["BIAS"]
        _shared_forward_kernel[(NB,)](C, U, *p, *start, *trace, T, NB, O, **c)

    @staticmethod
    def shared_backward(U, p, flags, trace, start, gv, sg, gstate, dC, grads, dU):
        T, NB, O = trace.spike.shape
        c = _constants(flags, O)
        del c["GE"], c["BIAS"]
        rows = torch.zeros(NB, 8, O, dtype=gv.dtype, device=gv.device)
        _shared_backward_kernel[(NB,)](
            U, p.decay, p.reset_amount, p.adapt_decay, p.adapt_strength, *trace, *start, gv, sg,
            gstate.current, gstate.adapt, dC, gstate.spike, gstate.v, rows, dU, T, NB, O, **c,
        )  # fmt: skip
        for k, g in enumerate(grads):  # rows: the fields of SharedParams, in order
            g += rows[:, k]
