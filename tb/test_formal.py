"""Every unit's formal checks (tb/formal_*.py) pass, and every broken variant fails on its property.

The checks a view declares past CI's budget (about three minutes for all the others on two cores)
are marked ``slow``, as are the broken variants whose view declares its ``bmc`` slow;
``python -m pytest -m slow tb/test_formal.py`` or ``scripts/formal.py`` runs them.
"""

import itertools
import re
from pathlib import Path

import pytest
from amaranth import Const, Module, Signal, signed, unsigned
from amaranth.sim import Simulator

from isosceles.golden.numerics import requantize, saturate
from isosceles.hw.stream_buffer import StreamBuffer
from isosceles.tb.formal import UNITS, FormalFailure, check, mutant, views
from isosceles.tb.formal_context_array import saturate_expression
from isosceles.tb.formal_pou import requantize_expression
from isosceles.tb.formal_rmerger import NARROW
from isosceles.tb.formal_stream_buffer import StreamBufferView

VIEWS = {unit: views(unit) for unit in UNITS}


def _runs():
    for unit, (good, _) in VIEWS.items():
        for index, view in enumerate(good):
            for mode in view.modes:
                marks = [pytest.mark.slow] if mode in view.slow else []
                yield pytest.param(unit, index, mode, id=f"{view.name}-{mode}", marks=marks)


def _broken():
    for unit, (_, broken) in VIEWS.items():
        for index, (view, _) in enumerate(broken):
            marks = [pytest.mark.slow] if "bmc" in view.slow else []
            yield pytest.param(unit, index, id=view.name, marks=marks)


@pytest.mark.parametrize("unit, index, mode", list(_runs()))
def test_formal(unit, index, mode):
    view = VIEWS[unit][0][index]
    result = check(view, mode)
    assert result.properties, f"{view.name} {mode} checked nothing"


@pytest.mark.parametrize("unit, index", list(_broken()))
def test_broken_variant_fails(unit, index):
    view, expected = VIEWS[unit][1][index]
    with pytest.raises(FormalFailure) as failure:
        check(view, "bmc")
    message = str(failure.value)
    assert any(name in message for name in _alternatives(expected)), message
    trace = re.search(r"trace: (\S+\.vcd)", message)
    assert trace and Path(trace.group(1)).exists(), message
    assert re.search(r"\(\S+\.py:\d+\)", message), f"no source line in: {message}"


def _alternatives(expected):
    return expected if isinstance(expected, tuple) else (expected,)


def test_reference_expression_is_golden_requantize():
    """The POU view's reference is numerics.requantize on every input at its widths."""
    m = Module()
    x, bias = Signal(signed(NARROW.acc_bits)), Signal(signed(NARROW.bias_bits))
    mult, shift = Signal(unsigned(NARROW.mult_bits)), Signal(unsigned(NARROW.shift_bits))
    relu, out = Signal(), Signal(signed(NARROW.act_bits))
    m.d.comb += out.eq(requantize_expression(m, x, bias, mult, shift, relu, numerics=NARROW))
    ranges = [range(low, high + 1) for low, high in (
        NARROW.acc_range, NARROW.bias_range, NARROW.mult_range, NARROW.shift_range)]
    mismatches = []

    async def testbench(ctx):
        for values in itertools.product(*ranges, (0, 1)):
            for signal, value in zip((x, bias, mult, shift, relu), values, strict=True):
                ctx.set(signal, value)
            expected = int(requantize(*values[:4], relu=bool(values[4]), numerics=NARROW))
            if ctx.get(out) != expected:
                mismatches.append((values, ctx.get(out), expected))

    sim = Simulator(m)
    sim.add_testbench(testbench)
    sim.run()
    assert not mismatches, f"{len(mismatches)} differ, first (x, bias, mult, shift, relu), " \
                           f"got, expected: {mismatches[0]}"


def test_saturation_expression_is_golden_saturate():
    """The context array view's reference step is numerics.saturate on every value of a width
    past every sum it sees (a 3-bit partial sum plus a 4-bit product)."""
    m = Module()
    x = Signal(signed(6))
    out = saturate_expression(m, x, NARROW.acc_bits)
    mismatches = []

    async def testbench(ctx):
        for value in range(-32, 32):
            ctx.set(x, value)
            if ctx.get(out) != saturate(value, NARROW.acc_bits):
                mismatches.append((value, ctx.get(out)))

    sim = Simulator(m)
    sim.add_testbench(testbench)
    sim.run()
    assert not mismatches, f"{len(mismatches)} differ, first (x, got): {mismatches[0]}"


def test_mutation_site_must_exist():
    with pytest.raises(ValueError, match="exactly once"):
        mutant(StreamBuffer, "no such text", "", name="Nothing")


def test_bad_mode_is_named():
    with pytest.raises(ValueError, match="mode must be one of"):
        check(StreamBufferView(StreamBuffer(layout=unsigned(2))), "prove")


class _FalseByDefaultView(StreamBufferView):
    """Asserts and assumes with the default ``when``: the check must fail, the assumption
    bind (no trace, so no cover reached)."""

    def __init__(self, check_value, assume_value):
        super().__init__(StreamBuffer(layout=unsigned(2)), depth=3, tag="default-when")
        self.check_value, self.assume_value = check_value, assume_value

    def properties(self, m, props, unit):
        props.assume(self.assume_value)
        props.check("a check without when", self.check_value)
        props.cover("any cycle", unit.o.ready | ~unit.o.ready)


def test_default_when_is_not_vacuous():
    """A check and an assumption declared without ``when`` hold in every cycle (a Python
    ``~1`` would make ``~when | test`` always true)."""
    with pytest.raises(FormalFailure, match="a check without when"):
        check(_FalseByDefaultView(Const(0), Const(1)), "bmc")
    with pytest.raises(FormalFailure, match="any cycle"):
        check(_FalseByDefaultView(Const(1), Const(0)), "cover")
