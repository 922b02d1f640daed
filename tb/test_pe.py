"""The frontend lane (hw/pe.py) on Verilator against the golden model's T1 lane streams.

Three builds cover macs_per_pe 1, 4 and 8; R, S (1, 3, 5, 7), stride, padding, groups and
densities are runtime configuration, swept inside each simulation. Each build has its own
accumulator: 16 bits, 15 bits (= act_bits + weight_bits - 1, the narrowest Numerics allows) and a
4/4/7-bit datapath, all driven into saturation by some layers.
"""

import pytest

from isosceles.gen.config import IsoscelesConfig
from isosceles.golden.numerics import Numerics
from isosceles.hw.context_array import ContextArray
from isosceles.hw.filter_buffer import FilterBuffer, fiber_span, pack_filter_fibers
from isosceles.hw.pe import FrontendLane
from isosceles.tb.harness import lint, run_cocotb

MODULE = "isosceles.tb.cocotb_pe"


def frontend_lane(*, act_bits, weight_bits, acc_bits, **params):
    numerics = Numerics(act_bits=act_bits, weight_bits=weight_bits, acc_bits=acc_bits)
    return FrontendLane(numerics=numerics, **params)


# R, S up to 7 at runtime; K, C up to 16 (8 banks of 2 rows per r) or 8 (smaller builds).
SIZES = dict(max_kernel=7, max_columns=16, filter_words=512)
BUILDS = {
    "macs8-acc16": dict(macs_per_pe=8, act_bits=8, weight_bits=8, acc_bits=16, max_channels=16,
                        **SIZES),
    "macs4-acc15": dict(macs_per_pe=4, act_bits=8, weight_bits=8, acc_bits=15, max_channels=8,
                        **SIZES),
    "macs1-acc7": dict(macs_per_pe=1, act_bits=4, weight_bits=4, acc_bits=7, max_channels=8,
                       **SIZES),
}
# Work per simulation: a few layers, several rows each; M=1 walks each weight in its own cycle.
EXTRA = {
    "macs8-acc16": dict(layers=8, rows_per_layer=5),
    "macs4-acc15": dict(layers=6, rows_per_layer=4),
    "macs1-acc7": dict(layers=5, rows_per_layer=3, max_weights=200),
}


@pytest.mark.parametrize("build", BUILDS)
def test_lane_matches_golden_t1(build):
    run_cocotb(frontend_lane, params=BUILDS[build], test_module=MODULE, testcase="golden_lanes",
               extra=EXTRA[build])


def test_lane_flags_out_of_order_columns():
    run_cocotb(frontend_lane, params=BUILDS["macs8-acc16"], test_module=MODULE,
               testcase="order_error")


def test_lane_bench():
    run_cocotb(frontend_lane, params=BUILDS["macs8-acc16"], test_module=MODULE, testcase="bench")


@pytest.mark.parametrize("build", ["macs8-acc16", "macs1-acc7"])
def test_lane_lint(build):
    lint(frontend_lane, params=BUILDS[build])


@pytest.mark.parametrize("kwargs, match", [
    (dict(macs_per_pe=0), "macs_per_pe must be an integer from 1 to 64"),
    (dict(macs_per_pe=65), "macs_per_pe must be an integer from 1 to 64"),
    (dict(max_kernel=16), "max_kernel must be an integer from 1 to 15"),
    (dict(max_channels=0), "max_channels must be an integer from 1 to 4096"),
    (dict(max_columns=True), "max_columns must be an integer from 1 to 4096"),
    (dict(max_rows=5000), "max_rows must be an integer from 1 to 4096"),
    (dict(filter_words=0), "filter_words must be an integer from 1 to"),
    (dict(window=4), "window must be an integer from 8 to 64"),
    (dict(window=12), "window must be a power of two from 8 to 64"),
    (dict(banks=3), "banks must be a power of two from 1 to 64"),
    (dict(numerics=16), "numerics must be a Numerics"),
])
def test_lane_parameters_validated(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FrontendLane(**dict(dict(max_kernel=7), **kwargs))


def test_lane_from_config():
    config = IsoscelesConfig(max_kernel=7)
    lane = FrontendLane.from_config(config, max_channels=16)
    assert lane.parameters["macs_per_pe"] == config.macs_per_pe
    assert lane.parameters["banks"] == 16 and lane.parameters["window"] == 8
    assert lane.filter_buffer.nbytes <= config.filter_buffer_bytes
    with pytest.raises(ValueError, match="context_bytes=8192"):
        FrontendLane.from_config(config, max_channels=128)


def test_filter_buffer_parameters_validated():
    with pytest.raises(ValueError, match="words must be an integer from 1 to"):
        FilterBuffer(macs_per_pe=4, max_kernel=3, max_channels=4, words=0)


def test_context_array_size():
    array = ContextArray(numerics=Numerics(), max_kernel=3, max_channels=10, window=4, banks=4)
    assert array.rows_per_r == 3 and array.depth == 9
    assert array.nbytes == 4 * 9 * 4 * 2


def weight(r, k, s, value):
    return {"r": r, "k": k, "s": s, "value": value}


EMPTY = weight(0, 0, 0, 0)


def test_fibers_packed_in_order():
    fibers = [[weight(0, k, 0, k + 1) for k in range(5)], [], [weight(1, 2, 1, -3)]]
    image = pack_filter_fibers(fibers, macs_per_pe=4, max_kernel=2, words=4)
    # Per row j: the first word holding a row >= j, one past the last holding a row <= j.
    assert image.pointers == [{"first": [0, 2], "last": [2, 2]},
                              {"first": [2, 2], "last": [2, 2]},
                              {"first": [2, 2], "last": [2, 3]}]
    assert image.words[1] == [weight(0, 4, 0, 5), EMPTY, EMPTY, EMPTY]
    assert image.words[2] == [weight(1, 2, 1, -3), EMPTY, EMPTY, EMPTY]
    with pytest.raises(ValueError, match="need 3 words of 4 weights, more than the filter "
                                         "buffer's 2 words"):
        pack_filter_fibers(fibers, macs_per_pe=4, max_kernel=2, words=2)


def test_fiber_span_covers_the_rows_a_lane_feeds():
    fiber = [weight(0, 0, 0, 1), weight(0, 1, 0, 2), weight(1, 0, 0, 3), weight(2, 0, 0, 4),
             weight(2, 1, 0, 5)]
    image = pack_filter_fibers([[], fiber], macs_per_pe=2, max_kernel=3, words=8)
    pointer = image.pointers[1]
    assert pointer == {"first": [0, 1, 1], "last": [1, 2, 3]}
    assert [fiber_span(pointer, lo, hi) for lo, hi in ((0, 0), (1, 1), (2, 2), (0, 2), (1, 2))] \
        == [(0, 1), (1, 1), (1, 2), (0, 3), (1, 2)]
    assert fiber_span(image.pointers[0], 0, 2) == (0, 0)


def test_fibers_packed_bank_aware():
    # k = 0, 2, 4 share bank 0 of 2 banks; the two weights of (0, 0) may share a word.
    fiber = [weight(0, 0, 0, 1), weight(0, 0, 1, 2), weight(0, 2, 0, 3), weight(0, 3, 0, 4),
             weight(0, 4, 0, 5)]
    image = pack_filter_fibers([fiber], macs_per_pe=4, max_kernel=1, words=8, banks=2)
    assert image.pointers == [{"first": [0], "last": [3]}]
    assert image.words == [
        [weight(0, 0, 0, 1), weight(0, 0, 1, 2), weight(0, 3, 0, 4), EMPTY],
        [weight(0, 2, 0, 3), EMPTY, EMPTY, EMPTY],
        [weight(0, 4, 0, 5), EMPTY, EMPTY, EMPTY],
    ]
    for word in image.words:
        owners = {}
        for entry in word:
            if entry["value"]:
                assert owners.setdefault(entry["k"] % 2, (entry["r"], entry["k"])) == (
                    entry["r"], entry["k"])
