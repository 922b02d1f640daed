"""pytest options of the cocotb benches."""

import os


def pytest_addoption(parser):
    parser.addoption("--waves", action="store_true",
                     help="record FST waveforms of every Verilator run (or set ISOSCELES_WAVES=1)")


def pytest_configure(config):
    if config.getoption("--waves", default=False):
        os.environ["ISOSCELES_WAVES"] = "1"
