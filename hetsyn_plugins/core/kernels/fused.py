"""The rest of a per-synapse spiking layer over a whole sequence in one fused call.

Given the feedforward drive of every step (``S^t = sum_i I^t_ji``, from :mod:`.scan`),
:func:`spiking_scan` runs the recurrent currents, the bias current, the reset current, the
adaptation, the membrane and the spikes of all steps in one compiled loop
(:func:`._numba_scan.spiking_forward`; batch-parallel), and the backward pass in one reverse
sweep (:func:`._numba_scan.spiking_backward`), instead of a few dozen torch operations and
autograd nodes per step. It computes what :func:`hetsyn_plugins.core.dynamics.neuron_update`
of :func:`~hetsyn_plugins.core.dynamics.synaptic_drive` does (its reference, run step by step
by :func:`hetsyn_plugins.core.kernels.run_spiking` where this kernel does not apply), with the
recursions (batch left out; ``Lambda``: adjoints)

.. math::
    \\Lambda_v^t &= \\partial L/\\partial v^t|_\\text{out} + \\sigma'(v^t - \\theta)\\,
        \\partial L / \\partial z^t|_{t+1}, \\qquad
    \\Lambda_B^t = \\Lambda_v^t + r^b \\Lambda_B^{t+1}, \\qquad
    \\Lambda_J^t = -\\Lambda_v^t + \\kappa \\Lambda_J^{t+1}, \\\\
    \\Lambda_Q^t &= \\Lambda_v^t + q\\, \\Lambda_Q^{t+1}, \\qquad
    \\partial L / \\partial z^{t-1} = \\textstyle\\sum_j u_{jk} \\Lambda_{Q,jk}^t
        + (\\text{reset and adaptation terms}),

and ``dL/dq`` formed as in :mod:`.scan` without stored recurrent currents. Autograd keeps
only per-neuron sequences (membranes, spikes, bias / reset / adaptation currents).

The spike function stays the host's: the spikes returned are ``spike_fn(v - threshold)``
applied by autograd to the membrane sequence (so their gradient is exactly the host
surrogate's), and the surrogate derivative that the reverse sweep needs is that function's,
evaluated once on the saved sequence. This needs a spike function that acts elementwise and
fires on ``u > 0`` (snnTorch's convention) or ``u >= 0`` (SpikingJelly's): it says so by an
attribute ``elementwise = True`` or by its type
(:func:`~hetsyn_plugins.core.spikes.declare_elementwise`: the core's and the hosts'
surrogates); the spikes of the loop are checked against it. :func:`readout_scan` runs a
per-synapse readout through the same loop (no spikes), :func:`shared_scan` the shared layouts
(heterogeneity ``"neuron"`` / ``"none"``: one summed current per neuron,
``u^t = rho u^{t-1} + W x^t + b + U z^{t-1}`` with the reset subtracted from ``u``), spiking
or readout. Anything else (other spike functions, CUDA, no numba, ``torch.compile``) takes
the step-by-step path.

Each kernel has a pure-torch twin of the same signature beside it, as Mamba pairs
``selective_scan_fn`` with ``selective_scan_ref``: :func:`spiking_scan_ref`,
:func:`readout_scan_ref`, :func:`shared_scan_ref` (the rule of
:mod:`hetsyn_plugins.core.dynamics` step by step, with autograd). The layers fall back to
them where a kernel does not apply, and the tests hold each kernel against its twin.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch
from torch import Tensor

from ..dynamics import (
    DynamicsConfig,
    HetSynParams,
    HetSynState,
    PathwayStep,
    SpikeFn,
    readout_step,
    step,
    synapse_step,
)
from ..spikes import is_elementwise
from ..validation import check_choice
from .scan import _fused, _np, loops

_RESET = {"none": 0, "subtract": 1, "zero": 2}


def fires_at_zero(spike_fn: SpikeFn, dtype: torch.dtype) -> Optional[bool]:
    """Whether an elementwise ``spike_fn`` fires at ``u = 0`` (False: only above); None when
    it does not declare itself elementwise, is not a 0/1 step at -1, 0, 1, or returns spikes
    of another dtype than ``u``'s (snnTorch's surrogates give float32 spikes: the gradients
    through them are rounded to float32 step by step, which the fused sweep would not do)."""
    if not is_elementwise(spike_fn):
        return None
    with torch.no_grad():
        z = spike_fn(torch.tensor([-1.0, 0.0, 1.0], dtype=dtype))
    if z.dtype != dtype:  # spikes of another dtype round the gradients through them: step
        return None
    z = z.tolist()
    if z[0] != 0 or z[2] != 1 or z[1] not in (0, 1):
        return None
    return z[1] == 1


class _NumbaLoops:
    """The numba loops (:mod:`._numba_scan`) behind :class:`_SpikingScan`, taking torch
    tensors as the Triton loops (:class:`.triton_fused.Loops`) do."""

    @staticmethod
    def chunks(batch: int) -> int:
        return max(1, min(torch.get_num_threads(), batch))

    def __getattr__(self, name: str):
        """The numba loop ``name``, called with the tensors among its arguments as arrays."""
        loop = getattr(loops(), name)
        return lambda *args: loop(*(_np(a) if isinstance(a, Tensor) else a for a in args))


_NUMBA = _NumbaLoops()


class _SpikingScan(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx, S, u, q, b, rb, kap, th, thr, rho, beta, Q0, B0, J0, A0, v0, z0, flags, fn, backend
    ):
        T, nB, O = S.shape
        new = lambda *shape: S.new_empty(*shape)  # noqa: E731
        z, v, Bs, Js, As = (new(T, nB, O) for _ in range(5))
        Q0 = Q0.contiguous()
        Q = Q0.detach().clone()
        backend.spiking_forward(
            S.detach().contiguous(), u, q, b, rb, kap, th, thr, rho, beta, flags, Q, B0, J0, A0,
            v0, z0, z, v, Bs, Js, As,
        )  # fmt: skip
        ctx.flags, ctx.fn, ctx.backend = flags, fn, backend
        ctx.mark_non_differentiable(z)
        ctx.save_for_backward(u, q, rb, kap, th, thr, rho, beta, z, v, Bs, Js, As, B0, J0, A0,
                              v0, z0, Q0)  # fmt: skip
        return z, v, Q, Bs[-1].clone(), Js[-1].clone(), As[-1].clone()

    @staticmethod
    def backward(ctx, _gz, gv, gQ, gB, gJ, gA):
        u, q, rb, kap, th, thr, rho, beta, z, v, Bs, Js, As, B0, J0, A0, v0, z0, Q0 = (
            ctx.saved_tensors
        )
        T, nB, O = z.shape
        sg = _surrogate_derivative(ctx.fn, v, thr).contiguous()
        gv = z.new_zeros(T, nB, O) if gv is None else gv.to(z.dtype).contiguous()
        per_neuron = (nB, O)
        gQ, gB, gJ, gA = (
            _carried(g, z, shape)
            for g, shape in ((gQ, Q0.shape), (gB, per_neuron), (gJ, per_neuron), (gA, per_neuron))
        )
        chunks = ctx.backend.chunks(nB)
        dS, dz0, dv0 = z.new_empty(T, nB, O), z.new_empty(nB, O), z.new_empty(nB, O)
        grads = z.new_zeros(chunks, 8, O)
        du = z.new_zeros(chunks, *u.shape)
        dq = z.new_zeros(chunks, *q.shape)
        ctx.backend.spiking_backward(
            u, q, rb, kap, th, rho, beta, ctx.flags, z, v, Bs, Js, As, B0, J0, A0, v0, z0, Q0, gv,
            sg, gQ, gB, gJ, gA, dS, dz0, dv0, grads, du, dq,
        )  # fmt: skip
        g = grads.sum(0)
        recurrent, _, reset, _, adapt, _, detach = ctx.flags.tolist()
        uses_z0 = recurrent or adapt or (reset != 0 and not detach)
        return (
            dS, du.sum(0), dq.sum(0), g[0], g[1], g[2], g[3], g[4], g[5], g[6],
            gQ, gB, gJ, gA, dv0 if reset == _RESET["zero"] else None, dz0 if uses_z0 else None,
            None, None, None,
        )  # fmt: skip


def _applies(drive: Tensor, params: HetSynParams, state: HetSynState) -> bool:
    """Whether the fused numba loops can take these tensors (numba, the CPU, one float
    dtype), and no ``torch.compile`` is tracing."""
    tensors = [t for t in (*params, *state) if isinstance(t, Tensor)]
    return not torch.compiler.is_compiling() and _fused(drive, *tensors)


def _backend(kernel: str, drive: Tensor, params: HetSynParams, state: HetSynState):
    """The loops of :class:`_SpikingScan` for ``kernel`` (``"scan"``: numba on the CPU;
    ``"triton"``: Triton on the tensors' device), or None where they do not apply."""
    check_choice("kernel", kernel, ("scan", "triton"))
    if kernel == "scan":
        return _NUMBA if _applies(drive, params, state) else None
    tensors = [drive, *(t for t in (*params, *state) if isinstance(t, Tensor))]
    if torch.compiler.is_compiling() or drive.dtype not in (torch.float32, torch.float64):
        return None
    if any(t.device != drive.device or t.dtype != drive.dtype for t in tensors):
        return None
    from .triton_fused import Loops

    return Loops if Loops.applies(drive.shape[-1], params.rec_weight is not None) else None


def _vectors(drive: Tensor):
    """Two converters for the loops' inputs: ``vec`` makes a per-neuron parameter (None,
    scalar or (out,)) a contiguous (out,) vector (zeros for None), ``per_neuron`` a state field
    a contiguous (B, out) array (zeros for None); both differentiable."""
    T, nB, O = drive.shape
    zeros = drive.new_zeros(O)

    def vec(t: Optional[Tensor]) -> Tensor:
        return zeros if t is None else t.to(drive.dtype).expand(O).contiguous()

    def per_neuron(t: Optional[Tensor]) -> Tensor:
        return drive.new_zeros(nB, O) if t is None else t.to(drive.dtype).contiguous()

    return vec, per_neuron


def spiking_scan(
    drive: Tensor,
    params: HetSynParams,
    state: HetSynState,
    spike_fn: SpikeFn,
    config: DynamicsConfig,
    *,
    kernel: str = "scan",
) -> Optional[tuple[Tensor, Tensor, HetSynState]]:
    """Spikes and membranes (T, B, out) and the final state (``syn`` left as in ``state``) of
    a per-synapse spiking layer, from the feedforward drive ``drive`` (T, B, out) of every
    step; None where this kernel does not apply (the caller steps instead; see the module
    docstring). ``kernel``: ``"scan"`` (numba, CPU) or ``"triton"`` (:mod:`.triton_fused`)."""
    backend = None if params.shared else _backend(kernel, drive, params, state)
    if backend is None:
        return None
    ge = fires_at_zero(spike_fn, drive.dtype)
    if ge is None:
        return None
    T, nB, O = drive.shape
    dtype = drive.dtype
    vec, per_neuron = _vectors(drive)

    recurrent = params.rec_weight is not None
    adapt = params.adapt_decay is not None
    bias = params.bias is not None
    reset = config.reset
    u = params.rec_weight.contiguous() if recurrent else drive.new_zeros(1, 1)
    q = params.rec_decay.expand(O, O).contiguous() if recurrent else drive.new_zeros(1, 1)
    Q0 = state.rec if recurrent else drive.new_zeros(nB, 1, 1)
    flags = np.array(
        [recurrent, bias, _RESET[reset], config.reset_timing == "at_spike", adapt, ge,
         config.detach_reset], dtype=np.int64,
    )  # fmt: skip
    reset_amount = params.reset_amount if reset == "subtract" else None
    z, v, Q, B, J, A = _SpikingScan.apply(
        drive, u, q, vec(params.bias), vec(params.bias_decay), vec(params.reset_decay),
        vec(reset_amount), vec(params.threshold), vec(params.adapt_decay),
        vec(params.adapt_strength), Q0.to(dtype), per_neuron(state.bias),
        per_neuron(state.reset), per_neuron(state.adapt), per_neuron(state.v),
        per_neuron(state.spike), flags, spike_fn, backend,
    )  # fmt: skip
    spikes = spike_fn(v - params.threshold)
    if not torch.equal(spikes.detach().to(dtype), z):  # pragma: no cover - a spike_fn that lies
        return None
    final = state._replace(  # not views of the sequences: hosts detach states in place
        v=v[-1].clone(), spike=spikes[-1].clone(), rec=Q if recurrent else None,
        bias=B if bias else None,
        reset=None if reset == "none" else J, adapt=A if adapt else None, rec_carry=None,
        syn_carry=None,
    )  # fmt: skip
    return spikes, v, final


def readout_scan(
    drive: Tensor, params: HetSynParams, state: HetSynState, *, kernel: str = "scan"
) -> Optional[tuple[Tensor, HetSynState]]:
    """Outputs ``y^t = S^t + B^t`` (T, B, out) and the final state (``syn`` left as in
    ``state``) of a per-synapse readout layer, from its feedforward drive; the same fused
    loop without spikes, reset or recurrence. None where it does not apply. ``kernel`` as in
    :func:`spiking_scan`."""
    backend = None if params.shared else _backend(kernel, drive, params, state)
    if backend is None:
        return None
    T, nB, O = drive.shape
    vec, per_neuron = _vectors(drive)
    none, zeros, rest = drive.new_zeros(1, 1), vec(None), per_neuron(None)
    bias = params.bias is not None
    flags = np.array([0, bias, 0, 0, 0, 0, 0], dtype=np.int64)
    _, y, _, B, _, _ = _SpikingScan.apply(
        drive, none, none, vec(params.bias), vec(params.bias_decay), zeros, zeros, zeros,
        zeros, zeros, drive.new_zeros(nB, 1, 1), per_neuron(state.bias), rest, rest, rest, rest,
        flags, None, backend,
    )  # fmt: skip
    final = state._replace(v=y[-1].clone(), bias=B if bias else None, syn_carry=None)
    return y, final


class _SharedScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, C, U, rho, th, thr, rho_a, beta, u0, A0, v0, z0, flags, fn, backend):
        T, nB, O = C.shape
        z, v, us, As = (C.new_empty(T, nB, O) for _ in range(4))
        backend.shared_forward(
            C.detach().contiguous(), U, rho, th, thr, rho_a, beta, flags, u0, A0, v0, z0, z, v,
            us, As,
        )  # fmt: skip
        ctx.flags, ctx.fn, ctx.backend = flags, fn, backend
        ctx.mark_non_differentiable(z)
        ctx.save_for_backward(U, rho, th, thr, rho_a, beta, z, v, us, As, u0, A0, v0, z0)
        return z, v, us[-1].clone(), As[-1].clone()

    @staticmethod
    def backward(ctx, _gz, gv, gu, gA):
        U, rho, th, thr, rho_a, beta, z, v, us, As, u0, A0, v0, z0 = ctx.saved_tensors
        T, nB, O = z.shape
        sg = _surrogate_derivative(ctx.fn, v, thr).contiguous()
        gv = z.new_zeros(T, nB, O) if gv is None else gv.to(z.dtype).contiguous()
        gu, gA = (_carried(g, z, (nB, O)) for g in (gu, gA))
        chunks = ctx.backend.chunks(nB)
        dC, dz0, dv0 = z.new_empty(T, nB, O), z.new_empty(nB, O), z.new_empty(nB, O)
        grads = z.new_zeros(chunks, 8, O)
        dU = z.new_zeros(chunks, *U.shape)
        ctx.backend.shared_backward(
            U, rho, th, rho_a, beta, ctx.flags, z, v, us, As, u0, A0, v0, z0, gv, sg, gu, gA, dC,
            dz0, dv0, grads, dU,
        )  # fmt: skip
        g = grads.sum(0)
        recurrent, _, reset, _, adapt, _, detach = ctx.flags.tolist()
        uses_z0 = recurrent or adapt or (reset != 0 and not detach)
        return (
            dC, dU.sum(0), g[0], g[1], g[2], g[3], g[4], gu, gA,
            dv0 if reset == _RESET["zero"] else None, dz0 if uses_z0 else None, None, None, None,
        )  # fmt: skip


def _surrogate_derivative(fn, v: Tensor, thr: Tensor) -> Tensor:
    """``d fn(u) / du`` at ``u = v - thr`` for every step, by autograd (zeros: no spikes)."""
    if fn is None:
        return torch.zeros_like(v)
    derivative = getattr(fn, "derivative", None)
    if derivative is not None:  # a spike function that gives its surrogate derivative
        with torch.no_grad():
            return derivative(v - thr).to(v.dtype)
    with torch.enable_grad():
        u = (v - thr).detach().requires_grad_(True)
        z = fn(u)
        (sg,) = torch.autograd.grad(z, u, torch.ones_like(z))
    return sg.to(v.dtype)


def _carried(g: Optional[Tensor], like: Tensor, shape) -> Tensor:
    """A buffer the loop overwrites in place: a copy of ``g``, or zeros."""
    if g is None:
        return like.new_zeros(shape)
    return g.to(like.dtype).clone(memory_format=torch.contiguous_format)


def shared_scan(
    drive: Tensor,
    params: HetSynParams,
    state: HetSynState,
    spike_fn: Optional[SpikeFn],
    config: DynamicsConfig,
    *,
    kernel: str = "scan",
) -> Optional[tuple[Tensor, Tensor, HetSynState]]:
    """The shared layouts (heterogeneity ``"neuron"`` / ``"none"``) over a whole sequence
    from ``drive = W x + b`` (T, B, out): spikes, membranes and final state, or, for a
    readout (``spike_fn`` None), outputs ``y^t = rho y^{t-1} + drive^t`` and final state.
    None where the fused loop does not apply. ``kernel`` as in :func:`spiking_scan`."""
    backend = _backend(kernel, drive, params, state) if params.shared else None
    if backend is None:
        return None
    readout = spike_fn is None
    ge = False if readout else fires_at_zero(spike_fn, drive.dtype)
    if ge is None:
        return None
    T, nB, O = drive.shape
    dtype = drive.dtype
    vec, per_neuron = _vectors(drive)

    recurrent = not readout and params.rec_weight is not None
    adapt = not readout and params.adapt_decay is not None
    reset = "none" if readout else config.reset
    U = params.rec_weight.contiguous() if recurrent else drive.new_zeros(1, 1)
    flags = np.array(
        [recurrent, 0, _RESET[reset], config.reset_timing == "at_spike", adapt, bool(ge),
         config.detach_reset], dtype=np.int64,
    )  # fmt: skip
    reset_amount = params.reset_amount if reset == "subtract" else None
    threshold = None if readout else params.threshold
    z, v, u, A = _SharedScan.apply(
        drive, U, vec(params.syn_decay), vec(reset_amount), vec(threshold),
        vec(params.adapt_decay if adapt else None), vec(params.adapt_strength if adapt else None),
        per_neuron(state.syn), per_neuron(state.adapt), per_neuron(state.v),
        per_neuron(state.spike), flags, spike_fn, backend,
    )  # fmt: skip
    if readout:
        return v, v, state._replace(syn=u, v=v[-1].clone())
    spikes = spike_fn(v - params.threshold)
    if not torch.equal(spikes.detach().to(dtype), z):  # pragma: no cover - a spike_fn that lies
        return None
    final = HetSynState(
        syn=u, v=v[-1].clone(), spike=spikes[-1].clone(), adapt=A if adapt else None
    )
    return spikes, v, final


# --------------------------------------------------------------------------- references


def _precomputed(drive: Tensor) -> PathwayStep:
    """A feedforward pathway step (see :func:`~hetsyn_plugins.core.dynamics.synaptic_drive`)
    that gives ``drive``, one step of the sequence's precomputed drive; the currents stay as
    they are (the sequence kernel gives the final ones)."""
    return lambda inp, current, carry, weight, decay: (drive, current, None)


def spiking_scan_ref(
    drive: Tensor,
    params: HetSynParams,
    state: HetSynState,
    spike_fn: SpikeFn,
    config: DynamicsConfig,
    *,
    recurrent: PathwayStep = synapse_step,
) -> tuple[Tensor, Tensor, HetSynState]:
    """The pure-torch twin of :func:`spiking_scan` (same arguments, same results, in every
    case): :func:`hetsyn_plugins.core.dynamics.step` on each step of ``drive`` with plain
    autograd, the layout's own path (per-synapse or shared). ``recurrent`` steps the recurrent
    per-synapse currents (the memory-flat :func:`.stepwise.synapse_step` where the layer
    falls back to this loop; then the final state holds its carries)."""
    spikes, membranes = [], []
    for drive_t in drive:
        z, v, state = step(None, params, state, spike_fn, config, _precomputed(drive_t), recurrent)
        spikes.append(z)
        membranes.append(v)
    return torch.stack(spikes), torch.stack(membranes), state


def readout_scan_ref(
    drive: Tensor, params: HetSynParams, state: HetSynState
) -> tuple[Tensor, HetSynState]:
    """The pure-torch twin of :func:`readout_scan`:
    :func:`hetsyn_plugins.core.dynamics.readout_step` on each step of ``drive``."""
    outputs = []
    for drive_t in drive:
        y, state = readout_step(None, params, state, _precomputed(drive_t))
        outputs.append(y)
    return torch.stack(outputs), state


def shared_scan_ref(
    drive: Tensor,
    params: HetSynParams,
    state: HetSynState,
    spike_fn: Optional[SpikeFn],
    config: DynamicsConfig,
) -> tuple[Tensor, Tensor, HetSynState]:
    """The pure-torch twin of :func:`shared_scan` (a readout when ``spike_fn`` is None:
    outputs twice, as there)."""
    if spike_fn is None:
        y, final = readout_scan_ref(drive, params, state)
        return y, y, final
    return spiking_scan_ref(drive, params, state, spike_fn, config)
