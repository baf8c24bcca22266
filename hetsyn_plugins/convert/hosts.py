"""The hosts :func:`hetsyn_plugins.convert` can convert, each by its adapter's pair rules.

A host is active only when its library is already imported (a model can hold its modules only
then), so converting never imports a host that is not installed or not used. The rules
themselves (which neurons have a HetSyn counterpart, the exact layer of a pair) live with
each adapter (``hetsyn_plugins.adapters.<host>._convert.ConvertRules``).
"""

from __future__ import annotations

import importlib
import sys

from ..adapters.pairing import Refusal, plain_linear  # noqa: F401 - the converter's names

# host module -> the adapter module holding its ConvertRules
_HOSTS = {
    "snntorch": "hetsyn_plugins.adapters.snntorch._convert",
    "spikingjelly.activation_based.neuron": "hetsyn_plugins.adapters.spikingjelly._convert",
}


def active_hosts() -> list:
    """The rules of the hosts whose library is imported (a model can only hold modules of
    those)."""
    return [
        importlib.import_module(rules).ConvertRules()
        for module, rules in _HOSTS.items()
        if module in sys.modules
    ]
