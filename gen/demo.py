"""``isosceles demo``: a sparse layer through the IS-OS golden model, checked and accounted, then
the pruned digits CNN (``docs/digits.md``) on the IS-OS block's RTL in Verilator for a batch of
test images, layer by layer from memory through its registers, every output byte checked against
the golden model, with its accuracy, cycles, MAC utilisation and DRAM bytes per image.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from isosceles.gen.cli import add_config_argument, load_config, seed_type
from isosceles.gen.files import check_writable, write_json
from isosceles.gen.report import (
    FILES,
    REPORT_ROOT,
    add_report_arguments,
    report_folder,
    tee_stdout,
    write_report,
)
from isosceles.golden.digits import DIGITS_WORKLOAD, classify, load_network, load_test_split
from isosceles.golden.isos import isos_streams
from isosceles.golden.pou import PouParams, pou_dense
from isosceles.golden.reference import dense_conv2d
from isosceles.golden.workload_file import load_workload

# Test images the demo runs on the RTL by default (about ten seconds of simulation each).
DEMO_IMAGES = 8

__all__ = ["DemoLayer", "demo_layer", "interface_traffic", "batch_report", "register"]


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
    available = len(load_test_split()[1])
    if not 1 <= args.images <= available:
        raise ValueError(f"--images must be from 1 to {available} (the test split's images), "
                         f"not {args.images}")
    config = load_config(args)
    if not args.no_rtl:
        from isosceles.gen.run import check_fits

        check_fits(load_workload(DIGITS_WORKLOAD, config.numerics), config)
    if args.json:
        if args.no_rtl:
            raise ValueError("--json writes the RTL run's figures; drop --no-rtl or --json")
        check_writable(args.json)
    folder = None if args.no_report or args.no_rtl else args.report or REPORT_ROOT / "demo"
    with report_folder(folder) as staging:
        with tee_stdout() as log:
            status, report = _demo(args, config)
        if staging and report:
            write_report(staging, report, log.getvalue())
    if args.json and report:
        write_json(args.json, report)
    if folder and report:
        print(f"report: {folder}/ ({', '.join(FILES)})")
    return status


def _demo(args, config):
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
    return _digits_on_rtl(args, config)


def _digits_on_rtl(args, config):
    """The digits CNN on the block's RTL for ``args.images`` test images: exit status and the
    batch report (None after a mismatch)."""
    from isosceles.gen.run import RunMismatch, run_images

    all_images, all_labels = load_test_split()
    images, labels = all_images[:args.images], all_labels[:args.images]
    network = load_network()
    # The RTL's predictions: an image is reported only once every layer's output, the logits
    # included, has been checked equal to the golden model's.
    predictions = classify(network, images)[1]
    print(f"\n== the pruned digits CNN (docs/digits.md) on the IS-OS block's RTL in Verilator, "
          f"layer by layer from memory, {len(images)} test images (the first build takes several "
          "minutes)")

    def progress(number, report):
        print(f"image {number}/{len(images)}: label {labels[number - 1]}, predicted "
              f"{predictions[number - 1]}, {report['cycles']} cycles, "
              f"{report['dram_read_bytes'] + report['dram_write_bytes']} DRAM bytes, "
              "bit-exact at every layer", flush=True)

    try:
        reports = run_images(DIGITS_WORKLOAD, images, config, seed=args.seed,
                             on_image=progress)
    except RunMismatch as error:
        print(f"MISMATCH: {error}")
        return 1, None
    report = batch_report(reports, labels, predictions)
    report["test_split_accuracy"] = float(np.mean(classify(network, all_images)[1] == all_labels))
    _print_batch(report)
    return 0, report


def batch_report(reports, labels, predictions):
    """One report of a batch of per-image run reports (``isosceles.gen.run.run_images``): every
    per-layer figure the mean per image, with the batch's accuracy; it has the fields of a run
    report that ``write_report`` plots."""
    n = len(reports)

    def mean(values):
        return sum(values) / n

    layers = []
    for per_image in zip(*(report["layers"] for report in reports), strict=True):
        first = per_image[0]
        layer = {key: mean([layer[key] for layer in per_image])
                 for key, value in first.items() if isinstance(value, (int, float))}
        for group in ("bounds", "dram_bytes_by_tensor"):
            layer[group] = {key: mean([layer[group][key] for layer in per_image])
                            for key in first[group]}
        layer["name"] = first["name"]
        layer["mac_utilization"] = layer["effectual_macs"] / (layer["cycles"]
                                                              * reports[0]["macs_per_cycle_peak"])
        layers.append(layer)
    cycles = mean([report["cycles"] for report in reports])
    macs = mean([report["effectual_macs"] for report in reports])
    return {
        "workload": reports[0]["workload"], "mode": "layer-by-layer", "images": n,
        "accuracy": float(np.mean(np.asarray(predictions) == np.asarray(labels))),
        "bit_exact": all(report["bit_exact"] for report in reports),
        "cycles_per_image": cycles,
        "dram_bytes_per_image": mean([report["dram_read_bytes"] + report["dram_write_bytes"]
                                      for report in reports]),
        "compulsory_bytes_per_image": mean([report["compulsory_bytes"] for report in reports]),
        "effectual_macs_per_image": macs, "cycles": cycles, "effectual_macs": macs,
        "macs_per_cycle_peak": reports[0]["macs_per_cycle_peak"],
        "mac_utilization": macs / (cycles * reports[0]["macs_per_cycle_peak"]),
        "per_image": [{"label": int(label), "prediction": int(prediction),
                       "cycles": report["cycles"],
                       "dram_bytes": report["dram_read_bytes"] + report["dram_write_bytes"],
                       "row_tables": {layer["name"]: layer["row_tables"]
                                      for layer in report["layers"]}}
                      for report, label, prediction in zip(reports, labels, predictions,
                                                           strict=True)],
        "layers": layers, "log": reports[0]["log"], "waveform": reports[0]["waveform"],
    }


def _print_batch(report):
    n = report["images"]
    print(f"\n{Path(report['workload']).name} on the RTL: {n} images, bit-exact against the "
          "golden model at every layer's output")
    print(f"accuracy {round(report['accuracy'] * n)}/{n} ({report['accuracy']:.1%}); the golden "
          f"model on the whole test split: {report['test_split_accuracy']:.2%}")
    print(f"per image (means): {report['cycles_per_image']:.0f} cycles, MAC utilisation "
          f"{report['mac_utilization']:.3f} of {report['macs_per_cycle_peak']} MACs a cycle, "
          f"{report['dram_bytes_per_image']:.0f} DRAM bytes (compulsory "
          f"{report['compulsory_bytes_per_image']:.0f})")
    print(f"{'layer':<12}{'cycles':>9}{'MACs':>9}{'MAC util':>10}{'DRAM bytes':>12}")
    for layer in report["layers"]:
        print(f"{layer['name']:<12}{layer['cycles']:>9.0f}{layer['effectual_macs']:>9.0f}"
              f"{layer['mac_utilization']:>10.3f}"
              f"{layer['dram_read_bytes'] + layer['dram_write_bytes']:>12.0f}")
    print("mode: layer by layer (every activation goes through memory); inter-layer pipelining "
          "on the RTL is not built yet (issue 13)")
    print(f"log: {report['log']}")
    if report["waveform"]:
        print(f"waveform: {report['waveform']}")


def register(subparsers):
    parser = subparsers.add_parser(
        "demo", help="check the golden model on a built-in sparse layer, then run the pruned "
                     "digits CNN on the block's RTL for a batch of test images")
    add_config_argument(parser)
    parser.add_argument("--seed", type=seed_type, default=0,
                        help="seed of the built-in layer and of the simulation")
    parser.add_argument("--images", type=int, default=DEMO_IMAGES,
                        help=f"test images to run on the RTL (default {DEMO_IMAGES})")
    parser.add_argument("--json", type=Path, help="write the batch's figures here as JSON")
    parser.add_argument("--no-rtl", action="store_true",
                        help="the golden model only; skip the RTL run of the digits CNN (and "
                             "write no report)")
    add_report_arguments(parser, REPORT_ROOT / "demo")
    parser.set_defaults(func=run_demo)
