"""B3: the presets HomNeuLIF and HetNeuLIF through the package against the yardstick
(``nn.Linear`` + ``snn.Leaky``), on the B1 architecture (batch 32) and on the network twice as
wide (700-256r-128r-20, batch 64). Target: at most 0.5x the yardstick. ``--runs`` repeats the
set at different moments (``--pause`` seconds apart); every run is kept. Writes
benchmarks/results/b3.json.

``--tau-reset 20`` measures the presets as the paper's SHD recipe builds its baselines, with a
reset current of their own (the shared layout with its own reset).

    python -m benchmarks.b3_presets [--T 250] [--repeat 5] [--runs 3] [--pause 60]
        [--tau-reset 20]
"""

from __future__ import annotations

import argparse

from .b1_shd import SIZES, WIDE
from .common import machine, measure, repeated_runs, write_results

PRESETS = {"HomNeuLIF": "none", "HetNeuLIF": "neuron"}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--T", type=int, nargs="+", default=[250])
    parser.add_argument("--B", type=int, default=32)
    parser.add_argument("--no-wide", action="store_true", help="skip 700-256r-128r-20, B = 64")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--pause", type=float, default=60.0, help="seconds between runs")
    parser.add_argument("--tau-reset", type=float, default=None,
                        help="a fixed reset current of its own (the SHD recipe's baselines)")
    args = parser.parse_args(argv)
    configs = [(SIZES, args.B, T) for T in args.T] + ([] if args.no_wide else [(WIDE, 64, 250)])

    def rows(_):
        out = []
        for sizes, B, T in configs:
            base = {"sizes": sizes, "recurrent": True, "T": T, "B": B, "repeat": args.repeat}
            yard = measure({**base, "path": "yardstick"}).get("seconds")
            for name, het in PRESETS.items():
                case = {**base, "path": "hetsyn", "kernel": "auto", "heterogeneity": het,
                        "tau_reset": args.tau_reset}  # fmt: skip
                s = measure(case).get("seconds")
                ratio = s / yard if s and yard else None
                out.append({"sizes": sizes, "B": B, "T": T, "preset": name, "seconds": s,
                            "yardstick_seconds": yard, "over_yardstick": ratio,
                            "tau_reset": args.tau_reset})  # fmt: skip
                net = "-".join(map(str, sizes))
                print(f"{net} B={B} T={T:>5} {name:<10} {s:.3f} s  yardstick {yard:.3f} s  "
                      f"ratio {ratio:.2f}  (target <= 0.5)", flush=True)  # fmt: skip
        return out

    runs = repeated_runs(args.runs, args.pause, rows)
    summary = [dict(row) for row in runs[0]["rows"]]
    for i, row in enumerate(summary):
        row["over_yardstick_runs"] = [run["rows"][i]["over_yardstick"] for run in runs]
    payload = {"benchmark": "B3", "sizes": SIZES, "machine": machine(), "repeat": args.repeat,
               "runs": runs, "rows": summary}  # fmt: skip
    print("written to", write_results("b3" if args.tau_reset is None else "b3_reset", payload))
    return payload


if __name__ == "__main__":
    main()
