"""The longest register-to-register paths of a unit on ECP5, from Yosys alone, in minutes.

A routed run of the block takes about 45 minutes here and names one critical path. This maps
the unit with ``synth_ecp5`` (:func:`isosceles.gen.synth.ecp5_netlist`, as ``isosceles synth``
does), then walks the flattened netlist and ranks every path ending at a flip-flop or a memory
input by an *estimate* of its delay, and prints the worst path into each module with the
modules it crosses. The estimate is a rough model, not nextpnr's timing: a LUT4 0.45 ns, a
PFUMX or L6MUX21 0.25 ns, a carry cell 0.45 ns in and 0.05 ns along the chain, a
block RAM's output 3 ns after the clock, a multiplier 4 ns, and before every cell but along a
carry chain ``--route`` ns of routing plus ``FANOUT_DELAY`` ns per doubling of the net's fanout
(a stall that enables hundreds of flip-flops is slow to reach them all). Use it to find which
paths are long and why; measure fmax with ``isosceles synth --target ecp5``.

    python scripts/logic_paths.py --config configs/ulx3s.toml                 # the block
    python scripts/logic_paths.py --config configs/ulx3s.toml --unit core --top 20
    python scripts/logic_paths.py --netlist netlist.json                      # a kept netlist
    python scripts/logic_paths.py --config configs/ulx3s.toml --unit pe --lut-mapper abc

ABC9 (the default for small units) and the classic ABC map the same logic to different depths,
and ABC9's mapping of a path moves by several ns when unrelated logic of the unit changes;
``--lut-mapper abc`` maps a unit as the block is mapped for its routed runs.
"""

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path

from isosceles.gen.config import IsoscelesConfig
from isosceles.gen.synth import ecp5_netlist

# Cell delays (ns) of the estimate; routing is added per hop.
LUT_DELAY = {"LUT4": 0.45, "PFUMX": 0.25, "L6MUX21": 0.25}
CARRY_IN, CARRY_ALONG, CARRY_SUM = 0.45, 0.05, 0.3
RAM_CLOCK_TO_OUT, DISTRIBUTED_READ, MULTIPLY, FF_CLOCK_TO_OUT = 3.0, 1.2, 4.0, 0.5
FANOUT_DELAY = 0.3


class PathGraph:
    """Arrival times of every net bit of a flattened ``synth_ecp5`` netlist."""

    def __init__(self, netlist, route):
        top = next(module for module in netlist["modules"].values()
                   if module.get("attributes", {}).get("top"))
        self.cells = top["cells"]
        fanout = {}
        for cell in self.cells.values():
            directions = cell.get("port_directions", {})
            for port, bits in cell["connections"].items():
                if directions.get(port) == "input":
                    for bit in bits:
                        fanout[bit] = fanout.get(bit, 0) + 1
        self.hop = {bit: route + FANOUT_DELAY * math.log2(count) for bit, count in fanout.items()}
        self.route = route
        self.names = {}
        for name, net in sorted(top["netnames"].items(),
                                key=lambda item: (item[1].get("hide_name", 0), len(item[0]))):
            for index, bit in enumerate(net["bits"]):
                if isinstance(bit, int) and bit not in self.names:
                    self.names[bit] = f"{name}[{index}]" if len(net["bits"]) > 1 else name
        self.starts, self.arcs, self.ends = {}, {}, []  # arcs: bit -> [(in bit, delay, hop)]
        for name, cell in self.cells.items():
            self._add_cell(name, cell)
        for port in top["ports"].values():
            if port["direction"] == "input":
                self.starts.update((bit, 0.0) for bit in port["bits"] if isinstance(bit, int))
        self.arrival = {}

    def _add_cell(self, name, cell):
        kind, connections = cell["type"], cell["connections"]
        directions = cell.get("port_directions", {})

        def bits(*ports):
            return [bit for port in ports if port in connections
                    for bit in connections[port] if isinstance(bit, int)]

        inputs = [port for port in connections if directions.get(port) == "input"]
        outputs = [port for port in connections if directions.get(port) == "output"]
        if kind == "TRELLIS_FF":
            self.starts.update((bit, FF_CLOCK_TO_OUT) for bit in bits("Q"))
            self.ends += [(name, port, bit) for port in ("DI", "CE", "LSR", "M")
                          for bit in bits(port)]
        elif kind == "DP16KD":
            self.starts.update((bit, RAM_CLOCK_TO_OUT) for bit in bits(*outputs))
            self.ends += [(name, port, bit) for port in inputs for bit in bits(port)]
        elif kind == "TRELLIS_DPR16X4":
            read = bits(*(port for port in inputs if port.startswith("RAD")))
            self.ends += [(name, port, bit) for port in inputs if not port.startswith("RAD")
                          for bit in bits(port)]
            self._drive(bits(*outputs), [(bit, DISTRIBUTED_READ, True) for bit in read])
        elif kind == "CCU2C":
            first, second = bits("A0", "B0", "C0", "D0"), bits("A1", "B1", "C1", "D1")
            carry = bits("CIN")
            self._drive(bits("S0"), [(b, CARRY_IN, True) for b in first]
                        + [(b, CARRY_SUM, False) for b in carry])
            self._drive(bits("S1"), [(b, CARRY_IN, True) for b in first + second]
                        + [(b, CARRY_SUM, False) for b in carry])
            self._drive(bits("COUT"), [(b, CARRY_IN, True) for b in first + second]
                        + [(b, CARRY_ALONG, False) for b in carry])
        elif kind == "MULT18X18D":
            operands = bits(*(port for port in inputs if port[0] in "AB" and port[1:].isdigit()))
            self._drive(bits(*outputs), [(bit, MULTIPLY, True) for bit in operands])
        else:
            delay = LUT_DELAY.get(kind, 0.5)
            self._drive(bits(*outputs), [(bit, delay, True) for bit in bits(*inputs)])

    def _drive(self, outputs, arcs):
        for bit in outputs:
            self.arcs[bit] = arcs

    def time(self, bit):
        """``(arrival in ns, the input bit the latest arrival comes through)``."""
        stack, visiting = [(bit, False)], set()
        while stack:
            node, expanded = stack.pop()
            if node in self.arrival or (not expanded and node in visiting):
                continue
            if node in self.starts or node not in self.arcs:
                self.arrival[node] = (self.starts.get(node, 0.0), None)
            elif not expanded:
                visiting.add(node)
                stack.append((node, True))
                stack += [(source, False) for source, _, _ in self.arcs[node]
                          if source not in self.arrival and source not in visiting]
            else:
                visiting.discard(node)
                best = (0.0, None)
                for source, delay, hop in self.arcs[node]:
                    # A combinational loop's back edge (none in a sound netlist) counts 0.
                    start = self.arrival.get(source, (0.0, None))[0]
                    arrival = start + delay + (self.hop[source] if hop else 0.0)
                    if arrival > best[0]:
                        best = (arrival, source)
                self.arrival[node] = best
        return self.arrival[bit]

    def path(self, bit):
        """The net names of the latest path into ``bit``, from its start."""
        names = []
        while bit is not None:
            names.append(self.names.get(bit, f"<net {bit}>"))
            bit = self.arrival[bit][1]
        return names[::-1]


def module_of(name):
    return name.rsplit(".", 1)[0] if "." in name else "(top)"


def worst_per_module(graph):
    """``[(ns, module, cell, port, bit)]``: the latest endpoint of each module, worst first."""
    worst = {}
    for cell, port, bit in graph.ends:
        arrival = graph.time(bit)[0] + graph.hop.get(bit, graph.route)
        module = module_of(cell)
        if module not in worst or arrival > worst[module][0]:
            worst[module] = (arrival, module, cell, port, bit)
    return sorted(worst.values(), key=lambda row: -row[0])


def crossed(names):
    """The modules a path runs through, in order."""
    modules = []
    for name in names:
        module = module_of(name)
        if not modules or modules[-1] != module:
            modules.append(module)
    return modules


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", type=Path, help="a TOML configuration (default: defaults)")
    parser.add_argument("--unit", help="a unit of `isosceles generate --unit` (default: block)")
    parser.add_argument("--netlist", type=Path, help="analyse this synth_ecp5 JSON netlist")
    parser.add_argument("--keep", type=Path, help="keep the mapped netlist in this folder")
    parser.add_argument("--top", type=int, default=25, help="modules to list (default 25)")
    parser.add_argument("--route", type=float, default=0.8,
                        help="ns of routing per hop in the estimate (default 0.8)")
    parser.add_argument("--json", type=Path, help="write the listed paths as JSON")
    parser.add_argument("--lut-mapper", choices=("auto", "abc9", "abc"), default="auto",
                        help="as in `isosceles synth` (default auto: abc for the block and the"
                             " core, abc9 for the other units)")
    args = parser.parse_args(argv)
    if args.netlist is not None:
        netlist = json.loads(args.netlist.read_text())
    else:
        config = IsoscelesConfig() if args.config is None else IsoscelesConfig.load(args.config)
        with tempfile.TemporaryDirectory(prefix="isosceles-paths-") as work:
            folder = args.keep or Path(work)
            folder.mkdir(parents=True, exist_ok=True)
            ecp5_netlist(config, args.unit, folder, lut_mapper=args.lut_mapper)
            netlist = json.loads((folder / "netlist.json").read_text())
    graph = PathGraph(netlist, args.route)
    rows = []
    for arrival, module, cell, port, bit in worst_per_module(graph)[:args.top]:
        names = graph.path(bit)
        rows.append({"estimate_ns": round(arrival, 2), "module": module, "endpoint":
                     f"{cell}.{port}", "cells": len(names) - 1, "start": names[0],
                     "crosses": crossed(names)})
        print(f"{arrival:6.2f} ns  {len(names) - 1:3d} cells  {module}  <-  {names[0]}")
        print("        through " + " > ".join(crossed(names)))
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
