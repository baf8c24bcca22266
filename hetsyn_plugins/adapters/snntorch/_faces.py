"""The snnTorch neuron classes: ``HetSynLeaky`` (spiking) and ``HetSynLI`` (readout), each a
core layer (``layer``) with snnTorch's face; see :mod:`hetsyn_plugins.adapters.snntorch`."""

from __future__ import annotations

import contextlib
from typing import Optional, Union

import snntorch
import torch
from snntorch._neurons.neurons import SpikingNeuron
from torch import Tensor, nn

from ...core.dynamics import (
    HetSynState,
    post_reset_membrane,
    state_from_membrane,
    synaptic_current,
)
from ...core.layers import HetSynLIF, HetSynReadout, LayerOutput, copy_state
from ...core.validation import (
    check_bool,
    check_choice,
    check_finite,
    check_float_tensor,
    check_not_empty,
    check_number,
)
from ._options import leaky_options, li_options
from ._state_args import (
    CALL_CONVENTIONS,
    CUT,
    EDITED,
    KEPT,
    Membrane,
    Stamp,
    flat_state_arg,
    recognise,
    state_arguments,
    synaptic_arguments,
)

# What each ``sequence`` setting takes (for the shape errors of ``_HetSynHost._run``).
_LAYOUTS = {
    None: "(in,) or (B, in) for one step, or (T, B, in) for a sequence (set sequence=False for "
    "one step of (B, *, in), sequence=True for a sequence (T, B, *, in))",
    False: "(B, *, in) or (in,): one step (sequence=False)",
    True: "(T, B, *, in): a sequence (sequence=True)",
}


def _shaped(t: Tensor, shape: tuple) -> Tensor:
    """``t`` in ``shape``: itself where it has it, else a reshaped copy (not a view, which
    snnTorch's ``mem.detach_()`` could not detach)."""
    return t if tuple(t.shape) == tuple(shape) else t.reshape(shape).clone()


@contextlib.contextmanager
def _unlisted_on_error(neuron: nn.Module):
    """Take a neuron whose construction fails back out of ``SpikingNeuron.instances`` (where
    ``SpikingNeuron.__init__`` put it), so that ``reset_hidden()`` never meets it half-built."""
    try:
        yield
    except BaseException:
        SpikingNeuron.instances[:] = [n for n in SpikingNeuron.instances if n is not neuron]
        raise


class _HetSynHost:
    """State handling shared by :class:`HetSynLeaky` and :class:`HetSynLI` (a mixin).

    The core state (:class:`~hetsyn_plugins.core.dynamics.HetSynState`) is the core layer's
    carried state (``state`` is ``layer.state``: one mechanism, moved by ``.to()``, detached
    and reset by the layer); the membrane last returned lives in the non-persistent buffer
    ``mem`` (snnTorch's name, ``spk`` too for the spikes), with its :class:`Stamp` (version
    counter and graph when returned), by which a ``mem`` passed back is recognised as that
    one unchanged, cut from the graph, or edited in place.
    """

    # a copy mid-sequence carries on from a detached copy of the state
    __getstate__ = copy_state

    def __setstate__(self, state):
        super().__setstate__(state)
        self._restamp()

    layer: Union[HetSynLIF, HetSynReadout]
    init_hidden: bool

    def _init_state(self, sequence: Optional[bool]) -> None:
        if sequence is not None and not isinstance(sequence, bool):
            raise TypeError(
                "sequence must be None (2-D input: one step, 3-D: a sequence), True or False; "
                f"got {sequence!r} ({type(sequence).__name__})"
            )
        self.sequence = sequence
        self.layer.reset_state()
        self._stamps: dict[str, Stamp] = {}
        self.register_buffer("mem", torch.zeros(0), persistent=False)
        self._keep(mem=self.mem)

    def _keep(self, **returned: Tensor) -> None:
        """Keep the state arguments returned to the caller (``mem``, ``spk``), stamped."""
        for name, t in returned.items():
            setattr(self, name, t)
            self._stamps[name] = Stamp.of(t)

    def _restamp(self) -> None:
        self._stamps = {name: Stamp.of(getattr(self, name)) for name in self._stamps}

    def _apply(self, fn, *args, **kwargs):
        super()._apply(fn, *args, **kwargs)
        self._restamp()  # new tensors (a device or dtype move) are the ones returned
        return self

    def _recognise(self, name: str, value: Optional[Tensor]) -> str:
        """:func:`~._state_args.recognise` for the argument ``name`` (None: the kept one)."""
        own = getattr(self, name)
        return recognise(own if value is None else value, own, self._stamps[name])

    def _kept(self, batch: int, lead: tuple) -> Optional[HetSynState]:
        """The kept state, where it is a state of this batch (None: start from rest, as
        snn.Leaky does when the batch changes, also for the same number of rows in another
        shape)."""
        state = self.state
        if state is None or state.v.shape[0] != batch or tuple(self.mem.shape[:-1]) != lead:
            return None
        return state

    @property
    def state(self) -> Optional[HetSynState]:
        """The core state after the last call (None: at rest): the core layer's."""
        return self.layer.state

    @state.setter
    def state(self, value: Optional[HetSynState]) -> None:
        self.layer.state = value

    def reset_mem(self) -> Tensor:
        """Forget the state (the next call starts from rest); returns the zeroed ``mem``."""
        self.layer.reset_state()
        self._keep(mem=torch.zeros_like(self.mem))
        return self.mem

    def init_leaky(self) -> Tensor:
        """Alias of :meth:`reset_mem` (``snn.Leaky.init_leaky``, kept by converted models)."""
        return self.reset_mem()

    def _detach_state(self) -> None:
        self.layer.detach_state()
        self._keep(mem=self.mem.detach())

    @classmethod
    def reset_hidden(cls) -> None:
        """Reset the state of every instance of this class (snnTorch's ``init_hidden`` idiom)."""
        for neuron in SpikingNeuron.instances:
            if isinstance(neuron, cls):
                neuron.reset_mem()

    @classmethod
    def detach_hidden(cls) -> None:
        """Detach the state of every instance of this class (truncated BPTT)."""
        for neuron in SpikingNeuron.instances:
            if isinstance(neuron, cls):
                neuron._detach_state()

    # ------------------------------------------------------------------ one call

    def _run(
        self, input_: Tensor, mem: Optional[Membrane], spk: Optional[Tensor] = None
    ) -> tuple[Tensor, Tensor, bool]:
        """Run one step (B, *, in) or a sequence (T, B, *, in) (see ``sequence``); returns
        the spikes and the membrane to report, shaped as the input (``out`` for ``in``), and
        whether it was a sequence; keeps the final state. ``spk``: the spikes passed in
        snn.RLeaky's convention (recurrent HetSynLeaky only)."""
        for name, value in (("mem", mem), ("spk", spk)):
            if self.init_hidden and value is not None:
                raise TypeError(
                    f"`{name}` should not be passed as an argument while `init_hidden=True`"
                )
        x = check_float_tensor("input_", input_)
        n_in, n_out = self.layer.in_features, self.layer.out_features
        if self.sequence is None and x.dim() == 3 and self.init_hidden:
            raise ValueError(
                "input_ of shape (B, L, in) or (T, B, in)? With init_hidden=True (snnTorch's "
                "per-step idiom) a 3-D input is ambiguous: set sequence=False for one step of "
                "(B, *, in) per call, or sequence=True for a sequence (T, B, *, in); got shape "
                f"{tuple(x.shape)}"
            )
        seq = self.sequence if self.sequence is not None else x.dim() == 3
        # (in,): one step of one sample, as nn.Linear takes an unbatched input
        fits = x.dim() in (1, 2, 3) if self.sequence is None else x.dim() >= 1 + 2 * seq
        if not fits or x.shape[-1] != n_in:
            raise ValueError(
                f"input_ must have shape {_LAYOUTS[self.sequence]}, with in={n_in}; got shape "
                f"{tuple(x.shape)}"
            )
        check_not_empty("input_", x, _LAYOUTS[self.sequence])
        lead = x.shape[1:-1] if seq else x.shape[:-1]  # the batch dimensions
        x = x.reshape(x.shape[0], -1, n_in) if seq else x.reshape(-1, n_in)
        batch = x.shape[-2]
        # state arguments shaped as the batch, (B, *, out), taken as (B x ..., out)
        mem = flat_state_arg(mem, self.mem, lead, batch)
        spk = flat_state_arg(spk, getattr(self, "spk", None), lead, batch)
        state = self._start(mem, batch, tuple(lead), spk)
        out = self.layer.run(x, state) if seq else self.layer.step(x, state)
        shape = (x.shape[0], *lead, n_out) if seq else (*lead, n_out)
        self._after_step(state, out, shape)
        membrane = _shaped(self._report(out), shape)
        self.state = out.state
        self._keep(mem=membrane[-1].clone() if seq else membrane)  # not a view: mem.detach_()
        return _shaped(out.spikes, shape), membrane, seq

    def _start(
        self, mem: Optional[Membrane], batch: int, lead: tuple, spk: Optional[Tensor] = None
    ) -> Optional[HetSynState]:
        """The core state before this call (None: rest), following snnTorch's ``mem``
        (``spk`` is None here; HetSynLeaky reads it)."""
        if isinstance(mem, HetSynState):
            return mem
        how = self._recognise("mem", check_float_tensor("mem", mem) if mem is not None else None)
        if how in (KEPT, CUT):  # carried on, as snn.Leaky carries its ``mem``
            state = self._kept(batch, lead)
            return None if state is None else self._cut_like(state, False, how == CUT)
        if mem is None and self._kept(batch, lead) is None:
            return None  # the kept mem is of another batch
        mem = self._flat_membrane("mem", self.mem if mem is None else mem, batch, lead)
        if not mem.any():
            return None
        if not self.layer.shared or getattr(self.layer, "adaptation", False):
            got = "the membrane it returned, edited in place" if how == EDITED else "another tensor"
            raise ValueError(
                "mem can set the full state only for heterogeneity 'neuron' or 'none' without "
                "adaptation; otherwise pass the membrane this layer returned last, unchanged (or "
                "reset_mem(), or zeros), or a HetSynState such as its `state`; got "
                f"{got} with heterogeneity={self.layer.heterogeneity!r}"
            )
        return self._state_from_membrane(mem)

    def _flat_membrane(self, name: str, value: Tensor, batch: int, lead: tuple) -> Tensor:
        """A state argument (B, *, out) as the core's (B x ..., out), shape checked."""
        shape = (batch, self.layer.out_features)
        if value.dim() > 2 and tuple(value.shape[:-1]) == lead:
            value = value.reshape(shape)
        if tuple(value.shape) != shape:
            raise ValueError(
                f"{name} must have shape (B, out) = {shape}; got {tuple(value.shape)}"
            )
        return value

    def _cut_like(self, state: HetSynState, cut_spk: bool, cut_mem: bool) -> HetSynState:
        """The kept state, cut from the autograd graph where a detached ``mem`` or ``spk`` of
        what this layer returned was passed back (truncated BPTT), as cutting snnTorch's
        arguments does: ``mem`` cuts every field (a recurrent layer's spikes excepted, which
        ``spk`` cuts)."""
        if cut_mem:
            spike = state.spike
            state = state.detach()
            if getattr(self.layer, "recurrent", False):
                state = state._replace(spike=spike)
        if cut_spk:
            state = state._replace(spike=state.spike.detach())
        return state

    def _state_from_membrane(self, mem: Tensor) -> HetSynState:  # pragma: no cover - abstract
        raise NotImplementedError

    def _after_step(self, before: Optional[HetSynState], out: LayerOutput, shape) -> None:
        """What a face keeps of a step besides the membrane (snn.Synaptic's ``syn``)."""

    def _report(self, out: LayerOutput) -> Tensor:
        return out.membrane


class HetSynLeaky(_HetSynHost, SpikingNeuron):
    """HetSynLIF as an snnTorch neuron: ``nn.Linear`` and ``snn.Leaky`` with a decay per synapse.

    The equations are those of :class:`hetsyn_plugins.core.HetSynLIF` (see
    :mod:`hetsyn_plugins.core.dynamics`); this class wraps one (``self.layer``) and speaks
    snnTorch. Unlike ``snn.Leaky`` it holds the weights: its input is the presynaptic activity
    ``x`` (B, in), not a current. With ``heterogeneity="none"``, ``beta=b``, ``threshold=th``
    and the weights of an ``nn.Linear``, it equals ``nn.Linear`` + ``snn.Leaky(beta=b,
    threshold=th)`` for each ``reset_mechanism`` and ``reset_delay``: same spikes and membranes
    bit for bit, same gradients up to float rounding; with ``heterogeneity="neuron"`` the same
    holds for a per-neuron ``beta`` of shape (out,)
    (``tests/snntorch/test_snntorch_equivalence.py``).
    :meth:`from_leaky` builds that layer from an existing pair.

    Calls, like ``snn.Leaky``:

    - ``spk, mem = lif(x)`` / ``lif(x, mem)`` with ``x`` (B, in): one step; ``spk``, ``mem``
      (B, out).
    - ``spk, mem = lif(x_seq)`` with ``x_seq`` (T, B, in): the whole sequence through the core's
      multi-step kernel; ``spk``, ``mem`` (T, B, out).
    - More batch dimensions, as snnTorch neurons take ``(B, *, features)`` per step: with
      ``sequence=False`` every call is one step of ``(B, *, in)`` -> ``(B, *, out)`` (the
      leading dimensions are one batch of B x ... rows; ``convert`` sets
      it, as the models it serves call the layer per step), with ``sequence=True`` every call
      a sequence ``(T, B, *, in)``. The default (``None``) reads a 2-D input as one step and a
      3-D one as a sequence, and refuses more dimensions as ambiguous, and a 3-D input with
      ``init_hidden=True`` (snnTorch's per-step idiom, where (B, L, in) is the likely meaning).
    - ``init_hidden=True``: returns ``spk`` alone (``spk, mem`` with ``output=True``); passing
      ``mem`` raises ``TypeError``. It works inside ``nn.Sequential``.

    State convention. ``mem`` is the membrane ``V`` (after the reset with ``reset_delay=False``,
    as snnTorch). The full core state (per-synapse currents, reset current, adaptation ...) is
    kept in the module as ``self.state`` (a :class:`~hetsyn_plugins.core.dynamics.HetSynState`),
    and the last reported membrane in the buffer ``self.mem``. As with ``snn.Leaky``, a call
    without ``mem`` carries on from the kept state (from rest when the batch size changes).
    Passing ``mem``:

    - the tensor this layer returned last (or ``reset_mem()``; detached aliases included):
      carries on from the kept state — the usual ``mem = lif.reset_mem(); spk, mem = lif(x,
      mem)`` loop; a detached alias (``mem.detach()``, truncated BPTT) cuts the gradient
      through the kept state, as it does for ``snn.Leaky`` (in a recurrent layer, all of it
      but the spikes fed back, which a detached ``spk`` cuts);
    - a tensor of zeros: starts from rest;
    - any other (B, out) tensor: sets the state from the membrane as ``snn.Leaky`` does (the
      reset of the next step follows ``mem > threshold``); only possible where the membrane is
      the whole state (``heterogeneity`` "neuron" or "none", no adaptation), else ``ValueError``;
    - a ``HetSynState`` (e.g. ``lif.state`` saved earlier): starts from exactly that state.

    snn.RLeaky's call convention (recurrent layers, ``init_hidden=False``). A recurrent layer
    also takes the spikes it returned, as ``snn.RLeaky`` does::

        spk, mem = rlif.init_rleaky()          # zeros (call_convention="rleaky": reset_mem() too)
        for x_t in x:
            spk, mem = rlif(x_t, spk, mem)     # or rlif(x_t, spk=spk, mem=mem)

    ``(spk, mem)`` maps onto the core state by this rule (exact in every case it accepts):

    - ``spk`` and ``mem`` are the tensors this layer returned last (or those of
      ``init_rleaky()``/``reset_mem()``; detached aliases included), or not given: the layer
      carries on from its kept core state ``self.state``, which holds what ``(spk, mem)``
      cannot (per-synapse currents, reset current, adaptation). This is the tutorial loop,
      exact for every ``heterogeneity``. A detached alias (``spk.detach()``, ``mem.detach()``,
      truncated BPTT) cuts the gradient through the matching part of the kept state: ``spk``
      the spikes, ``mem`` all the rest — what snn.RLeaky's detached arguments cut.
    - any other tensors (a missing one is the one this layer returned last, as in
      snn.RLeaky): all zeros (or empty) start from rest; otherwise they set the state where
      ``(spk, mem)`` is the whole state (``heterogeneity`` "neuron" or "none", no
      adaptation), and only when ``spk`` are the spikes of ``mem``
      (``spk == spike(mem - threshold) * graded_spikes_factor``): snn.RLeaky feeds ``spk``
      back but derives its reset from ``mem``, while the core keeps one spike for both.
      Otherwise ``ValueError`` naming the argument, what was expected and what was received.
    - ``spk`` together with a ``HetSynState`` as ``mem``: ``TypeError`` (the state holds its
      spikes).

    ``call_convention`` chooses how positional state arguments are read: ``"leaky"``
    (default): ``lif(x, mem)``, and for a recurrent layer also ``lif(x, spk, mem)``;
    ``"rleaky"`` (recurrent layers only; :meth:`from_leaky` sets it for an ``snn.RLeaky``):
    exactly snn.RLeaky's ``forward(input_, spk=None, mem=None)``, and ``reset_mem()`` returns
    ``(spk, mem)`` as RLeaky's does, so that converted RLeaky code runs unchanged.

    Args:
        in_features, out_features: inputs and neurons of the layer.
        beta: decay factors in (0, 1), float or tensor broadcastable to (out, in) (``"synapse"``),
            (out,) (``"neuron"``) or a scalar (``"none"``); kept exact. Or give ``tau_syn``.
            A 1-D ``beta`` of shape (out,) is per neuron, as in ``snn.Leaky``, also for
            ``"synapse"``: every synapse of neuron j starts at ``beta_j``, and so do its reset
            (and recurrent) decays unless ``tau_reset`` (``tau_rec``) are given.
        threshold: firing threshold, float or tensor broadcastable to (out,).
        spike_grad: any snnTorch surrogate (``snntorch.surrogate.*``) or callable of
            ``mem - threshold``; default ``surrogate.atan()``, as ``snn.Leaky``.
        surrogate_disable: Heaviside spikes with no surrogate gradient.
        init_hidden, output: snnTorch's return conventions (above).
        learn_beta: learn the decays (``decay_parametrization`` keeps them in (0, 1)).
        learn_threshold: learn the threshold.
        reset_mechanism: ``"subtract"``, ``"zero"`` or ``"none"``.
        graded_spikes_factor, learn_graded_spikes_factor: the output is ``spk * factor`` (the
            reset uses the unscaled spike), as snnTorch.
        reset_delay: ``True`` (snnTorch's default): the reset of a spike at step t enters at
            step t+1 (core ``reset_timing="next_step"`` for "subtract") and ``mem`` is the
            membrane before it; ``False``: the reset is applied at the spike (core
            ``"at_spike"``) and ``mem`` is the membrane after it. (snnTorch's ``reset_delay=False``
            subtracts an extra threshold from the firing test when the post-reset membrane is
            still above threshold; HetSynLeaky does not reproduce that corner case.)
        tau_syn: time constants (or a :mod:`hetsyn_plugins.core.timescales` initializer such as
            ``Normal(20, 5)``) instead of ``beta``.
        **options: every other option of the core layer under its own name
            (:class:`~hetsyn_plugins.core.spec.HetSynSpec`, documented at
            :class:`hetsyn_plugins.core.HetSynLIF`): ``heterogeneity`` (``"synapse"`` by
            default, ``"branch"`` with ``branches``, ``"input"``, ``"neuron"``, ``"none"``),
            ``membrane_decay``, ``recurrent``, ``self_connections``,
            ``tau_reset``, ``learn_reset_decay``, ``tau_rec``, ``tau_bias``, ``adaptation``,
            ``tau_adapt``, ``adapt_strength``, ``reset_amount``, ``bias``,
            ``decay_parametrization``, ``dt``, ``kernel``, ``decay_input`` (time scales also
            accept ``Decay(beta)``). The core's names that snnTorch spells otherwise
            (``learn_decays``: ``learn_beta``; ``reset``: ``reset_mechanism``;
            ``reset_timing``: ``reset_delay``; ``spike_fn``: ``spike_grad``) raise
            ``TypeError`` naming snnTorch's; ``stateful`` is not taken (the face keeps its
            state as snnTorch neurons do).
        device, dtype: as for ``nn.Linear``.
        alpha, learn_alpha: ``snn.Synaptic``'s: with ``alpha``, it is the synaptic decay
            (``tau_syn``; the bias current's too) and ``beta`` the membrane's leak
            (``membrane_decay``, learnable by ``learn_beta``): a current-based LIF,
            ``syn = alpha syn + W x + b``, ``mem = beta mem + syn - R`` (see
            :meth:`from_synaptic`).
        detach_reset: stop gradients through the reset; default ``reset_delay`` (what snnTorch
            does: its delayed reset is detached, its immediate one is not).
        call_convention: ``"leaky"``, ``"rleaky"`` (recurrent only) or ``"synaptic"`` (with
            ``alpha``; one step per call): how positional state arguments are read and what
            ``reset_mem()`` returns (above; ``"synaptic"``: ``lif(x, syn, mem)`` returns
            ``(spk, syn, mem)``, ``syn`` the summed synaptic current, and
            ``reset_mem()``/``init_synaptic()`` return ``(syn, mem)``, as ``snn.Synaptic``).
        sequence: ``None`` (2-D input: one step, 3-D: a sequence, except with
            ``init_hidden=True``, where it must be set), ``False`` (every call one
            step of ``(B, *, in)``) or ``True`` (every call a sequence ``(T, B, *, in)``);
            above.

    The positional order of the arguments after ``out_features`` is ``snn.Leaky``'s.
    Not supported (``ValueError`` unless false): ``inhibition``, ``state_quant``.
    ``snntorch.backprop`` and
    ``snntorch.export_nir`` cannot take this neuron (they handle a hard-coded list of neuron
    types): they raise ``TypeError`` for a network containing it; write the training loop
    directly (snnTorch recommends it; ``backprop`` is deprecated).

    Read-only views of the core: ``weight``, ``bias``, ``syn_decay``, ``tau_syn``,
    ``reset_decay``, ``recurrent_weight``, ``recurrent_decay``, ``bias_decay``,
    ``adapt_decay``, ``membrane_decay``, ``threshold``.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        beta: Optional[Union[float, Tensor]] = None,
        threshold: Union[float, Tensor] = 1.0,
        spike_grad=None,
        surrogate_disable: bool = False,
        init_hidden: bool = False,
        inhibition: bool = False,
        learn_beta: bool = False,
        learn_threshold: bool = False,
        reset_mechanism: str = "subtract",
        state_quant=False,
        output: bool = False,
        graded_spikes_factor: Union[float, Tensor] = 1.0,
        learn_graded_spikes_factor: bool = False,
        reset_delay: bool = True,
        *,
        alpha: Optional[Union[float, Tensor]] = None,
        learn_alpha: bool = False,
        detach_reset: Optional[bool] = None,
        call_convention: str = "leaky",
        sequence: Optional[bool] = None,
        device=None,
        dtype=None,
        **options,
    ):
        check_choice("call_convention", call_convention, CALL_CONVENTIONS)
        recurrent = options.get("recurrent", False)
        if call_convention == "synaptic" and alpha is None:
            raise ValueError(
                "call_convention='synaptic' (snn.Synaptic's (input_, syn, mem)) needs alpha "
                "(the synaptic decay; beta is then the membrane's); got alpha=None"
            )
        if call_convention == "rleaky" and not recurrent:
            raise ValueError(
                "call_convention='rleaky' (snn.RLeaky's (input_, spk, mem)) needs recurrent=True; "
                f"got recurrent={recurrent!r}"
            )
        for name, value in (("inhibition", inhibition), ("state_quant", state_quant)):
            if value:  # accepted only to keep snn.Leaky's positional order
                raise ValueError(f"{name} is not supported by HetSynLeaky; got {name}={value!r}")
        if spike_grad is not None and not callable(spike_grad):
            raise TypeError(
                "spike_grad must be a surrogate from snntorch.surrogate or a callable; "
                f"got {type(spike_grad).__name__}"
            )
        init_hidden, output = check_bool("init_hidden", init_hidden), check_bool("output", output)
        check_number("graded_spikes_factor", graded_spikes_factor)
        check_finite("graded_spikes_factor", graded_spikes_factor)
        with _unlisted_on_error(self):  # SpikingNeuron lists it first thing
            super().__init__(
                threshold=threshold,
                spike_grad=spike_grad,
                surrogate_disable=surrogate_disable,
                init_hidden=init_hidden,
                learn_threshold=learn_threshold,
                reset_mechanism=reset_mechanism,
                output=output,
                graded_spikes_factor=graded_spikes_factor,
                learn_graded_spikes_factor=learn_graded_spikes_factor,
            )
            self.reset_delay = check_bool("reset_delay", reset_delay)
            spec_options = leaky_options(
                out_features, beta=beta, threshold=threshold, spike_fn=self._spike,
                learn_beta=learn_beta, learn_threshold=learn_threshold,
                reset_mechanism=reset_mechanism, reset_delay=self.reset_delay,
                detach_reset=detach_reset, options=options, alpha=alpha, learn_alpha=learn_alpha,
            )  # fmt: skip
            self.layer = HetSynLIF(
                in_features, out_features, device=device, dtype=dtype, **spec_options
            )
            self.call_convention = call_convention
            self._init_state(sequence)
            # the spikes last returned (snn.RLeaky's ``spk``), to recognise them when passed back
            self.register_buffer("spk", torch.zeros(0), persistent=False)
            self._keep(spk=self.spk)
            if call_convention == "synaptic":  # snn.Synaptic's synaptic current, likewise
                self.register_buffer("syn", torch.zeros(0), persistent=False)
                self._keep(syn=self.syn)

    @classmethod
    @torch.no_grad()
    def from_leaky(
        cls,
        linear: nn.Linear,
        leaky: Union[snntorch.Leaky, snntorch.RLeaky],
        heterogeneity: Optional[str] = None,
        *,
        sequence: Optional[bool] = None,
        decay_parametrization: str = "logit",
        **options,
    ) -> HetSynLeaky:
        """The HetSynLeaky equal to ``linear`` followed by ``leaky`` (copies, not shared).

        ``leaky`` is an ``snn.Leaky``, or an ``snn.RLeaky`` with a linear recurrence, reset
        ``"subtract"`` or ``"none"`` and ungraded spikes: then the layer is ``recurrent``, with
        ``call_convention="rleaky"`` (it is called as the RLeaky was: ``(input_, spk, mem)``,
        ``init_rleaky()``/``reset_mem()`` returning ``(spk, mem)``), and every recurrent decay
        is ``beta`` too. An all-to-all recurrence (``linear_features``) gives its weights to
        ``recurrent_weight`` and its bias is added to the layer's; a one-to-one recurrence
        (``all_to_all=False``, ``spk * V``) becomes the diagonal ``recurrent_weight = diag(V)``
        (exact: the off-diagonal products are zeros), learnable when ``V`` is — fine-tuning
        can then grow connections between neurons, which the RLeaky did not have. Same
        dynamics up to float rounding (the sums are grouped differently: same spikes in the
        tests, membranes within 1e-5 in float32).

        ``heterogeneity``: ``"none"`` (default for a scalar ``beta``) or ``"neuron"`` (default
        otherwise) give the same spikes and membranes bit for bit; ``"synapse"`` starts a
        per-synapse layer at the same dynamics (every decay of neuron j is ``beta_j``; equal up
        to float rounding), ready to learn a time constant per synapse. Threshold, surrogate,
        reset, ``reset_delay``, graded spikes and ``init_hidden``/``output`` are taken from
        ``leaky``. Learnable decays: decays the host did not have (a finer heterogeneity than
        its ``beta``'s: ``"synapse"``, ``"input"``, ``"branch"``, ``"neuron"`` from one
        ``beta``) are learnable; the host's own sharing keeps its learnability; ``learn_beta=``
        among ``options`` decides when given. Learnable decays are parametrized by
        ``decay_parametrization`` (``"clamp"`` keeps ``beta``'s exact value, as snnTorch
        learns ``beta`` itself). ``sequence`` as in the constructor: ``convert`` passes
        ``False``, since the model it serves calls the layer once per step, with any
        ``(B, *, features)``, as it called the Leaky. ``"input"`` (one beta for the layer)
        and ``"branch"`` (``branches=K`` among ``options``, further core options) start at the
        same dynamics too, every synaptic decay of neuron j ``beta_j``.
        """
        from ._pairs import leaky_layer

        return leaky_layer(
            cls, linear, leaky, heterogeneity, sequence=sequence,
            decay_parametrization=decay_parametrization, **options,
        )  # fmt: skip

    @classmethod
    @torch.no_grad()
    def from_synaptic(
        cls,
        linear: nn.Linear,
        synaptic: snntorch.Synaptic,
        heterogeneity: Optional[str] = None,
        *,
        sequence: Optional[bool] = None,
        decay_parametrization: str = "logit",
        **options,
    ) -> HetSynLeaky:
        """The HetSynLeaky equal to ``linear`` followed by ``synaptic`` (an ``snn.Synaptic``,
        reset ``"subtract"`` or ``"none"``, ``reset_delay=True``): a leaky membrane
        (``membrane_decay`` = ``beta``) fed by synapses that decay by ``alpha``, called as the
        Synaptic was (``call_convention="synaptic"``: ``(input_, syn, mem)`` -> ``(spk, syn,
        mem)``, ``init_synaptic()``/``reset_mem()`` returning ``(syn, mem)``).

        ``heterogeneity``: ``"none"`` (default for scalar decays) or ``"neuron"`` (default
        otherwise) give the same spikes, ``syn`` and ``mem`` bit for bit; ``"synapse"``,
        ``"input"`` or ``"branch"`` (with ``branches``) start at the same dynamics (every
        synaptic decay ``alpha``; same spikes, membranes equal up to float rounding), ready to
        learn a time constant per synapse, input or branch. The bias enters the synaptic
        current (its decay is ``alpha``). Learnable decays as in :meth:`from_leaky`: the
        synaptic decays the Synaptic did not have (a finer heterogeneity) are learnable, its
        own sharing keeps its ``learn_alpha``; the membrane keeps its ``learn_beta``;
        ``learn_alpha=`` / ``learn_beta=`` among ``options`` decide when given; the threshold's
        as the Synaptic's. ``options``: further core options (``branches``,
        ``branch_assignment`` ...).
        """
        from ._pairs import synaptic_layer

        return synaptic_layer(
            cls, linear, synaptic, heterogeneity, sequence=sequence,
            decay_parametrization=decay_parametrization, **options,
        )  # fmt: skip

    # SpikingNeuron would register its own threshold: the core layer's is the one used.
    def _threshold_buffer(self, threshold, learn_threshold) -> None:
        pass

    def _spike(self, u: Tensor) -> Tensor:
        """The unscaled spike of ``u = mem - threshold`` (the core's ``spike_fn``).

        snnTorch's surrogates return float32 spikes whatever the input; they are kept so (the
        reset then rounds like snn.Leaky's), except in a recurrent layer, whose weights need
        spikes of their own dtype.
        """
        z = self.spike_grad(u)
        return z.to(u.dtype) if self.layer.recurrent else z

    _spike.elementwise = True  # snnTorch applies spike_grad elementwise (its contract)

    @property
    def threshold(self) -> Tensor:
        """Firing threshold ``theta`` (out,) or scalar (the core layer's)."""
        return self.layer.threshold

    @property
    def reset_mechanism(self) -> str:
        """``"subtract"``, ``"zero"`` or ``"none"`` (fixed at construction)."""
        return self.layer.config.reset

    @reset_mechanism.setter
    def reset_mechanism(self, value) -> None:
        raise AttributeError(
            "reset_mechanism of a HetSynLeaky is fixed at construction (it shapes the core "
            f"state); build a new layer instead of setting it to {value!r}"
        )

    def forward(
        self,
        input_: Tensor,
        *state: Optional[Membrane],
        spk: Optional[Tensor] = None,
        mem: Optional[Membrane] = None,
        syn: Optional[Tensor] = None,
    ):
        """One step (B, in) or a sequence (T, B, in); see the class docstring for the state.

        Calls: ``lif(x)``, ``lif(x, mem)`` (snn.Leaky); for a recurrent layer also
        ``lif(x, spk, mem)`` and ``lif(x, spk=spk)`` (snn.RLeaky). With
        ``call_convention="rleaky"`` a single positional state argument is ``spk``, as in
        snn.RLeaky's ``forward(input_, spk=None, mem=None)``; otherwise it is ``mem``.

        With ``call_convention="synaptic"``: ``lif(x, syn, mem)``, as snn.Synaptic, returning
        ``(spk, syn, mem)`` (one step per call).

        Returns ``(spk, mem)``, or ``spk`` alone with ``init_hidden=True`` and ``output=False``.
        """
        if self.call_convention == "synaptic":
            return self._synaptic_forward(input_, *synaptic_arguments(state, syn, mem))
        if syn is not None:
            raise TypeError("syn (snn.Synaptic's) needs call_convention='synaptic'")
        spk, mem = state_arguments(
            state, spk, mem, recurrent=self.layer.recurrent,
            call_convention=self.call_convention, last_spk=self.spk,
        )  # fmt: skip
        spikes, membrane, seq = self._run(input_, mem, spk)
        spikes = spikes * self.graded_spikes_factor
        self._keep(spk=spikes[-1].clone() if seq else spikes)
        if self.init_hidden and not self.output:
            return spikes
        return spikes, membrane

    def _synaptic_forward(self, input_: Tensor, syn, mem):
        """snn.Synaptic's step: ``(spk, syn, mem)`` (see :meth:`forward`)."""
        if self.sequence or (self.sequence is None and input_.dim() == 3):
            raise ValueError(
                "call_convention='synaptic' takes one step per call, as snn.Synaptic (set "
                f"sequence=False for (B, *, in) inputs); got input_ of shape {tuple(input_.shape)}"
            )
        spikes, membrane, _ = self._run(input_, mem, syn)  # syn in the second state slot
        spikes = spikes * self.graded_spikes_factor
        self._keep(spk=spikes)
        if self.init_hidden and not self.output:
            return spikes
        return spikes, self.syn, membrane

    def _after_step(self, before: Optional[HetSynState], out: LayerOutput, shape) -> None:
        if self.call_convention == "synaptic":
            params = self.layer.step_params(out.state)
            current = synaptic_current(params, before, out.state, self.layer.config)
            self._keep(syn=_shaped(current, shape))

    def _start(
        self, mem: Optional[Membrane], batch: int, lead: tuple, spk: Optional[Tensor] = None
    ) -> Optional[HetSynState]:
        if self.call_convention == "synaptic":
            return self._synaptic_start(mem, batch, lead, syn=spk)
        if spk is None and self.call_convention == "leaky":
            return super()._start(mem, batch, lead)
        if isinstance(mem, HetSynState):
            if spk is not None:
                raise TypeError(
                    "spk must be None when mem is a HetSynState (the state holds its spikes); "
                    f"got a {type(spk).__name__} for spk"
                )
            return mem
        # snn.RLeaky's convention: (spk, mem), a missing one being the one kept.
        spk = None if spk is None else check_float_tensor("spk", spk)
        mem = None if mem is None else check_float_tensor("mem", mem)
        how = {"spk": self._recognise("spk", spk), "mem": self._recognise("mem", mem)}
        if all(h in (KEPT, CUT) for h in how.values()):
            state = self._kept(batch, lead)
            if state is None:
                return None
            return self._cut_like(state, how["spk"] == CUT, how["mem"] == CUT)
        passed = [(spk, self.spk), (mem, self.mem)]
        shape = (batch, self.layer.out_features)
        # a kept tensor of another batch size counts as zeros (snn.RLeaky's rule)
        flat = [(a, own.reshape(-1, own.shape[-1]) if own.dim() > 2 else own) for a, own in passed]
        spk, mem = ((own if own.shape == shape else None) if a is None else a for a, own in flat)
        spk = None if spk is None else self._rleaky_tensor("spk", spk, shape)
        mem = None if mem is None else self._rleaky_tensor("mem", mem, shape)
        if spk is None and mem is None:
            return None
        factory = {"dtype": self.layer.weight.dtype, "device": self.layer.weight.device}
        spk = torch.zeros(shape, **factory) if spk is None else spk
        mem = torch.zeros(shape, **factory) if mem is None else mem
        if not (spk.any() or mem.any() or spk.requires_grad or mem.requires_grad):
            return None  # zeros: rest
        if not self.layer.shared or self.layer.adaptation:
            raise ValueError(
                "spk and mem can set the full state only for heterogeneity 'neuron' or 'none' "
                "without adaptation; otherwise pass the spk and mem this layer returned last "
                "(or those of init_rleaky()/reset_mem(), or zeros without gradient), or a "
                "HetSynState as mem; got other tensors (non-zero, or carrying gradients) with "
                f"heterogeneity={self.layer.heterogeneity!r}"
                f"{' and adaptation' if self.layer.adaptation else ''}"
            )
        factor = self.graded_spikes_factor
        spike = spk if bool((factor == 1).all()) else spk / factor
        expected = self._spike((mem - self.threshold).detach())
        if not torch.equal(spike.detach().to(expected.dtype), expected):
            raise ValueError(
                "spk must be the spikes of mem (spk == spike(mem - threshold) * "
                "graded_spikes_factor): snn.RLeaky feeds spk back but resets by mem, and "
                "HetSynLeaky keeps one spike for both; pass the spk and mem this layer "
                f"returned together; got spk with {int((spike.detach() != expected).sum())} "
                "entries that differ from the spikes of mem"
            )
        return state_from_membrane(mem, spike.to(mem.dtype))

    def _synaptic_start(self, mem, batch: int, lead: tuple, syn) -> Optional[HetSynState]:
        """snn.Synaptic's ``(syn, mem)``: the ones returned last (or not given) carry on from
        the kept state; zeros start from rest; others set the state where ``(syn, mem)`` is
        the whole of it (``heterogeneity`` "neuron" or "none", no adaptation)."""
        if isinstance(mem, HetSynState):
            return mem
        syn = None if syn is None else check_float_tensor("syn", syn)
        mem = None if mem is None else check_float_tensor("mem", mem)
        how = {"syn": self._recognise("syn", syn), "mem": self._recognise("mem", mem)}
        if all(h in (KEPT, CUT) for h in how.values()):
            state = self._kept(batch, lead)
            if state is None:
                return None
            return self._cut_like(state, False, CUT in how.values())
        shape = (batch, self.layer.out_features)
        values = []
        for name, value in (("syn", syn), ("mem", mem)):
            own = getattr(self, name)
            value = own if value is None else value
            if value.numel() == 0 or tuple(value.shape[:-1]) not in (lead, shape[:1]):
                values.append(None)  # a kept tensor of another batch: zeros (snnTorch's rule)
            else:
                values.append(self._flat_membrane(name, value, batch, lead))
        syn, mem = values
        if all(v is None or not (v.any() or v.requires_grad) for v in values):
            return None  # zeros: rest
        if not self.layer.spec.layout.holds_synaptic_current or self.layer.adaptation:
            raise ValueError(
                "syn and mem can set the full state only for heterogeneity 'neuron' or 'none' "
                "without adaptation; otherwise pass the syn and mem this layer returned last "
                "(or those of reset_mem()/init_synaptic(), or zeros), or a HetSynState as mem; "
                f"got other tensors with heterogeneity={self.layer.heterogeneity!r}"
            )
        factory = {"dtype": self.layer.weight.dtype, "device": self.layer.weight.device}
        syn = torch.zeros(shape, **factory) if syn is None else syn
        mem = torch.zeros(shape, **factory) if mem is None else mem
        pending = self._spike(mem - self.threshold) if self.reset_delay else torch.zeros_like(mem)
        return HetSynState(syn=syn, v=mem, spike=pending.to(mem.dtype))

    def init_synaptic(self) -> tuple[Tensor, Tensor]:
        """snn.Synaptic's name: forget the state; returns the zeroed ``(syn, mem)``
        (``call_convention="synaptic"``)."""
        if self.call_convention != "synaptic":
            raise TypeError("init_synaptic() needs call_convention='synaptic' (snn.Synaptic's)")
        return self.reset_mem()

    @staticmethod
    def _rleaky_tensor(name: str, value: object, shape: tuple) -> Optional[Tensor]:
        """``value`` checked to be a (B, out) float tensor; None for an empty one."""
        value = check_float_tensor(name, value)
        if value.numel() == 0:
            return None  # snn.RLeaky's fresh state, torch.zeros(0): zeros
        if tuple(value.shape) != shape:
            raise ValueError(f"{name} must have shape (B, out) = {shape}; got {tuple(value.shape)}")
        return value

    def reset_mem(self):
        """Forget the state (the next call starts from rest). Returns the zeroed ``mem``, or
        ``(spk, mem)`` with ``call_convention="rleaky"`` (as snn.RLeaky's ``reset_mem``)."""
        mem = super().reset_mem()
        self._keep(spk=torch.zeros_like(self.spk))
        if self.call_convention == "synaptic":
            self._keep(syn=torch.zeros_like(self.syn))
            return self.syn, mem
        return (self.spk, mem) if self.call_convention == "rleaky" else mem

    def init_rleaky(self) -> tuple[Tensor, Tensor]:
        """snn.RLeaky's name: forget the state; returns the zeroed ``(spk, mem)`` to pass to the
        first call (recurrent layers)."""
        if not self.layer.recurrent:
            raise TypeError(
                "init_rleaky() returns (spk, mem) for snn.RLeaky's call convention, which needs "
                "a recurrent HetSynLeaky (recurrent=True); this layer is feedforward: use "
                "init_leaky() or reset_mem()"
            )
        self.reset_mem()
        return self.spk, self.mem

    def _detach_state(self) -> None:
        super()._detach_state()
        self._keep(spk=self.spk.detach())
        if self.call_convention == "synaptic":
            self._keep(syn=self.syn.detach())

    def _report(self, out: LayerOutput) -> Tensor:
        if self.reset_delay:
            return out.membrane
        params = self.layer.step_params(out.state)  # a step's own, decoded once per chain
        return post_reset_membrane(out.membrane, out.spikes, params, self.layer.config)

    def _state_from_membrane(self, mem: Tensor) -> HetSynState:
        # snnTorch derives the pending reset from the membrane (mem > threshold); with
        # reset_delay=False it takes that reset back in the same step (its do_reset), so a
        # membrane given after the reset has none pending. The core detaches it when
        # detach_reset.
        if not self.reset_delay:
            return state_from_membrane(mem)
        return state_from_membrane(mem, self._spike(mem - self.threshold))

    # ------------------------------------------------------------------ read-only views

    weight = property(lambda self: self.layer.weight, doc="Feedforward weights (out, in).")
    bias = property(lambda self: self.layer.bias, doc="Bias (out,) or None.")
    syn_decay = property(lambda self: self.layer.syn_decay, doc="Synaptic decays (out, in).")
    tau_syn = property(lambda self: self.layer.tau_syn, doc="Synaptic time constants (out, in).")
    reset_decay = property(lambda self: self.layer.reset_decay, doc="Reset decays (out,).")
    recurrent_weight = property(
        lambda self: self.layer.recurrent_weight, doc="Recurrent weights (out, out) or None."
    )
    recurrent_decay = property(
        lambda self: self.layer.recurrent_decay, doc="Recurrent decays (out, out) or None."
    )
    bias_decay = property(lambda self: self.layer.bias_decay, doc="Bias decays (out,) or None.")
    adapt_decay = property(
        lambda self: self.layer.adapt_decay, doc="Adaptation decays (out,) or None."
    )
    membrane_decay = property(
        lambda self: self.layer.membrane_decay, doc="Membrane leak (out,) or None."
    )

    def extra_repr(self) -> str:
        flags = {"reset_delay": self.reset_delay, "init_hidden": self.init_hidden}
        flags["output"] = self.output
        return ", ".join(f"{k}={v}" for k, v in flags.items())


class HetSynLI(_HetSynHost, nn.Module):
    """Leaky-integrator readout with a decay per synapse, for snnTorch networks.

    Wraps :class:`hetsyn_plugins.core.HetSynReadout` (``self.layer``): per step
    ``y_j = sum_i I_ji + B_j`` with ``I_ji`` decaying by ``r_ji`` (no spike, no reset).
    ``mem = li(x)`` / ``li(x, mem)`` with ``x`` (B, in) -> (B, out), or ``x`` (T, B, in) ->
    (T, B, out); it returns the membrane alone (there are no spikes), also with
    ``init_hidden=True`` (which forbids passing ``mem``). State convention, ``reset_mem()``,
    ``reset_hidden()``, ``detach_hidden()`` and ``snntorch.utils.reset`` as
    :class:`HetSynLeaky`; ``beta`` / ``tau_syn`` / ``heterogeneity`` likewise
    (with ``heterogeneity`` "neuron" or "none" its output equals the membrane of ``nn.Linear``
    + ``snn.Leaky(beta, reset_mechanism="none")``). Every other option of
    :class:`hetsyn_plugins.core.HetSynReadout` under its own name (``learn_beta`` for
    ``learn_decays``).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        beta: Optional[Union[float, Tensor]] = None,
        init_hidden: bool = False,
        learn_beta: bool = False,
        *,
        sequence: Optional[bool] = None,
        device=None,
        dtype=None,
        **options,
    ):
        super().__init__()
        self.init_hidden = check_bool("init_hidden", init_hidden)
        spec_options = li_options(out_features, beta=beta, learn_beta=learn_beta, options=options)
        self.layer = HetSynReadout(
            in_features, out_features, device=device, dtype=dtype, **spec_options
        )
        self._init_state(sequence)
        SpikingNeuron.instances.append(self)  # so that reset_hidden()/detach_hidden() see it

    def forward(self, input_: Tensor, mem: Optional[Membrane] = None) -> Tensor:
        """One step (B, in) -> (B, out) or a sequence (T, B, in) -> (T, B, out) (leading
        dimensions as set by ``sequence``, see :class:`HetSynLeaky`)."""
        return self._run(input_, mem)[1]

    def _state_from_membrane(self, mem: Tensor) -> HetSynState:
        return state_from_membrane(mem)

    weight = HetSynLeaky.weight
    bias = HetSynLeaky.bias
    syn_decay = HetSynLeaky.syn_decay
    tau_syn = HetSynLeaky.tau_syn
    bias_decay = HetSynLeaky.bias_decay

    def extra_repr(self) -> str:
        return f"init_hidden={self.init_hidden}"


HETSYN_MODULES = (HetSynLeaky, HetSynLI)
