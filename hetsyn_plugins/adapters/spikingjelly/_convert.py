"""What :func:`hetsyn_plugins.convert` asks of SpikingJelly: :class:`ConvertRules` (which
modules are its neurons, which pairs have an exact HetSyn layer, and that layer, by the
adapter's pair rules in :mod:`._pairs`).
"""

from __future__ import annotations

from torch import nn

from ..pairing import Refusal, leaky_decay, plain_linear
from ._pairs import cuba_mismatch


class ConvertRules:
    """SpikingJelly: ``layer.Linear``/``nn.Linear`` + ``LIFNode``/``ParametricLIFNode``/
    ``CUBALIFNode`` -> ``neuron.HetSynNode``."""

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

    def build(
        self, linear: nn.Linear, node: nn.Module, heterogeneity: str, parametrization, **options
    ):
        kinds = (self.neuron.LIFNode, self.neuron.ParametricLIFNode, self.neuron.CUBALIFNode)
        if type(node) not in kinds:
            raise Refusal(
                f"{type(node).__name__} has no HetSyn counterpart (LIFNode, ParametricLIFNode "
                "and CUBALIFNode are converted)"
            )
        if type(node) is self.neuron.CUBALIFNode and (why := cuba_mismatch(node)):
            raise Refusal(f"CUBALIFNode: {why}")
        if type(node) is self.neuron.LIFNode:
            leaky_decay(f"the decay 1 - 1/tau of tau={node.tau!r}", 1.0 - 1.0 / node.tau)
        # built with the node's own learnability: convert applies its learn_decays itself
        options["learn_decays"] = type(node) is self.neuron.ParametricLIFNode
        new = self.adapter.HetSynNode.from_linear_lif(
            linear, node, heterogeneity, decay_parametrization=parametrization, **options
        )
        return new, new.layer

    def finish(self, model: nn.Module, copied: bool) -> None:
        self.functional.invalidate_reset_cache(model)  # reset_net caches the module list
