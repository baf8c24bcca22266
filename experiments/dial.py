"""The timescale dial on DMS: between one decay per synapse and one per neuron.

Declared before the runs: the DMS task at the ``chosen`` setting of :mod:`experiments.protocol`
(the task's defaults: 5 recurrent hidden neurons, 800 ms delay, 1000 training steps), the
HetSynLIF network with its hidden layer's decays shared otherwise
(:class:`~hetsyn_plugins.tasks.network.SpikingNetwork`'s ``hidden_heterogeneity``): one decay
per input (``"input"``; its recurrent synapses one per presynaptic neuron), and K = 1, 2, 4, 8
dendritic branches (``"branch"``, contiguous blocks of the inputs and then the recurrent
synapses, one decay per (neuron, branch)); the readout and every other choice are HetSynLIF's.
Seeds 0-9 per cell; a seed is solved at >= 90 % test accuracy (the protocol's rule). The
per-synapse (HetSynLIF) and per-neuron (HetNeuLIF) cells are the protocol's own runs of the
same setting (``experiments/results/dms_protocol/runs.jsonl``; HetNeuLIF's readout is per
neuron), not run again.

Every run is one line of ``experiments/results/dial/runs.jsonl`` (cell, seed, test accuracy,
final loss, seconds, commit); a run already there is not run again. ``summary.json`` holds
per cell the accuracies, seeds solved, median; ``docs/layouts.md`` shows it.

Run: ``python -m experiments.dial [--cells input branch4 ...] [--seeds 0 1 ...]
[--threads 1] [--summary-only]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from hetsyn_plugins.tasks import make_task
from hetsyn_plugins.tasks.training import train

from .protocol import OUT as PROTOCOL_OUT
from .protocol import SEEDS, SETTINGS, SOLVED, _code_version, append_run, done_runs, read_runs

OUT = Path(__file__).parent / "results" / "dial"
SETTING = "chosen"
CELLS: dict[str, dict] = {
    "input": {"hidden_heterogeneity": "input"},
    **{f"branch{k}": {"hidden_heterogeneity": "branch", "branches": k} for k in (1, 2, 4, 8)},
}
# cell -> the protocol's model whose runs of the same setting stand for it
FROM_PROTOCOL = {"synapse": "HetSynLIF", "neuron": "HetNeuLIF"}
ORDER = ("synapse", "branch8", "branch4", "branch2", "branch1", "input", "neuron")


def run_cells(cells, seeds, out: Path = OUT, print_fn=print) -> None:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "runs.jsonl"
    options, _ = SETTINGS[SETTING]
    task = make_task("dms", **options)
    code = _code_version()
    for cell in cells:
        for seed in seeds:
            if any(r["cell"] == cell and r["seed"] == seed for r in read_runs(path)):
                continue
            start = time.monotonic()
            result = train(task, "HetSynLIF", seed=seed, progress=False,
                           model_options=CELLS[cell])  # fmt: skip
            record = {
                "cell": cell, "seed": seed, "model_options": CELLS[cell],
                "test_accuracy": result.test_metric, "final_loss": result.history[-1]["loss"],
                "steps": result.steps, "seconds": round(time.monotonic() - start, 2),
                "code": code,
            }  # fmt: skip
            append_run(path, record)
            print_fn(f"{cell:<8} seed {seed}: {result.test_metric:.1%}")


def summarize(out: Path = OUT) -> dict:
    """Per cell: accuracies by seed, seeds solved, median; the protocol's cells included."""
    accs: dict[str, list] = {}
    for r in sorted(read_runs(out / "runs.jsonl"), key=lambda r: r["seed"]):
        accs.setdefault(r["cell"], []).append(r["test_accuracy"])
    protocol = done_runs(PROTOCOL_OUT / "runs.jsonl").values()
    for cell, model in FROM_PROTOCOL.items():
        accs[cell] = [r["test_accuracy"] for r in sorted(protocol, key=lambda r: r["seed"])
                      if r["setting"] == SETTING and r["model"] == model]  # fmt: skip
    seconds = sum(r["seconds"] for r in read_runs(out / "runs.jsonl"))
    table = {
        cell: {
            "seeds": len(accs[cell]),
            "solved": sum(a >= SOLVED for a in accs[cell]),
            "median": statistics.median(accs[cell]),
            "accuracies": accs[cell],
            "source": "dms_protocol" if cell in FROM_PROTOCOL else "dial",
        }
        for cell in ORDER
        if accs.get(cell)
    }
    summary = {"setting": SETTING, "solved_at": SOLVED, "cells": table,
               "cpu_seconds_of_new_runs": round(seconds, 1)}  # fmt: skip
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cells", nargs="+", default=list(CELLS), choices=list(CELLS))
    p.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--summary-only", action="store_true")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if not args.summary_only:
        run_cells(args.cells, args.seeds)
    print(json.dumps(summarize()["cells"], indent=1))


if __name__ == "__main__":
    main()
