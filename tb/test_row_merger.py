"""The row merger on Verilator against the golden model's K-merger output."""

import pytest

from isosceles.golden.numerics import Numerics
from isosceles.hw.row_merger import RowMerger
from isosceles.tb.harness import lint, run_cocotb

MODULE = "isosceles.tb.cocotb_row_merger"


def row_merger(*, radix, max_channels, max_columns, acc_bits):
    return RowMerger(radix=radix, max_channels=max_channels, max_columns=max_columns,
                     numerics=Numerics(acc_bits=acc_bits))


# R up to 7 at runtime on the radix-7 build; the narrow accumulator sits at the saturation edge.
CONFIGS = [dict(radix=7, max_channels=16, max_columns=12, acc_bits=16),
           dict(radix=3, max_channels=5, max_columns=9, acc_bits=15)]
IDS = ["radix7-acc16", "radix3-acc15"]


@pytest.mark.parametrize("params", CONFIGS, ids=IDS)
def test_row_merger_golden_rows(params):
    run_cocotb(row_merger, params=params, test_module=MODULE, testcase="golden_rows_under_stalls")


def test_row_merger_order_error():
    run_cocotb(row_merger, params=CONFIGS[1], test_module=MODULE,
               testcase="marker_disagreement_raises_order_error")


def test_row_merger_throughput():
    run_cocotb(row_merger, params=CONFIGS[0], test_module=MODULE, testcase="bench")


def test_row_merger_lint():
    lint(row_merger, params=CONFIGS[0])


@pytest.mark.parametrize("kwargs, match", [
    (dict(radix=0, max_channels=4, max_columns=8), "radix must be an integer from 1 to 15"),
    (dict(radix=3, max_channels=0, max_columns=8), "max_channels must be"),
    (dict(radix=3, max_channels=4, max_columns=0), "max_columns must be"),
    (dict(radix=3, max_channels=4, max_columns=8, numerics=16), "numerics must be a Numerics"),
])
def test_row_merger_parameters_validated(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RowMerger(**kwargs)
