"""The configuration object and the integer semantics reject bad values with named messages."""

import pytest

from isosceles.gen.config import IsoscelesConfig, bits_for
from isosceles.golden.numerics import Numerics, requantize, saturate


def test_defaults_and_paper_are_valid():
    small, paper = IsoscelesConfig(), IsoscelesConfig.paper()
    assert small.macs_per_lane == 8
    assert paper.lanes * paper.macs_per_lane == 4096
    assert paper.filter_buffer_bytes == 1 << 20


@pytest.mark.parametrize(
    "field, value",
    [("lanes", 0), ("macs_per_pe", 65), ("max_kernel", 0), ("kmerger_radix", 1),
     ("kmerger_radix", 257), ("layers_in_flight", 17), ("lanes", 2.0), ("lanes", True)],
)
def test_bad_field_is_named(field, value):
    with pytest.raises(ValueError, match=rf"^{field} must be an integer"):
        IsoscelesConfig(**{field: value})


def test_replace_validates():
    with pytest.raises(ValueError, match="context_bytes"):
        IsoscelesConfig().replace(context_bytes=0)


def test_numerics_bounds_are_named():
    with pytest.raises(ValueError, match="acc_bits must be an integer from 15 to 32"):
        Numerics(acc_bits=14)


@pytest.mark.parametrize("count, bits", [(1, 1), (2, 1), (3, 2), (64, 6), (65, 7), (256, 8)])
def test_bits_for(count, bits):
    assert bits_for(count) == bits


def test_saturate_scalar_and_array():
    assert saturate(40000, 16) == 32767 and saturate(-40000, 16) == -32768
    assert list(saturate(__import__("numpy").array([-200, 5, 200]), 8)) == [-128, 5, 127]


@pytest.mark.parametrize(
    "x, bias, mult, shift, relu, expected",
    [
        (3, 0, 1, 1, False, 2),        # 1.5 rounds half up to 2
        (-3, 0, 1, 1, False, -1),      # -1.5 rounds half up to -1
        (5, 0, 3, 0, False, 15),       # no rounding term at shift 0
        (1000, 0, 1, 0, False, 127),   # saturates to act_bits
        (-1000, 0, 1, 0, True, 0),     # saturates, then ReLU
        (0, 100, 1, 2, False, 25),     # bias alone gives a nonzero output
    ],
)
def test_requantize_rules(x, bias, mult, shift, relu, expected):
    assert int(requantize(x, bias, mult, shift, relu=relu)) == expected
