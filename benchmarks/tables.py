"""Markdown tables of the committed benchmark results (``benchmarks/results/*.json``).

The docs build includes them (``docs/_benchplot.py``), and ``python -m benchmarks.tables``
rewrites the README's tables between their markers (``<!-- table:b1 -->`` ...
``<!-- /table:b1 -->``), so that neither is typed by hand.
"""

from __future__ import annotations

import json
import re
import statistics
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


def _b2_kernels(b2: dict) -> list[str]:
    """The HetSyn kernels measured in B2, in the order of its rows (the yardstick apart)."""
    kernels = []
    for row in b2["rows"]:
        for k in row["seconds"]:
            if k != "yardstick" and k not in kernels:
                kernels.append(k)
    return kernels


def _fastest(secs: dict, paths) -> str | None:
    timed = {k: secs[k] for k in paths if secs.get(k) is not None}
    return min(timed, key=timed.get) if timed else None


def b2_table(b2: dict) -> str:
    """Per layer: each kernel's seconds and the yardstick's, what ``auto`` picks, the fastest
    kernel and the fastest path counting the yardstick, and ``auto`` / yardstick."""
    kernels = _b2_kernels(b2)
    lines = [
        "| layer | n | B | T | " + " | ".join(f"{k} (s)" for k in kernels)
        + " | yardstick (s) | `auto` picks | fastest kernel | fastest, with the yardstick"
        + " | `auto` / yardstick |",
        "|---|---:|---:|---:|" + "---:|" * (len(kernels) + 1) + "---|---|---|---:|",
    ]  # fmt: skip
    for row in b2["rows"]:
        secs = row["seconds"]
        auto, yard = secs.get(row["auto"]), secs.get("yardstick")
        lines.append(
            f"| {'recurrent' if row['recurrent'] else 'feedforward'} | {row['n']} | {row['B']}"
            f" | {row['T']} | "
            + " | ".join(
                "not run" if secs.get(k) is None else f"{secs[k]:.3f}"
                for k in (*kernels, "yardstick")
            )
            + f" | {row['auto']} | {_fastest(secs, kernels)} | "
            + f"{_fastest(secs, (*kernels, 'yardstick'))} | "
            + f"{_ratio(auto / yard if auto and yard else None, '{:.2f}')} |"
        )
    text = "\n".join(lines) + "\n"
    if b2.get("note"):
        text += f"\nNote recorded with the results: {_literal_options(b2['note'])}.\n"
    return text


def _literal_options(text: str) -> str:
    """Command-line options in ``text`` as code (``--repeat 1``): in prose, Sphinx would
    turn the two hyphens into a dash."""
    return re.sub(r"(?<![`\w])(--[a-z][\w-]*(?: \d+)?)", r"`\1`", text)


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
    """Per-step loops: each converted model against its original, measured in one run; the
    whole-sequence call of a converted model against its per-step loop."""
    lines = [
        "| model | B | T | seconds | peak above baseline | / original (time) | "
        "per step / one state `copy_()` | extra memory / one state | speed-up over the loop |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in b5["rows"]:
        head = f"| {row['model']} | {row['B']} | {row['T']} | "
        if "seconds" not in row:
            lines.append(head + f"{row.get('error')} | | | | | |")
            continue
        cells = [
            _ratio(row.get("over_original")),
            _ratio(row.get("step_over_copy"), "{:.1f}"),
            _ratio(row.get("memory_over_state"), "{:.2f}"),
            _ratio(row.get("speedup_over_per_step")),
        ]
        lines.append(
            head + f"{row['seconds']:.3f} | "
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


TABLES = {"b1": b1_table, "b2": b2_table, "b3": b3_table, "b5": b5_table, "b7": b7_table}


# ------------------------------------------------------------------------------- prose

def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def benchmark_list() -> str:
    """The benchmarks ``make bench`` runs (those :mod:`benchmarks.run_all` imports), as
    ``B1-B7`` when they are consecutive."""
    from . import run_all

    numbers = sorted(int(m.group(1)) for n in vars(run_all) if (m := re.match(r"b(\d+)_", n)))
    if numbers == list(range(numbers[0], numbers[-1] + 1)):
        return f"B{numbers[0]}-B{numbers[-1]}"
    return _and([f"B{n}" for n in numbers])


def _b1_values(b1: dict) -> dict[str, str]:
    runs = b1.get("runs") or []
    out = {
        "b1_repeat": str(b1.get("repeat", 5)),
        "b1_runs": str(len(runs) or 1),
        "b1_loads": _and([f"{r['loadavg'][0]:.2f}" for r in runs]) if runs else "not recorded",
        "b1_machine": machine(b1).strip(),
    }
    for row in b1["rows"]:
        key = f"b1_T{row['T']}" + ("" if row.get("sizes") == b1.get("sizes") else "_wide")
        ratios = [v for v in row.get(RUNS, [row.get("fast_over_yardstick_time")]) if v]
        if ratios:
            out[key] = f"{statistics.median(ratios):.2f}"
            out[f"{key}_runs"] = _ratios(ratios)
        speed, memory = row.get("fast_over_reference_time"), row.get("reference_over_fast_memory")
        if speed:
            out[f"{key}_reference_speed"] = f"{1 / speed:.1f}"
        if memory:
            out[f"{key}_reference_memory"] = f"{memory:.0f}"
    return out


def _sizes(rows: list, key: str) -> str:
    return "{" + ", ".join(str(v) for v in sorted({r[key] for r in rows})) + "}"


def _b2_values(b2: dict) -> dict[str, str]:
    rows, kernels = b2["rows"], _b2_kernels(b2)
    auto_fastest = sum(bool(r.get("auto_within_10_percent")) for r in rows)
    yard_fastest = sum(_fastest(r["seconds"], (*kernels, "yardstick")) == "yardstick" for r in rows)
    beats = [r for r in rows if r["seconds"].get(r["auto"]) and r["seconds"].get("yardstick")]
    ratios = [r["seconds"][r["auto"]] / r["seconds"]["yardstick"] for r in beats]
    load = [f"{b2[k][0]:.2f}" for k in ("loadavg_before", "loadavg_after") if k in b2]
    return {
        "b2_rows": str(len(rows)),
        "b2_shapes": f"in = out in {_sizes(rows, 'n')}, B in {_sizes(rows, 'B')}, "
        f"T in {_sizes(rows, 'T')}",
        "b2_repeat": str(b2.get("repeat", "not recorded")),
        "b2_auto_fastest": f"{auto_fastest} of {len(rows)}",
        "b2_yardstick_fastest": f"{yard_fastest} of {len(rows)}",
        "b2_auto_over_yardstick": f"{min(ratios):.2f} to {max(ratios):.2f}" if ratios else "-",
        "b2_loads": " before and ".join(load) + " after" if len(load) == 2 else "not recorded",
    }


def _b3_values(b3: dict) -> dict[str, str]:
    ratios = [v for r in b3["rows"] for v in r.get("over_yardstick_runs", [r["over_yardstick"]])]
    return {"b3_min": f"{min(ratios):.2f}", "b3_max": f"{max(ratios):.2f}"}


def _b4_values(b4: dict) -> dict[str, str]:
    if "skipped" in b4:
        return {"b4_status": "not measured: " + b4["skipped"].removeprefix("skipped: ")}
    gpu = b4.get("machine", {}).get("gpu", "a CUDA GPU")
    return {"b4_status": f"measured on {gpu} (`benchmarks/results/b4.json`)"}


def _b5_values(b5: dict) -> dict[str, str]:
    out = {}
    for row in b5["rows"]:
        base = f"b5_{row['model'].replace('-', '_')}_B{row['B']}_T{row['T']}"
        for key, fmt in (("over_original", "{:.1f}"), ("step_over_copy", "{:.1f}"),
                         ("memory_over_state", "{:.1f}"), ("speedup_over_per_step", "{:.1f}")):
            if row.get(key) is not None:
                out[f"{base}_{key}"] = fmt.format(row[key])
    return out  # fmt: skip


def _b6_values(b6: dict) -> dict[str, str]:
    first = b6["first_call"]
    return {"b6_cold_s": f"{first['cold_s']:.0f}", "b6_cached_s": f"{first['cached_s']:.1f}"}


VALUES = {"b1": _b1_values, "b2": _b2_values, "b3": _b3_values, "b4": _b4_values,
          "b5": _b5_values, "b6": _b6_values}  # fmt: skip


def values(results: Path = RESULTS) -> dict[str, str]:
    """Every number the prose of the README and the docs quotes, by name, from the JSON
    files of ``results`` (the docs use them as MyST substitutions: ``{{ b1_T250 }}``)."""
    out = {"bench_list": benchmark_list()}
    for name, fn in VALUES.items():
        data = load(name, results)
        if data:
            out.update(fn(data))
    return out


def _text_b1(v: dict) -> str:
    return (
        f"Medians of {v['b1_repeat']} after a warm-up, each path in its own process, "
        f"{v['b1_runs']} runs at different moments (load averages {v['b1_loads']}; the ratio "
        f"of each run is given); measured with {v['b1_machine']}.\n"
    )


def _text_b2(v: dict) -> str:
    return (
        f"Single layers (B2, `benchmarks/results/b2.json`: {v['b2_rows']} rows, "
        f"{v['b2_shapes']}, feedforward and recurrent; one run, medians of {v['b2_repeat']}, "
        f"load average {v['b2_loads']}): `kernel=\"auto\"` "
        f"picks the fastest kernel (within 10 %) on {v['b2_auto_fastest']} rows, and costs "
        f"{v['b2_auto_over_yardstick']} times the yardstick's time; the yardstick itself is "
        f"the fastest path on {v['b2_yardstick_fastest']} rows.\n"
    )


def _text_bench(v: dict) -> str:
    return (
        f"`make bench` runs {v['bench_list']} (`benchmarks/`) and writes the figures as JSON "
        "to `benchmarks/results/`; the tables and the numbers in this text are generated from "
        f"them. The GPU benchmark (B4) is {v['b4_status']}.\n"
    )


TEXTS = {"b1": _text_b1, "b2": _text_b2, "bench": _text_bench}


def texts(results: Path = RESULTS) -> dict[str, str]:
    """The generated sentences of the README (and the docs), by block name."""
    v = values(results)
    out = {}
    for name, fn in TEXTS.items():
        try:
            out[name] = fn(v)
        except KeyError:  # a result file is missing: the block stays as it is
            continue
    return out


def _replace_block(text: str, kind: str, name: str, body: str) -> tuple[str, bool]:
    pattern = re.compile(rf"(<!-- {kind}:{name} -->\n).*?(<!-- /{kind}:{name} -->)", re.S)
    if not pattern.search(text):
        return text, False
    return pattern.sub(lambda m: m.group(1) + body + m.group(2), text), True


def rewrite_readme(readme: Path = README, results: Path = RESULTS) -> list[str]:
    """Replace every ``<!-- table:NAME -->`` ... ``<!-- /table:NAME -->`` block of the README
    with the table of ``results/NAME.json``, and every ``<!-- text:NAME -->`` block with its
    generated sentences (:data:`TEXTS`); returns the names rewritten."""
    text = readme.read_text()
    done = []
    for name, table in TABLES.items():
        data = load(name, results)
        if data:
            text, hit = _replace_block(text, "table", name, table(data))
            done += [name] if hit else []
    for name, body in texts(results).items():
        text, hit = _replace_block(text, "text", name, body)
        done += [f"text:{name}"] if hit else []
    readme.write_text(text)
    return done


if __name__ == "__main__":
    print("README tables rewritten:", ", ".join(rewrite_readme()) or "none", file=sys.stderr)
