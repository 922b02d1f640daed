"""The AXI4 master on Verilator against cocotbext-axi's AxiRam (see tb/cocotb_axi_master.py)."""

import pytest

from isosceles.hw.axi import AxiMaster, AxiSignature
from isosceles.tb.harness import lint, run_cocotb

MODULE = "isosceles.tb.cocotb_axi_master"

# Three builds: 64-bit data with more clients than either side needs, 32-bit data with bursts
# capped at 16 beats, 128-bit data where a 4 KB page is exactly 256 beats (and 4-bit IDs).
BUILDS = {
    "dw64": dict(read_clients=3, write_clients=2),
    "dw32": dict(read_clients=2, write_clients=1, data_width=32, max_burst=16),
    "dw128": dict(read_clients=1, write_clients=2, data_width=128, max_outstanding=2, id_width=4),
}


@pytest.mark.parametrize("build", BUILDS)
def test_axi_master_random_traffic(build):
    run_cocotb(AxiMaster, params=BUILDS[build], test_module=MODULE, testcase="random_traffic")


@pytest.mark.parametrize("build", BUILDS)
def test_axi_master_error_responses(build):
    run_cocotb(AxiMaster, params=BUILDS[build], test_module=MODULE, testcase="error_responses")


def test_axi_master_throughput():
    run_cocotb(AxiMaster, params=BUILDS["dw64"], test_module=MODULE, testcase="bench")


def test_axi_master_lint():
    lint(AxiMaster, params=BUILDS["dw64"])


@pytest.mark.parametrize("params, message", [
    (dict(read_clients=0, write_clients=1), "read_clients must be an integer from 1 to 16"),
    (dict(read_clients=1, write_clients=1, max_burst=300), "max_burst must be an integer"),
    (dict(read_clients=1, write_clients=1, data_width=48), "data_width must be a power of two"),
    (dict(read_clients=1, write_clients=1, addr_width=8), "addr_width must be an integer"),
    (dict(read_clients=1, write_clients=1, max_burst=64, buffer=32),
     "buffer must be an integer from 64 to 4096"),
])
def test_bad_parameters_are_named(params, message):
    with pytest.raises(ValueError, match=message):
        AxiMaster(**params)


def test_signature_names_and_widths():
    members = AxiSignature(addr_width=32, data_width=128, id_width=4).members
    assert members["awaddr"].shape == 32 and members["wstrb"].shape == 16
    assert members["rdata"].flow.name == "In" and members["arvalid"].flow.name == "Out"
    assert AxiSignature(addr_width=32) == AxiSignature(addr_width=32, data_width=64)


def test_axi_master_no_client_blocks_another():
    run_cocotb(AxiMaster, params=BUILDS["dw64"], test_module=MODULE,
               testcase="no_client_blocks_another")
