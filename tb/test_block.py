"""The IS-OS block on Verilator: layers from memory (cocotbext-axi's AXI RAM), run by a host
through the AXI-Lite registers, checked byte for byte against the golden model."""

from isosceles.hw.block import IsosBlock
from isosceles.tb.cocotb_core import config_of
from isosceles.tb.harness import lint, run_cocotb
from isosceles.tb.test_core import SMALL

MODULE = "isosceles.tb.cocotb_block"


def block(**params):
    return IsosBlock(config_of(params))


def test_block_golden_layers():
    run_cocotb(block, params=SMALL, test_module=MODULE, testcase="golden_layers_from_memory",
               extra=dict(layers=8))


def test_block_lint():
    lint(block, params=SMALL)
