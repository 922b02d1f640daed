"""The IS-OS block on Verilator: layers from memory (cocotbext-axi's AXI RAM), run by a host
through the AXI-Lite registers, checked byte for byte against the golden model.

The build is the default configuration's, the one ``isosceles demo`` and ``isosceles run`` make,
so the suite reuses their Verilator build rather than making its own."""

from pathlib import Path

from isosceles.gen.config import IsoscelesConfig
from isosceles.gen.run import isosceles_block, run_workload
from isosceles.tb.harness import lint, run_cocotb

MODULE = "isosceles.tb.cocotb_block"
DEFAULT = IsoscelesConfig().as_dict()


def test_block_golden_layers():
    run_cocotb(isosceles_block, params=DEFAULT, test_module=MODULE,
               testcase="golden_layers_from_memory", extra=dict(layers=13))


def test_block_lint():
    lint(isosceles_block, params=DEFAULT)


def test_block_bad_descriptors():
    run_cocotb(isosceles_block, params=DEFAULT, test_module=MODULE,
               testcase="bad_descriptors_end_with_their_error_code")


def test_block_runs_average_pools():
    """Average pools as the block runs them (depthwise convolutions of unit weights whose POU
    divides by the area), bit-exact with golden avg_pool: run_workload raises on any byte."""
    path = Path(__file__).resolve().parents[1] / "workloads" / "avg_pool.toml"
    report = run_workload(path)
    assert report["bit_exact"]
    assert [layer["name"] for layer in report["layers"]] == ["features", "halve", "smooth",
                                                             "coarse"]
    assert all(layer["effectual_macs"] > 0 for layer in report["layers"])


def test_block_residual_adds():
    run_cocotb(isosceles_block, params=DEFAULT, test_module=MODULE,
               testcase="residual_adds_from_memory")
