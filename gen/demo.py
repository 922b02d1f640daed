"""``isosceles demo``: a sparse layer through the IS-OS golden model, checked and accounted, then
a shipped workload on the IS-OS block's RTL in Verilator, run from memory through its registers and
checked bit for bit.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from isosceles.gen.cli import seed_type
from isosceles.gen.report import (
    FILES,
    REPORT_ROOT,
    add_report_arguments,
    report_folder,
    tee_stdout,
    write_report,
)
from isosceles.golden.isos import isos_streams
from isosceles.golden.pou import PouParams, pou_dense
from isosceles.golden.reference import dense_conv2d

# The shipped workload the demo runs on the RTL (the repository's workloads/ folder).
DEMO_WORKLOAD = Path(__file__).resolve().parents[1] / "workloads" / "resnet_3x3.toml"

__all__ = ["DemoLayer", "demo_layer", "interface_traffic", "register"]


@dataclass(frozen=True)
class DemoLayer:
    """A seeded sparse 3x3 convolution with its POU parameters."""

    i: np.ndarray
    f: np.ndarray
    pou: PouParams
    stride: int = 1
    padding: int = 1


def demo_layer(seed=0, *, size=16, channels=16, kernels=16, act_density=0.5, weight_density=0.3):
    """The built-in layer: ``size`` x ``size`` x ``channels`` input, 3x3 filters to ``kernels``."""
    rng = np.random.default_rng(seed)
    # Small post-ReLU activations and weights keep every partial sum inside the 16-bit
    # accumulator, so the exact dense reference applies.
    i = rng.integers(1, 16, (size, size, channels)) * (rng.random((size, size, channels))
                                                         < act_density)
    f = rng.integers(-32, 33, (channels, 3, kernels, 3)) * (
        rng.random((channels, 3, kernels, 3)) < weight_density)
    pou = PouParams.make(bias=rng.integers(-2000, 2000, kernels),
                         mult=rng.integers(1, 1 << 8, kernels),
                         shift=rng.integers(8, 12, kernels), relu=True)
    return DemoLayer(i, f, pou)


def _data(stream):
    return sum(1 for token in stream if not token["marker"])


def _markers(stream):
    return sum(1 for token in stream if token["marker"])


def interface_traffic(streams):
    """Rows of (interface, data tokens, marker tokens) for every interface of one layer."""
    fibers = lambda group: sum(len(fiber) for fiber in group)  # noqa: E731
    return [
        ("I   input lanes", sum(map(_data, streams.inputs)), sum(map(_markers, streams.inputs))),
        ("F   filter fibers", fibers(streams.filter_fibers), 0),
        ("T1  PE outputs", sum(map(_data, streams.t1)), sum(map(_markers, streams.t1))),
        ("    watermarks", 0, fibers(streams.watermarks)),
        ("T2  R-merger outputs", fibers(streams.t2_fibers.values()), 0),
        ("    K-merger outputs", sum(map(_data, streams.kmerger_out)),
         sum(map(_markers, streams.kmerger_out))),
        ("O   POU outputs", sum(map(_data, streams.outputs)), sum(map(_markers, streams.outputs))),
    ]


def run_demo(args):
    folder = None if args.no_report or args.no_rtl else args.report or REPORT_ROOT / "demo"
    with report_folder(folder) as staging:
        with tee_stdout() as log:
            status, report = _demo(args)
        if staging and report:
            write_report(staging, report, log.getvalue())
    if folder and report:
        print(f"report: {folder}/ ({', '.join(FILES)})")
    return status


def _demo(args):
    """The demo's checks and printout: its exit status and the RTL run's report (None without
    a run, or after a mismatch)."""
    layer = demo_layer(args.seed)
    g_in, g_f = layer.i, layer.f
    print(f"isosceles demo: {g_in.shape[0]}x{g_in.shape[1]}x{g_in.shape[2]} input "
          f"({np.count_nonzero(g_in) / g_in.size:.0%} dense), 3x3 filters to {g_f.shape[2]} "
          f"channels ({np.count_nonzero(g_f) / g_f.size:.0%} dense), padding 1, seed {args.seed}")
    streams = isos_streams(g_in, g_f, stride=layer.stride, padding=layer.padding, pou=layer.pou)
    reference = dense_conv2d(g_in, g_f, stride=layer.stride, padding=layer.padding)
    if not np.array_equal(streams.accumulations, reference):
        bad = np.argwhere(streams.accumulations != reference)
        print(f"MISMATCH: IS-OS model differs from the dense reference at {len(bad)} outputs, "
              f"first at [p,q,k]={bad[0].tolist()}")
        return 1, None
    expected_o = pou_dense(reference, layer.pou)
    got_o = np.zeros_like(expected_o)
    for p, stream in enumerate(streams.outputs):
        for token in stream:
            if not token["marker"]:
                got_o[p, token["q"], token["k"]] = token["value"]
    if not np.array_equal(got_o, expected_o):
        print("MISMATCH: the O streams differ from the POU applied to the dense reference")
        return 1, None
    print("IS-OS golden model == dense reference (accumulations and POU outputs): OK\n")
    print(f"{'interface':<24}{'data tokens':>12}{'markers':>10}")
    for name, data, markers in interface_traffic(streams):
        print(f"{name:<24}{data:>12}{markers:>10}")
    peaks = streams.peak_partial_sums
    print(f"\npeak live partial sums per lane: max {max(peaks)}, mean {np.mean(peaks):.1f} "
          f"(of R*K*S = {3 * g_f.shape[2] * 3})")
    if args.no_rtl:
        return 0, None
    from isosceles.gen.run import RunMismatch, print_report, run_workload

    print("\n== the IS-OS block's RTL in Verilator, memory and host in cocotb (the first build "
          "takes several minutes)")
    try:
        report = run_workload(DEMO_WORKLOAD, seed=args.seed)
    except RunMismatch as error:
        print(f"MISMATCH: {error}")
        return 1, None
    print_report(report)
    return 0, report


def register(subparsers):
    parser = subparsers.add_parser(
        "demo", help="check the golden model on a built-in sparse layer, then run a shipped "
                     "layer on the block's RTL")
    parser.add_argument("--seed", type=seed_type, default=0, help="seed of the built-in layer")
    parser.add_argument("--no-rtl", action="store_true",
                        help="the golden model only; skip the RTL run of "
                             "workloads/resnet_3x3.toml (and write no report)")
    add_report_arguments(parser, REPORT_ROOT / "demo")
    parser.set_defaults(func=run_demo)
