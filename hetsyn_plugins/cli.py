"""The ``hetsyn`` command: ``demo`` (the main job), ``train``, ``eval``, ``taus`` and ``sweep``.

Examples::

    hetsyn demo                                   # DMS, four models, 3 seeds, ~3 min on 2 cores
    hetsyn train --task dms --model HetSynLIF --out runs/dms --set hidden=5 delay_ms=1200
    hetsyn train --task dms --model HetSynLIF --out runs/dms --steps 1000 --resume
    hetsyn eval runs/dms --kind deletion --levels 0 0.2 0.4
    hetsyn taus runs/dms --threshold-ms 400
    hetsyn sweep --task dms --sizes 2 5 10 --models HetSynLIF HomNeuLIF --out runs/sweep
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .core import PRESETS
from .tasks.perturbations import PERTURBATIONS


def _tasks() -> dict:
    from .tasks import TASKS

    return TASKS


def _parse_options(pairs: list[str]) -> dict:
    """``key=value`` pairs; values are read as JSON where they parse (numbers, booleans,
    lists), Python's ``True`` / ``False`` / ``None`` as such, else kept as strings."""
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--set takes key=value pairs; got {pair!r}")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = _PYTHON_CONSTANTS.get(value, value)
    return options


_PYTHON_CONSTANTS = {"True": True, "False": False, "None": None}


def _eval_every(value: str) -> int | str:
    if value == "epoch":
        return value
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number of steps or 'epoch'; got {value!r}"
        ) from None


def _read_config(path: str | None) -> dict:
    if path is None:
        return {}
    try:
        config = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ValueError(f"--config file {path!r} does not exist") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"--config file {path!r} is not valid JSON: {err}") from None
    allowed = {"task_options", "model_options", "training"}
    if not isinstance(config, dict) or set(config) - allowed:
        raise ValueError(
            f"--config must be a JSON object with keys among {sorted(allowed)}; "
            f"got {sorted(config) if isinstance(config, dict) else type(config).__name__}"
        )
    return config


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hetsyn", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    models = sorted(PRESETS)

    demo = sub.add_parser("demo", help="DMS with few hidden neurons: the four models compared")
    demo.add_argument("--models", nargs="+", default=list(PRESETS), choices=models)
    demo.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    demo.add_argument("--hidden", type=int, default=5, help="hidden neurons (default 5)")
    demo.add_argument("--steps", type=int, help="training steps per model (default: 1000)")
    demo.add_argument("--delay-ms", type=float, default=800.0, help="delay between the cues")
    demo.add_argument("--out", default="hetsyn-demo", help="folder for figures and results")
    demo.add_argument("--quiet", action="store_true", help="no progress bars")
    demo.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default 1: the demo's networks are too small to share out)",
    )

    tr = sub.add_parser("train", help="train one model on one task, with checkpoints")
    tr.add_argument("--task", required=True, choices=sorted(_tasks()))
    tr.add_argument("--model", required=True, choices=models)
    tr.add_argument("--config", help="JSON file: {task_options, model_options, training}")
    tr.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", help="task options")
    tr.add_argument("--steps", type=int, help="optimizer steps in all (default: the task's)")
    tr.add_argument("--epochs", type=int, help="passes over the training set (instead of steps)")
    tr.add_argument("--batch-size", type=int)
    tr.add_argument("--lr", type=float)
    tr.add_argument("--seed", type=int)
    tr.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 ...")
    tr.add_argument(
        "--eval-every", type=_eval_every, default=0,
        help="evaluate (and save) every N steps, or 'epoch'",
    )  # fmt: skip
    tr.add_argument("--out", required=True, help="checkpoint folder")
    tr.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    tr.add_argument("--force", action="store_true", help="overwrite a checkpoint in --out")
    tr.add_argument("--quiet", action="store_true")
    tr.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")

    ev = sub.add_parser("eval", help="robustness of a trained model to input noise / time warp")
    ev.add_argument("checkpoint")
    ev.add_argument("--kind", choices=list(PERTURBATIONS), default="deletion")
    ev.add_argument("--levels", nargs="+", type=float,
                    help="probabilities, jitter shifts (steps) or warp factors")
    ev.add_argument("--repeats", type=int, default=1, help="noise draws per level")
    ev.add_argument("--out", help="folder for the figure and JSON (default: the checkpoint)")

    ta = sub.add_parser("taus", help="learned time constants, long-tau fraction and ablation")
    ta.add_argument("checkpoint")
    ta.add_argument("--threshold-ms", type=float, default=400.0, help="what counts as long")
    ta.add_argument("--out", help="folder for the figure and JSON (default: the checkpoint)")

    sw = sub.add_parser("sweep", help="test metric vs hidden size, per model, over seeds")
    sw.add_argument("--task", required=True, choices=sorted(_tasks()))
    sw.add_argument("--models", nargs="+", default=list(PRESETS), choices=models)
    sw.add_argument("--sizes", nargs="+", type=int, required=True, help="hidden sizes")
    sw.add_argument("--seeds", nargs="+", type=int, default=[0])
    sw.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", help="task options")
    sw.add_argument("--steps", type=int, default=300, help="training steps per run")
    sw.add_argument("--out", required=True, help="folder for the figure and JSON")
    sw.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from .tasks.training import CheckpointError

    threads = getattr(args, "threads", None)
    if threads is not None:
        if threads < 1:
            parser.error(f"--threads must be a positive integer; got {threads}")
        import torch

        torch.set_num_threads(threads)
    try:
        return _COMMANDS[args.command](args)
    except (CheckpointError, FileNotFoundError, ValueError, TypeError) as err:
        print(f"hetsyn {args.command}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as stop:  # the training loop saved first (see training.train)
        print(f"hetsyn {args.command}: {stop or 'interrupted'}", file=sys.stderr)
        out = getattr(args, "out", None)
        if args.command == "train" and out is not None and "saved to" in str(stop):
            again = " ".join(a for a in (argv if argv is not None else sys.argv[1:]))
            if "--resume" not in again:
                again += " --resume"
            print(f"resume with: hetsyn {again}", file=sys.stderr)
        return 130  # 128 + SIGINT, as a shell reports an interrupted command


def _demo(args) -> int:
    from .demo import run_demo

    run_demo(
        args.models,
        seeds=args.seeds,
        hidden=args.hidden,
        steps=args.steps,
        delay_ms=args.delay_ms,
        out=args.out,
        progress=not args.quiet,
    )
    return 0


def _train(args) -> int:
    from .tasks import make_task
    from .tasks.training import train

    config = _read_config(args.config)
    task = make_task(args.task, **{**config.get("task_options", {}), **_parse_options(args.set)})
    training = {"seed": 0, **config.get("training", {})}  # the rest: the task's recipe
    for key in ("steps", "epochs", "batch_size", "lr", "seed"):
        if getattr(args, key) is not None:
            training[key] = getattr(args, key)
    result = train(
        task,
        args.model,
        **training,
        device=args.device,
        model_options=config.get("model_options"),
        eval_every=args.eval_every,
        checkpoint=args.out,
        resume=args.resume,
        force=args.force,
        progress=not args.quiet,
    )
    print(
        f"{task.name}/{args.model}: {result.steps} steps, test loss {result.test_loss:.4f}, "
        f"test {task.metric_name} {result.test_metric:.4f}; saved to {args.out}/"
    )
    best = result.best
    if "at_best_validation" in best:
        b = best["at_best_validation"]
        print(f"  at the best validation step ({b['step']}): test {b['test_metric']:.4f}")
    if "best_test" in best:
        b = best["best_test"]
        print(f"  best test step ({b['step']}, chosen on the test set): {b['test_metric']:.4f}")
    return 0


def _eval(args) -> int:
    from .analysis import plot_curves
    from .tasks.evaluation import robustness
    from .tasks.training import load_checkpoint

    if args.repeats < 1:
        raise ValueError(f"--repeats must be a positive integer; got {args.repeats}")
    net, task, config = load_checkpoint(args.checkpoint)
    defaults = {
        "deletion": [0, 0.2, 0.4, 0.6],
        "addition": [0, 0.01, 0.02, 0.05],
        "jitter": [0, 1, 2, 4, 8],
        "warp": [0.5, 0.75, 1.0, 1.5, 2.0],
    }
    levels = args.levels or defaults[args.kind]
    scores = robustness(net, task, args.kind, levels, repeats=args.repeats)
    out = Path(args.out or args.checkpoint)
    print(f"{'level':>8}  {task.metric_name}")
    for level, score in zip(levels, scores):
        print(f"{level:>8g}  {score:.4f}")
    record = {
        "kind": args.kind,
        "levels": levels,
        task.metric_name: scores,
        "model": config["model"],
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / f"eval_{args.kind}.json").write_text(json.dumps(record, indent=1))
    xlabel = {"warp": "warp factor", "jitter": "largest jitter (steps)"}.get(
        args.kind, f"{args.kind} probability per input"
    )
    path = plot_curves(
        {config["model"]: (levels, scores)},
        out / f"eval_{args.kind}.png",
        xlabel=xlabel,
        ylabel=task.metric_name,
    )
    print(f"saved {path} and {out / f'eval_{args.kind}.json'}")
    return 0


def _taus(args) -> int:
    from .analysis import learned_taus, plot_tau_histograms
    from .tasks.evaluation import tau_ablation
    from .tasks.training import load_checkpoint

    net, task, config = load_checkpoint(args.checkpoint)
    dt_ms = getattr(task, "dt_ms", 1.0)
    report = tau_ablation(net, task, args.threshold_ms, dt_ms=dt_ms)
    out = Path(args.out or args.checkpoint)
    out.mkdir(parents=True, exist_ok=True)
    print(f"fraction of time constants above {args.threshold_ms:g} ms:")
    for name, frac in report["long_fraction"].items():
        print(f"  {name:<24}{frac:>7.1%}")
    print(
        f"ablation (long taus set to {report['to_ms']:g} ms): test {task.metric_name} "
        f"{report['metric_before']:.4f} -> {report['metric_after']:.4f}"
    )
    (out / "taus.json").write_text(json.dumps(report, indent=1))
    path = plot_tau_histograms(
        learned_taus(net, dt_ms), out / "taus.png", title=f"{config['model']} on {task.name}"
    )
    print(f"saved {path} and {out / 'taus.json'}")
    return 0


def _sweep(args) -> int:
    from .analysis import plot_curves
    from .tasks import make_task
    from .tasks.evaluation import hidden_size_sweep

    task = make_task(args.task, **_parse_options(args.set))
    if isinstance(getattr(task, "hidden", None), tuple):  # several layers (SHD): scale them all
        sizes = [
            tuple(max(1, round(h * s / task.hidden[0])) for h in task.hidden) for s in args.sizes
        ]
    else:
        sizes = args.sizes
    table = hidden_size_sweep(
        task, args.models, sizes, seeds=args.seeds, steps=args.steps, progress=False
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"{'model':<12}" + "".join(f"{str(s):>14}" for s in sizes) + f"   ({task.metric_name})")
    for model, row in table.items():
        cells = "".join(f"{r['mean']:>9.3f}±{r['std']:<4.2f}" for r in row.values())
        print(f"{model:<12}{cells}")
    record = {m: [{"size": s, **r} for s, r in row.items()] for m, row in table.items()}
    (out / "sweep.json").write_text(json.dumps({"task": task.config(), "table": record}, indent=1))
    curves = {m: (args.sizes, [r["mean"] for r in row.values()]) for m, row in table.items()}
    path = plot_curves(
        curves,
        out / "sweep.png",
        xlabel="hidden neurons (first layer)",
        ylabel=task.metric_name,
        title=f"{task.name}: {task.metric_name} vs size",
    )
    print(f"saved {path} and {out / 'sweep.json'}")
    return 0


_COMMANDS = {"demo": _demo, "train": _train, "eval": _eval, "taus": _taus, "sweep": _sweep}


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
