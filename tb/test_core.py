"""The IS-OS core (lanes, fan-outs, row mergers, POUs) on Verilator against the golden model."""

import pytest

from isosceles.gen.config import IsoscelesConfig
from isosceles.hw.core import IsosCore
from isosceles.tb.cocotb_core import config_of
from isosceles.tb.harness import lint, run_cocotb

MODULE = "isosceles.tb.cocotb_core"

# A small build: 4 lanes, 3x3 at most, 8 channels, rows of up to 8 output columns.
SMALL = dict(lanes=4, macs_per_pe=4, max_kernel=3, max_channels=8, max_columns=8,
             filter_buffer_bytes=2048, context_bytes=1024)


def core(**params):
    return IsosCore(config_of(params))


def test_core_golden_layers():
    run_cocotb(core, params=SMALL, test_module=MODULE, testcase="golden_layers_under_stalls",
               extra=dict(layers=20))


def test_core_lint():
    lint(core, params=SMALL)


def test_core_needs_lanes_for_its_kernel():
    with pytest.raises(ValueError, match="lanes=2 is below max_kernel=3"):
        IsosCore(IsoscelesConfig(lanes=2, max_kernel=3))
