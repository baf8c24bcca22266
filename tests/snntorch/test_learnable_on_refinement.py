"""``HetSynLeaky.from_leaky``: which decays learn (the "frozen per-synapse decays" trap).

The rule: a heterogeneity that keeps the Leaky's sharing (the default, or the level of its
``beta``) keeps its learnability exactly; one that asks for decays the Leaky did not have
(``"synapse"``, ``"neuron"`` from one ``beta``) makes them learnable; ``learn_beta`` decides
when given. ``convert`` builds with the Leaky's own and applies ``learn_decays`` itself.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

snn = pytest.importorskip("snntorch")

from hetsyn_plugins import convert  # noqa: E402
from hetsyn_plugins.adapters.snntorch import HetSynLeaky  # noqa: E402

N_IN, N_OUT, T = 6, 4, 12


def _pair(beta=0.9, learn_beta=False):
    torch.manual_seed(0)
    fc = nn.Linear(N_IN, N_OUT)
    with torch.no_grad():
        fc.weight.mul_(3.0)  # enough drive to spike
    return fc, snn.Leaky(beta=beta, learn_beta=learn_beta)


def _learnable(lif: HetSynLeaky) -> dict[str, bool]:
    return {key: decay.learnable for key, decay in lif.layer.decays.items()}


@pytest.mark.parametrize(
    "beta, heterogeneity",
    [(0.9, None), (0.9, "none"), (torch.tensor([0.8, 0.85, 0.9, 0.95]), None),
     (torch.tensor([0.8, 0.85, 0.9, 0.95]), "neuron")],
)  # fmt: skip
def test_the_hosts_own_sharing_keeps_its_fixed_beta_fixed_and_exact(beta, heterogeneity):
    fc, leaky = _pair(beta)
    lif = HetSynLeaky.from_leaky(fc, leaky, heterogeneity)
    assert not any(_learnable(lif).values())
    assert not any(p.requires_grad for p in lif.layer.decays.parameters())
    per_neuron = torch.as_tensor(beta).reshape(-1, 1)  # (out, 1), or (1, 1) for one beta
    assert torch.equal(lif.syn_decay, per_neuron.expand_as(lif.syn_decay))


@pytest.mark.parametrize("heterogeneity", ["synapse", "neuron"])
def test_asking_for_finer_decays_makes_them_learnable(heterogeneity):
    fc, leaky = _pair(0.9)  # one fixed beta: "neuron" is finer too
    lif = HetSynLeaky.from_leaky(fc, leaky, heterogeneity)
    learnable = _learnable(lif)
    assert learnable and all(learnable.values()), learnable
    torch.testing.assert_close(lif.syn_decay, torch.full_like(lif.syn_decay, 0.9))
    x = (torch.rand(T, 3, N_IN) < 0.5).float()
    lif.reset_mem()
    spk, mem = lif(x)
    (spk.sum() + mem.pow(2).sum()).backward()
    grads = [p.grad for p in lif.layer.decays.parameters()]
    assert grads and all(g is not None and g.abs().sum() > 0 for g in grads)


def test_the_new_layer_starts_at_the_leakys_dynamics():
    fc, leaky = _pair(0.9)
    lif = HetSynLeaky.from_leaky(fc, leaky, "synapse")
    x = (torch.rand(20, 3, N_IN) < 0.5).float()
    mem = leaky.reset_mem()
    expected = []
    for x_t in x:
        spk, mem = leaky(fc(x_t), mem)
        expected.append(spk)
    lif.reset_mem()
    spk, _ = lif(x)
    assert torch.stack(expected).sum() > 0 and torch.equal(spk, torch.stack(expected))


def test_learn_beta_decides_when_given():
    fc, leaky = _pair(0.9)
    fixed = HetSynLeaky.from_leaky(fc, leaky, "synapse", learn_beta=False)
    assert not any(_learnable(fixed).values())
    assert torch.equal(fixed.syn_decay, torch.full_like(fixed.syn_decay, 0.9))  # exact
    learned = HetSynLeaky.from_leaky(fc, leaky, "none", learn_beta=True)
    assert all(_learnable(learned).values())


def test_a_learnable_beta_stays_learnable_at_every_level():
    fc, leaky = _pair(0.9, learn_beta=True)
    for heterogeneity in (None, "none", "neuron", "synapse"):
        lif = HetSynLeaky.from_leaky(fc, leaky, heterogeneity)
        assert all(_learnable(lif).values()), heterogeneity


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc, self.lif = _pair(0.9)

    def forward(self, x):  # snnTorch's tutorial loop (a constant number of steps: traceable)
        mem = self.lif.init_leaky()
        out = []
        for step in range(T):
            spk, mem = self.lif(self.fc(x[step]), mem)
            out.append(spk)
        return torch.stack(out)


@pytest.mark.parametrize("learn_decays", [True, False])
def test_convert_keeps_its_own_rule(learn_decays):
    """``convert``: ``learn_decays=True`` learns every decay, ``False`` keeps the host's
    (a fixed beta stays fixed, also per synapse)."""
    new = convert(_Net(), heterogeneity="synapse", learn_decays=learn_decays)
    assert isinstance(new.lif, HetSynLeaky)
    assert set(_learnable(new.lif).values()) == {learn_decays}
