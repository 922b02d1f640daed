"""The pipelined heap and the K-merger on Verilator, against heapq and the golden model.

Seven builds: the heap alone (13 and 16 entries) and the K-merger at radix 2, 3, 16, 64 and
256, each K-merger build running rows of several K at runtime (the full radix, 1, random), one
row of a single column and one of empty fibers.
"""

import pytest

from isosceles.golden.numerics import Numerics
from isosceles.hw.heap import PipelinedHeap
from isosceles.hw.kmerger import KMerger
from isosceles.tb.harness import lint, run_cocotb

HEAP_MODULE = "isosceles.tb.cocotb_heap"
MODULE = "isosceles.tb.cocotb_kmerger"

# 13 entries: a last level of 6 of 8 nodes, so some nodes have one child or none. (The
# K-merger builds below hold heaps of 2, 3, 16, 64 and 256 entries.)
HEAP = dict(capacity=13, key_bits=3, payload_bits=2)
# 16 entries: a last level of one node, so the prefetch meets grandchildren that do not exist.
HEAP_SHORT = dict(capacity=16, key_bits=3, payload_bits=2)


@pytest.mark.parametrize("params", [HEAP, HEAP_SHORT], ids=["13", "16"])
def test_heap_vs_heapq(params):
    run_cocotb(PipelinedHeap, params=params, test_module=HEAP_MODULE,
               testcase="priority_queue_vs_heapq")


def test_heap_refuses_illegal_operations():
    run_cocotb(PipelinedHeap, params=HEAP, test_module=HEAP_MODULE,
               testcase="illegal_operations_wait")


def test_heap_throughput():
    run_cocotb(PipelinedHeap, params=HEAP, test_module=HEAP_MODULE, testcase="bench")


def test_heap_lint():
    lint(PipelinedHeap, params=HEAP)


@pytest.mark.parametrize("kwargs, match", [
    (dict(capacity=0), "capacity must be an integer from 1 to 4095"),
    (dict(capacity=4096), "capacity must be an integer from 1 to 4095"),
    (dict(key_bits=0), "key_bits must be an integer from 1 to 64"),
    (dict(payload_bits=65), "payload_bits must be an integer from 1 to 64"),
    (dict(capacity=True), "capacity must be an integer"),
])
def test_heap_parameters_validated(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PipelinedHeap(**{**HEAP, **kwargs})


@pytest.mark.parametrize("capacity, levels", [(1, 1), (2, 2), (3, 2), (13, 4), (255, 8),
                                              (256, 9)])
def test_heap_levels(capacity, levels):
    assert PipelinedHeap(capacity=capacity, key_bits=4, payload_bits=4).levels == levels


def k_merger(*, radix, max_columns, acc_bits):
    return KMerger(radix=radix, max_columns=max_columns, numerics=Numerics(acc_bits=acc_bits))


# One build per radix; K (1..radix), Q and densities vary at runtime inside each simulation.
# Large radices run few, short rows: every source is two cocotb drivers.
BUILDS = {
    "radix2": dict(radix=2, max_columns=16, acc_bits=16),
    "radix3": dict(radix=3, max_columns=16, acc_bits=15),
    "radix16": dict(radix=16, max_columns=16, acc_bits=16),
    "radix64": dict(radix=64, max_columns=16, acc_bits=16),
    "radix256": dict(radix=256, max_columns=16, acc_bits=16),
}
EXTRA = {
    "radix2": dict(rows=40),
    "radix3": dict(rows=40),
    "radix16": dict(rows=20),
    "radix64": dict(rows=8, max_width=8),
    "radix256": dict(rows=4, max_width=4),
}


@pytest.mark.parametrize("build", BUILDS)
def test_kmerger_golden_rows(build):
    run_cocotb(k_merger, params=BUILDS[build], test_module=MODULE,
               testcase="golden_rows_under_stalls", extra=EXTRA[build])


@pytest.mark.parametrize("build", ["radix3", "radix16"])
def test_kmerger_rows_back_to_back_and_restart(build):
    run_cocotb(k_merger, params=BUILDS[build], test_module=MODULE,
               testcase="rows_back_to_back_and_restart", extra=EXTRA[build])


def test_kmerger_flags_misordered_watermarks():
    run_cocotb(k_merger, params=BUILDS["radix3"], test_module=MODULE, testcase="order_error")


@pytest.mark.parametrize("build", ["radix16", "radix256"])
def test_kmerger_throughput(build):
    run_cocotb(k_merger, params=BUILDS[build], test_module=MODULE, testcase="bench",
               extra=EXTRA[build])


@pytest.mark.parametrize("build", ["radix3", "radix256"])
def test_kmerger_lint(build):
    lint(k_merger, params=BUILDS[build])


@pytest.mark.parametrize("kwargs, match", [
    (dict(radix=0), "radix must be an integer from 1 to 256"),
    (dict(radix=257), "radix must be an integer from 1 to 256"),
    (dict(max_columns=0), "max_columns must be an integer from 1 to 4096"),
    (dict(max_columns=4097), "max_columns must be an integer from 1 to 4096"),
    (dict(numerics=16), "numerics must be a Numerics"),
])
def test_kmerger_parameters_validated(kwargs, match):
    with pytest.raises(ValueError, match=match):
        KMerger(**{"radix": 4, "max_columns": 8, **kwargs})
