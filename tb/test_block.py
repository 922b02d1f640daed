"""The IS-OS block on Verilator: layers from memory (cocotbext-axi's AXI RAM), run by a host
through the AXI-Lite registers, checked byte for byte against the golden model.

The build is the default configuration's, the one ``isosceles demo`` and ``isosceles run`` make,
so the suite reuses their Verilator build rather than making its own."""

from isosceles.gen.config import IsoscelesConfig
from isosceles.gen.run import isosceles_block
from isosceles.tb.harness import lint, run_cocotb

MODULE = "isosceles.tb.cocotb_block"
DEFAULT = IsoscelesConfig().as_dict()


def test_block_golden_layers():
    run_cocotb(isosceles_block, params=DEFAULT, test_module=MODULE,
               testcase="golden_layers_from_memory", extra=dict(layers=12))


def test_block_lint():
    lint(isosceles_block, params=DEFAULT)


def test_block_bad_descriptors():
    run_cocotb(isosceles_block, params=DEFAULT, test_module=MODULE,
               testcase="bad_descriptors_end_with_their_error_code")
