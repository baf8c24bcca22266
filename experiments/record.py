"""The pattern-generation record: every model trained on ``make_task("pattern")`` over seeds,
its test MSE next to the constant-prediction baseline and R^2, and a figure of the target
with each model's output. Writes ``experiments/results/record.json`` and
``experiments/results/pattern_fit.png``, which ``docs/reproduction.md`` quotes (DMS has its
own protocol, :mod:`experiments.protocol`).

The constant baseline is the best constant output, the target's mean: its MSE is the
target's variance over the trial, and ``R^2 = 1 - MSE / variance`` (0: no better than a
constant; 1: a perfect fit).

Run: ``python -m experiments.record [--seeds 0 1 2] [--steps 400] [--models ...]
[--set recurrent=true rate_weight=0]``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from hetsyn_plugins.analysis import _pyplot, _save
from hetsyn_plugins.cli import _parse_options
from hetsyn_plugins.core import PRESETS
from hetsyn_plugins.tasks import make_task
from hetsyn_plugins.tasks.evaluation import summarize
from hetsyn_plugins.tasks.training import train

RESULTS = Path(__file__).parent / "results"


def constant_mse(target: torch.Tensor) -> float:
    """The MSE of the best constant prediction (the mean) of ``target``: its variance."""
    return torch.mean((target - target.mean()) ** 2).item()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--models", nargs="+", default=list(PRESETS), choices=list(PRESETS))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--set", nargs="+", default=[], metavar="KEY=VALUE",
        help="task options, as hetsyn train's (e.g. recurrent=true rate_weight=0)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    RESULTS.mkdir(exist_ok=True)
    task = make_task("pattern", **_parse_options(args.set))
    baseline = constant_mse(task.target)
    start = time.monotonic()
    mse, outputs = {}, {}
    for model in args.models:
        runs = [
            train(task, model, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                  seed=s, progress=False)  # fmt: skip
            for s in args.seeds
        ]
        mse[model] = [r.test_metric for r in runs]
        best = min(runs, key=lambda r: r.test_metric)
        x, _ = next(task.batches("test", 1, torch.Generator()))
        with torch.no_grad():
            outputs[model] = best.net(x).readout[:, 0, 0].tolist()
        print(f"pattern {model:<11} test MSE {[round(v, 4) for v in mse[model]]}", flush=True)
    record = {
        "machine": f"{platform.machine()}, {args.threads} torch thread(s), "
        f"torch {torch.__version__}",
        "settings": {
            "task": task.config(),
            "steps": args.steps,
            "batch_size": args.batch_size,
            "lr": args.lr,
            "seeds": args.seeds,
        },
        "constant_mse": baseline,
        "mse": {m: summarize(v) for m, v in mse.items()},
        "r2": {m: [1 - v / baseline for v in vs] for m, vs in mse.items()},
        "per_seed": mse,
        "best_output": outputs,
        "seconds": time.monotonic() - start,
    }
    (RESULTS / "record.json").write_text(json.dumps(record, indent=1))
    plot_fit(task, record, RESULTS / "pattern_fit.png")


def plot_fit(task, record: dict, path: Path) -> None:
    """The target and each model's output (its best seed, one test sample)."""
    plt = _pyplot()
    t = [i * task.dt_ms / 1000 for i in range(task.steps)]
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    ax.plot(t, task.target.tolist(), color="k", lw=2, label="target")
    for i, (model, y) in enumerate(record["best_output"].items()):
        best = min(record["per_seed"][model])
        r2 = 1 - best / record["constant_mse"]
        ax.plot(t, y, color=f"C{i}", lw=1, label=f"{model} (MSE {best:.3f}, R² {r2:.2f})")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("output")
    ax.set_title(
        f"Pattern generation, best seed per model (constant baseline MSE "
        f"{record['constant_mse']:.3f})",
        fontsize=8,
    )
    ax.legend(fontsize=7, loc="lower left")
    _save(fig, path)


if __name__ == "__main__":
    main()
