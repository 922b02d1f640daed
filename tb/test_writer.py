"""The row writer on Verilator, its memory decoded against the golden output."""

import pytest

from isosceles.golden.numerics import Numerics
from isosceles.hw.writer import RowWriter
from isosceles.tb.harness import lint, run_cocotb

MODULE = "isosceles.tb.cocotb_writer"


def row_writer(*, act_bits, max_channels, max_columns, chunk_words, addr_width):
    return RowWriter(numerics=Numerics(act_bits=act_bits, weight_bits=4, acc_bits=32),
                     max_channels=max_channels, max_columns=max_columns,
                     chunk_words=chunk_words, addr_width=addr_width)


# Narrow builds; chunks of 4 words split most rows into several requests.
CONFIG = dict(act_bits=6, max_channels=6, max_columns=9, chunk_words=4, addr_width=16)


def test_writer_golden_rows():
    run_cocotb(row_writer, params=CONFIG, test_module=MODULE,
               testcase="golden_rows_under_backpressure")


def test_writer_throughput():
    run_cocotb(row_writer, params=CONFIG, test_module=MODULE, testcase="bench")


@pytest.mark.parametrize("params", [CONFIG, dict(act_bits=16, max_channels=4096,
                                                   max_columns=65536, chunk_words=256,
                                                   addr_width=40)])
def test_writer_lint(params):
    lint(row_writer, params=params)


@pytest.mark.parametrize("kwargs, match", [
    (dict(max_channels=0, max_columns=8), "max_channels must be"),
    (dict(max_channels=4, max_columns=65537), "max_columns must be"),
    (dict(max_channels=4, max_columns=8, chunk_words=3), "chunk_words must be"),
    (dict(max_channels=4, max_columns=8, addr_width=65), "addr_width must be"),
])
def test_writer_parameters_validated(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RowWriter(**kwargs)
