"""snnTorch's pair rules: the exact ``snn.HetSynLeaky`` of an ``nn.Linear`` followed by an
``snn.Leaky`` or ``snn.RLeaky`` (behind :meth:`HetSynLeaky.from_leaky
<hetsyn_plugins.adapters.snntorch.HetSynLeaky.from_leaky>`), why an RLeaky has none.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from ...core.spec import SHARED_MODELS
from ...core.timescales import Decay
from ..pairing import group_decay, learn_refined


def one_to_one_weight(rleaky: nn.Module) -> Tensor:
    """The ``V`` that ``rleaky``'s one-to-one recurrence multiplies by: its recurrent module's
    (``rleaky.V`` set after construction is not seen by snnTorch's forward)."""
    return torch.as_tensor(getattr(rleaky.recurrent, "V", rleaky.V))


def rleaky_mismatch(rleaky: nn.Module, n: Optional[int] = None) -> Optional[str]:
    """Why ``rleaky`` (fed by ``n`` features, when known) has no exact recurrent HetSynLeaky
    (None when it has one)."""
    if rleaky.all_to_all and not isinstance(rleaky.recurrent, nn.Linear):
        return (
            "only a linear recurrence (all-to-all linear_features, or one-to-one V) maps onto "
            f"HetSyn's recurrent synapses; got a {type(rleaky.recurrent).__name__} recurrence"
        )
    if not rleaky.all_to_all:
        v = one_to_one_weight(rleaky)
        if v.dim() > 1 or v.numel() not in (1, n if n is not None else v.numel()):
            return (
                f"its one-to-one weight V must be a scalar or have shape ({n},) (one per "
                f"neuron); got shape {tuple(v.shape)}"
            )
    if rleaky.reset_mechanism == "zero":
        return (
            "its reset to zero also zeroes the new input of the step after a spike, unlike "
            "HetSyn's (and snn.Leaky's) zero reset"
        )
    if not bool((rleaky.graded_spikes_factor == 1).all()):
        return "it feeds back graded spikes; HetSyn's recurrence takes 0/1 spikes"
    return None


def _rec_decays(heterogeneity: str, neuron_beta: Tensor) -> Optional[Decay]:
    """The recurrent decays of a converted RLeaky: beta_j on every synapse into neuron j
    (per synapse), one per presynaptic neuron (per input: the one beta); the branch and
    shared layouts tie them to their own decays (None)."""
    if heterogeneity == "synapse":
        return Decay(neuron_beta[:, None])
    if heterogeneity == "input":
        return Decay(neuron_beta[0])
    return None


@torch.no_grad()
def leaky_layer(
    cls,
    linear: nn.Linear,
    leaky: nn.Module,
    heterogeneity: Optional[str] = None,
    *,
    sequence: Optional[bool] = None,
    decay_parametrization: str = "logit",
    **options,
):
    """The ``cls`` (``snn.HetSynLeaky``) equal to ``linear`` followed by ``leaky``: see
    :meth:`hetsyn_plugins.adapters.snntorch.HetSynLeaky.from_leaky`.

    Learnable decays: ``learn_beta`` among ``options`` when given; else the Leaky's own (a
    ``beta`` parameter or not) where ``heterogeneity`` keeps its sharing (``None``, or the
    level of its ``beta``: ``"none"`` for one value, ``"neuron"`` for one per neuron), and
    learnable where it asks for decays the Leaky did not have (``"synapse"``, ``"input"``,
    ``"branch"``, ``"neuron"`` from one ``beta``): decays that never move are not what that
    asks for. ``convert`` passes the Leaky's own and applies its ``learn_decays`` itself.
    """
    import snntorch

    if not isinstance(linear, nn.Linear) or type(leaky) not in (
        snntorch.Leaky,
        snntorch.RLeaky,
    ):
        raise TypeError(
            "from_leaky needs an nn.Linear and an snntorch.Leaky; got "
            f"{type(linear).__name__} and {type(leaky).__name__} (an RLeaky is also taken)"
        )
    rec = getattr(leaky, "recurrent", None)
    if type(leaky) is snntorch.RLeaky and (
        why := rleaky_mismatch(leaky, linear.out_features)
    ):
        raise ValueError(f"from_leaky cannot take this RLeaky: {why}")
    weight = linear.weight
    beta = leaky.beta.detach().to(weight.dtype)
    host_level = "none" if beta.numel() == 1 else "neuron"
    heterogeneity = host_level if heterogeneity is None else heterogeneity
    learn_beta = learn_refined(
        options.pop("learn_beta", None), isinstance(leaky.beta, nn.Parameter), heterogeneity,
        host_level,
    )  # fmt: skip
    if heterogeneity == "none" and beta.numel() == 1:
        beta = beta.reshape(())
    n = linear.out_features
    per_synapse = heterogeneity not in SHARED_MODELS  # own reset current
    neuron_beta = torch.broadcast_to(beta.reshape(-1) if beta.dim() else beta, (n,))
    syn_beta = group_decay(neuron_beta, heterogeneity, "beta", "Leaky") if per_synapse else beta
    lif = cls(
        linear.in_features,
        n,
        beta=syn_beta,
        threshold=leaky.threshold.detach().clone(),
        spike_grad=leaky.spike_grad,
        surrogate_disable=leaky.surrogate_disable,
        init_hidden=leaky.init_hidden,
        inhibition=leaky.inhibition,
        learn_beta=learn_beta,
        learn_threshold=isinstance(leaky.threshold, nn.Parameter),
        reset_mechanism=leaky.reset_mechanism,
        state_quant=leaky.state_quant,
        output=leaky.output,
        graded_spikes_factor=leaky.graded_spikes_factor.detach().clone(),
        learn_graded_spikes_factor=isinstance(leaky.graded_spikes_factor, nn.Parameter),
        reset_delay=leaky.reset_delay,
        heterogeneity=heterogeneity,
        recurrent=rec is not None,
        tau_reset=Decay(neuron_beta) if per_synapse else None,
        tau_rec=_rec_decays(heterogeneity, neuron_beta) if rec is not None else None,
        bias=linear.bias is not None or getattr(rec, "bias", None) is not None,
        call_convention="leaky" if rec is None else "rleaky",
        sequence=sequence,
        decay_parametrization=decay_parametrization,
        device=weight.device,
        dtype=weight.dtype,
        **options,
    )
    lif.weight.copy_(weight)
    if lif.bias is not None:
        lif.bias.zero_()
    for b in (linear.bias, getattr(rec, "bias", None)):
        if b is not None:
            lif.bias.add_(b)
    if isinstance(rec, nn.Linear):
        lif.recurrent_weight.copy_(rec.weight)
        lif.recurrent_weight.requires_grad_(rec.weight.requires_grad)
    elif rec is not None:  # one-to-one: spk * V
        v = one_to_one_weight(leaky)
        lif.recurrent_weight.copy_(torch.diag(torch.broadcast_to(v.reshape(-1), (n,))))
        lif.recurrent_weight.requires_grad_(v.requires_grad)
    return lif


def synaptic_mismatch(synaptic: nn.Module) -> Optional[str]:
    """Why ``synaptic`` (an ``snn.Synaptic``) has no exact HetSynLeaky (None when it has one)."""
    if synaptic.reset_mechanism == "zero":
        return (
            "its reset to zero also zeroes the new input of the step after a spike, unlike "
            "HetSyn's zero reset (convert it with reset_mechanism 'subtract' or 'none')"
        )
    for flag in ("inhibition", "state_quant"):
        if getattr(synaptic, flag):
            return f"{flag} is not supported by HetSynLeaky"
    if not synaptic.reset_delay:
        return (
            "reset_delay=False: snnTorch subtracts an extra threshold when the membrane is "
            "still above threshold after the reset, which HetSynLeaky does not reproduce"
        )
    return None


@torch.no_grad()
def synaptic_layer(
    cls,
    linear: nn.Linear,
    synaptic: nn.Module,
    heterogeneity: Optional[str] = None,
    *,
    sequence: Optional[bool] = None,
    decay_parametrization: str = "logit",
    **options,
):
    """The ``cls`` (``snn.HetSynLeaky``, ``call_convention="synaptic"``) equal to ``linear``
    followed by ``synaptic`` (an ``snn.Synaptic``): see
    :meth:`hetsyn_plugins.adapters.snntorch.HetSynLeaky.from_synaptic`.

    Learnable decays, by :func:`leaky_layer`'s rule: ``learn_alpha`` / ``learn_beta`` among
    ``options`` when given; else the Synaptic's own where ``heterogeneity`` keeps its sharing,
    and learnable synaptic decays where it asks for decays the Synaptic did not have; the
    membrane's ``beta`` keeps the Synaptic's learnability."""
    import snntorch

    if not isinstance(linear, nn.Linear) or type(synaptic) is not snntorch.Synaptic:
        raise TypeError(
            "from_synaptic needs an nn.Linear and an snntorch.Synaptic; got "
            f"{type(linear).__name__} and {type(synaptic).__name__}"
        )
    if why := synaptic_mismatch(synaptic):
        raise ValueError(f"from_synaptic cannot take this Synaptic: {why}")
    weight = linear.weight
    # snnTorch clamps both decays into [0, 1] at every step: the values it uses
    alpha, beta = (d.detach().clamp(0, 1).to(weight.dtype) for d in (synaptic.alpha, synaptic.beta))
    host_level = "none" if alpha.numel() == 1 and beta.numel() == 1 else "neuron"
    heterogeneity = host_level if heterogeneity is None else heterogeneity
    learn_alpha = learn_refined(
        options.pop("learn_alpha", None), isinstance(synaptic.alpha, nn.Parameter),
        heterogeneity, host_level,
    )  # fmt: skip
    learn_beta = options.pop("learn_beta", isinstance(synaptic.beta, nn.Parameter))
    n = linear.out_features

    def per_neuron(d: Tensor) -> Tensor:  # (out,), or a scalar for "none"
        if heterogeneity == "none" and d.numel() == 1:
            return d.reshape(())
        return torch.broadcast_to(d.reshape(-1) if d.dim() else d, (n,)).clone()

    alpha, beta = per_neuron(alpha), per_neuron(beta)
    syn_alpha = group_decay(alpha, heterogeneity, "alpha", "Synaptic")
    own_bias = linear.bias is not None and heterogeneity not in SHARED_MODELS
    lif = cls(
        linear.in_features,
        n,
        alpha=syn_alpha,
        beta=beta,
        threshold=synaptic.threshold.detach().clone(),
        spike_grad=synaptic.spike_grad,
        surrogate_disable=synaptic.surrogate_disable,
        init_hidden=synaptic.init_hidden,
        learn_alpha=learn_alpha,
        learn_beta=learn_beta,
        learn_threshold=isinstance(synaptic.threshold, nn.Parameter),
        reset_mechanism=synaptic.reset_mechanism,
        output=synaptic.output,
        graded_spikes_factor=synaptic.graded_spikes_factor.detach().clone(),
        learn_graded_spikes_factor=isinstance(synaptic.graded_spikes_factor, nn.Parameter),
        reset_delay=synaptic.reset_delay,
        heterogeneity=heterogeneity,
        tau_bias=Decay(alpha.expand(n)) if own_bias else None,  # shared: tied to alpha
        bias=linear.bias is not None,
        call_convention="synaptic",
        sequence=sequence,
        decay_parametrization=decay_parametrization,
        device=weight.device,
        dtype=weight.dtype,
        **options,
    )
    lif.weight.copy_(weight)
    if linear.bias is not None:
        lif.bias.copy_(linear.bias)
    return lif
