"""The multi-context queue on Verilator, holding golden lane streams of several layers.

One build (5 contexts, a 64-entry memory of lane-stream tokens) covers every partition: they
are runtime configuration, swept inside each simulation.
"""

import pytest
from amaranth import unsigned
from amaranth.hdl import Fragment
from amaranth.lib import data

from isosceles.gen.config import IsoscelesConfig
from isosceles.golden.numerics import Numerics
from isosceles.hw.pe import input_layout
from isosceles.hw.queue import MultiContextQueue
from isosceles.tb.harness import lint, run_cocotb

MODULE = "isosceles.tb.cocotb_queue"


def lane_queue(*, contexts, depth, max_channels, max_columns):
    """A queue of lane-stream ``I`` tokens (docs/dataflow.md)."""
    layout = input_layout(numerics=Numerics(), max_channels=max_channels,
                          max_columns=max_columns)
    return MultiContextQueue(layout=layout, contexts=contexts, depth=depth)


# Five contexts: not a power of two, so context numbers past the last one exist too.
BUILD = dict(contexts=5, depth=64, max_channels=8, max_columns=16)


# A memory whose depth is no power of two (a `base` field can name entries past its end), and a
# single context.
OTHER_BUILDS = {"3x13": dict(BUILD, contexts=3, depth=13), "1x7": dict(BUILD, contexts=1, depth=7)}


@pytest.mark.parametrize("params", [BUILD, *OTHER_BUILDS.values()],
                         ids=["5x64", *OTHER_BUILDS])
def test_queue_random_traffic(params):
    run_cocotb(lane_queue, params=params, test_module=MODULE, testcase="random_traffic")


def test_queue_stalled_context_does_not_block_others():
    run_cocotb(lane_queue, params=BUILD, test_module=MODULE, testcase="stalled_context")


def test_queue_reconfiguration():
    run_cocotb(lane_queue, params=BUILD, test_module=MODULE, testcase="reconfiguration")


def test_queue_throughput():
    run_cocotb(lane_queue, params=BUILD, test_module=MODULE, testcase="bench")


@pytest.mark.parametrize("params", [BUILD, dict(BUILD, contexts=16, depth=4096),
                                    dict(BUILD, contexts=1, depth=2)],
                         ids=["5x64", "16x4096", "1x2"])
def test_queue_lint(params):
    lint(lane_queue, params=params)


@pytest.mark.parametrize("kwargs, match", [
    (dict(contexts=0), "contexts must be an integer from 1 to 16"),
    (dict(contexts=17), "contexts must be an integer from 1 to 16"),
    (dict(contexts=True), "contexts must be an integer from 1 to 16"),
    (dict(contexts=1, depth=1), "depth must be an integer from 2"),
    (dict(contexts=8, depth=7), "depth must be an integer from 8"),
    (dict(depth=(1 << 16) + 1), "to 65536"),
    (dict(depth=64.0), "depth must be an integer"),
    (dict(layout="tokens"), "layout must be a data.Layout or a shape"),
    (dict(layout=data.StructLayout({})), "layout must be at least 1 bit wide"),
])
def test_queue_parameters_validated(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MultiContextQueue(**{"layout": unsigned(8), "contexts": 4, "depth": 64, **kwargs})


def test_queue_from_config():
    layout = input_layout(numerics=Numerics(), max_channels=64, max_columns=64)
    queue = MultiContextQueue.from_config(IsoscelesConfig(), layout=layout)
    assert queue.nbytes <= IsoscelesConfig().queue_bytes
    # As deep as fits: one more token would not.
    assert queue.nbytes * 8 + layout.size > IsoscelesConfig().queue_bytes * 8
    assert len(queue.o) == IsoscelesConfig().layers_in_flight
    Fragment.get(queue, None)  # it elaborates
    with pytest.raises(ValueError, match="config must be an IsoscelesConfig"):
        MultiContextQueue.from_config(None, layout=layout)
