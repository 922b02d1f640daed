"""The filter loader on Verilator against pack_filter_fibers."""

import pytest

from isosceles.golden.numerics import Numerics
from isosceles.hw.filter_loader import FilterLoader
from isosceles.tb.harness import lint, run_cocotb

MODULE = "isosceles.tb.cocotb_filter_loader"


def filter_loader(*, weight_bits, macs_per_pe, max_kernel, max_channels, words, addr_width):
    return FilterLoader(numerics=Numerics(act_bits=4, weight_bits=weight_bits, acc_bits=32),
                        macs_per_pe=macs_per_pe, max_kernel=max_kernel,
                        max_channels=max_channels, words=words, addr_width=addr_width)


# A narrow build: 5-bit weights, 3 weights a word, a buffer of 48 words.
CONFIG = dict(weight_bits=5, macs_per_pe=3, max_kernel=3, max_channels=6, words=48,
              addr_width=16)


def test_filter_loader_golden():
    run_cocotb(filter_loader, params=CONFIG, test_module=MODULE,
               testcase="golden_filters_under_stalls")


def test_filter_loader_fills_a_power_of_two_buffer():
    """Fibers that end at the last word of a buffer of 16 words: a pointer's ``last`` is then
    16, which its field must hold (it wrapped to 0 when sized for 0 .. 15)."""
    run_cocotb(filter_loader, params=dict(CONFIG, words=16), test_module=MODULE,
               testcase="golden_filters_under_stalls", extra={"filters": 4})


def test_filter_loader_errors():
    run_cocotb(filter_loader, params=CONFIG, test_module=MODULE, testcase="errors_end_the_load")


def test_filter_loader_throughput():
    run_cocotb(filter_loader, params=CONFIG, test_module=MODULE, testcase="bench")


@pytest.mark.parametrize("params", [CONFIG, dict(weight_bits=16, macs_per_pe=1, max_kernel=15,
                                                   max_channels=4096, words=1 << 12,
                                                   addr_width=40)])
def test_filter_loader_lint(params):
    lint(filter_loader, params=params)


@pytest.mark.parametrize("kwargs, match", [
    (dict(macs_per_pe=0, max_kernel=3, max_channels=4, words=8), "macs_per_pe must be"),
    (dict(macs_per_pe=2, max_kernel=16, max_channels=4, words=8), "max_kernel must be"),
    (dict(macs_per_pe=2, max_kernel=3, max_channels=4, words=0), "words must be"),
])
def test_filter_loader_parameters_validated(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FilterLoader(**kwargs)
