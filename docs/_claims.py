"""The reproduction page's record of the paper's other claims, from JSON at build time.

Reads ``experiments/results/claims/summary.json`` and ``eval.json`` (few neurons, noise,
time scales, learned time constants: :mod:`experiments.claims`) and
``experiments/results/pattern/summary.json`` (pattern generation: :mod:`experiments.record`),
and writes into ``docs/_generated/``:

- ``claims_sizes.md`` and ``claims_sizes.png``: seeds solved and median accuracy per hidden
  size and model, and accuracy against neurons;
- ``claims_noise.md``, ``claims_timescales.md``: mean ± sd over seeds per perturbation level
  and model, seeds solved, and the declared verdict per level;
- ``claims_taus.md`` and ``claims_taus.png``: HetSynLIF's time constants, initial vs learned;
- ``pattern_table.md`` and ``pattern_fit.png``: pattern generation at 10 seeds.

:func:`write_tables` returns the substitutions of the verdict lines. Nothing is recomputed; a
missing file or key fails the build (an undefined substitution is an error under ``-W``).
"""

from __future__ import annotations

import json
import shutil
import statistics
from pathlib import Path

from _results import _pct

MODELS = ("HetSynLIF", "HetNeuLIF", "HomNeuLIF", "HomNeuALIF")
NBSP = "\u00a0"


def sizes_table(summary: dict) -> str:
    lines = ["| hidden neurons | " + " | ".join(MODELS) + " | HetSynLIF solves most |",
             "|---:|" + "---:|" * len(MODELS) + "---|"]  # fmt: skip
    for size, row in summary["sizes"].items():
        cells = [f"**{row['models'][m]['solved']}/{row['models'][m]['seeds']}** · "
                 f"{_pct(row['models'][m]['median'], 0)}" for m in MODELS]  # fmt: skip
        lines.append(f"| {size} | " + " | ".join(cells) + f" | {'yes' if row['held'] else 'no'} |")
    return "\n".join(lines) + "\n"


def sizes_figure(summary: dict, path: Path) -> None:
    from matplotlib.figure import Figure  # no pyplot: no backend selected, nothing shown

    fig = Figure(figsize=(6.4, 3.4), layout="constrained")
    ax = fig.add_subplot()
    sizes = [int(s) for s in summary["sizes"]]
    for i, model in enumerate(MODELS):
        rows = [summary["sizes"][str(s)]["models"][model] for s in sizes]
        shift = (i - 1.5) * 0.04  # side by side on the log axis
        for s, r in zip(sizes, rows):
            ax.scatter([s * 10**shift] * len(r["accuracies"]), r["accuracies"], s=9,
                       color=f"C{i}", alpha=0.45, linewidths=0)  # fmt: skip
        ax.plot([s * 10**shift for s in sizes], [r["median"] for r in rows], color=f"C{i}",
                marker="o", label=f"{model} (median)")  # fmt: skip
    ax.axhline(summary["solved_at"], color="k", lw=0.8, ls="--")
    ax.axhline(0.5, color="grey", lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.set_xticks(sizes, [str(s) for s in sizes])
    ax.minorticks_off()
    ax.set_xlabel("hidden neurons")
    ax.set_ylabel("test accuracy (each dot a seed)")
    ax.set_title("DMS at the chosen setting, 10 seeds per model and size "
                 "(dashed: solved, dotted: chance)", fontsize=8)  # fmt: skip
    ax.legend(fontsize=7, loc="lower right")
    fig.savefig(path, dpi=110)


def _solved_mean(accs: list, clean: list, at: float) -> float | None:
    kept = [a for a, c in zip(accs, clean) if c >= at]
    return statistics.fmean(kept) if kept else None


def _perturbation_row(label: str, accs: dict, clean: dict, at: float, held: str) -> str:
    cells = [f"{_pct(statistics.fmean(accs[m]))} ± {100 * statistics.stdev(accs[m]):.1f} "
             f"({sum(a >= at for a in accs[m])})" for m in MODELS]  # fmt: skip
    kept = [_solved_mean(accs[m], clean[m], at) for m in ("HetSynLIF", "HetNeuLIF")]
    kept_cell = ", ".join("-" if v is None else _pct(v) for v in kept)
    return f"| {label} | " + " | ".join(cells) + f" | {held} | {kept_cell} |"


def perturbation_table(comparison: dict, raw: dict, clean: dict, at: float, label) -> str:
    """Rows: no perturbation, then each level; per model the mean ± sd over seeds (seeds
    solved); the declared verdict per level; and, not declared, the mean over the seeds that
    solve the unperturbed task, for the models that have any (HetSynLIF and HetNeuLIF)."""
    lines = ["| level | " + " | ".join(MODELS) + " | held | HetSynLIF, HetNeuLIF: seeds "
             "solving the clean task |", "|---|" + "---:|" * len(MODELS) + "---|---|",
             _perturbation_row("none", clean, clean, at, "")]  # fmt: skip
    for level, row in comparison["levels"].items():
        accs = {m: raw[m][level] for m in MODELS}
        held = "yes" if row["held"] else "no"
        lines.append(_perturbation_row(label(level), accs, clean, at, held))
    return "\n".join(lines) + "\n"


def _quartiles(q: dict) -> str:
    return f"{q['q1']:.0f} / {q['median']:.0f} / {q['q3']:.0f}"


def _tails(values: list, top: float) -> dict:
    """The 5th and 95th percentiles of ``values`` and the fraction above ``top``."""
    cuts = statistics.quantiles(values, n=20)
    return {"p5": cuts[0], "p95": cuts[-1], "above_top": sum(v > top for v in values) / len(values)}


def taus_table(taus: dict, raw: dict, long_ms: float, top: float) -> str:
    """Per pathway, initial -> learned: the declared quartiles and fraction above ``long_ms``;
    and (added after the runs, to read the histograms) the 5-95 % range and the fraction
    above ``top``, the initial draw's upper bound."""
    arrow = " → "
    lines = [f"| pathway | n | quartiles (ms) | > {long_ms:.0f} ms | 5-95 % range (ms) "
             f"| > {top:.0f} ms |", "|---|---:|---|---|---|---|"]  # fmt: skip
    for name, q in taus.items():
        i, learned = q["initial"], q["learned"]
        ti, tl = (_tails(raw[name][k], top) for k in ("initial", "learned"))
        lines.append(
            f"| `{name}` | {i['n']} | {_quartiles(i)}{arrow}{_quartiles(learned)} "
            f"| {_pct(i['above_long'])}{arrow}{_pct(learned['above_long'])} "
            f"| {ti['p5']:.0f}-{ti['p95']:.0f}{arrow}{tl['p5']:.0f}-{tl['p95']:.0f} "
            f"| {_pct(ti['above_top'])}{arrow}{_pct(tl['above_top'])} |"
        )
    return "\n".join(lines) + "\n"


def taus_figure(raw: dict, path: Path) -> None:
    from matplotlib.figure import Figure

    shown = [n for n in raw if len(set(raw[n]["learned"])) > 1]  # a fixed one has nothing to show
    fig = Figure(figsize=(3.3 * len(shown), 3.0), layout="constrained")
    axes = fig.subplots(1, len(shown), squeeze=False)[0]
    for ax, name in zip(axes, shown):
        top = max(max(raw[name]["initial"]), max(raw[name]["learned"]))
        bins = [top * k / 30 for k in range(31)]
        ax.hist(raw[name]["initial"], bins=bins, color="grey", alpha=0.6, label="initial")
        ax.hist(raw[name]["learned"], bins=bins, histtype="step", color="C0", lw=1.5,
                label="learned")  # fmt: skip
        ax.set_title(f"HetSynLIF {name}, 10 seeds", fontsize=8)
        ax.set_xlabel("time constant (ms)")
    axes[0].set_ylabel("synapses")
    axes[0].legend(fontsize=7)
    fig.savefig(path, dpi=110)


def pattern_table(summary: dict) -> str:
    wins, n = summary["hetsyn_lower_seeds"], len(summary["settings"]["seeds"])
    lines = ["| model | test MSE, median | R², median (min to max) | HetSynLIF lower on "
             "| per seed (MSE) |", "|---|---:|---:|---:|---|",
             f"| constant prediction (the target's mean) | {summary['constant_mse']:.4f} | 0 "
             "| | |"]  # fmt: skip
    for name, r in summary["models"].items():
        per = ", ".join(f"{v:.4f}" for v in r["mse"])
        against = f"{wins[name]} of {n} seeds" if name in wins else ""
        lines.append(f"| {name} | {r['median_mse']:.4f} | {r['median_r2']:.2f} "
                     f"({r['min_r2']:.2f} to {r['max_r2']:.2f}) | {against} | {per} |")  # fmt: skip
    return "\n".join(lines) + "\n"


SPREAD, BEYOND = 0.10, 0.02  # what counts as a change (chosen after the runs)


def _taus_verdict(raw: dict, top: float) -> str:
    """What the learned distributions show against "learning spreads the time constants":
    "held" when, in the feedforward and the recurrent pathway, the 5-95 % range widens by more
    than :data:`SPREAD` and more than :data:`BEYOND` of the time constants end above ``top``,
    the initial draw's upper bound; "held in part" when some of these do; the numbers follow."""
    parts, changed = [], []
    for name in ("hidden0.feedforward", "hidden0.recurrent"):
        i, learned = (_tails(raw[name][k], top) for k in ("initial", "learned"))
        medians = [statistics.median(raw[name][k]) for k in ("initial", "learned")]
        wider = (learned["p95"] - learned["p5"]) / (i["p95"] - i["p5"]) - 1
        parts.append(f"{name.split('.')[1]}: 5-95 % range {100 * wider:+.0f}{NBSP}%, "
                     f"{_pct(learned['above_top'], 0)} above {top:.0f}{NBSP}ms, median "
                     f"{medians[0]:.0f} → {medians[1]:.0f}{NBSP}ms")  # fmt: skip
        changed += [wider > SPREAD, learned["above_top"] > BEYOND]
    word = "held" if all(changed) else "held in part" if any(changed) else "not held"
    return f"{word} ({'; '.join(parts)})"


def _levels(comparison: dict, fmt) -> str:
    return ", ".join(fmt(k) for k in comparison["levels"])


def write_tables(results: Path, out: Path) -> dict:
    """Write the claims' tables and figures into ``out``; return the verdict substitutions."""
    from experiments.claims import NOISE, task

    out.mkdir(parents=True, exist_ok=True)
    summary = json.loads((results / "claims" / "summary.json").read_text())
    raw = json.loads((results / "claims" / "eval.json").read_text())
    pattern = json.loads((results / "pattern" / "summary.json").read_text())
    dms = task()
    dt, top = dms.dt_ms, dms.tau_max_ms
    at = summary["solved_at"]
    clean = {m: raw["warp"][m]["1.0"] for m in MODELS}  # the unperturbed test set
    labels = {
        "deletion": lambda p: f"{100 * float(p):.0f}{NBSP}% deleted",
        "addition": lambda p: f"p = {p} ({float(p) / dt * 1000:g}{NBSP}Hz)",
        "jitter": lambda k: f"± {k} step{'s' * (int(k) != 1)} ({int(k) * dt:g}{NBSP}ms)",
        "delay": lambda d: f"{d}{NBSP}ms delay",
        "warp": lambda w: f"warp {w}x",
    }
    noise = "".join(
        f"\n**{kind}**\n\n" + perturbation_table(c, raw["noise"][kind], clean, at, labels[kind])
        for kind, c in summary["noise"].items()
    )
    (out / "claims_noise.md").write_text(noise)
    timescales = "".join(
        f"\n**{kind}** (trained at 800{NBSP}ms)\n\n"
        + perturbation_table(summary[kind], raw[kind], clean, at, labels[kind])
        for kind in ("delay", "warp")
    )
    (out / "claims_timescales.md").write_text(timescales)
    (out / "claims_sizes.md").write_text(sizes_table(summary))
    sizes_figure(summary, out / "claims_sizes.png")
    (out / "claims_taus.md").write_text(
        taus_table(summary["taus"], raw["taus"], summary["long_ms"], top)
    )
    taus_figure(raw["taus"], out / "claims_taus.png")
    (out / "pattern_table.md").write_text(pattern_table(pattern))
    shutil.copyfile(results / "pattern" / "pattern_fit.png", out / "pattern_fit.png")

    subs = {
        "claims_few_neurons": summary["few_neurons_verdict"],
        "claims_sizes_solved": "; ".join(
            f"{s}: " + "/".join(str(row["models"][m]["solved"]) for m in MODELS)
            for s, row in summary["sizes"].items()
        ),
        "claims_delay": summary["delay"]["verdict"],
        "claims_delays": _levels(summary["delay"], str),
        "claims_warp": summary["warp"]["verdict"],
        "claims_warps": _levels(summary["warp"], str),
        "claims_taus": _taus_verdict(raw["taus"], top),
        "claims_tau_top": f"{top:.0f}",
        "claims_readout_tau": f"{summary['taus']['readout.membrane']['learned']['median']:.0f}",
        "pattern_verdict": pattern["verdict"],
        "pattern_wins": ", ".join(
            f"{m} {w} of {len(pattern['settings']['seeds'])}"
            for m, w in pattern["hetsyn_lower_seeds"].items()
        ),
        "pattern_constant_mse": f"{pattern['constant_mse']:.4f}",
        "pattern_steps": str(pattern["settings"]["steps"]),
        "pattern_minutes": f"{pattern['cpu_seconds'] / 60:.0f}",
        "pattern_commits": ", ".join(f"`{c}`" for c in pattern["codes"]),
    }
    strongest = []  # the seeds that solve the clean task, at each perturbation's last level
    for kind, table in [*raw["noise"].items(), ("warp", raw["warp"])]:
        level = list(table["HetSynLIF"])[-1]
        kept = [_solved_mean(table[m][level], clean[m], at) for m in ("HetSynLIF", "HetNeuLIF")]
        strongest.append(f"{labels[kind](level)}: " + " vs ".join(_pct(v) for v in kept))
    subs["claims_solved_strongest"] = "; ".join(strongest)
    for kind, c in summary["noise"].items():
        subs[f"claims_{kind}"] = c["verdict"]
        subs[f"claims_{kind}_range"] = f"{NOISE[kind][0]}-{NOISE[kind][-1]}"
    minutes = {
        "training": summary["cpu_seconds_training"] / 60,
        "evaluation": raw["seconds"] / 60,
        "pattern": pattern["cpu_seconds"] / 60,
    }
    subs["claims_cpu_minutes"] = ", ".join(f"{k} {v:.0f}" for k, v in minutes.items())
    subs["claims_cpu_total"] = f"{sum(minutes.values()) / 60:.1f}"
    return subs
