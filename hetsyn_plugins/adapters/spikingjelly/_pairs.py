"""SpikingJelly's pair rules: the exact ``neuron.HetSynNode`` of a Linear followed by a
``LIFNode`` or ``ParametricLIFNode`` (behind :meth:`HetSynNode.from_linear_lif
<hetsyn_plugins.adapters.spikingjelly.HetSynNode.from_linear_lif>`).
"""

from __future__ import annotations

import torch
from torch import nn

from ...core.spec import SHARED_MODELS
from ...core.timescales import Decay
from ..pairing import group_decay, learn_refined


def _node_keywords(linear: nn.Linear, node: nn.Module) -> dict:
    """The HetSynNode keywords that a SpikingJelly node's own settings give as they are."""
    names = ("v_threshold", "v_reset", "surrogate_function", "detach_reset", "step_mode",
             "store_v_seq")  # fmt: skip
    return {**{n: getattr(node, n) for n in names}, "device": linear.weight.device,
            "dtype": linear.weight.dtype}  # fmt: skip


def _copy_linear(new: nn.Module, linear: nn.Linear) -> None:
    """The Linear's weights (and bias) into the node's core layer."""
    new.layer.weight.copy_(linear.weight)
    if linear.bias is not None:
        new.layer.bias.copy_(linear.bias)


def linear_lif_node(
    cls, linear: nn.Linear, node: nn.Module, heterogeneity: str = "none", **kwargs
):
    """The ``cls`` (``neuron.HetSynNode``) equal to ``linear`` followed by ``node`` (a
    ``LIFNode`` or ``ParametricLIFNode``): see
    :meth:`hetsyn_plugins.adapters.spikingjelly.HetSynNode.from_linear_lif`.

    Learnable decays: ``learn_decays`` among ``kwargs`` when given; else the node's own
    (``ParametricLIFNode`` learns its decay, ``LIFNode`` does not) with
    ``heterogeneity="none"``, which keeps its one decay, and learnable with any other level,
    which asks for decays the node did not have: decays that never move are not what that
    asks for. ``convert`` passes the node's own and applies its ``learn_decays`` itself.
    """
    from spikingjelly.activation_based.neuron import LIFNode, ParametricLIFNode

    if not isinstance(linear, nn.Linear):
        raise TypeError(f"linear must be an nn.Linear; got {type(linear).__name__}")
    if isinstance(node, ParametricLIFNode):
        w = node.w.detach().to(torch.float64)
        decay, learn = Decay(torch.sigmoid(-w)), True
    elif isinstance(node, LIFNode):
        decay, learn = Decay(1.0 - 1.0 / node.tau), False
    else:
        raise TypeError(
            "node must be a SpikingJelly LIFNode or ParametricLIFNode; "
            f"got {type(node).__name__}"
        )
    learn_decays = learn_refined(kwargs.pop("learn_decays", None), learn, heterogeneity, "none")
    tau_reset = None
    if heterogeneity != "none":  # the same decay for every neuron (and each of its synapses)
        rho = decay.decay("tau", (linear.out_features,), 1.0)
        decay = Decay(group_decay(rho, heterogeneity, "tau", type(node).__name__))
        tau_reset = Decay(rho) if heterogeneity not in SHARED_MODELS else None
    new = cls(
        linear.in_features,
        linear.out_features,
        decay,
        heterogeneity=heterogeneity,
        tau_reset=tau_reset,
        bias=linear.bias is not None,
        learn_decays=learn_decays,
        decay_input=node.decay_input,
        **_node_keywords(linear, node),
        **kwargs,
    )
    with torch.no_grad():
        _copy_linear(new, linear)
        decay = new.layer.decays["membrane"] if heterogeneity == "none" else None
        if learn and learn_decays and decay is not None and decay.parametrization == "logit":
            decay.raw.copy_(-node.w)  # sigmoid(-w) from w itself, not from its rounding
    return new


def cuba_mismatch(node: nn.Module) -> str | None:
    """Why a ``CUBALIFNode`` has no exact HetSynNode (None when it has one)."""
    if node.v_reset not in (None, 0.0):
        return (
            f"its membrane leaks towards 0 but resets to v_reset={node.v_reset!r}; a HetSynNode "
            "with a hard reset to c rests at c (exact for v_reset None or 0.0)"
        )
    for name in ("c_decay", "v_decay"):
        value = getattr(node, name)
        if not (isinstance(value, (int, float)) and 0 < value < 1):
            return f"{name} must be a number in the open interval (0, 1); got {value!r}"
    return None


def linear_cuba_node(
    cls, linear: nn.Linear, node: nn.Module, heterogeneity: str = "none", **kwargs
):
    """The ``cls`` (``neuron.HetSynNode``) equal to ``linear`` followed by a ``CUBALIFNode``
    (``c = c_decay c + W x + b``, ``v = v_decay v + c``, then the spike and its reset): every
    synaptic decay ``c_decay`` (the bias current's too), the membrane leak ``v_decay``, no
    input scaling; see :meth:`hetsyn_plugins.adapters.spikingjelly.HetSynNode.from_linear_lif`.

    Learnable decays, by :func:`linear_lif_node`'s rule: ``learn_decays`` /
    ``learn_membrane_decay`` among ``kwargs`` when given; else the node's own (fixed) with
    ``heterogeneity="none"``, and learnable synaptic decays with any finer level (the decays
    the node did not have); the leak stays fixed, as ``v_decay`` is."""
    if not isinstance(linear, nn.Linear):
        raise TypeError(f"linear must be an nn.Linear; got {type(linear).__name__}")
    if why := cuba_mismatch(node):
        raise ValueError(f"from_linear_lif cannot take this CUBALIFNode: {why}")
    own_bias = linear.bias is not None and heterogeneity not in SHARED_MODELS
    learn_decays = learn_refined(kwargs.pop("learn_decays", None), False, heterogeneity, "none")
    new = cls(
        linear.in_features,
        linear.out_features,
        Decay(float(node.c_decay)),
        heterogeneity=heterogeneity,
        membrane_decay=Decay(float(node.v_decay)),
        tau_bias=Decay(float(node.c_decay)) if own_bias else None,
        bias=linear.bias is not None,
        learn_decays=learn_decays,
        learn_membrane_decay=kwargs.pop("learn_membrane_decay", False),
        decay_input=False,
        **_node_keywords(linear, node),
        **kwargs,
    )
    with torch.no_grad():
        _copy_linear(new, linear)
    return new
