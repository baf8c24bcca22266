"""B3: the presets HomNeuLIF and HetNeuLIF through the package cost at most 1.2x the
yardstick (``nn.Linear`` + ``snn.Leaky``) on the B1 architecture (they collapse to one matrix
product per step). Writes benchmarks/results/b3.json.

    python -m benchmarks.b3_presets [--T 250] [--repeat 3]
"""

from __future__ import annotations

import argparse

from .common import machine, measure, write_results

SIZES = [700, 128, 64, 20]
PRESETS = {"HomNeuLIF": "none", "HetNeuLIF": "neuron"}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--T", type=int, nargs="+", default=[250])
    parser.add_argument("--B", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    rows = []
    for T in args.T:
        base = {"sizes": SIZES, "recurrent": True, "T": T, "B": args.B, "repeat": args.repeat}
        yard = measure({**base, "path": "yardstick"}).get("seconds")
        for name, het in PRESETS.items():
            s = measure({**base, "path": "hetsyn", "kernel": "auto", "heterogeneity": het}).get("seconds")
            ratio = s / yard if s and yard else None
            rows.append({"T": T, "preset": name, "seconds": s, "yardstick_seconds": yard,
                         "over_yardstick": ratio})
            print(f"T={T:>5} {name:<10} {s:.3f} s  yardstick {yard:.3f} s  ratio {ratio:.2f}"
                  f"  (target <= 1.2)", flush=True)
    payload = {"benchmark": "B3", "sizes": SIZES, "machine": machine(), "rows": rows}
    print("written to", write_results("b3", payload))
    return payload


if __name__ == "__main__":
    main()
