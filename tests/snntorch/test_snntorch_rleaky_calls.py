"""A recurrent snn.HetSynLeaky called in snn.RLeaky's convention: ``spk, mem = lif(x, spk, mem)``.

The rule under test (HetSynLeaky's docstring): the tensors the layer returned last (or those
of ``init_rleaky()``/``reset_mem()``) carry on from the kept core state, exact for every
heterogeneity, with detached aliases cutting the gradient as snn.RLeaky's do; other tensors
set the state only where ``(spk, mem)`` is the whole state and ``spk`` are the spikes of
``mem``; everything else is refused with an error naming the argument. Comparisons with
snn.RLeaky run in float32 (RLeaky feeds back float32 spikes): same spikes, membranes within
float32 rounding (the converted layer groups the sums differently).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

snn = pytest.importorskip("snntorch")

from hetsyn_plugins.adapters.snntorch import HetSynLeaky  # noqa: E402

from ..conftest import bernoulli  # noqa: E402

B, N_IN, N_OUT, T = 3, 6, 5, 60
F64 = torch.float64
MEM_TOL = dict(rtol=1e-5, atol=1e-5)

RECURRENT = [
    {"heterogeneity": "synapse", "beta": 0.9},
    {"heterogeneity": "synapse", "beta": 0.8, "adaptation": True, "reset_mechanism": "zero"},
    {"heterogeneity": "neuron", "beta": torch.linspace(0.5, 0.95, N_OUT)},
    {"heterogeneity": "none", "beta": 0.85, "reset_mechanism": "none"},
]


def _lif(**kw):
    lif = HetSynLeaky(N_IN, N_OUT, recurrent=True, dtype=F64, **kw)
    with torch.no_grad():  # excitatory on average: every variant spikes
        lif.weight.uniform_(-0.5, 1.0)
    return lif


def _rleaky_pair(heterogeneity="neuron", reset_mechanism="subtract", all_to_all=True):
    """An nn.Linear + snn.RLeaky (float32, random parameters) and its HetSynLeaky."""
    fc = nn.Linear(N_IN, N_OUT)
    kw = dict(threshold=0.8, reset_mechanism=reset_mechanism)
    if all_to_all:
        rleaky = snn.RLeaky(beta=torch.rand(N_OUT) * 0.8 + 0.1, linear_features=N_OUT, **kw)
    else:
        beta = torch.rand(N_OUT) * 0.8 + 0.1
        rleaky = snn.RLeaky(beta=beta, all_to_all=False, V=torch.randn(N_OUT), **kw)
    with torch.no_grad():
        fc.weight.mul_(3.0)
    return fc, rleaky, HetSynLeaky.from_leaky(fc, rleaky, heterogeneity)


def _run_rleaky(fc, rleaky, x, spk, mem, cut_at=None, cut=("spk", "mem")):
    spikes, mems = [], []
    for t, x_t in enumerate(x):
        if t == cut_at:
            spk = spk.detach() if "spk" in cut else spk
            mem = mem.detach() if "mem" in cut else mem
        spk, mem = rleaky(fc(x_t), spk, mem)
        spikes.append(spk)
        mems.append(mem)
    return torch.stack(spikes), torch.stack(mems)


def _run_lif(lif, x, spk, mem, cut_at=None, cut=("spk", "mem")):
    spikes, mems = [], []
    for t, x_t in enumerate(x):
        if t == cut_at:
            spk = spk.detach() if "spk" in cut else spk
            mem = mem.detach() if "mem" in cut else mem
        spk, mem = lif(x_t, spk, mem)
        spikes.append(spk)
        mems.append(mem)
    return torch.stack(spikes), torch.stack(mems)


# --------------------------------------------------------------------------- the tutorial loop


@pytest.mark.parametrize("convention", ["leaky", "rleaky"])
@pytest.mark.parametrize("kw", RECURRENT)
def test_spk_mem_loop_equals_sequence_call(kw, convention):
    """Passing back the (spk, mem) returned carries the full (per-synapse) state on, exactly."""
    lif = _lif(call_convention=convention, **kw)
    x = bernoulli((T, B, N_IN), p=0.3)
    spk, mem = lif.init_rleaky()
    spk_loop, mem_loop = _run_lif(lif, x, spk, mem)
    assert 0 < spk_loop.count_nonzero() < spk_loop.numel()
    lif.reset_mem()
    spk_seq, mem_seq = lif(x)
    assert torch.equal(spk_loop, spk_seq)
    torch.testing.assert_close(mem_loop, mem_seq, rtol=1e-12, atol=1e-12)
    # by keyword, and from reset_mem() (a tuple in RLeaky's convention)
    state = lif.reset_mem()
    spk, mem = state if convention == "rleaky" else (lif.spk, state)
    outs = []
    for x_t in x:
        spk, mem = lif(x_t, spk=spk, mem=mem)
        outs.append(spk)
    assert torch.equal(torch.stack(outs), spk_seq)


def test_rleaky_convention_reads_one_positional_argument_as_spk():
    lif = _lif(call_convention="rleaky", **RECURRENT[0])
    x = bernoulli((T, B, N_IN), p=0.3)
    spk_ref, _ = lif(x)
    spk, mem = lif.reset_mem()
    assert isinstance(spk, torch.Tensor) and isinstance(mem, torch.Tensor)
    outs = []
    for x_t in x:
        spk, _ = lif(x_t, spk)  # mem: the one kept, as snn.RLeaky
        outs.append(spk)
    assert torch.equal(torch.stack(outs), spk_ref)
    # in the default convention a single argument is mem: the spikes passed there are refused
    leaky = _lif(**RECURRENT[0])
    spk, _ = leaky(x[0])
    with pytest.raises(TypeError, match="tensor passed is the spikes this layer returned last"):
        leaky(x[1], spk)
    assert isinstance(leaky.reset_mem(), torch.Tensor)  # snn.Leaky's return, unchanged


# --------------------------------------------------------------------------- against snn.RLeaky


@pytest.mark.parametrize("all_to_all", [True, False])
@pytest.mark.parametrize("reset_mechanism", ["subtract", "none"])
def test_foreign_spk_mem_set_the_state_like_rleaky(reset_mechanism, all_to_all):
    """Tensors that are not the layer's own set the shared state where RLeaky would start."""
    fc, rleaky, lif = _rleaky_pair("neuron", reset_mechanism, all_to_all)
    x = torch.rand(T, B, N_IN)
    spk_a, mem_a = _run_rleaky(fc, rleaky, x[:30], *rleaky.init_rleaky())
    # RLeaky's own tensors are foreign to the HetSyn layer (and an arbitrary consistent state)
    mem_rand = torch.randn(B, N_OUT) * 2
    starts = [(spk_a[-1], mem_a[-1]), ((mem_rand > 0.8).float(), mem_rand)]
    for spk0, mem0 in starts:
        lif.reset_mem()
        spk_r, mem_r = _run_rleaky(fc, rleaky, x[30:], spk0.clone(), mem0.clone())
        spk_h, mem_h = _run_lif(lif, x[30:], spk0.clone(), mem0.clone())
        assert 0 < spk_r.count_nonzero() < spk_r.numel()
        assert torch.equal(spk_h, spk_r)
        torch.testing.assert_close(mem_h, mem_r, **MEM_TOL)
        # from rest it would differ: the state was taken from (spk, mem)
        spk_rest, _ = _run_lif(lif, x[30:], *lif.init_rleaky())
        assert not torch.equal(spk_rest, spk_h)


@pytest.mark.parametrize("heterogeneity", ["neuron", "synapse"])
@pytest.mark.parametrize("cut", [("spk", "mem"), ("mem",), ("spk",)])
def test_detached_aliases_cut_the_gradient_like_rleaky(heterogeneity, cut):
    """Truncated BPTT in the tutorial loop: detaching the passed spk and/or mem cuts the same
    gradient paths as in snn.RLeaky, also where the layer carries per-synapse state."""
    fc, rleaky, lif = _rleaky_pair(heterogeneity)
    x = torch.rand(40, B, N_IN)
    weights = torch.rand(40, B, N_OUT)

    def grad(run, params, cut_at):
        for p in params:
            p.grad = None
        _, mem = run(cut_at)
        (mem[-20:] * weights[-20:]).sum().backward()
        return params[0].grad.clone()

    def run_rleaky(cut_at):
        return _run_rleaky(fc, rleaky, x, *rleaky.init_rleaky(), cut_at=cut_at, cut=cut)

    def run_lif(cut_at):
        return _run_lif(lif, x, *lif.init_rleaky(), cut_at=cut_at, cut=cut)

    truncated = grad(run_rleaky, [fc.weight], 20)
    full = grad(run_rleaky, [fc.weight], None)
    assert not torch.allclose(truncated, full, rtol=1e-3)  # the cut matters here
    got = grad(run_lif, [lif.weight], 20)
    torch.testing.assert_close(got, truncated, rtol=1e-4, atol=1e-5 * truncated.abs().max())
    got_full = grad(run_lif, [lif.weight], None)
    torch.testing.assert_close(got_full, full, rtol=1e-4, atol=1e-5 * full.abs().max())


# --------------------------------------------------------------------------- refusals


def test_foreign_state_is_refused_where_spk_mem_is_not_the_whole_state():
    for kw in (RECURRENT[0], {"heterogeneity": "neuron", "beta": 0.9, "adaptation": True}):
        lif = _lif(**kw)
        x = bernoulli((T, B, N_IN), p=0.3)
        spk, mem = _run_lif(lif, x[:20], *lif.init_rleaky())
        with pytest.raises(ValueError, match="only for heterogeneity 'neuron' or 'none'"):
            lif(x[20], spk[-1].clone(), mem[-1] + 0.5)  # a copy of equal contents carries on
        # zeros (and RLeaky's empty initial tensors) start from rest
        lif.reset_mem()
        ref, _ = lif(x[20:])
        for zeros in (torch.zeros(B, N_OUT, dtype=F64), torch.zeros(0)):
            lif(x[:20])
            got, _ = lif(x[20:], zeros, zeros.clone())
            assert torch.equal(got, ref)
        # the carried state differs from rest, so the comparison above can fail
        lif.reset_mem()
        lif(x[:20])
        assert not torch.equal(lif(x[20:])[0], ref)


def test_spk_must_be_the_spikes_of_mem():
    lif = _lif(**RECURRENT[2])
    mem = torch.randn(B, N_OUT, dtype=F64) * 2
    spk = (mem > 1.0).to(F64)
    lif(bernoulli((1, B, N_IN))[0], spk, mem)  # consistent: taken
    with pytest.raises(ValueError, match=r"spk must be the spikes of mem .* entries that differ"):
        lif(bernoulli((1, B, N_IN))[0], 1 - spk, mem)
    with pytest.raises(ValueError, match=r"spk must have shape \(B, out\) = \(3, 5\); got \(3, 4"):
        lif(bernoulli((1, B, N_IN))[0], spk[:, :4], mem)
    with pytest.raises(TypeError, match="spk must have a floating-point dtype"):
        lif(bernoulli((1, B, N_IN))[0], spk.long(), mem)


def test_call_errors_name_the_argument():
    x = bernoulli((1, B, N_IN))[0]
    ff = HetSynLeaky(N_IN, N_OUT, beta=0.9, dtype=F64)
    msg = r"at most 1 state argument\(s\) after input_ \(mem; spk needs recurrent=True\); got 2"
    with pytest.raises(TypeError, match=msg):
        ff(x, torch.zeros(B, N_OUT), torch.zeros(B, N_OUT))
    with pytest.raises(TypeError, match="spk .* needs a recurrent HetSynLeaky"):
        ff(x, spk=torch.zeros(B, N_OUT, dtype=F64))
    with pytest.raises(TypeError, match="init_rleaky.* needs a recurrent HetSynLeaky"):
        ff.init_rleaky()
    msg = "call_convention='rleaky' .* needs recurrent=True; got recurrent=False"
    with pytest.raises(ValueError, match=msg):
        HetSynLeaky(N_IN, N_OUT, beta=0.9, call_convention="rleaky")
    msg = "call_convention must be one of 'leaky', 'rleaky', 'synaptic'; got 'r'"
    with pytest.raises(ValueError, match=msg):
        HetSynLeaky(N_IN, N_OUT, beta=0.9, recurrent=True, call_convention="r")
    lif = _lif(**RECURRENT[0])
    z = torch.zeros(B, N_OUT, dtype=F64)
    with pytest.raises(TypeError, match="multiple values for argument 'mem'"):
        lif(x, z, z, mem=z)
    lif(x)
    with pytest.raises(TypeError, match="spk must be None when mem is a HetSynState"):
        lif(x, z, lif.state)
    rlif = _lif(call_convention="rleaky", **RECURRENT[0])
    rlif(x)
    with pytest.raises(TypeError, match="spk must be a torch.Tensor; got HetSynState"):
        rlif(x, rlif.state)  # RLeaky's order: the one positional argument is spk
    hidden = _lif(init_hidden=True, **RECURRENT[0])
    msg = "`spk` should not be passed as an argument while `init_hidden=True`"
    with pytest.raises(TypeError, match=msg):
        hidden(x, spk=z)


@pytest.mark.parametrize("heterogeneity", ["none", "synapse"])
def test_detached_mem_alias_cuts_the_gradient_like_leaky(heterogeneity):
    """snn.Leaky's convention (feedforward): ``mem = mem.detach()`` in the loop cuts the
    gradient through the state the layer carries on, as it does for snn.Leaky."""
    fc, leaky = nn.Linear(N_IN, N_OUT), snn.Leaky(beta=0.8)
    with torch.no_grad():
        fc.weight.mul_(3.0)
    lif = HetSynLeaky.from_leaky(fc, leaky, heterogeneity)
    x = torch.rand(40, B, N_IN)
    weights = torch.rand(40, B, N_OUT)

    def grad(step, param, mem, cut_at):
        param.grad = None
        mems = []
        for t, x_t in enumerate(x):
            if t == cut_at:
                mem = mem.detach()
            _, mem = step(x_t, mem)
            mems.append(mem)
        (torch.stack(mems)[-20:] * weights[-20:]).sum().backward()
        return param.grad.clone()

    def leaky_step(x_t, mem):
        return leaky(fc(x_t), mem)

    truncated = grad(leaky_step, fc.weight, leaky.init_leaky(), 20)
    full = grad(leaky_step, fc.weight, leaky.init_leaky(), None)
    assert not torch.allclose(truncated, full, rtol=1e-3)  # the cut matters here
    tol = dict(rtol=1e-4, atol=1e-5 * full.abs().max())
    torch.testing.assert_close(grad(lif, lif.weight, lif.init_leaky(), 20), truncated, **tol)
    torch.testing.assert_close(grad(lif, lif.weight, lif.init_leaky(), None), full, **tol)
