"""Run every benchmark (``make bench``); each writes its JSON under benchmarks/results/, then
the README's tables are rewritten from them (:mod:`.tables`). B1 and B3 run three times at
different moments (a minute apart), as their targets are judged."""

from __future__ import annotations

from . import (
    b1_shd, b2_layer_sweep, b3_presets, b4_gpu, b5_per_step, b6_import, b7_roofline, tables,
)  # fmt: skip


def main() -> None:
    for module, argv in (
        (b1_shd, ["--runs", "3"]), (b3_presets, ["--runs", "3"]), (b7_roofline, []),
        (b2_layer_sweep, []), (b4_gpu, []), (b5_per_step, []), (b6_import, []),
    ):  # fmt: skip
        print(f"\n=== {module.__name__.rsplit('.', 1)[-1]} ===", flush=True)
        module.main(argv)
    print("README tables rewritten:", ", ".join(tables.rewrite_readme()))


if __name__ == "__main__":
    main()
