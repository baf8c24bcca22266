"""The demo record: ``hetsyn demo``'s run (the four models on delayed match-to-sample at the
task's defaults, seeds 0-2, one torch thread) written to
``experiments/results/dms_demo.json`` with the commit it ran at (a ``+`` when the package's
files differed from it), which ``docs/reproduction.md`` shows and tutorial 05 compares its
own runs with: the same code and seed give the same number.

Run: ``python -m experiments.demo_record [--seeds 0 1 2] [--threads 1]``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch

from hetsyn_plugins.demo import run_demo

from .protocol import _code_version

OUT = Path(__file__).parent / "results" / "dms_demo.json"


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    code = _code_version()  # before the run: the code that runs
    with tempfile.TemporaryDirectory() as folder:
        record = run_demo(seeds=args.seeds, out=folder, progress=False)
    record.update(commit=code, threads=args.threads, torch=torch.__version__)
    OUT.write_text(json.dumps(record, indent=1) + "\n")
    print("written to", OUT)
    return record


if __name__ == "__main__":
    main()
