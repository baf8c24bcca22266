"""Which path a layer call takes, and why: :func:`explain` (public as
:func:`hetsyn_plugins.kernels.explain`).

It asks the same questions as the dispatcher (:func:`.choose_kernel`, the fused loops'
:func:`.fused.applicable`, the feedforward scan's own check), on the layer's parameters and
a zero state, without running the layer.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from . import choose_kernel, fused, scan


class Explanation(NamedTuple):
    """The path of one call: the kernel asked for and the one that runs, what computes the
    feedforward drive, what runs the rest of the layer, and why any faster part is not taken."""

    requested: str
    kernel: str
    feedforward: str
    layer_loop: str
    reasons: tuple[str, ...]

    def __str__(self) -> str:
        lines = [
            f"kernel: {self.kernel}"
            + (f" (asked: {self.requested})" if self.requested != self.kernel else ""),
            f"feedforward drive: {self.feedforward}",
            f"rest of the layer: {self.layer_loop}",
        ]  # fmt: skip
        lines += [f"why not faster: {r}" for r in self.reasons]
        return "\n".join(lines)


def _core_layer(layer):
    """The core layer (:class:`~hetsyn_plugins.core.layers.HetSynLIF` / ``HetSynReadout``) of
    a core layer or of a host face that wraps one (``.layer``)."""
    inner = getattr(layer, "layer", None)
    core = layer if hasattr(layer, "params") and hasattr(layer, "kernel") else inner
    if core is None or not (hasattr(core, "params") and hasattr(core, "kernel")):
        raise TypeError(
            "explain() takes a HetSynLIF / HetSynReadout layer or a host face of one "
            f"(snn.HetSynLeaky, neuron.HetSynNode, ...); got {type(layer).__name__}"
        )
    return core


def explain(layer, x: Tensor) -> Explanation:
    """Which path ``layer`` takes on input ``x`` and why (nothing is run).

    ``x``: a whole sequence (T, B, in) or one step (B, in), on the device and in the dtype the
    call would use. ``str()`` of the result is a short report::

        >>> print(hetsyn_plugins.kernels.explain(layer, x))
        kernel: scan (asked: auto)
        feedforward drive: fused numba scan of the per-synapse currents (kernels.scan)
        rest of the layer: fused numba loop, one call for the whole sequence (kernels.fused)
    """
    core = _core_layer(layer)
    if not isinstance(x, Tensor) or x.dim() not in (2, 3):
        raise ValueError(
            f"x must be a tensor (T, B, in) or (B, in); got {getattr(x, 'shape', type(x).__name__)}"
        )
    x = core._check_sequence(x) if x.dim() == 3 else core._check_step(x)  # as the call does
    readout = getattr(core, "_readout", False)
    spike_fn = None if readout else core.spike_fn
    with torch.no_grad():
        params = core.params()
        batch = x.shape[-2]
        state = core._start(params, None, batch)
    reasons = []
    if x.dim() == 2:
        return _explain_step(core, x, params, reasons)
    kernel = choose_kernel(core.kernel, x, params, state)
    if kernel == "reference":
        text = "the update rule step by step with plain autograd (a (B, out, in) tensor per step)"
        return Explanation(core.kernel, kernel, text, text, ())
    if not params.layout.per_synapse:
        feedforward = f"{params.layout.drive}, for all steps ({params.layout.name} layout)"
    elif kernel == "scan":
        if scan._fused(x, params.weight, params.syn_decay, state.syn):
            feedforward = "fused numba scan of the per-synapse currents (kernels.scan)"
        else:
            feedforward = "torch loop over the steps (kernels.scan, no numba loops)"
            reasons.append(scan.unfused_reason(x, params.weight, params.syn_decay, state.syn))
    elif kernel == "fft":
        feedforward = "FFT filter of the whole sequence (kernels.fft_filter)"
    else:
        feedforward = "Triton scan of the per-synapse currents (kernels.triton_scan)"
    drive = x.new_empty(x.shape[0], batch, params.out_features)
    if kernel in ("scan", "triton"):
        reason = fused.applicable(kernel, drive, params, state, spike_fn)
    else:
        reason = f"kernel={kernel!r} has no fused layer loop"
    if reason is None:
        backend = "numba" if kernel == "scan" else "Triton"
        loop = f"fused {backend} loop, one call for the whole sequence (kernels.fused)"
    else:
        loop = "the update rule step by step, from the precomputed drive (kernels.fused twins)"
        reasons.append(reason)
    return Explanation(core.kernel, kernel, feedforward, loop, tuple(reasons))


def _explain_step(core, x: Tensor, params, reasons: list) -> Explanation:
    if core.kernel == "reference":
        text = "the update rule for one step with plain autograd"
        return Explanation(core.kernel, "reference", text, text, ())
    if not params.layout.per_synapse:
        return Explanation(
            core.kernel, core.kernel, f"{params.layout.drive} ({params.layout.name} layout)",
            "the update rule for one step (torch operations)", (),
        )  # fmt: skip
    if scan._fused(x, params.weight, params.syn_decay):
        feedforward = "memory-flat per-step path, fused numba loop (kernels.stepwise)"
    else:
        feedforward = "memory-flat per-step path, torch operations (kernels.stepwise)"
        reasons.append(scan.unfused_reason(x, params.weight, params.syn_decay))
    return Explanation(
        core.kernel, core.kernel, feedforward,
        "the update rule for one step (torch operations; recurrent currents as the feedforward)",
        tuple(reasons),
    )  # fmt: skip

