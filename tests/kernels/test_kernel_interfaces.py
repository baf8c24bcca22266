"""The kernels' interfaces: ``applicable`` gives the reason a fused loop cannot run, the loops
refuse to run then (no silent ``None``), and ``hetsyn_plugins.kernels.explain`` reports the
path a call takes; the reference path is the twins composed."""

from __future__ import annotations

import pytest
import torch

import hetsyn_plugins
from hetsyn_plugins import HetSynLIF, HetSynReadout
from hetsyn_plugins.core.dynamics import initial_state
from hetsyn_plugins.core.kernels import fused, scan

F64 = torch.float64


def _inputs(layer, T=5, B=3, dtype=F64):
    with torch.no_grad():
        params = layer.params()
        state = initial_state(params, B, layer.config, readout=layer._readout)
    return params, state, torch.rand(T, B, layer.out_features, dtype=dtype)


def test_applicable_says_none_when_the_loop_runs():
    layer = HetSynLIF(4, 3, recurrent=True, dtype=F64)
    params, state, drive = _inputs(layer)
    assert fused.applicable("scan", drive, params, state, layer.spike_fn) is None


def test_applicable_names_the_spike_function_that_is_not_elementwise():
    def step_fn(u):
        return (u > 0).to(u.dtype)

    layer = HetSynLIF(4, 3, dtype=F64, spike_fn=step_fn)
    params, state, drive = _inputs(layer)
    reason = fused.applicable("scan", drive, params, state, step_fn)
    assert "step_fn" in reason and "elementwise" in reason
    with pytest.raises(ValueError, match="kernel='scan' cannot run this layer: the spike function"):
        fused.spiking_scan(drive, params, state, step_fn, layer.config)
    # the layer itself falls back to the twin, with the same numbers as the reference
    x = torch.rand(5, 3, 4, dtype=F64)
    ref = HetSynLIF(4, 3, dtype=F64, spike_fn=step_fn, kernel="reference")
    ref.load_state_dict(layer.state_dict())
    torch.testing.assert_close(layer(x), ref(x), rtol=1e-12, atol=1e-12)


def test_applicable_names_a_dtype_mismatch_and_switched_off_numba(monkeypatch):
    layer = HetSynReadout(4, 3, dtype=F64)
    params, state, drive = _inputs(layer)
    reason = fused.applicable("scan", drive.float(), params, state)
    assert "torch.float64" in reason and "torch.float32" in reason
    monkeypatch.setattr(scan, "use_numba", False)
    assert "switched off" in fused.applicable("scan", drive, params, state)


def test_the_loops_refuse_the_other_layout():
    shared = HetSynLIF(4, 3, heterogeneity="none", dtype=F64)
    params, state, drive = _inputs(shared)
    with pytest.raises(ValueError, match="spiking_scan runs the per-synapse layout;"):
        fused.spiking_scan(drive, params, state, shared.spike_fn, shared.config)


def test_explain_reports_the_fused_path():
    layer = HetSynLIF(6, 5, recurrent=True)
    report = hetsyn_plugins.kernels.explain(layer, torch.rand(10, 2, 6))
    assert report.kernel == "scan" and report.requested == "auto"
    assert "fused numba scan" in report.feedforward
    assert "fused numba loop" in report.layer_loop
    assert report.reasons == ()
    assert str(report).splitlines()[0] == "kernel: scan (asked: auto)"


def test_explain_reports_why_not_faster():
    layer = HetSynLIF(6, 5, kernel="fft")
    report = hetsyn_plugins.kernels.explain(layer, torch.rand(10, 2, 6))
    assert report.kernel == "fft" and "FFT" in report.feedforward
    assert report.reasons == ("kernel='fft' has no fused layer loop",)
    step = hetsyn_plugins.kernels.explain(HetSynLIF(6, 5), torch.rand(2, 6))
    assert "per-step path" in step.feedforward
    neuron = HetSynLIF(6, 5, heterogeneity="neuron")
    shared = hetsyn_plugins.kernels.explain(neuron, torch.rand(3, 2, 6))
    assert "one matrix product" in shared.feedforward


def test_explain_takes_a_host_face_and_rejects_other_modules():
    snn = pytest.importorskip("snntorch")  # noqa: F841
    from hetsyn_plugins.adapters.snntorch import HetSynLeaky

    report = hetsyn_plugins.kernels.explain(HetSynLeaky(6, 5, beta=0.9), torch.rand(4, 2, 6))
    assert report.kernel == "scan"
    with pytest.raises(TypeError, match="explain\\(\\) takes a HetSynLIF"):
        hetsyn_plugins.kernels.explain(torch.nn.Linear(6, 5), torch.rand(4, 2, 6))
    with pytest.raises(ValueError, match="x must be a tensor"):
        hetsyn_plugins.kernels.explain(HetSynLIF(6, 5), torch.rand(6))


@pytest.mark.parametrize("cls", [HetSynLIF, HetSynReadout])
@pytest.mark.parametrize("heterogeneity", ["synapse", "none"])
def test_reference_is_the_twins_composed(cls, heterogeneity):
    """The reference path equals the per-step rule applied step by step (the layer's own
    per-step calls with kernel='reference'), outputs and final state."""
    torch.manual_seed(0)
    layer = cls(4, 3, heterogeneity=heterogeneity, dtype=F64, kernel="reference")
    x = torch.rand(6, 2, 4, dtype=F64) * 2
    whole = layer.run(x)
    state, outs = None, []
    for x_t in x:
        out = layer.step(x_t, state)
        state = out.state
        outs.append(out.membrane)
    torch.testing.assert_close(whole.membrane, torch.stack(outs), rtol=1e-13, atol=1e-13)
    for a, b in zip(whole.state.tensors(), state.tensors()):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(a, b, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize(
    "kernel, cls, options, step",
    [("scan", HetSynReadout, {}, False), ("scan", HetSynLIF, {"recurrent": True}, False),
     ("fft", HetSynReadout, {}, False), ("scan", HetSynReadout, {}, True),
     ("scan", HetSynLIF, {"heterogeneity": "none"}, False)],
)  # fmt: skip
def test_double_backward_through_a_fast_kernel_is_refused(kernel, cls, options, step):
    """A gradient penalty (create_graph=True) through a hand-written backward would lack the
    second-order terms: it raises, naming kernel='reference', which gives them."""
    torch.manual_seed(0)
    x = torch.rand(5, 2, 4, dtype=F64)

    def penalty(layer):
        out = layer.step(x[0]).membrane if step else layer.run(x).membrane
        (g,) = torch.autograd.grad(out.pow(2).sum(), layer.weight, create_graph=True)
        g.pow(2).sum().backward()
        return layer.weight.grad

    layer = cls(4, 3, dtype=F64, kernel=kernel, **options)
    with pytest.raises(RuntimeError, match="create_graph=True.*kernel='reference'"):
        penalty(layer)
    reference = cls(4, 3, dtype=F64, kernel="reference", **options)
    assert penalty(reference).abs().sum() > 0  # the reference path has the second derivative


def test_a_surrogate_not_linear_in_the_gradient_takes_the_exact_path():
    """A custom snnTorch surrogate that reads the incoming gradient's sign: the fused loop
    (derivative evaluated once at gradient 1) does not apply, and the whole-sequence call
    gives the per-step path's (the rule's) gradients."""
    snn = pytest.importorskip("snntorch")
    from snntorch import surrogate

    from hetsyn_plugins.adapters.snntorch import HetSynLeaky
    from hetsyn_plugins.kernels import explain

    def sign_aware(input_, grad_input, spikes):
        return torch.where(grad_input > 0, 2.0, 0.5) * grad_input / (1 + (5 * input_) ** 2)

    custom = surrogate.custom_surrogate(sign_aware)
    torch.manual_seed(0)
    lif = HetSynLeaky(6, 5, beta=0.9, spike_grad=custom, recurrent=True, dtype=torch.float32)
    with torch.no_grad():
        lif.layer.weight.mul_(3)
    assert not fused.backward_is_linear(lif.layer.spike_fn, torch.float32)
    assert fused.backward_is_linear(HetSynLeaky(6, 5, beta=0.9).layer.spike_fn, torch.float32)
    x = (torch.rand(30, 4, 6) < 0.5).float()
    assert "not linear in the incoming gradient" in " ".join(explain(lif, x).reasons)
    g = torch.linspace(-1, 1, 30 * 4 * 5).reshape(30, 4, 5)
    spk, mem = lif(x)
    whole = torch.autograd.grad((mem * g).sum(), [lif.layer.weight])[0]
    lif.reset_mem()
    mem_t, steps = lif.reset_mem(), []
    for x_t in x:
        _, mem_t = lif(x_t, mem_t)
        steps.append(mem_t)
    per_step = torch.autograd.grad((torch.stack(steps) * g).sum(), [lif.layer.weight])[0]
    torch.testing.assert_close(whole, per_step, rtol=1e-4, atol=1e-5)
    assert snn.HetSynLeaky is HetSynLeaky
