"""The fused whole-sequence kernel of a per-synapse spiking layer (core/kernels/fused) against
the reference, every option, the hosts' surrogates, and where it steps aside."""

from __future__ import annotations

import copy

import pytest
import torch

from hetsyn_plugins.core import HetSynLIF, Normal
from hetsyn_plugins.core.dynamics import DynamicsConfig
from hetsyn_plugins.core.kernels import fused, scan
from hetsyn_plugins.core.spikes import ATanSpike

from ..conftest import assert_all_close, bernoulli

T, B, N_IN, N_OUT = 50, 3, 6, 5

VARIANTS = [
    {},
    {"recurrent": True},
    {"reset": "zero", "recurrent": True},
    {"reset": "none", "recurrent": True},
    {"reset_timing": "at_spike", "recurrent": True},
    {"reset": "zero", "reset_timing": "at_spike"},
    {"adaptation": True, "recurrent": True},
    {"adaptation": True, "reset": "zero", "detach_reset": True},
    {"detach_reset": True, "recurrent": True},
    {"bias": False, "recurrent": True},
    {"tau_bias": 7.0},
    {"learn_threshold": True, "threshold": 0.8, "recurrent": True},
    {"reset_amount": 0.6, "learn_threshold": True},
    {"decay_parametrization": "clamp", "recurrent": True},
    {"learn_decays": False, "recurrent": True},
    {"decay_input": True, "recurrent": True, "tau_bias": 5.0},
]

SHARED = [
    {"heterogeneity": "neuron"},
    {"heterogeneity": "neuron", "recurrent": True},
    {"heterogeneity": "neuron", "reset": "zero", "recurrent": True},
    {"heterogeneity": "neuron", "reset": "none", "adaptation": True, "threshold": 3.0},
    {"heterogeneity": "neuron", "reset_timing": "at_spike", "adaptation": True},
    {"heterogeneity": "neuron", "detach_reset": True, "recurrent": True},
    {"heterogeneity": "none", "adaptation": True},
    {"heterogeneity": "none", "learn_threshold": True, "reset_amount": 0.7},
    {"heterogeneity": "neuron", "decay_input": True, "recurrent": True},
]

pytestmark = pytest.mark.skipif(not scan.have_numba(), reason="numba is not installed")


def _count_calls(monkeypatch, function) -> list:
    """How often the fused autograd ``function`` ran."""
    count = []
    apply = function.apply
    monkeypatch.setattr(function, "apply", lambda *a: count.append(1) or apply(*a))
    return count


@pytest.fixture
def calls(monkeypatch):
    return _count_calls(monkeypatch, fused._SpikingScan)


@pytest.fixture
def shared_calls(monkeypatch):
    return _count_calls(monkeypatch, fused._SharedScan)


def _pair(options, cls=HetSynLIF, **extra):
    torch.manual_seed(0)
    tau = 8.0 if options.get("heterogeneity") == "none" else Normal(8, 3)
    fast = cls(N_IN, N_OUT, tau_syn=tau, dtype=torch.float64, kernel="scan", **options,
               **extra)  # fmt: skip
    with torch.no_grad():
        fast.weight.abs_().mul_(2.0)  # every variant spikes and resets
    ref = copy.deepcopy(fast)
    ref.kernel = "reference"
    return fast, ref


def _outputs_and_grads(layer, x, state=None):
    x = x.clone().requires_grad_(True)
    out = layer.run(x, state)
    g = torch.linspace(-1, 1, out.membrane.numel(), dtype=x.dtype).reshape(out.membrane.shape)
    loss = (out.membrane * g).sum() + (out.spikes * g.flip(0)).sum()
    loss = loss + sum(0.1 * t.sum() for t in out.state if t is not None)
    leaves = [x, *layer.parameters(), *(t for t in (state or ()) if t is not None)]
    return out, torch.autograd.grad(loss, leaves, allow_unused=True)


def _assert_same(fast, ref, x, state=None, grad_tol=1e-9, spiking=True):
    (o1, g1), (o2, g2) = _outputs_and_grads(fast, x, state), _outputs_and_grads(ref, x, state)
    if spiking:
        assert 0 < o2.spikes.sum() < o2.spikes.numel()
        assert torch.equal(o1.spikes, o2.spikes)
    torch.testing.assert_close(o1.membrane, o2.membrane, rtol=1e-11, atol=1e-12)
    for a, b in zip(o1.state, o2.state):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(a, b, rtol=1e-11, atol=1e-12)
    for a, b in zip(g1, g2):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(a, b, rtol=grad_tol, atol=grad_tol * 1e-2)


@pytest.mark.parametrize("options", VARIANTS, ids=str)
def test_fused_layer_equals_reference(options, calls):
    fast, ref = _pair(options)
    _assert_same(fast, ref, torch.rand(T, B, N_IN, dtype=torch.float64))
    assert calls  # the fused kernel ran


@pytest.mark.parametrize("options", SHARED, ids=str)
def test_fused_shared_layouts_equal_reference(options, shared_calls):
    """The presets' layouts (one decay per neuron or per layer) through their fused loop, from
    a state with gradients."""
    fast, ref = _pair(options)
    start = copy.deepcopy(ref).run(bernoulli((6, B, N_IN), p=0.5, seed=1)).state
    start = type(start)(*(t if t is None else t.detach().requires_grad_(True) for t in start))
    _assert_same(fast, ref, torch.rand(T, B, N_IN, dtype=torch.float64), start)
    assert shared_calls


@pytest.mark.parametrize("heterogeneity", ["neuron", "none"])
def test_fused_shared_readout_equals_reference(heterogeneity, shared_calls):
    from hetsyn_plugins.core import HetSynReadout

    fast, ref = _pair({"heterogeneity": heterogeneity}, cls=HetSynReadout)
    start = copy.deepcopy(ref).run(torch.rand(7, B, N_IN, dtype=torch.float64)).state
    start = type(start)(*(t if t is None else t.detach().requires_grad_(True) for t in start))
    _assert_same(fast, ref, torch.rand(T, B, N_IN, dtype=torch.float64), start, spiking=False)
    assert shared_calls


@pytest.mark.parametrize("options", [{"recurrent": True, "adaptation": True}, {"reset": "zero"}])
def test_fused_layer_from_a_state_with_gradients(options, calls):
    """From a non-zero state (every field requiring grad): gradients into it match too."""
    fast, ref = _pair(options)
    start = copy.deepcopy(ref).run(bernoulli((10, B, N_IN), p=0.5, seed=1)).state
    start = type(start)(*(t if t is None else t.detach().requires_grad_(True) for t in start))
    _assert_same(fast, ref, bernoulli((T, B, N_IN), p=0.5, seed=2), start)
    assert calls


def test_host_surrogates(calls):
    """snnTorch's (fires on u > 0) and SpikingJelly's (u >= 0) surrogates: exact, fused; and
    the hosts' faces take the fused kernel for a whole sequence."""
    snn = pytest.importorskip("snntorch")
    neuron = pytest.importorskip("spikingjelly.activation_based.neuron")  # registers the adapter
    from spikingjelly.activation_based import surrogate

    face_spike = snn.HetSynLeaky(  # recurrent: its spikes keep the dtype of u
        N_IN, N_OUT, beta=0.9, recurrent=True, spike_grad=snn.surrogate.fast_sigmoid()
    )
    # snnTorch's surrogates make float32 spikes: the step-by-step path rounds every gradient
    # through a spike to float32 (as snn.Leaky does), the fused sweep does not
    cases = ((face_spike._spike, False, 1e-6), (surrogate.Sigmoid(), True, 1e-9))
    for spike_fn, at_zero, tol in cases:
        assert fused.fires_at_zero(spike_fn, torch.float64) is at_zero
        fast, ref = _pair({"recurrent": True}, spike_fn=spike_fn)
        _assert_same(fast, ref, torch.rand(T, B, N_IN, dtype=torch.float64), grad_tol=tol)
    # a host surrogate handed to the core bare is not declared: the layer steps (exactly)
    assert fused.fires_at_zero(snn.surrogate.fast_sigmoid(), torch.float64) is None
    calls.clear()
    for face in (
        snn.HetSynLeaky(N_IN, N_OUT, beta=0.9, recurrent=True),
        neuron.HetSynNode(N_IN, N_OUT, step_mode="m"),
    ):
        face(torch.rand(T, B, N_IN))
    assert len(calls) == 2


def test_fires_at_zero_reads_the_convention():
    assert fused.fires_at_zero(ATanSpike(), torch.float32) is False
    ge = lambda u: (u >= 0).to(u.dtype)  # noqa: E731
    ge.elementwise = True
    assert fused.fires_at_zero(ge, torch.float32) is True
    assert fused.fires_at_zero(lambda u: (u >= 0).to(u.dtype), torch.float32) is None  # undeclared
    graded = lambda u: 2.0 * (u > 0).to(u.dtype)  # noqa: E731
    graded.elementwise = True
    assert fused.fires_at_zero(graded, torch.float32) is None


def test_other_spike_functions_step_instead(calls):
    """A spike function not declared elementwise (here one that mixes neurons) takes the
    step-by-step path, and still equals the reference."""

    def mixing(u):  # fires where u > 0, surrogate gradient shared across neurons
        soft = torch.sigmoid(4 * u)
        soft = soft + 0.1 * soft.mean(-1, keepdim=True)
        return soft + ((u > 0).to(u.dtype) - soft).detach()

    fast, ref = _pair({"recurrent": True}, spike_fn=mixing)
    _assert_same(fast, ref, torch.rand(T, B, N_IN, dtype=torch.float64))
    assert not calls


@pytest.mark.parametrize("options", [{}, {"bias": False}, {"tau_bias": 3.0}], ids=str)
def test_fused_readout_equals_reference(options, calls):
    from hetsyn_plugins.core import HetSynReadout

    fast, ref = _pair(options, cls=HetSynReadout)
    start = copy.deepcopy(ref).run(torch.rand(7, B, N_IN, dtype=torch.float64)).state
    start = type(start)(*(t if t is None else t.detach().requires_grad_(True) for t in start))
    _assert_same(fast, ref, torch.rand(T, B, N_IN, dtype=torch.float64), start, spiking=False)
    assert calls


# ---------------------------------------------------------------- each kernel and its twin


def _twin_grads(kernel, layer, drive, start, spike_fn):
    """Outputs of ``kernel`` (a fused kernel or its reference twin, one signature) and the
    gradients of a loss on all of them w.r.t. the drive, the layer's parameters and ``start``."""
    drive = drive.clone().requires_grad_(True)
    args = (drive, layer.params(), start)
    if spike_fn is not False:  # the readout's shared loop takes the default configuration
        args += (spike_fn, getattr(layer, "config", DynamicsConfig()))
    out = kernel(*args)
    assert out is not None  # the fused kernel applies to these inputs
    *seqs, final = out
    loss = sum((s * torch.linspace(-1, 1, s.numel(), dtype=s.dtype).view_as(s)).sum() for s in seqs)
    loss = loss + sum(0.1 * t.sum() for t in final if t is not None)
    leaves = [drive, *layer.parameters(), *(t for t in start if t is not None)]
    return (*seqs, final), torch.autograd.grad(loss, leaves, allow_unused=True)


def _assert_twins(kernel, twin, layer, spike_fn):
    """``kernel`` equals ``twin`` on a random drive from a non-zero state with gradients."""
    warm = layer.run(bernoulli((6, B, N_IN), p=0.5, seed=1)).state
    start = type(warm)(*(t if t is None else t.detach().requires_grad_(True) for t in warm))
    start = start.without_link()
    drive = torch.rand(T, B, N_OUT, dtype=torch.float64) * 2.0 - 0.3
    (*seqs, final), grads = _twin_grads(kernel, layer, drive, start, spike_fn)
    (*ref_seqs, ref_final), ref_grads = _twin_grads(twin, layer, drive, start, spike_fn)
    assert_all_close(seqs, ref_seqs, rtol=1e-11, atol=1e-12)
    assert_all_close(final, ref_final, rtol=1e-11, atol=1e-12)
    assert_all_close(grads, ref_grads, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("options", VARIANTS, ids=str)
def test_spiking_scan_equals_its_twin(options):
    layer, _ = _pair(options)
    _assert_twins(fused.spiking_scan, fused.spiking_scan_ref, layer, layer.spike_fn)


@pytest.mark.parametrize("options", SHARED, ids=str)
def test_shared_scan_equals_its_twin(options):
    layer, _ = _pair(options)
    _assert_twins(fused.shared_scan, fused.shared_scan_ref, layer, layer.spike_fn)


@pytest.mark.parametrize("options", [{}, {"tau_bias": 3.0}, {"heterogeneity": "neuron"}], ids=str)
def test_readout_scans_equal_their_twins(options):
    from hetsyn_plugins.core import HetSynReadout

    layer, _ = _pair(options, cls=HetSynReadout)
    if layer.shared:  # a shared readout: the shared loop without a spike function
        _assert_twins(fused.shared_scan, fused.shared_scan_ref, layer, None)
    else:
        _assert_twins(fused.readout_scan, fused.readout_scan_ref, layer, False)


def test_feedforward_scan_equals_its_twin():
    torch.manual_seed(3)
    x = bernoulli((T, B, N_IN), p=0.4, seed=4).requires_grad_(True)
    w = torch.randn(N_OUT, N_IN, dtype=torch.float64, requires_grad=True)
    r = torch.rand(N_OUT, N_IN, dtype=torch.float64).mul(0.95).requires_grad_(True)
    start = torch.randn(B, N_OUT, N_IN, dtype=torch.float64, requires_grad=True)
    results = []
    for fn in (scan.feedforward_scan, scan.feedforward_scan_ref):
        S, final = fn(x, w, r, start)
        loss = (S * torch.linspace(-1, 1, S.numel(), dtype=S.dtype).view_as(S)).sum()
        loss = loss + 0.1 * final.sum()
        results.append((S, final, torch.autograd.grad(loss, (x, w, r, start))))
    (S, final, grads), (S_ref, final_ref, grads_ref) = results
    torch.testing.assert_close(S, S_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(final, final_ref, rtol=1e-12, atol=1e-12)
    for a, b in zip(grads, grads_ref):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
