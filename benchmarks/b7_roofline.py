"""B7: each fused primitive against the machine's own limits, measured in one process.

For every primitive of the fast paths (the feedforward scan forward and backward, the fused
spiking layer forward and backward with and without recurrence, the readout, the shared
layouts' loop, the per-step path forward and backward) its throughput in synapse-steps/s (or
neuron-steps/s), next to two bounds measured in the same process: an SGEMM's multiply-adds/s
(the compute bound of loops whose state stays in cache) and a large ``copy_()``'s bytes/s
(the bound of loops that stream their state). The ratios are the machine-independent figures;
each is also given as a fraction of the primitive's ideal (:data:`IDEAL`). Float32, torch's
thread count. Writes benchmarks/results/b7.json.

    python -m benchmarks.b7_roofline [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from .common import machine, write_results

# Ideal cost per synapse-step (neuron-step for the per-neuron loops): vector instructions of
# the arithmetic (an SGEMM spends one fused multiply-add per multiply-add, so a loop of n
# instructions ideally runs at 1/n synapse-steps per SGEMM multiply-add) and bytes streamed
# through memory (the per-step path cannot keep its (B, out, in) state in cache between calls;
# a whole-sequence loop keeps a row in L1 for all steps and streams nothing per step).
IDEAL = {
    "feedforward scan, forward": {
        "unit": "synapse", "instructions": 3, "bytes": 0,
        "what": "I = r I + w x (a multiply and a fused multiply-add), the row sum (an add)"},
    "feedforward scan, backward (input needs no gradient)": {
        "unit": "synapse", "instructions": 5, "bytes": 0,
        "what": "Lambda = G + C, C = r Lambda, M = Lambda + r M, dw += x Lambda, dr += x M"},
    "feedforward scan, backward (input gradient too)": {
        "unit": "synapse", "instructions": 6, "bytes": 0,
        "what": "as above, and dx += w Lambda"},
    "spiking layer, recurrent, forward": {
        "unit": "synapse", "instructions": 3, "bytes": 0,
        "what": "the recurrent currents Q = q Q + u z and their row sums (+ the neuron update)"},
    "spiking layer, recurrent, backward": {
        "unit": "synapse", "instructions": 4, "bytes": 0,
        "what": "the recurrent adjoint (4 for a silent presynaptic neuron, 7 for one that spiked)"},
    "spiking layer, feedforward only, forward": {
        "unit": "neuron", "instructions": None, "bytes": 24,
        "what": "reads the drive, writes spikes, membrane, bias, reset, adaptation currents"},
    "spiking layer, feedforward only, backward": {
        "unit": "neuron", "instructions": None, "bytes": 40,
        "what": "reads the saved sequences and gradients, writes the drive's gradient"},
    "readout, forward": {
        "unit": "neuron", "instructions": None, "bytes": 16,
        "what": "reads the drive, writes the output and the bias current"},
    "readout, backward": {
        "unit": "neuron", "instructions": None, "bytes": 16,
        "what": "reads the output gradient and the saved currents, writes the drive's gradient"},
    "shared layouts' loop, recurrent, forward": {
        "unit": "synapse", "instructions": 1, "bytes": 0,
        "what": "U z: one multiply-add per recurrent synapse (spikes are 0/1: only the columns "
                "of neurons that spiked are added)"},
    "shared layouts' loop, recurrent, backward": {
        "unit": "synapse", "instructions": 1, "bytes": 0,
        "what": "U^T Lambda (one multiply-add per synapse) and dU for the neurons that spiked"},
    "per-step path, forward": {
        "unit": "synapse", "instructions": 3, "bytes": 8,
        "what": "reads and writes the (B, out, in) currents once"},
    "per-step path, backward": {
        "unit": "synapse", "instructions": 7, "bytes": 16,
        "what": "reads and writes both adjoints (Lambda, M) once"},
}


def _median_seconds(fn, repeat: int) -> float:
    fn()  # warm-up (and compilation)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def sgemm_macs_per_second(repeat: int, n: int = 2048) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    out = torch.empty(n, n)
    return n**3 / _median_seconds(lambda: torch.mm(a, b, out=out), repeat)


def copy_bytes_per_second(repeat: int, megabytes: int = 256) -> float:
    """Bytes moved per second (read + written) by ``copy_()`` of a tensor far above cache."""
    n = megabytes * (1 << 20) // 4
    src, dst = torch.rand(n), torch.empty(n)
    return 2 * 4 * n / _median_seconds(lambda: dst.copy_(src), repeat)


def _forward_backward(run, inputs, repeat: int) -> tuple[float, float]:
    """Median seconds of ``run(*inputs)`` (a differentiable forward) and of its backward."""
    outs = run(*inputs)
    outs = outs if isinstance(outs, tuple) else (outs,)
    weights = [torch.randn_like(o) if o.requires_grad else None for o in outs]

    def backward():
        outs = run(*inputs)
        outs = outs if isinstance(outs, tuple) else (outs,)
        loss = sum((o * w).sum() for o, w in zip(outs, weights) if w is not None)
        start = time.perf_counter()
        loss.backward()
        return time.perf_counter() - start

    forward = _median_seconds(lambda: run(*inputs), repeat)
    backward()
    back = statistics.median(backward() for _ in range(repeat))
    return forward, back


def _layer_inputs(layer, T: int, B: int):
    """The zero initial state of ``layer`` for batch ``B`` and a random drive (T, B, out);
    the parameters are decoded per call (``layer.params()``), as a layer does."""
    from hetsyn_plugins.core.dynamics import initial_state

    with torch.no_grad():
        state = initial_state(layer.params(), B, layer._config(), readout=layer._readout)
    drive = (0.5 * torch.randn(T, B, layer.out_features)).requires_grad_(True)
    return state, drive


def measure_primitives(repeat: int) -> list[dict]:
    from hetsyn_plugins import HetSynLIF, HetSynReadout
    from hetsyn_plugins.core.kernels import fused, scan, stepwise

    torch.manual_seed(0)
    rows = []

    def add(name, seconds, steps):
        rows.append({"primitive": name, "seconds": seconds, "steps": steps,
                     "steps_per_second": steps / seconds})  # fmt: skip

    # the feedforward scan: layer 1 of B1 (700 -> 128, B = 32, T = 250, input spikes)
    T, B, K, O = 250, 32, 700, 128
    x = (torch.rand(T, B, K) < 0.05).float()
    w = (0.1 * torch.randn(O, K)).requires_grad_(True)
    r = torch.empty(O, K).uniform_(0.5, 0.99).requires_grad_(True)
    start = torch.zeros(B, O, K)
    fwd, bwd = _forward_backward(lambda x: scan.feedforward_scan(x, w, r, start)[0], (x,), repeat)
    add("feedforward scan, forward", fwd, T * B * O * K)
    add("feedforward scan, backward (input needs no gradient)", bwd, T * B * O * K)
    x.requires_grad_(True)
    _, bwd = _forward_backward(lambda x: scan.feedforward_scan(x, w, r, start)[0], (x,), repeat)
    add("feedforward scan, backward (input gradient too)", bwd, T * B * O * K)

    # the rest of a spiking layer (128 neurons, B = 32, T = 250) from a given drive
    for recurrent in (True, False):
        layer = HetSynLIF(K, O, recurrent=recurrent, kernel="scan")
        state, drive = _layer_inputs(layer, T, B)

        def run(drive, layer=layer, state=state):
            z, v, _ = fused.spiking_scan(drive, layer.params(), state, layer.spike_fn, layer.config)
            return v

        fwd, bwd = _forward_backward(run, (drive,), repeat)
        kind = "recurrent" if recurrent else "feedforward only"
        steps = T * B * O * (O if recurrent else 1)
        add(f"spiking layer, {kind}, forward", fwd, steps)
        add(f"spiking layer, {kind}, backward", bwd, steps)

    readout = HetSynReadout(K, O, kernel="scan")
    state, drive = _layer_inputs(readout, T, B)
    fwd, bwd = _forward_backward(
        lambda d: fused.readout_scan(d, readout.params(), state)[0], (drive,), repeat
    )
    add("readout, forward", fwd, T * B * O)
    add("readout, backward", bwd, T * B * O)

    # the shared layouts (HomNeuLIF) at the wide size of B1 and B3: 256 recurrent neurons
    n = 256
    shared = HetSynLIF(K, n, recurrent=True, heterogeneity="none", kernel="scan")
    state, drive = _layer_inputs(shared, T, 64)
    drive = (drive.detach() + 0.3).requires_grad_(True)

    def run_shared(d):
        return fused.shared_scan(d, shared.params(), state, shared.spike_fn, shared.config)[1]

    fwd, bwd = _forward_backward(run_shared, (drive,), repeat)
    add("shared layouts' loop, recurrent, forward", fwd, T * 64 * n * n)
    add("shared layouts' loop, recurrent, backward", bwd, T * 64 * n * n)

    # the per-step path: tutorial 5's hidden layer (784 -> 1000, B = 32), a chain of 25 steps;
    # the forward is timed on the steps inside the chain (the first one allocates the buffer),
    # the backward over the whole chain
    steps, B, K, O = 25, 32, 784, 1000
    w = (0.05 * torch.randn(O, K)).requires_grad_(True)
    r = torch.empty(O, K).uniform_(0.5, 0.99).requires_grad_(True)
    inputs = torch.rand(steps, B, K)

    def chain(times=None):
        current, carry, total = torch.zeros(B, O, K), None, 0
        for k, x_t in enumerate(inputs):
            begin = time.perf_counter()
            s, current, carry = stepwise.synapse_step(x_t, current, carry, w, r)
            if k and times is not None:
                times.append(time.perf_counter() - begin)
            total = total + s.sum()
        return total

    chain().backward()
    forward, backward = [], []
    for _ in range(repeat):
        total = chain(forward)
        begin = time.perf_counter()
        total.backward()
        backward.append((time.perf_counter() - begin) / steps)
    add("per-step path, forward", statistics.median(forward), B * O * K)
    add("per-step path, backward", statistics.median(backward), B * O * K)
    return rows


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    macs = sgemm_macs_per_second(args.repeat)
    copy = copy_bytes_per_second(args.repeat)
    rows = measure_primitives(args.repeat)
    macs_after, copy_after = sgemm_macs_per_second(args.repeat), copy_bytes_per_second(args.repeat)
    print(f"SGEMM {macs / 1e9:.1f} G multiply-adds/s (after: {macs_after / 1e9:.1f}); "
          f"copy_ {copy / 1e9:.1f} GB/s (after: {copy_after / 1e9:.1f})")  # fmt: skip
    for row in rows:
        ideal = IDEAL[row["primitive"]]
        rate = row["steps_per_second"]
        row["unit"] = ideal["unit"]
        row["per_sgemm_mac"] = rate / macs
        row["bytes_per_step_at_copy_rate"] = copy / rate
        fractions = []
        if ideal["instructions"]:
            fractions.append(row["per_sgemm_mac"] * ideal["instructions"])
        if ideal["bytes"]:
            fractions.append(rate * ideal["bytes"] / copy)
        row["fraction_of_ideal"] = max(fractions) if fractions else None
        row["ideal"] = ideal
        frac = row["fraction_of_ideal"]
        print(f"{row['primitive']:<55} {rate / 1e9:7.2f} G {ideal['unit']}-steps/s "
              f"{row['per_sgemm_mac']:8.4f} per SGEMM MAC "
              f"{row['bytes_per_step_at_copy_rate']:7.1f} B/step at copy rate "
              f"{'-' if frac is None else f'{frac:.2f}'} of ideal", flush=True)  # fmt: skip
    payload = {
        "benchmark": "B7",
        "sgemm_macs_per_second": macs,
        "copy_bytes_per_second": copy,
        "bounds_after": {"sgemm_macs_per_second": macs_after, "copy_bytes_per_second": copy_after},
        "machine": machine(),
        "rows": rows,
    }
    print("written to", write_results("b7", payload))
    return payload


if __name__ == "__main__":
    main()
