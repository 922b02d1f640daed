"""The merge adder on Verilator against ``golden.layers.residual_add_streams``."""

import pytest

from isosceles.golden.numerics import Numerics
from isosceles.hw.merge_adder import MergeAdder
from isosceles.tb.harness import lint, run_cocotb

MODULE = "isosceles.tb.cocotb_merge_adder"


def merge_adder(*, act_bits, max_channels, max_columns):
    return MergeAdder(numerics=Numerics(act_bits=act_bits), max_channels=max_channels,
                      max_columns=max_columns)


# The default widths, and a narrow one where most sums saturate.
CONFIGS = [dict(act_bits=8, max_channels=16, max_columns=12),
           dict(act_bits=3, max_channels=5, max_columns=7)]
IDS = ["act8", "act3"]


@pytest.mark.parametrize("params", CONFIGS, ids=IDS)
def test_merge_adder_golden_rows(params):
    run_cocotb(merge_adder, params=params, test_module=MODULE,
               testcase="golden_rows_under_stalls")


def test_merge_adder_throughput():
    run_cocotb(merge_adder, params=CONFIGS[0], test_module=MODULE, testcase="bench")


def test_merge_adder_lint():
    lint(merge_adder, params=CONFIGS[0])


@pytest.mark.parametrize("kwargs, match", [
    (dict(max_channels=0, max_columns=8), "max_channels must be"),
    (dict(max_channels=4, max_columns=0), "max_columns must be"),
    (dict(max_channels=4, max_columns=8, numerics=16), "numerics must be a Numerics"),
])
def test_merge_adder_parameters_validated(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MergeAdder(**kwargs)
