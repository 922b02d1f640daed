"""Layer benchmark of the IS-OS block's RTL: cycles against the lower bounds of each stage.

Runs a workload file (default ``workloads/bench/layers.toml``) with ``isosceles run``'s machinery
(the block in Verilator, run from memory through its registers, bit-exact check against the
golden model) and prints per layer: cycles; the cycles loading the filters and POU table
(``load``) and the rest, the bands (``bands``); the lower bounds of each stage that ``isosceles
run`` reports (:mod:`isosceles.gen.bounds`: ``macs``, ``walk``, ``t1``, ``merge``, ``dram``);
the ratio of the cycles to the largest bound, which stage that is, the MAC utilisation, and the
DRAM bytes against the compulsory ones; the simulation's speed (cycles a wall-clock second of
the layer's run, Verilator and cocotb together); then the performance model's prediction of the
core's cycles (``predict_layer_cycles`` on the same drawn layers,
:mod:`isosceles.perf.core_cycles`) and its residual against the bands' cycles (the model has no
memory term yet). Writes the figures as JSON (``--json``, default
``reports/bench_layers.json``).

    python scripts/bench_layers.py [--config C] [--workload W] [--json OUT]
"""

import argparse
import sys
from pathlib import Path

from isosceles.gen.config import IsoscelesConfig
from isosceles.gen.files import check_writable, write_json
from isosceles.gen.run import run_workload
from isosceles.golden.workload_file import load_workload
from isosceles.perf.isosceles_model import predict_layer_cycles

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, help="configuration TOML (default: built-in)")
    parser.add_argument("--workload", type=Path, default=ROOT / "workloads/bench/layers.toml")
    parser.add_argument("--json", type=Path, default=Path("reports/bench_layers.json"))
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    config = IsoscelesConfig.load(args.config) if args.config else IsoscelesConfig()
    check_writable(args.json)
    report = run_workload(args.workload, config, seed=args.seed)
    workload = load_workload(args.workload, numerics=config.numerics)
    peak = report["macs_per_cycle_peak"]
    predicted = predict_layer_cycles(config, workload)
    rows = []
    for layer, measured in zip(workload.layers, report["layers"], strict=True):
        dram_bytes = measured["dram_read_bytes"] + measured["dram_write_bytes"]
        bounds = measured["bounds"]
        pace = max(bounds, key=bounds.get)
        band_cycles = measured["cycles"] - measured["load_cycles"]
        rows.append({"name": layer.name, "cycles": measured["cycles"],
                     "load_cycles": measured["load_cycles"], "band_cycles": band_cycles,
                     "bounds": bounds, "pace": pace,
                     "ratio": measured["cycles"] / max(1, bounds[pace]),
                     "mac_utilization": measured["mac_utilization"],
                     "effectual_macs": measured["effectual_macs"], "dram_bytes": dram_bytes,
                     "compulsory_bytes": measured["compulsory_bytes"],
                     "sim_cycles_per_second": measured["cycles"] / measured["sim_seconds"],
                     "model": predicted[layer.name],
                     "residual": predicted[layer.name] / band_cycles - 1})
    print(f"{'layer':<18}{'cycles':>8}{'load':>6}{'bands':>7}{'macs':>7}{'walk':>7}{'t1':>7}"
          f"{'merge':>7}{'dram':>6}  {'pace':<6}{'ratio':>6}{'MAC util':>9}{'bytes':>8}"
          f"{'compuls':>8}{'model':>8}{'resid':>8}{'sim c/s':>9}")
    for row in rows:
        b = row["bounds"]
        print(f"{row['name']:<18}{row['cycles']:>8}{row['load_cycles']:>6}"
              f"{row['band_cycles']:>7}{b['macs']:>7}{b['walk']:>7}{b['t1']:>7}"
              f"{b['merge']:>7}{b['dram']:>6}  {row['pace']:<6}{row['ratio']:>6.2f}"
              f"{row['mac_utilization']:>9.3f}{row['dram_bytes']:>8}{row['compulsory_bytes']:>8}"
              f"{row['model']:>8}{row['residual']:>+8.1%}{row['sim_cycles_per_second']:>9.0f}")
    print(f"peak {peak} MACs a cycle ({config.lanes} lanes x {config.macs_per_pe}); the dram bound "
          f"is the measured bytes at {config.dram_bytes_per_cycle:g} B/cycle; the model's "
          f"residual is against the band cycles (it has no memory term yet)")
    write_json(args.json, {"workload": str(args.workload), "config": config.as_dict(),
                           "seed": args.seed, "layers": rows, "log": report["log"]})
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
