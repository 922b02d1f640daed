"""The R-merger on Verilator against the golden model's T2 fibers."""

import pytest

from isosceles.golden.numerics import Numerics
from isosceles.hw.rmerger import RMerger
from isosceles.tb.harness import lint, run_cocotb

MODULE = "isosceles.tb.cocotb_rmerger"


def r_merger(*, radix, max_columns, acc_bits):
    return RMerger(radix=radix, max_columns=max_columns, numerics=Numerics(acc_bits=acc_bits))


# R 1..7 run on the radix-7 build at runtime; the narrow accumulator sits at the saturation edge.
CONFIGS = [dict(radix=7, max_columns=12, acc_bits=16), dict(radix=3, max_columns=12, acc_bits=15)]


@pytest.mark.parametrize("params", CONFIGS, ids=["radix7-acc16", "radix3-acc15"])
def test_rmerger_golden_fibers(params):
    run_cocotb(r_merger, params=params, test_module=MODULE, testcase="golden_fibers_under_stalls")


@pytest.mark.parametrize("params", CONFIGS[:1], ids=["radix7-acc16"])
def test_rmerger_throughput(params):
    run_cocotb(r_merger, params=params, test_module=MODULE, testcase="bench")


def test_rmerger_lint():
    lint(r_merger, params=CONFIGS[0])


@pytest.mark.parametrize("kwargs, match", [
    (dict(radix=0, max_columns=8), "radix must be an integer from 1 to 15"),
    (dict(radix=3, max_columns=0), "max_columns must be"),
    (dict(radix=3, max_columns=8, numerics=16), "numerics must be a Numerics"),
])
def test_rmerger_parameters_validated(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RMerger(**kwargs)
