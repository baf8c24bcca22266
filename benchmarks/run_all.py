"""Run every benchmark (``make bench``); each writes its JSON under benchmarks/results/."""

from __future__ import annotations

from . import b1_shd, b2_layer_sweep, b3_presets, b4_gpu, b5_per_step, b6_import


def main() -> None:
    for module in (b1_shd, b3_presets, b2_layer_sweep, b4_gpu, b5_per_step, b6_import):
        print(f"\n=== {module.__name__.rsplit('.', 1)[-1]} ===", flush=True)
        module.main([])


if __name__ == "__main__":
    main()
