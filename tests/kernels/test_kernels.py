"""Every fast path against the reference path: forward and gradients in float64, and the
memory claim (autograd saves nothing that grows with out * in * T)."""

from __future__ import annotations

import copy

import pytest
import torch

from hetsyn_plugins.core import HetSynLIF, HetSynReadout
from hetsyn_plugins.core.kernels import choose_kernel, scan
from hetsyn_plugins.core.kernels.fft_filter import final_currents, synaptic_filter
from hetsyn_plugins.core.timescales import Uniform

from ..conftest import bernoulli

B, N_IN, N_OUT, T = 3, 9, 5, 40

VARIANTS = [
    dict(),
    dict(recurrent=True),
    dict(recurrent=True, adaptation=True, reset="zero"),
    dict(reset_timing="at_spike", tau_bias=5.0, learn_threshold=True),
    dict(heterogeneity="neuron", recurrent=True),
    dict(heterogeneity="none", adaptation=True),
]


# "scan" runs fused numba loops when numba is installed; "scan-torch" forces the torch loops
FAST = ["fft", "scan", "scan-torch"]


@pytest.fixture(params=FAST)
def fast_kernel(request, monkeypatch):
    if request.param == "scan-torch":
        monkeypatch.setattr(scan, "use_numba", False)
        return "scan"
    if request.param == "scan" and not scan.have_numba():
        pytest.skip("numba is not installed: the fused loops are not available")
    return request.param


def _pair(cls, options, kernel="fft"):
    torch.manual_seed(3)
    het = options.get("heterogeneity", "synapse")
    fast = cls(N_IN, N_OUT, tau_syn=Uniform(1.5, 60.0) if het != "none" else 12.0,
               dtype=torch.float64, kernel=kernel, **options)
    with torch.no_grad():
        fast.weight.abs_().mul_(1.5)
    ref = copy.deepcopy(fast)
    ref.kernel = "reference"
    return fast, ref


def _compare(fast, ref, x, outputs):
    xf, xr = x.clone().requires_grad_(), x.clone().requires_grad_()
    of, orf = fast.run(xf), ref.run(xr)
    for name in outputs:
        torch.testing.assert_close(getattr(of, name), getattr(orf, name), rtol=1e-9, atol=1e-10)
    for a, b in zip(of.state, orf.state):
        if a is not None:
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)
    g = torch.randn_like(of.membrane)
    loss_f = (getattr(of, outputs[-1]) * g).sum() + of.state.syn.sum()
    loss_r = (getattr(orf, outputs[-1]) * g).sum() + orf.state.syn.sum()
    loss_f.backward()
    loss_r.backward()
    torch.testing.assert_close(xf.grad, xr.grad, rtol=1e-8, atol=1e-10)
    for (name, pf), (_, pr) in zip(fast.named_parameters(), ref.named_parameters()):
        assert pf.grad is not None, name
        torch.testing.assert_close(pf.grad, pr.grad, rtol=1e-8, atol=1e-10, msg=name)


@pytest.mark.parametrize("options", VARIANTS, ids=str)
def test_fast_path_matches_reference_spiking(options, fast_kernel):
    fast, ref = _pair(HetSynLIF, options, fast_kernel)
    x = bernoulli((T, B, N_IN), p=0.3)
    assert fast.run(x).spikes.sum() > 0
    _compare(fast, ref, x, ("spikes", "membrane"))


@pytest.mark.parametrize("heterogeneity", ["synapse", "neuron", "none"])
def test_fast_path_matches_reference_readout(heterogeneity, fast_kernel):
    fast, ref = _pair(HetSynReadout, {"heterogeneity": heterogeneity}, fast_kernel)
    _compare(fast, ref, torch.rand(T, B, N_IN, dtype=torch.float64), ("spikes",))


def test_filter_gradcheck_and_long_time_constants():
    x = torch.rand(17, 2, 4, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    r = torch.tensor([[0.1, 0.5, 0.99, 0.9999]] * 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(synaptic_filter, (x, w, r))
    # final currents equal the last step of an explicit scan
    I = torch.zeros(2, 3, 4, dtype=torch.float64)
    for x_t in x.detach():
        I = r.detach() * I + w.detach() * x_t[:, None, :]
    torch.testing.assert_close(final_currents(x.detach(), w.detach(), r.detach()), I)


@pytest.mark.parametrize("options", [{}, {"recurrent": True}], ids=str)
def test_fast_path_from_a_nonzero_initial_state(options, fast_kernel):
    fast, ref = _pair(HetSynLIF, options, fast_kernel)
    x = bernoulli((T, B, N_IN), p=0.3)
    state = ref.run(x[:10]).state
    assert choose_kernel("fft", x, fast.params(), state) == "scan"  # FFT needs zero currents
    state = state.map(lambda t: t.detach().requires_grad_())
    a, b = fast.run(x[10:], state), ref.run(x[10:], state)
    torch.testing.assert_close(a.membrane, b.membrane, rtol=1e-9, atol=1e-10)
    ga = torch.autograd.grad(a.membrane.sum() + a.state.syn.sum(), [state.syn, *fast.parameters()])
    gb = torch.autograd.grad(b.membrane.sum() + b.state.syn.sum(), [state.syn, *ref.parameters()])
    for u, v in zip(ga, gb):
        torch.testing.assert_close(u, v, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("readout", [False, True])
def test_fft_from_zero_currents_that_need_a_gradient(readout):
    """Zero initial currents that require grad: the FFT filter, which starts from zero and has
    no gradient for them, hands over to the scan (the gradient was dropped: None)."""
    cls = HetSynReadout if readout else HetSynLIF
    fft, ref = _pair(cls, {}, "fft")
    x = bernoulli((T, B, N_IN), p=0.3)
    state = ref.run(x[:2]).state.map(lambda t: torch.zeros_like(t).requires_grad_())
    assert choose_kernel("fft", x, fft.params(), state) == "scan"
    a, b = fft.run(x, state), ref.run(x, state)
    (ga,), (gb,) = (torch.autograd.grad(o.membrane.sum(), [state.syn]) for o in (a, b))
    assert gb.abs().sum() > 0
    torch.testing.assert_close(ga, gb, rtol=1e-9, atol=1e-12)


def test_auto_picks_a_fast_path():
    layer = HetSynLIF(4, 3)
    state = layer.run(torch.zeros(2, 1, 4)).state
    expected = "scan" if scan.have_numba() else "fft"
    assert choose_kernel("auto", torch.zeros(2, 1, 4), layer.params(), state) == expected


def _saved_bytes(layer, T, batch):
    """Bytes of the distinct storages autograd keeps for the backward pass of one forward."""
    storages = {}

    def pack(t):
        storage = t.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return t

    x = bernoulli((T, batch, layer.in_features), p=0.1, dtype=torch.float32)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        layer(x).sum()
    return sum(storages.values())


@pytest.mark.parametrize("recurrent", [False, True])
def test_fast_path_saves_nothing_that_grows_with_synapses_times_T(fast_kernel, recurrent):
    n_in, n_out, batch = 200, 200, 2
    per_step_synapses = batch * n_out * n_in * 4  # bytes of one step of (B, out, in) state
    fast = HetSynLIF(n_in, n_out, recurrent=recurrent, kernel=fast_kernel)
    ref = HetSynLIF(n_in, n_out, recurrent=recurrent, kernel="reference")
    fast_growth = (_saved_bytes(fast, 80, batch) - _saved_bytes(fast, 20, batch)) / 60
    ref_growth = (_saved_bytes(ref, 80, batch) - _saved_bytes(ref, 20, batch)) / 60
    assert ref_growth >= per_step_synapses  # the oracle does keep (B, out, in) per step
    # the fast path keeps per step only inputs and per-neuron tensors: O(B * (in + out))
    assert fast_growth <= 16 * batch * (n_in + n_out) * 4
    assert fast_growth < per_step_synapses / 5
