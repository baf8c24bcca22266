"""The pattern-generation record: the four models trained on ``make_task("pattern")`` at the
fitting setting over the DMS protocol's 10 seeds, each seed's test MSE next to the
constant-prediction baseline and R^2, and a figure of the target with each model's output.

Declared before the runs (2026-12-03, after the 3-seed record it replaces), as the DMS
protocol (:mod:`experiments.protocol`):

- setting: ``make_task("pattern", recurrent=True, rate_weight=0)`` (a recurrent hidden layer
  of 100 neurons, the loss the MSE alone: the setting at which the 3-seed record found every
  model to learn the pattern), 600 training steps, Adam lr 0.01, batch 16, one torch thread;
- seeds 0-9 (:data:`experiments.protocol.SEEDS`), the four models of the paper;
- the baseline: the best constant output, the target's mean, whose MSE is the target's
  variance over the trial; ``R^2 = 1 - MSE / variance`` (0: no better than a constant;
  1: a perfect fit);
- the verdict (the paper: HetSynLIF reaches the lowest MSE of the four models), counted per
  seed: against each baseline, the seeds on which HetSynLIF's test MSE is lower than that
  model's with the same seed; "held" when it is so on more than half of the seeds against
  every baseline, "held only against" the baselines where it is, otherwise "not held".

Every run is a line of ``results/pattern/runs.jsonl`` with its test MSE and the model's
output on one test sample (a run there is not run again; ``--worker k --workers n`` splits
the runs between processes); ``summary`` writes ``results/pattern/summary.json`` (what the
docs read) and the figure ``results/pattern/pattern_fit.png`` (each model's best seed).

Run: ``python -m experiments.record train [--worker 0 --workers 2]``, then
``python -m experiments.record summary``.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import torch

from hetsyn_plugins.analysis import _pyplot, _save
from hetsyn_plugins.core import PRESETS
from hetsyn_plugins.tasks import make_task
from hetsyn_plugins.tasks.training import train

from .protocol import SEEDS, _code_version, append_run, read_runs, stage_args

OUT = Path(__file__).parent / "results" / "pattern"
MODELS = tuple(PRESETS)
TASK = {"recurrent": True, "rate_weight": 0}
STEPS, LR, BATCH = 600, 1e-2, 16


def task():
    return make_task("pattern", **TASK)


def constant_mse(target: torch.Tensor) -> float:
    """The MSE of the best constant prediction (the mean) of ``target``: its variance."""
    return torch.mean((target - target.mean()) ** 2).item()


def run_training(worker: int = 0, workers: int = 1, out: Path = OUT, print_fn=print) -> None:
    path = out / "runs.jsonl"
    out.mkdir(parents=True, exist_ok=True)
    code, pattern = _code_version(), task()
    x, _ = next(pattern.batches("test", 1, torch.Generator()))
    cells = [(m, s) for s in SEEDS for m in MODELS]
    for k, (model, seed) in enumerate(cells):
        if k % workers != worker:
            continue
        if (model, seed) in {(r["model"], r["seed"]) for r in read_runs(path)}:
            continue
        start = time.monotonic()
        result = train(pattern, model, steps=STEPS, batch_size=BATCH, lr=LR, seed=seed,
                       progress=False)  # fmt: skip
        with torch.no_grad():
            output = result.net(x).readout[:, 0, 0].tolist()
        record = {
            "model": model, "seed": seed, "test_mse": result.test_metric,
            "seconds": round(time.monotonic() - start, 2), "code": code,
            "output": [round(v, 5) for v in output],
        }  # fmt: skip
        append_run(path, record)
        print_fn(f"pattern {model:<11} seed {seed}: test MSE {result.test_metric:.4f}")


def _verdict(wins: dict, seeds: int) -> str:
    held = [m for m, w in wins.items() if 2 * w > seeds]
    if len(held) == len(wins):
        return "held"
    return f"held only against {', '.join(held)}" if held else "not held"


def summarize(out: Path = OUT) -> dict:
    runs = sorted(read_runs(out / "runs.jsonl"), key=lambda r: r["seed"])
    pattern = task()
    baseline = constant_mse(pattern.target)
    per_seed = {m: {r["seed"]: r["test_mse"] for r in runs if r["model"] == m} for m in MODELS}
    models = {}
    for m, by_seed in per_seed.items():
        mse = list(by_seed.values())
        if mse:
            r2 = [1 - v / baseline for v in mse]
            models[m] = {"seeds": list(by_seed), "mse": mse, "r2": r2,
                         "median_mse": statistics.median(mse), "median_r2": statistics.median(r2),
                         "min_r2": min(r2), "max_r2": max(r2)}  # fmt: skip
    het = per_seed["HetSynLIF"]
    wins = {m: sum(het[s] < v[s] for s in het if s in v)
            for m, v in per_seed.items() if m != "HetSynLIF" and v}  # fmt: skip
    best = {}
    for m in models:
        run = min((r for r in runs if r["model"] == m), key=lambda r: r["test_mse"])
        best[m] = {"seed": run["seed"], "output": run["output"]}
    summary = {
        "settings": {
            "task": pattern.config(),
            "steps": STEPS,
            "lr": LR,
            "batch_size": BATCH,
            "seeds": list(SEEDS),
        },
        "constant_mse": baseline,
        "models": models,
        "hetsyn_lower_seeds": wins,
        "verdict": _verdict(wins, len(het)) if wins else "not run",
        "cpu_seconds": round(sum(r["seconds"] for r in runs), 1),
        "codes": sorted({r["code"] for r in runs}),
        "best_output": best,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    if best:
        plot_fit(pattern, summary, out / "pattern_fit.png")
    return summary


def plot_fit(pattern, summary: dict, path: Path) -> None:
    """The target and each model's output (its best seed, one test sample)."""
    plt = _pyplot()
    t = [i * pattern.dt_ms / 1000 for i in range(pattern.steps)]
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    ax.plot(t, pattern.target.tolist(), color="k", lw=2, label="target")
    for i, (model, best) in enumerate(summary["best_output"].items()):
        r = summary["models"][model]
        k = r["seeds"].index(best["seed"])
        label = f"{model}, seed {best['seed']} (MSE {r['mse'][k]:.3f}, R² {r['r2'][k]:.2f})"
        ax.plot(t, best["output"], color=f"C{i}", lw=1, label=label)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("output")
    ax.set_title(
        f"Pattern generation, best seed per model (constant baseline MSE "
        f"{summary['constant_mse']:.3f})",
        fontsize=8,
    )
    ax.legend(fontsize=7, loc="lower left")
    _save(fig, path)


def main(argv=None) -> None:
    args = stage_args(__doc__, ("train", "summary"), argv)
    if args.stage == "train":
        run_training(args.worker, args.workers)
    summarize()


if __name__ == "__main__":
    main()
