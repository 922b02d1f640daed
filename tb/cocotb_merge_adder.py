"""cocotb bench of hw/merge_adder.py: rows of two random activations streamed back to back under
random stalls and backpressure, checked token for token against
``golden.layers.residual_add_streams``."""

import json

import cocotb
import numpy as np

from isosceles.golden.isos import isos_streams
from isosceles.golden.layers import residual_add_streams
from isosceles.golden.numerics import Numerics
from isosceles.tb.streams import (
    StreamDriver,
    StreamMonitor,
    check_tokens,
    start_clock_and_reset,
    tb_context,
)


def lane_rows(x):
    """The lane streams I of every row of activation ``x`` [H, W, C]."""
    H, W, C = x.shape
    return isos_streams(x, np.zeros((C, 1, 1, 1), np.int64)).inputs


def random_pair(rng, ctx, numerics):
    """Two activations ``[H, W, C]`` of one shape that fit the build: densities 0 to 1, values
    over the whole ``act_bits`` range, and some of ``b`` the negation of ``a`` (sums of zero)
    or of one sign with ``a`` at full scale (sums that saturate)."""
    H = int(rng.integers(1, 4))
    W = int(rng.integers(1, ctx.params["max_columns"] + 1))
    C = int(rng.integers(1, ctx.params["max_channels"] + 1))
    low, high = numerics.act_range
    shape = (H, W, C)

    def draw():
        density = float(rng.choice([0.0, 0.3, 1.0, rng.random()]))
        return rng.integers(low, high + 1, shape) * (rng.random(shape) < density)

    a, b = draw(), draw()
    cancel = rng.random(shape) < rng.random() * 0.5
    b = np.where(cancel, -np.clip(a, -high, high), b)
    push = rng.random(shape) < rng.random() * 0.3
    b = np.where(push, np.sign(a) * high, b)
    return a.astype(np.int64), b.astype(np.int64)


async def add_rows(dut, ctx, a, b, *, idle, backpressure):
    """Stream every row of ``a`` and ``b`` back to back, check the sum stream; the monitor and
    the expected tokens."""
    numerics = Numerics(act_bits=ctx.params["act_bits"])
    rows_a, rows_b = lane_rows(a), lane_rows(b)
    expected = [t for ra, rb in zip(rows_a, rows_b, strict=True)
                for t in residual_add_streams(ra, rb, numerics=numerics)]
    out = StreamMonitor(dut, "o", ctx, backpressure=backpressure)
    drivers = [StreamDriver(dut, "i_a", ctx, idle=idle), StreamDriver(dut, "i_b", ctx, idle=idle)]
    for driver, rows in zip(drivers, (rows_a, rows_b), strict=True):
        cocotb.start_soon(driver.send([t for row in rows for t in row]))
    await out.receive(len(expected), timeout_cycles=20 * len(expected) + 200)
    out.stop()
    check_tokens(out.received, expected, f"a, b of shape {list(a.shape)}", "sum")
    return out, expected


@cocotb.test()
async def golden_rows_under_stalls(dut):
    ctx = tb_context()
    await start_clock_and_reset(dut)
    numerics = Numerics(act_bits=ctx.params["act_bits"])
    rng = np.random.default_rng(ctx.seed)
    high = numerics.act_range[1]
    W, C = ctx.params["max_columns"], ctx.params["max_channels"]
    full = np.full((1, W, C), high, np.int64)
    # Every seed: sums that all saturate, sums that all cancel, and one operand empty.
    pairs = [(full, full), (-full - 1, -full - 1), (full, -full), (np.zeros_like(full), full)]
    pairs += [random_pair(rng, ctx, numerics) for _ in range(ctx.extra.get("layers", 12))]
    tokens = 0
    for a, b in pairs:
        _, expected = await add_rows(dut, ctx, a, b, idle=0.3, backpressure=0.3)
        tokens += len(expected)
    dut._log.info(f"{len(pairs)} activation pairs, {tokens} sum tokens checked")


@cocotb.test()
async def bench(dut):
    """No stalls: one key a cycle, so from its first output to its last a pair of activations
    takes at most one cycle per distinct ``(w, marker, c)`` of its inputs."""
    ctx = tb_context()
    await start_clock_and_reset(dut)
    numerics = Numerics(act_bits=ctx.params["act_bits"])
    rng = np.random.default_rng(ctx.seed)
    figures = []
    for _ in range(4):
        a, b = random_pair(rng, ctx, numerics)
        out, expected = await add_rows(dut, ctx, a, b, idle=0.0, backpressure=0.0)
        pairs = list(zip(lane_rows(a), lane_rows(b), strict=True))
        distinct = sum(len({(t["w"], t["marker"], t["c"]) for t in ra + rb}) for ra, rb in pairs)
        cycles = out.last_transfer - out.first_transfer + 1
        figures.append({"note": f"shape {list(a.shape)}, cycles per distinct key",
                        "tokens_in": sum(len(ra) + len(rb) for ra, rb in pairs),
                        "elements": distinct, "tokens_out": len(expected), "cycles": cycles})
        assert cycles <= distinct, figures[-1]
    if ctx.extra.get("bench_out"):
        with open(ctx.extra["bench_out"], "w") as file:
            json.dump({"unit": "merge_adder", "params": ctx.params, "cases": figures}, file)
