"""B6: what the package costs before it runs: import time and the first call.

- A bare interpreter start (``python -c pass``, wall time of the process) and
  ``import snntorch`` / ``import spikingjelly.activation_based.neuron`` (timed inside the
  process: the interpreter's start and exit are not the import), each with the autoload hook
  on and off (``HETSYN_PLUGINS_NO_AUTOLOAD=1``), in fresh processes, interleaved, medians of
  the repeats (bytecode caches written first, as an installed package has them). Targets:
  the hook adds at most 5 ms to a bare start and at most 50 ms to ``import snntorch``. A
  host's import takes seconds and varies by a tenth of one between processes, so the
  difference is quoted as medians and as minima, beside the hook's own work timed alone (the
  adapter's import and registration after the host's, in one process).
- The cold start of the fused loops: the first forward + backward of a per-synapse layer
  (whole sequence and per step) with an empty numba cache, against the same call once the
  cache is written (a second fresh process).

Writes benchmarks/results/b6.json.

    python -m benchmarks.b6_import [--repeat 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

from .common import machine, write_results

STARTS = {
    "bare interpreter": None,
    "import snntorch": "snntorch",
    "import spikingjelly neuron": "spikingjelly.activation_based.neuron",
}
ADAPTERS = {"snntorch": "snntorch", "spikingjelly.activation_based.neuron": "spikingjelly"}
TIMED_IMPORT = "import time; t = time.perf_counter(); import {}; print(time.perf_counter() - t)"
# what the hook does after the host's import, timed alone (the host imported, hook off)
HOOK_WORK = "import {}; " + TIMED_IMPORT.format("hetsyn_plugins.adapters.{}")

FIRST_CALL = """
import time, torch
start = time.perf_counter()
from hetsyn_plugins.core import HetSynLIF
layer = HetSynLIF(40, 30, recurrent=True)
x = (torch.rand(20, 4, 40) < 0.2).float()
layer(x).sum().backward()
state = None
for x_t in x[:3]:
    out = layer.step(x_t, state)
    state = out.state
out.spikes.sum().backward()
print(time.perf_counter() - start)
"""


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.pop("HETSYN_PLUGINS_NO_AUTOLOAD", None)
    env.update(extra)
    return env


def _run(code: str, env: dict) -> float:
    """What ``code`` prints (a time), in a fresh process."""
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True
    ).stdout
    return float(out.split()[-1])


def _seconds(module, env: dict) -> float:
    """The wall time of a bare start (``module`` None), else the time of importing it."""
    if module is not None:
        return _run(TIMED_IMPORT.format(module), env)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], env=env, check=True)
    return time.perf_counter() - start


def import_costs(repeat: int) -> list[dict]:
    rows = []
    for name, module in STARTS.items():
        on, off = _env(), _env(HETSYN_PLUGINS_NO_AUTOLOAD="1")
        _seconds(module, on), _seconds(module, off)  # bytecode caches, page cache
        times = {"on": [], "off": []}
        for _ in range(repeat):
            times["on"].append(_seconds(module, on))
            times["off"].append(_seconds(module, off))
        med = {k: statistics.median(v) for k, v in times.items()}
        row = {
            "case": name, "hook_on_s": med["on"], "hook_off_s": med["off"],
            "added_ms": 1000 * (med["on"] - med["off"]),
            "added_min_ms": 1000 * (min(times["on"]) - min(times["off"])), "all_s": times,
        }  # fmt: skip
        if module is not None:
            code = HOOK_WORK.format(module, ADAPTERS[module])
            work = [_run(code, off) for _ in range(repeat)]
            row["hook_work_ms"] = 1000 * statistics.median(work)
        rows.append(row)
    return rows


def first_call() -> dict:
    with tempfile.TemporaryDirectory() as cache:
        env = _env(NUMBA_CACHE_DIR=cache)
        cold = _run(FIRST_CALL, env)
        warm = statistics.median(_run(FIRST_CALL, env) for _ in range(3))
    return {"cold_s": cold, "cached_s": warm}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args(argv)
    rows = import_costs(args.repeat)
    print(f"{'start':<28}{'hook on':>9}{'hook off':>10}{'added':>9}{'(min)':>9}{'hook work':>11}")
    for r in rows:
        work = f"{r['hook_work_ms']:>9.1f}ms" if "hook_work_ms" in r else f"{'-':>11}"
        print(f"{r['case']:<28}{r['hook_on_s']:>8.3f}s{r['hook_off_s']:>9.3f}s"
              f"{r['added_ms']:>7.1f}ms{r['added_min_ms']:>7.1f}ms{work}")  # fmt: skip
    calls = first_call()
    print(f"first forward + backward: {calls['cold_s']:.2f} s with an empty numba cache, "
          f"{calls['cached_s']:.2f} s cached")  # fmt: skip
    payload = {
        "benchmark": "B6",
        "targets": "the hook adds <= 5 ms to a bare interpreter start and <= 50 ms to "
        "import snntorch",
        "machine": machine(),
        "rows": rows,
        "first_call": calls,
    }
    print("written to", write_results("b6", payload))
    return payload


if __name__ == "__main__":
    main()
