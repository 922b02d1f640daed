"""Faults at the IS-OS block's edges on Verilator (tb/cocotb_block_faults.py): AXI error
responses, long memory stalls, a reset mid-layer and descriptor writes while busy.

The build is ``tb/test_block.py``'s (the default configuration), so no second block is built."""

from isosceles.gen.run import isosceles_block
from isosceles.tb.harness import run_cocotb
from isosceles.tb.test_block import DEFAULT

MODULE = "isosceles.tb.cocotb_block_faults"


def test_block_bus_errors():
    run_cocotb(isosceles_block, params=DEFAULT, test_module=MODULE,
               testcase="bus_errors_end_with_bus_and_recover")


def test_block_stalls_reset_busy_writes_and_input_errors():
    run_cocotb(isosceles_block, params=DEFAULT, test_module=MODULE,
               testcase=["long_stalls_complete_bit_exact", "reset_mid_layer_leaves_an_idle_block",
                         "descriptor_writes_while_busy_are_refused",
                         "input_errors_belong_to_their_run"])
