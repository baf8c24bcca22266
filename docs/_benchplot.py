"""Tables and figures of the committed benchmark results, drawn at docs build time.

Reads ``benchmarks/results/b1.json`` to ``b6.json`` (written by ``make bench``) and writes,
into ``docs/_generated/``:

- ``b1_table.md``: benchmark B1 per sequence length T (time, memory, ratios);
- ``b1.png``: time and peak memory against T, one line per path;
- ``b2_table.md``: the single-layer sweep, fastest kernel per row;
- ``b3_table.md``: the presets against the yardstick;
- ``b5_table.md``: per-step loops of converted models against the originals;
- ``b6_table.md``: what the autoload hook adds to a start and to the hosts' imports, and the
  first call's compilation;
- ``machine.md``: the machine and versions the numbers were measured with;
- ``b4.md``: the GPU benchmark, or why it is missing.
"""

from __future__ import annotations

import json
from pathlib import Path

GIB = 1024**3
PATHS = (("reference", "reference (naive)"), ("fast", "fast (`auto`)"), ("yardstick", "yardstick"))


def _load(results: Path, name: str):
    path = results / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _cell(entry: dict) -> str:
    if "skipped" in entry:
        return f"skipped ({entry['skipped']})"
    text = f"{entry['seconds']:.2f} s"
    if "peak_above_baseline_bytes" in entry:
        text += f", {entry['peak_above_baseline_bytes'] / GIB:.2f} GiB"
    return text


def _ratio(value, fmt="{:.1f}x") -> str:
    return "-" if value is None else fmt.format(value)


def b1_table(b1: dict) -> str:
    lines = [
        "| T | " + " | ".join(label for _, label in PATHS)
        + " | reference / fast: time | reference / fast: memory | fast / yardstick: time |",
        "|---:|" + "---:|" * (len(PATHS) + 3),
    ]
    for row in b1["rows"]:
        ft = row.get("fast_over_reference_time")
        lines.append(
            f"| {row['T']} | "
            + " | ".join(_cell(row[key]) for key, _ in PATHS)
            + f" | {_ratio(None if ft is None else 1 / ft)}"
            + f" | {_ratio(row.get('reference_over_fast_memory'), '{:.0f}x')}"
            + f" | {_ratio(row.get('fast_over_yardstick_time'))} |"
        )
    return "\n".join(lines) + "\n"


def b2_table(b2: dict) -> str:
    kernels = []
    for row in b2["rows"]:
        for k in row["seconds"]:
            if k not in kernels:
                kernels.append(k)
    lines = [
        "| layer | n | B | T | " + " | ".join(f"{k} (s)" for k in kernels)
        + " | `auto` picks | fastest |",
        "|---|---:|---:|---:|" + "---:|" * len(kernels) + "---|---|",
    ]
    for row in b2["rows"]:
        secs = row["seconds"]
        lines.append(
            f"| {'recurrent' if row['recurrent'] else 'feedforward'} | {row['n']} | {row['B']}"
            f" | {row['T']} | "
            + " | ".join("not run" if secs.get(k) is None else f"{secs[k]:.3f}" for k in kernels)
            + f" | {row['auto']} | {row['fastest']} |"
        )
    text = "\n".join(lines) + "\n"
    if b2.get("note"):
        text += f"\nNote recorded with the results: {b2['note']}.\n"
    return text


def b3_table(b3: dict) -> str:
    lines = ["| preset | T | seconds | yardstick (s) | preset / yardstick |", "|---|---:|---:|---:|---:|"]
    for row in b3["rows"]:
        lines.append(
            f"| {row['preset']} | {row['T']} | {row['seconds']:.2f} | "
            f"{row['yardstick_seconds']:.2f} | {row['over_yardstick']:.2f}x |"
        )
    return "\n".join(lines) + "\n"


def b5_table(b5: dict) -> str:
    """Per-step loops: each converted model against its original, measured in one run."""
    lines = [
        "| model | B | T | seconds | peak above baseline | / original (time) | "
        "per step / one state `copy_()` | extra memory / one state |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in b5["rows"]:
        if "seconds" not in row:
            lines.append(f"| {row['model']} | {row['B']} | {row['T']} | {row.get('error')} | | | | |")
            continue
        cells = [
            _ratio(row.get("over_original")),
            _ratio(row.get("step_over_copy"), "{:.1f}"),
            _ratio(row.get("memory_over_state"), "{:.2f}"),
        ]
        lines.append(
            f"| {row['model']} | {row['B']} | {row['T']} | {row['seconds']:.3f} | "
            f"{row['peak_above_baseline_bytes'] / GIB:.2f} GiB | " + " | ".join(cells) + " |"
        )
    return "\n".join(lines) + "\n"


def b6_table(b6: dict) -> str:
    """Import cost with the hook on and off, and the cold start of the fused loops."""
    lines = [
        "| start | hook on | hook off | added (medians) | added (minima) | the hook's own work |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in b6["rows"]:
        work = f"{row['hook_work_ms']:.1f} ms" if "hook_work_ms" in row else "-"
        lines.append(
            f"| {row['case']} | {1000 * row['hook_on_s']:.0f} ms "
            f"| {1000 * row['hook_off_s']:.0f} ms"
            f" | {row['added_ms']:.1f} ms | {row['added_min_ms']:.1f} ms | {work} |"
        )
    first = b6["first_call"]
    lines.append(
        f"\nFirst forward + backward in a fresh process (whole sequence and per step): "
        f"{first['cold_s']:.1f} s with an empty numba cache (compiling the loops), "
        f"{first['cached_s']:.2f} s once the cache is written.\n"
    )
    return "\n".join(lines) + "\n"


def machine(data: dict) -> str:
    m = data.get("machine", {})
    return ", ".join(f"{k} {v}" for k, v in m.items()) + "\n"


def b1_figure(b1: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(9, 3.6), layout="constrained")
    for key, label in PATHS:
        pts = [(r["T"], r[key]) for r in b1["rows"] if "seconds" in r[key]]
        if not pts:
            continue
        ts = [t for t, _ in pts]
        ax_t.plot(ts, [e["seconds"] for _, e in pts], "o-", label=label.replace("`", ""))
        mem = [(t, e["peak_above_baseline_bytes"] / GIB) for t, e in pts if "peak_above_baseline_bytes" in e]
        if mem:
            ax_m.plot([t for t, _ in mem], [m for _, m in mem], "o-", label=label.replace("`", ""))
    ts = [r["T"] for r in b1["rows"]]
    for ax, ylabel in ((ax_t, "seconds (forward + backward)"), (ax_m, "peak memory above baseline (GiB)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(ts, [str(t) for t in ts])
        ax.xaxis.set_minor_locator(plt.NullLocator())
        ax.set_xlabel("sequence length T (steps)")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
    ax_t.legend()
    sizes = "-".join(str(s) for s in b1.get("sizes", []))
    fig.suptitle(f"B1: SHD network {sizes} (recurrent hidden layers), batch {b1.get('batch')}, "
                 "per-synapse decays")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_figures(results: Path, out: Path) -> None:
    """Write the tables and the figure of the results in ``results`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    b1 = _load(results, "b1")
    if b1:
        files["b1_table.md"] = b1_table(b1)
        files["machine.md"] = machine(b1)
        b1_figure(b1, out / "b1.png")
    else:
        files["b1_table.md"] = "No B1 results committed yet (`make bench`).\n"
        files["machine.md"] = "-\n"
    b2 = _load(results, "b2")
    files["b2_table.md"] = b2_table(b2) if b2 else "No B2 results committed yet.\n"
    b3 = _load(results, "b3")
    files["b3_table.md"] = b3_table(b3) if b3 else "No B3 results committed yet.\n"
    b5 = _load(results, "b5")
    files["b5_table.md"] = b5_table(b5) if b5 else "No B5 results committed yet.\n"
    b6 = _load(results, "b6")
    files["b6_table.md"] = b6_table(b6) if b6 else "No B6 results committed yet.\n"
    b4 = _load(results, "b4")
    if b4 and "skipped" in b4:
        files["b4.md"] = f"B4 was not measured: {b4['skipped']}.\n"
    elif b4:
        files["b4.md"] = "```json\n" + json.dumps(b4, indent=1) + "\n```\n"
    else:
        files["b4.md"] = "No B4 results committed yet.\n"
    for name, text in files.items():
        (out / name).write_text(text)
