"""B2: one layer, shape sweep. Feedforward and recurrent HetSyn layers, in = out in
{64, 256, 1024}, B in {1, 32}, T in {100, 1000}: every kernel vs the reference vs the yardstick
(``nn.Linear`` + ``snn.Leaky``). Shows where each kernel wins and whether ``kernel="auto"``
picks the fastest measured path (within 10 %). Writes benchmarks/results/b2.json.

    python -m benchmarks.b2_layer_sweep [--n 64 256 1024] [--B 1 32] [--T 100 1000]
"""

from __future__ import annotations

import argparse
import os

import torch

from hetsyn_plugins.core import HetSynLIF
from hetsyn_plugins.core.kernels import choose_kernel

from .common import GIB, machine, measure, reference_bytes_estimate, write_results

KERNELS = ("reference", "scan", "fft")


def auto_choice(n: int, B: int, T: int, recurrent: bool) -> str:
    layer = HetSynLIF(n, n, recurrent=recurrent)
    x = torch.zeros(T, B, n)
    state = layer.run(x[:1]).state._replace(syn=torch.zeros(B, n, n))
    return choose_kernel("auto", x, layer.params(), state)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[64, 256, 1024])
    parser.add_argument("--B", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--T", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--max-reference-gib", type=float, default=8.0)
    args = parser.parse_args(argv)
    before = os.getloadavg()  # the machine's load, recorded with the results
    rows = []
    header = f"{'layer':<10}{'n':>6}{'B':>4}{'T':>6} | " + " | ".join(
        f"{k:>10}" for k in (*KERNELS, "yardstick")
    ) + " | auto -> kernel (within 10%?)"
    print(header)
    for recurrent in (False, True):
        for n in args.n:
            for B in args.B:
                for T in args.T:
                    rows.append(measure_row(recurrent, n, B, T, args.repeat,
                                            args.max_reference_gib))  # fmt: skip
                    write_results("b2", _payload(rows, args.repeat, before))
                    print_row(rows[-1])
    payload = _payload(rows, args.repeat, before, os.getloadavg())
    print("written to", write_results("b2", payload))
    return payload


def measure_row(recurrent: bool, n: int, B: int, T: int, repeat: int, max_gib: float) -> dict:
    """Every kernel's and the yardstick's seconds for one layer, what ``auto`` picks and
    whether that is the fastest kernel within 10 %."""
    base = {"sizes": [n, n], "recurrent": recurrent, "readout": False, "T": T, "B": B,
            "repeat": repeat}  # fmt: skip
    row = {"recurrent": recurrent, "n": n, "B": B, "T": T, "seconds": {}}
    for k in KERNELS:
        case = {**base, "path": "hetsyn", "kernel": k}
        too_big = k == "reference" and reference_bytes_estimate(case) > max_gib * GIB
        row["seconds"][k] = None if too_big else measure(case).get("seconds")
    row["seconds"]["yardstick"] = measure({**base, "path": "yardstick"}).get("seconds")
    measured = {k: v for k, v in row["seconds"].items() if v and k in KERNELS}
    row["fastest"] = min(measured, key=measured.get)
    row["auto"] = auto_choice(n, B, T, recurrent)
    chosen = measured.get(row["auto"])
    row["auto_within_10_percent"] = bool(chosen and chosen <= 1.1 * measured[row["fastest"]])
    return row


def print_row(row: dict) -> None:
    cells = " | ".join(
        f"{row['seconds'][k]:>10.3f}" if row["seconds"][k] else f"{'-':>10}"
        for k in (*KERNELS, "yardstick")
    )
    kind = "recurrent" if row["recurrent"] else "ff"
    verdict = "yes" if row["auto_within_10_percent"] else "NO, fastest " + row["fastest"]
    print(f"{kind:<10}{row['n']:>6}{row['B']:>4}{row['T']:>6} | {cells} | {row['auto']} "
          f"({verdict})", flush=True)


def _payload(rows: list, repeat: int, before, after=None) -> dict:
    load = {"loadavg_before": list(before)}
    if after is not None:
        load["loadavg_after"] = list(after)
    return {"benchmark": "B2", "machine": machine(), "repeat": repeat, **load, "rows": rows}


if __name__ == "__main__":
    main()
