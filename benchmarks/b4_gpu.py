"""B4: B1's network on a CUDA GPU: the default path (``kernel="auto"``: the fused Triton
kernels where triton is installed) and the FFT filter vs the reference vs the yardstick, same
ratios as on the CPU, plus absolute times and the GPU model (B2's sweep is not run on the GPU
yet). Skipped with a clear message on machines without CUDA. Writes
benchmarks/results/b4.json either way.

    python -m benchmarks.b4_gpu
"""

from __future__ import annotations

import torch

from .common import GIB, machine, measure, reference_bytes_estimate, write_results

B1_SIZES = [700, 128, 64, 20]


def main(argv=None) -> dict:
    if not torch.cuda.is_available():
        reason = "skipped: no CUDA device on this machine (B4 needs a GPU)"
        print("B4", reason)
        payload = {"benchmark": "B4", "machine": machine(), "skipped": reason}
        write_results("b4", payload)
        return payload
    rows = []
    for T in (50, 100, 250, 1000):
        base = {"sizes": B1_SIZES, "recurrent": True, "T": T, "B": 32, "repeat": 5,
                "device": "cuda"}
        row = {"T": T}
        for name, extra in (("reference", {"path": "hetsyn", "kernel": "reference"}),
                            ("auto", {"path": "hetsyn", "kernel": "auto"}),
                            ("fft", {"path": "hetsyn", "kernel": "fft"}),
                            ("yardstick", {"path": "yardstick"})):
            case = {**base, **extra}
            if name == "reference" and reference_bytes_estimate(case) > 40 * GIB:
                row[name] = {"skipped": "estimated memory above 40 GiB"}
                continue
            row[name] = measure(case)
            print(f"B1 T={T:>5} {name:<10} {row[name]}", flush=True)
        rows.append(row)
    from hetsyn_plugins.core.kernels import have_triton

    auto = "triton" if have_triton() else "fft"  # what kernel="auto" runs on CUDA
    payload = {"benchmark": "B4", "machine": machine(), "auto_is": auto, "b1_rows": rows}
    print("written to", write_results("b4", payload))
    return payload


if __name__ == "__main__":
    main()
