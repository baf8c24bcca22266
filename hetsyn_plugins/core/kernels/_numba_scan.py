"""Fused CPU loops (numba) for the per-synapse scans of :mod:`.scan`.

Each loop keeps the per-synapse quantities of one row in registers/L1 and touches memory
once; parallel loops own disjoint outputs, so there are no races. Compiled on first use and
cached on disk. Imported only when numba is installed (``pip install hetsyn-plugins[fast]``).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

# Reassociation lets the row sums vectorize (results equal the reference up to rounding).
_FAST = {"reassoc", "contract"}
# The whole-sequence loops are parallel. The per-step recurrent loops run serially: called once
# per step between torch operations, a parallel loop would fight torch's own OpenMP threads
# (measured: about 7x slower per step on 2 cores).
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


@njit(**_STEP)
def rec_forward(Q, q, u, z, R):  # pragma: no cover - compiled
    """One step in place: Q = q Q + u z[:, None, :], R = Q.sum(-1)."""
    B, O, K = Q.shape
    for b in range(B):
        for j in range(O):
            acc = 0.0
            for k in range(K):
                v = q[j, k] * Q[b, j, k] + u[j, k] * z[b, k]
                Q[b, j, k] = v
                acc += v
            R[b, j] = acc


@njit(**_STEP)
def rec_backward(lam, mu, g, q, u, z, gQ, gD, gz, du, dq):  # pragma: no cover - compiled
    """One reverse step of the recurrent synapses (see :class:`.scan._RecurrentStep`)."""
    B, O, K = lam.shape
    for b in range(B):
        for j in range(O):
            gj = g[b, j]
            for k in range(K):
                A = lam[b, j, k] + gj
                m = mu[b, j, k]
                gQ[b, j, k] = q[j, k] * A
                gD[b, j, k] = A + q[j, k] * m
                gz[b, k] += u[j, k] * A
                du[j, k] += A * z[b, k]
                dq[j, k] += u[j, k] * z[b, k] * m
