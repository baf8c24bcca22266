"""What every adapter shares: the refusal of a pair with no exact HetSyn layer, the test for a
Linear that computes exactly ``nn.Linear``'s forward, and the refusal of a spec option a face
spells otherwise or cannot take.

Each adapter owns its host's pair rules (``_pairs`` in its package): which neurons have a
HetSyn counterpart and the exact layer of a Linear -> neuron pair. :func:`hetsyn_plugins.convert`
finds the pairs in a model and calls those rules; imports go convert -> adapters -> core.
"""

from __future__ import annotations

from torch import nn

from ..core.validation import check_decay


class Refusal(Exception):
    """A Linear -> neuron pair with no exact HetSyn equivalent; ``str()`` is the reason."""


def plain_linear(module: nn.Module) -> bool:
    """An ``nn.Linear`` (or a subclass such as SpikingJelly's ``layer.Linear``) that computes
    exactly ``nn.Linear``'s forward."""
    return isinstance(module, nn.Linear) and type(module).forward is nn.Linear.forward


def leaky_decay(name: str, decay: object) -> None:
    """Refuse a pair whose decay is not in (0, 1) (a HetSyn synapse always leaks)."""
    try:
        check_decay(name, decay)
    except ValueError as exc:
        raise Refusal(f"{exc} (a HetSyn synapse leaks)") from None


def refuse_spec_names(options: dict, names: dict, excluded: dict, face: str, host: str) -> None:
    """Refuse the spec options ``face`` takes under ``host``'s own name (``names``: spec field
    -> the host's argument) or not at all (``excluded``: spec field -> why), naming either."""
    for name in options:
        if name in names:
            raise TypeError(
                f"{face} takes {host}'s {names[name]!r} for the core's {name!r}; got {name}="
                f"{options[name]!r}"
            )
        if name in excluded:
            raise TypeError(f"{face} does not take {name!r}: {excluded[name]}")
