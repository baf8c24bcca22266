"""The main job (``hetsyn demo``): delayed match-to-sample with few hidden neurons, the four
models of the paper side by side, on the CPU in a few minutes.

It trains each model (HetSynLIF, HetNeuLIF, HomNeuLIF, HomNeuALIF) for every seed, prints a
result table, and saves to its output folder: ``results.json`` (every number), ``accuracy.png``
(test accuracy per model), ``deletion_noise.png`` (accuracy vs input-spike deletion),
``taus_HetSynLIF.png`` (learned vs initial time constants of the first HetSynLIF network).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from .analysis import learned_taus, plot_curves, plot_tau_histograms
from .core import PRESETS
from .tasks.dms import DelayedMatchToSample
from .tasks.evaluation import robustness, summarize
from .tasks.training import train

DELETION_LEVELS = (0.0, 0.2, 0.4, 0.6)


def run_demo(
    models: Sequence[str] = tuple(PRESETS),
    *,
    seeds: Sequence[int] = (0, 1, 2),
    hidden: int = 5,
    steps: int = 300,
    delay_ms: float = 800.0,
    out: str | Path = "hetsyn-demo",
    progress: bool = True,
    print_fn=print,
) -> dict:
    """Train and evaluate every model on DMS; write the figures and ``results.json`` to ``out``.

    Returns the results (as written to ``results.json``).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    task = DelayedMatchToSample(hidden=hidden, delay_ms=delay_ms)
    print_fn(
        f"Delayed match-to-sample: {task.in_features} inputs, cues of {task.cue_ms:g} ms, "
        f"delay {task.delay_ms:g} ms, dt {task.dt_ms:g} ms ({task.steps} steps), "
        f"{hidden} hidden neurons, {steps} training steps, seeds {list(seeds)}."
    )
    start = time.monotonic()
    record: dict = {"task": task.config(), "steps": steps, "seeds": list(seeds), "models": {}}
    first_net = {}
    for model in models:
        accs, deletion, seconds = [], [], []
        for seed in seeds:
            torch.manual_seed(seed)
            initial = learned_taus(task.build_model(model), task.dt_ms)  # the same draw as train's
            result = train(task, model, steps=steps, seed=seed, progress=progress)
            accs.append(result.test_metric)
            seconds.append(result.seconds)
            deletion.append(robustness(result.net, task, "deletion", DELETION_LEVELS))
            first_net.setdefault(model, (result.net, initial))
        record["models"][model] = {
            "accuracy": summarize(accs),
            "accuracy_per_seed": accs,
            "train_seconds": summarize(seconds),
            "deletion_levels": list(DELETION_LEVELS),
            "deletion_accuracy": [summarize(col)["mean"] for col in zip(*deletion)],
        }
        print_fn(_row(model, record["models"][model]))
    record["total_seconds"] = time.monotonic() - start

    (out / "results.json").write_text(json.dumps(record, indent=1))
    _figures(record, first_net, task, out)
    print_fn("")
    print_fn(table(record))
    print_fn(f"\nDone in {record['total_seconds']:.0f} s. Figures and results.json in {out}/")
    return record


def table(record: dict) -> str:
    """The result table of a demo record (a string)."""
    lines = [f"{'model':<12}{'test accuracy':>18}{'min':>8}{'max':>8}{'seeds':>7}{'s/model':>9}"]
    for model, r in record["models"].items():
        a = r["accuracy"]
        lines.append(
            f"{model:<12}{a['mean']:>10.1%} ± {a['std']:<5.1%}{a['min']:>8.1%}{a['max']:>8.1%}"
            f"{a['n']:>7}{r['train_seconds']['mean']:>9.0f}"
        )
    return "\n".join(lines)


def _row(model: str, r: dict) -> str:
    per_seed = ", ".join(f"{v:.0%}" for v in r["accuracy_per_seed"])
    return f"  {model:<11} test accuracy {r['accuracy']['mean']:.1%} (seeds: {per_seed})"


def _figures(record: dict, first_net: dict, task: DelayedMatchToSample, out: Path) -> None:
    from .analysis import _pyplot, _save

    plt = _pyplot()
    models = list(record["models"])
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    means = [record["models"][m]["accuracy"]["mean"] for m in models]
    stds = [record["models"][m]["accuracy"]["std"] for m in models]
    ax.bar(models, means, yerr=stds, color=[f"C{i}" for i in range(len(models))], capsize=4)
    ax.axhline(0.5, color="0.6", ls="--", lw=1)
    ax.set_ylim(0, 1)
    ax.set_ylabel("test accuracy")
    ax.set_title(f"DMS, {task.hidden} hidden neurons, delay {task.delay_ms:g} ms", fontsize=9)
    ax.tick_params(axis="x", labelsize=8)
    _save(fig, out / "accuracy.png")

    plot_curves(
        {m: (r["deletion_levels"], r["deletion_accuracy"]) for m, r in record["models"].items()},
        out / "deletion_noise.png",
        xlabel="probability of deleting an input spike",
        ylabel="test accuracy",
        chance=0.5,
    )
    if "HetSynLIF" in first_net:
        net, initial = first_net["HetSynLIF"]
        plot_tau_histograms(
            learned_taus(net, task.dt_ms),
            out / "taus_HetSynLIF.png",
            compare=initial,
            title="HetSynLIF on DMS: learned time constants",
        )
