"""SpikingJelly 2.0 face of HetSynLIF: ``spikingjelly.activation_based.neuron.HetSynNode``.

:class:`HetSynNode` is a SpikingJelly ``BaseNode`` with a core
:class:`~hetsyn_plugins.core.layers.HetSynLIF` inside. It translates SpikingJelly's
conventions (``v_threshold``, ``v_reset``, ``surrogate_function``, ``detach_reset``,
``step_mode``, ``store_v_seq``, memories, ``tau`` in steps) into the core's and runs the
core's update rule (:mod:`hetsyn_plugins.core.dynamics`); no equation is restated here.

:func:`register` attaches the class to ``spikingjelly.activation_based.neuron``; the import
hook of :mod:`hetsyn_plugins` calls it after SpikingJelly's ``neuron`` module is imported.
"""

from __future__ import annotations

import math
import warnings
from typing import Optional

import torch
from spikingjelly.activation_based import surrogate
from spikingjelly.activation_based.neuron import BaseNode
from torch import Tensor, nn

from ...core.dynamics import HetSynState, initial_state, state_from_membrane, state_shapes
from ...core.layers import HetSynLIF, copy_state
from ...core.spikes import declare_elementwise
from ...core.timescales import TimescaleSpec
from ...core.validation import check_choice, check_input, check_not_empty
from ._options import node_options

__all__ = ["HetSynNode", "register"]

# The core state travels in SpikingJelly memories named "core_<field>" (after BaseNode's "v").
_MEMORY_PREFIX = "core_"


def _check_flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool; got {value!r}")
    return value


def _check_real(name: str, value: object, allow_none: bool = False) -> Optional[float]:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        expected = "a finite float or None" if allow_none else "a finite float"
        raise TypeError(f"{name} must be {expected}; got {value!r}")
    return float(value)


class _HardResetVoltage(torch.autograd.Function):
    """``BaseNode.apply_hard_reset(membrane + c, z, c)``, the same values, keeping for the
    backward pass only ``membrane`` and ``z``, which the step keeps anyway: autograd would keep
    ``membrane + c`` and ``1 - z`` besides, two (N, out) tensors more per step."""

    @staticmethod
    def forward(ctx, membrane: Tensor, z: Tensor, c: float) -> Tensor:
        ctx.save_for_backward(membrane, z)
        ctx.c = c
        return BaseNode.apply_hard_reset(membrane + c, z, c)

    @staticmethod
    def backward(ctx, grad: Tensor):
        membrane, z = ctx.saved_tensors
        d_membrane = grad * (1.0 - z) if ctx.needs_input_grad[0] else None
        # d/dz [(1 - z)(V + c) + z c] = c - (V + c)
        d_z = grad * (ctx.c - (membrane + ctx.c)) if ctx.needs_input_grad[1] else None
        return d_membrane, d_z, None


class HetSynNode(BaseNode):
    """A layer of HetSynLIF neurons as a SpikingJelly 2.0 node (synapses included).

    Unlike ``LIFNode``, which follows a ``layer.Linear``, this node *is* the synapses and the
    neurons: each synapse ``i -> j`` keeps its own current with its own decay. Per step, the
    update rule of :class:`hetsyn_plugins.core.layers.HetSynLIF` (equations in
    :mod:`hetsyn_plugins.core.dynamics`), with the decays written SpikingJelly's way,
    ``r = 1 - 1 / tau`` (``tau`` in steps, ``> 1``)::

        I_ji^t = r_ji I_ji^{t-1} + w_ji x_i^t               per-synapse current
        V_j^t  = sum_i I_ji^t (+ recurrent, bias, - adaptation) - J_j^t
        z_j^t  = surrogate_function(V_j^t + c - v_threshold)

    SpikingJelly's conventions map onto the core as follows:

    - ``v_reset=None`` (soft reset): the core's ``reset="subtract"`` with
      ``reset_timing="at_spike"``, removing ``v_threshold`` at a spike; ``c = 0``.
    - ``v_reset=c`` (hard reset, a float): the core's ``reset="zero"`` on the potential
      measured from ``c``: the membrane rests at and resets to ``c``, and fires at
      ``v_threshold``. ``c = 0.0`` is the core's zero reset itself.
    - ``v`` (a memory, shape (N, out)): SpikingJelly's stored voltage, *after* the reset:
      ``v = (V + c) - v_threshold z`` (soft) or ``v = (V + c)(1 - z) + c z`` (hard), with
      ``V`` the core's membrane before the reset (``BaseNode.apply_soft_reset`` /
      ``apply_hard_reset``). With ``store_v_seq=True`` the same per step goes to ``v_seq``.
      The dynamics run on the core state, kept in the memories ``core_syn``, ``core_v``,
      ``core_spike`` (and ``core_rec``, ``core_bias``, ``core_reset``, ``core_adapt`` where
      the layer has them, and ``core_link``, the per-step path's bookkeeping), see
      :class:`~hetsyn_plugins.core.dynamics.HetSynState`. A ``v`` that is not the voltage of
      that state (``node.v = ...`` before the first step or mid-sequence, a float or
      ``(N, *, out)``; a ``v`` passed to a functional forward) sets the state where the
      membrane is all of it (``heterogeneity`` "neuron" or "none", no recurrence, no
      adaptation: the node carries on as a ``LIFNode`` would), and raises ``ValueError``
      otherwise.

    With ``heterogeneity="none"`` and ``v_reset`` None or a float, the node equals
    ``layer.Linear(W, b)`` + ``LIFNode(tau, decay_input, ...)`` with the same ``tau`` and
    ``decay_input`` (spikes identical, ``v`` up to float rounding): see
    :meth:`from_linear_lif`.

    Args:
        in_features: inputs per step.
        out_features: neurons.
        tau: synaptic time constants in steps (> 1): a float, a tensor broadcastable to
            (out, in), or a core initializer (``Normal(20, 5, low=2)``...; its samples are
            taken as SpikingJelly taus and must be > 1). ``Decay(r)`` gives the decays
            directly. In the shared models (``heterogeneity`` ``"neuron"``/``"none"``) it is
            the neuron's time constant.
        **options: every other option of the core layer under its own name
            (:class:`~hetsyn_plugins.core.spec.HetSynSpec`, documented at
            :class:`~hetsyn_plugins.core.layers.HetSynLIF`): ``heterogeneity`` (``branches``,
            ``branch_assignment``), ``membrane_decay`` (decays, e.g. ``CUBALIFNode``'s
            ``v_decay``), ``recurrent``,
            ``self_connections``, ``adaptation``, ``adapt_strength``, ``reset_amount`` (soft
            reset only), ``learn_reset_decay``, ``bias``, ``learn_decays``,
            ``decay_parametrization``, ``kernel``; the time scales ``tau_reset``, ``tau_rec``,
            ``tau_bias``, ``tau_adapt`` in steps, as ``tau`` (defaults as in the core layer).
            The core's names that SpikingJelly spells otherwise (``tau_syn``: ``tau``;
            ``threshold``: ``v_threshold``; ``reset``: ``v_reset``; ``spike_fn``:
            ``surrogate_function``) raise ``TypeError`` naming SpikingJelly's; ``stateful``,
            ``reset_timing`` and ``dt`` are not taken (see ``_options.NODE_EXCLUDED``).
        decay_input: scale each input by ``1 - r = 1 / tau`` of the pathway it enters
            (``LIFNode``'s ``decay_input``, True by default as there):
            ``I_ji^t = r_ji I_ji^{t-1} + w_ji x_i^t / tau_ji``, see
            :func:`hetsyn_plugins.core.dynamics.decayed_input`.
        v_threshold: firing threshold (fires on ``v >= v_threshold``, SpikingJelly's rule).
        v_reset: ``None`` (soft reset, the core's and snnTorch's ``"subtract"``) or the
            hard-reset potential; the default ``0.0`` is ``LIFNode``'s, a hard reset.
        surrogate_function: a SpikingJelly surrogate, applied to ``v - v_threshold``; default
            a new ``surrogate.Sigmoid()`` (``LIFNode``'s default).
        detach_reset: no gradient through the spikes that enter the reset.
        step_mode: ``'s'`` (input (N, in) -> spikes (N, out)) or ``'m'`` (input
            (T, N, in) -> spikes (T, N, out)); ``'m'`` runs the core's multi-step path.
        store_v_seq: keep ``v_seq`` (T, N, out) (``'m'``; appended per step in ``'s'``).
    """

    # a copy mid-sequence carries on from detached copies of the memories
    __getstate__ = copy_state

    def __init__(
        self,
        in_features: int,
        out_features: int,
        tau: TimescaleSpec = 2.0,
        *,
        decay_input: bool = True,
        v_threshold: float = 1.0,
        v_reset: Optional[float] = 0.0,
        surrogate_function: Optional[nn.Module] = None,
        detach_reset: bool = False,
        step_mode: str = "s",
        store_v_seq: bool = False,
        device=None,
        dtype=None,
        **options,
    ):
        v_threshold = _check_real("v_threshold", v_threshold)
        v_reset = _check_real("v_reset", v_reset, allow_none=True)
        if surrogate_function is None:
            surrogate_function = surrogate.Sigmoid()
        if not callable(surrogate_function):
            raise TypeError(
                "surrogate_function must be a callable SpikingJelly surrogate (e.g. "
                f"surrogate.Sigmoid()); got {type(surrogate_function).__name__}"
            )
        check_choice("step_mode", step_mode, ("s", "m"))
        super().__init__(
            v_threshold,
            v_reset,
            surrogate_function,
            _check_flag("detach_reset", detach_reset),
            step_mode,
            _check_flag("store_v_seq", store_v_seq),
        )
        spec_options = node_options(
            tau, v_threshold=v_threshold, v_reset=v_reset, surrogate_function=surrogate_function,
            detach_reset=detach_reset, decay_input=_check_flag("decay_input", decay_input),
            options=options,
        )  # fmt: skip
        self.layer = HetSynLIF(
            in_features, out_features, device=device, dtype=dtype, **spec_options
        )
        layout = state_shapes(self.layer.params(), 1, self.layer.config)
        self._unit_layout = tuple(layout)  # the shapes of a batch of one, field by field
        fields = tuple(f for f, s in zip(HetSynState._fields, layout) if s is not None)
        # the per-step path's bookkeeping (HetSynState.link) travels with the core state
        self._layout_fields, self._core_fields = fields, fields + ("link",)
        for field in self._core_fields:
            self.register_memory(_MEMORY_PREFIX + field, None)

    def __setattr__(self, name, value):
        # One surrogate for the node and its core layer, also when it is replaced later.
        if name == "surrogate_function" and "layer" in self.__dict__.get("_modules", {}):
            self.layer.spike_fn = value
        super().__setattr__(name, value)

    @property
    def _rest(self) -> float:
        """``c``: the potential the core's membrane is measured from (see the class doc)."""
        return 0.0 if self.v_reset is None else self.v_reset

    # ------------------------------------------------------------------ conversion

    @classmethod
    def from_linear_lif(
        cls, linear: nn.Linear, node: BaseNode, heterogeneity: str = "none", **kwargs
    ) -> "HetSynNode":
        """The node equal to ``linear`` followed by a ``LIFNode``, ``ParametricLIFNode`` or
        ``CUBALIFNode``.

        The node's decay ``1 - 1/tau`` (for ``ParametricLIFNode``, ``1/tau = sigmoid(w)``: the
        decay is learnable, ``sigmoid(-w)``), shared by all (``heterogeneity="none"``), repeated
        per neuron (``"neuron"``) or per synapse and reset current (``"synapse"``: the same
        dynamics up to float rounding, ready to learn a decay per synapse); the same
        ``v_threshold``, ``v_reset``, ``surrogate_function``, ``detach_reset``,
        ``decay_input``, ``step_mode`` and ``store_v_seq`` (``decay_input=True`` scales each
        input by ``1 - r``, which for a ``ParametricLIFNode`` follows the learned decay, as
        there). ``kwargs`` go to the constructor (e.g. ``kernel``). Learnable decays: decays
        the node did not have (any heterogeneity but ``"none"``) are learnable; its own one
        decay keeps its learnability (a ``ParametricLIFNode``'s learns, a ``LIFNode``'s does
        not); ``learn_decays=`` among ``kwargs`` decides when given.

        A ``CUBALIFNode`` (current-based: ``c = c_decay c + W x + b``,
        ``v = v_decay v + c``) becomes a node with a leaky membrane: every synaptic decay
        ``c_decay`` (per synapse, input or branch with those heterogeneities), the membrane
        leak ``membrane_decay = v_decay``, no input scaling; ``v_reset`` None or 0.0.
        """
        from spikingjelly.activation_based.neuron import CUBALIFNode

        from ._pairs import linear_cuba_node, linear_lif_node

        if isinstance(node, CUBALIFNode):
            return linear_cuba_node(cls, linear, node, heterogeneity, **kwargs)
        return linear_lif_node(cls, linear, node, heterogeneity, **kwargs)

    # ------------------------------------------------------------------ read-only views

    def _view(name: str, doc: str):  # a property factory, used in the class body only
        return property(lambda self: getattr(self.layer, name), doc=doc)

    in_features = _view("in_features", "Inputs per step.")
    out_features = _view("out_features", "Neurons.")
    heterogeneity = _view(
        "heterogeneity", '``"synapse"``, ``"branch"``, ``"input"``, ``"neuron"`` or ``"none"``.'
    )
    membrane_decay = _view("membrane_decay", "Membrane leak ``beta`` (out,), or None.")
    weight = _view("weight", "Feedforward weights ``w_ji``, shape (out, in).")
    bias = _view("bias", "Bias ``b_j``, shape (out,), or None.")
    recurrent_weight = _view("recurrent_weight", "Recurrent weights (out, out), or None.")
    syn_decay = _view("syn_decay", "Synaptic decays ``r_ji = 1 - 1/tau_ji``, shape (out, in).")
    reset_decay = _view("reset_decay", "Reset-current decays ``kappa_j``, shape (out,).")
    recurrent_decay = _view("recurrent_decay", "Recurrent decays (out, out), or None.")
    bias_decay = _view("bias_decay", "Bias-current decays (out,), or None.")
    adapt_decay = _view("adapt_decay", "Adaptation decays (out,), or None.")
    tau_syn = _view(
        "tau_syn",
        "The core's exponential synaptic time constants ``-1 / ln r_ji`` (out, in); "
        "SpikingJelly's ``tau = 1 / (1 - r_ji)`` is :attr:`tau` (the two differ: "
        "``tau - tau_syn`` is about 1/2 for long time constants).",
    )
    decay_input = _view("decay_input", "Whether inputs are scaled by ``1 - r`` (as LIFNode's).")
    del _view

    @property
    def tau(self) -> Tensor:
        """Synaptic time constants in SpikingJelly's sense, ``1 / (1 - r_ji)``, (out, in)."""
        return 1.0 / (1.0 - self.layer.syn_decay)

    # ------------------------------------------------------------------ SpikingJelly protocol

    def materialize_states(self, inputs, states, step_mode):
        """The states of this call: the memories where they hold a core state of this batch
        size (else a fresh one, as ``BaseNode`` starts afresh when the batch size changes),
        and ``v`` as a tensor (a float set by ``reset()`` or the user filled in); the
        functional forwards reconcile ``v`` with the core state (:meth:`_core_state`)."""
        if isinstance(inputs[0], torch.fx.Proxy):
            raise NotImplementedError(
                "HetSynNode cannot be traced symbolically (torch.fx), as SpikingJelly's NIR "
                "export does: it keeps a current with its own decay on every synapse, which NIR's "
                "neuron models do not have. Export a model with LIFNode instead (a HetSynNode "
                "with heterogeneity='none' is a layer.Linear + LIFNode, see from_linear_lif)."
            )
        dims, layout = (3, "(T, N, *, in)") if step_mode == "m" else (2, "(N, *, in)")
        x = check_input(
            "input", inputs[0], dims=dims, features=self.in_features, layout=layout, at_least=True
        )
        lead = x.shape[1:-1] if step_mode == "m" else x.shape[:-1]  # N, * (SpikingJelly's)
        batch = math.prod(lead)
        factory = {"dtype": self.layer.weight.dtype, "device": x.device}
        # not from params(): decoding them per step would allocate the (out, in) decays
        expected = HetSynState(*(s and (batch, *s[1:]) for s in self._unit_layout))
        core, stale = states[1:], False
        if all(
            isinstance(t, Tensor) and tuple(t.shape) == getattr(expected, f)
            for f, t in zip(self._layout_fields, core)
        ):
            core = tuple(t.to(**factory) if isinstance(t, Tensor) else t for t in core)
        else:
            stale = any(isinstance(t, Tensor) for t in core)  # a state of another batch
            fresh = initial_state(self.layer.params(), batch, self.layer.config)
            core = tuple(getattr(fresh, f) for f in self._core_fields)
        v, v_shape = states[0], (*lead, self.out_features)
        if isinstance(v, Tensor) and stale and tuple(v.shape) != v_shape:
            v = self._rest  # the voltage of that other batch: start afresh
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            v = torch.full(v_shape, float(v), **factory)
        elif isinstance(v, Tensor):
            v = v.to(**factory)
        return (v, *core)

    def _core_state(self, states: tuple, v_shape: tuple) -> HetSynState:
        """The core state of SpikingJelly's ``states`` (``v`` and the core memories), with
        ``v`` honoured: the core memories when ``v`` is the voltage they give; else (``v`` set
        by the user, ``node.v = ...``, before the first step or mid-sequence, or passed to a
        functional forward) the state of that post-reset voltage where the membrane is the
        whole state; else ``ValueError``. Decided by contents, whatever tensor ``v`` is."""
        v = states[0]
        core = HetSynState(**dict(zip(self._core_fields, states[1:])))
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            v = torch.full(v_shape, float(v), dtype=core.v.dtype, device=core.v.device)
        if not isinstance(v, Tensor) or tuple(v.shape) != tuple(v_shape):
            got = tuple(v.shape) if isinstance(v, Tensor) else repr(v)
            raise ValueError(
                f"v must be a float or a tensor of shape (N, *, out) = {tuple(v_shape)}, as the "
                f"input has; got {got}"
            )
        with torch.no_grad():
            implied = self._host_voltage(core.v.reshape(v_shape), core.spike.reshape(v_shape))
        if torch.equal(v.detach().to(implied.dtype), implied):
            return core
        layer = self.layer
        if not layer.shared or layer.adaptation or layer.recurrent:
            raise ValueError(
                "a v set by the user can set the node's state only where the membrane is the "
                "whole state (heterogeneity 'neuron' or 'none', without recurrence or "
                "adaptation); this node also keeps per-synapse, recurrent or adaptation "
                f"currents (heterogeneity={layer.heterogeneity!r}, recurrent={layer.recurrent}, "
                f"adaptation={layer.adaptation}): reset the node (functional.reset_net) instead"
            )
        # the post-reset voltage, measured from c, with no reset pending
        membrane = (v.to(core.v.dtype) - self._rest).reshape(core.v.shape)
        return core._replace(**state_from_membrane(membrane)._asdict())

    def _host_voltage(self, membrane: Tensor, spike: Tensor) -> Tensor:
        """SpikingJelly's stored ``v``: the core membrane, shifted by ``c``, after the reset."""
        z = spike.detach() if self.detach_reset else spike
        if self.v_reset is None:
            return self.apply_soft_reset(membrane, z, self.v_threshold)
        return _HardResetVoltage.apply(membrane, z, self.v_reset)

    def _node_states(self, v: Tensor, state: HetSynState) -> tuple:
        return (v, *(getattr(state, f) for f in self._core_fields))

    def single_step_functional_forward(self, inputs, states, **kwargs):
        """One step on explicit states (core :meth:`HetSynLIF.step`): ``((spike,), states)``.
        Input ``(N, *, in)``: the leading dimensions are one batch of N x ... rows."""
        x = check_not_empty("x", inputs[0], "(N, *, in)")
        shape = (*x.shape[:-1], self.out_features)
        state = self._core_state(states, shape)
        out = self.layer.step(x.reshape(-1, self.in_features), state)
        spikes = out.spikes.reshape(shape)
        v = self._host_voltage(out.membrane.reshape(shape), spikes)
        return (spikes,), self._node_states(v, out.state)

    def _run(self, x_seq: Tensor, states, keep_v_seq: bool):
        T = check_not_empty("x_seq", x_seq, "(T, N, *, in)").shape[0]
        state = self._core_state(states, (*x_seq.shape[1:-1], self.out_features))
        out = self.layer.run(x_seq.reshape(T, -1, self.in_features), state)
        shape = (*x_seq.shape[:-1], self.out_features)
        spikes, membrane = out.spikes.reshape(shape), out.membrane.reshape(shape)
        if keep_v_seq:
            v_seq = self._host_voltage(membrane, spikes)
            v = v_seq[-1].clone()  # not a view: MemoryModule.detach detaches in place
        else:
            v_seq, v = None, self._host_voltage(membrane[-1], spikes[-1])
        return spikes, self._node_states(v, out.state), v_seq

    def multi_step_functional_forward(self, inputs, states, **kwargs):
        """A sequence on explicit states, on the core's multi-step path (:meth:`HetSynLIF.run`)."""
        spikes, states, _ = self._run(inputs[0], states, keep_v_seq=False)
        return (spikes,), states

    def multi_step_forward(self, x_seq: Tensor) -> Tensor:
        """``x_seq`` (T, N, in) -> spikes (T, N, out) on the core's multi-step path; updates the
        memories, and ``v_seq`` (T, N, out) when ``store_v_seq``."""
        states = self.materialize_states((x_seq,), tuple(self._memories.values()), "m")
        spikes, states, v_seq = self._run(x_seq, states, keep_v_seq=self.store_v_seq)
        for name, value in zip(self._memories, states, strict=True):
            self._memories[name] = value
        if self.store_v_seq:
            self.v_seq = v_seq
        return spikes

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            + super().extra_repr()
        )


# SpikingJelly's surrogates act elementwise: the fused whole-sequence kernel may use them.
declare_elementwise(surrogate.SurrogateFunctionBase)


def register() -> None:
    """Attach :class:`HetSynNode` to ``spikingjelly.activation_based.neuron`` (idempotent).

    Called by the import hook of :mod:`hetsyn_plugins` after SpikingJelly's ``neuron``
    module is imported; it never raises into that import (a failure becomes a warning).
    """
    try:
        from spikingjelly.activation_based import neuron

        neuron.HetSynNode = HetSynNode
        names = getattr(neuron, "__all__", None)
        if isinstance(names, list) and "HetSynNode" not in names:
            names.append("HetSynNode")
    except Exception as exc:  # noqa: BLE001 - a plugin must never break its host
        warnings.warn(
            f"hetsyn_plugins could not register neuron.HetSynNode with SpikingJelly: {exc!r}",
            RuntimeWarning,
            stacklevel=2,
        )


# Importing this module imports SpikingJelly: register now (idempotent), so that importing the
# adapter before the host, or with the autoload turned off, still registers it.
register()
