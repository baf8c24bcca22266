"""The memory-flat per-step path (core/kernels/stepwise) against the reference, its in-place
safety, and the bytes autograd keeps per step."""

from __future__ import annotations

import copy
import weakref

import pytest
import torch

from hetsyn_plugins.core import HetSynLIF, HetSynReadout, Normal, dynamics
from hetsyn_plugins.core.kernels import scan, stepwise

from ..conftest import bernoulli

T, B, N_IN, N_OUT = 60, 3, 5, 4

VARIANTS = [
    {},
    {"recurrent": True},
    {"reset": "zero"},
    {"reset": "none", "recurrent": True},
    {"reset_timing": "at_spike", "recurrent": True},
    {"adaptation": True, "recurrent": True},
    {"bias": False},
    {"tau_bias": 7.0},
    {"learn_threshold": True, "threshold": 0.8},
    {"detach_reset": True, "recurrent": True},
    {"decay_parametrization": "clamp", "recurrent": True},
    {"learn_decays": False, "recurrent": True},
    {"heterogeneity": "neuron", "recurrent": True},
    {"heterogeneity": "none", "adaptation": True},
    {"decay_input": True, "recurrent": True, "tau_bias": 5.0},
]


@pytest.fixture(params=["numba", "torch"])
def backend(request, monkeypatch):
    """The fused loops, and the pure-torch twin used where numba is missing."""
    if request.param == "numba" and not scan.have_numba():
        pytest.skip("numba is not installed")
    monkeypatch.setattr(scan, "use_numba", request.param == "numba")
    return request.param


def _pair(options, cls=HetSynLIF, n_in=N_IN, n_out=N_OUT, **extra):
    """A fast layer and the same layer on the reference path."""
    kw = {} if options.get("heterogeneity", "synapse") == "none" else {"tau_syn": Normal(8, 3)}
    fast = cls(n_in, n_out, dtype=torch.float64, **kw, **options, **extra)
    with torch.no_grad():
        fast.weight.abs_().mul_(2.0)  # excitatory drive: every variant spikes and resets
    ref = copy.deepcopy(fast)
    ref.kernel = "reference"
    return fast, ref


def _loop(layer, x, state=None, detach_at=(), restart_at=(), no_grad_at=()):
    """A per-step loop; ``detach_at``: truncated BPTT; ``restart_at``: from rest again."""
    outs = []
    for t, x_t in enumerate(x):
        if t in detach_at:
            state = state.detach()
        if t in restart_at:
            state = None
        if t in no_grad_at:
            with torch.no_grad():
                out = layer.step(x_t, state)
        else:
            out = layer.step(x_t, state)
        state = out.state
        outs.append(torch.cat([out.spikes, out.membrane], -1))
    return torch.stack(outs), state


def _compare(fast, ref, x, state=None, **loop):
    """Forward values and the gradients of every parameter and of the input match."""
    xs = [x.clone().requires_grad_(True) for _ in range(2)]
    states = [None, None] if state is None else [state, state]
    results = []
    for layer, x_, s in zip((fast, ref), xs, states):
        out, final = _loop(layer, x_, s, **loop)
        g = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).reshape(out.shape)
        loss = (out * g).sum() + final.syn.sum() * 0.1
        params = [p for p in layer.parameters()]
        extra = [s.syn] if s is not None and s.syn.requires_grad else []
        grads = torch.autograd.grad(
            loss, [x_, *params, *extra], allow_unused=True, retain_graph=s is not None
        )
        results.append((out, final, grads, [n for n, _ in layer.named_parameters()]))
    (o1, f1, g1, names), (o2, f2, g2, _) = results
    assert o2[..., :N_OUT].sum() > 0  # the layer spikes
    torch.testing.assert_close(o1, o2, rtol=1e-10, atol=1e-12)
    for a, b in zip(f1.tensors(), f2.tensors()):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    for name, a, b in zip(["input", *names, "state"], g1, g2):
        assert (a is None) == (b is None), name
        if a is not None:
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-11, msg=name)


@pytest.mark.parametrize("options", VARIANTS, ids=str)
def test_step_loop_equals_reference(options, backend):
    fast, ref = _pair(options)
    _compare(fast, ref, torch.randn(T, B, N_IN, dtype=torch.float64).abs())


@pytest.mark.parametrize("options", [{}, {"recurrent": True}, {"adaptation": True}], ids=str)
def test_truncated_bptt_restart_and_no_grad_steps(options, backend):
    fast, ref = _pair(options)
    x = bernoulli((T, B, N_IN))
    _compare(fast, ref, x, detach_at=(20,), restart_at=(35,), no_grad_at=(45, 46, 47))


def test_state_passed_in_requires_grad(backend):
    """A state from a whole-sequence call (with its graph) continues exactly, gradients into
    that state included."""
    fast, ref = _pair({"recurrent": True})
    x0 = bernoulli((8, B, N_IN), seed=3)
    start = copy.deepcopy(ref).run(x0).state  # its graph reaches neither layer's parameters
    _compare(fast, ref, bernoulli((T, B, N_IN)), state=start)


def test_readout_step_loop_equals_reference(backend):
    fast, ref = _pair({}, cls=HetSynReadout)
    x = bernoulli((T, B, N_IN))
    grads, outs = [], []
    for layer in (fast, ref):
        state, ys = None, []
        for x_t in x:
            y, _, state = layer.step(x_t, state)
            ys.append(y)
        y = torch.stack(ys)
        outs.append(y)
        grads.append(torch.autograd.grad((y * y).sum(), list(layer.parameters())))
    torch.testing.assert_close(outs[0], outs[1], rtol=1e-10, atol=1e-12)
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-11)


def test_parallel_loops_equal_reference():
    """A size above stepwise.PARALLEL_WORK runs the parallel loops (chunked input gradient)."""
    if not scan.have_numba():
        pytest.skip("numba is not installed")
    n_in, n_out, batch = 512, 130, 4
    assert batch * n_out * n_in >= stepwise.PARALLEL_WORK
    fast, ref = _pair({"recurrent": True}, n_in=n_in, n_out=n_out)
    with torch.no_grad():
        for layer in (fast, ref):
            layer.weight.mul_(0.05)
    x = torch.randn(12, batch, n_in, dtype=torch.float64)
    outs = []
    for layer in (fast, ref):
        x_ = x.clone().requires_grad_(True)
        out, _ = _loop(layer, x_)
        outs.append((out, torch.autograd.grad(out.sum(), [x_, *layer.parameters()])))
    torch.testing.assert_close(outs[0][0], outs[1][0], rtol=1e-10, atol=1e-12)
    for a, b in zip(outs[0][1], outs[1][1]):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)


# --------------------------------------------------------------------------- in-place safety


def test_stale_state_raises_and_clone_branches_exactly(backend):
    fast, ref = _pair({"recurrent": True})
    x = bernoulli((20, B, N_IN))
    _, kept = _loop(fast, x[:10])
    branch = kept.clone()
    _, _ = _loop(fast, x[10:], kept)  # advances kept's currents in place
    with pytest.raises(RuntimeError, match="stale"):
        fast.step(x[0], kept)
    with pytest.raises(RuntimeError, match="stale"):
        fast.step(x[0], kept.detach())  # a detached alias shares the advanced currents
    # the clone continues exactly as the reference does from the same point
    out_fast, _ = _loop(fast, x[10:], branch)
    _, ref_kept = _loop(ref, x[:10])
    out_ref, _ = _loop(ref, x[10:], ref_kept)
    torch.testing.assert_close(out_fast, out_ref, rtol=1e-10, atol=1e-12)


def test_currents_modified_by_the_user_raise(backend):
    fast, _ = _pair({})
    x = bernoulli((4, B, N_IN))
    _, state = _loop(fast, x)
    with torch.no_grad():
        state.syn.mul_(2.0)
    with pytest.raises(RuntimeError, match="modified in place"):
        fast.step(x[0], state)


def test_backward_twice_with_retain_graph(backend):
    fast, ref = _pair({"recurrent": True})
    x = bernoulli((30, B, N_IN))
    out, _ = _loop(fast, x)
    loss = (out * out).sum()
    loss.backward(retain_graph=True)
    once = [p.grad.clone() for p in fast.parameters()]
    loss.backward()
    for g, p in zip(once, fast.parameters()):
        torch.testing.assert_close(p.grad, 2 * g, rtol=1e-12, atol=1e-14)
    out_ref, _ = _loop(ref, x)
    (out_ref * out_ref).sum().backward()
    for g, p in zip(once, ref.parameters()):
        torch.testing.assert_close(p.grad, g, rtol=1e-9, atol=1e-11)


def test_foreign_currents_are_never_written(backend):
    """Zeros of a fresh state, a state the user made: the first step writes new currents."""
    fast, _ = _pair({"recurrent": True})
    x = bernoulli((5, B, N_IN))
    start = fast.run(x).state
    before = [t.clone() for t in (start.syn, start.rec)]
    _loop(fast, x, start)
    assert torch.equal(start.syn, before[0]) and torch.equal(start.rec, before[1])
    _loop(fast, x, start)  # the same start again: works, and equals the first continuation


def test_module_moves_mid_sequence(backend):
    """A no-op ``.to()`` keeps the chain; a real conversion starts a new one; both exact."""
    fast, ref = _pair({"recurrent": True}, stateful=True)
    x = bernoulli((12, B, N_IN))
    outs = {}
    for name, layer in (("fast", fast), ("ref", ref)):
        ys = []
        for t, x_t in enumerate(x):
            if t == 4:
                layer.to(torch.float64)  # no-op
            if t == 8:
                layer.to(torch.float32).to(torch.float64)  # new tensors
            ys.append(layer.step(x_t).membrane)
        outs[name] = torch.stack(ys)
        outs[name].sum().backward()
    torch.testing.assert_close(outs["fast"], outs["ref"], rtol=1e-6, atol=1e-6)
    for a, b in zip(fast.parameters(), ref.parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-5, atol=1e-6)


def test_inference_without_no_grad_runs_in_place():
    """A frozen model outside no_grad builds no graph: the currents stay one buffer."""
    fast, _ = _pair({})
    fast.requires_grad_(False)
    x = bernoulli((6, B, N_IN))
    out = fast.step(x[0])
    ptr = out.state.syn.data_ptr()
    for x_t in x[1:]:
        out = fast.step(x_t, out.state)
    assert out.state.syn.data_ptr() == ptr


def test_a_chain_decodes_its_parameters_once(monkeypatch):
    """Steps that continue the previous step reuse its decoded parameters (no (out, in) decay
    per step); a cut, a changed parameter, another grad mode or an older state decode again,
    and the values follow the change."""
    fast, ref = _pair({"heterogeneity": "neuron"})  # no in-place currents: older states work
    calls = []
    decode = fast.params
    monkeypatch.setattr(fast, "params", lambda: calls.append(1) or decode())
    x = bernoulli((8, B, N_IN))
    state = None
    for x_t in x:
        state = fast.step(x_t, state).state
    assert len(calls) == 1
    kept = state
    state = fast.step(x[0], state.detach()).state
    assert len(calls) == 2
    with torch.no_grad():
        fast.weight.mul_(1.5)
        ref.weight.mul_(1.5)
    state = fast.step(x[1], state).state
    assert len(calls) == 3
    with torch.no_grad():
        fast.step(x[2], state)
    assert len(calls) == 4
    out = fast.step(x[3], kept)
    assert len(calls) == 5
    torch.testing.assert_close(out.membrane, ref.step(x[3], kept).membrane, rtol=1e-12, atol=0)
    copy.deepcopy(fast)  # what is remembered is not part of the module


# --------------------------------------------------------------------------- gradient sums per chain


def _pathway_loop(step, x, weights, decays):
    """A pathway stepped by hand: ``weights[t]`` / ``decays[t]`` at step ``t``."""
    current = torch.zeros(x.shape[1], weights[0].shape[0], x.shape[2], dtype=x.dtype)
    carry, sums, carries = None, [], []
    for t, x_t in enumerate(x):
        S, current, carry = step(x_t, current, carry, weights[t], decays[t])
        sums.append(S)
        carries.append(carry)
    return torch.stack(sums), carries


def _pathway_grads(step, x, weights, decays, leaves):
    sums, _ = _pathway_loop(step, x, weights, decays)
    g = torch.linspace(-1, 1, sums.numel(), dtype=sums.dtype).reshape(sums.shape)
    return torch.autograd.grad((sums * g).sum(), leaves, allow_unused=True)


def _leaves(seed=0, n=2):
    gen = torch.Generator().manual_seed(seed)
    w = [torch.randn(N_OUT, N_IN, generator=gen, dtype=torch.float64) for _ in range(n)]
    r = [torch.rand(N_OUT, N_IN, generator=gen, dtype=torch.float64) * 0.8 + 0.1 for _ in range(n)]
    return [t.requires_grad_(True) for t in (*w, *r)]


@pytest.mark.parametrize(
    "schedule",
    ["other_weight_from_10", "fresh_weight_each_step", "decay_frozen_from_10", "decay_fixed"],
)
def test_chain_sums_follow_the_parameters_of_each_step(schedule, backend):
    """Steps sum dL/dw, dL/dr per chain only while they use the chain's own tensors; a step
    with another weight, a weight made per step or a decay whose requires_grad changed returns
    its own gradient."""
    x = bernoulli((24, B, N_IN))
    w1, w2, r1, r2 = _leaves()
    steps = range(len(x))
    if schedule == "other_weight_from_10":
        weights, decays = [w1 if t < 10 else w2 for t in steps], [r1] * len(x)
    elif schedule == "fresh_weight_each_step":
        weights, decays = None, [r1] * len(x)  # w1 * 1.0, a new tensor at every step
    elif schedule == "decay_frozen_from_10":
        weights, decays = [w1] * len(x), [r1 if t < 10 else r2.detach() for t in steps]
    else:
        weights, decays = [w1] * len(x), [r1.detach()] * len(x)
    grads = []
    for step in (stepwise.synapse_step, dynamics.synapse_step):
        ws = [w1 * 1.0 for _ in steps] if weights is None else weights
        grads.append(_pathway_grads(step, x, ws, decays, [w1, w2, r1, r2]))
    for name, a, b in zip(["w1", "w2", "r1", "r2"], *grads):
        assert (a is None) == (b is None), name
        if a is not None:
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12, msg=name)


def test_backward_that_stops_before_the_chain_start_leaves_no_sums(backend):
    """``autograd.grad`` with respect to a mid-sequence tensor (the carry of step 20) runs
    only the later steps; the next backward pass gives the whole gradients."""
    x = bernoulli((30, B, N_IN))
    w, _, r, _ = _leaves()
    sums, carries = _pathway_loop(stepwise.synapse_step, x, [w] * len(x), [r] * len(x))
    loss = (sums * sums).sum()
    assert torch.autograd.grad(loss, [carries[20].carry], retain_graph=True)[0] is not None
    fast = torch.autograd.grad(loss, [w, r])
    sums, _ = _pathway_loop(dynamics.synapse_step, x, [w] * len(x), [r] * len(x))
    ref = torch.autograd.grad((sums * sums).sum(), [w, r])
    for a, b in zip(fast, ref):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------------- memory


def saved_bytes_per_step(step_fn, steps):
    """Bytes of the distinct storages autograd keeps per step of ``step_fn(t)`` (the growth
    between ``steps`` and ``2 * steps`` steps)."""

    def count(n):
        storages = {}  # saved storages, by identity; the ones still alive at the end count

        def pack(t):
            s = t.untyped_storage()
            storages[id(s)] = weakref.ref(s)
            return t.detach()  # not t: a node saving its own output would never be freed

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            for t in range(n):
                step_fn(t)
        return sum(s.nbytes() for s in (ref() for ref in storages.values()) if s is not None)

    first = count(steps)
    return (count(2 * steps) - first) / steps


def _layer_step_growth(layer, batch):
    x = torch.randn(batch, layer.in_features, requires_grad=True)
    holder = {"state": None}

    def step(t):
        holder["state"] = layer.step(x, holder["state"]).state

    return saved_bytes_per_step(step, 6)


@pytest.mark.parametrize(
    "cls, recurrent", [(HetSynLIF, False), (HetSynLIF, True), (HetSynReadout, False)]
)
def test_saved_bytes_per_step_do_not_grow_with_synapses(cls, recurrent):
    batch = 4
    kw = {"recurrent": True} if recurrent else {}
    growth = {}
    for n_in, n_out in ((32, 32), (32, 256), (256, 32)):
        growth[(n_in, n_out)] = _layer_step_growth(cls(n_in, n_out, tau_syn=Normal(10, 2), **kw), batch)
    for (n_in, n_out), g in growth.items():
        # per step only the input (B, in) and per-neuron (B, out) tensors: no (out, in) term
        assert g <= 12 * batch * (n_in + n_out) * 4, (n_in, n_out, g)
    # 8x the synapses (32 x 256 vs 32 x 32) adds at most per-neuron bytes
    assert growth[(32, 256)] - growth[(32, 32)] <= 12 * batch * (256 - 32) * 4
    # the count sees what the naive path keeps: a (B, out, in) tensor per step
    naive = cls(32, 256, tau_syn=Normal(10, 2), kernel="reference", **kw)
    assert _layer_step_growth(naive, batch) >= batch * 256 * 32 * 4
