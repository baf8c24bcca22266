"""The synthetic tasks (DMS, pattern generation), training with checkpoints, perturbations,
the time-constant analysis and the evaluations."""

from __future__ import annotations

import json

import pytest
import torch

from hetsyn_plugins import analysis
from hetsyn_plugins.core import PRESETS
from hetsyn_plugins.core.timescales import DecayParameter
from hetsyn_plugins.tasks import TASKS, DelayedMatchToSample, PatternGeneration, make_task
from hetsyn_plugins.tasks import perturbations as P
from hetsyn_plugins.tasks.evaluation import robustness, summarize, tau_ablation
from hetsyn_plugins.tasks.training import CheckpointError, evaluate, load_checkpoint, train

SMALL = {
    "dms": dict(delay_ms=100.0, hidden=6, train_samples=64, test_samples=64),
    "pattern": dict(
        inputs=20, hidden=16, segment_ms=100.0, gap_ms=50.0, train_samples=16, test_samples=16
    ),
}


def fit_fixed_batch(task, model, steps=15, lr=2e-2, seed=0):
    """Loss on one fixed batch before and after ``steps`` Adam steps on it."""
    torch.manual_seed(seed)
    net = task.build_model(model)
    x, y = next(task.batches("train", 32, torch.Generator().manual_seed(seed)))
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    losses = []
    for _ in range(steps + 1):
        loss = task.loss(net(x), y)
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    return losses[0], losses[-1], net


@pytest.mark.parametrize("model", list(PRESETS))
@pytest.mark.parametrize("name", ["dms", "pattern"])
def test_a_few_steps_lower_the_loss(name, model):
    task = make_task(name, **SMALL[name])
    before, after, _ = fit_fixed_batch(task, model)
    assert after < 0.9 * before, (before, after)


def test_dms_data_follow_the_protocol():
    task = DelayedMatchToSample(cue_rate=200.0, noise_rate=0.0, channels_per_group=4)
    x, match = task.sample(400, torch.Generator().manual_seed(0))
    cue, delay = 20, 160  # 100 ms and 800 ms at 5 ms
    assert x.shape == (task.steps, 400, 12) and task.steps == 2 * cue + delay + 10
    left1 = x[:cue, :, :4].sum((0, 2)) > 0
    right1 = x[:cue, :, 4:8].sum((0, 2)) > 0
    left2 = x[cue + delay : 2 * cue + delay, :, :4].sum((0, 2)) > 0
    assert torch.equal(left1, ~right1)  # exactly one side per cue
    assert torch.equal(match.bool(), left1 == left2)
    assert x[cue : cue + delay].sum() == 0 and x[2 * cue + delay :].sum() == 0
    assert x[..., 8:].sum() == 0  # noise channels silent at noise_rate 0
    assert 0.4 < match.float().mean() < 0.6


def test_dms_rates_and_fixed_test_set():
    task = DelayedMatchToSample()
    x, _ = task.sample(2000, torch.Generator().manual_seed(1))
    noise = x[:, :, 20:].mean().item()
    assert abs(noise - 10 * 0.005) < 0.003  # 10 Hz at dt = 5 ms
    a = [t for _, t in task.batches("test", 100, torch.Generator().manual_seed(0))]
    b = [t for _, t in task.batches("test", 100, torch.Generator().manual_seed(99))]
    assert all(torch.equal(u, v) for u, v in zip(a, b)) and sum(len(t) for t in a) == 512


def test_dms_frozen_fraction_keeps_decays():
    task = DelayedMatchToSample(frozen_fraction=0.5, **SMALL["dms"])
    torch.manual_seed(0)
    initial = task.build_model("HetSynLIF").hidden[0].decays["syn"]().detach().clone()
    _, _, net = fit_fixed_batch(task, "HetSynLIF")
    learned = net.hidden[0].decays["syn"]().detach()
    unchanged = torch.isclose(learned, initial, rtol=0, atol=0)
    assert 0.35 < unchanged.float().mean() < 0.65  # about half kept exactly
    assert (~unchanged).any()


def test_pattern_input_repeats_and_target():
    task = PatternGeneration(
        background_rate=(0.0, 0.0), **{k: v for k, v in SMALL["pattern"].items()}
    )
    x, target = task.sample(3, torch.Generator().manual_seed(0))
    seg, gap = 20, 10
    assert x.shape == (3 * seg + 2 * gap, 3, 20) and target.shape == (x.shape[0], 3, 1)
    assert torch.equal(x[:seg], x[seg + gap : 2 * seg + gap])
    assert torch.equal(x[:seg], x[2 * (seg + gap) :])
    assert x[seg : seg + gap].sum() == 0 and x[:seg].sum() > 0
    assert target.abs().max() == pytest.approx(1.0) and torch.equal(target[:, 0], target[:, 2])


def test_pattern_rate_term():
    task = PatternGeneration(**SMALL["pattern"])
    net = task.build_model("HomNeuLIF")
    x, y = task.sample(4, torch.Generator().manual_seed(0))
    out = net(x)
    rates = task.firing_rates(out)
    expected = out.spikes[0].mean((0, 1)) * 200
    assert torch.allclose(rates, expected)
    mse = torch.mean((out.readout - y) ** 2)
    assert task.loss(out, y).item() == pytest.approx(
        (mse + 0.01 * ((rates - 10) ** 2).mean()).item(), rel=1e-6
    )


@pytest.mark.parametrize(
    "name, options, match",
    [
        ("dms", {"frozen_fraction": 1.5}, "frozen_fraction"),
        ("dms", {"cue_rate": 500.0}, "cue_rate"),
        ("dms", {"tau_min_ms": 50.0, "tau_max_ms": 10.0}, "tau_max_ms"),
        ("pattern", {"background_rate": (4.0, 1.0)}, "background_rate"),
        ("pattern", {"hidden": 0}, "hidden"),
    ],
)
def test_bad_task_options(name, options, match):
    with pytest.raises(ValueError, match=match):
        make_task(name, **options)


def test_unknown_task_and_option():
    with pytest.raises(ValueError, match="task must be one of"):
        make_task("mnist")
    with pytest.raises(TypeError, match="bad option for task 'dms'"):
        make_task("dms", delay=3)
    with pytest.raises(ValueError, match="model must be one of"):
        DelayedMatchToSample().build_model("LIF")


# ---------------------------------------------------------------------- training, checkpoints


def test_resume_equals_an_uninterrupted_run(tmp_path):
    task = make_task("dms", **SMALL["dms"])
    options = dict(batch_size=32, lr=1e-2, seed=3, progress=False)
    full = train(task, "HetSynLIF", steps=6, **options)
    train(task, "HetSynLIF", steps=3, checkpoint=tmp_path / "run", **options)
    resumed = train(task, "HetSynLIF", steps=6, checkpoint=tmp_path / "run", resume=True, **options)
    assert resumed.steps == 6 and len(resumed.history) == 6
    for a, b in zip(full.net.state_dict().values(), resumed.net.state_dict().values()):
        assert torch.equal(a, b)
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["step"] == 6 and config["model"] == "HetSynLIF"
    net, task2, _ = load_checkpoint(tmp_path / "run")
    x, _ = task.sample(8, torch.Generator().manual_seed(0))
    assert torch.equal(net(x).readout, resumed.net(x).readout)
    assert task2 == task


def test_directly_learned_decays_stay_in_range():
    """``decay_parametrization="clamp"``: train() clamps the decays after every step."""
    task = make_task("dms", **SMALL["dms"])
    result = train(
        task, "HetSynLIF", steps=5, batch_size=32, lr=0.5, progress=False,
        model_options={"decay_parametrization": "clamp"},
    )  # fmt: skip
    decays = [m() for m in result.net.modules() if isinstance(m, DecayParameter)]
    values = torch.cat([d.detach().flatten() for d in decays])
    assert values.numel() > 100 and ((values > 0) & (values < 1)).all()


def test_resume_refuses_another_run(tmp_path):
    task = make_task("dms", **SMALL["dms"])
    train(task, "HomNeuLIF", steps=1, checkpoint=tmp_path, progress=False)
    with pytest.raises(CheckpointError, match="its model is 'HomNeuLIF'"):
        train(task, "HetSynLIF", steps=2, checkpoint=tmp_path, resume=True, progress=False)


def test_bad_checkpoints(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nothing")
    with pytest.raises(CheckpointError, match="is not a checkpoint"):
        load_checkpoint(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    (tmp_path / "state.pt").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_checkpoint(tmp_path)
    task = make_task("dms", **SMALL["dms"])
    train(task, "HomNeuLIF", steps=1, checkpoint=tmp_path / "ok", progress=False)
    (tmp_path / "ok" / "state.pt").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="cannot read"):
        load_checkpoint(tmp_path / "ok")


# ---------------------------------------------------------------------- perturbations


def test_deletion_and_addition():
    g = torch.Generator().manual_seed(0)
    x = torch.bernoulli(torch.full((50, 8, 30), 0.3), generator=g)
    assert torch.equal(P.delete_spikes(x, 0.0, g), x)
    assert P.delete_spikes(x, 1.0, g).sum() == 0
    half = P.delete_spikes(x, 0.5, g)
    assert (half <= x).all() and 0.4 < half.sum() / x.sum() < 0.6
    assert torch.equal(P.add_spikes(x, 0.0, g), x)
    assert (P.add_spikes(x, 1.0, g) == 1).all()
    more = P.add_spikes(x, 0.1, g)
    assert (more >= x).all() and more.max() == 1
    with pytest.raises(ValueError, match="probability"):
        P.make_perturbation("deletion", 1.5)
    with pytest.raises(ValueError, match="kind must be one of"):
        P.make_perturbation("shuffle", 0.1)


def test_time_warp_moves_spikes_and_keeps_counts():
    x = torch.zeros(10, 1, 2)
    x[3, 0, 0] = 1
    x[7, 0, 1] = 1
    assert torch.equal(P.time_warp(x, 1.0), x)
    slow = P.time_warp(x, 2.0)
    assert slow.shape[0] == 20 and slow[6, 0, 0] == 1 and slow[14, 0, 1] == 1 and slow.sum() == 2
    fast = P.time_warp(x, 0.5)
    assert fast.shape[0] == 5 and fast[1, 0, 0] == 1 and fast[3, 0, 1] == 1


def test_robustness_curve_drops_with_deletion():
    task = make_task("dms", **SMALL["dms"])
    torch.manual_seed(0)
    net = task.build_model("HetSynLIF")
    clean, none_left = robustness(net, task, "deletion", [0.0, 1.0])
    assert clean == pytest.approx(evaluate(net, task)[1])
    # with every input spike deleted all samples look the same: one class for all
    targets = torch.cat([t for _, t in task.batches("test", 256, torch.Generator())])
    majority = max(targets.float().mean().item(), 1 - targets.float().mean().item())
    assert none_left <= majority + 1e-6
    with pytest.raises(ValueError, match="classification"):
        robustness(
            PatternGeneration(**SMALL["pattern"]).build_model("HomNeuLIF"),
            PatternGeneration(**SMALL["pattern"]),
            "warp",
            [2.0],
        )


# ---------------------------------------------------------------------- time constants


def test_learned_taus_and_reset_ablation():
    task = make_task("dms", **SMALL["dms"])
    torch.manual_seed(0)
    net = task.build_model("HetSynLIF")
    taus = analysis.learned_taus(net, dt_ms=5.0)
    assert set(taus) == {
        "hidden0.feedforward",
        "hidden0.reset",
        "hidden0.recurrent",
        "readout.membrane",
    }
    ff = taus["hidden0.feedforward"]
    assert ff.shape == (6 * 30,) and 50 <= ff.min() and ff.max() <= 2000 + 1e-6
    frac = analysis.long_tau_fraction(taus, 500.0)["hidden0.feedforward"]
    assert frac == pytest.approx((ff > 500).double().mean().item())
    ablated, counts = analysis.reset_long_taus(net, 500.0, 50.0, dt_ms=5.0)
    new = analysis.learned_taus(ablated, dt_ms=5.0)["hidden0.feedforward"]
    long = ff > 500
    assert counts["hidden0.feedforward"] == int(long.sum()) > 0
    assert torch.allclose(new[long], torch.full_like(new[long], 50.0))
    assert torch.allclose(new[~long], ff[~long])
    assert torch.equal(analysis.learned_taus(net, 5.0)["hidden0.feedforward"], ff)  # a copy
    report = tau_ablation(net, task, 500.0)
    assert report["reset_counts"]["hidden0.feedforward"] == counts["hidden0.feedforward"]
    with pytest.raises(ValueError, match="pathways must be among"):
        analysis.reset_long_taus(net, 500.0, 50.0, pathways=["hidden3.feedforward"])


def test_figures_are_written(tmp_path):
    taus = {"a": torch.tensor([1.0, 10.0, 100.0]), "b": torch.tensor([5.0, 6.0])}
    path = analysis.plot_tau_histograms(taus, tmp_path / "t.png", compare=taus)
    curve = analysis.plot_curves(
        {"m": ([0, 1], [1.0, 0.5])}, tmp_path / "c.png", xlabel="x", ylabel="y", chance=0.5
    )
    assert path.stat().st_size > 1000 and curve.stat().st_size > 1000


def test_summarize():
    s = summarize([1.0, 2.0, 3.0])
    assert s == {"mean": 2.0, "std": 1.0, "min": 1.0, "max": 3.0, "n": 3}
    assert summarize([4.0])["std"] == 0.0


def test_registry():
    assert {"dms", "pattern"} <= set(TASKS)
    for name, cls in TASKS.items():
        assert cls.name == name


def test_compare_models_and_hidden_size_sweep():
    from hetsyn_plugins.tasks.evaluation import compare_models, hidden_size_sweep

    task = make_task("dms", **{**SMALL["dms"], "train_samples": 16, "test_samples": 16})
    options = dict(steps=1, batch_size=16, progress=False)
    results = compare_models(task, ["HetSynLIF", "HomNeuLIF"], seeds=(0, 1), **options)
    assert {m: len(r) for m, r in results.items()} == {"HetSynLIF": 2, "HomNeuLIF": 2}
    assert results["HetSynLIF"][0].model == "HetSynLIF" and results["HetSynLIF"][0].steps == 1
    table = hidden_size_sweep(task, ["HomNeuLIF"], sizes=(2, 7), seeds=(0,), **options)
    assert set(table["HomNeuLIF"]) == {2, 7} and table["HomNeuLIF"][7]["n"] == 1
    assert all(0 <= v["mean"] <= 1 for v in table["HomNeuLIF"].values())


# ---------------------------------------------------------------- checkpoints: safe and whole


def test_an_existing_checkpoint_is_not_overwritten_without_force(tmp_path):
    task = make_task("dms", **SMALL["dms"])
    train(task, "HomNeuLIF", steps=1, checkpoint=tmp_path, progress=False)
    with pytest.raises(CheckpointError, match="already holds a checkpoint: resume it"):
        train(task, "HetSynLIF", steps=1, checkpoint=tmp_path, progress=False)
    assert json.loads((tmp_path / "config.json").read_text())["model"] == "HomNeuLIF"
    train(task, "HetSynLIF", steps=1, checkpoint=tmp_path, force=True, progress=False)
    assert json.loads((tmp_path / "config.json").read_text())["model"] == "HetSynLIF"


def test_bad_checkpoint_folders_fail_before_training(tmp_path, monkeypatch):
    task = make_task("dms", **SMALL["dms"])
    steps = []
    monkeypatch.setattr(task, "loss", lambda *a: steps.append(1) / 0)  # training never starts
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(CheckpointError, match="is a file"):
        train(task, "HetSynLIF", steps=1, checkpoint=tmp_path / "file", progress=False)
    with pytest.raises(ValueError, match="device must be a torch device .* got 'bogus'"):
        train(task, "HetSynLIF", steps=1, device="bogus", progress=False)
    with pytest.raises(CheckpointError, match="cannot create the checkpoint folder"):
        train(task, "HetSynLIF", steps=1, checkpoint=tmp_path / "file" / "sub", progress=False)
    assert not steps


def test_an_interrupted_save_leaves_the_last_checkpoint_whole(tmp_path, monkeypatch):
    from hetsyn_plugins.tasks import training

    task = make_task("dms", **SMALL["dms"])
    train(task, "HetSynLIF", steps=1, checkpoint=tmp_path, progress=False)
    before = (tmp_path / "state.pt").read_bytes()

    def torn(obj, path):  # a save stopped half-way
        with open(path, "wb") as f:
            f.write(b"\x80\x02 half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(training.torch, "save", torn)
    with pytest.raises(KeyboardInterrupt):
        train(task, "HetSynLIF", steps=2, checkpoint=tmp_path, resume=True, progress=False)
    assert (tmp_path / "state.pt").read_bytes() == before
    net, _, config = load_checkpoint(tmp_path)
    assert config["step"] == 1


def test_ctrl_c_saves_after_the_step_in_progress_and_resume_continues(tmp_path, monkeypatch):
    import os
    import signal

    task = make_task("dms", **SMALL["dms"])
    loss = task.loss
    calls = []
    handler = signal.getsignal(signal.SIGINT)  # Python's, or SIG_IGN in a background job

    def loss_then_ctrl_c(*args):
        calls.append(1)
        if len(calls) == 2:  # during step 2, the default --eval-every 0
            os.kill(os.getpid(), signal.SIGINT)
        return loss(*args)

    monkeypatch.setattr(task, "loss", loss_then_ctrl_c)
    options = dict(batch_size=32, seed=3, progress=False)
    with pytest.raises(KeyboardInterrupt, match="interrupted after step 2; saved to"):
        train(task, "HetSynLIF", steps=6, checkpoint=tmp_path / "run", **options)
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["step"] == 2 and [r["step"] for r in config["history"]] == [1, 2]
    monkeypatch.setattr(task, "loss", loss)
    resumed = train(task, "HetSynLIF", steps=6, checkpoint=tmp_path / "run", resume=True,
                    **options)  # fmt: skip
    full = train(task, "HetSynLIF", steps=6, **options)
    assert [r["step"] for r in resumed.history] == [1, 2, 3, 4, 5, 6]
    for a, b in zip(full.net.state_dict().values(), resumed.net.state_dict().values()):
        assert torch.equal(a, b)
    assert signal.getsignal(signal.SIGINT) is handler  # restored


def test_checkpoints_hold_the_record_of_their_step(tmp_path, monkeypatch):
    from hetsyn_plugins.tasks import training

    task = make_task("dms", **SMALL["dms"])
    saved = []
    save = training.save_checkpoint

    def spy(folder, net, optimizer, generator, config, result, *position):
        saved.append([r["step"] for r in result.history])
        return save(folder, net, optimizer, generator, config, result, *position)

    monkeypatch.setattr(training, "save_checkpoint", spy)
    train(task, "HetSynLIF", steps=4, eval_every=2, checkpoint=tmp_path, progress=False)
    assert saved[:2] == [[1, 2], [1, 2, 3, 4]]
    history = json.loads((tmp_path / "config.json").read_text())["history"]
    assert "test_metric" in history[1] and history[1]["step"] == 2


def test_resume_from_a_state_without_the_optimizer(tmp_path):
    task = make_task("dms", **SMALL["dms"])
    train(task, "HetSynLIF", steps=1, checkpoint=tmp_path, progress=False)
    state = torch.load(tmp_path / "state.pt", weights_only=True)
    torch.save({"net": state["net"]}, tmp_path / "state.pt")
    missing = r"state.pt lacks \['optimizer', 'generator', 'step'\]"
    with pytest.raises(CheckpointError, match=missing):
        train(task, "HetSynLIF", steps=2, checkpoint=tmp_path, resume=True, progress=False)


def test_jitter_moves_spikes_within_the_shift_and_keeps_counts():
    from hetsyn_plugins.tasks.perturbations import jitter_spikes, make_perturbation

    g = torch.Generator().manual_seed(0)
    x = torch.zeros(50, 3, 4)
    x[20, 1, 2] = 1.0
    x[0, 0, 0] = 2.0  # a count, near the start: clamped inside the trial
    out = jitter_spikes(x, 3, g)
    assert out.sum() == x.sum() and out[:, 0, 0].sum() == 2
    t = torch.nonzero(out[:, 1, 2]).flatten()
    assert len(t) == 1 and abs(int(t) - 20) <= 3
    assert torch.equal(jitter_spikes(x, 0, g), x)
    moved = [int(torch.nonzero(jitter_spikes(x, 3, g)[:, 1, 2])) for _ in range(40)]
    assert len(set(moved)) > 3  # it does move them
    assert torch.equal(make_perturbation("jitter", 2.0)(x, g).sum(0), x.sum(0))
    with pytest.raises(ValueError, match="max_shift must be a whole number of steps"):
        jitter_spikes(x, 1.5, g)
