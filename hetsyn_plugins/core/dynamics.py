"""The HetSynLIF update rule: one time step on explicit state, as a pure function.

This module is the single place where the equations live; every kernel, layer and adapter
calls it (or is tested against it). For a layer with inputs ``x_i`` (i = 1..N_in) and
output spikes ``z_j`` (j = 1..N_out), one step reads (batch index left out)

.. math::

    I_{ji}^t &= r_{ji} I_{ji}^{t-1} + w_{ji} x_i^t
        && \\text{feedforward synapse} \\\\
    Q_{jk}^t &= q_{jk} Q_{jk}^{t-1} + u_{jk} z_k^{t-1}
        && \\text{recurrent synapse (optional)} \\\\
    B_j^t &= r^b_j B_j^{t-1} + b_j
        && \\text{bias current (optional)} \\\\
    J_j^t &= \\kappa_j J_j^{t-1} + c_j R_j^{t-1}
        && \\text{reset current} \\\\
    A_j^t &= \\rho^a_j A_j^{t-1} + a_j z_j^{t-1}
        && \\text{adaptation (optional)} \\\\
    V_j^t &= \\textstyle\\sum_i I_{ji}^t + \\sum_k Q_{jk}^t + B_j^t - J_j^t - A_j^t \\\\
    z_j^t &= \\mathrm{spike\\_fn}(V_j^t - \\theta_j)

The reset signal ``R`` and its factor ``c`` follow the reset mode and timing:

- ``reset="subtract"``: ``R = theta_R z`` (``theta_R`` defaults to the threshold);
- ``reset="zero"``: ``R = V z`` (the membrane is set to zero at a spike);
- ``reset="none"``: no reset current;
- ``reset_timing="next_step"`` (the paper's, default for "subtract"): ``c = 1``, the reset
  enters undecayed at the next step;
- ``reset_timing="at_spike"`` (default and only choice for "zero"): ``c = kappa``, the reset is
  applied at the spike and leaks once before the next step (SpikingJelly's stored ``v``).

With ``detach_reset`` the spike entering ``R`` carries no gradient (snnTorch always does
this; SpikingJelly on request).

**Shared layout.** When all decays of a neuron are one value ``rho_j`` (the HetNeuLIF and
HomNeuLIF presets), the currents other than adaptation sum to one state
``U_j = sum_i I_ji + sum_k Q_jk + B_j - J_j`` with

.. math:: U_j^t = \\rho_j U_j^{t-1} + \\textstyle\\sum_i w_{ji} x_i^t + \\sum_k u_{jk} z_k^{t-1}
          + b_j - c_j R_j^{t-1}, \\qquad V_j^t = U_j^t - A_j^t,

one matrix product per step and no per-synapse state. It is the same rule (the identities
are under test), in the operation order of ``nn.Linear`` + ``snn.Leaky``. When the reset
current has a decay of its own (``kappa_j``, the paper's code), the synaptic currents still
sum to one state, ``U^t = rho U^{t-1} + W x^t + U z^{t-1} + b`` and ``V^t = U^t - J^t - A^t``
(:func:`shared_reset_step`). Each layout's rule is a function of its own here
(:func:`per_synapse_step`, :func:`shared_step`, :func:`shared_reset_step`), bound to its
state by :mod:`hetsyn_plugins.core.layouts`.

**Per-input and branch layouts** (the timescale dial between the two). With one decay per
input, ``r_ji = r_i`` (and ``q_jk = q_k``), the per-synapse currents are ``w_ji F_i`` with one
filtered trace per input, ``F_i^t = r_i F_i^{t-1} + x_i^t``, so the synaptic part is one matrix
product, ``W F^t`` (:func:`input_step`; state (B, in)). With K dendritic branches per neuron,
synapse (j, i) belongs to branch ``k(j, i)`` and decays by ``d_{j k}``: the currents of a
branch sum to one, ``D_jk^t = d_jk D_jk^{t-1} + sum_{i: k(j,i) = k} w_ji x_i^t`` (the recurrent
synapses feed the branches too), and the synaptic part is ``sum_k D_jk^t``
(:func:`branch_step`; state (B, out, K)).

**Membrane leak** (``membrane_decay`` ``beta``, optional; the paper's model has none): the
membrane integrates the synaptic part instead of being it, and holds the reset itself (no
reset current ``J``)::

    V_j^t + A_j^t = beta_j (V_j^{t-1} + A_j^{t-1}) + sum_i I_ji^t + sum_k Q_jk^t + B_j^t - R_j^{t-1}

(``reset_timing="at_spike"``: ``beta_j (V + A - R)^{t-1} + ...``; :func:`membrane_current`).
With every synaptic decay ``alpha`` this is snnTorch's ``Synaptic`` and SpikingJelly's
``CUBALIFNode``.

The readout (:func:`readout_step`) is the synaptic part alone: ``y_j^t = sum_i I_ji^t + B_j^t``,
no spike and no reset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from .validation import check_choice

RESET_MODES = ("subtract", "zero", "none")
RESET_TIMINGS = ("next_step", "at_spike")

SpikeFn = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class DynamicsConfig:
    """Static choices of the update rule (see the module docstring)."""

    reset: str = "subtract"
    reset_timing: Optional[str] = None
    detach_reset: bool = False

    def __post_init__(self):
        check_choice("reset", self.reset, RESET_MODES)
        timing = self.reset_timing
        if timing is None:
            timing = "at_spike" if self.reset == "zero" else "next_step"
            object.__setattr__(self, "reset_timing", timing)
        check_choice("reset_timing", timing, RESET_TIMINGS)
        if self.reset == "zero" and timing != "at_spike":
            raise ValueError(
                "reset_timing must be 'at_spike' with reset='zero' (the membrane is set to "
                f"zero at the spike itself); got {timing!r}"
            )


class HetSynParams(NamedTuple):
    """Effective parameters of one layer for one step (already decoded, e.g. decays in (0,1)).

    ``layout`` (one of :mod:`hetsyn_plugins.core.layouts`) says which state the parameters
    step and by which rule. Shapes: ``weight`` (out, in); ``syn_decay`` (out, in) in the
    per-synapse layout, or broadcastable to (out,) in the shared layouts, where it is also the
    decay of the recurrent and bias currents (and, in the shared layout, of the reset).
    Per-neuron tensors broadcast to (out,). In the per-input layout ``syn_decay`` is (in,) and
    ``rec_decay`` (out,) (one decay per presynaptic neuron); in the branch layout
    ``syn_decay`` is (out, K), the decay of every (neuron, branch), also that of the recurrent
    synapses, and ``branches`` says which branch each synapse belongs to. ``membrane_decay``
    (out,) or scalar: the membrane leak ``beta`` (None: no leak, the paper's model).
    """

    weight: Tensor
    syn_decay: Tensor
    layout: object
    threshold: Optional[Tensor] = None
    reset_amount: Optional[Tensor] = None
    reset_decay: Optional[Tensor] = None
    bias: Optional[Tensor] = None
    bias_decay: Optional[Tensor] = None
    rec_weight: Optional[Tensor] = None
    rec_decay: Optional[Tensor] = None
    adapt_decay: Optional[Tensor] = None
    adapt_strength: Optional[Tensor] = None
    membrane_decay: Optional[Tensor] = None
    branches: Optional["Branches"] = None

    @property
    def in_features(self) -> int:
        return self.weight.shape[1]

    @property
    def out_features(self) -> int:
        return self.weight.shape[0]


class Branches(NamedTuple):
    """Which dendritic branch each synapse of a branch-layout layer belongs to.

    ``mask`` (K, out, n): 1 where synapse (j, i) belongs to branch k, else 0 (every synapse
    in exactly one branch); ``n`` counts the inputs, then the layer's own neurons when it is
    recurrent (the branches take ``[x^t, z^{t-1}]``). ``blocks``: when every neuron's branches
    are the same contiguous blocks of those ``n`` columns, their ``(start, stop)``; the
    drive is then K matrix products over ``n / K`` columns each (the cost of one ``W x``),
    else one product with K masked copies of the weights. ``masked``: the weights of those
    products (feedforward, recurrent), prepared once per decoding by
    :func:`with_branch_weights` (not per step).
    """

    mask: Tensor
    blocks: Optional[tuple[tuple[int, int], ...]] = None
    masked: Optional[tuple] = None

    @property
    def count(self) -> int:
        return self.mask.shape[0]


def branch_product(inp: Tensor, weight: Tensor, branches: Branches, offset: int = 0) -> Tensor:
    """``P_jk = sum_{i in branch k of j} w_ji inp_i``: (..., n') x (out, n') -> (..., out, K),
    for the columns ``offset .. offset + n'`` of the branch assignment (the inputs: 0; the
    recurrent spikes: ``in``). Uses the weights :func:`with_branch_weights` prepared where
    they are (a per-step loop then slices or masks them once per decoding)."""
    prepared = None if branches.masked is None else branches.masked[0 if offset == 0 else 1]
    if prepared is None:
        prepared = _branch_weights(weight, branches, offset)
    if branches.blocks is None:
        y = F.linear(inp, prepared)
        return y.unflatten(-1, (branches.count, weight.shape[0])).transpose(-1, -2)
    parts = []
    for (start, stop), w in zip(branches.blocks, prepared):
        lo, hi = max(start - offset, 0), min(stop - offset, weight.shape[1])
        if w is None:
            parts.append(inp.new_zeros(*inp.shape[:-1], weight.shape[0]))
        else:
            parts.append(F.linear(inp[..., lo:hi], w))
    return torch.stack(parts, -1)


def _branch_weights(weight: Tensor, branches: Branches, offset: int):
    """The weights of :func:`branch_product` for the columns from ``offset``: per block its
    columns (contiguous; None where the block has none of them), or K masked copies flattened
    to (K * out, n')."""
    n = weight.shape[1]
    if branches.blocks is None:
        return (weight * branches.mask[..., offset : offset + n]).flatten(0, 1)
    blocks = []
    for start, stop in branches.blocks:
        lo, hi = max(start - offset, 0), min(stop - offset, n)
        blocks.append(weight[:, lo:hi].contiguous() if lo < hi else None)
    return tuple(blocks)


def with_branch_weights(params: HetSynParams) -> HetSynParams:
    """``params`` whose branch assignment carries the weights of its products, sliced into
    blocks or masked (:func:`branch_product`), so that a per-step loop prepares them once
    per decoding, not per step."""
    b = params.branches
    if b is None:
        return params
    rec = params.rec_weight
    pair = (
        _branch_weights(params.weight, b, 0),
        None if rec is None else _branch_weights(rec, b, params.in_features),
    )
    return params._replace(branches=b._replace(masked=pair))


class StepLink(NamedTuple):
    """The per-step path's bookkeeping, carried by the state it belongs to (and nowhere else).

    ``syn``, ``rec``: the records of the per-synapse currents that the memory-flat per-step
    path (:mod:`hetsyn_plugins.core.kernels.stepwise`) advances in place (its
    ``PathwayLink``); ``params``: what the layer that made the state decoded for that step
    (:mod:`hetsyn_plugins.core.layers`), reused by the next step of the chain so that a
    per-step loop decodes its (out, in) decays once, not per step.
    """

    syn: Optional[object] = None
    rec: Optional[object] = None
    params: Optional[object] = None

    def detached(self) -> "StepLink":
        return StepLink(*(None if p is None else p.detached() for p in (self.syn, self.rec)))


class HetSynState(NamedTuple):
    """State carried from step ``t-1`` to step ``t`` (batch first).

    ``syn``: per-synapse currents ``I`` (B, out, in), in the shared layouts the summed
    current ``U`` (B, out), in the per-input layout the filtered inputs ``F`` (B, in), in the
    branch layout the branch currents ``D`` (B, out, K). ``rec``: recurrent currents ``Q``
    (B, out, out) (per-synapse layout of a recurrent layer), the filtered spikes ``G``
    (B, out) (per-input layout), else None. ``bias``: bias current ``B`` (B, out) (per-synapse
    layout with bias, else None). ``reset``: reset current ``J`` (B, out) (per-synapse layout
    with a reset, else None). ``adapt``: adaptation ``A`` (B, out) or None. ``v``: membrane
    ``V^{t-1}`` (B, out). ``spike``: spikes ``z^{t-1}`` (B, out).

    ``link``: the bookkeeping of the memory-flat per-step path (:class:`StepLink`), which
    advances ``syn`` and ``rec`` in place; None elsewhere. The state is the whole truth of a
    layer's memory: a step reads nothing else. A state whose currents a later step has
    advanced is stale and raises when passed again; :meth:`clone` keeps a state to continue
    from more than once.
    """

    syn: Tensor
    v: Tensor
    spike: Tensor
    rec: Optional[Tensor] = None
    bias: Optional[Tensor] = None
    reset: Optional[Tensor] = None
    adapt: Optional[Tensor] = None
    link: Optional[StepLink] = None

    def tensors(self) -> tuple[Optional[Tensor], ...]:
        """The state's tensors, field by field (None where a field is absent)."""
        return tuple(self)[:-1]

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """The shape of each tensor the state holds, by field name."""
        return {f: tuple(t.shape) for f, t in zip(self._fields, self.tensors()) if t is not None}

    def detach(self) -> "HetSynState":
        """The same state cut from the autograd graph (truncated BPTT)."""
        new = HetSynState(*(None if t is None else t.detach() for t in self.tensors()))
        return new._replace(link=None if self.link is None else self.link.detached())

    def map(self, fn: Callable[[Tensor], Tensor]) -> "HetSynState":
        """Apply ``fn`` to every tensor of the state (e.g. ``.to(device)``). The link stays
        with currents that ``fn`` returns as they are (a no-op ``.to``); new currents start a
        new chain without one."""
        new = HetSynState(*(None if t is None else fn(t) for t in self.tensors()))
        kept = new.syn is self.syn and new.rec is self.rec
        return new._replace(link=self.link if kept else None)

    def clone(self) -> "HetSynState":
        """A copy that later steps never advance in place (gradients flow through the copy)."""
        return self.map(torch.clone)

    def without_link(self) -> "HetSynState":
        """The state without the per-step path's bookkeeping (see the class docstring)."""
        return self._replace(link=None)


def state_shapes(
    params: HetSynParams, batch_size: int, config: DynamicsConfig, *, readout: bool = False
) -> HetSynState:
    """The shape of every field of the state of a batch (None where a field is absent), as
    the parameters' layout lays it out."""
    return params.layout.state_shapes(params, batch_size, config, readout=readout)


def per_synapse_state_shapes(
    params: HetSynParams, batch_size: int, config: DynamicsConfig, *, readout: bool = False
) -> HetSynState:
    """The per-synapse layout's state: currents (B, out, in) (and (B, out, out)), per-neuron
    bias and reset currents."""
    out, n_in = params.weight.shape
    per_neuron = (batch_size, out)
    adapt = None if readout or params.adapt_decay is None else per_neuron
    leaky = params.membrane_decay is not None  # the leaky membrane holds the reset
    return HetSynState(
        syn=(batch_size, out, n_in),
        v=per_neuron,
        spike=per_neuron,
        rec=None if params.rec_weight is None else (batch_size, out, out),
        bias=None if params.bias is None else per_neuron,
        reset=None if readout or config.reset == "none" or leaky else per_neuron,
        adapt=adapt,
    )


def shared_state_shapes(
    params: HetSynParams, batch_size: int, config: DynamicsConfig, *, readout: bool = False
) -> HetSynState:
    """The shared layout's state: one summed current per neuron, (B, out)."""
    per_neuron = (batch_size, params.out_features)
    adapt = None if readout or params.adapt_decay is None else per_neuron
    return HetSynState(syn=per_neuron, v=per_neuron, spike=per_neuron, adapt=adapt)


def shared_reset_state_shapes(
    params: HetSynParams, batch_size: int, config: DynamicsConfig, *, readout: bool = False
) -> HetSynState:
    """The shared layout with its own reset current: the summed synaptic current and the reset
    current per neuron, (B, out) each."""
    state = shared_state_shapes(params, batch_size, config, readout=readout)
    per_neuron = (batch_size, params.out_features)
    leaky = params.membrane_decay is not None  # the leaky membrane holds the reset
    return state._replace(
        reset=None if readout or config.reset == "none" or leaky else per_neuron
    )


def input_state_shapes(
    params: HetSynParams, batch_size: int, config: DynamicsConfig, *, readout: bool = False
) -> HetSynState:
    """The per-input layout's state: one filtered trace per input (B, in) (and per
    presynaptic neuron, (B, out)), per-neuron bias and reset currents."""
    state = per_synapse_state_shapes(params, batch_size, config, readout=readout)
    per_neuron = (batch_size, params.out_features)
    return state._replace(
        syn=(batch_size, params.in_features),
        rec=None if params.rec_weight is None else per_neuron,
        reset=None if params.membrane_decay is not None else state.reset,
    )


def branch_state_shapes(
    params: HetSynParams, batch_size: int, config: DynamicsConfig, *, readout: bool = False
) -> HetSynState:
    """The branch layout's state: one current per (neuron, branch), (B, out, K) (the
    recurrent synapses feed the same branches), per-neuron bias and reset currents."""
    state = per_synapse_state_shapes(params, batch_size, config, readout=readout)
    return state._replace(
        syn=(batch_size, params.out_features, params.branches.count),
        rec=None,
        reset=None if params.membrane_decay is not None else state.reset,
    )


def state_from_membrane(v: Tensor, spike: Optional[Tensor] = None) -> HetSynState:
    """The state of a shared layout (heterogeneity ``"neuron"`` / ``"none"``, no recurrence,
    adaptation or bias current) whose membrane is ``v`` (B, out): the neuron's summed current
    is ``v`` itself, and ``spike`` (default none) the spikes whose reset is still pending.
    Where the membrane is the whole state, hosts set the state from theirs with it."""
    return HetSynState(syn=v, v=v, spike=torch.zeros_like(v) if spike is None else spike)


def decayed_input(params: HetSynParams) -> HetSynParams:
    """The parameters with every input scaled by one minus the decay it enters with
    (SpikingJelly's ``decay_input``), so that a constant input ``a`` leads each current to
    ``a`` itself rather than ``a / (1 - r)``::

        I_ji^t = r_ji I_ji^{t-1} + (1 - r_ji) w_ji x_i^t   (recurrent: (1 - q) u; bias: (1 - r^b) b)

    In the shared layout all of ``W x + b + U z`` enters the neuron's current with ``rho``:
    ``u^t = rho u^{t-1} + (1 - rho)(W x^t + b + U z^{t-1})``, ``LIFNode(decay_input=True)``'s
    rule with ``rho = 1 - 1/tau``. Differentiable in the weights and the decays.
    """

    def scaled(w: Optional[Tensor], r: Optional[Tensor]) -> Optional[Tensor]:
        if w is None:
            return None
        gain = 1 - r
        return w * (gain[:, None] if gain.dim() == 1 and w.dim() == 2 else gain)

    if params.layout.grouped_decays:  # the decay each synapse enters with: its group's
        rec = params.rec_weight
        return params._replace(
            weight=scaled(params.weight, synapse_decays(params)),
            bias=scaled(params.bias, params.bias_decay),
            rec_weight=None if rec is None else scaled(rec, synapse_decays(params, True)),
        )
    return params._replace(
        weight=scaled(params.weight, params.syn_decay),
        bias=scaled(params.bias, params.bias_decay),
        rec_weight=scaled(params.rec_weight, params.rec_decay),
    )


def synapse_decays(params: HetSynParams, recurrent: bool = False) -> Tensor:
    """The decay of every feedforward synapse (out, in) (``recurrent``: every recurrent one,
    (out, out)) in the per-input and branch layouts: ``r_ji = r_i`` (per input), or the decay
    of the branch the synapse belongs to, ``r_ji = d_{j, k(j, i)}``."""
    out = params.out_features
    if params.branches is None:  # per input: one decay per presynaptic input or neuron
        decay = params.rec_decay if recurrent else params.syn_decay
        return decay.expand(out, decay.shape[-1] if decay.dim() else out)
    n_in = params.in_features
    mask = params.branches.mask[..., n_in:] if recurrent else params.branches.mask[..., :n_in]
    return torch.einsum("kon,ok->on", mask, params.syn_decay)


def initial_state(
    params: HetSynParams, batch_size: int, config: DynamicsConfig, *, readout: bool = False
) -> HetSynState:
    """The all-zero state of a batch, laid out for ``params`` (see :class:`HetSynState`)."""
    w = params.weight
    shapes = state_shapes(params, batch_size, config, readout=readout)
    return HetSynState(
        *(None if s is None else torch.zeros(s, dtype=w.dtype, device=w.device) for s in shapes)
    )


def _reset_signal(params: HetSynParams, state: HetSynState, config: DynamicsConfig) -> Tensor:
    """``R^{t-1}``: the amount the reset removes for the spikes of the previous step."""
    return _reset_amount(state.v, state.spike, params, config)


def _reset_amount(v: Tensor, z: Tensor, params: HetSynParams, config: DynamicsConfig) -> Tensor:
    """``R`` for membrane ``v`` and spikes ``z`` ("subtract" or "zero")."""
    z = z.detach() if config.detach_reset else z
    if config.reset == "subtract":
        return params.reset_amount * z
    return v * z  # "zero"


def post_reset_membrane(
    v: Tensor, z: Tensor, params: HetSynParams, config: DynamicsConfig
) -> Tensor:
    """The membrane right after the reset of the spikes ``z``: ``V - R`` (``V`` if no reset).

    The rule itself never needs it (the reset enters the next step's currents); hosts that
    report the post-reset membrane (snnTorch's ``reset_delay=False``) do. ``v`` and ``z``:
    one step (B, out) or a sequence (T, B, out).
    """
    if config.reset == "none":
        return v
    return v - _reset_amount(v, z, params, config)


def _adaptation(params: HetSynParams, state: HetSynState) -> Optional[Tensor]:
    if params.adapt_decay is None:
        return None
    return params.adapt_decay * state.adapt + params.adapt_strength * state.spike


PathwayStep = Callable[
    [Tensor, Tensor, Optional[object], Tensor, Tensor], tuple[Tensor, Tensor, Optional[object]]
]


def synapse_step(
    inp: Tensor, current: Tensor, link: Optional[object], weight: Tensor, decay: Tensor
) -> tuple[Tensor, Tensor, Optional[object]]:
    """One step of a pathway of per-synapse currents (feedforward: ``inp = x^t``; recurrent:
    ``inp = z^{t-1}``): ``I^t = r I^{t-1} + w inp``, returned as ``(sum_i I^t, I^t, None)``.

    Shapes: ``inp`` (B, in), ``current`` (B, out, in), ``weight`` and ``decay`` (out, in).
    ``link`` is unused here; :func:`hetsyn_plugins.core.kernels.stepwise.synapse_step`, its
    memory-flat twin of the same signature, returns and takes one.
    """
    new = decay * current + weight * inp.unsqueeze(-2)
    return new.sum(-1), new, None


class SynapticDrive(NamedTuple):
    """What :func:`synaptic_drive` returns: ``current`` (B, out), the input of
    :func:`neuron_update`, and the new synaptic fields of the state (per-synapse layout)."""

    current: Tensor
    syn: Optional[Tensor] = None
    rec: Optional[Tensor] = None
    bias: Optional[Tensor] = None
    link: Optional[StepLink] = None


def bias_current(params: HetSynParams, state: HetSynState) -> Optional[Tensor]:
    """``B^t = r^b B^{t-1} + b`` (per-synapse layout; None without bias)."""
    if params.bias is None:
        return None
    return params.bias_decay * state.bias + params.bias


def shared_drive(
    x: Optional[Tensor], params: HetSynParams, state: HetSynState, feedforward: PathwayStep
) -> Tensor:
    """The shared layouts' input to the summed current: ``W x^t + U z^{t-1} + b`` (matrix
    products); ``feedforward``, when not :func:`synapse_step`, gives ``W x^t + b`` (a kernel's
    precomputed sequence)."""
    if feedforward is synapse_step:
        cur = F.linear(x, params.weight, params.bias)
    else:
        cur = feedforward(x, None, None, params.weight, None)[0]
    if params.rec_weight is not None:
        cur = cur + F.linear(state.spike, params.rec_weight)
    return cur


def synaptic_drive(
    x: Optional[Tensor],
    params: HetSynParams,
    state: HetSynState,
    feedforward: PathwayStep = synapse_step,
    recurrent: PathwayStep = synapse_step,
) -> SynapticDrive:
    """The synaptic part of one step of the per-synapse layout:
    ``current = sum_i I_ji^t + sum_k Q_jk^t + B_j^t``, each pathway advanced by
    ``feedforward`` / ``recurrent`` (:func:`synapse_step` or a kernel's twin of the same
    signature), and the bias current."""
    link = state.link or StepLink()
    current, syn, syn_link = feedforward(x, state.syn, link.syn, params.weight, params.syn_decay)
    rec = rec_link = None
    if params.rec_weight is not None:
        R, rec, rec_link = recurrent(
            state.spike, state.rec, link.rec, params.rec_weight, params.rec_decay
        )
        current = current + R
    bias = bias_current(params, state)
    if bias is not None:
        current = current + bias
    new_link = None if syn_link is None and rec_link is None else StepLink(syn_link, rec_link)
    return SynapticDrive(current, syn, rec, bias, new_link)


def reset_current(
    params: HetSynParams, state: HetSynState, config: DynamicsConfig
) -> Optional[Tensor]:
    """``J^t = kappa J^{t-1} + c R^{t-1}`` (``c = kappa`` at the spike; None without reset)."""
    if config.reset == "none":
        return None
    signal = _reset_signal(params, state, config)
    if config.reset_timing == "at_spike":
        return params.reset_decay * (state.reset + signal)
    return params.reset_decay * state.reset + signal


def membrane_current(
    current: Tensor, params: HetSynParams, state: HetSynState, config: DynamicsConfig
) -> tuple[Tensor, Optional[Tensor]]:
    """``(U^t, J^t)``: the membrane before adaptation and the reset current.

    Without a membrane leak, ``U^t = current - J^t`` with :func:`reset_current` ``J^t``. With
    one (``membrane_decay`` ``beta``), the membrane integrates the currents and holds the reset
    itself (no reset current: ``J`` is None): ``U^t = beta U^{t-1} + current - R^{t-1}``
    (``"next_step"``) or ``beta (U^{t-1} - R^{t-1}) + current`` (``"at_spike"``), where
    ``U^{t-1} = V^{t-1} + A^{t-1}``.
    """
    beta = params.membrane_decay
    if beta is None:
        reset = reset_current(params, state, config)
        return (current if reset is None else current - reset), reset
    before = state.v if state.adapt is None else state.v + state.adapt
    if config.reset == "none":
        return beta * before + current, None
    signal = _reset_signal(params, state, config)
    if config.reset_timing == "at_spike":
        return beta * (before - signal) + current, None
    return beta * before + current - signal, None


def synaptic_current(
    params: HetSynParams,
    before: Optional[HetSynState],
    after: HetSynState,
    config: DynamicsConfig,
) -> Tensor:
    """``C^t`` (B, out): the synaptic current that a leaky membrane integrated in the step
    from ``before`` (None: rest) to ``after`` (what ``snn.Synaptic`` and SpikingJelly's
    ``CUBALIFNode`` carry as ``syn`` / ``c``). The state itself where the layout holds it
    (the shared layouts with a membrane of their own), else from :func:`membrane_current`
    solved for the current (exact up to rounding)."""
    if params.membrane_decay is None:
        raise ValueError("synaptic_current needs a leaky membrane (membrane_decay)")
    if params.layout.holds_synaptic_current:
        return after.syn
    now = after.v if after.adapt is None else after.v + after.adapt
    if before is None:
        return now
    carried = before.v if before.adapt is None else before.v + before.adapt
    if config.reset == "none":
        return now - params.membrane_decay * carried
    signal = _reset_signal(params, before, config)
    if config.reset_timing == "at_spike":
        return now - params.membrane_decay * (carried - signal)
    return now - params.membrane_decay * carried + signal


def neuron_update(
    drive: SynapticDrive,
    params: HetSynParams,
    state: HetSynState,
    spike_fn: SpikeFn,
    config: DynamicsConfig,
) -> tuple[Tensor, Tensor, HetSynState]:
    """The neuron part of one step: reset current (or leaky membrane), adaptation, membrane
    and spike.

    Returns ``(z, v, new_state)``: spikes (B, out), membrane ``V^t`` before the reset and the
    state for step ``t+1`` (with ``drive``'s synaptic fields).
    """
    adapt = _adaptation(params, state)
    u, reset = membrane_current(drive.current, params, state, config)
    v = u if adapt is None else u - adapt
    z = spike_fn(v - params.threshold)
    new = HetSynState(
        syn=drive.syn, v=v, spike=z, rec=drive.rec, bias=drive.bias, reset=reset, adapt=adapt,
        link=drive.link,
    )  # fmt: skip
    return z, v, new


def _layer_input(x: Optional[Tensor], feedforward: PathwayStep) -> Tensor:
    """``x^t``, or the step of a kernel's precomputed sequence that ``feedforward`` gives."""
    return x if feedforward is synapse_step else feedforward(None, None, None, None, None)[0]


def input_drive(
    x: Optional[Tensor], params: HetSynParams, state: HetSynState, feedforward: PathwayStep
) -> SynapticDrive:
    """The per-input layout's synaptic part: ``F^t = r F^{t-1} + x^t`` (B, in),
    ``G^t = q G^{t-1} + z^{t-1}`` (B, out) and ``current = W F^t + U G^t + B^t``: the
    per-synapse currents of tied decays ``r_ji = r_i`` summed, one matrix product per
    pathway."""
    filtered = params.syn_decay * state.syn + _layer_input(x, feedforward)
    current = F.linear(filtered, params.weight)
    rec = None
    if params.rec_weight is not None:
        rec = params.rec_decay * state.rec + state.spike
        current = current + F.linear(rec, params.rec_weight)
    bias = bias_current(params, state)
    return SynapticDrive(current if bias is None else current + bias, filtered, rec, bias)


def branch_drive(
    x: Optional[Tensor], params: HetSynParams, state: HetSynState, feedforward: PathwayStep
) -> SynapticDrive:
    """The branch layout's synaptic part: ``D_jk^t = d_jk D_jk^{t-1} + P_jk^t`` (B, out, K),
    with ``P_jk^t`` the weighted inputs (and recurrent spikes) of branch k of neuron j
    (:func:`branch_product`), and ``current = sum_k D_jk^t + B_j^t``."""
    if feedforward is synapse_step:
        inp = branch_product(x, params.weight, params.branches)
    else:
        inp = _layer_input(x, feedforward)
    if params.rec_weight is not None:
        rec = branch_product(state.spike, params.rec_weight, params.branches, params.in_features)
        inp = inp + rec
    branches = params.syn_decay * state.syn + inp
    current = branches.sum(-1)
    bias = bias_current(params, state)
    return SynapticDrive(current if bias is None else current + bias, branches, None, bias)


def input_step(
    x, params, state, spike_fn, config, feedforward=synapse_step, recurrent=synapse_step
) -> tuple[Tensor, Tensor, HetSynState]:
    """The per-input layout's step: :func:`neuron_update` of :func:`input_drive`."""
    drive = input_drive(x, params, state, feedforward)
    return neuron_update(drive, params, state, spike_fn, config)


def branch_step(
    x, params, state, spike_fn, config, feedforward=synapse_step, recurrent=synapse_step
) -> tuple[Tensor, Tensor, HetSynState]:
    """The branch layout's step: :func:`neuron_update` of :func:`branch_drive`."""
    drive = branch_drive(x, params, state, feedforward)
    return neuron_update(drive, params, state, spike_fn, config)


def step(
    x: Tensor,
    params: HetSynParams,
    state: HetSynState,
    spike_fn: SpikeFn,
    config: DynamicsConfig,
    feedforward: PathwayStep = synapse_step,
    recurrent: PathwayStep = synapse_step,
) -> tuple[Tensor, Tensor, HetSynState]:
    """One step of a spiking HetSyn layer, by the rule of the parameters' layout
    (:func:`per_synapse_step`, :func:`shared_step` or :func:`shared_reset_step`).

    Args:
        x: input at step ``t``, shape (B, in).
        params: effective parameters (:class:`HetSynParams`).
        state: state after step ``t-1`` (:func:`initial_state` for the first step).
        spike_fn: spike function applied to ``V - threshold``.
        config: reset mode, timing and detaching (:class:`DynamicsConfig`).
        feedforward, recurrent: the pathway steps (see :func:`synaptic_drive`).

    Returns:
        ``(z, v, new_state)``: spikes (B, out), membrane ``V^t`` before the reset (B, out),
        and the state for step ``t+1``.
    """
    return params.layout.step(x, params, state, spike_fn, config, feedforward, recurrent)


def per_synapse_step(
    x, params, state, spike_fn, config, feedforward=synapse_step, recurrent=synapse_step
) -> tuple[Tensor, Tensor, HetSynState]:
    """The per-synapse layout's step: :func:`neuron_update` of :func:`synaptic_drive`."""
    drive = synaptic_drive(x, params, state, feedforward, recurrent)
    return neuron_update(drive, params, state, spike_fn, config)


def shared_step(
    x, params, state, spike_fn, config, feedforward=synapse_step, recurrent=synapse_step
) -> tuple[Tensor, Tensor, HetSynState]:
    """The shared layout's step (every decay of neuron j is ``rho_j``; see the module
    docstring): ``U^t = rho U^{t-1} + W x^t + U_rec z^{t-1} + b - c R^{t-1}``,
    ``V^t = U^t - A^t``."""
    adapt = _adaptation(params, state)
    rho, cur = params.syn_decay, shared_drive(x, params, state, feedforward)
    if config.reset == "none":
        u = rho * state.syn + cur
    elif config.reset_timing == "at_spike":
        u = rho * (state.syn - _reset_signal(params, state, config)) + cur
    else:
        u = (rho * state.syn + cur) - _reset_signal(params, state, config)
    v = u if adapt is None else u - adapt
    z = spike_fn(v - params.threshold)
    return z, v, HetSynState(syn=u, v=v, spike=z, adapt=adapt)


def shared_reset_step(
    x, params, state, spike_fn, config, feedforward=synapse_step, recurrent=synapse_step
) -> tuple[Tensor, Tensor, HetSynState]:
    """The shared layout with a reset current (or a leaky membrane) of its own (the paper's
    code: every synaptic current of neuron j decays by ``rho_j``, the reset by ``kappa_j``):
    ``U^t = rho U^{t-1} + W x^t + U_rec z^{t-1} + b`` and :func:`membrane_current` of it;
    the per-synapse rule with tied decays, summed per neuron."""
    adapt = _adaptation(params, state)
    u = params.syn_decay * state.syn + shared_drive(x, params, state, feedforward)
    v, reset = membrane_current(u, params, state, config)
    v = v if adapt is None else v - adapt
    z = spike_fn(v - params.threshold)
    return z, v, HetSynState(syn=u, v=v, spike=z, reset=reset, adapt=adapt)


def readout_step(
    x: Tensor,
    params: HetSynParams,
    state: HetSynState,
    feedforward: PathwayStep = synapse_step,
) -> tuple[Tensor, HetSynState]:
    """One step of a readout layer (leaky integration, no spike, no reset), by the rule of
    the parameters' layout: ``y^t = sum_i I_ji^t + B_j^t`` (per-synapse) or
    ``y^t = rho y^{t-1} + W x^t + b`` (shared). Returns ``(y, new_state)``, ``y`` (B, out).
    ``feedforward`` as in :func:`synaptic_drive`."""
    return params.layout.readout_step(x, params, state, feedforward)


def per_synapse_readout_step(x, params, state, feedforward=synapse_step):
    """The per-synapse layout's readout step."""
    drive = synaptic_drive(x, params, state, feedforward)
    y = drive.current
    return y, HetSynState(syn=drive.syn, v=y, spike=state.spike, bias=drive.bias, link=drive.link)


def input_readout_step(x, params, state, feedforward=synapse_step):
    """The per-input layout's readout step: ``y^t = W F^t + B^t``."""
    drive = input_drive(x, params, state, feedforward)
    y = drive.current
    return y, HetSynState(syn=drive.syn, v=y, spike=state.spike, bias=drive.bias)


def branch_readout_step(x, params, state, feedforward=synapse_step):
    """The branch layout's readout step: ``y^t = sum_k D_jk^t + B_j^t``."""
    drive = branch_drive(x, params, state, feedforward)
    y = drive.current
    return y, HetSynState(syn=drive.syn, v=y, spike=state.spike, bias=drive.bias)


def shared_readout_step(x, params, state, feedforward=synapse_step):
    """The shared layout's readout step."""
    y = params.syn_decay * state.syn + shared_drive(x, params, state, feedforward)
    return y, HetSynState(syn=y, v=y, spike=state.spike)
