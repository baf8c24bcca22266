"""The fused Triton kernels against the reference, on the CPU under TRITON_INTERPRET=1: the
feedforward scan (:mod:`.triton_scan`) and the rest of a per-synapse layer
(:mod:`.triton_fused`, against its pure-torch twin for every option of the numba loops).

Triton reads ``TRITON_INTERPRET`` once, when it is first imported (Inductor may import it
earlier in the same process), so the comparisons run in a child pytest process started with
the variable set; in the parent they are skipped and one test runs the child. Small shapes
only (the interpreter is slow); shapes larger than one tile (out > 16, in > 64) exercise the
atomic row sums across input blocks. Skipped where triton is not installed.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys

import pytest
import torch

pytest.importorskip("triton", reason="triton is not installed: pip install hetsyn-plugins[gpu]")

from hetsyn_plugins.core import HetSynLIF, HetSynReadout  # noqa: E402
from hetsyn_plugins.core.timescales import Uniform  # noqa: E402

from hetsyn_plugins.core.kernels import fused  # noqa: E402

from ..conftest import bernoulli  # noqa: E402
from .test_fused import SHARED, VARIANTS, _assert_twins, _pair  # noqa: E402

T, B = 6, 2
CHILD = os.environ.get("_HETSYN_TRITON_CHILD") == "1"
# The comparisons build CPU tensors: they run in the interpreter child only, also on a machine
# with CUDA (where benchmark B4 runs the kernels on the GPU).
in_child = pytest.mark.skipif(
    not CHILD,
    reason="runs in the TRITON_INTERPRET=1 child process (test_triton_in_interpreter)",
)


@pytest.mark.skipif(CHILD, reason="this is the child")
def test_triton_in_interpreter():
    env = {**os.environ, "TRITON_INTERPRET": "1", "_HETSYN_TRITON_CHILD": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__],
        env=env, capture_output=True, text=True, cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert f"{4 + len(VARIANTS) + 2 + len(SHARED) + 2} passed" in done.stdout, done.stdout[-2000:]


def _compare(cls, n_in, n_out, **options):
    torch.manual_seed(0)
    fast = cls(n_in, n_out, tau_syn=Uniform(2.0, 30.0), kernel="triton", dtype=torch.float64, **options)
    ref = cls(n_in, n_out, tau_syn=Uniform(2.0, 30.0), kernel="reference", dtype=torch.float64, **options)
    ref.load_state_dict(fast.state_dict())
    x = bernoulli((T, B, n_in), p=0.4)
    xf, xr = x.clone().requires_grad_(), x.clone().requires_grad_()
    a, b = fast.run(xf), ref.run(xr)
    torch.testing.assert_close(a.membrane, b.membrane, rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(a.state.syn, b.state.syn, rtol=1e-9, atol=1e-10)
    g = torch.randn_like(a.membrane)
    ((a.membrane * g).sum() + a.state.syn.sum()).backward()
    ((b.membrane * g).sum() + b.state.syn.sum()).backward()
    torch.testing.assert_close(xf.grad, xr.grad, rtol=1e-8, atol=1e-10)
    for (name, p), q in zip(fast.named_parameters(), ref.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-8, atol=1e-10, msg=name)


@in_child
@pytest.mark.parametrize("n_in, n_out", [(9, 5), (70, 20)])
def test_triton_spiking_layer_matches_reference(n_in, n_out):
    _compare(HetSynLIF, n_in, n_out, recurrent=True)


@in_child
def test_triton_readout_matches_reference():
    _compare(HetSynReadout, 9, 5)


@in_child
@pytest.mark.parametrize("options", VARIANTS, ids=str)
def test_triton_spiking_scan_equals_its_twin(options, monkeypatch):
    """Every option of the fused spiking loop (recurrence, bias, each reset mode and timing,
    detach_reset, adaptation, learnable threshold), from a state with gradients."""
    layer, _ = _pair(options)
    backends = []
    apply = fused._SpikingScan.apply
    def recording(*args):
        backends.append(next(a for a in args if hasattr(a, "spiking_forward")))
        return apply(*args)

    monkeypatch.setattr(fused._SpikingScan, "apply", recording)
    kernel = functools.partial(fused.spiking_scan, kernel="triton")
    _assert_twins(kernel, fused.spiking_scan_ref, layer, layer.spike_fn)
    # the warm-up that makes the starting state runs the numba loops; the kernel, Triton's
    assert [b.__module__.rsplit(".", 1)[-1] for b in backends] == ["fused", "triton_fused"]


@in_child
@pytest.mark.parametrize("options", [{}, {"tau_bias": 3.0}], ids=str)
def test_triton_readout_scan_equals_its_twin(options):
    layer, _ = _pair(options, cls=HetSynReadout)
    kernel = functools.partial(fused.readout_scan, kernel="triton")
    _assert_twins(kernel, fused.readout_scan_ref, layer, False)


@in_child
@pytest.mark.parametrize("options", SHARED, ids=str)
def test_triton_shared_scan_equals_its_twin(options):
    """The shared layouts (the presets' HetNeuLIF, HomNeuLIF, HomNeuALIF), every option."""
    layer, _ = _pair(options)
    kernel = functools.partial(fused.shared_scan, kernel="triton")
    _assert_twins(kernel, fused.shared_scan_ref, layer, layer.spike_fn)


@in_child
@pytest.mark.parametrize("heterogeneity", ["neuron", "none"])
def test_triton_shared_readout_equals_its_twin(heterogeneity):
    layer, _ = _pair({"heterogeneity": heterogeneity}, cls=HetSynReadout)
    kernel = functools.partial(fused.shared_scan, kernel="triton")
    _assert_twins(kernel, fused.shared_scan_ref, layer, None)


def test_triton_on_cpu_without_interpreter_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    layer = HetSynLIF(4, 3, kernel="triton")
    with pytest.raises(ValueError, match="kernel='triton' needs triton installed and CUDA tensors"):
        layer(torch.zeros(2, 1, 4))
