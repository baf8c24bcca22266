"""The reproduction record: runs the default settings of the paper's two headline claims on the
CPU and writes ``experiments/results/record.json`` plus the Markdown table quoted in
``docs/reproduction.md``.

- DMS with 5 hidden neurons (``hetsyn demo``'s setting): test accuracy per model over seeds.
- Pattern generation (``hetsyn train --task pattern``'s defaults): test MSE per model over seeds.

Run: ``python -m experiments.record [--seeds 0 1 2] [--pattern-steps 150]
[--dms-from hetsyn-demo/results.json]``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from hetsyn_plugins.core import PRESETS
from hetsyn_plugins.demo import run_demo
from hetsyn_plugins.tasks import make_task
from hetsyn_plugins.tasks.evaluation import summarize
from hetsyn_plugins.tasks.training import train

RESULTS = Path(__file__).parent / "results"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--dms-steps", type=int, default=300)
    parser.add_argument("--pattern-steps", type=int, default=150)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--dms-from", help="reuse the results.json of a `hetsyn demo` run")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    RESULTS.mkdir(exist_ok=True)
    record = {
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch thread(s), "
        f"torch {torch.__version__}",
        "seeds": args.seeds,
    }
    start = time.monotonic()
    if args.dms_from:
        dms = json.loads(Path(args.dms_from).read_text())
    else:
        dms = run_demo(seeds=args.seeds, steps=args.dms_steps, out=RESULTS / "dms", progress=False)
    record["dms"] = {
        "settings": {
            "task": dms["task"],
            "steps": dms["steps"],
            "seeds": dms["seeds"],
            "batch_size": 64,
            "lr": 1e-2,
        },
        "accuracy": {m: r["accuracy"] for m, r in dms["models"].items()},
        "per_seed": {m: r["accuracy_per_seed"] for m, r in dms["models"].items()},
    }
    task = make_task("pattern")
    mse = {}
    for model in PRESETS:
        runs = [
            train(
                task,
                model,
                steps=args.pattern_steps,
                batch_size=16,
                lr=1e-2,
                seed=s,
                progress=False,
            )
            for s in args.seeds
        ]
        mse[model] = [r.test_metric for r in runs]
        print(f"pattern {model:<11} test MSE {[round(v, 4) for v in mse[model]]}", flush=True)
    record["pattern"] = {
        "settings": {
            "task": task.config(),
            "steps": args.pattern_steps,
            "batch_size": 16,
            "lr": 1e-2,
        },
        "mse": {m: summarize(v) for m, v in mse.items()},
        "per_seed": mse,
    }
    record["seconds"] = time.monotonic() - start
    (RESULTS / "record.json").write_text(json.dumps(record, indent=1))
    print(markdown(record))


def markdown(record: dict) -> str:
    """The two tables of the reproduction record, in Markdown."""
    lines = [
        "| model | DMS accuracy, 5 hidden (mean ± sd) | min-max | pattern MSE (mean ± sd) | min-max |",
        "|---|---:|---:|---:|---:|",
    ]
    for m in record["dms"]["accuracy"]:
        a, p = record["dms"]["accuracy"][m], record["pattern"]["mse"][m]
        lines.append(
            f"| {m} | {a['mean']:.1%} ± {a['std']:.1%} | {a['min']:.1%}-{a['max']:.1%} "
            f"| {p['mean']:.4f} ± {p['std']:.4f} | {p['min']:.4f}-{p['max']:.4f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
