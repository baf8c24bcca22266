"""B8: the timescale dial, B1 and B5 per layout ("Choosing a layout" in the docs).

For each layout (one decay per synapse, per dendritic branch with K = 4, per input, per
neuron, per layer):

- B1's network (700 -> 128r -> 64r -> 20, B = 32, T = 250, the default fast path, forward +
  backward) with every layer in that layout, against the yardstick (``nn.Linear`` +
  ``snn.Leaky``) measured in the same run;
- B5's network (snnTorch tutorial 5, 784-1000-10, its own per-step loop, B = 32, T = 25)
  converted with that heterogeneity, against the original in the same run.

Each case in its own process (B1's and B5's own measuring, medians of ``--repeat``), each
layout right after its yardstick and original; the whole set ``--runs`` times, ``--pause``
seconds apart, each run with its load average. Writes ``benchmarks/results/b8.json``.

    python -m benchmarks.b8_layouts [--runs 3] [--repeat 5] [--pause 30]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

from . import b5_per_step, common
from .common import machine, write_results

# name -> (heterogeneity, further layer options)
LAYOUTS = {
    "per synapse": ("synapse", {}),
    "per branch, K = 4": ("branch", {"branches": 4}),
    "per input": ("input", {}),
    "per neuron": ("neuron", {}),
    "per layer": ("none", {}),
}
B1_CASE = {"sizes": [700, 128, 64, 20], "recurrent": True, "T": 250, "B": 32}
B5_CASE = {"T": 25, "B": 32}


def _b1_build(case: dict):
    """B1's network with every layer in the case's layout (the yardstick as B1's)."""
    from torch import nn

    from hetsyn_plugins import HetSynLIF, HetSynReadout

    if case["path"] == "yardstick":
        return common.LeakyYardstick(case["sizes"], case["recurrent"])
    het, options = LAYOUTS[case["layout"]]
    sizes = case["sizes"]
    layers = [HetSynLIF(a, b, recurrent=True, heterogeneity=het, **options)
              for a, b in zip(sizes[:-2], sizes[1:-1])]  # fmt: skip
    layers.append(HetSynReadout(sizes[-2], sizes[-1], heterogeneity=het, **options))
    return nn.Sequential(*layers)


def _b5_build(layout: str):
    """B5's ``build`` with the conversion in ``layout`` (the original as B5's)."""

    def build(name: str, T: int):
        import hetsyn_plugins

        model = b5_per_step.Tutorial5(T)
        if name == "snntorch":
            return model
        het, options = LAYOUTS[layout]
        _, report = hetsyn_plugins.convert(model, heterogeneity=het, inplace=True,
                                           return_report=True, **options)  # fmt: skip
        if len(report.converted) != 2:
            raise RuntimeError(f"not every pair was converted:\n{report}")
        return model

    return build


def measure_in_process(case: dict) -> dict:
    if case["bench"] == "B1":
        common.build = _b1_build
        return common.measure_in_process(case)
    b5_per_step.build = _b5_build(case.get("layout", "per synapse"))
    return b5_per_step.measure_in_process(case)


def _measure(case: dict) -> dict:
    return common.measure(case, child=("benchmarks.b8_layouts", "--child"))


def one_run(repeat: int) -> dict:
    """Every layout once, each right after its yardstick (B1) and original (B5): the pairs
    are measured together, so a change of load between layouts moves both sides."""
    load = os.getloadavg()
    rows = {}
    for layout in LAYOUTS:
        yard = _measure({**B1_CASE, "bench": "B1", "path": "yardstick", "repeat": repeat})
        b1 = _measure({**B1_CASE, "bench": "B1", "path": "hetsyn", "layout": layout,
                       "repeat": repeat})  # fmt: skip
        orig = _measure({**B5_CASE, "bench": "B5", "model": "snntorch", "repeat": repeat})
        b5 = _measure({**B5_CASE, "bench": "B5", "model": "snntorch-converted", "layout": layout,
                       "repeat": repeat})  # fmt: skip
        rows[layout] = {
            "b1_seconds": b1.get("seconds"), "b1_error": b1.get("error"),
            "b1_yardstick_seconds": yard.get("seconds"), "b1_over_yardstick": _ratio(b1, yard),
            "b5_seconds": b5.get("seconds"), "b5_error": b5.get("error"),
            "b5_original_seconds": orig.get("seconds"), "b5_over_original": _ratio(b5, orig),
            "b5_peak_above_baseline_bytes": b5.get("peak_above_baseline_bytes"),
        }  # fmt: skip
        print(f"{layout:<20} B1 {rows[layout]['b1_over_yardstick'] or float('nan'):6.2f}x  "
              f"B5 {rows[layout]['b5_over_original'] or float('nan'):6.2f}x", flush=True)
    return {"loadavg_before": load, "loadavg_after": os.getloadavg(), "layouts": rows}


def _ratio(a: dict, b: dict):
    return a["seconds"] / b["seconds"] if "seconds" in a and "seconds" in b else None


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--pause", type=float, default=30.0)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure_in_process(json.loads(args.child))))
        return {}
    runs = []
    for k in range(args.runs):
        if k:
            time.sleep(args.pause)
        print(f"run {k + 1} of {args.runs}", flush=True)
        runs.append(one_run(args.repeat))
    summary = {
        layout: {
            key: statistics.median(r["layouts"][layout][key] for r in runs
                                   if r["layouts"][layout][key] is not None)
            for key in ("b1_over_yardstick", "b5_over_original")
            if any(r["layouts"][layout][key] is not None for r in runs)
        }
        for layout in LAYOUTS
    }  # fmt: skip
    payload = {
        "benchmark": "B8",
        "b1": "700-128r-64r-20, B=32, T=250, forward + backward, fast path vs nn.Linear + "
        "snn.Leaky",
        "b5": "snnTorch tutorial 5 (784-1000-10) converted, its per-step loop, B=32, T=25, "
        "forward + backward, vs the original",
        "target": "B5: per input and per branch (K = 4) at most 3x the original",
        "machine": machine(),
        "runs": runs,
        "median_over_runs": summary,
    }
    print("written to", write_results("b8", payload))
    return payload


if __name__ == "__main__":
    main(sys.argv[1:])
