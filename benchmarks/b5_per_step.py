"""B5: per-step calls, the hosts' own idiom and every converted model.

snnTorch tutorial 5's network (784-1000-10, an explicit ``mem`` loop, a real-valued input
every step) converted with ``heterogeneity="synapse"`` and run with its own loop, against the
original in the same run; and a SpikingJelly ``step_mode="s"`` network of the same shape
(``layer.Linear`` + ``LIFNode``) against its conversion. Beside each converted model, the
step a user takes where the whole input sequence is known: the same converted layers called
once on the sequence (``*-converted-sequence``: snnTorch's ``sequence=True``, SpikingJelly's
``step_mode="m"``; the same spikes, under test). B in {8, 32, 128}, T in {25, 100},
forward + backward. Each case runs in its own process: time (median of the repeats), peak
resident memory above the baseline after a short warm-up, and the time of one ``copy_()`` of
the (B, out, in) per-synapse state into an existing tensor (the streaming bound of a per-step
layer), measured in that same process. Writes benchmarks/results/b5.json.

    python -m benchmarks.b5_per_step [--B 8 32 128] [--T 25 100] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import time

import torch
from torch import nn

from . import common
from .common import GIB, _rss_bytes, machine, write_results

N_IN, N_HIDDEN, N_OUT = 784, 1000, 10
MODELS = (
    "snntorch", "snntorch-converted", "snntorch-converted-sequence",
    "spikingjelly", "spikingjelly-converted", "spikingjelly-converted-sequence",
)  # fmt: skip


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


class Tutorial5Sequence(nn.Module):
    """A converted :class:`Tutorial5` without its loop: each HetSynLeaky called once on the
    whole sequence (``sequence=True``), the step from a converted model to the fast path."""

    def __init__(self, converted: Tutorial5):
        super().__init__()
        self.lif1, self.lif2 = converted.lif1, converted.lif2
        self.lif1.sequence = self.lif2.sequence = True

    def forward(self, x):
        self.lif1.reset_mem()
        self.lif2.reset_mem()
        spk1, _ = self.lif1(x)
        return self.lif2(spk1)


class MultiStepNet(nn.Module):
    """A converted :class:`SingleStepNet` in ``step_mode="m"``: one call for the sequence."""

    def __init__(self, converted: SingleStepNet):
        from spikingjelly.activation_based import functional

        super().__init__()
        self.net = converted.net
        functional.set_step_mode(self.net, "m")

    def forward(self, x):
        from spikingjelly.activation_based import functional

        functional.reset_net(self.net)
        return self.net(x), None


def build(name: str, T: int) -> nn.Module:
    """The model ``name`` (see ``MODELS``) for ``T`` steps; a converted one must have had
    both of its Linear -> LIF pairs converted (an error otherwise, not a silent original)."""
    import hetsyn_plugins

    snntorch_host = name.startswith("snntorch")
    model = Tutorial5(T) if snntorch_host else SingleStepNet()
    if "converted" in name:
        # SingleStepNet's forward iterates over its input (torch.fx cannot trace it) and resets
        # its Sequential: convert finds no pair through it, so its Sequential is converted.
        target = model if snntorch_host else model.net
        _, report = hetsyn_plugins.convert(
            target, heterogeneity="synapse", inplace=True, return_report=True
        )
        if len(report.converted) != 2:
            raise RuntimeError(f"{name}: not every pair was converted:\n{report}")
    if name.endswith("sequence"):
        model = Tutorial5Sequence(model) if snntorch_host else MultiStepNet(model)
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
    before = os.getloadavg()
    rows = []
    print(f"{'model':<32}{'B':>5}{'T':>5}{'s':>9}{'GiB':>7}{'x orig':>8}{'state GiB':>10}"
          f"{'step/copy':>10}{'mem/state':>10}{'speed-up':>9}")  # fmt: skip
    for B in args.B:
        state_bytes = B * N_HIDDEN * N_IN * 4
        for T in args.T:
            seen = {}  # this (B, T): each model's measurement so far
            for name in args.models:
                r = measure({"model": name, "T": T, "B": B, "repeat": args.repeat})
                row = {"model": name, "B": B, "T": T, "state_bytes": state_bytes, **r}
                row.update(_ratios(name, r, seen, T, state_bytes))
                seen[name] = r
                rows.append(row)
                _print_row(row, state_bytes)
    payload = {
        "benchmark": "B5",
        "network": f"{N_IN}-{N_HIDDEN}-{N_OUT}, per-step loop, real-valued input",
        "targets": "B=32, T=25: memory <= 4 x state + original's; T=100 within 10% of T=25; "
        "forward + backward per step <= 8 x one copy_ of the state",
        "machine": machine(),
        "loadavg_before": before,
        "loadavg_after": os.getloadavg(),
        "rows": rows,
    }
    print("written to", write_results("b5", payload))
    return payload


def _ratios(name: str, r: dict, seen: dict, T: int, state_bytes: int) -> dict:
    """A converted model's ratios to its original (time, per-step time over one state copy,
    extra memory in states); a whole-sequence one's speed-up over the per-step converted."""
    host = name.split("-")[0]
    if name == host or "seconds" not in r:
        return {}
    orig = seen.get(host, {})
    out = {
        "over_original": r["seconds"] / orig["seconds"] if "seconds" in orig else None,
        "step_over_copy": r["seconds"] / T / r["copy_seconds"],
        "memory_over_state": (
            r["peak_above_baseline_bytes"] - orig.get("peak_above_baseline_bytes", 0)
        ) / state_bytes,
    }  # fmt: skip
    per_step = seen.get(f"{host}-converted", {})
    if name.endswith("sequence") and "seconds" in per_step:
        out["speedup_over_per_step"] = per_step["seconds"] / r["seconds"]
    return out


def _print_row(row: dict, state_bytes: int) -> None:
    name, B, T = row["model"], row["B"], row["T"]
    if "error" in row:
        print(f"{name:<32}{B:>5}{T:>5}  error: {row['error']}", flush=True)
        return
    keys = ("over_original", "step_over_copy", "memory_over_state", "speedup_over_per_step")
    cells = ["-" if row.get(k) is None else f"{row[k]:.2f}" for k in keys]
    print(f"{name:<32}{B:>5}{T:>5}{row['seconds']:>9.3f}"
          f"{row['peak_above_baseline_bytes'] / GIB:>7.2f}{cells[0]:>8}"
          f"{state_bytes / GIB:>10.2f}{cells[1]:>10}{cells[2]:>10}{cells[3]:>9}", flush=True)


if __name__ == "__main__":
    main()
