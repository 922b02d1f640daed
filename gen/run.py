"""``isosceles run``: a workload file on the IS-OS block's RTL, every output checked against the
golden model.

The block (:class:`~isosceles.hw.block.IsosBlock`) is generated from the configuration and
simulated in Verilator through cocotb, with cocotbext-axi's AXI RAM as its memory and its AXI-Lite
master as the host (``tb/cocotb_run.py``): each layer is laid out in memory in the format of
``docs/memory.md``, its descriptor loaded, the block started, and the output read back from
memory. Every output value is compared with the golden model, and the block's byte and MAC
counters with the golden counts; the first mismatch is named (a tensor coordinate, an error
code or a counter) and the run exits non-zero.
"""

import contextlib
import json
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np

from isosceles.gen.bounds import layer_bounds
from isosceles.gen.cli import add_config_argument, existing_file, load_config, seed_type
from isosceles.gen.config import IsoscelesConfig
from isosceles.gen.files import check_writable, write_json
from isosceles.gen.report import (
    FILES,
    REPORT_ROOT,
    add_report_arguments,
    report_folder,
    tee_stdout,
    write_report,
)
from isosceles.golden.checks import check_conv_arguments
from isosceles.golden.isos import check_max_pool_input, filter_fibers
from isosceles.golden.reference import effectual_macs
from isosceles.golden.workload_file import load_workload
from isosceles.hw.block import IsosBlock
from isosceles.hw.core import MAX_STRIDE
from isosceles.hw.filter_buffer import storage_words
from isosceles.hw.pe import lane_filter_words

__all__ = ["register", "run_workload", "run_images", "check_fits", "RunMismatch"]


class RunMismatch(AssertionError):
    """The RTL's output differs from the golden model's."""


def isosceles_block(**params):
    """The block of the configuration given as JSON parameters (the build cache key)."""
    from isosceles.tb.cocotb_core import config_of

    return IsosBlock(config_of(params))


def check_fits(workload, config):
    """ValueError naming the layer, the field, its value and the configuration's limit (or the
    layer type), for the first layer the block cannot run."""
    for layer in workload.layers:
        if layer.type == "add":
            _check_add_fits(workload, layer, config)
            continue
        if layer.type == "maxpool":
            check_max_pool_input(layer.input, f"{workload.path}: layer {layer.name!r}")
        try:
            i, f, stride, padding, groups = layer.conv_arguments(config.numerics)
        except ValueError as error:  # an average pool whose division the POU cannot do
            raise ValueError(f"{workload.path}: layer {layer.name!r}: {error}") from None
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
        needed = storage_words(filter_fibers(f, groups), config.macs_per_pe)
        capacity = lane_filter_words(config)
        if needed > capacity:
            raise ValueError(f"{workload.path}: layer {layer.name!r}'s filters need {needed} "
                             f"filter buffer words of {config.macs_per_pe} weights, above the "
                             f"{capacity} that filter_buffer_bytes = {config.filter_buffer_bytes} "
                             "holds (raise filter_buffer_bytes in the configuration)")


def _check_add_fits(workload, layer, config):
    """check_fits of a residual add: its inputs' channels and columns, and two lanes."""
    _, W, C = layer.input.shape
    for field, value, limit, knob in (("input channels C", C, config.max_channels, "max_channels"),
                                      ("input columns W", W, config.max_columns, "max_columns")):
        if value > limit:
            raise ValueError(f"{workload.path}: layer {layer.name!r} has {field} = {value}, "
                             f"above {limit} (raise {knob} in the configuration)")
    if config.lanes < 2:
        raise ValueError(f"{workload.path}: layer {layer.name!r} (add) needs two lanes, one "
                         f"for each input; the configuration has lanes = {config.lanes} (raise "
                         "lanes to 2)")


def _check_layer(layer, run, numerics):
    """Per-layer figures; RunMismatch naming the error code, the first differing coordinate
    or the byte counter that differs from the golden model."""
    if run["error"] != "NONE":
        raise RunMismatch(f"layer {layer.name!r}: the block ended with error {run['error']}")
    got = np.array(run["output"], dtype=np.int64)
    if not np.array_equal(got, layer.output):
        p, q, k = (int(x) for x in np.argwhere(got != layer.output)[0])
        raise RunMismatch(f"layer {layer.name!r}: output [p={p}, q={q}, k={k}] is "
                          f"{got[p, q, k]}, golden {layer.output[p, q, k]}")
    for counter, golden in (("read_bytes", run["band_read"]),
                            ("write_bytes", run["compulsory_written"])):
        if run[counter] != golden:
            raise RunMismatch(f"layer {layer.name!r}: the block counted {run[counter]} "
                              f"{counter}, the golden model {golden}")
    macs = 0 if layer.type == "add" else effectual_macs(*layer.conv_arguments(numerics))
    if run["macs"] != macs:
        raise RunMismatch(f"layer {layer.name!r}: the block counted {run['macs']} MACs, the "
                          f"golden model {macs}")
    tensors = {"input": run["input_bytes"], "input halo": run["band_read"] - run["compulsory_read"],
               "filters": run["filter_bytes"], "POU table": run["pou_bytes"],
               "output": run["compulsory_written"]}
    if sum(tensors.values()) != run["read_bytes"] + run["write_bytes"]:
        raise RunMismatch(f"layer {layer.name!r}: the tensors' bytes {tensors} do not add up to "
                          f"the {run['read_bytes'] + run['write_bytes']} bytes the block moved")
    return {"effectual_macs": macs, "dram_read_bytes": run["read_bytes"],
            "dram_write_bytes": run["write_bytes"],
            "compulsory_bytes": run["compulsory_read"] + run["compulsory_written"],
            "halo_read_bytes": run["band_read"] - run["compulsory_read"],
            "bus_read_bytes": run["bus_read_bytes"], "bus_write_bytes": run["bus_write_bytes"],
            "dram_bytes_by_tensor": tensors,
            "load_cycles": run["load_cycles"], "input_stall_cycles": run["input_stall_cycles"],
            "output_stall_cycles": run["output_stall_cycles"], "row_tables": run["row_tables"]}


def run_workload(path, config=None, *, waves=False, stalls=0.0, seed=None):
    """Run workload file ``path`` on the block of ``config`` (default: the built-in one),
    memory and host in cocotb, with AXI stalls of probability ``stalls``, and return the report
    (see ``isosceles run --help``). RunMismatch on any difference."""
    return run_images(path, None, config, waves=waves, stalls=stalls, seed=seed)[0]


def run_images(path, images, config=None, *, waves=False, stalls=0.0, seed=None, on_image=None):
    """:func:`run_workload` once for each network input of ``images`` (an integer array ``[N, H,
    W, C]``; None: the file's own input), in one simulation: a report per input, each checked as
    the simulation finishes it and then handed to ``on_image(number, report)``."""
    config = IsoscelesConfig() if config is None else config
    inputs = [None] if images is None else list(images)
    workloads = [load_workload(path, numerics=config.numerics, input=x) for x in inputs]
    for workload in workloads:
        check_fits(workload, config)
    from isosceles.tb.harness import run_cocotb

    reports = []

    def check(line):
        reports.append(_input_report(path, workloads[len(reports)], json.loads(line), config))
        if on_image:
            on_image(len(reports), reports[-1])

    with tempfile.TemporaryDirectory() as scratch:
        result = Path(scratch) / "result.jsonl"
        result.touch()
        extra = {"workload": str(Path(path).resolve()), "result": str(result), "stalls": stalls}
        if images is not None:
            extra["inputs"] = str(Path(scratch) / "inputs.npy")
            np.save(extra["inputs"], np.asarray(images))
        with _following(result, check):
            run_dir = run_cocotb(isosceles_block, params=config.as_dict(),
                                 test_module="isosceles.tb.cocotb_run", seed=seed, waves=waves,
                                 extra=extra)
    if len(reports) != len(inputs):
        raise RunMismatch(f"the simulation finished {len(reports)} of {len(inputs)} inputs "
                          f"(log: {run_dir / 'sim.log'})")
    waveform = next(iter(sorted(run_dir.glob("dump.*"))), None)
    for report in reports:
        report.update(log=str(run_dir / "sim.log"), waveform=str(waveform) if waveform else None)
    return reports


@contextlib.contextmanager
def _following(path, on_line, poll_seconds=0.2):
    """Call ``on_line`` with each line appended to ``path`` while the body runs (and with those
    left at its end); the first exception it raises is raised here, after the body."""
    failure, stop = [], threading.Event()

    def follow():
        with open(path) as file:
            pending = ""
            while not failure:
                pending += file.read()
                *lines, pending = pending.split("\n")
                try:
                    for line in lines:
                        on_line(line)
                except Exception as error:  # noqa: BLE001 - raised again in the caller's thread
                    failure.append(error)
                if stop.is_set() and not lines:
                    return
                stop.wait(poll_seconds)

    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    try:
        yield
    finally:
        stop.set()
        follower.join()
    if failure:
        raise failure[0]


def _input_report(path, workload, measured, config):
    """The report of one network input: every layer checked against the golden model."""
    peak = config.lanes * config.macs_per_pe  # one PE per lane in the RTL today
    layers = []
    for layer, run in zip(workload.layers, measured, strict=True):
        figures = _check_layer(layer, run, config.numerics)
        bounds = layer_bounds(layer, config, effectual_macs=figures["effectual_macs"],
                              dram_bytes=figures["dram_read_bytes"] + figures["dram_write_bytes"])
        layers.append({"name": layer.name, "cycles": run["cycles"],
                       "sim_seconds": run["sim_seconds"], **figures,
                       "mac_utilization": figures["effectual_macs"] / (run["cycles"] * peak),
                       "bounds": bounds})
    cycles = sum(layer["cycles"] for layer in layers)
    macs = sum(layer["effectual_macs"] for layer in layers)
    return {
        "workload": str(path), "bit_exact": True, "cycles": cycles, "effectual_macs": macs,
        "macs_per_cycle_peak": peak, "mac_utilization": macs / (cycles * peak),
        **{key: sum(layer[key] for layer in layers)
           for key in ("dram_read_bytes", "dram_write_bytes", "compulsory_bytes",
                       "halo_read_bytes")},
        "layers": layers,
    }


def print_report(report, file=None):
    """The report as a table on ``file`` (standard output by default)."""
    file = file or sys.stdout
    print(f"{report['workload']}: bit-exact against the golden model", file=file)
    print(f"{'layer':<16}{'cycles':>9}{'MACs':>10}{'MAC util':>10}{'DRAM bytes':>12}", file=file)
    for layer in report["layers"]:
        print(f"{layer['name']:<16}{layer['cycles']:>9}{layer['effectual_macs']:>10}"
              f"{layer['mac_utilization']:>10.3f}"
              f"{layer['dram_read_bytes'] + layer['dram_write_bytes']:>12}", file=file)
    print(f"{'total':<16}{report['cycles']:>9}{report['effectual_macs']:>10}"
          f"{report['mac_utilization']:>10.3f}", file=file)
    print(f"peak {report['macs_per_cycle_peak']} MACs a cycle; DRAM bytes read "
          f"{report['dram_read_bytes']}, written {report['dram_write_bytes']}; compulsory "
          f"{report['compulsory_bytes']}, halo rows read again {report['halo_read_bytes']}",
          file=file)
    print(f"log: {report['log']}", file=file)
    if report["waveform"]:
        print(f"waveform: {report['waveform']}", file=file)


def main(args):
    if not 0 <= args.stalls < 1:
        raise ValueError(f"--stalls must be a probability in [0, 1), not {args.stalls}")
    if args.json:
        check_writable(args.json)
    folder = None if args.no_report else args.report or REPORT_ROOT / args.workload.stem
    try:
        with report_folder(folder) as staging:
            with tee_stdout() as log:
                report = run_workload(args.workload, load_config(args), waves=args.waves,
                                      stalls=args.stalls, seed=args.seed)
                print_report(report)
            if staging:
                write_report(staging, report, log.getvalue())
    except RunMismatch as error:
        print(f"isosceles run: MISMATCH: {error}", file=sys.stderr)
        return 1
    if args.json:
        write_json(args.json, report)
    if folder:
        print(f"report: {folder}/ ({', '.join(FILES)})")
    return 0


def register(subparsers):
    parser = subparsers.add_parser(
        "run", help="run a workload file on the block's RTL (Verilator), checked bit for bit",
        description=" ".join(__doc__.split("\n\n")[0].replace("``", "").split()))
    parser.add_argument("workload", type=existing_file,
                        help="a workload TOML file (see workloads/)")
    add_config_argument(parser)
    parser.add_argument("--waves", action="store_true", help="record a waveform (FST or VCD)")
    parser.add_argument("--json", type=Path, help="write the report here as JSON")
    add_report_arguments(parser, REPORT_ROOT / "WORKLOAD")
    parser.add_argument("--stalls", type=float, default=0.0,
                        help="probability of a pause on each AXI and AXI-Lite channel each cycle")
    parser.add_argument("--seed", type=seed_type,
                        help="seed of the stalls (printed when not given)")
    parser.set_defaults(func=main)
