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
the step-by-step path: :func:`applicable` gives the reason in words, the loops refuse to run
there (``ValueError``), and :func:`hetsyn_plugins.kernels.explain` reports it. The loops take
the named tuples of :mod:`.loop_args`.

Each kernel has a pure-torch twin of the same signature beside it, as Mamba pairs
``selective_scan_fn`` with ``selective_scan_ref``: :func:`spiking_scan_ref`,
:func:`readout_scan_ref`, :func:`shared_scan_ref` (the rule of
:mod:`hetsyn_plugins.core.dynamics` step by step, with autograd). The layers fall back to
them where a kernel does not apply, and the tests hold each kernel against its twin.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from ..dynamics import (
    DynamicsConfig,
    HetSynParams,
    HetSynState,
    PathwayStep,
    SpikeFn,
    readout_step,
    step,
    synapse_decays,
    synapse_step,
)
from ..layouts import BRANCH, INPUT, PER_SYNAPSE, SHARED, SHARED_RESET, Layout
from ..spikes import is_elementwise
from ..validation import check_choice
from . import scan
from .loop_args import (
    RESET_CODES,
    Flags,
    NeuronParams,
    NeuronState,
    NeuronTrace,
    SharedParams,
    SharedState,
    SharedTrace,
)
from .scan import _np, loops, refuse_double_backward


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


def backward_is_linear(spike_fn: SpikeFn, dtype: torch.dtype) -> bool:
    """Whether ``spike_fn``'s backward is linear in the incoming gradient (``grad * f'(u)``,
    as every surrogate of both hosts): the fused loops evaluate the derivative once, at
    ``grad = 1``, and scale it. Probed on a few points around the threshold with gradients of
    both signs; a custom surrogate that reads the gradient (its sign, its size) fails it."""
    if getattr(spike_fn, "derivative", None) is not None:
        return True  # it gives its derivative: linear by construction
    u0 = torch.linspace(-1.5, 1.5, 7, dtype=dtype)
    scale = torch.tensor([-2.0, 0.5, 3.0, -1.0, 1.5, -0.25, 4.0], dtype=dtype)
    with torch.enable_grad():
        u = u0.clone().requires_grad_(True)
        z = spike_fn(u)
        if not z.requires_grad:
            return True  # no surrogate gradient at all
        (one,) = torch.autograd.grad(z, u, torch.ones_like(z), retain_graph=True)
        (scaled,) = torch.autograd.grad(z, u, scale.to(z.dtype))
    return bool(torch.allclose(scaled, scale * one, rtol=1e-5, atol=1e-7))


class _NumbaLoops:
    """The numba loops (:mod:`._numba_scan`) behind :class:`_SpikingScan`, taking torch
    tensors (and named tuples of them) as the Triton loops (:class:`.triton_fused.Loops`) do."""

    @staticmethod
    def chunks(batch: int) -> int:
        return max(1, min(torch.get_num_threads(), batch))

    def __getattr__(self, name: str):
        """The numba loop ``name``, called with its tensors as arrays."""
        loop = getattr(loops(), name)
        return lambda *args: loop(*(_arrays(a) for a in args))


def _arrays(arg):
    """A loop argument for numba: a tensor as an array, a named tuple of tensors as the same
    tuple of arrays; flags and numbers as they are."""
    if isinstance(arg, Tensor):
        return _np(arg)
    if isinstance(arg, tuple) and not isinstance(arg, Flags):
        return type(arg)(*(_np(t) for t in arg))
    return arg


_NUMBA = _NumbaLoops()


class _SpikingScan(torch.autograd.Function):
    """Autograd of the per-synapse layer loop; the tensors are positional (autograd tracks
    only those), the loops take them as :mod:`.loop_args` tuples."""

    @staticmethod
    def forward(ctx, S, u, q, Q0, flags, fn, backend, *neuron):
        T, nB, O = S.shape
        p, start = NeuronParams(*neuron[:7]), NeuronState(*neuron[7:])
        trace = NeuronTrace(*(S.new_empty(T, nB, O) for _ in NeuronTrace._fields))
        Q0 = Q0.contiguous()
        Q = Q0.detach().clone()
        backend.spiking_forward(S.detach().contiguous(), u, q, p, flags, Q, start, trace)
        ctx.flags, ctx.fn, ctx.backend = flags, fn, backend
        ctx.mark_non_differentiable(trace.spike)
        ctx.save_for_backward(u, q, Q0, *p, *start, *trace)
        last = (trace.bias[-1].clone(), trace.reset[-1].clone(), trace.adapt[-1].clone())
        return (trace.spike, trace.v, Q, *last)

    @staticmethod
    def backward(ctx, _gz, gv, gQ, gB, gJ, gA):
        refuse_double_backward("fused layer loop (kernel='scan' or 'triton')")
        u, q, Q0, *rest = ctx.saved_tensors
        p, start, trace = NeuronParams(*rest[:7]), NeuronState(*rest[7:12]), NeuronTrace(*rest[12:])
        z = trace.spike
        T, nB, O = z.shape
        flags = ctx.flags
        sg = _surrogate_derivative(ctx.fn, trace.v, p.threshold).contiguous()
        gv = z.new_zeros(T, nB, O) if gv is None else gv.to(z.dtype).contiguous()
        per_neuron = (nB, O)
        gQ = _carried(gQ, z, Q0.shape)
        gstate = NeuronState(
            _carried(gB, z, per_neuron), _carried(gJ, z, per_neuron), _carried(gA, z, per_neuron),
            z.new_empty(per_neuron), z.new_empty(per_neuron),
        )  # fmt: skip
        chunks = ctx.backend.chunks(nB)
        dS = z.new_empty(T, nB, O)
        grads = NeuronParams(*(z.new_zeros(chunks, O) for _ in NeuronParams._fields))
        du = z.new_zeros(chunks, *u.shape)
        dq = z.new_zeros(chunks, *q.shape)
        ctx.backend.spiking_backward(
            u, q, p, flags, trace, start, Q0, gv, sg, gQ, gstate, dS, grads, du, dq
        )
        return (
            dS, du.sum(0), dq.sum(0), gQ, None, None, None, *(g.sum(0) for g in grads),
            gstate.bias, gstate.reset, gstate.adapt, *_initial_grads(flags, gstate),
        )  # fmt: skip


def applicable(
    kernel: str,
    drive: Tensor,
    params: HetSynParams,
    state: HetSynState,
    spike_fn: Optional[SpikeFn] = None,
) -> Optional[str]:
    """None when the fused loop of ``kernel`` (``"scan"``: numba on the CPU; ``"triton"``:
    Triton on the tensors' device) can run a layer with these tensors and this spike function
    (None: a readout); otherwise the reason it cannot, in words. The callers fall back to the
    pure-torch twins (:func:`spiking_scan_ref` ...) with that reason
    (:func:`hetsyn_plugins.kernels.explain` reports it)."""
    check_choice("kernel", kernel, ("scan", "triton"))
    if torch.compiler.is_compiling():
        return "torch.compile is tracing the call (the compiled loops cannot be traced)"
    tensors = [t for t in (*params, *state) if isinstance(t, Tensor)]
    if kernel == "scan":
        reason = scan.unfused_reason(drive, *tensors)
        if reason is not None:
            return reason
    else:
        if drive.dtype not in (torch.float32, torch.float64):
            return f"the input is {drive.dtype}; the fused loops take float32 and float64"
        for t in tensors:
            if t.dtype != drive.dtype or t.device != drive.device:
                return (
                    f"a parameter or state tensor is {t.dtype} on {t.device}, the input "
                    f"{drive.dtype} on {drive.device}; the fused loops take one dtype and device"
                )
        from .triton_fused import MAX_RECURRENT

        O = drive.shape[-1]
        if params.rec_weight is not None and O > MAX_RECURRENT:
            return (
                f"{O} recurrent neurons; the Triton loop keeps a batch row's recurrent "
                f"currents in registers, at most {MAX_RECURRENT}"
            )
    if params.membrane_decay is not None and params.rec_weight is not None:
        return (
            "a leaky membrane with recurrent synapses has no fused loop (the membrane "
            "integrates the recurrent currents: a second-order filter of the spikes)"
        )
    if spike_fn is not None and fires_at_zero(spike_fn, drive.dtype) is None:
        return (
            f"the spike function {spike_fn!r} is not declared elementwise with 0/1 spikes of "
            "the input's dtype (see hetsyn_plugins.core.spikes.declare_elementwise)"
        )
    if spike_fn is not None and not backward_is_linear(spike_fn, drive.dtype):
        return (
            f"the backward of the spike function {spike_fn!r} is not linear in the incoming "
            "gradient (it reads the gradient's sign or size); the fused loop evaluates its "
            "derivative once, at gradient 1"
        )
    return None


def _backend(kernel: str, drive: Tensor, params: HetSynParams, state: HetSynState, spike_fn):
    """The loops of ``kernel``; raises ValueError with the reason where they do not apply."""
    reason = applicable(kernel, drive, params, state, spike_fn)
    if reason is not None:
        raise ValueError(f"kernel={kernel!r} cannot run this layer: {reason}")
    if kernel == "scan":
        return _NUMBA
    from .triton_fused import Loops

    return Loops


def _checked_spikes(spike_fn: SpikeFn, v: Tensor, threshold, z: Tensor) -> Tensor:
    """The host's spikes ``spike_fn(v - threshold)`` (through which autograd differentiates),
    checked against the loop's: a function that declares itself elementwise but gives other
    spikes than its values at -1, 0, 1 promise is an error, not a silent difference."""
    spikes = spike_fn(v - threshold)
    if not torch.equal(spikes.detach().to(z.dtype), z):
        raise ValueError(
            f"the spike function {spike_fn!r} declares itself elementwise but its spikes on "
            "the membranes differ from a 0/1 step at the threshold; do not declare it "
            "elementwise (hetsyn_plugins.core.spikes.declare_elementwise)"
        )
    return spikes


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


def _layout_error(name: str, params: HetSynParams, layout: Layout) -> None:
    if params.layout is not layout:
        raise ValueError(f"{name} runs the {layout.name} layout; these parameters are of the "
                         f"{params.layout.name} layout")  # fmt: skip


def _flags(config: DynamicsConfig, spike_fn, dtype, *, recurrent, bias, adapt, reset) -> Flags:
    ge = False if spike_fn is None else fires_at_zero(spike_fn, dtype)
    return Flags(
        recurrent=bool(recurrent), bias=bool(bias), reset=RESET_CODES[reset],
        at_spike=config.reset_timing == "at_spike", adapt=bool(adapt), fires_at_zero=bool(ge),
        detach_reset=bool(config.detach_reset),
    )  # fmt: skip


def spiking_scan(
    drive: Tensor,
    params: HetSynParams,
    state: HetSynState,
    spike_fn: SpikeFn,
    config: DynamicsConfig,
    *,
    kernel: str = "scan",
) -> tuple[Tensor, Tensor, HetSynState]:
    """Spikes and membranes (T, B, out) and the final state (``syn`` left as in ``state``) of
    a per-synapse spiking layer, from the feedforward drive ``drive`` (T, B, out) of every
    step. ``kernel``: ``"scan"`` (numba, CPU) or ``"triton"`` (:mod:`.triton_fused`); raises
    ValueError where it cannot run (:func:`applicable` says why; the dispatcher asks it
    first and takes :func:`spiking_scan_ref` instead)."""
    _layout_error("spiking_scan", params, PER_SYNAPSE)
    backend = _backend(kernel, drive, params, state, spike_fn)
    if params.membrane_decay is not None:
        return _leaky_scan(drive, params, state, spike_fn, config, kernel)
    T, nB, O = drive.shape
    dtype = drive.dtype
    vec, per_neuron = _vectors(drive)
    recurrent = params.rec_weight is not None
    flags = _flags(config, spike_fn, dtype, recurrent=recurrent, bias=params.bias is not None,
                   adapt=params.adapt_decay is not None, reset=config.reset)  # fmt: skip
    u = params.rec_weight.contiguous() if recurrent else drive.new_zeros(1, 1)
    q = params.rec_decay.expand(O, O).contiguous() if recurrent else drive.new_zeros(1, 1)
    Q0 = state.rec if recurrent else drive.new_zeros(nB, 1, 1)
    reset_amount = params.reset_amount if config.reset == "subtract" else None
    neuron = NeuronParams(
        params.bias, params.bias_decay, params.reset_decay, reset_amount, params.threshold,
        params.adapt_decay, params.adapt_strength,
    )  # fmt: skip
    start = NeuronState(state.bias, state.reset, state.adapt, state.v, state.spike)
    z, v, Q, B, J, A = _SpikingScan.apply(
        drive, u, q, Q0.to(dtype), flags, spike_fn, backend, *map(vec, neuron),
        *map(per_neuron, start),
    )  # fmt: skip
    spikes = _checked_spikes(spike_fn, v, params.threshold, z)
    final = state._replace(  # not views of the sequences: hosts detach states in place
        v=v[-1].clone(), spike=spikes[-1].clone(), rec=Q if recurrent else None,
        bias=B if flags.bias else None, reset=None if config.reset == "none" else J,
        adapt=A if flags.adapt else None, link=None,
    )  # fmt: skip
    return spikes, v, final


class _ChannelFilter(torch.autograd.Function):
    """Autograd of the numba channel filter (:func:`._numba_scan.channel_filter_forward`)."""

    @staticmethod
    def forward(ctx, u, r, y0):
        y = torch.empty_like(u)
        loops().channel_filter_forward(_np(u), _np(r), _np(y0), y.numpy())
        ctx.save_for_backward(r, y0, y)
        return y

    @staticmethod
    def backward(ctx, g):
        refuse_double_backward("fused channel filter (kernel='scan')")
        r, y0, y = ctx.saved_tensors
        du, dr, dy0 = torch.empty_like(y), torch.empty_like(y0), torch.empty_like(y0)
        loops().channel_filter_backward(
            _np(g.to(y.dtype)), _np(r), _np(y), _np(y0), du.numpy(), dr.numpy(), dy0.numpy()
        )
        return du, dr.sum(0), dy0


def filtered(seq: Tensor, decay: Tensor, start: Tensor, kernel: str = "scan") -> Tensor:
    """``y^t = decay * y^{t-1} + seq^t`` for every step of ``seq`` (T, B, C), from ``y^0 =
    start`` (B, C), each channel with its decay (``decay`` (C,) or a scalar); differentiable
    in all three. ``"scan"``: one numba pass (memory-bound); ``"triton"``: the shared
    layouts' readout loop, run on channels."""
    C = seq.shape[-1]
    if kernel == "scan":
        r = decay.to(seq.dtype).expand(C).contiguous()
        return _ChannelFilter.apply(seq.contiguous(), r, start.to(seq.dtype).contiguous())
    params = HetSynParams(weight=seq.new_zeros(C, 1), syn_decay=decay, layout=SHARED)
    zeros = start.new_zeros(start.shape)
    y, _, _ = shared_scan(
        seq, params, HetSynState(syn=start, v=zeros, spike=zeros), None, DynamicsConfig(),
        kernel=kernel,
    )  # fmt: skip
    return y


def _leaky_scan(drive, params, state, spike_fn, config, kernel):
    """:func:`spiking_scan` with a leaky membrane (no recurrence): the membrane is
    ``U = L - J`` with ``L^t = beta L^{t-1} + drive^t + B^t`` (a filter of the drive, from
    ``L^0 = V^0 + A^0``) and ``J`` the loop's reset current with ``kappa = beta`` from zero,
    so that ``U^t = beta U^{t-1} + drive^t + B^t - c R^{t-1}``
    (:func:`~hetsyn_plugins.core.dynamics.membrane_current`)."""
    T, nB, O = drive.shape
    beta = params.membrane_decay
    bias = None
    if params.bias is not None:  # the bias current of every step, then into the membrane
        constant = params.bias.to(drive.dtype).expand(T, nB, O)
        start = _vectors(drive)[1](state.bias)  # the bias current before the first step
        bias = filtered(constant, params.bias_decay, start, kernel)
        drive = drive + bias
    start = state.v if state.adapt is None else state.v + state.adapt
    membrane = filtered(drive, beta, start.to(drive.dtype), kernel)
    loop = params._replace(bias=None, bias_decay=None, reset_decay=beta, membrane_decay=None)
    reset = None if config.reset == "none" else drive.new_zeros(nB, O)
    begin = state._replace(bias=None, reset=reset, link=None)
    spikes, v, final = spiking_scan(membrane, loop, begin, spike_fn, config, kernel=kernel)
    return spikes, v, final._replace(bias=None if bias is None else bias[-1], reset=None)


def _as_per_synapse(params: HetSynParams, **changes) -> HetSynParams:
    return params._replace(layout=PER_SYNAPSE, branches=None, **changes)


def input_scan(
    drive: Tensor,
    params: HetSynParams,
    state: HetSynState,
    spike_fn: SpikeFn,
    config: DynamicsConfig,
    *,
    kernel: str = "scan",
) -> tuple[Tensor, Tensor, HetSynState]:
    """The per-input layout over a whole sequence from its input ``drive = x`` (T, B, in):
    the filtered inputs ``F^t = r F^{t-1} + x^t`` by the channel loop (:func:`filtered`),
    ``S = W F`` in one matrix product, the rest by the per-synapse loop (recurrent synapses
    ``q_jk = q_k``, started from ``Q^0_jk = u_jk G^0_k``, kept in the loop only; the final
    ``G`` filtered from the spikes). ``kernel`` as in :func:`spiking_scan`."""
    _layout_error("input_scan", params, INPUT)
    _backend(kernel, drive, params, state, spike_fn)
    traces = filtered(drive, params.syn_decay, state.syn, kernel)
    S = F.linear(traces, params.weight)
    recurrent = params.rec_weight is not None
    Q0 = params.rec_weight * state.rec[:, None, :] if recurrent else None
    start = state._replace(syn=None, rec=Q0, link=None)
    spikes, v, final = spiking_scan(S, _as_per_synapse(params), start, spike_fn, config,
                                    kernel=kernel)  # fmt: skip
    rec = None
    if recurrent:  # G^t = q G^{t-1} + z^{t-1}
        before = torch.cat([state.spike[None].to(spikes.dtype), spikes[:-1]])
        rec = filtered(before, params.rec_decay, state.rec, kernel)[-1]
    return spikes, v, final._replace(syn=traces[-1], rec=rec)


def _branch_filtered(drive: Tensor, params: HetSynParams, state: HetSynState, kernel: str):
    """The feedforward branch currents of every step (T, B, out, K): the channel loop on the
    out * K (neuron, branch) channels."""
    T, nB, O, K = drive.shape
    flat = filtered(
        drive.reshape(T, nB, O * K), params.syn_decay.reshape(O * K),
        state.syn.reshape(nB, O * K), kernel,
    )  # fmt: skip
    return flat.view(T, nB, O, K)


def branch_scan(
    drive: Tensor,
    params: HetSynParams,
    state: HetSynState,
    spike_fn: SpikeFn,
    config: DynamicsConfig,
    *,
    kernel: str = "scan",
) -> tuple[Tensor, Tensor, HetSynState]:
    """The branch layout over a whole sequence from the weighted input of every branch,
    ``drive`` (T, B, out, K): the branch currents by the channel loop (:func:`filtered`),
    their sum per neuron, the rest by the per-synapse loop (recurrent synapse (j, k) decaying
    by the decay of its branch, kept in the loop only; the final branch currents add the
    loop's recurrent currents of each branch). ``kernel`` as in :func:`spiking_scan`."""
    _layout_error("branch_scan", params, BRANCH)
    _backend(kernel, drive[..., 0], params, state, spike_fn)
    T, nB, O, K = drive.shape
    branches = _branch_filtered(drive, params, state, kernel)
    recurrent = params.rec_weight is not None
    loop = _as_per_synapse(params, rec_decay=synapse_decays(params, True) if recurrent else None)
    start = state._replace(syn=None, rec=drive.new_zeros(nB, O, O) if recurrent else None,
                           link=None)  # fmt: skip
    spikes, v, final = spiking_scan(branches.sum(-1), loop, start, spike_fn, config,
                                    kernel=kernel)  # fmt: skip
    last = branches[-1]
    if recurrent:  # each recurrent current into its branch
        rec_mask = params.branches.mask[..., params.in_features :]
        last = last + torch.einsum("bjk,cjk->bjc", final.rec, rec_mask)
    return spikes, v, final._replace(syn=last, rec=None)


def input_readout_scan(drive, params, state, *, kernel="scan"):
    """A per-input readout over a whole sequence (``y = W F + B``), as :func:`input_scan`."""
    _layout_error("input_readout_scan", params, INPUT)
    traces = filtered(drive, params.syn_decay, state.syn, kernel)
    y, final = readout_scan(F.linear(traces, params.weight), _as_per_synapse(params),
                            state._replace(syn=None), kernel=kernel)  # fmt: skip
    return y, final._replace(syn=traces[-1])


def branch_readout_scan(drive, params, state, *, kernel="scan"):
    """A branch readout over a whole sequence (``y = sum_k D_k + B``), as :func:`branch_scan`."""
    _layout_error("branch_readout_scan", params, BRANCH)
    branches = _branch_filtered(drive, params, state, kernel)
    y, final = readout_scan(branches.sum(-1), _as_per_synapse(params),
                            state._replace(syn=None), kernel=kernel)  # fmt: skip
    return y, final._replace(syn=branches[-1])


def readout_scan(
    drive: Tensor, params: HetSynParams, state: HetSynState, *, kernel: str = "scan"
) -> tuple[Tensor, HetSynState]:
    """Outputs ``y^t = S^t + B^t`` (T, B, out) and the final state (``syn`` left as in
    ``state``) of a per-synapse readout layer, from its feedforward drive; the same fused
    loop without spikes, reset or recurrence. ``kernel`` as in :func:`spiking_scan`."""
    _layout_error("readout_scan", params, PER_SYNAPSE)
    backend = _backend(kernel, drive, params, state, None)
    T, nB, O = drive.shape
    vec, per_neuron = _vectors(drive)
    none = drive.new_zeros(1, 1)
    bias = params.bias is not None
    flags = _flags(DynamicsConfig(), None, drive.dtype, recurrent=False, bias=bias, adapt=False,
                   reset="none")  # fmt: skip
    neuron = NeuronParams(params.bias, params.bias_decay, *(None,) * 5)
    start = NeuronState(state.bias, None, None, None, None)
    _, y, _, B, _, _ = _SpikingScan.apply(
        drive, none, none, drive.new_zeros(nB, 1, 1), flags, None, backend, *map(vec, neuron),
        *map(per_neuron, start),
    )  # fmt: skip
    final = state._replace(v=y[-1].clone(), bias=B if bias else None, link=None)
    return y, final


class _SharedScan(torch.autograd.Function):
    """Autograd of the shared layouts' loop (as :class:`_SpikingScan`)."""

    @staticmethod
    def forward(ctx, C, U, flags, fn, backend, *neuron):
        T, nB, O = C.shape
        p, start = SharedParams(*neuron[:5]), SharedState(*neuron[5:])
        trace = SharedTrace(*(C.new_empty(T, nB, O) for _ in SharedTrace._fields))
        backend.shared_forward(C.detach().contiguous(), U, p, flags, start, trace)
        ctx.flags, ctx.fn, ctx.backend = flags, fn, backend
        ctx.mark_non_differentiable(trace.spike)
        ctx.save_for_backward(U, *p, *start, *trace)
        return trace.spike, trace.v, trace.current[-1].clone(), trace.adapt[-1].clone()

    @staticmethod
    def backward(ctx, _gz, gv, gu, gA):
        refuse_double_backward("fused layer loop (kernel='scan' or 'triton')")
        U, *rest = ctx.saved_tensors
        p, start, trace = SharedParams(*rest[:5]), SharedState(*rest[5:9]), SharedTrace(*rest[9:])
        z, flags = trace.spike, ctx.flags
        T, nB, O = z.shape
        sg = _surrogate_derivative(ctx.fn, trace.v, p.threshold).contiguous()
        gv = z.new_zeros(T, nB, O) if gv is None else gv.to(z.dtype).contiguous()
        gstate = SharedState(
            _carried(gu, z, (nB, O)), _carried(gA, z, (nB, O)), z.new_empty(nB, O),
            z.new_empty(nB, O),
        )  # fmt: skip
        chunks = ctx.backend.chunks(nB)
        dC = z.new_empty(T, nB, O)
        grads = SharedParams(*(z.new_zeros(chunks, O) for _ in SharedParams._fields))
        dU = z.new_zeros(chunks, *U.shape)
        ctx.backend.shared_backward(U, p, flags, trace, start, gv, sg, gstate, dC, grads, dU)
        return (
            dC, dU.sum(0), None, None, None, *(g.sum(0) for g in grads), gstate.current,
            gstate.adapt, *_initial_grads(flags, gstate),
        )  # fmt: skip


def _initial_grads(flags: Flags, gstate) -> tuple:
    """The gradients of the initial membrane and spikes (``gstate.v``, ``gstate.spike``) where
    the loop used them, else None: the membrane through a reset to zero, the spikes through
    recurrence, adaptation or a reset that is not detached."""
    uses_z0 = flags.recurrent or flags.adapt or (flags.reset != 0 and not flags.detach_reset)
    reset_to_zero = flags.reset == RESET_CODES["zero"]
    return gstate.v if reset_to_zero else None, gstate.spike if uses_z0 else None


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
) -> tuple[Tensor, Tensor, HetSynState]:
    """The shared layouts (heterogeneity ``"neuron"`` / ``"none"``) over a whole sequence
    from ``drive = W x + b`` (T, B, out): spikes, membranes and final state, or, for a
    readout (``spike_fn`` None), outputs ``y^t = rho y^{t-1} + drive^t`` twice and final
    state. ``kernel`` as in :func:`spiking_scan`."""
    _layout_error("shared_scan", params, SHARED)
    backend = _backend(kernel, drive, params, state, spike_fn)
    readout = spike_fn is None
    vec, per_neuron = _vectors(drive)
    recurrent = not readout and params.rec_weight is not None
    adapt = not readout and params.adapt_decay is not None
    reset = "none" if readout else config.reset
    flags = _flags(config, spike_fn, drive.dtype, recurrent=recurrent, bias=False, adapt=adapt,
                   reset=reset)  # fmt: skip
    U = params.rec_weight.contiguous() if recurrent else drive.new_zeros(1, 1)
    neuron = SharedParams(
        params.syn_decay, params.reset_amount if reset == "subtract" else None,
        None if readout else params.threshold, params.adapt_decay if adapt else None,
        params.adapt_strength if adapt else None,
    )  # fmt: skip
    start = SharedState(state.syn, state.adapt, state.v, state.spike)
    z, v, u, A = _SharedScan.apply(
        drive, U, flags, spike_fn, backend, *map(vec, neuron), *map(per_neuron, start)
    )
    if readout:
        return v, v, state._replace(syn=u, v=v[-1].clone())
    spikes = _checked_spikes(spike_fn, v, params.threshold, z)
    final = HetSynState(
        syn=u, v=v[-1].clone(), spike=spikes[-1].clone(), adapt=A if adapt else None
    )
    return spikes, v, final


def shared_reset_scan(
    drive: Tensor,
    params: HetSynParams,
    state: HetSynState,
    spike_fn: SpikeFn,
    config: DynamicsConfig,
    *,
    kernel: str = "scan",
) -> tuple[Tensor, Tensor, HetSynState]:
    """The shared layout with its own reset current over a whole sequence, from
    ``drive = W x + b`` (T, B, out), by the two fused loops: the summed current's feedforward
    part ``S^t = rho S^{t-1} + drive^t`` by the shared loop (from ``S^0 = U^0``), the rest by
    the per-synapse loop with its recurrent currents decaying by ``rho_j`` (their row sums
    are the recurrent part of ``U``; kept in the loop only, never per step), the reset
    current by ``kappa``. Same results as :func:`shared_reset_scan_ref` up to rounding (the
    sums are grouped otherwise). ``kernel`` as in :func:`spiking_scan`."""
    _layout_error("shared_reset_scan", params, SHARED_RESET)
    T, nB, O = drive.shape
    rho = params.syn_decay
    filtered = params._replace(
        layout=SHARED, bias=None, rec_weight=None, adapt_decay=None, adapt_strength=None
    )
    S, _, _ = shared_scan(
        drive, filtered, HetSynState(syn=state.syn, v=state.v, spike=state.spike), None,
        config, kernel=kernel,
    )  # fmt: skip
    recurrent = params.rec_weight is not None
    rows = rho.reshape(-1, 1) if rho.dim() else rho  # q_jk = rho_j
    per_synapse = params._replace(
        layout=PER_SYNAPSE, bias=None, bias_decay=None,
        rec_decay=rows.expand(O, O) if recurrent else None,
    )  # fmt: skip
    start = state._replace(
        rec=drive.new_zeros(nB, O, O) if recurrent else None, link=None
    )
    spikes, v, final = spiking_scan(S, per_synapse, start, spike_fn, config, kernel=kernel)
    u = S[-1] + final.rec.sum(-1) if recurrent else S[-1].clone()
    return spikes, v, final._replace(syn=u, rec=None)


# the fused whole-sequence loop of each layout (drive -> outputs, final state)
SPIKING_LOOPS = {
    PER_SYNAPSE: spiking_scan, INPUT: input_scan, BRANCH: branch_scan, SHARED: shared_scan,
    SHARED_RESET: shared_reset_scan,
}  # fmt: skip


def _shared_readout_scan(drive, params, state, *, kernel="scan"):
    _, y, final = shared_scan(drive, params, state, None, DynamicsConfig(), kernel=kernel)
    return y, final


READOUT_LOOPS = {
    PER_SYNAPSE: readout_scan, INPUT: input_readout_scan, BRANCH: branch_readout_scan,
    SHARED: _shared_readout_scan,
}  # fmt: skip


# --------------------------------------------------------------------------- references


def _precomputed(drive: Tensor) -> PathwayStep:
    """A feedforward pathway step (see :func:`~hetsyn_plugins.core.dynamics.synaptic_drive`)
    that gives ``drive``, one step of the sequence's precomputed drive; the currents stay as
    they are (the sequence kernel gives the final ones)."""
    return lambda inp, current, link, weight, decay: (drive, current, None)


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
    falls back to this loop; then the final state holds its link)."""
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


def shared_reset_scan_ref(
    drive: Tensor,
    params: HetSynParams,
    state: HetSynState,
    spike_fn: SpikeFn,
    config: DynamicsConfig,
) -> tuple[Tensor, Tensor, HetSynState]:
    """The pure-torch twin of :func:`shared_reset_scan`: the layout's rule step by step."""
    return spiking_scan_ref(drive, params, state, spike_fn, config)


def input_scan_ref(
    drive: Tensor,
    params: HetSynParams,
    state: HetSynState,
    spike_fn: SpikeFn,
    config: DynamicsConfig,
) -> tuple[Tensor, Tensor, HetSynState]:
    """The pure-torch twin of :func:`input_scan` (``drive``: the input ``x``): the per-input
    rule step by step."""
    return spiking_scan_ref(drive, params, state, spike_fn, config)


def branch_scan_ref(
    drive: Tensor,
    params: HetSynParams,
    state: HetSynState,
    spike_fn: SpikeFn,
    config: DynamicsConfig,
) -> tuple[Tensor, Tensor, HetSynState]:
    """The pure-torch twin of :func:`branch_scan` (``drive``: the weighted input of every
    branch, (T, B, out, K)): the branch rule step by step."""
    return spiking_scan_ref(drive, params, state, spike_fn, config)


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
