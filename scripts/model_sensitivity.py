"""Sensitivity of the performance model's headline gmeans to one input at a time.

Varies the DRAM bandwidth, the backend merger rate, the per-lane queue size and every
activation density around the published design, runs the 11 networks each time and prints the
gmeans the headline reports (docs/performance.md, "What would move the headline numbers").

    python scripts/model_sensitivity.py               # all 11 networks
    python scripts/model_sensitivity.py --networks R96,M89
"""

import argparse

from isosceles.gen.config import IsoscelesConfig
from isosceles.gen.model import evaluate, summarize
from isosceles.perf.workloads import parse_variants

PAPER = IsoscelesConfig.paper()
CASES = (
    ("published design", {}),
    ("DRAM bandwidth x0.5 (64 B/cycle)", {"config": PAPER.replace(dram_bytes_per_cycle=64.0)}),
    ("DRAM bandwidth x2 (256 B/cycle)", {"config": PAPER.replace(dram_bytes_per_cycle=256.0)}),
    ("backend merger 2 tokens/cycle", {"merger_tokens_per_cycle": 2.0}),
    ("backend merger 4 tokens/cycle", {"merger_tokens_per_cycle": 4.0}),
    ("queues 4 KB per lane", {"config": PAPER.replace(queue_bytes=4096)}),
    ("queues 16 KB per lane", {"config": PAPER.replace(queue_bytes=16384)}),
    ("activation densities x0.8", {"activation_scale": 0.8}),
    ("activation densities x1.2", {"activation_scale": 1.2}),
)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", default="all")
    args = parser.parse_args(argv)
    names = parse_variants(args.networks)
    print(f"{'case':34}{'x SparTen':>10}{'x SparTen-opt':>14}{'x FL':>7}"
          f"{'traffic/SparTen':>16}{'traffic/FL':>11}{'not BW-bound':>13}")
    for label, options in CASES:
        overall = summarize(evaluate(names, **options))["overall"]
        pairs = overall["vs_sparten_gmean"]
        print(f"{label:34}{pairs['ISOSceles over SparTen']['speedup']:>10.2f}"
              f"{pairs['ISOSceles over SparTen-optimistic']['speedup']:>14.2f}"
              f"{overall['speedup_vs_fused_layer_gmean']:>7.2f}"
              f"{overall['traffic_reduction_vs_sparten_gmean']:>16.2f}"
              f"{overall['traffic_reduction_vs_fused_layer_gmean']:>11.2f}"
              f"{overall['isosceles_not_bandwidth_bound']:>10} of {len(names)}", flush=True)


if __name__ == "__main__":
    main()
