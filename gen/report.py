"""The report folder of ``isosceles run`` and ``isosceles demo``: the run's JSON, its log, and PNG
plots of its figures.

The folder is built in a staging folder beside it and moved into place whole at the end
(:func:`isosceles.gen.files.output_folder`), so a failed run leaves no half-written report. The
plots are drawn with matplotlib's Agg canvas (no display, no global backend).
"""

import io
import shutil
import sys
from contextlib import contextmanager
from pathlib import Path

from isosceles.gen.files import output_folder, write_json

__all__ = ["REPORT_ROOT", "FILES", "add_report_arguments", "report_folder", "write_report",
           "plot_cycles", "plot_mac_utilization", "plot_dram_bytes", "tee_stdout"]

# Where report folders go by default, relative to the current folder.
REPORT_ROOT = Path("reports")
# What a report folder holds, by file name.
FILES = {
    "report.json": "the figures, as isosceles run --json writes them",
    "run.log": "what the command printed",
    "sim.log": "the simulation's log (cocotb and Verilator)",
    "cycles.png": "per layer, the cycles against each stage's lower bound",
    "mac_utilization.png": "per layer, the effectual MACs over the peak",
    "dram_bytes.png": "per layer, the DRAM bytes by tensor",
}
# Colours of the bounds and tensors, the same in every report (matplotlib's tab10 palette).
_COLOURS = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown"]


def add_report_arguments(parser, default):
    parser.add_argument("--report", type=Path, metavar="DIR",
                        help=f"write the report folder here (default: {default}): "
                             f"{', '.join(FILES)}")
    parser.add_argument("--no-report", action="store_true", help="write no report folder")


def _figure(width=8.0, height=4.5):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _grouped_bars(axes, names, series, colours):
    """Bars of every series of ``{label: values}`` side by side for each name."""
    width = 0.8 / len(series)
    for index, (label, values) in enumerate(series.items()):
        offsets = [x + (index - (len(series) - 1) / 2) * width for x in range(len(names))]
        axes.bar(offsets, values, width, label=label, color=colours[index % len(colours)])
    axes.set_xticks(range(len(names)), names, rotation=30 if len(names) > 4 else 0, ha="right"
                    if len(names) > 4 else "center")


def _legend(axes):
    axes.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))


def plot_cycles(report, path):
    """Per layer: its cycles (black) beside each stage's lower bound
    (:mod:`isosceles.gen.bounds`)."""
    layers = report["layers"]
    names = [layer["name"] for layer in layers]
    stages = list(layers[0]["bounds"])
    figure = _figure()
    axes = figure.add_subplot()
    _grouped_bars(axes, names, {"measured": [layer["cycles"] for layer in layers],
                                **{f"bound: {stage}": [layer["bounds"][stage] for layer in layers]
                                   for stage in stages}},
                  ["black", *_COLOURS])
    axes.set_ylabel("cycles")
    axes.set_title(f"{Path(report['workload']).name}: cycles against each stage's lower bound")
    _legend(axes)
    figure.savefig(path)


def plot_mac_utilization(report, path):
    """Per layer: effectual MACs / (cycles x peak MACs a cycle), with the whole run's as a line."""
    layers = report["layers"]
    figure = _figure()
    axes = figure.add_subplot()
    _grouped_bars(axes, [layer["name"] for layer in layers],
                  {"layer": [100 * layer["mac_utilization"] for layer in layers]}, _COLOURS)
    axes.axhline(100 * report["mac_utilization"], color="black", linestyle="--",
                 label=f"whole run: {report['mac_utilization']:.1%}")
    axes.set_ylim(0, 100)
    axes.set_ylabel(f"MAC utilisation, % of {report['macs_per_cycle_peak']} MACs a cycle")
    axes.set_title(f"{Path(report['workload']).name}: MAC utilisation")
    _legend(axes)
    figure.savefig(path)


def plot_dram_bytes(report, path):
    """Per layer: the DRAM bytes it moved, stacked by tensor (their sum is the block's count)."""
    layers = report["layers"]
    names = [layer["name"] for layer in layers]
    tensors = list(layers[0]["dram_bytes_by_tensor"])
    figure = _figure()
    axes = figure.add_subplot()
    bottom = [0] * len(layers)
    for index, tensor in enumerate(tensors):
        values = [layer["dram_bytes_by_tensor"][tensor] for layer in layers]
        axes.bar(range(len(layers)), values, 0.6, bottom=bottom, label=tensor,
                 color=_COLOURS[index % len(_COLOURS)])
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    axes.set_xticks(range(len(names)), names, rotation=30 if len(names) > 4 else 0,
                    ha="right" if len(names) > 4 else "center")
    axes.set_ylabel("bytes (read and written)")
    axes.set_title(f"{Path(report['workload']).name}: DRAM bytes by tensor")
    _legend(axes)
    figure.savefig(path)


def write_report(folder, report, log_text):
    """Write every file of :data:`FILES` into ``folder`` (which exists) for run report
    ``report`` and the printed ``log_text``."""
    folder = Path(folder)
    write_json(folder / "report.json", report)
    (folder / "run.log").write_text(log_text)
    shutil.copyfile(report["log"], folder / "sim.log")
    plot_cycles(report, folder / "cycles.png")
    plot_mac_utilization(report, folder / "mac_utilization.png")
    plot_dram_bytes(report, folder / "dram_bytes.png")


@contextmanager
def report_folder(folder):
    """Check now that ``folder`` (or nothing, for None) can be written; yield a staging folder to
    fill, moved onto ``folder`` when the block ends without an exception having written into it,
    and removed otherwise (a run that failed leaves no report)."""
    if folder is None:
        yield None
        return
    with output_folder(folder, "--report") as staging:
        yield staging


class _Tee(io.TextIOBase):
    def __init__(self, *streams):
        self.streams = streams

    def write(self, text):
        for stream in self.streams:
            stream.write(text)
        return len(text)

    def flush(self):
        for stream in self.streams:
            stream.flush()


@contextmanager
def tee_stdout():
    """Copy what is printed on standard output into a StringIO, which is yielded."""
    log, stdout = io.StringIO(), sys.stdout
    sys.stdout = _Tee(stdout, log)
    try:
        yield log
    finally:
        sys.stdout = stdout
