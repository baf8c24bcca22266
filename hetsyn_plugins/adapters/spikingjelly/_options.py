"""SpikingJelly's option names translated into the core's :class:`~hetsyn_plugins.core.spec.
HetSynSpec` (pure functions, unit-tested).

``neuron.HetSynNode`` takes SpikingJelly's own arguments (``tau`` in steps with the decay
``1 - 1/tau``, ``v_threshold``, ``v_reset``, ``surrogate_function``, ``detach_reset``,
``decay_input``) and every other option of the core layer under the spec's own name (its time
scales in SpikingJelly's sense too); :func:`node_options` makes the spec keywords. What the
node cannot take is listed with the reason (:data:`NODE_EXCLUDED`), and a spec name that
SpikingJelly spells otherwise is refused with the name to use (:data:`NODE_NAMES`).
"""

from __future__ import annotations

from typing import Optional

import torch

from ...core.timescales import Decay, TimescaleInit, TimescaleSpec, as_initializer
from ..pairing import refuse_spec_names

# spec field -> SpikingJelly's argument for it
NODE_NAMES = {
    "tau_syn": "tau",
    "threshold": "v_threshold",
    "reset": "v_reset",
    "spike_fn": "surrogate_function",
}
# spec field -> why the node does not take it
NODE_EXCLUDED = {
    "readout": "a SpikingJelly node spikes; a readout is a layer.Linear or an IFNode/LIFNode "
    "with v_threshold=inf in SpikingJelly",
    "stateful": "the node keeps its state in SpikingJelly memories (functional.reset_net)",
    "reset_timing": "SpikingJelly stores v after the reset: the reset is applied at the spike",
    "dt": "SpikingJelly's time constants are in steps (the decay is 1 - 1/tau)",
}
# the spec's time scales, given in SpikingJelly's sense (steps, decay 1 - 1/tau)
TIMESCALES = ("tau_reset", "tau_rec", "tau_bias", "tau_adapt")


class _StepTau(TimescaleInit):
    """Time constants drawn by ``init`` (in steps), turned into decays SpikingJelly's way.

    SpikingJelly's LIF leaks ``V - V / tau`` per step, i.e. the decay ``r = 1 - 1 / tau``
    (not ``exp(-1 / tau)``); ``tau > 1`` keeps ``r`` in (0, 1).
    """

    def __init__(self, name: str, init: TimescaleInit):
        self.name, self.init = name, init  # the node's argument name, for errors

    def decay(self, name, shape, dt):
        name = self.name
        tau = self.init.sample_tau(shape, name)
        if not bool(torch.all(tau > 1)):
            raise ValueError(
                f"{name} must be > 1 everywhere (SpikingJelly's decay 1 - 1/{name} must lie "
                f"in (0, 1)); got a minimum of {tau.min().item()!r}. Truncate a drawn {name} "
                "above 1, e.g. Normal(20.0, 5.0, low=2.0)"
            )
        return 1.0 - 1.0 / tau

    @property
    def elementwise(self) -> bool:
        return self.init.elementwise


def _step_timescale(name: str, spec: Optional[TimescaleSpec]) -> Optional[TimescaleInit]:
    """A SpikingJelly time scale (``tau`` in steps, or a core initializer) for the core."""
    if spec is None or isinstance(spec, Decay):
        return spec  # decays given directly stay exact
    return _StepTau(name, as_initializer(name, spec))


def node_options(
    tau: TimescaleSpec,
    *,
    v_threshold: float,
    v_reset: Optional[float],
    surrogate_function,
    detach_reset: bool,
    decay_input: bool,
    options: dict,
) -> dict:
    """The :class:`~hetsyn_plugins.core.spec.HetSynSpec` keywords of a ``neuron.HetSynNode``.

    ``v_reset=None`` is the core's ``reset="subtract"``; a float ``c`` its ``"zero"`` reset
    on the potential measured from ``c`` (threshold ``v_threshold - c``); both at the spike.
    ``tau`` and the other time scales are SpikingJelly's (decay ``1 - 1/tau``, see
    :class:`_StepTau`); ``Decay(r)`` gives decays directly.
    """
    refuse_spec_names(options, NODE_NAMES, NODE_EXCLUDED, "neuron.HetSynNode", "SpikingJelly")
    rest = 0.0 if v_reset is None else v_reset
    given = {"tau_adapt": 200.0, **options}  # the core's default, in SpikingJelly's sense
    steps = {name: _step_timescale(name, given[name]) for name in TIMESCALES if name in given}
    return {
        **options,
        **steps,
        "tau_syn": _step_timescale("tau", tau),
        "threshold": v_threshold - rest,
        "reset": "subtract" if v_reset is None else "zero",
        "reset_timing": "at_spike",
        "detach_reset": detach_reset,
        "spike_fn": surrogate_function,
        "decay_input": decay_input,
    }
