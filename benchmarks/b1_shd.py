"""B1: the paper's SHD network, 700 -> 128r -> 64r -> 20 readout, all per-synapse decays.

Batch 32, Bernoulli(0.05) input spikes, forward + backward of a loss over all readout steps,
for T in {50, 100, 250, 1000}; and the network twice as wide, 700 -> 256r -> 128r -> 20 at
batch 64, T = 250. Paths side by side, each in its own process: the reference (naive per-step
state, plain autograd; first run only), the default fast path, and the yardstick built from
``nn.Linear`` + ``snn.Leaky``. ``--runs`` repeats the whole set at different moments
(``--pause`` seconds apart), each time with the machine's load average; every run is kept.
Writes benchmarks/results/b1.json.

    python -m benchmarks.b1_shd [--T 50 100 250 1000] [--repeat 5] [--runs 3] [--pause 60]
"""

from __future__ import annotations

import argparse

from .common import (
    GIB, fmt_bytes, fmt_seconds, machine, measure, reference_bytes_estimate, repeated_runs,
    runs_summary, write_results,
)  # fmt: skip

SIZES = [700, 128, 64, 20]
WIDE = [700, 256, 128, 20]


def measure_row(sizes, B: int, T: int, repeat: int, max_reference_gib: float, reference: bool):
    base = {"sizes": sizes, "recurrent": True, "T": T, "B": B, "repeat": repeat}
    row = {"sizes": sizes, "B": B, "T": T}
    for name, extra in (("reference", {"path": "hetsyn", "kernel": "reference"}),
                        ("fast", {"path": "hetsyn", "kernel": "auto"}),
                        ("yardstick", {"path": "yardstick"})):  # fmt: skip
        case = {**base, **extra}
        estimate = reference_bytes_estimate(case)
        if name == "reference" and not reference:
            row[name] = {"skipped": "measured in the first run only"}
            continue
        if name == "reference" and estimate > max_reference_gib * GIB:
            row[name] = {"skipped": f"estimated {estimate / GIB:.0f} GiB"}
            continue
        row[name] = measure(case)
    fast, ref, yard = (row[k].get("seconds") for k in ("fast", "reference", "yardstick"))
    row["fast_over_reference_time"] = fast / ref if fast and ref else None
    row["fast_over_yardstick_time"] = fast / yard if fast and yard else None
    fm, rm = (row[k].get("peak_above_baseline_bytes") for k in ("fast", "reference"))
    row["reference_over_fast_memory"] = rm / fm if fm and rm else None
    return row


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--T", type=int, nargs="+", default=[50, 100, 250, 1000])
    parser.add_argument("--B", type=int, default=32)
    parser.add_argument("--no-wide", action="store_true", help="skip 700-256r-128r-20, B = 64")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--pause", type=float, default=60.0, help="seconds between runs")
    parser.add_argument("--max-reference-gib", type=float, default=12.0,
                        help="skip the reference where its estimated memory is larger")
    args = parser.parse_args(argv)
    configs = [(SIZES, args.B, T) for T in args.T]
    if not args.no_wide:
        configs.append((WIDE, 64, 250))

    def rows(k):
        out = []
        for sizes, B, T in configs:
            out.append(measure_row(sizes, B, T, args.repeat, args.max_reference_gib, k == 0))
            print_row(out[-1])
        return out

    runs = repeated_runs(args.runs, args.pause, rows)
    payload = {"benchmark": "B1", "sizes": SIZES, "batch": args.B, "machine": machine(),
               "repeat": args.repeat, "runs": runs, "rows": runs_summary(runs)}  # fmt: skip
    print("written to", write_results("b1", payload))
    return payload


def print_row(row):
    def cell(k):
        r = row[k]
        if "skipped" in r or "error" in r:
            return f"{r.get('skipped') or r.get('error')[:30]:>28}"
        return f"{fmt_seconds(r['seconds']):>9} s {fmt_bytes(r['peak_above_baseline_bytes']):>7} GiB"
    ratio = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
    net = "-".join(map(str, row["sizes"]))
    print(f"{net} B={row['B']} T={row['T']:>5} | reference {cell('reference')} | "
          f"fast {cell('fast')} | "
          f"yardstick {cell('yardstick')} | fast/ref time {ratio(row['fast_over_reference_time'])}"
          f" | ref/fast mem {ratio(row['reference_over_fast_memory'])}"
          f" | fast/yardstick time {ratio(row['fast_over_yardstick_time'])}", flush=True)


if __name__ == "__main__":
    main()
