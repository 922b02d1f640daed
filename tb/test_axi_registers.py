"""The AXI4-Lite register file on Verilator, driven by cocotbext-axi's AxiLiteMaster (see
tb/cocotb_axi_registers.py)."""

import json

import pytest

from isosceles.hw.registers import AxiLiteRegisters, Register
from isosceles.tb.harness import lint, run_cocotb

MODULE = "isosceles.tb.cocotb_axi_registers"

# Every access kind and width class: narrow, 32, between 32 and 64 and 64 bits, pulses of one
# and several bits, read-only registers of 5, 32 and 64 bits, and gaps (0x24, 0x34, 0x38).
MAP = [
    dict(name="control", offset=0x00, access="rw", reset=0x12345678),
    dict(name="mode", offset=0x04, access="rw", width=7, reset=5),
    dict(name="base", offset=0x08, access="rw", width=64),
    dict(name="shape", offset=0x10, access="rw", width=40, reset=0x1_0000_0001),
    dict(name="start", offset=0x18, access="pulse", width=1),
    dict(name="kick", offset=0x1C, access="pulse", width=12),
    dict(name="status", offset=0x20, access="ro", width=5),
    dict(name="cycles", offset=0x28, access="ro", width=64),
    dict(name="version", offset=0x30, access="ro"),
    dict(name="tail", offset=0x3C, access="rw", width=16, reset=0xBEEF),
]


def register_file(*, registers, addr_width):
    return AxiLiteRegisters(registers, addr_width=addr_width)


PARAMS = dict(registers=MAP, addr_width=7)


def test_registers_random_access():
    run_cocotb(register_file, params=PARAMS, test_module=MODULE, testcase="random_access")


def test_registers_back_to_back():
    run_cocotb(register_file, params=PARAMS, test_module=MODULE, testcase="bench")


def test_registers_lint():
    lint(register_file, params=PARAMS)


def test_describe_is_the_map_in_json():
    described = AxiLiteRegisters(MAP, addr_width=7).describe()
    assert json.loads(json.dumps(described)) == described
    assert [entry["offset"] for entry in described] == sorted(entry["offset"] for entry in MAP)
    assert described[3] == dict(name="shape", offset=0x10, access="rw", width=40,
                                reset=0x1_0000_0001, doc="", words=2)


@pytest.mark.parametrize("registers, message", [
    ([dict(name="a", offset=2, access="rw")], "offset must be a multiple of 4"),
    ([dict(name="a", offset=0, access="wo")], "access must be one of"),
    ([dict(name="a", offset=0, access="pulse", width=33)], "width must be an integer from 1 to 32"),
    ([dict(name="a", offset=0, access="ro", reset=1)], "only rw registers have a reset"),
    ([dict(name="a", offset=0, access="rw", width=8, reset=256)], "reset must be an integer"),
    ([dict(name="Start", offset=0, access="rw")], "lowercase identifier"),
    ([dict(name="s_axil", offset=0, access="rw")], "lowercase identifier"),
    ([dict(name="a", offset=0, access="rw", width=64), dict(name="b", offset=4, access="ro")],
     "'b' overlaps 'a' at 0x4"),
    ([dict(name="a", offset=0, access="rw"), dict(name="a", offset=4, access="rw")], "unique"),
    ([dict(name="a", offset=0x80, access="rw")], "does not fit addr_width 7"),
    ([], "at least one register"),
])
def test_bad_maps_are_named(registers, message):
    with pytest.raises(ValueError, match=message):
        AxiLiteRegisters(registers, addr_width=7)


def test_register_is_a_value():
    assert Register("a", 0, "rw") == Register(name="a", offset=0, access="rw", width=32)


def test_locked_names_rw_registers_only():
    with pytest.raises(ValueError, match="locked names 'status', which is not an rw register"):
        AxiLiteRegisters(MAP, addr_width=7, locked=["status"])
    assert "lock" in AxiLiteRegisters(MAP, addr_width=7, locked=["mode"]).signature.members
    assert "lock" not in AxiLiteRegisters(MAP, addr_width=7).signature.members
