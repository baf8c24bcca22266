"""B5: per-step calls, the hosts' own idiom and every converted model.

snnTorch tutorial 5's network (784-1000-10, an explicit ``mem`` loop, a real-valued input
every step) converted with ``heterogeneity="synapse"`` and run with its own loop, against the
original in the same run; and a SpikingJelly ``step_mode="s"`` network of the same shape
(``layer.Linear`` + ``LIFNode``) against its conversion. B in {8, 32, 128}, T in {25, 100},
forward + backward. Each case runs in its own process: time (median of the repeats), peak
resident memory above the baseline after a short warm-up, and the time of one ``copy_()`` of
the (B, out, in) per-synapse state into an existing tensor (the streaming bound of a per-step
layer), measured in that same process. Writes benchmarks/results/b5.json.

    python -m benchmarks.b5_per_step [--B 8 32 128] [--T 25 100] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time

import torch
from torch import nn

from . import common
from .common import GIB, _rss_bytes, machine, write_results

N_IN, N_HIDDEN, N_OUT = 784, 1000, 10
MODELS = ("snntorch", "snntorch-converted", "spikingjelly", "spikingjelly-converted")


class Tutorial5(nn.Module):
    """snnTorch tutorial 5's network, written as the tutorial does (explicit ``mem``)."""

    def __init__(self, num_steps: int, beta: float = 0.95):
        import snntorch as snn

        super().__init__()
        self.num_steps = num_steps
        self.fc1, self.lif1 = nn.Linear(N_IN, N_HIDDEN), snn.Leaky(beta=beta)
        self.fc2, self.lif2 = nn.Linear(N_HIDDEN, N_OUT), snn.Leaky(beta=beta)

    def forward(self, x):
        mem1, mem2 = self.lif1.init_leaky(), self.lif2.init_leaky()
        spk2_rec, mem2_rec = [], []
        for step in range(self.num_steps):
            spk1, mem1 = self.lif1(self.fc1(x[step]), mem1)
            spk2, mem2 = self.lif2(self.fc2(spk1), mem2)
            spk2_rec.append(spk2)
            mem2_rec.append(mem2)
        return torch.stack(spk2_rec), torch.stack(mem2_rec)


class SingleStepNet(nn.Module):
    """``layer.Linear`` + ``LIFNode`` x 2 in ``step_mode="s"``, called once per step."""

    def __init__(self):
        from spikingjelly.activation_based import layer, neuron

        super().__init__()
        self.net = nn.Sequential(
            layer.Linear(N_IN, N_HIDDEN), neuron.LIFNode(tau=2.0),
            layer.Linear(N_HIDDEN, N_OUT), neuron.LIFNode(tau=2.0),
        )  # fmt: skip

    def forward(self, x):
        from spikingjelly.activation_based import functional

        functional.reset_net(self.net)
        spikes = [self.net(x_t) for x_t in x]
        return torch.stack(spikes), None


def build(name: str, T: int) -> nn.Module:
    import hetsyn_plugins

    model = Tutorial5(T) if name.startswith("snntorch") else SingleStepNet()
    if name.endswith("converted"):
        model = hetsyn_plugins.convert(model, heterogeneity="synapse")
    return model


def _loss(model, x):
    spk, mem = model(x)
    return spk.sum() + (0 if mem is None else mem.pow(2).mean())


def measure_in_process(case: dict) -> dict:
    torch.manual_seed(0)
    name, T, B = case["model"], case["T"], case["B"]
    model = build(name, T)
    x = torch.rand(T, B, N_IN)
    warm = build(name, 3) if name.startswith("snntorch") else model
    if warm is not model:
        warm.load_state_dict(model.state_dict())
    _loss(warm, x[:3]).backward()  # imports, compiled loops, allocator pools
    del warm
    baseline = _rss_bytes()
    times = []
    for k in range(case["repeat"] + 1):
        model.zero_grad(set_to_none=True)
        start = time.perf_counter()
        _loss(model, x).backward()
        if k:
            times.append(time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    # the streaming bound: one copy_ of the (B, out, in) state into an existing tensor
    src, dst = torch.rand(B, N_HIDDEN, N_IN), torch.empty(B, N_HIDDEN, N_IN)
    copies = []
    for _ in range(6):
        start = time.perf_counter()
        dst.copy_(src)
        copies.append(time.perf_counter() - start)
    return {
        "seconds": statistics.median(times), "all_seconds": times,
        "peak_above_baseline_bytes": max(0, peak - baseline),
        "copy_seconds": statistics.median(copies[1:]),
    }  # fmt: skip


def measure(case: dict) -> dict:
    return common.measure(case, child=("benchmarks.b5_per_step", "--child"))


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--B", type=int, nargs="+", default=[8, 32, 128])
    parser.add_argument("--T", type=int, nargs="+", default=[25, 100])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure_in_process(json.loads(args.child))))
        return {}
    rows = []
    print(f"{'model':<24}{'B':>5}{'T':>5}{'s':>9}{'GiB':>7}{'x orig':>8}{'state GiB':>10}"
          f"{'step/copy':>10}{'mem/state':>10}")  # fmt: skip
    for B in args.B:
        state_bytes = B * N_HIDDEN * N_IN * 4
        for T in args.T:
            originals = {}
            for name in args.models:
                r = measure({"model": name, "T": T, "B": B, "repeat": args.repeat})
                row = {"model": name, "B": B, "T": T, "state_bytes": state_bytes, **r}
                host = name.split("-")[0]
                if name == host:
                    originals[host] = r
                elif "seconds" in r:
                    orig = originals.get(host, {})
                    per_step = r["seconds"] / T
                    row["over_original"] = r["seconds"] / orig["seconds"] if orig else None
                    row["step_over_copy"] = per_step / r["copy_seconds"]
                    extra = r["peak_above_baseline_bytes"] - orig.get("peak_above_baseline_bytes", 0)
                    row["memory_over_state"] = extra / state_bytes
                rows.append(row)
                if "error" in r:
                    print(f"{name:<24}{B:>5}{T:>5}  error: {r['error']}", flush=True)
                    continue
                cells = [row.get(k) for k in ("over_original", "step_over_copy", "memory_over_state")]
                extra = "".join("         -" if c is None else f"{c:>10.2f}" for c in cells[1:])
                ratio = "       -" if cells[0] is None else f"{cells[0]:>8.1f}"
                print(f"{name:<24}{B:>5}{T:>5}{r['seconds']:>9.3f}"
                      f"{r['peak_above_baseline_bytes'] / GIB:>7.2f}{ratio}"
                      f"{state_bytes / GIB:>10.2f}{extra}", flush=True)  # fmt: skip
    payload = {
        "benchmark": "B5",
        "network": f"{N_IN}-{N_HIDDEN}-{N_OUT}, per-step loop, real-valued input",
        "targets": "B=32, T=25: memory <= 4 x state + original's; T=100 within 10% of T=25; "
        "forward + backward per step <= 8 x one copy_ of the state",
        "machine": machine(),
        "rows": rows,
    }
    print("written to", write_results("b5", payload))
    return payload


if __name__ == "__main__":
    main()
