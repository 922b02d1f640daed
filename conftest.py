"""pytest options of the cocotb benches, and what they recorded, in the terminal summary.

At the root of the repository, so that ``--waves`` works for any test path (``tb/``, ``tests/``).
"""

import os

import pytest


def pytest_addoption(parser):
    parser.addoption("--waves", action="store_true",
                     help="record waveforms of every Verilator run, FST or VCD (or set "
                          "ISOSCELES_WAVES=1); their paths are listed at the end")


def pytest_configure(config):
    if config.getoption("--waves", default=False):
        os.environ["ISOSCELES_WAVES"] = "1"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    # The harness lists the waveforms it recorded in this process (an xdist worker's own list);
    # the report carries them to the process that prints the summary.
    report = yield
    from isosceles.tb.harness import recorded_waveforms

    # A new list: the report's is the item's own, which the next phase's report starts from.
    report.user_properties = [*report.user_properties,
                              *(("waveform", path) for path in recorded_waveforms)]
    recorded_waveforms.clear()
    return report


def pytest_terminal_summary(terminalreporter):
    waveforms = [(report.nodeid, value)
                 for reports in terminalreporter.stats.values() for report in reports
                 if hasattr(report, "user_properties")
                 for name, value in report.user_properties if name == "waveform"]
    if waveforms:
        terminalreporter.section("waveforms")
        for nodeid, path in waveforms:
            terminalreporter.write_line(f"{nodeid}: {path}")
