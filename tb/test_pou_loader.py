"""The POU loader on Verilator against golden POU tables."""

import pytest

from isosceles.golden.numerics import Numerics
from isosceles.hw.pou_loader import PouLoader
from isosceles.tb.harness import lint, run_cocotb

MODULE = "isosceles.tb.cocotb_pou_loader"


def pou_loader(*, bias_bits, mult_bits, shift_bits, max_channels, addr_width):
    return PouLoader(numerics=Numerics(bias_bits=bias_bits, mult_bits=mult_bits,
                                       shift_bits=shift_bits),
                     max_channels=max_channels, addr_width=addr_width)


# Narrow fields, so that every range check has bits above it to trip.
CONFIG = dict(bias_bits=12, mult_bits=10, shift_bits=4, max_channels=6, addr_width=16)


def test_pou_loader_golden():
    run_cocotb(pou_loader, params=CONFIG, test_module=MODULE,
               testcase="golden_tables_under_stalls")


def test_pou_loader_format_error():
    run_cocotb(pou_loader, params=CONFIG, test_module=MODULE,
               testcase="bad_entries_raise_format_error")


def test_pou_loader_lint():
    lint(pou_loader, params=CONFIG)


@pytest.mark.parametrize("kwargs, match", [
    (dict(max_channels=0), "max_channels must be"),
    (dict(max_channels=4, addr_width=7), "addr_width must be"),
])
def test_pou_loader_parameters_validated(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PouLoader(**kwargs)
