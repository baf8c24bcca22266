"""The paper's SHD recipe: ``make_task("shd")`` builds the paper's model (checked against its
equations written out here, float64, forward and gradients), with its surrogate, loss, reset,
initialisation, training recipe and validation reporting; and the pieces they are made of."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from hetsyn_plugins.core import HetSynLIF, MultiGaussianSpike
from hetsyn_plugins.tasks import make_task
from hetsyn_plugins.tasks.network import SpikingNetwork
from hetsyn_plugins.tasks.recipe import PAPER_SHD, Recipe
from hetsyn_plugins.tasks.shd import SpikingHeidelbergDigits

# ------------------------------------------------------------------ the multi-Gaussian surrogate


def gauss(u, mu, sigma):
    return torch.exp(-((u - mu) ** 2) / (2 * sigma**2)) / (sigma * math.sqrt(2 * math.pi))


def yin_derivative(u):
    """Yin et al. (2021), the paper's values: 0.5 [1.15 N(0, .5) - .15 N(.5, 3) - .15 N(-.5, 3)]."""
    return 0.5 * (1.15 * gauss(u, 0, 0.5) - 0.15 * gauss(u, 0.5, 3.0) - 0.15 * gauss(u, -0.5, 3.0))


class PaperSpike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u):
        ctx.save_for_backward(u)
        return (u > 0).to(u.dtype)

    @staticmethod
    def backward(ctx, g):
        (u,) = ctx.saved_tensors
        return g * yin_derivative(u)


def test_multi_gaussian_spike_is_yins_surrogate():
    u = torch.linspace(-4, 4, 801, dtype=torch.float64, requires_grad=True)
    fn = MultiGaussianSpike()
    z = fn(u)
    assert torch.equal(z, (u > 0).double())
    (grad,) = torch.autograd.grad(z.sum(), u)
    assert torch.allclose(grad, yin_derivative(u.detach()), rtol=0, atol=1e-15)
    assert grad.min() < 0  # the negative side lobes
    wide = torch.linspace(-60, 60, 240001, dtype=torch.float64)
    integral = torch.trapezoid(fn.derivative(wide), wide).item()
    assert abs(integral - 0.5 * (1 - 0.15)) < 1e-6  # gamma (1 - height)
    assert fn(torch.zeros(1)).item() == 0  # fires above threshold only
    other = MultiGaussianSpike(width=1.0, height=0.0, gamma=1.0)
    assert torch.allclose(other.derivative(u.detach()), gauss(u.detach(), 0, 1.0))
    for bad in (dict(width=0), dict(scale=-1), dict(gamma=float("nan")), dict(height=-0.1)):
        with pytest.raises(ValueError, match=next(iter(bad))):
            MultiGaussianSpike(**bad)


def test_multi_gaussian_spike_in_both_hosts():
    """Passed as snnTorch's ``spike_grad`` or SpikingJelly's ``surrogate_function``, it gives
    the gradients of Yin's derivative written out above."""
    snn = pytest.importorskip("snntorch")
    sj = pytest.importorskip("spikingjelly.activation_based.neuron")
    import hetsyn_plugins  # noqa: F401  (registers the neurons)

    x = torch.rand(12, 3, 5, dtype=torch.float64) * 2
    faces = {
        "snntorch": lambda fn: snn.HetSynLeaky(5, 4, beta=0.8, spike_grad=fn, sequence=True),
        "spikingjelly": lambda fn: sj.HetSynNode(5, 4, surrogate_function=fn, step_mode="m"),
    }
    for host, make in faces.items():
        grads = []
        for fn in (MultiGaussianSpike(), PaperSpike.apply):
            torch.manual_seed(0)
            face = make(fn).double()
            out = face(x)
            z = out[0] if isinstance(out, tuple) else out
            assert z.sum() > 0, host
            grads.append(torch.autograd.grad(z.sum(), face.layer.weight)[0])
        assert grads[0].abs().sum() > 0, host
        assert torch.allclose(grads[0], grads[1], rtol=1e-12, atol=1e-14), host


# ------------------------------------------------------------------ layers the recipe needs


def test_untied_reset_in_shared_models_follows_its_equations():
    torch.manual_seed(0)
    x = (torch.rand(30, 3, 6, dtype=torch.float64) < 0.5).double()
    for het in ("none", "neuron"):
        layer = HetSynLIF(
            6, 4, recurrent=True, heterogeneity=het, tau_syn=10.0, tau_reset=20.0,
            learn_reset_decay=False, self_connections=False, bias=False, dtype=torch.float64,
        )  # fmt: skip
        assert not layer.shared and not layer.decays["reset"].learnable
        rho = layer.decays["membrane"]().expand(4)
        kappa = layer.decays["reset"]().expand(4)
        assert torch.allclose(kappa, torch.full((4,), math.exp(-1 / 20), dtype=torch.float64))
        w, u = layer.weight, layer.recurrent_weight * (1 - torch.eye(4, dtype=torch.float64))
        current, reset, z, vs = (torch.zeros(3, 4, dtype=torch.float64) for _ in range(4))
        vs = []
        for t in range(30):
            current = rho * current + x[t] @ w.T + z @ u.T
            reset = kappa * reset + z
            v = current - reset
            z = (v > 1).double()
            vs.append(v)
        expected = torch.stack(vs)
        for kernel in ("reference", "scan", "auto"):
            layer.kernel = kernel
            out = layer.run(x)
            assert torch.allclose(out.membrane, expected, atol=1e-12), (het, kernel)
            grad = torch.autograd.grad(out.membrane.sum(), layer.recurrent_weight)[0]
            assert torch.count_nonzero(grad.diagonal()) == 0  # no self-connections
            assert torch.count_nonzero(grad) > 0
    with pytest.raises(ValueError, match="learn_reset_decay needs tau_reset"):
        HetSynLIF(3, 2, heterogeneity="none", learn_reset_decay=False)
    with pytest.raises(ValueError, match="self_connections=False needs recurrent"):
        HetSynLIF(3, 2, self_connections=False)


# ------------------------------------------------------------------ the paper's SHD model


def test_shd_defaults_are_the_papers_recipe():
    task = make_task("shd")
    assert task.binary and task.bin_edges == "right" and task.steps == 250
    assert (task.readout_loss, task.skip_steps, task.validation_fraction) == ("softmax_sum", 11, 0)
    assert task.recipe() == PAPER_SHD
    assert (PAPER_SHD.optimizer, PAPER_SHD.lr, PAPER_SHD.decay_lr) == ("adamw", 2e-3, 4e-3)
    assert (PAPER_SHD.weight_decay, PAPER_SHD.batch_size, PAPER_SHD.epochs) == (4e-3, 32, 100)
    torch.manual_seed(0)
    net = task.build_model("HetSynLIF")
    sizes = [(layer.in_features, layer.out_features, layer.recurrent) for layer in net.hidden]
    assert sizes == [(700, 128, True), (128, 64, True)]
    assert (net.readout.in_features, net.readout.out_features) == (64, 20)
    assert net.dropout.p == 0.2
    for layer in (*net.hidden, net.readout):
        assert layer.bias is None
        taus = [layer.tau_syn] + ([-1 / torch.log(layer.recurrent_decay)]
                                  if getattr(layer, "recurrent", False) else [])  # fmt: skip
        for tau in taus:  # U(5, 20) steps = 20-80 ms, per synapse
            assert 5 - 1e-4 <= tau.min() and tau.max() <= 20 + 1e-4 and tau.std() > 3
        assert all(d.parametrization == "clamp" for d in layer.decays.values() if d.learnable)
        std = layer.weight.std().item() * math.sqrt(layer.in_features)
        assert 0.9 < std < 1.1  # N(0, 1/sqrt(fan_in))
    for layer in net.hidden:
        assert isinstance(layer.spike_fn, MultiGaussianSpike)
        assert torch.allclose(layer.reset_decay, torch.tensor(math.exp(-1 / 20)))
        assert not layer.decays["reset"].learnable and layer.self_connections
    for model in ("HomNeuLIF", "HomNeuALIF"):
        base = task.build_model(model)
        for layer in base.hidden:  # fixed membrane tau of 50 steps, no self-connections
            assert not layer.self_connections and not any(p.requires_grad for p in
                                                          layer.decays.parameters())  # fmt: skip
            assert torch.allclose(layer.tau_syn, torch.tensor(50.0), atol=1e-4)
            assert torch.allclose(layer.reset_decay, torch.tensor(math.exp(-1 / 20)))


def paper_forward(net: SpikingNetwork, x: torch.Tensor, train: bool):
    """The paper's SHD network written out: per-synapse feedforward and recurrent currents, a
    reset current of decay kappa, V = sum I + sum Q - J, z = H(V - 1) with Yin's surrogate;
    dropout on the spikes passed on; a per-synapse leaky readout."""
    T, B, _ = x.shape
    inp = x
    for k, layer in enumerate(net.hidden):
        if k > 0 and train:
            inp = F.dropout(inp, 0.2, True)
        n_out, n_in = layer.weight.shape
        r, q, kappa = layer.syn_decay, layer.recurrent_decay, layer.reset_decay
        w, u = layer.weight, layer.recurrent_weight
        current = torch.zeros(B, n_out, n_in, dtype=x.dtype)
        rec = torch.zeros(B, n_out, n_out, dtype=x.dtype)
        reset = torch.zeros(B, n_out, dtype=x.dtype)
        z = torch.zeros(B, n_out, dtype=x.dtype)
        out = []
        for t in range(T):
            current = r * current + w * inp[t][:, None, :]
            rec = q * rec + u * z[:, None, :]
            reset = kappa * reset + 1.0 * z
            v = current.sum(-1) + rec.sum(-1) - reset
            z = PaperSpike.apply(v - 1.0)
            out.append(z)
        inp = torch.stack(out)
    if train:
        inp = F.dropout(inp, 0.2, True)
    r, w = net.readout.syn_decay, net.readout.weight
    current = torch.zeros(B, *w.shape, dtype=x.dtype)
    ys = []
    for t in range(T):
        current = r * current + w * inp[t][:, None, :]
        ys.append(current.sum(-1))
    return torch.stack(ys)


@pytest.mark.parametrize("train", [False, True])
def test_shd_model_equals_the_papers_equations(train):
    task = SpikingHeidelbergDigits(hidden=(6, 5), duration_ms=120.0)  # T = 30
    torch.manual_seed(1)
    net = task.build_model("HetSynLIF").double()
    with torch.no_grad():  # strong enough weights that both layers spike
        for layer in net.hidden:
            layer.weight.mul_(4.0)
    net.train(train)
    x = (torch.rand(30, 4, 700, dtype=torch.float64) < 0.05).double()
    target = torch.tensor([0, 3, 7, 19])
    torch.manual_seed(5)
    out = net(x)
    loss = task.loss(out, target)
    torch.manual_seed(5)  # the same dropout masks
    y = paper_forward(net, x, train)
    expected = F.cross_entropy(y[11:].softmax(-1).sum(0), target)
    assert all(s.sum() > 0 for s in out.spikes)
    assert torch.allclose(out.readout, y, rtol=0, atol=1e-11)
    assert torch.allclose(loss, expected, rtol=0, atol=1e-12)
    params = [p for p in net.parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss, params)
    expected_grads = torch.autograd.grad(expected, params)
    for (name, _), g, e in zip(((n, p) for n, p in net.named_parameters() if p.requires_grad),
                               grads, expected_grads):  # fmt: skip
        assert torch.allclose(g, e, rtol=1e-9, atol=1e-12), name
        assert g.abs().sum() > 0, name


def test_softmax_sum_readout_loss():
    task = SpikingHeidelbergDigits(duration_ms=80.0)  # T = 20
    readout = torch.randn(20, 3, 20)
    out = type("Out", (), {"readout": readout})()
    scores = task.logits(out)
    assert torch.allclose(scores, readout[11:].softmax(-1).sum(0))
    target = torch.tensor([1, 2, 3])
    assert torch.allclose(task.loss(out, target), F.cross_entropy(scores, target))
    mean = SpikingHeidelbergDigits(duration_ms=80.0, readout_loss="mean", skip_steps=0)
    assert torch.allclose(mean.logits(out), readout.mean(0))
    with pytest.raises(ValueError, match="readout_loss"):
        SpikingHeidelbergDigits(readout_loss="max")
    with pytest.raises(ValueError, match="skip_steps"):
        SpikingHeidelbergDigits(duration_ms=40.0)  # 10 steps, 11 skipped


# ------------------------------------------------------------------ the training recipe


def test_recipe_schedule_and_optimizer():
    r = PAPER_SHD
    per_epoch = 10  # 100 epochs of 10 steps: warm-up 50 steps, cosine to step 400, then flat
    assert r.total_steps(per_epoch) == 1000
    assert r.lr_factor(1, per_epoch) == pytest.approx(1 / 50)
    assert r.lr_factor(50, per_epoch) == pytest.approx(1.0)
    mid = 0.0068 + (1 - 0.0068) * 0.5  # half-way through the cosine
    assert r.lr_factor(225, per_epoch) == pytest.approx(mid)
    assert r.lr_factor(400, per_epoch) == pytest.approx(0.0068)
    assert r.lr_factor(999, per_epoch) == pytest.approx(0.0068)
    assert Recipe().lr_factor(7, per_epoch) == 1.0
    net = SpikingHeidelbergDigits(hidden=(4,)).build_model("HetSynLIF")
    opt = r.build_optimizer(net)
    assert isinstance(opt, torch.optim.AdamW)
    decays = {id(p) for n, p in net.named_parameters() if ".decays." in f".{n}"}
    lrs = {id(p): g["lr"] for g in opt.param_groups for p in g["params"]}
    assert decays and all(lrs[i] == 4e-3 for i in decays)
    assert all(lr == 2e-3 for i, lr in lrs.items() if i not in decays)
    assert all(g["weight_decay"] == 4e-3 for g in opt.param_groups)
    r.set_lr(opt, 25, per_epoch)
    assert sorted(g["lr"] for g in opt.param_groups) == pytest.approx([1e-3, 2e-3])
    with pytest.raises(TypeError, match="unknown training options"):
        r.with_options(learning_rate=1.0)
    for bad in (dict(optimizer="sgd"), dict(schedule="step"), dict(warmup=1.0), dict(lr=0)):
        with pytest.raises(ValueError, match=next(iter(bad))):
            Recipe(**bad)
