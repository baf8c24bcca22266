"""Shared machinery of the benchmarks: networks, timing, peak memory, tables, JSON.

Every measured case runs in its own process (``python -m benchmarks.common CASE_JSON``) so that
its peak resident memory is its own: the child reports the resident memory after set-up (its
baseline) and the high-water mark after the timed runs. Times are medians over repeats after
one warm-up run.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from torch import nn

RESULTS = Path(__file__).parent / "results"
GIB = 1 << 30


def machine() -> dict:
    """What the numbers were measured on."""
    info = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "threads": torch.get_num_threads(),
    }
    try:
        import numba

        info["numba"] = numba.__version__
    except ImportError:
        info["numba"] = None
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# --------------------------------------------------------------------------- networks


class LeakyYardstick(nn.Module):
    """Homogeneous LIF layers from ``nn.Linear`` + ``snn.Leaky`` (the cost of plain LIF today).

    ``sizes`` = (in, hidden..., out); hidden layers optionally recurrent (an ``nn.Linear`` on
    the previous spikes); the last layer is a leaky integrator (``reset_mechanism="none"``).
    """

    def __init__(self, sizes, recurrent: bool, readout: bool = True, beta: float = 0.95):
        super().__init__()
        import snntorch as snn

        self.fcs = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        n_hidden = len(sizes) - 2 if readout else len(sizes) - 1
        self.recs = nn.ModuleList(
            nn.Linear(n, n, bias=False) if recurrent else nn.Identity()
            for n in sizes[1 : 1 + n_hidden]
        )
        self.lifs = nn.ModuleList(snn.Leaky(beta=beta) for _ in range(n_hidden))
        self.readout = snn.Leaky(beta=beta, reset_mechanism="none") if readout else None
        self.recurrent = recurrent

    def forward(self, x):
        T, B = x.shape[:2]
        mems = [lif.reset_mem() for lif in self.lifs]
        spks = [x.new_zeros(B, fc.out_features) for fc in self.fcs[: len(self.lifs)]]
        # The input projection of all steps at once, then one view per step. unbind, not
        # first[t]: autograd's backward of each first[t] is a zero tensor of the whole (T, B, n)
        # sequence with one step filled in, which makes the backward quadratic in T.
        first = self.fcs[0](x).unbind(0)
        mem_out = self.readout.reset_mem() if self.readout is not None else None
        outs = []
        for t in range(T):
            h = first[t]
            for k, lif in enumerate(self.lifs):
                cur = h if k == 0 else self.fcs[k](h)
                if self.recurrent:
                    cur = cur + self.recs[k](spks[k])
                spks[k], mems[k] = lif(cur, mems[k])
                h = spks[k]
            if self.readout is not None:
                _, mem_out = self.readout(self.fcs[-1](h), mem_out)
                outs.append(mem_out)
            else:
                outs.append(h)
        return torch.stack(outs)


def hetsyn_network(
    sizes, recurrent: bool, kernel: str, heterogeneity="synapse", readout=True, tau_reset=None
):
    """HetSyn layers of the same architecture as :class:`LeakyYardstick` (``tau_reset``: a
    reset current of its own, fixed, as in the paper's SHD recipe)."""
    from hetsyn_plugins import HetSynLIF, HetSynReadout

    layers = []
    n_spiking = len(sizes) - 2 if readout else len(sizes) - 1
    reset = {} if tau_reset is None else {"tau_reset": tau_reset, "learn_reset_decay": False}
    for a, b in zip(sizes[:n_spiking], sizes[1 : n_spiking + 1]):
        layers.append(
            HetSynLIF(a, b, recurrent=recurrent, kernel=kernel, heterogeneity=heterogeneity,
                      **reset)  # fmt: skip
        )
    if readout:
        layers.append(
            HetSynReadout(sizes[-2], sizes[-1], kernel=kernel, heterogeneity=heterogeneity)
        )
    return nn.Sequential(*layers)


def build(case: dict) -> nn.Module:
    if case["path"] == "yardstick":
        return LeakyYardstick(case["sizes"], case["recurrent"], case.get("readout", True))
    return hetsyn_network(
        case["sizes"], case["recurrent"], case["kernel"], case.get("heterogeneity", "synapse"),
        case.get("readout", True), case.get("tau_reset"),
    )  # fmt: skip


# --------------------------------------------------------------------------- measuring


def measure_in_process(case: dict) -> dict:
    """Forward + backward of a loss over all output steps; median seconds and peak memory."""
    torch.manual_seed(0)
    if case.get("no_numba"):
        from hetsyn_plugins.core.kernels import scan

        scan.use_numba = False
    device = torch.device(case.get("device", "cpu"))
    cuda = device.type == "cuda"
    model = build(case).to(device)
    T, B = case["T"], case["B"]
    x = (torch.rand(T, B, case["sizes"][0], device=device) < case.get("rate", 0.05)).float()
    # The baseline is taken after a short warm-up (8 steps): imports, the model, the data,
    # compiled kernels and the allocator's pools are in it, the sequence length is not.
    model(x[:8]).pow(2).mean().backward()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        baseline = torch.cuda.memory_allocated()
    else:
        baseline = _rss_bytes()
    times = []
    for k in range(case.get("repeat", 3) + 1):
        model.zero_grad(set_to_none=True)
        start = time.perf_counter()
        out = model(x)
        out.pow(2).mean().backward()
        if cuda:
            torch.cuda.synchronize()
        if k:  # the first full-length run warms up too
            times.append(time.perf_counter() - start)
    if cuda:
        peak = torch.cuda.max_memory_allocated()
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"seconds": statistics.median(times), "all_seconds": times,
            "peak_above_baseline_bytes": max(0, peak - baseline), "peak_bytes": peak}  # fmt: skip


def measure(case: dict, timeout: float = 1800, child=("benchmarks.common",)) -> dict:
    """Run :func:`measure_in_process` in a fresh process; errors are returned, not raised.

    ``child``: the module (and leading arguments) whose command line takes the case as JSON
    and prints its result as the last line of JSON (another benchmark's own measuring)."""
    cmd = [sys.executable, "-m", *child, json.dumps(case)]
    root = Path(__file__).parent.parent
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=root)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr else "failed"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def reference_bytes_estimate(case: dict) -> float:
    """Bytes the reference path keeps for the backward: ~3 (B, out, in) tensors per step and
    per synaptic pathway (currents, their product and sum inputs)."""
    sizes, T, B = case["sizes"], case["T"], case["B"]
    synapses = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    if case["recurrent"]:
        synapses += sum(n * n for n in sizes[1:-1])
    return 3 * T * B * synapses * 4


# --------------------------------------------------------------------------- reporting


def fmt_seconds(s):
    return "-" if s is None else f"{s:.3f}"


def fmt_bytes(b):
    return "-" if b is None else f"{b / GIB:.2f}"


def repeated_runs(runs: int, pause: float, measure_rows) -> list[dict]:
    """``runs`` runs of ``measure_rows()`` (a list of rows), ``pause`` seconds apart, each with
    its start time and the machine's load average then: the targets are judged on all."""
    out = []
    for k in range(runs):
        if k:
            time.sleep(pause)
        started, load = time.strftime("%Y-%m-%d %H:%M:%S"), os.getloadavg()
        print(f"run {k + 1} of {runs}, {started}, load average {load[0]:.2f}", flush=True)
        out.append({"started": started, "loadavg": load, "rows": measure_rows(k)})
    return out


def runs_summary(runs: list[dict], ratio: str = "fast_over_yardstick_time") -> list[dict]:
    """One row per case: the first run's row (the one with the reference), with the ratio
    ``ratio`` and the seconds of every path in every run beside it (``..._runs`` lists)."""
    rows = [dict(row) for row in runs[0]["rows"]]
    for i, row in enumerate(rows):
        others = [run["rows"][i] for run in runs]
        row[f"{ratio}_runs"] = [r.get(ratio) for r in others]
        for path in ("fast", "yardstick"):
            if path in row:
                row[f"{path}_seconds_runs"] = [r[path].get("seconds") for r in others]
    return rows


def write_results(name: str, payload: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2))
    return path


if __name__ == "__main__":
    print(json.dumps(measure_in_process(json.loads(sys.argv[1]))))
