"""The HetSyn layers: :class:`HetSynLIF` (spiking, feedforward or recurrent) and
:class:`HetSynReadout` (leaky integrator with per-synapse decays).

A layer owns the parameters, decodes them into a
:class:`~hetsyn_plugins.core.dynamics.HetSynParams`, and runs the update rule of
:mod:`hetsyn_plugins.core.dynamics` through the kernel dispatcher of
:mod:`hetsyn_plugins.core.kernels`. It restates no equation.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Optional

import torch
from torch import Tensor, nn

from . import kernels
from .dynamics import (
    Branches,
    DynamicsConfig,
    HetSynParams,
    HetSynState,
    StepLink,
    decayed_input,
    initial_state,
    state_shapes,
    synapse_decays,
    with_branch_weights,
)
from .layouts import BRANCH, SHARED, SHARED_RESET, Layout
from .spec import HETEROGENEITY, SHARED_MODELS, HetSynSpec
from .timescales import Decay, DecayParameter, TimescaleInit, TimescaleSpec, as_initializer
from .validation import check_input


class DecodedParams(NamedTuple):
    """The parameters a layer decoded for a step, carried by the state that step returned
    (:attr:`HetSynState.link <hetsyn_plugins.core.dynamics.HetSynState.link>`), and what the
    next step checks before reusing them (see :meth:`_HetSynLayer.step_params`).

    ``leaves``: the layer's parameters and buffers; ``versions``: their version counters and
    ``requires_grad`` then; ``grad``: the grad mode; ``graph``: whether a decoded tensor has an
    autograd graph (freed by a backward pass, after which a cut state must not reuse it);
    ``sources``: ``(leaf, copy)`` of every
    leaf that a decoded tensor derives from (a logit, a weight scaled by ``decay_input``...),
    whose contents are compared, since an edit through ``.data`` moves no version counter.
    """

    params: HetSynParams
    leaves: tuple
    versions: tuple
    grad: bool
    graph: bool
    sources: tuple

    def serves(self, layer: "_HetSynLayer", state: HetSynState) -> bool:
        leaves = layer._leaves()
        return (
            self.grad == torch.is_grad_enabled()
            # a cut state (truncated BPTT, after a backward): the decoding's graph may be gone
            and (not self.graph or state.v.requires_grad)
            and len(leaves) == len(self.leaves)
            and all(a is b for a, b in zip(leaves, self.leaves))
            and self.versions == _versions(leaves)
            and all(torch.equal(leaf, copy) for leaf, copy in self.sources)
        )


def _versions(leaves) -> tuple:
    return tuple((t._version, t.requires_grad) for t in leaves)


def _decode_once(layer: "_HetSynLayer", params: HetSynParams) -> DecodedParams:
    leaves = layer._leaves()
    used = {t.data_ptr() for t in params if isinstance(t, Tensor)}
    sources = tuple((t, t.detach().clone()) for t in leaves if t.data_ptr() not in used)
    graph = any(isinstance(t, Tensor) and t.requires_grad for t in params)
    return DecodedParams(
        params, leaves, _versions(leaves), torch.is_grad_enabled(), graph, sources
    )


def copy_state(module: nn.Module) -> dict:
    """``module.__dict__`` for ``copy.deepcopy`` and pickling (a module's ``__getstate__``):
    a state carried mid-sequence (tensors with a graph, which cannot be copied) is taken
    detached, a snapshot to continue from; the per-step path's links are left out."""

    def detached(value):
        if isinstance(value, HetSynState):
            return value.detach().without_link()
        if isinstance(value, StepLink):
            return None
        if isinstance(value, Tensor) and value.grad_fn is not None:
            return value.detach()
        return value

    state = nn.Module.__getstate__(module)
    for key, value in state.items():
        state[key] = detached(value)
    for key in ("_buffers", "_memories"):  # snnTorch's mem / spk, SpikingJelly's memories
        if key in state:
            state[key] = {name: detached(value) for name, value in state[key].items()}
    return state


class LayerOutput(NamedTuple):
    """What :meth:`HetSynLIF.run` and :meth:`HetSynLIF.step` return.

    ``spikes``: (T, B, out) for a sequence, (B, out) for a step (for a readout: its output).
    ``membrane``: the membrane ``V`` before the reset, same shape. ``state``: the final state.
    """

    spikes: Tensor
    membrane: Tensor
    state: HetSynState


class _HetSynLayer(nn.Module):
    """Parameters, state handling and checks common to the spiking and readout layers."""

    _readout = False

    __getstate__ = copy_state

    def __init__(self, in_features: int, out_features: int, *, device=None, dtype=None, **options):
        super().__init__()
        if options.get("readout", self._readout) != self._readout:
            raise ValueError(
                f"readout must be {self._readout} for {type(self).__name__}; got "
                f"readout={options['readout']!r}"
            )
        spec = HetSynSpec(in_features, out_features, **{**options, "readout": self._readout})
        self.spec = spec
        self.spike_fn = spec.spike_fn  # a runtime setting (hosts swap surrogates), from the spec
        self.state: Optional[HetSynState] = None
        self._factory = {"device": device, "dtype": dtype or torch.get_default_dtype()}
        shape = (spec.out_features, spec.in_features)
        self.weight = nn.Parameter(torch.empty(shape, **self._factory))
        self.bias = (
            nn.Parameter(torch.empty(spec.out_features, **self._factory)) if spec.bias else None
        )
        self.decays = nn.ModuleDict()
        self._build(spec)
        self.reset_parameters()

    @classmethod
    def from_spec(cls, spec: HetSynSpec, *, device=None, dtype=None) -> "_HetSynLayer":
        """The layer of ``spec`` (a :class:`~hetsyn_plugins.core.spec.HetSynSpec`)."""
        sizes = spec.in_features, spec.out_features
        return cls(*sizes, device=device, dtype=dtype, **spec.options())

    def _build(self, spec: HetSynSpec) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    # the spec's fields, read-only (a new option is a field of the spec, not an attribute here)
    in_features = property(lambda self: self.spec.in_features, doc="Inputs per step.")
    out_features = property(lambda self: self.spec.out_features, doc="Neurons.")
    heterogeneity = property(lambda self: self.spec.heterogeneity, doc="The decays' sharing.")
    dt = property(lambda self: self.spec.dt, doc="The time step, in the time constants' unit.")
    config = property(lambda self: self.spec.config, doc="Reset mode, timing and detaching.")

    @property
    def kernel(self) -> str:
        """The multi-step path (settable: ``layer.kernel = "reference"``)."""
        return self.spec.kernel

    @kernel.setter
    def kernel(self, value: str) -> None:
        self.spec = self.spec.replace(kernel=value)

    @property
    def stateful(self) -> bool:
        """Whether a call carries its final state into the next (settable)."""
        return self.spec.stateful

    @stateful.setter
    def stateful(self, value: bool) -> None:
        self.spec = self.spec.replace(stateful=value)

    @property
    def layout(self) -> Layout:
        """The layout of the layer's state (:mod:`hetsyn_plugins.core.layouts`)."""
        return self.spec.layout

    @property
    def shared(self) -> bool:
        """True when the layer runs the shared layout: decays shared per neuron and the reset
        tied to them (one matrix product per step; the membrane is the whole state but
        adaptation)."""
        return self.spec.layout is SHARED

    # ------------------------------------------------------------------ construction helpers

    def _decay_shape(self, per_synapse_shape: tuple[int, ...]) -> tuple[int, ...]:
        return {
            "synapse": per_synapse_shape,
            "input": per_synapse_shape[-1:],
            "branch": (self.out_features, self.spec.branches),
            "neuron": (self.out_features,),
            "none": (),
        }[self.heterogeneity]

    def _build_branches(self, spec: HetSynSpec) -> None:
        """The branch of every synapse, as the buffer ``branch_index`` (out, n) (saved with
        the model): contiguous blocks of the inputs (then the layer's own neurons), the same
        for every neuron; per neuron a random split into K near-equal groups (DH-SNN's); or
        the user's."""
        out, n, K = spec.out_features, spec.branch_columns, spec.branches
        blocks = torch.arange(n) * K // n
        if isinstance(spec.branch_assignment, Tensor):
            index = spec.branch_assignment.to(torch.long)
        elif spec.branch_assignment == "random":
            index = torch.empty(out, n, dtype=torch.long)
            for j in range(out):
                index[j, torch.randperm(n)] = blocks
        else:
            index = blocks.expand(out, n)
        # the narrowest integer type: a per-step loop compares it (an edit through .data moves
        # no version counter) before reusing what was decoded from it
        small = torch.int8 if K <= 127 else torch.int16 if K <= 32767 else torch.int32
        index = index.to(small, copy=True)
        self.register_buffer("branch_index", index.to(self._factory["device"]))

    def branch_map(self) -> Optional[Branches]:
        """The branch assignment as the update rule takes it (branch layout; else None)."""
        if self.layout is not BRANCH:
            return None
        K = self.spec.branches
        index = self.branch_index
        mask = index == torch.arange(K, device=index.device, dtype=index.dtype)[:, None, None]
        blocks = None
        if isinstance(self.spec.branch_assignment, str) and (
            self.spec.branch_assignment == "contiguous"
        ):
            starts = [int((index[0] < k).sum()) for k in range(K + 1)]
            blocks = tuple(zip(starts[:-1], starts[1:]))
        return Branches(mask.to(self.weight.dtype), blocks)

    def _add_decay(
        self,
        key: str,
        name: str,
        timescale: TimescaleSpec,
        shape: tuple[int, ...],
        learnable: Optional[bool] = None,
    ):
        init = as_initializer(name, timescale)
        decay = init.decay(name, shape, self.dt)
        self.decays[key] = DecayParameter(
            decay,
            learnable=self.spec.learn_decays if learnable is None else learnable,
            parametrization=self.spec.decay_parametrization,
            name=f"the decays of {name}",
            **self._factory,
        )

    def _neuron_tensor(self, name: str, value: float | Tensor, learnable: bool = False):
        """A per-neuron tensor (checked by the spec) as a buffer or parameter."""
        t = torch.as_tensor(value, dtype=self._factory["dtype"]).to(self._factory["device"])
        t = t.clone()
        if learnable:
            self.register_parameter(name, nn.Parameter(t))
        else:
            self.register_buffer(name, t)

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Initialise weights and bias as ``nn.Linear`` does (uniform, +-1/sqrt(fan_in))."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features)
            nn.init.uniform_(self.bias, -bound, bound)

    # ------------------------------------------------------------------ read-only views

    def _decay(self, key: str) -> Tensor:
        if self.heterogeneity in SHARED_MODELS and key not in self.decays:
            key = "membrane"  # tied to the neuron's one decay
        return self.decays[key]()

    def _per_synapse_view(self, key: str, n_in: int) -> Tensor:
        """A decay expanded to (out, n_in); per-neuron decays repeat along each row, per-input
        and per-branch decays are spread to the synapses they belong to."""
        if self.layout.grouped_decays:
            return synapse_decays(self.params(), recurrent=key == "rec")
        decay = self._decay(key)
        if decay.dim() == 1:
            decay = decay.unsqueeze(-1)
        return decay.expand(self.out_features, n_in)

    @property
    def syn_decay(self) -> Tensor:
        """Feedforward synaptic decays ``r_ji``, shape (out, in) (expanded when shared)."""
        return self._per_synapse_view("syn", self.in_features)

    @property
    def tau_syn(self) -> Tensor:
        """Feedforward synaptic time constants ``-dt / ln r_ji``, shape (out, in)."""
        return -self.dt / torch.log(self.syn_decay)

    # ------------------------------------------------------------------ running

    def _start(self, params: HetSynParams, state: Optional[HetSynState], batch: int) -> HetSynState:
        """The state before the first step: given, carried (``stateful``) or zeros; checked."""
        if state is None and self.stateful and self.state is not None:
            state = self.state
            if state.v.shape[0] != batch:
                raise ValueError(
                    f"input has batch size {batch} but the carried state has batch size "
                    f"{state.v.shape[0]}; call reset_state() between sequences"
                )
        config = self.config
        if state is None:
            return initial_state(params, batch, config, readout=self._readout)
        if not isinstance(state, HetSynState):
            raise TypeError(f"state must be a HetSynState; got {type(state).__name__}")
        expected = state_shapes(params, batch, config, readout=self._readout)
        for field, want, got in zip(HetSynState._fields, expected, state.tensors()):
            got = None if got is None else tuple(got.shape)
            if want != got:
                raise ValueError(
                    f"state.{field} must have shape {want} for batch size {batch} "
                    f"and this layer; got {got}"
                )
        return state

    def _finish(self, out: LayerOutput) -> LayerOutput:
        if self.stateful:
            self.state = out.state
        return out

    def _leaves(self) -> tuple:
        return (*self.parameters(), *self.buffers())

    def step_params(self, state: Optional[HetSynState]) -> HetSynParams:
        """:meth:`params` for a step from ``state``.

        A step that continues a step of this layer (``state`` carries the parameters that step
        decoded, in the same grad mode, and no parameter or buffer changed since: not their
        version counters, nor the contents of those the decoding derives from) reuses them,
        as a whole-sequence call decodes them once for all steps: decoding afresh would
        allocate (and keep for the backward pass) the (out, in) decays at every step of a
        per-step loop.
        """
        if state is None and self.stateful:
            state = self.state
        if not isinstance(state, HetSynState) or state.link is None:
            return self.params()  # (a state of another type is refused by _start)
        memo = state.link.params
        if isinstance(memo, DecodedParams) and memo.serves(self, state):
            return memo.params
        return self.params()

    def _with_params(
        self, params: HetSynParams, before: Optional[HetSynState], after: HetSynState
    ) -> HetSynState:
        """``after``, the state a step from ``before`` returned, carrying ``params`` for the
        next step (see :meth:`step_params`)."""
        if torch.compiler.is_compiling():
            return after
        memo = before.link.params if before is not None and before.link is not None else None
        if not (isinstance(memo, DecodedParams) and memo.params is params):
            memo = _decode_once(self, params)
        return after._replace(link=(after.link or StepLink())._replace(params=memo))

    def _check_sequence(self, x: object) -> Tensor:
        x = check_input("input", x, dims=3, features=self.in_features, layout="(T, B, in)")
        if x.shape[0] == 0 or x.shape[1] == 0:
            raise ValueError(
                f"input must have at least one step and one sample (T, B >= 1); got shape "
                f"{tuple(x.shape)}"
            )
        return self._in_layer_dtype(x)

    def _check_step(self, x: object) -> Tensor:
        x = check_input("input", x, dims=2, features=self.in_features, layout="(B, in)")
        return self._in_layer_dtype(x)

    def _in_layer_dtype(self, x: Tensor) -> Tensor:
        """``x`` in the layer's dtype where that holds it exactly (half, bfloat16 or float32
        input into a wider layer: every kernel then computes in the layer's precision); a
        narrower layer than the input raises ``TypeError`` rather than round it."""
        dtype = self.weight.dtype
        if x.dtype == dtype:
            return x
        if torch.promote_types(x.dtype, dtype) == dtype:
            return x.to(dtype)
        raise TypeError(
            f"input has dtype {x.dtype}, which this layer's dtype {dtype} cannot hold exactly; "
            f"cast the input (x.to({dtype})) or the layer (layer.to({x.dtype}))"
        )

    def reset_state(self) -> None:
        """Forget the carried state (the next call starts from zeros)."""
        self.state = None

    def detach_state(self) -> None:
        """Cut the carried state from the autograd graph (truncated BPTT)."""
        if self.state is not None:
            self.state = self.state.detach()

    def _apply(self, fn, *args, **kwargs):
        super()._apply(fn, *args, **kwargs)
        if self.state is not None:
            self.state = self.state.map(fn)
        self._factory = {"device": self.weight.device, "dtype": self.weight.dtype}
        return self

    def forward(self, x: Tensor, state: Optional[HetSynState] = None) -> Tensor:
        """Run a sequence ``x`` (T, B, in); return spikes (T, B, out) (a readout: its output).

        ``state`` is the state before the first step (zeros when None, or the carried state
        of a ``stateful`` layer). :meth:`run` also returns membranes and the final state.
        """
        return self.run(x, state, need_state=self.stateful).spikes

    def extra_repr(self) -> str:
        parts = [
            f"in_features={self.in_features}",
            f"out_features={self.out_features}",
            f"heterogeneity={self.heterogeneity!r}",
            f"bias={self.bias is not None}",
        ]
        if self.dt != 1.0:
            parts.append(f"dt={self.dt}")
        if self.kernel != "auto":
            parts.append(f"kernel={self.kernel!r}")
        if self.stateful:
            parts.append("stateful=True")
        return ", ".join(parts)


class HetSynLIF(_HetSynLayer):
    """A layer of HetSynLIF neurons: leaky integrate-and-fire with a decay on every synapse.

    Per time step (batch left out; see :mod:`hetsyn_plugins.core.dynamics`)::

        I_ji^t = r_ji I_ji^{t-1} + w_ji x_i^t               feedforward synapse, r = exp(-dt/tau_syn)
        Q_jk^t = q_jk Q_jk^{t-1} + u_jk z_k^{t-1}           recurrent synapse (recurrent=True)
        B_j^t  = r^b_j B_j^{t-1} + b_j                      bias current (bias=True)
        J_j^t  = kappa_j J_j^{t-1} + c R_j^{t-1}            reset current, kappa = exp(-dt/tau_reset)
        A_j^t  = rho^a_j A_j^{t-1} + a_j z_j^{t-1}          adaptation (adaptation=True)
        V_j^t  = sum_i I_ji^t + sum_k Q_jk^t + B_j^t - J_j^t - A_j^t
        z_j^t  = spike_fn(V_j^t - theta_j)

    with ``R = theta_R z`` (``reset="subtract"``), ``R = V z`` (``"zero"``) or no reset
    (``"none"``), and ``c = 1`` (``reset_timing="next_step"``, the paper's) or ``c = kappa``
    (``"at_spike"``).

    ``heterogeneity`` chooses the model by parameter sharing (the layouts of
    :mod:`hetsyn_plugins.core.layouts`):

    - ``"synapse"`` (HetSynLIF): ``r_ji`` per synapse, ``kappa_j`` per neuron;
    - ``"branch"`` (with ``branches=K``): K dendritic branches per neuron, each synapse in
      one, ``r_ji = d_{j k(j,i)}``: state (B, out, K); ``K = 1`` is HetNeuLIF (with the reset
      decay tied), ``K = in`` with one synapse per branch is HetSynLIF;
    - ``"input"``: ``r_ji = r_i``, one decay per input (recurrent: ``q_jk = q_k``): state
      (B, in), one matrix product per step;
    - ``"neuron"`` (HetNeuLIF): every decay of neuron j is one ``rho_j``, giving
      ``V^t = rho V^{t-1} + W x^t - theta z^{t-1}``;
    - ``"none"`` (HomNeuLIF, and HomNeuALIF with ``adaptation=True``): one ``rho`` for all,
      the vanilla LIF, equal to ``nn.Linear`` + ``snn.Leaky(beta=rho)``.

    The shared models run one matrix product per step and keep no per-synapse state.

    Args:
        in_features: inputs per step (N_in).
        out_features: neurons (N_out).
        recurrent: add per-synapse recurrent connections from the layer's own spikes.
        self_connections: with ``recurrent``, keep each neuron's synapse from its own spikes
            (``u_jj``); False holds the diagonal of the recurrent weights at zero.
        heterogeneity: ``"synapse"``, ``"branch"``, ``"input"``, ``"neuron"`` or ``"none"``
            (see above).
        tau_syn: feedforward synaptic time constants (in units of ``dt``): a float, a tensor
            broadcastable to (out, in), or an initializer from
            :mod:`hetsyn_plugins.core.timescales` (``Normal(20, 5)``, ``Decay(0.9)`` ...). In the
            shared models it is the neuron's time constant, shape (out,) or scalar.
        tau_reset: reset-current time constants (out,); default: drawn like ``tau_syn``. In
            the shared models the default ties the reset to the neuron's decay (``V`` is one
            leaky state); a given ``tau_reset`` unties it (the paper's code: one fixed reset
            current for every model), and the layer then runs the shared layout with a reset
            current of its own (:data:`~hetsyn_plugins.core.layouts.SHARED_RESET`: a summed
            synaptic current and a reset current per neuron, no per-synapse state).
        learn_reset_decay: make the reset decays learnable; default ``learn_decays``. The
            paper's code keeps them fixed (``tau_reset = 20`` steps).
        tau_rec: recurrent synaptic time constants (out, out); default: like ``tau_syn``.
        tau_bias: bias-current time constants (out,); default: tied to the reset decay.
        adaptation: add the adaptation current (ALIF).
        tau_adapt: adaptation time constants (out,) (default 200 steps).
        adapt_strength: ``a_j``; default ``1.8 (1 - rho^a) theta`` (Bellec et al., 2018).
        threshold: ``theta``, float or tensor broadcastable to (out,).
        learn_threshold: make ``theta`` a parameter.
        reset: ``"subtract"``, ``"zero"`` or ``"none"``.
        reset_amount: ``theta_R`` for ``"subtract"``; default: the threshold (tracks it).
        reset_timing: ``"next_step"`` or ``"at_spike"`` (default by reset mode).
        detach_reset: stop gradients through the spikes that enter the reset.
        bias: add a bias current.
        learn_decays: make the decays learnable (else buffers, exactly as given).
        decay_parametrization: ``"logit"`` (``r = sigmoid(p)``) or ``"clamp"`` (``r`` learned
            directly; clamp it with :func:`~hetsyn_plugins.core.timescales.clamp_decays_after_step`).
        spike_fn: spike function of ``V - theta``; default
            :class:`~hetsyn_plugins.core.spikes.ATanSpike`.
        dt: the time step, in the unit of the time constants.
        kernel: multi-step path, ``"auto"`` or a name from ``hetsyn_plugins.core.kernels``.
        stateful: carry the final state of a call into the next (until :meth:`reset_state`).
        decay_input: scale every input by one minus the decay it enters with
            (:func:`~hetsyn_plugins.core.dynamics.decayed_input`; SpikingJelly's
            ``decay_input``): a constant input ``a`` leads each current to ``a``.
        branches: K, the dendritic branches per neuron (``heterogeneity="branch"`` only).
        branch_assignment: which branch each synapse belongs to: ``"contiguous"`` (blocks of
            the inputs, then of the layer's own neurons when recurrent; the same for every
            neuron), ``"random"`` (per neuron a random split into K near-equal groups, drawn
            from torch's generator at construction: DH-SNN's), or an integer tensor
            (out, in [+ out]) of branches 0..K-1. Kept in the buffer ``branch_index``.
        membrane_decay: a membrane leak ``beta`` (default None: none, the paper's model):
            decays in (0, 1), a float or a tensor broadcastable to (out,), or an initializer
            (``Decay``, ``LogitUniform`` ...). The membrane then integrates the synaptic
            currents and holds the reset (``tau_reset`` must be None):
            :func:`~hetsyn_plugins.core.dynamics.membrane_current`.
        learn_membrane_decay: make the leak learnable; default ``learn_decays``.

    The options are the fields of :class:`~hetsyn_plugins.core.spec.HetSynSpec` (validated
    there; ``layer.spec`` holds them); :meth:`from_spec` builds the layer of a spec.

    Shapes:
        ``forward``: input (T, B, in) -> spikes (T, B, out). :meth:`step`: (B, in) -> (B, out).
    """

    def _build(self, spec: HetSynSpec) -> None:
        out, n_in = spec.out_features, spec.in_features
        self.recurrent_weight = (
            nn.Parameter(torch.empty(out, out, **self._factory)) if spec.recurrent else None
        )
        if spec.heterogeneity in SHARED_MODELS:
            shape = self._decay_shape(())
            self._add_decay("membrane", "tau_syn", spec.tau_syn, shape)
            if spec.tau_reset is not None:
                self._add_decay("reset", "tau_reset", spec.tau_reset, shape, spec.learn_reset_decay)
        else:
            self._add_decay("syn", "tau_syn", spec.tau_syn, self._decay_shape((out, n_in)))
            if not spec.leaky:
                tau_reset = _default(spec.tau_reset, spec.tau_syn, "tau_reset")
                self._add_decay("reset", "tau_reset", tau_reset, (out,), spec.learn_reset_decay)
            if spec.recurrent and spec.heterogeneity != "branch":
                tau_rec = _default(spec.tau_rec, spec.tau_syn, "tau_rec")
                self._add_decay("rec", "tau_rec", tau_rec, self._decay_shape((out, out)))
            if spec.tau_bias is not None or (spec.leaky and spec.bias):
                tau_bias = _default(spec.tau_bias, spec.tau_syn, "tau_bias")
                self._add_decay("bias", "tau_bias", tau_bias, (out,))
            if spec.heterogeneity == "branch":
                self._build_branches(spec)
        if spec.leaky:
            leak = spec.membrane_decay
            leak = leak if isinstance(leak, TimescaleInit) else Decay(leak, name="membrane_decay")
            shape = (out,) if spec.heterogeneity != "none" else ()
            self._add_decay("leak", "membrane_decay", leak, shape, spec.learn_membrane_decay)
        self._neuron_tensor("threshold", spec.threshold, learnable=spec.learn_threshold)
        if spec.reset_amount is not None:
            self._neuron_tensor("reset_amount", spec.reset_amount)
        else:
            self.reset_amount = None
        if spec.adaptation:
            shape = (out,) if spec.heterogeneity != "none" else ()
            self._add_decay("adapt", "tau_adapt", spec.tau_adapt, shape)
            strength = spec.adapt_strength
            if strength is None:
                strength = 1.8 * (1 - self.decays["adapt"]().detach()) * self.threshold.detach()
            self._neuron_tensor("adapt_strength", strength)
        else:
            self.adapt_strength = None

    recurrent = property(lambda self: self.spec.recurrent, doc="Recurrent synapses or not.")
    self_connections = property(
        lambda self: self.spec.self_connections, doc="Each neuron's synapse from itself."
    )
    adaptation = property(lambda self: self.spec.adaptation, doc="The adaptation current.")
    decay_input = property(lambda self: self.spec.decay_input, doc="Inputs scaled by 1 - r.")
    untied_reset = property(
        lambda self: self.spec.untied_reset, doc="A shared model with its own reset current."
    )

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Weights and bias as ``nn.Linear``; recurrent weights likewise with fan-in ``out``."""
        super().reset_parameters()
        if self.recurrent_weight is not None:
            nn.init.kaiming_uniform_(self.recurrent_weight, a=math.sqrt(5))
            if not self.self_connections:
                self.recurrent_weight.fill_diagonal_(0.0)

    # ------------------------------------------------------------------ views

    @property
    def reset_decay(self) -> Optional[Tensor]:
        """Reset-current decays ``kappa_j``, shape (out,); None with a leaky membrane (which
        holds the reset)."""
        if self.spec.leaky:
            return None
        return self._decay("reset").expand(self.out_features)

    @property
    def membrane_decay(self) -> Optional[Tensor]:
        """The membrane leak ``beta_j``, shape (out,); None without one (the paper's model)."""
        return self._decay("leak").expand(self.out_features) if self.spec.leaky else None

    @property
    def recurrent_decay(self) -> Optional[Tensor]:
        """Recurrent synaptic decays ``q_jk``, shape (out, out); None if not recurrent."""
        if not self.recurrent:
            return None
        return self._per_synapse_view("rec", self.out_features)

    @property
    def bias_decay(self) -> Optional[Tensor]:
        """Bias-current decays, shape (out,); None without bias."""
        if self.bias is None:
            return None
        if "bias" in self.decays:
            return self._decay("bias").expand(self.out_features)
        key = "membrane" if self.heterogeneity in SHARED_MODELS else "reset"
        return self._decay(key).expand(self.out_features)

    @property
    def adapt_decay(self) -> Optional[Tensor]:
        """Adaptation decays ``rho^a_j``, shape (out,); None without adaptation."""
        return self._decay("adapt").expand(self.out_features) if self.adaptation else None

    def params(self) -> HetSynParams:
        """The effective parameters, decoded for :mod:`hetsyn_plugins.core.dynamics`."""
        layout = self.layout
        reset = self._decay("reset") if "reset" in self.decays else None
        if layout is SHARED:  # every decay of a neuron is one rho
            syn = reset = rec = bias_decay = self._decay("membrane")
        elif layout is SHARED_RESET:  # rho for the synaptic currents, kappa for the reset
            syn = rec = bias_decay = self._decay("membrane")
        else:
            syn = self._decay("syn")
            rec = self._decay("rec") if "rec" in self.decays else None
            bias_decay = self._decay("bias") if "bias" in self.decays else reset
        rec_weight = self.recurrent_weight
        if rec_weight is not None and not self.self_connections:
            rec_weight = rec_weight * (1 - torch.eye(self.out_features, **self._factory))
        params = HetSynParams(
            weight=self.weight,
            syn_decay=syn,
            layout=layout,
            threshold=self.threshold,
            reset_amount=self.threshold if self.reset_amount is None else self.reset_amount,
            reset_decay=reset,
            bias=self.bias,
            bias_decay=None if self.bias is None else bias_decay,
            rec_weight=rec_weight,
            rec_decay=rec if self.recurrent else None,
            adapt_decay=self._decay("adapt") if self.adaptation else None,
            adapt_strength=self.adapt_strength,
            membrane_decay=self._decay("leak") if "leak" in self.decays else None,
            branches=self.branch_map(),
        )
        return with_branch_weights(decayed_input(params) if self.decay_input else params)

    # ------------------------------------------------------------------ running

    def run(
        self, x: Tensor, state: Optional[HetSynState] = None, *, need_state: bool = True
    ) -> LayerOutput:
        """Run a sequence ``x`` (T, B, in): spikes and membranes (T, B, out), final state
        (None when ``need_state=False``, which spares a time-parallel kernel computing it)."""
        x = self._check_sequence(x)
        params = self.params()
        state = self._start(params, state, x.shape[1])
        spikes, membrane, final = kernels.run_spiking(
            x, params, state, self.spike_fn, self.config, self.kernel, need_state
        )
        return self._finish(LayerOutput(spikes, membrane, final))

    def step(self, x: Tensor, state: Optional[HetSynState] = None) -> LayerOutput:
        """One step on explicit state: ``x`` (B, in) -> spikes, membrane (B, out), new state."""
        x = self._check_step(x)
        params = self.step_params(state)
        state = self._start(params, state, x.shape[0])
        z, v, new = kernels.step_spiking(x, params, state, self.spike_fn, self.config, self.kernel)
        return self._finish(LayerOutput(z, v, self._with_params(params, state, new)))

    def extra_repr(self) -> str:
        parts = [super().extra_repr()]
        if self.recurrent:
            parts.append("recurrent=True")
            if not self.self_connections:
                parts.append("self_connections=False")
        if self.untied_reset:
            parts.append("untied_reset=True")
        if self.adaptation:
            parts.append("adaptation=True")
        if self.decay_input:
            parts.append("decay_input=True")
        parts.append(f"reset={self.config.reset!r}")
        if self.config.reset_timing != DynamicsConfig(self.config.reset).reset_timing:
            parts.append(f"reset_timing={self.config.reset_timing!r}")
        if self.config.detach_reset:
            parts.append("detach_reset=True")
        return ", ".join(parts)


class HetSynReadout(_HetSynLayer):
    """Readout layer: a leaky integrator with a decay on every synapse (no spike, no reset).

    Per time step::

        I_ji^t = r_ji I_ji^{t-1} + w_ji x_i^t
        B_j^t  = r^b_j B_j^{t-1} + b_j
        y_j^t  = sum_i I_ji^t + B_j^t

    ``heterogeneity`` shares the decays as in :class:`HetSynLIF` (``"neuron"``/``"none"``:
    ``y^t = rho y^{t-1} + W x^t + b``). ``tau_bias`` defaults to being drawn like ``tau_syn``
    (per neuron). Other arguments as in :class:`HetSynLIF`.

    Shapes:
        ``forward``: input (T, B, in) -> output (T, B, out). :meth:`step`: (B, in) -> (B, out).
    """

    _readout = True

    def _build(self, spec: HetSynSpec) -> None:
        out = spec.out_features
        if spec.shared:
            self._add_decay("membrane", "tau_syn", spec.tau_syn, self._decay_shape(()))
        else:
            shape = self._decay_shape((out, spec.in_features))
            self._add_decay("syn", "tau_syn", spec.tau_syn, shape)
            if spec.bias:
                tau_bias = _default(spec.tau_bias, spec.tau_syn, "tau_bias")
                self._add_decay("bias", "tau_bias", tau_bias, (out,))
            if spec.heterogeneity == "branch":
                self._build_branches(spec)

    @property
    def bias_decay(self) -> Optional[Tensor]:
        """Bias-current decays, shape (out,); None without bias."""
        if self.bias is None:
            return None
        return self._decay("syn" if self.shared else "bias").expand(self.out_features)

    def params(self) -> HetSynParams:
        """The effective parameters, decoded for :mod:`hetsyn_plugins.core.dynamics`."""
        syn = self._decay("syn")
        params = HetSynParams(
            weight=self.weight,
            syn_decay=syn,
            layout=self.layout,
            bias=self.bias,
            bias_decay=None if self.bias is None else (syn if self.shared else self._decay("bias")),
            branches=self.branch_map(),
        )
        return with_branch_weights(params)

    def run(
        self, x: Tensor, state: Optional[HetSynState] = None, *, need_state: bool = True
    ) -> LayerOutput:
        """Run a sequence ``x`` (T, B, in): outputs (T, B, out) (as ``spikes`` and
        ``membrane``) and the final state (None when ``need_state=False``)."""
        x = self._check_sequence(x)
        params = self.params()
        state = self._start(params, state, x.shape[1])
        y, final = kernels.run_readout(x, params, state, self.kernel, need_state)
        return self._finish(LayerOutput(y, y, final))

    def step(self, x: Tensor, state: Optional[HetSynState] = None) -> LayerOutput:
        """One step on explicit state: ``x`` (B, in) -> output (B, out), new state."""
        x = self._check_step(x)
        params = self.step_params(state)
        state = self._start(params, state, x.shape[0])
        y, new = kernels.step_readout(x, params, state, self.kernel)
        return self._finish(LayerOutput(y, y, self._with_params(params, state, new)))


def _default(value: Optional[TimescaleSpec], fallback: TimescaleSpec, name: str) -> TimescaleSpec:
    """``value``, or the initializer of ``tau_syn`` when it can be drawn in another shape."""
    if value is not None:
        return value
    if as_initializer("tau_syn", fallback).elementwise:
        raise ValueError(
            f"{name} must be given when tau_syn holds one value per synapse "
            "(it cannot be reused for another pathway's shape)"
        )
    return fallback


def reset_states(module: nn.Module) -> None:
    """Reset the carried state of every HetSyn layer inside ``module``."""
    for m in module.modules():
        if isinstance(m, _HetSynLayer):
            m.reset_state()


def detach_states(module: nn.Module) -> None:
    """Detach the carried state of every HetSyn layer inside ``module``."""
    for m in module.modules():
        if isinstance(m, _HetSynLayer):
            m.detach_state()


__all__ = [
    "HETEROGENEITY",
    "HetSynLIF",
    "HetSynReadout",
    "LayerOutput",
    "reset_states",
    "detach_states",
]
