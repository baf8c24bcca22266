"""snnTorch adapter: ``snntorch.HetSynLeaky`` (spiking) and ``snntorch.HetSynLI`` (readout).

Each class wraps one core layer (:class:`~hetsyn_plugins.core.layers.HetSynLIF` or
:class:`~hetsyn_plugins.core.layers.HetSynReadout`, attribute ``layer``) and translates
snnTorch's conventions: argument names (``beta``, ``spike_grad``, ``reset_mechanism``,
``reset_delay``, ``init_hidden``, ``output``, ``graded_spikes_factor``), a membrane kept in the
module, ``reset_mem()`` / ``reset_hidden()`` / ``detach_hidden()``, and
``snntorch.utils.reset(net)``. The equations are those of :mod:`hetsyn_plugins.core.dynamics`.

:func:`register` (called by :mod:`hetsyn_plugins._import_hook` when snnTorch is imported)
attaches the classes to ``snntorch`` and makes snnTorch's utilities aware of them:
``utils.reset(net)`` also resets the HetSyn layers inside ``net``, the class methods
``reset_hidden()`` / ``detach_hidden()`` of snnTorch's neurons (``snn.Leaky.reset_hidden()``)
also reset / detach every HetSyn layer; ``backprop`` (``BPTT``,
``TBPTT``, ``RTRL``) and ``export_nir.export_to_nir`` raise a clear ``TypeError`` for a network
that contains one, instead of silently not detaching or dropping it.

The face is split by what it owns: the neuron classes (:mod:`._faces`), the rules by which
snnTorch's state arguments are read (:mod:`._state_args`, pure functions), the exact layer of
a Linear -> Leaky / RLeaky pair and what :func:`hetsyn_plugins.convert` asks of snnTorch
(:mod:`._pairs`), and the changes made to snnTorch when registering (:mod:`._patches`).
"""

from __future__ import annotations

from ._faces import HETSYN_MODULES, HetSynLeaky, HetSynLI  # noqa: F401 - the converter reads it
from ._patches import register

__all__ = ["HetSynLeaky", "HetSynLI", "register"]

for _cls in (HetSynLeaky, HetSynLI):
    _cls.__module__ = __name__  # the public name (documented here, pickled by it)

# Importing this module imports snnTorch: register now (idempotent), so that importing the adapter
# before the host, or with the autoload turned off, still registers it.
register()
