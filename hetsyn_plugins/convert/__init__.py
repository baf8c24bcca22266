"""Convert existing snnTorch and SpikingJelly models to HetSyn: :func:`convert`.

Small modules: :mod:`.graph` finds the Linear -> neuron pairs by data flow, :mod:`.hosts`
maps a pair of each host library onto its HetSyn layer exactly (or refuses), :mod:`.decays`
makes the decays learnable and jitters them, :mod:`.report` tabulates what happened.
"""

from __future__ import annotations

import copy
import math
from typing import Any, NamedTuple

import torch
from torch import nn

from ..core.layers import HETEROGENEITY
from ..core.timescales import PARAMETRIZATIONS
from ..core.validation import check_choice
from .decays import retune
from .graph import Roles, Search
from .hosts import Refusal, active_hosts
from .report import ConversionReport, ReportEntry

__all__ = ["ConversionReport", "ConversionResult", "ReportEntry", "convert"]


class ConversionResult(NamedTuple):
    """What ``convert(..., return_report=True)`` returns: the model and the report."""

    model: nn.Module
    report: ConversionReport


def convert(
    model: nn.Module,
    *,
    heterogeneity: str = "synapse",
    tau_jitter: float = 0.0,
    learn_decays: bool = True,
    decay_parametrization: str = "logit",
    inplace: bool = False,
    generator: torch.Generator | None = None,
    return_report: bool = False,
    branches: int | None = None,
    branch_assignment: str = "contiguous",
):
    """Replace every Linear -> LIF pair of ``model`` by one HetSyn layer of the same host.

    Converted pairs (each becomes one layer whose input is the Linear's input):

    - snnTorch: ``nn.Linear`` + ``snn.Leaky`` -> ``snn.HetSynLeaky``
      (:meth:`HetSynLeaky.from_leaky`), with ``init_hidden`` True or False; ``nn.Linear`` +
      ``snn.RLeaky`` (``init_hidden`` True, or False with the tutorials' explicit state
      ``spk, mem = rlif(cur, spk, mem)``; an all-to-all ``linear_features`` recurrence, or a
      one-to-one ``all_to_all=False`` one, ``spk * V``, which becomes the diagonal recurrent
      weight ``diag(V)``; reset ``"subtract"``/``"none"``) -> a recurrent ``snn.HetSynLeaky``
      with ``call_convention="rleaky"``: it takes ``(input_, spk, mem)`` and its
      ``init_rleaky()``/``reset_mem()`` return ``(spk, mem)``, so the model's loop runs
      unchanged (the tensors it passes back carry the per-synapse state on exactly);
    - snnTorch: ``nn.Linear`` + ``snn.Synaptic`` (reset ``"subtract"``/``"none"``) -> an
      ``snn.HetSynLeaky`` with a leaky membrane (``membrane_decay`` = ``beta``, every synaptic
      decay ``alpha``; :meth:`HetSynLeaky.from_synaptic`) and ``call_convention="synaptic"``:
      ``(input_, syn, mem)`` -> ``(spk, syn, mem)``, ``init_synaptic()``;
    - SpikingJelly: ``layer.Linear``/``nn.Linear`` (also inside ``SeqToANNContainer`` or
      ``MultiStepContainer``) + ``LIFNode``/``ParametricLIFNode``/``CUBALIFNode``
      (``v_reset`` None or 0.0) -> ``neuron.HetSynNode`` (:meth:`HetSynNode.from_linear_lif`),
      single- or multi-step.

    Pairs are found by data flow: adjacent children of an ``nn.Sequential``, or, in a custom
    ``forward`` traced with :mod:`torch.fx`, a Linear whose output feeds only a neuron's input
    (on every call, e.g. in a loop over time) while that neuron takes input from nowhere else.
    The neuron's slot gets the HetSyn layer and the Linear's slot an ``nn.Identity``, so the
    model's ``forward`` (explicit ``mem``/``spk`` included: ``init_leaky()``,
    ``init_rleaky()`` and ``reset_mem()`` work)
    runs unchanged. Everything else stays as it is and is reported: conv layers, pooling,
    readout Linears, neurons not fed by a Linear, and pairs refused because no exact
    equivalent exists (other neurons, a ``Synaptic`` reset to zero, ``RLeaky`` other than above: a
    ``Conv2d`` recurrence, or reset ``"zero"``, which also zeroes the new input of the step
    after a spike; ``inhibition``, ``state_quant``, ``reset_delay=False``, a decay of 0 or 1);
    a module whose ``forward`` cannot be traced is reported and its children are searched one
    by one.

    Exactness. With ``tau_jitter=0`` the converted model starts at the same dynamics, with the
    host's own surrogate and reset: ``heterogeneity`` ``"none"``/``"neuron"`` with
    ``learn_decays=False`` gives the same spikes and membranes bit for bit for snnTorch
    (SpikingJelly's ``LIFNode`` rounds its update otherwise: identical spikes in the tests,
    ``v`` equal up to float rounding); learnable decays
    (``"logit"``: ``r = sigmoid(p)``, one rounding of ``r``) and ``"synapse"`` (per-synapse
    sums) agree up to float rounding (the tests see identical spikes on random inputs).
    ``snn.RLeaky`` pairs agree up to float rounding whatever the options (the input, recurrent
    and bias currents are summed in another order): identical spikes in the tests over 120
    steps, membranes within 1e-5 relative in float32, same input gradients.
    snnTorch neurons are assumed to be called per step on (B, features) inputs, as in its
    tutorials: a converted HetSynLeaky has ``sequence=False`` and reads every call as one step
    of ``(B, *, in)``, as the Leaky did (set ``layer.sequence = True`` to run it on a whole
    ``(T, B, in)`` sequence in one call, the fast path).

    Args:
        model: the model (``nn.Module``) to convert.
        heterogeneity: ``"synapse"`` (a decay per synapse, default), ``"input"`` (one per
            input; needs one decay for the layer), ``"branch"`` (one per dendritic branch of
            each neuron; needs ``branches``), ``"neuron"`` or ``"none"`` (one decay for the
            layer; needs a scalar ``beta``). The layers keep the state of their layout: per
            synapse (B, out, in), per input (B, in), per branch (B, out, K).
        tau_jitter: multiply each synaptic time constant ``tau = -1 / ln r`` by
            ``exp(tau_jitter * N(0, 1))`` (per synapse, or per neuron for ``"neuron"``);
            0 keeps the model exact. Not with ``"none"``.
        learn_decays: make every decay of the new layers a learnable parameter (default), so
            that fine-tuning learns heterogeneous time constants; False keeps each as it was
            in the host: fixed at its exact value, or learnable (``snn.Leaky(learn_beta=True)``,
            ``ParametricLIFNode``) with ``decay_parametrization``.
        decay_parametrization: ``"logit"`` (``r = sigmoid(p)``) or ``"clamp"`` (``r`` learned
            directly, exact at the start; clamp it after each step with
            :func:`hetsyn_plugins.clamp_decays_after_step`).
        inplace: convert ``model`` itself (default: a deep copy; ``model`` is untouched).
        generator: the random generator of the jitter.
        return_report: also return the report.
        branches, branch_assignment: with ``heterogeneity="branch"``, the branches per neuron
            and how the synapses are shared out (``"contiguous"`` blocks, ``"random"``);
            see :class:`~hetsyn_plugins.core.HetSynLIF`.

    Returns:
        The converted model, or with ``return_report=True`` a :class:`ConversionResult`
        ``(model, report)``; ``print(report)`` shows a table with one row per converted pair
        and per other leaf module, and its status (``converted``, ``refused``, ``kept``).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    check_choice("heterogeneity", heterogeneity, HETEROGENEITY)
    layout_options = {}
    if heterogeneity == "branch" or branches is not None:
        if heterogeneity != "branch":
            raise ValueError(
                f"branches needs heterogeneity='branch'; got heterogeneity={heterogeneity!r}"
            )
        if branches is None:
            raise ValueError("heterogeneity='branch' needs branches=K (branches per neuron)")
        layout_options = {"branches": branches, "branch_assignment": branch_assignment}
    check_choice("decay_parametrization", decay_parametrization, PARAMETRIZATIONS)
    if (
        isinstance(tau_jitter, bool)
        or not isinstance(tau_jitter, (int, float))
        or not (math.isfinite(tau_jitter) and tau_jitter >= 0)
    ):
        raise ValueError(f"tau_jitter must be a finite float >= 0; got {tau_jitter!r}")
    if tau_jitter and heterogeneity == "none":
        raise ValueError(
            "tau_jitter needs heterogeneity 'synapse' or 'neuron' (with 'none' the layer has a "
            f"single decay); got tau_jitter={tau_jitter!r} with heterogeneity='none'"
        )
    for name, flag in (("learn_decays", learn_decays), ("inplace", inplace)):
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be a bool; got {flag!r}")
    meta = next(
        (name for name, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta),
        None,
    )
    if meta is not None:
        raise ValueError(
            f"convert needs the model's values (its decays and thresholds choose and check the "
            f"new layers), but {meta} is on the meta device; materialize the model first "
            "(model.to_empty(device=...) and load its state_dict), or convert it on the CPU "
            "and move the result with .to('meta')"
        )
    if not inplace:
        model = _deepcopy(model)
    hosts = active_hosts()
    roles = Roles(hosts)
    search = Search(model, roles)
    entries, done = [], set()
    for lin_path, neuron_path in search.pairs:
        linear_like, neuron = model.get_submodule(lin_path), model.get_submodule(neuron_path)
        host = roles.host_of(neuron)
        pair = f"{lin_path} + {neuron_path}"
        done.update((lin_path, neuron_path))
        if host.is_hetsyn(neuron):
            entries.append(ReportEntry(pair, "kept", "already a HetSyn layer (after a Linear)"))
            continue
        try:
            new, layer = host.build(
                roles.linear_of(linear_like), neuron, heterogeneity, decay_parametrization,
                **layout_options,
            )
        except Refusal as why:
            entries.append(ReportEntry(pair, "refused", str(why)))
            continue
        retune(
            layer,
            learnable=True if learn_decays else None,  # False: each as the host had it
            parametrization=decay_parametrization,
            tau_jitter=float(tau_jitter),
            generator=generator,
        )
        # the new modules take the mode (train / eval) of the ones they replace
        model.set_submodule(neuron_path, new.train(neuron.training))
        model.set_submodule(lin_path, nn.Identity().train(linear_like.training))
        entries.append(
            ReportEntry(pair, "converted", f"{type(new).__name__}: {layer.extra_repr()}")
        )
    for path, module in _leaves(model, roles):
        if path in done:
            continue
        if any(h.is_hetsyn(module) for h in hosts):
            reason = "already a HetSyn layer"
        else:
            reason = search.reasons.get(path, "not a Linear -> spiking neuron pair")
        entries.append(ReportEntry(path, "kept", reason))
    for host in hosts:
        host.finish(model, copied=not inplace)
    order = {path: i for i, (path, _) in enumerate(model.named_modules())}
    entries.sort(key=lambda e: order.get(e.modules.split(" + ")[0], len(order)))
    report = ConversionReport(entries)
    return ConversionResult(model, report) if return_report else model


def _deepcopy(model: nn.Module) -> nn.Module:
    """``copy.deepcopy``, also after a forward pass: the states that neurons keep from it
    (tensors in the autograd graph, which deepcopy refuses) are copied detached."""
    memo: dict[int, Any] = {}
    for module in model.modules():
        for value in vars(module).values():
            items = value.values() if isinstance(value, dict) else [value]
            for t in items:
                if isinstance(t, torch.Tensor) and not t.is_leaf:
                    memo[id(t)] = t.detach().clone()
    return copy.deepcopy(model, memo)


def _leaves(model: nn.Module, roles: Roles):
    """The leaf modules (no children, or a neuron / Linear-like container), by path."""
    skip: list[str] = []
    for path, module in model.named_modules():
        if not path or any(path.startswith(s + ".") for s in skip):
            continue
        if roles.is_leaf(module) or not any(True for _ in module.children()):
            skip.append(path)
            yield path, module
