"""SpikingJelly adapter: ``spikingjelly.activation_based.neuron.HetSynNode``.

:class:`HetSynNode` is a SpikingJelly ``BaseNode`` with a core
:class:`~hetsyn_plugins.core.layers.HetSynLIF` inside; it translates SpikingJelly's
conventions (``v_threshold``, ``v_reset``, ``surrogate_function``, ``detach_reset``,
``step_mode``, ``store_v_seq``, memories, ``tau`` in steps) into the core's. The equations are
those of :mod:`hetsyn_plugins.core.dynamics`.

The face is split by what it owns: the node (:mod:`._node`) and the exact node of a Linear ->
LIFNode / ParametricLIFNode pair with what :func:`hetsyn_plugins.convert` asks of SpikingJelly
(:mod:`._pairs`). :func:`register` (called by :mod:`hetsyn_plugins._import_hook` when
SpikingJelly's ``neuron`` module is imported) attaches the class to it.
"""

from __future__ import annotations

from ._node import HetSynNode, register

__all__ = ["HetSynNode", "register"]

HetSynNode.__module__ = __name__  # the public name (documented here, pickled by it)
