"""SpikingJelly's pair rules: the exact ``neuron.HetSynNode`` of a Linear followed by a
``LIFNode`` or ``ParametricLIFNode`` (behind :meth:`HetSynNode.from_linear_lif
<hetsyn_plugins.adapters.spikingjelly.HetSynNode.from_linear_lif>`), and
:class:`ConvertRules`, what :func:`hetsyn_plugins.convert` asks of this host.
"""

from __future__ import annotations

import torch
from torch import nn

from ...core.timescales import Decay
from ..pairing import Refusal, leaky_decay, plain_linear



def linear_lif_node(
    cls, linear: nn.Linear, node: nn.Module, heterogeneity: str = "none", **kwargs
):
    """The ``cls`` (``neuron.HetSynNode``) equal to ``linear`` followed by ``node`` (a
    ``LIFNode`` or ``ParametricLIFNode``): see
    :meth:`hetsyn_plugins.adapters.spikingjelly.HetSynNode.from_linear_lif`."""
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
    tau_reset = None
    if heterogeneity != "none":  # the same decay for every neuron (and each of its synapses)
        rho = decay.decay("tau", (linear.out_features,), 1.0)
        decay = Decay(rho[:, None] if heterogeneity == "synapse" else rho)
        tau_reset = Decay(rho) if heterogeneity == "synapse" else None
    new = cls(
        linear.in_features,
        linear.out_features,
        decay,
        heterogeneity=heterogeneity,
        tau_reset=tau_reset,
        bias=linear.bias is not None,
        learn_decays=learn,
        decay_input=node.decay_input,
        v_threshold=node.v_threshold,
        v_reset=node.v_reset,
        surrogate_function=node.surrogate_function,
        detach_reset=node.detach_reset,
        step_mode=node.step_mode,
        store_v_seq=node.store_v_seq,
        device=linear.weight.device,
        dtype=linear.weight.dtype,
        **kwargs,
    )
    with torch.no_grad():
        new.layer.weight.copy_(linear.weight)
        if linear.bias is not None:
            new.layer.bias.copy_(linear.bias)
        decay = new.layer.decays["membrane"] if heterogeneity == "none" else None
        if learn and decay is not None and decay.parametrization == "logit":
            decay.raw.copy_(-node.w)  # sigmoid(-w) from w itself, not from its rounding
    return new


class ConvertRules:
    """SpikingJelly: ``layer.Linear``/``nn.Linear`` + ``LIFNode``/``ParametricLIFNode`` ->
    ``neuron.HetSynNode``."""

    name = "spikingjelly"

    def __init__(self):
        from spikingjelly.activation_based import functional, layer, neuron

        from . import _node as adapter

        self.functional, self.neuron, self.adapter = functional, neuron, adapter
        self.neuron_types = (neuron.BaseNode,)
        self.containers = self.chains = (layer.SeqToANNContainer, layer.MultiStepContainer)

    def is_hetsyn(self, module: nn.Module) -> bool:
        return isinstance(module, self.adapter.HetSynNode)

    def wrapped_linear(self, module: nn.Module) -> nn.Linear | None:
        """The Linear of ``SeqToANNContainer(Linear)`` / ``MultiStepContainer(Linear)``."""
        if type(module) in self.containers and len(module) == 1 and plain_linear(module[0]):
            return module[0]
        return None

    def build(self, linear: nn.Linear, node: nn.Module, heterogeneity: str, parametrization):
        if type(node) not in (self.neuron.LIFNode, self.neuron.ParametricLIFNode):
            raise Refusal(
                f"{type(node).__name__} has no HetSyn counterpart (LIFNode and "
                "ParametricLIFNode are converted)"
            )
        if type(node) is self.neuron.LIFNode:
            leaky_decay(f"the decay 1 - 1/tau of tau={node.tau!r}", 1.0 - 1.0 / node.tau)
        new = self.adapter.HetSynNode.from_linear_lif(
            linear, node, heterogeneity, decay_parametrization=parametrization
        )
        return new, new.layer

    def finish(self, model: nn.Module, copied: bool) -> None:
        self.functional.invalidate_reset_cache(model)  # reset_net caches the module list
