"""Markdown tables of the committed benchmark results (``benchmarks/results/*.json``).

The docs build includes them (``docs/_benchplot.py``), and ``python -m benchmarks.tables``
rewrites the README's tables between their markers (``<!-- table:b1 -->`` ...
``<!-- /table:b1 -->``), so that neither is typed by hand.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
README = Path(__file__).parent.parent / "README.md"
GIB = 1024**3
PATHS = (("reference", "reference (naive)"), ("fast", "fast (`auto`)"), ("yardstick", "yardstick"))
RUNS = "fast_over_yardstick_time_runs"


def load(name: str, results: Path = RESULTS):
    path = results / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _cell(entry: dict) -> str:
    if "skipped" in entry:
        return f"skipped ({entry['skipped']})"
    if "error" in entry:
        return f"error ({entry['error']})"
    text = f"{entry['seconds']:.2f} s"
    if "peak_above_baseline_bytes" in entry:
        text += f", {entry['peak_above_baseline_bytes'] / GIB:.2f} GiB"
    return text


def _ratio(value, fmt="{:.1f}x") -> str:
    return "-" if value is None else fmt.format(value)


def _ratios(values, fmt="{:.2f}") -> str:
    return ", ".join("-" if v is None else fmt.format(v) for v in values or [])


def _network(row: dict) -> str:
    return "-".join(str(s) for s in row.get("sizes", []))


def b1_table(b1: dict) -> str:
    """Per network, batch and T: each path's time and memory (first run), and fast /
    yardstick in every run."""
    runs = b1.get("runs") or [None]
    lines = [
        "| network | B | T | " + " | ".join(label for _, label in PATHS)
        + " | reference / fast: time, memory | fast / yardstick, each run |",
        "|---|---:|---:|" + "---:|" * (len(PATHS) + 2),
    ]  # fmt: skip
    for row in b1["rows"]:
        ft = row.get("fast_over_reference_time")
        lines.append(
            f"| {_network(row)} | {row.get('B', b1.get('batch'))} | {row['T']} | "
            + " | ".join(_cell(row[key]) for key, _ in PATHS)
            + f" | {_ratio(None if ft is None else 1 / ft)}, "
            + f"{_ratio(row.get('reference_over_fast_memory'), '{:.0f}x')}"
            + f" | {_ratios(row.get(RUNS, [row.get('fast_over_yardstick_time')]))} |"
        )
    text = "\n".join(lines) + "\n"
    if runs[0] is not None:
        text += "\nRuns: " + "; ".join(
            f"{r['started']} (load average {r['loadavg'][0]:.2f})" for r in runs
        ) + f". Medians of {b1.get('repeat', 5)} after a warm-up, each path in its own process.\n"
    return text


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
    ]  # fmt: skip
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
    lines = [
        "| preset | network | B | T | seconds | yardstick (s) | preset / yardstick, each run |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in b3["rows"]:
        lines.append(
            f"| {row['preset']} | {_network(row) or '700-128-64-20'} | {row.get('B', 32)} | "
            f"{row['T']} | {row['seconds']:.3f} | {row['yardstick_seconds']:.3f} | "
            f"{_ratios(row.get('over_yardstick_runs', [row['over_yardstick']]))} |"
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


def b7_table(b7: dict) -> str:
    """Each primitive's throughput, per SGEMM multiply-add and as a fraction of its ideal."""
    lines = [
        f"SGEMM (2048 x 2048, float32) in the same process: "
        f"{b7['sgemm_macs_per_second'] / 1e9:.0f} G multiply-adds/s; `copy_()` of 256 MiB: "
        f"{b7['copy_bytes_per_second'] / 1e9:.1f} GB/s (read + written).\n",
        "| primitive | throughput | per SGEMM multiply-add | bytes per step at `copy_()` rate "
        "| ideal: instructions, bytes per step | fraction of ideal |",
        "|---|---:|---:|---:|---:|---:|",
    ]  # fmt: skip
    for row in b7["rows"]:
        ideal = row["ideal"]
        ins = ideal["instructions"]
        lines.append(
            f"| {row['primitive']} | {row['steps_per_second'] / 1e9:.2f} G {row['unit']}-steps/s "
            f"| {row['per_sgemm_mac']:.4f} | {row['bytes_per_step_at_copy_rate']:.1f} "
            f"| {'-' if ins is None else ins}, {ideal['bytes']} "
            f"| {_ratio(row['fraction_of_ideal'], '{:.2f}')} |"
        )
    return "\n".join(lines) + "\n"


def machine(data: dict) -> str:
    m = data.get("machine", {})
    return ", ".join(f"{k} {v}" for k, v in m.items()) + "\n"


TABLES = {"b1": b1_table, "b3": b3_table, "b5": b5_table, "b7": b7_table}


def rewrite_readme(readme: Path = README, results: Path = RESULTS) -> list[str]:
    """Replace every ``<!-- table:NAME -->`` ... ``<!-- /table:NAME -->`` block of the README
    with the table of ``results/NAME.json``; returns the names rewritten."""
    text = readme.read_text()
    done = []
    for name, table in TABLES.items():
        pattern = re.compile(rf"(<!-- table:{name} -->\n).*?(<!-- /table:{name} -->)", re.S)
        data = load(name, results)
        if data and pattern.search(text):
            text = pattern.sub(lambda m: m.group(1) + table(data) + m.group(2), text)
            done.append(name)
    readme.write_text(text)
    return done


if __name__ == "__main__":
    print("README tables rewritten:", ", ".join(rewrite_readme()) or "none", file=sys.stderr)
