"""What :func:`hetsyn_plugins.convert` asks of snnTorch: :class:`ConvertRules` (which modules are
its neurons, which pairs have an exact HetSyn layer, and that layer, by the adapter's pair
rules in :mod:`._pairs`).
"""

from __future__ import annotations

from torch import nn

from ..pairing import Refusal, leaky_decay
from ._pairs import rleaky_mismatch, synaptic_mismatch


class ConvertRules:
    """snnTorch: ``nn.Linear`` + ``snn.Leaky`` (``snn.RLeaky``, ``snn.Synaptic``) ->
    ``snn.HetSynLeaky``."""

    name = "snntorch"

    def __init__(self):
        import snntorch
        from snntorch._neurons.neurons import SpikingNeuron

        from . import _faces as adapter

        self.snn, self.adapter = snntorch, adapter
        self.neuron_types = (SpikingNeuron, adapter.HetSynLI)
        self.chains = ()  # nn.Sequential subclasses that chain their children

    def is_hetsyn(self, module: nn.Module) -> bool:
        return isinstance(module, self.adapter.HETSYN_MODULES)

    def wrapped_linear(self, module: nn.Module) -> nn.Linear | None:
        return None

    def build(
        self, linear: nn.Linear, neuron: nn.Module, heterogeneity: str, parametrization, **options
    ):
        snn = self.snn
        kind = type(neuron)
        if kind is snn.Synaptic:
            return self._build_synaptic(linear, neuron, heterogeneity, parametrization, options)
        if kind is snn.RLeaky:
            self._check_rleaky(neuron, linear.out_features)
        elif kind is not snn.Leaky:
            raise Refusal(
                f"{kind.__name__} has no HetSyn counterpart (snn.Leaky, snn.RLeaky and "
                "snn.Synaptic are converted)"
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
        leaky_decay("beta", beta)
        if heterogeneity == "none" and beta.numel() > 1:
            raise Refusal(
                "heterogeneity='none' needs one beta for the layer; this Leaky has one per "
                "neuron (convert with heterogeneity 'neuron' or 'synapse')"
            )
        # the model's own forward calls it per step, with the Leaky's (B, *, features)
        self._check_one_beta(heterogeneity, beta)
        # built with the Leaky's own learnability: convert applies its learn_decays itself
        new = self.adapter.HetSynLeaky.from_leaky(
            linear, neuron, heterogeneity, sequence=False, decay_parametrization=parametrization,
            learn_beta=isinstance(neuron.beta, nn.Parameter), **options,
        )  # fmt: skip
        return new, new.layer

    @staticmethod
    def _check_one_beta(heterogeneity: str, beta) -> None:
        one = beta.numel() == 1 or bool((beta == beta.flatten()[0]).all())
        if heterogeneity == "input" and not one:
            raise Refusal(
                "heterogeneity='input' has one decay per input; this neuron's decay differs "
                "between neurons (convert with 'neuron', 'synapse' or 'branch')"
            )

    def _build_synaptic(self, linear, neuron, heterogeneity: str, parametrization, options):
        if why := synaptic_mismatch(neuron):
            raise Refusal(f"snn.Synaptic: {why}")
        for name in ("alpha", "beta"):  # snnTorch clamps them into [0, 1]
            leaky_decay(name, getattr(neuron, name).detach().clamp(0, 1))
        if heterogeneity == "none" and (neuron.alpha.numel() > 1 or neuron.beta.numel() > 1):
            raise Refusal(
                "heterogeneity='none' needs one alpha and one beta for the layer; this "
                "Synaptic has one per neuron (convert with heterogeneity 'neuron' or 'synapse')"
            )
        self._check_one_beta(heterogeneity, neuron.alpha.detach())
        # built with the Synaptic's own learnability: convert applies its learn_decays itself
        new = self.adapter.HetSynLeaky.from_synaptic(
            linear, neuron, heterogeneity, sequence=False, decay_parametrization=parametrization,
            learn_alpha=isinstance(neuron.alpha, nn.Parameter), **options,
        )  # fmt: skip
        return new, new.layer

    def _check_rleaky(self, neuron: nn.Module, n: int) -> None:
        # init_hidden True or False: the recurrent HetSynLeaky takes RLeaky's (input, spk, mem)
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
