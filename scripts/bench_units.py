"""Throughput of every RTL unit on Verilator: tokens, cycles, cycles per token, utilisation.

Runs the ``bench`` cocotb test of each unit (no idle cycles, no backpressure; each bench asserts
its own throughput bound), collects the figures the bench writes, adds the simulation speed from
cocotb's results, prints one table and writes ``reports/bench_units.json`` (``--json`` moves it).

    python scripts/bench_units.py                 # every unit
    python scripts/bench_units.py --units pe rmerger --seed 7
"""

import argparse
import json
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from isosceles.gen.files import write_json
from isosceles.tb.harness import run_cocotb


def _unit_benches():
    """name -> (factory, params, cocotb module, extra) for each unit's bench."""
    from isosceles.tb import (
        test_axi_master,
        test_axi_registers,
        test_kmerger,
        test_merge_adder,
        test_pe,
        test_pou,
        test_queue,
        test_rmerger,
        test_row_merger,
    )
    from isosceles.tb import test_stream_buffer as buffer

    return {
        "stream_buffer": (buffer.stream_buffer, dict(value_bits=16), buffer.MODULE, {}),
        "pe": (test_pe.frontend_lane, test_pe.BUILDS["macs8-acc16"], test_pe.MODULE, {}),
        "rmerger": (test_rmerger.r_merger, test_rmerger.CONFIGS[0], test_rmerger.MODULE, {}),
        "row_merger": (test_row_merger.row_merger, test_row_merger.CONFIGS[0],
                       test_row_merger.MODULE, {}),
        "merge_adder": (test_merge_adder.merge_adder, test_merge_adder.CONFIGS[0],
                        test_merge_adder.MODULE, {}),
        "heap": (test_kmerger.PipelinedHeap, test_kmerger.HEAP, test_kmerger.HEAP_MODULE, {}),
        "kmerger16": (test_kmerger.k_merger, test_kmerger.BUILDS["radix16"], test_kmerger.MODULE,
                      test_kmerger.EXTRA["radix16"]),
        "kmerger256": (test_kmerger.k_merger, test_kmerger.BUILDS["radix256"],
                       test_kmerger.MODULE, test_kmerger.EXTRA["radix256"]),
        "pou": (test_pou.pou, test_pou.BUILDS["paper-k256"], test_pou.MODULE, {}),
        "queue": (test_queue.lane_queue, test_queue.BUILD, test_queue.MODULE, {}),
        "axi_master": (test_axi_master.AxiMaster, test_axi_master.BUILDS["dw64"],
                       test_axi_master.MODULE, {}),
        "axi_registers": (test_axi_registers.register_file, test_axi_registers.PARAMS,
                          test_axi_registers.MODULE, {}),
    }


def _simulation_speed(run_dir):
    """Simulated clock cycles per wall-clock second (10 ns clock), from cocotb's results."""
    tree = ElementTree.parse(run_dir / "results.xml")
    ratio = [float(p.get("value")) for p in tree.iter("property")
             if p.get("name") == "sim_time_ratio"]
    return ratio[0] / 10 if ratio else None


def _summary(name, figures):
    """One table row per bench case: the fields every bench reports. Cycles are counted per
    output token, or per ``elements`` where a bench names what its throughput claim counts
    (the heap: operations)."""
    rows = []
    for case in figures["cases"]:
        tokens_out, cycles = case["tokens_out"], case["cycles"]
        elements = case.get("elements", tokens_out)
        rows.append({
            "unit": name, "tokens_in": case["tokens_in"], "tokens_out": tokens_out,
            "cycles": cycles, "latency": case.get("latency"),
            "cycles_per_element": cycles / elements if elements else None,
            "note": case.get("note", case.get("case", "")),
        })
    return rows


def main(argv=None):
    benches = _unit_benches()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", nargs="+", choices=sorted(benches), default=list(benches),
                        help="units to measure (default: all)")
    parser.add_argument("--seed", type=int, default=1, help="stimulus seed (default 1)")
    parser.add_argument("--json", type=Path, default=Path("reports/bench_units.json"),
                        help="where to write the figures (default reports/bench_units.json)")
    args = parser.parse_args(argv)

    results, rows = {}, []
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.units:
            factory, params, module, extra = benches[name]
            out = Path(scratch) / f"{name}.json"
            run_dir = run_cocotb(factory, params=params, test_module=module, seed=args.seed,
                                 testcase="bench", extra={**extra, "bench_out": str(out)})
            figures = json.loads(out.read_text())
            figures["simulated_cycles_per_second"] = _simulation_speed(run_dir)
            results[name] = figures
            rows.extend(_summary(name, figures))

    header = f"{'unit':<14}{'tokens in':>10}{'tokens out':>11}{'cycles':>9}{'latency':>8}" \
             f"{'cyc/elem':>10}  note"
    print(header)
    for row in rows:
        latency = "" if row["latency"] is None else row["latency"]
        per_element = "" if row["cycles_per_element"] is None else \
            f"{row['cycles_per_element']:.3f}"
        print(f"{row['unit']:<14}{row['tokens_in']:>10}{row['tokens_out']:>11}{row['cycles']:>9}"
              f"{latency:>8}{per_element:>10}  {row['note']}")
    print()
    for name, figures in results.items():
        speed = figures["simulated_cycles_per_second"]
        extra = figures.get("figures_of_note", {})
        notes = ", ".join(f"{key} {value:.3g}" if isinstance(value, float) else f"{key} {value}"
                          for key, value in extra.items())
        print(f"{name:<14}Verilator+cocotb {speed:,.0f} cycles/s" + (f"; {notes}" if notes else ""))
    write_json(args.json, {"seed": args.seed, "units": results, "table": rows})
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
