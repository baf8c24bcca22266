"""The fused Triton kernel against the reference, on the CPU under TRITON_INTERPRET=1.

Small shapes only (the interpreter is slow). Shapes larger than one tile (out > 16, in > 64)
exercise the atomic row sums across input blocks. Skipped where triton is not installed.
"""

from __future__ import annotations

import os

os.environ.setdefault("TRITON_INTERPRET", "1")  # before triton compiles anything

import pytest  # noqa: E402
import torch  # noqa: E402

pytest.importorskip("triton", reason="triton is not installed: pip install hetsyn-plugins[gpu]")

from hetsyn_plugins.core import HetSynLIF, HetSynReadout  # noqa: E402
from hetsyn_plugins.core.timescales import Uniform  # noqa: E402

from .conftest import bernoulli  # noqa: E402

T, B = 6, 2

pytestmark = pytest.mark.skipif(
    os.environ.get("TRITON_INTERPRET") != "1" and not torch.cuda.is_available(),
    reason="needs a CUDA device or TRITON_INTERPRET=1",
)


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


@pytest.mark.parametrize("n_in, n_out", [(9, 5), (70, 20)])
def test_triton_spiking_layer_matches_reference(n_in, n_out):
    _compare(HetSynLIF, n_in, n_out, recurrent=True)


def test_triton_readout_matches_reference():
    _compare(HetSynReadout, 9, 5)


def test_triton_on_cpu_without_interpreter_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET")
    layer = HetSynLIF(4, 3, kernel="triton")
    with pytest.raises(ValueError, match="kernel='triton' needs triton installed and CUDA tensors"):
        layer(torch.zeros(2, 1, 4))
