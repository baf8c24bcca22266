"""Tables and figures of the committed benchmark results, drawn at docs build time.

Reads ``benchmarks/results/b1.json`` to ``b7.json`` (written by ``make bench``) and writes,
into ``docs/_generated/`` (the tables from :mod:`benchmarks.tables`, which the README's share):

- ``b1_table.md``: benchmark B1 per sequence length T (time, memory, ratios);
- ``b1.png``: time and peak memory against T, one line per path;
- ``b2_table.md``: the single-layer sweep, fastest kernel per row;
- ``b3_table.md``: the presets against the yardstick;
- ``b5_table.md``: per-step loops of converted models against the originals;
- ``b7_table.md``: each fused primitive against the machine's SGEMM and ``copy_()``;
- ``b6_table.md``: what the autoload hook adds to a start and to the hosts' imports, and the
  first call's compilation;
- ``machine.md``: the machine and versions the numbers were measured with;
- ``b4.md``: the GPU benchmark, or why it is missing;
- ``text_b1.md``, ``text_b2.md``, ``text_bench.md``: the sentences the README shares
  (:func:`benchmarks.tables.texts`).

:func:`write_figures` returns every number the pages' prose quotes
(:func:`benchmarks.tables.values`), for MyST substitutions: ``{{ b1_T250 }}``.
"""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.tables import (
    GIB,
    PATHS,
    b1_table,
    b2_table,
    b3_table,
    b5_table,
    b6_table,
    b7_table,
    load,
    machine,
    texts,
    values,
)  # fmt: skip


def _load(results: Path, name: str):
    return load(name, results)


def _b1_rows(b1: dict) -> list[dict]:
    """The rows of the SHD network itself (not the wider one), one per T."""
    return [r for r in b1["rows"] if r.get("sizes", b1.get("sizes")) == b1.get("sizes")]


def b1_figure(b1: dict, path: Path) -> None:
    from matplotlib.figure import Figure  # no pyplot: no backend selected, nothing shown
    from matplotlib.ticker import NullLocator

    fig = Figure(figsize=(9, 3.6), layout="constrained")
    ax_t, ax_m = fig.subplots(1, 2)
    for key, label in PATHS:
        pts = [(r["T"], r[key]) for r in _b1_rows(b1) if "seconds" in r[key]]
        if not pts:
            continue
        name = label.replace("`", "")
        ax_t.plot([t for t, _ in pts], [e["seconds"] for _, e in pts], "o-", label=name)
        mem = [(t, e["peak_above_baseline_bytes"] / GIB)
               for t, e in pts if "peak_above_baseline_bytes" in e]  # fmt: skip
        if mem:
            ax_m.plot([t for t, _ in mem], [m for _, m in mem], "o-", label=name)
    ts = [r["T"] for r in _b1_rows(b1)]
    for ax, ylabel in ((ax_t, "seconds (forward + backward)"),
                       (ax_m, "peak memory above baseline (GiB)")):  # fmt: skip
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(ts, [str(t) for t in ts])
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xlabel("sequence length T (steps)")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
    ax_t.legend()
    sizes = "-".join(str(s) for s in b1.get("sizes", []))
    fig.suptitle(f"B1: SHD network {sizes} (recurrent hidden layers), batch {b1.get('batch')}, "
                 "per-synapse decays")
    fig.savefig(path, dpi=110)


def write_figures(results: Path, out: Path) -> dict[str, str]:
    """Write the tables, texts and the figure of the results in ``results`` into ``out``;
    return the numbers of the prose (MyST substitutions)."""
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
    b7 = _load(results, "b7")
    files["b7_table.md"] = b7_table(b7) if b7 else "No B7 results committed yet.\n"
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
    files.update({f"text_{name}.md": text for name, text in texts(results).items()})
    for name, text in files.items():
        (out / name).write_text(text)
    return values(results)
