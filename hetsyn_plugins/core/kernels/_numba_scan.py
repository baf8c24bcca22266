"""Fused CPU loops (numba) for the per-synapse pathways of :mod:`.scan` and :mod:`.stepwise`.

Each loop keeps the per-synapse quantities of one row in registers/L1 and touches memory
once; parallel loops own disjoint outputs, so there are no races. Compiled on first use and
cached on disk. Imported on first use (:func:`.scan.loops`).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

# Reassociation lets the row sums vectorize (results equal the reference up to rounding).
_FAST = {"reassoc", "contract"}
# The whole-sequence loops are parallel; each per-step loop also has a serial twin, for small
# work, where a parallel loop called between torch operations would fight torch's own OpenMP
# threads (measured: about 7x slower per step on 2 cores).
_SEQUENCE = {"parallel": True, "fastmath": _FAST, "cache": True, "nogil": True}
_STEP = {"parallel": False, "fastmath": _FAST, "cache": True, "nogil": True}


# The inner loops live in small functions of their own, each called once per row (or per
# step of a whole matrix) and indexing the full arrays: LLVM vectorizes a loop when few arrays
# meet in it, and a call that slices rows out of arrays pays reference counting per slice
# (measured: 1.4x-3x slower on rows of 128-700). Sums start from a zero of the data's dtype,
# so that float32 rows are summed in float32 (a float literal would widen every sum to
# float64 and halve the vector width). Optional arrays are None, not empty: ``is None``
# branches are pruned when a loop is compiled (one version per combination).
_ROW = {"fastmath": _FAST, "cache": True, "nogil": True}


@njit(**_ROW)
def _ff_forward_row(row, w, r, x, S, b, j, t, T):  # pragma: no cover - compiled
    """Row (b, j) of the feedforward currents over steps t to T - 1, four steps per pass over
    the row: ``row <- r_j row + w_j x^t[b]``, ``S[t, b, j] = sum(row)``."""
    K = x.shape[2]
    zero = S.dtype.type(0)
    while t + 4 <= T:
        a0 = zero
        a1 = zero
        a2 = zero
        a3 = zero
        for i in range(K):
            ri, wi = r[j, i], w[j, i]
            v = ri * row[i] + wi * x[t, b, i]
            a0 += v
            v = ri * v + wi * x[t + 1, b, i]
            a1 += v
            v = ri * v + wi * x[t + 2, b, i]
            a2 += v
            v = ri * v + wi * x[t + 3, b, i]
            a3 += v
            row[i] = v
        S[t, b, j], S[t + 1, b, j], S[t + 2, b, j], S[t + 3, b, j] = a0, a1, a2, a3
        t += 4
    while t < T:
        a0 = zero
        for i in range(K):
            v = r[j, i] * row[i] + w[j, i] * x[t, b, i]
            row[i] = v
            a0 += v
        S[t, b, j] = a0
        t += 1


@njit(**_ROW)
def _ff_forward_rows4(I, w, r, x, S, b, j, t, T):  # pragma: no cover - compiled
    """Rows (b, j) to (b, j + 3) of the feedforward currents ``I`` (B, out, in) over steps t
    to T - 1, as :func:`_ff_forward_row`: the four rows share each read of the input (which
    comes from L2), four steps per pass."""
    K = x.shape[2]
    zero = S.dtype.type(0)
    while t + 4 <= T:
        a00 = a01 = a02 = a03 = zero
        a10 = a11 = a12 = a13 = zero
        a20 = a21 = a22 = a23 = zero
        a30 = a31 = a32 = a33 = zero
        for i in range(K):
            x0, x1, x2, x3 = x[t, b, i], x[t + 1, b, i], x[t + 2, b, i], x[t + 3, b, i]
            ri, wi = r[j, i], w[j, i]
            v = ri * I[b, j, i] + wi * x0
            a00 += v
            v = ri * v + wi * x1
            a01 += v
            v = ri * v + wi * x2
            a02 += v
            v = ri * v + wi * x3
            a03 += v
            I[b, j, i] = v
            ri, wi = r[j + 1, i], w[j + 1, i]
            v = ri * I[b, j + 1, i] + wi * x0
            a10 += v
            v = ri * v + wi * x1
            a11 += v
            v = ri * v + wi * x2
            a12 += v
            v = ri * v + wi * x3
            a13 += v
            I[b, j + 1, i] = v
            ri, wi = r[j + 2, i], w[j + 2, i]
            v = ri * I[b, j + 2, i] + wi * x0
            a20 += v
            v = ri * v + wi * x1
            a21 += v
            v = ri * v + wi * x2
            a22 += v
            v = ri * v + wi * x3
            a23 += v
            I[b, j + 2, i] = v
            ri, wi = r[j + 3, i], w[j + 3, i]
            v = ri * I[b, j + 3, i] + wi * x0
            a30 += v
            v = ri * v + wi * x1
            a31 += v
            v = ri * v + wi * x2
            a32 += v
            v = ri * v + wi * x3
            a33 += v
            I[b, j + 3, i] = v
        S[t, b, j], S[t + 1, b, j] = a00, a01
        S[t + 2, b, j], S[t + 3, b, j] = a02, a03
        S[t, b, j + 1], S[t + 1, b, j + 1] = a10, a11
        S[t + 2, b, j + 1], S[t + 3, b, j + 1] = a12, a13
        S[t, b, j + 2], S[t + 1, b, j + 2] = a20, a21
        S[t + 2, b, j + 2], S[t + 3, b, j + 2] = a22, a23
        S[t, b, j + 3], S[t + 1, b, j + 3] = a30, a31
        S[t + 2, b, j + 3], S[t + 3, b, j + 3] = a32, a33
        t += 4
    for q in range(4):  # the last steps (fewer than four), row by row
        _ff_forward_row(I[b, j + q], w, r, x, S, b, j + q, t, T)


# Steps per chunk of the whole-sequence loops: a chunk of one batch row's input (and input
# gradient) stays in L2 while every output row passes over it (B1's 700 inputs: 0.7 MB).
_CHUNK = 256


@njit(**_SEQUENCE)
def ff_forward(x, w, r, I0, S, I_out):  # pragma: no cover - compiled
    """S[t,b,j] = sum_i I[t,b,j,i], I^t = r I^{t-1} + w x^t; I_out = I^{T-1}. ``I0`` None:
    zero initial currents. Chunks of steps in turn; within one, blocks of four rows
    (b, j..j+3) in parallel (the last rows of ``out`` one by one)."""
    T = x.shape[0]
    B, O = I_out.shape[0], I_out.shape[1]
    blocks = (O + 3) // 4
    for n in prange(B * O):
        if I0 is None:
            I_out[n // O, n % O] = 0
        else:
            I_out[n // O, n % O] = I0[n // O, n % O]
    for t0 in range(0, T, _CHUNK):
        t1 = min(T, t0 + _CHUNK)
        for n in prange(B * blocks):
            b = n // blocks
            j = 4 * (n % blocks)
            if j + 4 <= O:
                _ff_forward_rows4(I_out, w, r, x, S, b, j, t0, t1)
            else:
                for q in range(j, O):
                    _ff_forward_row(I_out[b, q], w, r, x, S, b, q, t0, t1)


@njit(**_ROW)
def _ff_adjoint4(C, M, w, r, x, G, dx, dW, dXM, c, b, j, t):  # pragma: no cover - compiled
    """Reverse steps t, t-1, t-2, t-3 of row (b, j) of the adjoint, in one pass over the row.
    ``C`` holds ``r Lambda`` of the step after, ``M`` the carry of dL/dr; accumulates
    ``dx[t, b]`` (``w Lambda``), ``dW[c, j]`` (``x Lambda``) and ``dXM[c, j]`` (``x M``: dL/dr
    is ``w`` times its sum), each None when not wanted. (One call per block of four steps:
    with the loop over t inside, LLVM left the row loop scalar.)"""
    K = x.shape[2]
    g0, g1, g2, g3 = G[t, b, j], G[t - 1, b, j], G[t - 2, b, j], G[t - 3, b, j]
    for i in range(K):
        ri, wi, ci = r[j, i], w[j, i], C[i]
        if dXM is not None:
            mi, am = M[i], dXM[c, j, i]
        if dW is not None:
            aw = dW[c, j, i]
        lam = g0 + ci
        if dx is not None:
            dx[t, b, i] += wi * lam
        xv = x[t, b, i]
        if dW is not None:
            aw += xv * lam
        if dXM is not None:
            am += xv * mi
            mi = lam + ri * mi
        ci = ri * lam
        lam = g1 + ci
        if dx is not None:
            dx[t - 1, b, i] += wi * lam
        xv = x[t - 1, b, i]
        if dW is not None:
            aw += xv * lam
        if dXM is not None:
            am += xv * mi
            mi = lam + ri * mi
        ci = ri * lam
        lam = g2 + ci
        if dx is not None:
            dx[t - 2, b, i] += wi * lam
        xv = x[t - 2, b, i]
        if dW is not None:
            aw += xv * lam
        if dXM is not None:
            am += xv * mi
            mi = lam + ri * mi
        ci = ri * lam
        lam = g3 + ci
        if dx is not None:
            dx[t - 3, b, i] += wi * lam
        xv = x[t - 3, b, i]
        if dW is not None:
            aw += xv * lam
        if dXM is not None:
            am += xv * mi
            mi = lam + ri * mi
        C[i] = ri * lam
        if dXM is not None:
            M[i], dXM[c, j, i] = mi, am
        if dW is not None:
            dW[c, j, i] = aw


@njit(**_ROW)
def _ff_adjoint1(C, M, w, r, x, G, dx, dW, dXM, c, b, j, t):  # pragma: no cover - compiled
    """Reverse step t of row (b, j) of the adjoint (as :func:`_ff_adjoint4`)."""
    g0 = G[t, b, j]
    for i in range(x.shape[2]):
        ri, ci = r[j, i], C[i]
        lam = g0 + ci
        if dx is not None:
            dx[t, b, i] += w[j, i] * lam
        if dW is not None:
            dW[c, j, i] += x[t, b, i] * lam
        if dXM is not None:
            mi = M[i]
            dXM[c, j, i] += x[t, b, i] * mi
            M[i] = lam + ri * mi
        C[i] = ri * lam


@njit(**_SEQUENCE)
def ff_backward(x, w, r, I0, G, H, dx, dW, dXM, dR0, dI0):  # pragma: no cover - compiled
    """The reverse adjoint sweep of :func:`ff_forward`, rows (b, j) as there.

    ``P`` chunks of the batch run in parallel (``P``: the first dimension of the per-chunk
    sums); each owns its rows of ``dx`` (T, B, in) and its slice of the per-chunk sums
    ``dW`` (dL/dw), ``dXM`` (sum of x M; dL/dr = w times it, plus ``dR0``, the initial
    currents' part), all (P, out, in). ``I0``, ``H`` (B, out, in): the initial currents and
    the final currents' gradient, None when zero; ``dx``, ``dW``, ``dXM``, ``dI0``: None when
    not wanted (``dR0`` is None then too, and whenever ``I0`` is)."""
    T, B, K = x.shape
    O = w.shape[0]
    P = dW.shape[0] if dW is not None else dXM.shape[0] if dXM is not None else min(B, 64)
    for c in prange(P):
        # the adjoints of every row of one batch index (0.7 MB for B1's first layer: in L2
        # beside a chunk of the input), carried from chunk to chunk of steps
        C = np.empty((O, K), dtype=G.dtype)
        M = np.empty((O, K), dtype=G.dtype)
        for b in range(c * B // P, (c + 1) * B // P):
            if H is None:
                C[:] = 0
            else:
                C[:] = H[b]
            M[:] = 0
            for t1 in range(T, 0, -_CHUNK):
                t0 = max(0, t1 - _CHUNK)
                for j in range(O):
                    Cj, Mj = C[j], M[j]
                    t = t1 - 1
                    while t >= t0 + 3:
                        _ff_adjoint4(Cj, Mj, w, r, x, G, dx, dW, dXM, c, b, j, t)
                        t -= 4
                    while t >= t0:
                        _ff_adjoint1(Cj, Mj, w, r, x, G, dx, dW, dXM, c, b, j, t)
                        t -= 1
            if dR0 is not None:
                for j in range(O):
                    for i in range(K):
                        dR0[c, j, i] += I0[b, j, i] * M[j, i]
            if dI0 is not None:
                dI0[b] = C


# --------------------------------------------------------------------------- one step


# Output rows per tile of the per-step loops: the tile's rows of w, r, dw and dr stay in L2
# while the batch streams through it; each batch index reads one contiguous block of state.
_TILE = 16


@njit(**_ROW)
def _syn_step_row(inp, src, w, r, dst, S, b, j):  # pragma: no cover - compiled
    """Row (b, j) of :func:`syn_step_forward`."""
    acc = S.dtype.type(0)
    if src is None:
        for i in range(dst.shape[2]):
            v = r[j, i] * dst[b, j, i] + w[j, i] * inp[b, i]
            dst[b, j, i] = v
            acc += v
    else:
        for i in range(dst.shape[2]):
            v = r[j, i] * src[b, j, i] + w[j, i] * inp[b, i]
            dst[b, j, i] = v
            acc += v
    S[b, j] = acc


@njit(**_SEQUENCE)
def syn_step_forward(inp, src, w, r, dst, S):  # pragma: no cover - compiled
    """One step of a per-synapse pathway: dst = r src + w inp[:, None, :], S = dst.sum(-1);
    ``src`` None: in place on ``dst``. Tiles of output rows run in parallel; within a tile
    the batch streams past rows of ``w`` and ``r`` that stay in cache (read once per tile,
    not once per batch index)."""
    for tile in prange((dst.shape[1] + _TILE - 1) // _TILE):
        _syn_step_tile(inp, src, w, r, dst, S, tile)


@njit(**_STEP)
def syn_step_forward_serial(inp, src, w, r, dst, S):  # pragma: no cover - compiled
    """:func:`syn_step_forward` on one thread (a function of its own: numba's disk cache
    keys a compiled loop by its function, so the parallel and serial loops must not share one)."""
    for tile in range((dst.shape[1] + _TILE - 1) // _TILE):
        _syn_step_tile(inp, src, w, r, dst, S, tile)


@njit(**_ROW)
def _syn_step_tile(inp, src, w, r, dst, S, tile):  # pragma: no cover - compiled
    B, O, K = dst.shape
    for b in range(B):
        for j in range(tile * _TILE, min(O, (tile + 1) * _TILE)):
            _syn_step_row(inp, src, w, r, dst, S, b, j)


@njit(**_SEQUENCE)
def syn_step_backward(
    inp, w, r, gS, gI, gD, start, has_lam, has_mu, want_gI, want_gD, dinp, dw, dr
):  # pragma: no cover - compiled
    """One reverse step of a per-synapse pathway (see :mod:`.stepwise`), in place.

    On entry ``gI`` holds the gradient of the currents this step returned (``Lambda`` from
    the step after, when ``has_lam``; else anything) and ``gD`` that of its carry (``M``,
    when ``has_mu``); on exit they hold the gradients of the currents and carry it took
    (written when ``want_gI`` / ``want_gD``). ``start``: the currents the step started from,
    kept at the first step of a chain (empty: none). ``dinp`` (chunks, B, in) holds one
    partial sum per chunk of output rows, so that parallel chunks never write the same entry.
    """
    for c in prange(dinp.shape[0]):
        _syn_step_backward_chunk(inp, w, r, gS, gI, gD, start, has_lam, has_mu, want_gI,
                                 want_gD, dinp, dw, dr, c)  # fmt: skip


@njit(**_STEP)
def syn_step_backward_serial(
    inp, w, r, gS, gI, gD, start, has_lam, has_mu, want_gI, want_gD, dinp, dw, dr
):  # pragma: no cover - compiled
    """:func:`syn_step_backward` on one thread (see :func:`syn_step_forward_serial`)."""
    for c in range(dinp.shape[0]):
        _syn_step_backward_chunk(inp, w, r, gS, gI, gD, start, has_lam, has_mu, want_gI,
                                 want_gD, dinp, dw, dr, c)  # fmt: skip


@njit(**_ROW)
def _syn_step_backward_chunk(
    inp, w, r, gS, gI, gD, start, has_lam, has_mu, want_gI, want_gD, dinp, dw, dr, c
):  # pragma: no cover - compiled
    """Chunk ``c`` of the output rows of :func:`syn_step_backward`."""
    B, K = inp.shape
    O = w.shape[0]
    P = dinp.shape[0]
    chained = has_lam and want_gI and start.size == 0 and has_mu == want_gD
    L = np.empty(K, dtype=inp.dtype)
    first, last = c * O // P, (c + 1) * O // P
    for tile in range(first, last, _TILE):
        for b in range(B):
            for j in range(tile, min(tile + _TILE, last)):
                if chained and has_mu:
                    _chained_row(inp, w, r, gS, gI, gD, dinp, dw, dr, c, b, j)
                elif chained:
                    _chained_row(inp, w, r, gS, gI, None, dinp, dw, None, c, b, j)
                else:
                    _backward_row(inp, w, r, gS, gI, gD, start, has_lam, has_mu, want_gI,
                                  want_gD, dinp[c], dw, dr, L, b, j)  # fmt: skip


@njit(**_ROW)
def _chained_row(inp, w, r, gS, gI, gD, dinp, dw, dr, c, b, j):  # pragma: no cover - compiled
    """Row (b, j) of a reverse step inside a chain, in one pass over the row: ``gI``, ``gD``
    hold Lambda and M of the step after and leave with this step's (``gD`` None: no M, no
    dL/dr wanted)."""
    g = gS[b, j]
    for i in range(inp.shape[1]):
        Li = g + gI[b, j, i]
        ri, wi, xi = r[j, i], w[j, i], inp[b, i]
        gI[b, j, i] = ri * Li
        dinp[c, b, i] += wi * Li
        dw[j, i] += xi * Li
        if gD is not None:
            m = gD[b, j, i]
            dr[j, i] += wi * xi * m
            gD[b, j, i] = Li + ri * m


@njit(inline="always", fastmath=_FAST, nogil=True)
def _backward_row(
    inp, w, r, gS, gI, gD, start, has_lam, has_mu, want_gI, want_gD, dinp, dw, dr, L, b, j
):  # pragma: no cover - compiled
    """Row (b, j) of :func:`syn_step_backward`. Each loop reads or writes one row of a
    (B, out, in) array at most, in place, so that it vectorizes; ``L`` (this row's
    ``Lambda``) stays in L1."""
    K = inp.shape[1]
    g = gS[b, j]
    x, wj, rj, d, dwj, drj = inp[b], w[j], r[j], dinp[b], dw[j], dr[j]
    if has_lam:
        lam = gI[b, j]
        for i in range(K):
            L[i] = g + lam[i]
    else:
        for i in range(K):
            L[i] = g
    if want_gI:
        out = gI[b, j]
        for i in range(K):
            out[i] = rj[i] * L[i]
    for i in range(K):
        d[i] += wj[i] * L[i]
        dwj[i] += x[i] * L[i]
    if start.size > 0:  # the first step of a chain: dL/dr += I^{t-1} M^{t-1}
        s = start[b, j]
        if has_mu:
            mu = gD[b, j]
            for i in range(K):
                drj[i] += s[i] * (L[i] + rj[i] * mu[i])
        else:
            for i in range(K):
                drj[i] += s[i] * L[i]
    if has_mu:
        mu = gD[b, j]
        for i in range(K):
            m = mu[i]
            drj[i] += wj[i] * x[i] * m
            mu[i] = L[i] + rj[i] * m
    elif want_gD:
        out = gD[b, j]
        for i in range(K):
            out[i] = L[i]




# --------------------------------------------------------------------------- a spiking layer


@njit(inline="always", nogil=True)
def _fire(v, thr, ge, z, zp, vp):  # pragma: no cover - compiled
    """Spikes of one step (``u = v - thr`` > 0, or >= 0 with ``ge``) into ``z``; ``zp``,
    ``vp`` become this step's spikes and membranes (the step after reads them)."""
    for j in range(v.shape[0]):
        d = v[j] - thr[j]
        zj = 1.0 if (d >= 0.0 if ge else d > 0.0) else 0.0
        z[j] = zj
        zp[j] = zj
        vp[j] = v[j]


@njit(**_ROW)
def _rec_forward_step(Q, q, u, zp, out):  # pragma: no cover - compiled
    """One step of the recurrent currents of one batch row, ``Q <- q Q + u z^{t-1}`` (out, out),
    and their row sums into ``out``."""
    zero = out.dtype.type(0)
    O = Q.shape[0]
    for j in range(O):
        acc = zero
        for k in range(O):
            val = q[j, k] * Q[j, k] + u[j, k] * zp[k]
            Q[j, k] = val
            acc += val
        out[j] = acc


@njit(**_ROW)
def _rec_backward_step(lv, C, M, uT, qT, zprev, dzp, duT, dqT):  # pragma: no cover - compiled
    """One reverse step of the recurrent currents of one batch row (the adjoint of
    :func:`_rec_forward_step`, as :func:`_ff_adjoint4`'s), transposed: row k of ``C``, ``M``,
    ``uT``, ``qT``, ``duT``, ``dqT`` is column k of the (out, out) arrays, ``lv`` holds the
    membrane adjoints of all neurons j. Adds dL/dz^{t-1} into ``dzp``; the sums of dL/du and
    dL/dq skip the rows of neurons that did not spike (``zprev[k] == 0``)."""
    O = C.shape[0]
    for k in range(O):
        zk = zprev[k]
        acc = zk - zk
        if zk != 0:
            for j in range(O):
                lam = lv[j] + C[k, j]
                m = M[k, j]
                acc += uT[k, j] * lam
                duT[k, j] += lam * zk
                dqT[k, j] += uT[k, j] * zk * m
                M[k, j] = lam + qT[k, j] * m
                C[k, j] = qT[k, j] * lam
        else:
            for j in range(O):
                lam = lv[j] + C[k, j]
                acc += uT[k, j] * lam
                M[k, j] = lam + qT[k, j] * M[k, j]
                C[k, j] = qT[k, j] * lam
        dzp[k] += acc


@njit(**_SEQUENCE)
def spiking_forward(S, u, q, p, f, Q, start, trace):  # pragma: no cover - compiled
    """The recurrent currents and the neuron update of a per-synapse spiking layer over a whole
    sequence (see :mod:`.fused`), one batch row per iteration.

    ``S`` (T, B, out): the feedforward drive; ``u``, ``q`` (out, out): recurrent weights and
    decays; ``p``: :class:`.loop_args.NeuronParams`; ``f``: :class:`.loop_args.Flags`; ``Q``
    (B, out, out) starts as the initial recurrent currents and ends as the final ones;
    ``start``: the :class:`.loop_args.NeuronState` before the first step; ``trace``: the
    :class:`.loop_args.NeuronTrace` written for every step.
    """
    for n in prange(S.shape[1]):
        _spiking_forward_row(S, u, q, p, f, Q, start, trace, n)


@njit(**_ROW)
def _spiking_forward_row(S, u, q, p, f, Q, start, trace, n):  # pragma: no cover - compiled
    """Batch row ``n`` of :func:`spiking_forward`. (The rows are functions of their own: numba
    loses the writes to arrays read from a named tuple inside a parallel loop's body.)"""
    T, _, O = S.shape
    zp = start.spike[n].copy()
    vp = start.v[n].copy()
    Bc, Jc, Ac = start.bias[n].copy(), start.reset[n].copy(), start.adapt[n].copy()
    rec = np.empty(O, dtype=S.dtype)
    for t in range(T):
        if f.recurrent:
            _rec_forward_step(Q[n], q, u, zp, rec)
        for j in range(O):
            cur = S[t, n, j]
            if f.recurrent:
                cur += rec[j]
            if f.bias:
                Bc[j] = p.bias_decay[j] * Bc[j] + p.bias[j]
                cur += Bc[j]
            if f.reset != 0:
                sig = p.reset_amount[j] * zp[j] if f.reset == 1 else vp[j] * zp[j]
                kap = p.reset_decay[j]
                Jc[j] = kap * (Jc[j] + sig) if f.at_spike else kap * Jc[j] + sig
                cur -= Jc[j]
            if f.adapt:
                Ac[j] = p.adapt_decay[j] * Ac[j] + p.adapt_strength[j] * zp[j]
                cur -= Ac[j]
            trace.v[t, n, j] = cur
            trace.bias[t, n, j], trace.reset[t, n, j], trace.adapt[t, n, j] = Bc[j], Jc[j], Ac[j]
        _fire(trace.v[t, n], p.threshold, f.fires_at_zero, trace.spike[t, n], zp, vp)


# The adjoint pieces every layout's backward loop shares, written once (scalar functions,
# which LLVM inlines into the loops).
@njit(**_ROW)
def _adaptation_adjoint(la, prev, zj, rho_a, a):  # pragma: no cover - compiled
    """Through ``A^t = rho_a A^{t-1} + a z^{t-1}``, given ``la = dL/dA^t``: the gradients of
    ``rho_a``, ``a`` and ``z^{t-1}``, and ``dL/dA^{t-1}``."""
    return la * prev, la * zj, la * a, rho_a * la


@njit(**_ROW)
def _reset_signal_adjoint(dR, zj, vj, th, code, detach):  # pragma: no cover - compiled
    """Through the reset signal of the step before, ``R = theta_R z`` (``code`` 1) or
    ``R = V z`` (2), given ``dR = dL/dR``: the gradients of ``theta_R``, ``z^{t-1}`` (none
    when the reset is ``detach``-ed) and ``V^{t-1}``."""
    none = dR * 0
    if code == 1:
        return dR * zj, none if detach else dR * th, none
    return none, none if detach else dR * vj, dR * zj


@njit(**_SEQUENCE)
def spiking_backward(
    u, q, p, f, trace, start, Q0, gv, sg, gQ, gstate, dS, grads, du, dq
):  # pragma: no cover - compiled
    """The reverse sweep of :func:`spiking_forward` (see :mod:`.fused` for the recursions).

    ``trace``, ``start``, ``Q0``: what the forward wrote and started from. ``gv`` (T, B, out):
    the gradient of the membranes from outside (the spikes returned are differentiated by
    autograd, through the spike function, into ``gv``: here ``z^t`` is differentiated only
    for its use by the step after); ``sg``: the surrogate derivative at every step. On entry
    ``gQ`` (B, out, out) and the bias, reset and adaptation fields of ``gstate``
    (:class:`.loop_args.NeuronState`) hold the gradients of the final state (zeros where
    none came); on exit those of the initial one, and its ``v`` and ``spike`` fields those
    of the initial membrane and spikes. ``dS`` receives the drive's gradient; ``grads``
    (:class:`.loop_args.NeuronParams` of (P, out)) and ``du``, ``dq`` (P, out, out): per-chunk
    sums of the parameter gradients.
    """
    O = trace.spike.shape[2]
    # The recurrent adjoint runs transposed, one row per presynaptic neuron k: rows of a
    # neuron that did not spike skip the dL/du, dL/dq sums (see :func:`_rec_backward_step`).
    R = O if f.recurrent else 0
    uT, qT = np.ascontiguousarray(u[:R, :R].T), np.ascontiguousarray(q[:R, :R].T)
    for c in prange(du.shape[0]):
        _spiking_backward_chunk(p, f, trace, start, Q0, gv, sg, gQ, gstate, dS, grads, du, dq,
                                uT, qT, c)  # fmt: skip


@njit(**_ROW)
def _spiking_backward_chunk(
    p, f, trace, start, Q0, gv, sg, gQ, gstate, dS, grads, du, dq, uT, qT, c
):  # pragma: no cover - compiled
    """Chunk ``c`` of the batch in :func:`spiking_backward` (see :func:`_spiking_forward_row`)."""
    T, nB, O = trace.spike.shape
    z, v = trace.spike, trace.v
    P = du.shape[0]
    R = uT.shape[0]
    M = np.zeros((R, R), dtype=z.dtype)  # transposed, as C, duT, dqT
    C = np.empty((R, R), dtype=z.dtype)
    duT = np.zeros((R, R), dtype=z.dtype)
    dqT = np.zeros((R, R), dtype=z.dtype)
    dzp = np.empty(O, dtype=z.dtype)
    dvp = np.empty(O, dtype=z.dtype)
    lv = np.empty(O, dtype=z.dtype)
    zprev = np.empty(O, dtype=z.dtype)
    vprev = np.empty(O, dtype=z.dtype)
    for n in range(c * nB // P, (c + 1) * nB // P):
        lB, lJ, lA = gstate.bias[n], gstate.reset[n], gstate.adapt[n]
        if f.recurrent:
            M[:, :] = 0
            C[:, :] = gQ[n].T
        gzn = np.zeros(O, dtype=z.dtype)  # dL/dz^t from step t+1
        gvn = np.zeros(O, dtype=z.dtype)  # dL/dv^t from step t+1 (zero reset)
        for t in range(T - 1, -1, -1):
            if t > 0:
                zprev[:] = z[t - 1, n]
                vprev[:] = v[t - 1, n]
            else:
                zprev[:] = start.spike[n]
                vprev[:] = start.v[n]
            for j in range(O):
                gu = gzn[j] * sg[t, n, j]
                grads.threshold[c, j] -= gu
                lv[j] = gv[t, n, j] + gvn[j] + gu
                dS[t, n, j] = lv[j]
                dzp[j] = 0
                dvp[j] = 0
            for j in range(O):
                x = lv[j]
                if f.bias:
                    lb = x + lB[j]
                    prev = trace.bias[t - 1, n, j] if t > 0 else start.bias[n, j]
                    grads.bias[c, j] += lb
                    grads.bias_decay[c, j] += lb * prev
                    lB[j] = p.bias_decay[j] * lb
                if f.reset != 0:
                    lj = lJ[j] - x
                    prev = trace.reset[t - 1, n, j] if t > 0 else start.reset[n, j]
                    zj = zprev[j]
                    kap = p.reset_decay[j]
                    sig = p.reset_amount[j] * zj if f.reset == 1 else vprev[j] * zj
                    if f.at_spike:
                        grads.reset_decay[c, j] += lj * (prev + sig)
                        dsig = kap * lj
                    else:
                        grads.reset_decay[c, j] += lj * prev
                        dsig = lj
                    lJ[j] = kap * lj
                    d_th, d_z, d_v = _reset_signal_adjoint(
                        dsig, zj, vprev[j], p.reset_amount[j], f.reset, f.detach_reset
                    )
                    grads.reset_amount[c, j] += d_th
                    dzp[j] += d_z
                    dvp[j] += d_v
                if f.adapt:
                    prev = trace.adapt[t - 1, n, j] if t > 0 else start.adapt[n, j]
                    d_rho, d_a, d_z, lA[j] = _adaptation_adjoint(
                        lA[j] - x, prev, zprev[j], p.adapt_decay[j], p.adapt_strength[j]
                    )
                    grads.adapt_decay[c, j] += d_rho
                    grads.adapt_strength[c, j] += d_a
                    dzp[j] += d_z
            if f.recurrent:
                _rec_backward_step(lv, C, M, uT, qT, zprev, dzp, duT, dqT)
            for j in range(O):
                gzn[j] = dzp[j]
                gvn[j] = dvp[j]
        gstate.spike[n] = gzn
        gstate.v[n] = gvn
        if f.recurrent:
            gQ[n] = C.T
            dqT += Q0[n].T * M
    if f.recurrent:
        du[c] += duT.T
        dq[c] += dqT.T


# The shared layouts' recurrent product ``U z^{t-1}`` with binary spikes: a sum of the columns
# of ``U`` whose neuron spiked, each added as a contiguous row of ``U^T`` (vectorized across
# neurons, no reassociation: the sums run in the order of the dense loop, skipping zeros).
@njit(inline="always", nogil=True)
def _spike_columns(UT, zp, out):  # pragma: no cover - compiled
    """out = U zp, ``UT`` = U^T (contiguous); exact sums of columns for spikes in {0, 1}."""
    out[:] = 0
    for k in range(zp.shape[0]):
        zk = zp[k]
        if zk != 0:
            row = UT[k]
            for j in range(out.shape[0]):
                out[j] += row[j] * zk


@njit(inline="always", nogil=True)
def _spike_rows_add(dUT, zp, lam):  # pragma: no cover - compiled
    """dU^T[k] += zp[k] lam for every neuron k that spiked: dL/dU += lam zp^T."""
    for k in range(zp.shape[0]):
        zk = zp[k]
        if zk != 0:
            row = dUT[k]
            for j in range(lam.shape[0]):
                row[j] += lam[j] * zk


@njit(inline="always", nogil=True)
def _axpy(y, x, a):  # pragma: no cover - compiled
    for k in range(y.shape[0]):
        y[k] += x[k] * a


# Without fast-math: the shared layouts' rule rounds as torch's operations do, so that HomNeuLIF
# stays bit for bit nn.Linear + snn.Leaky.
@njit(**{**_SEQUENCE, "fastmath": False})
def shared_forward(C, U, p, f, start, trace):  # pragma: no cover - compiled
    """The shared layouts' per-neuron rule over a whole sequence (see :mod:`.fused`): from the
    drive ``C^t = W x^t + b`` (T, B, out), ``u^t = rho u^{t-1} + C^t + U z^{t-1}`` with the
    reset (subtracted from ``u``, before or after the decay), the adaptation, ``v = u - A``
    and the spikes. ``p``: :class:`.loop_args.SharedParams`; ``f``: :class:`.loop_args.Flags`
    (``recurrent`` means ``U`` (out, out)); ``start``: the :class:`.loop_args.SharedState`
    before the first step; ``trace``: the :class:`.loop_args.SharedTrace` of every step."""
    UT = np.ascontiguousarray(U.T)
    for n in prange(C.shape[1]):
        _shared_forward_row(C, UT, p, f, start, trace, n)


@njit(cache=True, nogil=True)
def _shared_forward_row(C, UT, p, f, start, trace, n):  # pragma: no cover - compiled
    """Batch row ``n`` of :func:`shared_forward` (see :func:`_spiking_forward_row`)."""
    T, _, O = C.shape
    rho, th, rho_a, beta = p.decay, p.reset_amount, p.adapt_decay, p.adapt_strength
    zp, vp = start.spike[n].copy(), start.v[n].copy()
    uc, Ac = start.current[n].copy(), start.adapt[n].copy()
    rec = np.zeros(O, dtype=C.dtype)
    for t in range(T):
        if f.recurrent:
            _spike_columns(UT, zp, rec)
        for j in range(O):
            # no float literal below: it would make a float32 layer compute in float64
            cur = C[t, n, j]
            if f.recurrent:
                cur = cur + rec[j]
            if f.reset == 0:
                uc[j] = rho[j] * uc[j] + cur
            else:
                R = th[j] * zp[j] if f.reset == 1 else vp[j] * zp[j]
                if f.at_spike:
                    uc[j] = rho[j] * (uc[j] - R) + cur
                else:
                    uc[j] = rho[j] * uc[j] + cur - R
            if f.adapt:
                Ac[j] = rho_a[j] * Ac[j] + beta[j] * zp[j]
            trace.v[t, n, j] = uc[j] - Ac[j] if f.adapt else uc[j]
            trace.current[t, n, j], trace.adapt[t, n, j] = uc[j], Ac[j]
        _fire(trace.v[t, n], p.threshold, f.fires_at_zero, trace.spike[t, n], zp, vp)


@njit(**_SEQUENCE)
def shared_backward(U, p, f, trace, start, gv, sg, gstate, dC, grads, dU):  # pragma: no cover
    """The reverse sweep of :func:`shared_forward`; as :func:`spiking_backward` (the current
    and adaptation fields of ``gstate`` carry the final state's gradients in and the initial
    one's out; ``grads``: :class:`.loop_args.SharedParams` of (P, out); ``dU`` (P, out, out))."""
    for c in prange(dU.shape[0]):
        _shared_backward_chunk(U, p, f, trace, start, gv, sg, gstate, dC, grads, dU, c)


@njit(**_ROW)
def _shared_backward_chunk(
    U, p, f, trace, start, gv, sg, gstate, dC, grads, dU, c
):  # pragma: no cover - compiled
    """Chunk ``c`` of the batch in :func:`shared_backward` (see :func:`_spiking_forward_row`)."""
    T, nB, O = trace.spike.shape
    z, v, us, As = trace.spike, trace.v, trace.current, trace.adapt
    rho, th = p.decay, p.reset_amount
    reset, at_spike = f.reset, f.at_spike
    P = dU.shape[0]
    dUT = np.zeros((O, O) if f.recurrent else (0, 0), dtype=z.dtype)  # dL/dU, transposed
    lv = np.empty(O, dtype=z.dtype)
    dzp = np.empty(O, dtype=z.dtype)
    dvp = np.empty(O, dtype=z.dtype)
    for n in range(c * nB // P, (c + 1) * nB // P):
        lu, lA = gstate.current[n], gstate.adapt[n]
        gzn = np.zeros(O, dtype=z.dtype)
        gvn = np.zeros(O, dtype=z.dtype)
        for t in range(T - 1, -1, -1):
            for j in range(O):
                gsp = gzn[j] * sg[t, n, j]
                grads.threshold[c, j] -= gsp
                lv[j] = gv[t, n, j] + gvn[j] + gsp
                dzp[j] = 0.0
                dvp[j] = 0.0
            for j in range(O):
                zj = z[t - 1, n, j] if t > 0 else start.spike[n, j]
                vj = v[t - 1, n, j] if t > 0 else start.v[n, j]
                up = us[t - 1, n, j] if t > 0 else start.current[n, j]
                if f.adapt:
                    prev = As[t - 1, n, j] if t > 0 else start.adapt[n, j]
                    d_rho, d_a, d_z, lA[j] = _adaptation_adjoint(
                        lA[j] - lv[j], prev, zj, p.adapt_decay[j], p.adapt_strength[j]
                    )
                    grads.adapt_decay[c, j] += d_rho
                    grads.adapt_strength[c, j] += d_a
                    dzp[j] += d_z
                lam = lv[j] + lu[j]  # dL/du^t
                dC[t, n, j] = lam
                R = 0.0
                if reset != 0:
                    R = th[j] * zj if reset == 1 else vj * zj
                if reset != 0 and at_spike:
                    grads.decay[c, j] += lam * (up - R)
                    dR = -rho[j] * lam
                else:
                    grads.decay[c, j] += lam * up
                    dR = -lam
                lu[j] = rho[j] * lam
                if reset != 0:
                    d_th, d_z, d_v = _reset_signal_adjoint(dR, zj, vj, th[j], reset, f.detach_reset)
                    grads.reset_amount[c, j] += d_th
                    dzp[j] += d_z
                    dvp[j] += d_v
            if f.recurrent:
                lam = dC[t, n]
                for j in range(O):
                    _axpy(dzp, U[j], lam[j])
                _spike_rows_add(dUT, z[t - 1, n] if t > 0 else start.spike[n], lam)
            for j in range(O):
                gzn[j] = dzp[j]
                gvn[j] = dvp[j]
        gstate.spike[n] = gzn
        gstate.v[n] = gvn
    if f.recurrent:
        for j in range(O):
            for k in range(O):
                dU[c, j, k] += dUT[k, j]


# The channel filter ``y^t = r y^{t-1} + u^t`` (per channel c of (T, B, C)), which composes the
# per-input and branch layouts' loops (:func:`.fused.filtered`): memory-bound, one pass.
@njit(**_SEQUENCE)
def channel_filter_forward(u, r, y0, y):  # pragma: no cover - compiled
    """``y[t, b] = r * y[t - 1, b] + u[t, b]`` from ``y[-1] = y0``; batch rows in parallel."""
    T, nB, C = u.shape
    for b in prange(nB):
        prev = y0[b].copy()
        for t in range(T):
            for c in range(C):
                prev[c] = r[c] * prev[c] + u[t, b, c]
                y[t, b, c] = prev[c]


@njit(**_SEQUENCE)
def channel_filter_backward(g, r, y, y0, du, dr, dy0):  # pragma: no cover - compiled
    """The reverse sweep of :func:`channel_filter_forward`: the adjoint
    ``a^t = g^t + r a^{t+1}`` is ``dL/du^t``; ``dr[b] = sum_t a^t y^{t-1}`` per batch row (B, C);
    ``dy0 = r a^0``."""
    T, nB, C = g.shape
    for b in prange(nB):
        acc = np.zeros(C, dtype=g.dtype)
        part = np.zeros(C, dtype=g.dtype)
        for t in range(T - 1, -1, -1):
            for c in range(C):
                a = g[t, b, c] + r[c] * acc[c]
                acc[c] = a
                du[t, b, c] = a
                part[c] += a * (y[t - 1, b, c] if t > 0 else y0[b, c])
        for c in range(C):
            dr[b, c] = part[c]
            dy0[b, c] = r[c] * acc[c]
