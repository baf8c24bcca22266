"""What every adapter shares: the refusal of a pair with no exact HetSyn layer, the test for a
Linear that computes exactly ``nn.Linear``'s forward, the refusal of a spec option a face
spells otherwise or cannot take, and how a host pair's decays become a refined layer's
(:func:`group_decay`, :func:`learn_refined`).

Each adapter owns its host's pair rules (``_pairs`` in its package): which neurons have a
HetSyn counterpart and the exact layer of a Linear -> neuron pair. :func:`hetsyn_plugins.convert`
finds the pairs in a model and calls those rules; imports go convert -> adapters -> core.
"""

from __future__ import annotations

from torch import Tensor, nn

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


def group_decay(decay: Tensor, heterogeneity: str, name: str, host: str) -> Tensor:
    """A host's per-neuron decay ``decay`` (out,) as the initial decay of ``heterogeneity``'s
    groups: every synapse (branch) of neuron j starts at ``decay[j]`` ((out, 1)); one decay
    per input needs one value for the layer (a ValueError naming ``host``'s ``name`` when it
    differs between neurons); a neuron's or a layer's decay stays as it is."""
    if heterogeneity in ("synapse", "branch"):
        return decay[:, None]
    if heterogeneity == "input":
        if not bool((decay == decay[0]).all()):
            raise ValueError(
                f"heterogeneity='input' has one decay per input, but this {host}'s {name} "
                "differs between neurons; convert with 'neuron', 'synapse' or 'branch'"
            )
        return decay[0]
    return decay


def learn_refined(given, host_learns: bool, heterogeneity: str, host_level: str):
    """Whether the decays of a layer built from a host pair learn: ``given`` when it is not
    None; else the host's own learnability (``host_learns``) where ``heterogeneity`` keeps the
    host's sharing (``host_level``: ``"none"`` for one decay, ``"neuron"`` for one per
    neuron), and learnable where it asks for decays the host did not have: decays that never
    move are not what that asks for."""
    if given is not None:
        return given
    return host_learns or heterogeneity != host_level
