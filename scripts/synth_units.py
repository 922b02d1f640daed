"""ECP5-85F-6 figures of units at one configuration: the table of docs/units.md, with JSON.

Runs :func:`isosceles.gen.synth.synth` (``isosceles synth --target ecp5``) on each unit, one after
the other, prints a Markdown table and writes ``reports/synth_units.json`` (``--json`` moves it).
Needs the fpga extra (``pip install -e '.[fpga]'``). The frontend lane (``pe``) is left out
unless named: its place and route takes very long.

    python scripts/synth_units.py                                  # the small units, defaults
    python scripts/synth_units.py --config configs/ulx3s.toml --units pou queue
    python scripts/synth_units.py --units heap kmerger --set kmerger_radix=256
    python scripts/synth_units.py --table docs/synth_units.json     # the table of a past run
"""

import argparse
import json
import sys
from pathlib import Path

from isosceles.gen.config import IsoscelesConfig
from isosceles.gen.files import write_json
from isosceles.gen.synth import synth

SMALL_UNITS = ["stream_buffer", "rmerger", "row_merger", "pou", "queue", "heap", "kmerger"]
COLUMNS = ("fmax_mhz", "lut4", "ccu2c", "dpram16x4", "ff", "dp16kd", "mult18")


def table(reports):
    """A Markdown table; a unit whose LUTs were mapped by ``abc -lut 4`` (ABC9 failed) is
    marked with an asterisk."""
    lines = ["| unit | parameters | fmax (MHz) | LUT4 | CCU2C | DPR16X4 | FF | DP16KD | MULT18 "
             "| logic cells (% of 85F) |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for report in reports:
        params = ", ".join(f"{key} {value}" for key, value in report["parameters"].items()
                           if not key.endswith("_bits") or key == "token_bits")
        mark = "" if report["lut_mapper"] == "abc9" else " *"
        share = 100 * report["comb_used"] / report["comb_available"]
        lines.append(f"| {report['unit']}{mark} | {params} | "
                     + " | ".join(str(report[key]) for key in COLUMNS)
                     + f" | {report['comb_used']} ({share:.1f} %) |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, help="configuration TOML (default: built-in)")
    parser.add_argument("--set", nargs="+", default=[], metavar="FIELD=INT",
                        help="integer fields of the configuration to change, such as "
                             "kmerger_radix=256")
    parser.add_argument("--units", nargs="+", default=SMALL_UNITS, metavar="NAME")
    parser.add_argument("--json", type=Path, default=Path("reports/synth_units.json"))
    parser.add_argument("--table", type=Path, metavar="JSON",
                        help="print the table of a past run's JSON and stop")
    args = parser.parse_args(argv)
    if args.table:
        print(table(json.loads(args.table.read_text())["units"]))
        return 0
    config = IsoscelesConfig.load(args.config) if args.config else IsoscelesConfig()
    changes = {}
    for item in args.set:
        field, _, value = item.partition("=")
        if not value.lstrip("-").isdigit():
            parser.error(f"--set {item}: expected FIELD=INT, such as kmerger_radix=256")
        if field not in config.as_dict():
            parser.error(f"--set {item}: {field} is not a field of the configuration")
        changes[field] = int(value)
    try:
        config = config.replace(**changes)
    except ValueError as error:
        parser.error(f"--set: {error}")
    reports = []
    for unit in args.units:  # the JSON grows unit by unit: a long run keeps what it measured
        reports.append(synth(config, "ecp5", unit))
        write_json(args.json, {"config": config.as_dict(), "units": reports})
    print(table(reports))
    return 0


if __name__ == "__main__":
    sys.exit(main())
