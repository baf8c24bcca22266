"""The reproduction page's numbers, from ``experiments/results/*.json`` at build time.

:func:`write_tables` writes the page's tables into ``docs/_generated/`` and returns the MyST
substitutions its prose uses (``{{ dms_solved_HetSynLIF }}`` ...): no result is typed into
the page, so it cannot go stale. A missing file or key fails the build (the page refers to a
substitution that is not defined: a warning, an error under ``-W``).
"""

from __future__ import annotations

import json
from pathlib import Path

SOLVED = 0.9  # an accuracy that counts as solving delayed match-to-sample (chance: 0.5)


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def _load(path: Path):
    return json.loads(path.read_text()) if path.exists() else None


def _accuracy_table(models: dict, seeds: list) -> str:
    lines = [
        f"| model | test accuracy, mean ± sd | per seed ({', '.join(map(str, seeds))}) |",
        "|---|---:|---|",
    ]
    for name, r in models.items():
        acc = r["accuracy"]
        per = ", ".join(_pct(a) for a in r["accuracy_per_seed"])
        lines.append(f"| {name} | {_pct(acc['mean'])} ± {_pct(acc['std'])} | {per} |")
    return "\n".join(lines) + "\n"


def _solved(models: dict) -> dict:
    out = {}
    for name, r in models.items():
        per = r["accuracy_per_seed"]
        out[name] = f"{sum(a >= SOLVED for a in per)} of {len(per)}"
    return out


def _sweep_table(table: dict) -> str:
    sizes = [row["size"] for row in next(iter(table.values()))]
    head = " | ".join(f"{s} hidden: mean (min-max)" if i == 0 else f"{s} hidden"
                      for i, s in enumerate(sizes))  # fmt: skip
    lines = [f"| model | {head} |", "|---|" + "---:|" * len(sizes)]
    for name, rows in table.items():
        cells = [f"{_pct(r['mean'])} ({100 * r['min']:.1f}-{100 * r['max']:.1f})" for r in rows]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _mse_table(pattern: dict) -> str:
    best = min(pattern["mse"], key=lambda m: pattern["mse"][m]["mean"])
    lines = ["| model | test MSE, mean ± sd | per seed |", "|---|---:|---|"]
    for name, m in pattern["mse"].items():
        mean = f"**{m['mean']:.4f}**" if name == best else f"{m['mean']:.4f}"
        per = ", ".join(f"{v:.4f}" for v in pattern["per_seed"][name])
        lines.append(f"| {name} | {mean} ± {m['std']:.4f} | {per} |")
    return "\n".join(lines) + "\n"


def write_tables(results: Path, out: Path) -> dict:
    """Write the tables of ``results`` into ``out``; return the prose's substitutions."""
    out.mkdir(parents=True, exist_ok=True)
    subs: dict[str, str] = {}
    demo = _load(results / "dms_demo.json")
    if demo:
        (out / "dms_demo_table.md").write_text(_accuracy_table(demo["models"], demo["seeds"]))
        subs["dms_demo_minutes"] = f"{demo['total_seconds'] / 60:.0f}"
        subs.update({f"dms_solved_{k}": v for k, v in _solved(demo["models"]).items()})
        het = demo["models"]["HetSynLIF"]
        subs["dms_deletion"] = ", ".join(_pct(a) for a in het["deletion_accuracy"])
        subs["dms_deletion_levels"] = ", ".join(
            f"{100 * x:.0f}" for x in het["deletion_levels"]
        )
    long = _load(results / "dms_800steps_5seeds.json")
    if long:
        (out / "dms_long_table.md").write_text(_accuracy_table(long["models"], long["seeds"]))
        subs.update({f"dms_long_solved_{k}": v for k, v in _solved(long["models"]).items()})
    sweep = _load(results / "dms_sweep" / "sweep.json")
    if sweep:
        (out / "dms_sweep_table.md").write_text(_sweep_table(sweep["table"]))
        for name, rows in sweep["table"].items():
            last = rows[-1]
            subs[f"sweep_largest_{name}"] = f"{_pct(last['mean'])} at {last['size']} hidden"
    record = _load(results / "record.json")
    if record:
        pattern = record["pattern"]
        (out / "pattern_table.md").write_text(_mse_table(pattern))
        means = {k: v["mean"] for k, v in pattern["mse"].items()}
        best = min(means, key=means.get)
        rest = min(v for k, v in means.items() if k != best)
        subs["pattern_best"] = best
        subs["pattern_margin"] = f"{100 * (1 - means[best] / rest):.0f} %"
        per_seed = pattern["per_seed"]
        others = [m for m in means if m != best]
        wins = [
            all(per_seed[best][i] < per_seed[m][i] for m in others)
            for i in range(len(per_seed[best]))
        ]
        subs["pattern_best_seeds"] = f"{sum(wins)} of {len(wins)}"
    return subs
