"""The row fetcher on Verilator against the golden lane stream I."""

import pytest

from isosceles.golden.numerics import Numerics
from isosceles.hw.fetch import RowFetcher
from isosceles.tb.harness import lint, run_cocotb

MODULE = "isosceles.tb.cocotb_fetch"


def row_fetcher(*, act_bits, max_channels, max_columns, addr_width):
    return RowFetcher(numerics=Numerics(act_bits=act_bits, acc_bits=32), max_channels=max_channels,
                      max_columns=max_columns, addr_width=addr_width)


# Narrow builds: a 6-bit activation (the value range check), few channels and columns.
CONFIG = dict(act_bits=6, max_channels=5, max_columns=9, addr_width=16)


def test_fetch_golden_rows():
    run_cocotb(row_fetcher, params=CONFIG, test_module=MODULE,
               testcase="golden_rows_under_stalls")


def test_fetch_format_error():
    run_cocotb(row_fetcher, params=CONFIG, test_module=MODULE,
               testcase="corrupt_words_raise_format_error")


def test_fetch_throughput():
    run_cocotb(row_fetcher, params=CONFIG, test_module=MODULE, testcase="bench")


@pytest.mark.parametrize("params", [CONFIG, dict(act_bits=16, max_channels=4096,
                                                   max_columns=65536, addr_width=40)])
def test_fetch_lint(params):
    lint(row_fetcher, params=params)


@pytest.mark.parametrize("kwargs, match", [
    (dict(max_channels=0, max_columns=8), "max_channels must be"),
    (dict(max_channels=4, max_columns=65537), "max_columns must be"),
    (dict(max_channels=4, max_columns=8, addr_width=4), "addr_width must be"),
])
def test_fetch_parameters_validated(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RowFetcher(**kwargs)
