"""``isosceles run``: a workload file on the IS-OS core's RTL, every output checked against the
golden model.

The core (:class:`~isosceles.hw.core.IsosCore`) is generated from the configuration and
simulated in Verilator through cocotb; until the block's memory side exists, the testbench loads
the filters and POU tables and streams the input rows (``tb/cocotb_run.py``). Every O token of
every output row is compared with the golden model; the first mismatch is named by its tensor
coordinate and the run exits non-zero.
"""

import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from isosceles.gen.cli import add_config_argument, load_config
from isosceles.gen.config import IsoscelesConfig
from isosceles.gen.files import check_writable, write_json
from isosceles.golden.checks import check_conv_arguments
from isosceles.golden.isos import isos_streams
from isosceles.golden.memory_image import compulsory_bytes
from isosceles.golden.reference import dense_conv2d
from isosceles.golden.workload_file import load_workload
from isosceles.hw.core import MAX_STRIDE, IsosCore

__all__ = ["register", "run_workload", "check_fits", "RunMismatch"]


class RunMismatch(AssertionError):
    """The RTL's output differs from the golden model's."""


def isosceles_core(**params):
    """The core of the configuration given as JSON parameters (the build cache key)."""
    from isosceles.tb.cocotb_core import config_of

    return IsosCore(config_of(params))


def check_fits(workload, config):
    """ValueError naming the layer, the field, its value and the configuration's limit, for the
    first layer the core cannot run."""
    for layer in workload.layers:
        i, f, stride, padding, groups = layer.conv_arguments()
        g = check_conv_arguments(i.shape, f.shape, stride, padding, groups)
        for field, value, limit, knob in (
                ("filter height R", g.R, config.max_kernel, "max_kernel"),
                ("filter width S", g.S, config.max_kernel, "max_kernel"),
                ("input channels C", g.C, config.max_channels, "max_channels"),
                ("output channels K", g.K, config.max_channels, "max_channels"),
                ("input columns W", g.W, config.max_columns, "max_columns"),
                ("output columns Q", g.Q, config.max_columns, "max_columns"),
                ("stride", g.stride, MAX_STRIDE, None)):
            if value > limit:
                fix = f"raise {knob} in the configuration" if knob else "the block's largest"
                raise ValueError(f"{workload.path}: layer {layer.name!r} has {field} = {value}, "
                                 f"above {limit} ({fix})")


def effectual_macs(i, f, stride, padding, groups):
    """Products of a nonzero input and a nonzero weight that reach an output."""
    return int(dense_conv2d((np.asarray(i) != 0).astype(np.int64),
                            (np.asarray(f) != 0).astype(np.int64),
                            stride=stride, padding=padding, groups=groups).sum())


def _dense(rows, shape):
    out = np.zeros(shape, dtype=np.int64)
    for p, tokens in enumerate(rows):
        for token in tokens:
            if not token["marker"]:
                out[p, token["q"], token["k"]] = token["value"]
    return out


def _check_layer(layer, rows, config):
    """Per-layer figures; RunMismatch naming the first differing coordinate or token."""
    i, f, stride, padding, groups = layer.conv_arguments()
    s = isos_streams(i, f, stride=stride, padding=padding, groups=groups,
                     numerics=config.numerics, pou=layer.pou)
    got = _dense(rows, np.shape(layer.output))
    if not np.array_equal(got, layer.output):
        p, q, k = (int(x) for x in np.argwhere(got != layer.output)[0])
        raise RunMismatch(f"layer {layer.name!r}: output [p={p}, q={q}, k={k}] is "
                          f"{got[p, q, k]}, golden {layer.output[p, q, k]}")
    for p, (tokens, golden) in enumerate(zip(rows, s.outputs, strict=True)):
        if tokens != golden:
            index = next(n for n, (a, b) in enumerate(zip(tokens + [None], golden + [None],
                                                           strict=False)) if a != b)
            raise RunMismatch(f"layer {layer.name!r}: output row {p} token {index} is "
                              f"{(tokens + [None])[index]}, golden {(golden + [None])[index]}")
    read, written = compulsory_bytes(i, f, layer.output, groups=groups)
    return {"effectual_macs": effectual_macs(i, f, stride, padding, groups),
            "compulsory_bytes": read + written, "output_tokens": sum(map(len, rows))}


def run_workload(path, config=None, *, waves=False, stalls=0.0, seed=None):
    """Run workload file ``path`` on the core of ``config`` (default: the built-in one) and
    return the report (see ``isosceles run --help``). RunMismatch on any difference."""
    config = IsoscelesConfig() if config is None else config
    workload = load_workload(path, numerics=config.numerics)
    check_fits(workload, config)
    from isosceles.tb.harness import run_cocotb

    with tempfile.TemporaryDirectory() as scratch:
        result = Path(scratch) / "result.json"
        run_dir = run_cocotb(isosceles_core, params=config.as_dict(),
                             test_module="isosceles.tb.cocotb_run", seed=seed, waves=waves,
                             extra={"workload": str(Path(path).resolve()), "result": str(result),
                                    "idle": stalls, "backpressure": stalls})
        measured = json.loads(result.read_text())
    peak = config.lanes * config.macs_per_pe  # one PE per lane in the RTL today
    layers = []
    for layer, run in zip(workload.layers, measured, strict=True):
        figures = _check_layer(layer, run["rows"], config)
        layers.append({"name": layer.name, "cycles": run["cycles"], **figures,
                       "mac_utilization": figures["effectual_macs"] / (run["cycles"] * peak)})
    cycles = sum(layer["cycles"] for layer in layers)
    macs = sum(layer["effectual_macs"] for layer in layers)
    waveform = next(iter(sorted(run_dir.glob("dump.*"))), None)
    return {
        "workload": str(path), "bit_exact": True, "cycles": cycles, "effectual_macs": macs,
        "macs_per_cycle_peak": peak, "mac_utilization": macs / (cycles * peak),
        # The memory side (fetchers, writers, AXI master) is not built: nothing is measured.
        "dram_read_bytes": None, "dram_write_bytes": None,
        "compulsory_bytes": sum(layer["compulsory_bytes"] for layer in layers),
        "layers": layers, "log": str(run_dir / "sim.log"),
        "waveform": str(waveform) if waveform else None,
    }


def print_report(report, file=None):
    """The report as a table on ``file`` (standard output by default)."""
    file = file or sys.stdout
    print(f"{report['workload']}: bit-exact against the golden model", file=file)
    print(f"{'layer':<16}{'cycles':>9}{'MACs':>10}{'MAC util':>10}{'out tokens':>12}", file=file)
    for layer in report["layers"]:
        print(f"{layer['name']:<16}{layer['cycles']:>9}{layer['effectual_macs']:>10}"
              f"{layer['mac_utilization']:>10.3f}{layer['output_tokens']:>12}", file=file)
    print(f"{'total':<16}{report['cycles']:>9}{report['effectual_macs']:>10}"
          f"{report['mac_utilization']:>10.3f}", file=file)
    print(f"peak {report['macs_per_cycle_peak']} MACs a cycle; compulsory DRAM bytes "
          f"{report['compulsory_bytes']} (not measured: the memory side is not built yet)",
          file=file)
    print(f"log: {report['log']}", file=file)
    if report["waveform"]:
        print(f"waveform: {report['waveform']}", file=file)


def main(args):
    if not 0 <= args.stalls < 1:
        raise ValueError(f"--stalls must be a probability in [0, 1), not {args.stalls}")
    if args.json:
        check_writable(args.json)
    try:
        report = run_workload(args.workload, load_config(args), waves=args.waves,
                              stalls=args.stalls, seed=args.seed)
    except RunMismatch as error:
        print(f"isosceles run: MISMATCH: {error}", file=sys.stderr)
        return 1
    print_report(report)
    if args.json:
        write_json(args.json, report)
    return 0


def register(subparsers):
    parser = subparsers.add_parser(
        "run", help="run a workload file on the core's RTL (Verilator), checked bit for bit",
        description=__doc__.splitlines()[0])
    parser.add_argument("workload", type=Path, help="a workload TOML file (see workloads/)")
    add_config_argument(parser)
    parser.add_argument("--waves", action="store_true", help="record a waveform (FST or VCD)")
    parser.add_argument("--json", type=Path, help="write the report here as JSON")
    parser.add_argument("--stalls", type=float, default=0.0,
                        help="probability of an idle input or a stalled output each cycle")
    parser.add_argument("--seed", type=int, help="seed of the stalls (printed when not given)")
    parser.set_defaults(func=main)
