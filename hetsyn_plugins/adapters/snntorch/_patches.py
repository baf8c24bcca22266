"""What registering the snnTorch face changes in snnTorch: the classes attached to
``snntorch``, its utilities and class methods made aware of them, and the functions that
cannot take them made to refuse them clearly (see :mod:`hetsyn_plugins.adapters.snntorch`)."""

from __future__ import annotations

import functools

import snntorch
from snntorch._neurons.neurons import SpikingNeuron
from torch import nn

from ..._import_hook import when_imported
from ._faces import HETSYN_MODULES, _HetSynHost


def register() -> None:
    """Attach HetSynLeaky and HetSynLI to ``snntorch`` and hook its utilities (idempotent)."""
    for cls in HETSYN_MODULES:
        setattr(snntorch, cls.__name__, cls)
    _patch_hidden_classmethods()
    when_imported("snntorch.utils", _patch_utils)
    when_imported("snntorch.backprop", _guard_backprop)
    when_imported("snntorch.export_nir", _guard_export_nir)


def _contains_hetsyn(net: object) -> bool:
    return isinstance(net, nn.Module) and any(isinstance(m, HETSYN_MODULES) for m in net.modules())


def _patch(module, name: str, make) -> None:
    """Replace ``module.name`` by ``make(original)`` once (marked, so idempotent)."""
    original = getattr(module, name)
    if getattr(original, "__hetsyn_plugins__", False):
        return
    wrapper = functools.wraps(original)(make(original))
    wrapper.__hetsyn_plugins__ = True
    setattr(module, name, wrapper)


def _host_neuron_classes(cls=SpikingNeuron):
    for sub in cls.__subclasses__():
        if not issubclass(sub, _HetSynHost):
            yield sub
            yield from _host_neuron_classes(sub)


def _patch_hidden_classmethods() -> None:
    """snnTorch's class-level ``reset_hidden()`` / ``detach_hidden()`` (``snn.Leaky.
    reset_hidden()``, as the tutorials call them between batches and in truncated BPTT) act on
    the instances of that class only; a converted model's neurons are HetSyn faces now. The
    patched methods of every snnTorch neuron class also reset / detach every HetSyn face."""
    faces = {"reset_hidden": _HetSynHost.reset_hidden, "detach_hidden": _HetSynHost.detach_hidden}
    for cls in _host_neuron_classes():
        for name, also in faces.items():
            original = cls.__dict__.get(name)
            if not isinstance(original, classmethod):
                continue
            if getattr(original.__func__, "__hetsyn_plugins__", False):
                continue

            def patched(klass, _original=original.__func__, _also=also):
                _original(klass)
                _also()

            functools.update_wrapper(patched, original.__func__)
            patched.__hetsyn_plugins__ = True
            setattr(cls, name, classmethod(patched))


def _patch_utils(utils) -> None:
    def make(original):
        def reset(net):
            original(net)
            if isinstance(net, nn.Module):
                for m in net.modules():
                    if isinstance(m, HETSYN_MODULES):
                        m.reset_mem()

        return reset

    _patch(utils, "reset", make)


def _refuse(what: str, why: str, arg: str):
    """A wrapper maker that refuses networks (first argument, named ``arg``) with HetSyn."""

    def make(original):
        def guarded(*args, **kwargs):
            if _contains_hetsyn(args[0] if args else kwargs.get(arg)):
                raise TypeError(
                    f"{what} cannot take a network containing HetSynLeaky/HetSynLI: {why}"
                )
            return original(*args, **kwargs)

        return guarded

    return make


def _guard_backprop(backprop) -> None:
    # BPTT and RTRL call TBPTT, which detaches states by a hard-coded list of neuron types.
    why = (
        "it detaches hidden states only for snnTorch's own neuron types; write the training "
        "loop directly (snnTorch recommends it; backprop is deprecated)"
    )
    _patch(backprop, "TBPTT", _refuse("snntorch.backprop", why, "net"))


def _guard_export_nir(export_nir) -> None:
    why = "NIR has no neuron with a time constant per synapse (it would be dropped silently)"
    _patch(export_nir, "export_to_nir", _refuse("snntorch.export_nir.export_to_nir", why, "module"))
