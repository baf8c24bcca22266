"""Per-host rules: which modules are spiking neurons, and the exact HetSyn layer of a pair.

A host is active only when its library is already imported (a model can hold its modules only
then), so converting never imports a host that is not installed or not used.
"""

from __future__ import annotations

import sys

from torch import nn

from ..core.validation import check_decay


class Refusal(Exception):
    """A Linear -> neuron pair with no exact HetSyn equivalent; ``str()`` is the reason."""


def plain_linear(module: nn.Module) -> bool:
    """An ``nn.Linear`` (or a subclass such as SpikingJelly's ``layer.Linear``) that computes
    exactly ``nn.Linear``'s forward."""
    return isinstance(module, nn.Linear) and type(module).forward is nn.Linear.forward


def _check_decay(name: str, decay: object) -> None:
    try:
        check_decay(name, decay)
    except ValueError as exc:
        raise Refusal(f"{exc} (a HetSyn synapse leaks)") from None


class SnnTorchHost:
    """snnTorch: ``nn.Linear`` + ``snn.Leaky`` (or ``snn.RLeaky``) -> ``snn.HetSynLeaky``."""

    name = "snntorch"

    def __init__(self):
        import snntorch
        from snntorch._neurons.neurons import SpikingNeuron

        from ..adapters import snntorch as adapter

        self.snn, self.adapter = snntorch, adapter
        self.neuron_types = (SpikingNeuron, adapter.HetSynLI)
        self.chains = ()  # nn.Sequential subclasses that chain their children

    def is_hetsyn(self, module: nn.Module) -> bool:
        return isinstance(module, self.adapter.HETSYN_MODULES)

    def wrapped_linear(self, module: nn.Module) -> nn.Linear | None:
        return None

    def build(self, linear: nn.Linear, neuron: nn.Module, heterogeneity: str, parametrization):
        snn = self.snn
        kind = type(neuron)
        if kind is snn.Synaptic:
            raise Refusal(
                "snn.Synaptic filters its input twice (synaptic current decaying by alpha, then "
                "membrane by beta): a difference of two exponentials per synapse, which one "
                "exponential per synapse does not reproduce (with alpha = 0 it is an snn.Leaky "
                "with a (input, syn, mem) call: rebuild it as one to convert it)"
            )
        if kind is snn.RLeaky:
            self._check_rleaky(neuron, linear.out_features)
        elif kind is not snn.Leaky:
            raise Refusal(
                f"{kind.__name__} has no HetSyn counterpart (snn.Leaky and snn.RLeaky are "
                "converted)"
            )
        for flag in ("inhibition", "state_quant"):
            if getattr(neuron, flag):
                raise Refusal(f"{flag} is not supported by HetSynLeaky")
        if not neuron.reset_delay:
            raise Refusal(
                "reset_delay=False: snnTorch subtracts an extra threshold when the membrane is "
                "still above threshold after the reset, which HetSynLeaky does not reproduce"
            )
        beta = neuron.beta.detach()
        _check_decay("beta", beta)
        if heterogeneity == "none" and beta.numel() > 1:
            raise Refusal(
                "heterogeneity='none' needs one beta for the layer; this Leaky has one per "
                "neuron (convert with heterogeneity 'neuron' or 'synapse')"
            )
        # the model's own forward calls it per step, with the Leaky's (B, *, features)
        new = self.adapter.HetSynLeaky.from_leaky(
            linear, neuron, heterogeneity, sequence=False, decay_parametrization=parametrization
        )
        return new, new.layer

    def _check_rleaky(self, neuron: nn.Module, n: int) -> None:
        # init_hidden True or False: the recurrent HetSynLeaky takes RLeaky's (input, spk, mem)
        from .pairs import rleaky_mismatch

        why = rleaky_mismatch(neuron, n)
        if why:
            raise Refusal(f"snn.RLeaky: {why}")

    def finish(self, model: nn.Module, copied: bool) -> None:
        if copied:  # deepcopy skips __init__: list the copies so reset_hidden() reaches them
            instances = self.snn._neurons.neurons.SpikingNeuron.instances
            listed = set(instances)  # modules compare and hash by identity
            instances.extend(
                m for m in model.modules() if isinstance(m, self.neuron_types) and m not in listed
            )


class SpikingJellyHost:
    """SpikingJelly: ``layer.Linear``/``nn.Linear`` + ``LIFNode``/``ParametricLIFNode`` ->
    ``neuron.HetSynNode``."""

    name = "spikingjelly"

    def __init__(self):
        from spikingjelly.activation_based import functional, layer, neuron

        from ..adapters import spikingjelly as adapter

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
            _check_decay(f"the decay 1 - 1/tau of tau={node.tau!r}", 1.0 - 1.0 / node.tau)
        new = self.adapter.HetSynNode.from_linear_lif(
            linear, node, heterogeneity, decay_parametrization=parametrization
        )
        return new, new.layer

    def finish(self, model: nn.Module, copied: bool) -> None:
        self.functional.invalidate_reset_cache(model)  # reset_net caches the module list


_HOSTS = {"snntorch": SnnTorchHost, "spikingjelly.activation_based.neuron": SpikingJellyHost}


def active_hosts() -> list:
    """The hosts whose library is imported (a model can only hold modules of those)."""
    return [make() for module, make in _HOSTS.items() if module in sys.modules]
