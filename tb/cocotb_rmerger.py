"""cocotb bench of hw/rmerger.py, fed with golden T1 fibers and checked against golden T2."""

import json

import cocotb
import numpy as np
from cocotb.triggers import RisingEdge

from isosceles.golden import isos_streams
from isosceles.golden.numerics import Numerics
from isosceles.tb import checked
from isosceles.tb.streams import (
    StreamDriver,
    StreamMonitor,
    check_tokens,
    start_clock_and_reset,
    tb_context,
)


def random_cases(ctx, count, *, dense=False, full_width=False):
    """(streams, p, k) of random layers whose R fits the merger, with large values when the
    accumulator is narrow so that sums saturate; ``dense`` gives every source a token in every
    column (positive values, so no sum cancels); ``full_width`` makes rows ``max_columns``
    long."""
    rng = np.random.default_rng(ctx.seed)
    radix, max_columns = ctx.params["radix"], ctx.params["max_columns"]
    numerics = Numerics(acc_bits=ctx.params["acc_bits"])
    narrow = numerics.acc_bits < 16
    for _ in range(count):
        R = int(rng.choice([r for r in (1, 3, 5, 7) if r <= radix] or [radix]))
        stride, ph = int(rng.integers(1, 3)), int(rng.integers(0, (R + 1) // 2 + 1))
        H, W = int(rng.integers(max(1, R - 2 * ph), 10)), int(rng.integers(1, max_columns + 1))
        if full_width:  # Q = max_columns (filters are one column wide, no column padding)
            W = stride * (max_columns - 1) + 1
        C, K = int(rng.integers(1, 4)), int(rng.integers(1, 3))
        low = 64 if narrow else 1
        i = rng.integers(low, 128, (H, W, C)) * rng.choice([-1, 1], (H, W, C))
        i *= rng.random(i.shape) < rng.choice([0.0, 0.3, 1.0, rng.random()])
        f = rng.integers(low, 128, (C, R, K, 1)) * rng.choice([-1, 1], (C, R, K, 1))
        f *= rng.random(f.shape) < rng.choice([0.3, 1.0, rng.random()])
        if dense:
            stride, ph = 1, 0
            H, W = max(H, R), max_columns if full_width else W
            i, f = rng.integers(1, 8, (H, W, C)), rng.integers(1, 8, (C, R, K, 1))
        s = isos_streams(i, f, stride=stride, padding=(ph, 0), numerics=numerics)
        yield s, int(rng.integers(0, s.geometry.P)), int(rng.integers(0, K))


async def send_source(dut, ctx, r, fiber, marks, idle):
    """Source r: its fiber and its watermarks, each watermark only after its column's data."""
    data = StreamDriver(dut, f"fiber__{r}", ctx, idle=idle)
    mark = StreamDriver(dut, f"watermark_in__{r}", ctx, idle=idle)
    cocotb.start_soon(data.send(fiber))
    for token in marks:
        needed = sum(1 for t in fiber if t["q"] <= token["q"])
        while data.sent < needed:
            await RisingEdge(dut.clk)
        await mark.send([token])
    return data


async def run_case(dut, ctx, case, *, idle, backpressure):
    s, p, k = case
    g = s.geometry
    present, sources = 0, []
    for r in range(ctx.params["radix"]):
        h = p * g.stride + r - g.ph
        if r < g.R and 0 <= h < g.H:
            present |= 1 << r
            sources.append((r, s.t1_fibers[(h, r, k)], s.watermarks[h]))
    dut._log.info(f"case R={g.R} Q={g.Q} stride={g.stride} ph={g.ph} p={p} k={k} "
                  f"present={present:b}")
    dut.config.value = ctx.pack("config", {"present": present, "columns": g.Q})
    dut.start.value = 1
    await RisingEdge(dut.clk)
    dut.start.value = 0
    out = StreamMonitor(dut, "o", ctx, backpressure=backpressure)
    marks = StreamMonitor(dut, "watermark", ctx, backpressure=backpressure)
    for r, fiber, watermarks in sources:
        cocotb.start_soon(send_source(dut, ctx, r, fiber, watermarks, idle))
    expected_marks = [{"q": q, "last": int(q == g.Q - 1)} for q in range(g.Q)]
    got_marks = await marks.receive(g.Q)
    expected = s.t2_fibers[(p, k)]
    checked.case("fibers")
    got = out.received[:]
    out.stop()
    marks.stop()
    check_tokens(got, expected, f"(p={p}, k={k})", "T2")
    check_tokens(got_marks, expected_marks, f"(p={p}, k={k})", "watermark")
    inputs = sum(len(fiber) for _, fiber, _ in sources)
    return out, marks, inputs


@cocotb.test()
async def golden_fibers_under_stalls(dut):
    ctx = tb_context()
    await start_clock_and_reset(dut)
    for case in random_cases(ctx, ctx.extra.get("cases", 12)):
        await run_case(dut, ctx, case, idle=0.3, backpressure=0.4)
        for _ in range(3):
            await RisingEdge(dut.clk)


@cocotb.test()
async def bench(dut):
    """No stalls. With a token in every column of every source, the merger must emit one column
    per cycle; sparse cases are recorded too (there the sources' watermarks set the pace)."""
    ctx = tb_context()
    await start_clock_and_reset(dut)
    figures = []
    cases = [(True, case) for case in random_cases(ctx, 3, dense=True, full_width=True)]
    cases += [(False, case) for case in random_cases(ctx, 3, full_width=True)]
    for dense, case in cases:
        out, marks, inputs = await run_case(dut, ctx, case, idle=0.0, backpressure=0.0)
        g = case[0].geometry
        data_cycles = out.last_transfer - out.first_transfer + 1 if out.received else 0
        if dense:
            assert data_cycles == len(out.received) == g.Q, (data_cycles, len(out.received), g.Q)
        figures.append({"note": f"{'dense' if dense else 'sparse'} R={g.R} Q={g.Q}",
                        "dense": dense, "R": g.R, "Q": g.Q, "tokens_in": inputs,
                        "tokens_out": len(out.received), "watermarks": g.Q,
                        "data_cycles": data_cycles, "cycles": marks.last_transfer + 1})
        for _ in range(3):
            await RisingEdge(dut.clk)
    if ctx.extra.get("bench_out"):
        with open(ctx.extra["bench_out"], "w") as file:
            json.dump({"unit": "rmerger", "params": ctx.params, "cases": figures}, file)
