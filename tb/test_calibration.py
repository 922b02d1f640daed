"""The performance model's cycles of the core (``isosceles.perf.core_cycles``) against the
core's RTL on Verilator: random layers of every kind, streamed without stalls, each within 15 %.

It reuses the core bench's build (``tb/test_core.py``'s small core), so no other Verilator build
is made; the cycles are measured in this run, not read from the repository.
"""

from isosceles.tb.harness import run_cocotb
from isosceles.tb.test_core import MODULE, SMALL, core

TOLERANCE = 0.15


def test_model_predicts_the_core_cycles_within_15_percent():
    run_cocotb(core, params=SMALL, test_module=MODULE, testcase="calibration_layers",
               extra=dict(tolerance=TOLERANCE))
