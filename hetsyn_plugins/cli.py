"""The ``hetsyn`` command."""

from __future__ import annotations

import argparse

from .core import PRESETS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hetsyn", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="train HetSynLIF vs HomNeuLIF on a toy delayed-cue task")
    demo.add_argument("--seconds", type=float, default=30.0, help="training time per model")
    demo.add_argument("--hidden", type=int, default=8, help="hidden neurons")
    demo.add_argument(
        "--models",
        nargs="+",
        default=["HetSynLIF", "HomNeuLIF"],
        choices=sorted(PRESETS),
        help="models to compare",
    )
    demo.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.command == "demo":
        from .demo import run_demo

        run_demo(args.models, seconds=args.seconds, hidden=args.hidden, seed=args.seed)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
