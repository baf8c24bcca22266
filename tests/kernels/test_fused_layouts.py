"""The fused whole-sequence loops of the per-input and branch layouts and of the leaky
membrane against their pure-torch twins (one signature), from a state with gradients:
forward, final state and every gradient (float64)."""

from __future__ import annotations

import pytest
import torch

from hetsyn_plugins.core import HetSynLIF, HetSynReadout, Normal
from hetsyn_plugins.core.kernels import fused, scan

from ..conftest import assert_all_close, bernoulli

T, B, N_IN, N_OUT = 40, 3, 7, 5
F64 = torch.float64

INPUT = [
    {},
    {"recurrent": True},
    {"recurrent": True, "reset": "zero", "adaptation": True},
    {"reset_timing": "at_spike", "decay_input": True, "recurrent": True},
    {"membrane_decay": 0.85, "adaptation": True},
    {"membrane_decay": 0.85, "reset": "zero", "bias": False},
]
BRANCH = [
    {"branches": 3},
    {"branches": 3, "recurrent": True},
    {"branches": 4, "branch_assignment": "random", "recurrent": True, "adaptation": True},
    {"branches": 2, "decay_input": True, "reset": "none", "recurrent": True},
    {"branches": 3, "membrane_decay": 0.8, "reset_timing": "at_spike"},
]
LEAKY = [
    {"membrane_decay": 0.9},
    {"membrane_decay": 0.9, "reset_timing": "at_spike", "adaptation": True},
    {"membrane_decay": 0.9, "reset": "zero", "tau_bias": 4.0},
    {"heterogeneity": "neuron", "membrane_decay": 0.8},
    {"heterogeneity": "none", "membrane_decay": 0.8, "reset": "zero", "adaptation": True},
]

pytestmark = pytest.mark.skipif(not scan.have_numba(), reason="numba is not installed")


def _layer(options, heterogeneity=None, cls=HetSynLIF):
    torch.manual_seed(0)
    options = dict(options)
    if heterogeneity:
        options["heterogeneity"] = heterogeneity
    tau = 8.0 if options.get("heterogeneity") == "none" else Normal(8, 3)
    layer = cls(N_IN, N_OUT, tau_syn=tau, dtype=F64, threshold=1.0, **options)
    with torch.no_grad():
        layer.weight.mul_(3.0)
    return layer


def _warm_state(layer):
    warm = layer.run(bernoulli((6, B, N_IN), p=0.5, seed=1)).state
    return type(warm)(*(t if t is None else t.detach().requires_grad_(True) for t in warm))


def _grads(kernel, layer, x, start, spike_fn):
    x = x.clone().requires_grad_(True)
    params = layer.params()
    if params.layout.sequence_drive is None:  # per-synapse: the summed currents of a scan
        drive = scan.feedforward_scan_ref(x, params.weight, params.syn_decay, start.syn)[0]
    else:
        drive = params.layout.sequence_drive(x, params)
    args = (drive, params, start) + (() if spike_fn is False else (spike_fn, layer.config))
    *seqs, final = kernel(*args)
    loss = sum((s * torch.linspace(-1, 1, s.numel(), dtype=F64).view_as(s)).sum() for s in seqs)
    loss = loss + sum(0.1 * t.sum() for t in final.tensors() if t is not None)
    leaves = [x, *layer.parameters(), *(t for t in start.tensors() if t is not None)]
    return seqs, final, torch.autograd.grad(loss, leaves, allow_unused=True)


def _assert_twins(kernel, twin, layer, spike_fn, spiking=True):
    start = _warm_state(layer)
    x = bernoulli((T, B, N_IN), p=0.5, seed=2)
    seqs, final, grads = _grads(kernel, layer, x, start, spike_fn)
    ref_seqs, ref_final, ref_grads = _grads(twin, layer, x, start, spike_fn)
    if spiking:
        assert 0 < ref_seqs[0].sum() < ref_seqs[0].numel()
        assert torch.equal(seqs[0], ref_seqs[0])
    assert_all_close(seqs, ref_seqs, rtol=1e-11, atol=1e-12)
    assert final.shapes() == ref_final.shapes()
    assert_all_close(final.tensors(), ref_final.tensors(), rtol=1e-11, atol=1e-12)
    assert_all_close(grads, ref_grads, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("options", INPUT, ids=str)
def test_input_scan_equals_its_twin(options):
    layer = _layer(options, "input")
    if fused.applicable("scan", torch.zeros(1, B, N_OUT, dtype=F64), layer.params(),
                        _warm_state(layer), layer.spike_fn):  # fmt: skip
        pytest.fail("the fused loop should apply")
    _assert_twins(fused.input_scan, fused.input_scan_ref, layer, layer.spike_fn)


@pytest.mark.parametrize("options", BRANCH, ids=str)
def test_branch_scan_equals_its_twin(options):
    layer = _layer(options, "branch")
    _assert_twins(fused.branch_scan, fused.branch_scan_ref, layer, layer.spike_fn)


@pytest.mark.parametrize("options", LEAKY, ids=str)
def test_leaky_membrane_loops_equal_their_twins(options):
    layer = _layer(options)
    loop = fused.SPIKING_LOOPS[layer.layout]
    _assert_twins(loop, fused.spiking_scan_ref, layer, layer.spike_fn)


@pytest.mark.parametrize(
    "heterogeneity, loop, twin",
    [("input", fused.input_readout_scan, fused.readout_scan_ref),
     ("branch", fused.branch_readout_scan, fused.readout_scan_ref)],
)  # fmt: skip
def test_readout_loops_equal_their_twins(heterogeneity, loop, twin):
    options = {"branches": 3} if heterogeneity == "branch" else {}
    layer = _layer(options, heterogeneity, cls=HetSynReadout)
    _assert_twins(loop, twin, layer, False, spiking=False)


def test_leaky_recurrent_layer_steps_with_a_reason():
    layer = _layer({"membrane_decay": 0.9, "recurrent": True})
    params = layer.params()
    reason = fused.applicable("scan", torch.zeros(2, B, N_OUT, dtype=F64), params,
                              _warm_state(layer), layer.spike_fn)  # fmt: skip
    assert "leaky membrane with recurrent synapses" in reason
    from hetsyn_plugins.kernels import explain

    assert any("leaky membrane" in r for r in explain(layer, torch.zeros(4, B, N_IN)).reasons)


def test_triton_loops_of_the_new_layouts_equal_their_twins_under_the_interpreter():
    """The compositions run the Triton loops too (the channel filter is the shared loop, the
    rest the per-synapse loop): checked in a TRITON_INTERPRET=1 child."""
    pytest.importorskip("triton")
    import os
    import subprocess
    import sys

    code = (
        "import functools, torch\n"
        "from tests.kernels.test_fused_layouts import _layer, _assert_twins, INPUT, BRANCH\n"
        "from hetsyn_plugins.core.kernels import fused\n"
        "for opts in INPUT[:3]:\n"
        "    layer = _layer(opts, 'input')\n"
        "    _assert_twins(functools.partial(fused.input_scan, kernel='triton'),\n"
        "                  fused.input_scan_ref, layer, layer.spike_fn)\n"
        "for opts in BRANCH[1:3] + BRANCH[4:]:\n"
        "    layer = _layer(opts, 'branch')\n"
        "    _assert_twins(functools.partial(fused.branch_scan, kernel='triton'),\n"
        "                  fused.branch_scan_ref, layer, layer.spike_fn)\n"
        "print('ok')\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    done = subprocess.run([sys.executable, "-c", code], env={**os.environ, "TRITON_INTERPRET": "1"},
                          capture_output=True, text=True, cwd=root)  # fmt: skip
    assert done.returncode == 0 and "ok" in done.stdout, done.stderr[-3000:]

