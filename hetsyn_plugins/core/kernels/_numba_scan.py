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


@njit(**_SEQUENCE)
def ff_forward(x, w, r, I0, S, I_out):  # pragma: no cover - compiled
    """S[t,b,j] = sum_i I[t,b,j,i], I^t = r I^{t-1} + w x^t; I_out = I^{T-1}."""
    T, B, K = x.shape
    O = w.shape[0]
    for n in prange(B * O):
        b = n // O
        j = n % O
        row = I0[b, j].copy()
        for t in range(T):
            acc = 0.0
            for i in range(K):
                v = r[j, i] * row[i] + w[j, i] * x[t, b, i]
                row[i] = v
                acc += v
            S[t, b, j] = acc
        I_out[b, j] = row


@njit(**_SEQUENCE)
def ff_backward(x, wT, rT, I0T, G, HT, dx, dwT, drT, dI0T):  # pragma: no cover - compiled
    """Reverse adjoint sweep; the arrays ending in T are transposed to (in, ..., out)."""
    T, B, K = x.shape
    O = wT.shape[1]
    for i in prange(K):
        lam_carry = np.empty(O, dtype=x.dtype)
        M = np.empty(O, dtype=x.dtype)
        for b in range(B):
            for j in range(O):
                lam_carry[j] = HT[i, b, j]
                M[j] = 0.0
            for t in range(T - 1, -1, -1):
                xi = x[t, b, i]
                acc = 0.0
                for j in range(O):
                    lam = G[t, b, j] + lam_carry[j]
                    acc += wT[i, j] * lam
                    if xi != 0.0:
                        dwT[i, j] += xi * lam
                        drT[i, j] += wT[i, j] * xi * M[j]
                    M[j] = lam + rT[i, j] * M[j]
                    lam_carry[j] = rT[i, j] * lam
                dx[t, b, i] = acc
            for j in range(O):
                drT[i, j] += I0T[i, b, j] * M[j]
                dI0T[i, b, j] = lam_carry[j]


# --------------------------------------------------------------------------- one step


def _syn_step_forward(inp, src, w, r, dst, S):  # pragma: no cover - compiled
    """One step of a per-synapse pathway: dst = r src + w inp[:, None, :], S = dst.sum(-1).
    ``dst`` may be ``src`` (in place)."""
    B, O, K = dst.shape
    for n in prange(B * O):
        b = n // O
        j = n % O
        acc = 0.0
        for i in range(K):
            v = r[j, i] * src[b, j, i] + w[j, i] * inp[b, i]
            dst[b, j, i] = v
            acc += v
        S[b, j] = acc


def _syn_step_backward(
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
    B, K = inp.shape
    O = w.shape[0]
    P = dinp.shape[0]
    for c in prange(P):
        L = np.empty(K, dtype=inp.dtype)
        first, last = c * O // P, (c + 1) * O // P
        for tile in range(first, last, _TILE):
            for b in range(B):
                for j in range(tile, min(tile + _TILE, last)):
                    _backward_row(inp, w, r, gS, gI, gD, start, has_lam, has_mu, want_gI,
                                  want_gD, dinp[c], dw, dr, L, b, j)  # fmt: skip


# Output rows per tile of the backward loop: the tile's dw and dr rows stay in L2 while the
# batch streams through it, and each batch index reads one contiguous block of the adjoints.
_TILE = 16


@njit(inline="always", fastmath=_FAST, nogil=True)
def _backward_row(
    inp, w, r, gS, gI, gD, start, has_lam, has_mu, want_gI, want_gD, dinp, dw, dr, L, b, j
):  # pragma: no cover - compiled
    """Row (b, j) of :func:`_syn_step_backward`. Each loop reads or writes one row of a
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


syn_step_forward = njit(**_SEQUENCE)(_syn_step_forward)
syn_step_forward_serial = njit(**_STEP)(_syn_step_forward)
syn_step_backward = njit(**_SEQUENCE)(_syn_step_backward)
syn_step_backward_serial = njit(**_STEP)(_syn_step_backward)
