"""The DMS protocol: which of the paper's conventions decide whether HetSynLIF solves delayed
match-to-sample with 5 hidden neurons (800 ms delay) while HomNeuLIF does not.

Declared before the runs: 10 seeds (0-9) for each of the four models in each setting; a
setting changes one factor from ``package`` (this package's earlier DMS defaults), except
``paper`` (all of the paper's conventions at once) and ``paper_1000`` (the same, trained
1000 steps). Every run is one line of ``experiments/results/dms_protocol/runs.jsonl``
(setting, options, model, seed, test accuracy, final training loss, seconds); a run already
there is not run again, so the protocol resumes where it stopped. The summary (per setting
and model: seeds at >= 90 %, at chance (<= 60 %), median, mean, min, max) goes to
``summary.json`` and the Markdown table to ``table.md``, which ``docs/reproduction.md``
includes.

Run: ``python -m experiments.protocol [--settings paper package ...] [--seeds 0 1 ...]
[--threads 1] [--summary-only]``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from hetsyn_plugins.core import PRESETS
from hetsyn_plugins.tasks import make_task
from hetsyn_plugins.tasks.training import train

OUT = Path(__file__).parent / "results" / "dms_protocol"
SEEDS = tuple(range(10))
SOLVED, CHANCE_BAND = 0.9, 0.6

PAPER = dict(
    reset_tau_ms=20.0,
    baseline_tau_ms=50.0,
    baseline_self_connections=False,
    decay_parametrization="clamp",
    decay_lr_factor=2.0,
    readout_loss="softmax_sum",
    bias=False,
    weight_init="normal",
    surrogate="multi_gaussian",
)
"""The paper's conventions for DMS (its SHD code's, where its text is silent)."""

# name: (options of make_task("dms", ...), what the setting changes)
SETTINGS: dict[str, tuple[dict, str]] = {
    "package": ({}, "this package's earlier defaults (reset tied to tau_syn and learned, ...)"),
    "paper": (PAPER, "all of the paper's conventions below at once"),
    "reset_fixed": (dict(reset_tau_ms=20.0), "a reset current of its own, fixed 20 ms"),
    "baselines": (
        dict(baseline_tau_ms=50.0, baseline_self_connections=False),
        "HomNeu: fixed 50 ms membrane, no self-connections",
    ),
    "budget_1000": (dict(train_steps=1000), "1000 training steps instead of 300"),
    "decays_clamp": (
        dict(decay_parametrization="clamp", decay_lr_factor=2.0),
        "decays learned directly, clamped, at 2 x lr (logit: sigmoid-parametrised)",
    ),
    "softmax_sum": (dict(readout_loss="softmax_sum"), "loss on the sum of softmaxes"),
    "init_paper": (
        dict(bias=False, weight_init="normal"),
        "no bias, weights N(0, 1/sqrt(fan_in))",
    ),
    "multi_gaussian": (dict(surrogate="multi_gaussian"), "multi-Gaussian surrogate (atan)"),
    "paper_1000": ({**PAPER, "train_steps": 1000}, "the paper's conventions, 1000 steps"),
}


def run_key(setting: str, model: str, seed: int) -> str:
    return f"{setting}/{model}/{seed}"


def done_runs(path: Path) -> dict[str, dict]:
    if not path.is_file():
        return {}
    runs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {run_key(r["setting"], r["model"], r["seed"]): r for r in runs}


def run_protocol(settings, seeds, models=tuple(PRESETS), out: Path = OUT, print_fn=print):
    out.mkdir(parents=True, exist_ok=True)
    path = out / "runs.jsonl"
    for setting in settings:
        options, _ = SETTINGS[setting]
        task = make_task("dms", **options)
        for model in models:
            for seed in seeds:
                if run_key(setting, model, seed) in done_runs(path):  # (another process's too)
                    continue
                start = time.monotonic()
                result = train(task, model, seed=seed, progress=False)
                record = {
                    "setting": setting,
                    "options": options,
                    "model": model,
                    "seed": seed,
                    "test_accuracy": result.test_metric,
                    "final_loss": result.history[-1]["loss"],
                    "steps": result.steps,
                    "seconds": round(time.monotonic() - start, 2),
                }
                with path.open("a") as f:
                    f.write(json.dumps(record) + "\n")
                print_fn(f"{setting:<15} {model:<11} seed {seed}: {result.test_metric:.1%}")


def summarize_runs(out: Path = OUT) -> dict:
    """Per setting and model: the accuracies of every seed and their summary."""
    runs = done_runs(out / "runs.jsonl").values()
    table: dict[str, dict] = {}
    for setting in SETTINGS:
        for model in PRESETS:
            accs = [r["test_accuracy"] for r in sorted(runs, key=lambda r: r["seed"])
                    if r["setting"] == setting and r["model"] == model]  # fmt: skip
            if not accs:
                continue
            table.setdefault(setting, {})[model] = {
                "n": len(accs),
                "solved": sum(a >= SOLVED for a in accs),
                "at_chance": sum(a <= CHANCE_BAND for a in accs),
                "median": statistics.median(accs),
                "mean": statistics.fmean(accs),
                "min": min(accs),
                "max": max(accs),
                "per_seed": accs,
            }
    return table


def markdown_table(table: dict) -> str:
    models = list(PRESETS)
    head = "| setting | what it changes | " + " | ".join(models) + " |"
    lines = [head, "|---|---|" + "---:|" * len(models)]
    for setting, per_model in table.items():
        cells = []
        for m in models:
            r = per_model.get(m)
            cells.append("" if r is None else f"**{r['solved']}/{r['n']}** ({r['median']:.0%})")
        lines.append(f"| `{setting}` | {SETTINGS[setting][1]} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--summary-only", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if not args.summary_only:
        run_protocol(args.settings, args.seeds)
    table = summarize_runs()
    summary = {
        "machine": f"{platform.machine()}, {args.threads} torch thread(s), torch {torch.__version__}",
        "solved_at": SOLVED,
        "chance_band": CHANCE_BAND,
        "settings": {k: {"options": v[0], "changes": v[1]} for k, v in SETTINGS.items()},
        "results": table,
    }
    (OUT / "summary.json").write_text(json.dumps(summary, indent=1))
    (OUT / "table.md").write_text(markdown_table(table))
    print(markdown_table(table))


if __name__ == "__main__":
    main()
