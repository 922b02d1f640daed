"""The POU (hw/pou.py) on Verilator against the golden model's O streams and ``requantize``.

Two builds: the paper's widths with a 256-channel table, and a 4-bit datapath (7-bit
accumulator, 8-bit bias, 4-bit multiplier, shifts up to 15, past the 14-bit product) with a
12-channel table, where every edge of the arithmetic is reached. Layers, K, ReLU and the
parameters are runtime configuration, swept inside each simulation.
"""

import pytest

from isosceles.golden.numerics import Numerics
from isosceles.hw.pe import input_layout
from isosceles.hw.pou import Pou
from isosceles.tb.harness import lint, run_cocotb

MODULE = "isosceles.tb.cocotb_pou"


def pou(*, max_channels, max_columns, **bits):
    return Pou(numerics=Numerics(**bits), max_channels=max_channels, max_columns=max_columns)


BUILDS = {
    "paper-k256": dict(act_bits=8, weight_bits=8, acc_bits=16, bias_bits=16, mult_bits=16,
                       shift_bits=5, max_channels=256, max_columns=16),
    "narrow-k12": dict(act_bits=4, weight_bits=4, acc_bits=7, bias_bits=8, mult_bits=4,
                       shift_bits=4, max_channels=12, max_columns=16),
}
EXTRA = {
    "paper-k256": dict(layers=10, rows_per_layer=4),
    "narrow-k12": dict(layers=16, rows_per_layer=5),
}


@pytest.mark.parametrize("build", BUILDS)
def test_pou_matches_golden_streams(build):
    run_cocotb(pou, params=BUILDS[build], test_module=MODULE, testcase="golden_layers",
               extra=EXTRA[build])


@pytest.mark.parametrize("build", BUILDS)
def test_pou_arithmetic_sweep(build):
    run_cocotb(pou, params=BUILDS[build], test_module=MODULE, testcase="arithmetic_sweep")


def test_pou_write_while_output_stalls():
    run_cocotb(pou, params=BUILDS["narrow-k12"], test_module=MODULE,
               testcase="write_while_output_stalls")


def test_pou_throughput():
    run_cocotb(pou, params=BUILDS["paper-k256"], test_module=MODULE, testcase="bench")


@pytest.mark.parametrize("build", BUILDS)
def test_pou_lint(build):
    lint(pou, params=BUILDS[build])


@pytest.mark.parametrize("kwargs, match", [
    (dict(max_channels=0, max_columns=8), "max_channels must be an integer from 1 to 4096"),
    (dict(max_channels=4097, max_columns=8), "max_channels must be an integer from 1 to 4096"),
    (dict(max_channels=True, max_columns=8), "max_channels must be an integer from 1 to 4096"),
    (dict(max_channels=8, max_columns=0), "max_columns must be an integer from 1 to 4096"),
    (dict(max_channels=8, max_columns=8.0), "max_columns must be an integer from 1 to 4096"),
    (dict(max_channels=8, max_columns=8, numerics=8), "numerics must be a Numerics"),
])
def test_pou_parameters_validated(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Pou(**kwargs)


@pytest.mark.parametrize("build", BUILDS)
def test_o_stream_is_next_layer_input(build):
    """O of one layer feeds I of the next without conversion: same fields, widths, offsets."""
    params = dict(BUILDS[build])
    unit = pou(**params)
    unit._MustUse__silence = True  # inspected here, never elaborated
    numerics = Numerics(**{name: value for name, value in params.items()
                           if name.endswith("_bits")})
    next_input = input_layout(numerics=numerics, max_channels=params["max_channels"],
                              max_columns=params["max_columns"])
    renamed = {"q": "w", "k": "c"}
    produced = unit.o.payload.shape()
    assert produced.size == next_input.size
    for name, field in produced:
        other = next_input[renamed.get(name, name)]
        assert (field.offset, field.shape) == (other.offset, other.shape), name
