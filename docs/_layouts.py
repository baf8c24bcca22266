"""The "Choosing a layout" page's numbers, from JSON at build time: B1 and B5 per layout
(``benchmarks/results/b8.json``) and the DMS dial record
(``experiments/results/dial/summary.json``). Nothing is recomputed; a missing file or key
fails the build (an undefined substitution is a warning, an error under ``-W``)."""

from __future__ import annotations

import json
from pathlib import Path

# layout (b8's name) -> (heterogeneity, decays, feedforward state per sample, per-step work)
LAYOUTS = {
    "per synapse": ('`"synapse"`', "out x in", "(out, in)", "out x in multiply-adds, streamed"),
    "per branch, K = 4": ('`"branch"`, `branches=4`', "out x K", "(out, K)",
                          "one W x (blocks) or K (random assignment)"),
    "per input": ('`"input"`', "in", "(in,)", "one W x"),
    "per neuron": ('`"neuron"`', "out", "(out,)", "one W x"),
    "per layer": ('`"none"`', "1", "(out,)", "one W x"),
}  # fmt: skip
# the dial record's cells, in the order of the dial, and their names on the page
CELLS = {
    "synapse": "per synapse (HetSynLIF)", "branch8": "8 branches", "branch4": "4 branches",
    "branch2": "2 branches", "branch1": "1 branch", "input": "per input",
    "neuron": "per neuron (HetNeuLIF)",
}  # fmt: skip


def _x(value) -> str:
    return "-" if value is None else f"{value:.2f}x"


def cost_table(b8: dict) -> str:
    lines = [
        "| layout | `heterogeneity` | decays | feedforward state per sample | work per step "
        "| B1, x yardstick | B5, x original |",
        "|---|---|---|---|---|---:|---:|",
    ]
    medians = b8["median_over_runs"]
    for name, (het, decays, state, work) in LAYOUTS.items():
        m = medians.get(name, {})
        lines.append(f"| {name} | {het} | {decays} | {state} | {work} "
                     f"| {_x(m.get('b1_over_yardstick'))} | {_x(m.get('b5_over_original'))} |")
    return "\n".join(lines) + "\n"


def dial_table(summary: dict) -> str:
    lines = ["| hidden layer's decays | seeds solved (>= 90 %) | median accuracy | per seed |",
             "|---|---:|---:|---|"]  # fmt: skip
    for cell, name in CELLS.items():
        r = summary["cells"].get(cell)
        if r is None:
            continue
        per = ", ".join(f"{100 * a:.0f}" for a in r["accuracies"])
        lines.append(f"| {name} | {r['solved']} of {r['seeds']} | {100 * r['median']:.1f} % "
                     f"| {per} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def write_tables(root: Path, out: Path) -> dict:
    """Write ``layouts_cost.md`` and ``dial_table.md`` into ``out``; the substitutions of
    the page (``{{ b8_loadavg }}``, ``{{ dial_cpu_minutes }}`` ...)."""
    out.mkdir(parents=True, exist_ok=True)
    b8_path = root / "benchmarks" / "results" / "b8.json"
    dial_path = root / "experiments" / "results" / "dial" / "summary.json"
    subs: dict = {}
    if b8_path.exists():
        b8 = json.loads(b8_path.read_text())
        (out / "layouts_cost.md").write_text(cost_table(b8))
        loads = [r["loadavg_before"][0] for r in b8["runs"]]
        subs["b8_runs"] = str(len(b8["runs"]))
        subs["b8_loadavg"] = f"{min(loads):.1f}-{max(loads):.1f}"
        subs["b8_machine"] = b8["machine"].get("cpu", "this machine")
        for name, key in (("per input", "input"), ("per branch, K = 4", "branch4"),
                          ("per synapse", "synapse")):  # fmt: skip
            subs[f"b8_b5_{key}"] = _x(b8["median_over_runs"][name].get("b5_over_original"))
    if dial_path.exists():
        summary = json.loads(dial_path.read_text())
        (out / "dial_table.md").write_text(dial_table(summary))
        subs["dial_cpu_minutes"] = f"{summary['cpu_seconds_of_new_runs'] / 60:.0f}"
        for cell, r in summary["cells"].items():
            subs[f"dial_solved_{cell}"] = f"{r['solved']} of {r['seeds']}"
    return subs
