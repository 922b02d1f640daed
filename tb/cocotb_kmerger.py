"""cocotb bench of hw/kmerger.py, fed with golden T2 fibers and checked against the golden
K-merger lane stream.

Each source ``k`` is a bare producer (nothing buffered between it and the merger): a
:class:`StreamDriver` for fiber ``(p, k)`` and one for its watermarks ``q = 0..Q-1``, each
watermark offered only once that fiber's data of column ``q`` has been transferred, as an
R-merger does. Random idle cycles on every source make data and watermarks interleave in many
ways; the output sees random backpressure and its monitor checks the stream rules.
"""

import json

import cocotb
import numpy as np
from cocotb.triggers import ReadWrite, RisingEdge

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

# Output cycles a row may take beyond two per output token and two per source's first insert
# (the heap takes an operation every other cycle).
BENCH_SLACK = 2


def random_rows(ctx, count, *, dense=False):
    """(streams, p) of random layers whose K fits the merger: 1x1 filters for large K (cheap to
    simulate), 3x3 with padding for small K; densities from 0 (all fibers empty) to 1.
    ``dense`` gives every fiber a positive value in every column (1x1, no padding)."""
    rng = np.random.default_rng(ctx.seed)
    radix, max_columns = ctx.params["radix"], ctx.params["max_columns"]
    numerics = Numerics(acc_bits=ctx.params.get("acc_bits", 16))
    max_width = min(max_columns, ctx.extra.get("max_width", max_columns))
    for row in range(count):
        # The edges first, whatever the seed: the full radix, K = 1, one column (Q = 1), all
        # fibers empty; then K, Q and densities at random.
        choices = [radix, 1, int(rng.integers(1, radix + 1))]
        K = choices[row] if row < 2 else int(rng.choice(choices))
        R = S = 1 if K > 16 or dense or rng.random() < 0.5 else 3
        pad = 0 if dense else int(rng.integers(0, S // 2 + 1))
        H = int(rng.integers(max(1, R - 2 * pad), 4))
        W = int(rng.integers(max(1, S - 2 * pad), max_width + 1))
        if row == 2:
            W = max(1, S - 2 * pad)  # Q = W + 2 * pad - S + 1 = 1
        C = int(rng.integers(1, 3 if K > 16 else 4))
        if dense:
            i, f = rng.integers(1, 8, (H, W, C)), rng.integers(1, 8, (C, R, K, S))
        else:
            i = rng.integers(-128, 128, (H, W, C))
            f = rng.integers(-128, 128, (C, R, K, S))
            i *= rng.random(i.shape) < (0.0 if row == 3 else rng.choice([0.0, 0.2, 1.0,
                                                                          rng.random()]))
            f *= rng.random(f.shape) < rng.choice([0.05, 0.3, 1.0, rng.random()])
        s = isos_streams(i, f, stride=1, padding=(pad, pad), numerics=numerics)
        yield s, int(rng.integers(0, s.geometry.P))


async def send_source(dut, ctx, k, rows, idle):
    """Source ``k`` over ``rows``, a list of ``(fiber, columns)``: each watermark offered in the
    cycle after its column's data has been transferred at the earliest, and each row's data
    offered as soon as the previous row's last watermark has been transferred (the source runs
    ahead of the merger, which is still finishing that row)."""
    data = StreamDriver(dut, f"fiber__{k}", ctx, idle=idle)
    mark = StreamDriver(dut, f"watermark__{k}", ctx, idle=idle)
    before = 0  # data tokens of the earlier rows
    for fiber, columns in rows:
        sending = cocotb.start_soon(data.send(fiber))
        for q in range(columns):
            needed = before + sum(1 for token in fiber if token["q"] <= q)
            while data.sent < needed:
                await RisingEdge(dut.clk)
                await ReadWrite()  # the data driver has counted this edge's transfer
            await mark.send([{"q": q, "last": int(q == columns - 1)}])
        await sending
        before += len(fiber)


async def start_row(dut, ctx, g):
    dut.config.value = ctx.pack("config", {"channels": g.K, "columns": g.Q})
    dut.start.value = 1
    await RisingEdge(dut.clk)
    dut.start.value = 0


def check_row(got, expected, g, p):
    check_tokens(got, expected, f"K={g.K} Q={g.Q} p={p}", "K-merger")
    checked.case("rows")


async def run_row(dut, ctx, s, p, *, idle, backpressure):
    """Merge row ``p`` of ``s`` and check every output token in order; return the output
    monitor and the number of data tokens in."""
    g = s.geometry
    fibers = [s.t2_fibers[(p, k)] for k in range(g.K)]
    dut._log.info(f"row K={g.K} Q={g.Q} R={g.R} p={p} data={sum(map(len, fibers))}")
    await start_row(dut, ctx, g)
    out = StreamMonitor(dut, "o", ctx, backpressure=backpressure)
    for k, fiber in enumerate(fibers):
        cocotb.start_soon(send_source(dut, ctx, k, [(fiber, g.Q)], idle))
    expected = s.kmerger_out[p]
    await out.receive(len(expected))
    for _ in range(3):
        await RisingEdge(dut.clk)
    out.stop()
    assert not int(dut.order_error.value), "order_error on well-ordered watermarks"
    check_row(out.received, expected, g, p)
    return out, sum(map(len, fibers))


@cocotb.test()
async def golden_rows_under_stalls(dut):
    ctx = tb_context()
    await start_clock_and_reset(dut)
    for s, p in random_rows(ctx, ctx.extra.get("rows", 10)):
        await run_row(dut, ctx, s, p, idle=ctx.extra.get("idle", 0.4),
                      backpressure=ctx.extra.get("backpressure", 0.4))
        for _ in range(2):
            await RisingEdge(dut.clk)


@cocotb.test()
async def rows_back_to_back_and_restart(dut):
    """Producers that run ahead: every source offers its next row's data as soon as its current
    row's last watermark is taken, while the merger is still emitting that row, and the merger
    must keep it for the next row. Then a row
    abandoned halfway (its heads inserted, no watermark yet) by a new ``start`` must leave
    nothing behind."""
    ctx = tb_context()
    await start_clock_and_reset(dut)
    rows = list(random_rows(ctx, 4))
    radix = ctx.params["radix"]
    out = StreamMonitor(dut, "o", ctx, backpressure=ctx.extra.get("backpressure", 0.4))
    for k in range(radix):
        present = [(s.t2_fibers[(p, k)], s.geometry.Q) for s, p in rows if k < s.geometry.K]
        cocotb.start_soon(send_source(dut, ctx, k, present, ctx.extra.get("idle", 0.4)))
    received = 0
    for s, p in rows:
        expected = s.kmerger_out[p]
        await start_row(dut, ctx, s.geometry)
        await out.receive(received + len(expected))
        check_row(out.received[received:], expected, s.geometry, p)
        received += len(expected)
    for _ in range(3):
        await RisingEdge(dut.clk)
    assert len(out.received) == received, "tokens after the last row"
    out.stop()

    s, p = next(random_rows(ctx, 1, dense=True))
    await start_row(dut, ctx, s.geometry)
    abandoned = [cocotb.start_soon(StreamDriver(dut, f"fiber__{k}", ctx).send(
        s.t2_fibers[(p, k)])) for k in range(s.geometry.K)]
    for _ in range(s.geometry.K + 4):
        await RisingEdge(dut.clk)
    for k, task in enumerate(abandoned):
        task.cancel()
        getattr(dut, f"fiber__{k}__valid").value = 0
    s, p = next(random_rows(ctx, 1))
    await run_row(dut, ctx, s, p, idle=0.3, backpressure=0.3)


@cocotb.test()
async def order_error(dut):
    """A watermark for the wrong column sets order_error; start clears it."""
    ctx = tb_context()
    await start_clock_and_reset(dut)
    channels = min(2, ctx.params["radix"])
    dut.config.value = ctx.pack("config", {"channels": channels, "columns": 3})
    for _ in range(2):
        dut.start.value = 1
        await RisingEdge(dut.clk)
        dut.start.value = 0
        await RisingEdge(dut.clk)
        assert not int(dut.order_error.value), "start did not clear order_error"
        # Column 0 from everyone, then the last source skips column 1.
        sends = [cocotb.start_soon(StreamDriver(dut, f"watermark__{k}", ctx).send(
            [{"q": 0}, {"q": 2 if k == channels - 1 else 1}])) for k in range(channels)]
        for send in sends:
            await send
        await RisingEdge(dut.clk)
        assert int(dut.order_error.value), "order_error not raised"


@cocotb.test()
async def bench(dut):
    """No stalls. Dense rows (a token in every column of every source) and sparse ones; each
    must take at most two cycles per output token (data and markers), plus two per present
    source (the heap's fill: each source's first head is inserted alone), plus BENCH_SLACK."""
    ctx = tb_context()
    await start_clock_and_reset(dut)
    figures = []
    rows = [(True, row) for row in random_rows(ctx, 4, dense=True)]
    rows += [(False, row) for row in random_rows(ctx, 6)]
    for dense, (s, p) in rows:
        g = s.geometry
        out, tokens_in = await run_row(dut, ctx, s, p, idle=0.0, backpressure=0.0)
        cycles = out.last_transfer + 1
        tokens_out = len(out.received)
        if dense:
            assert tokens_in == g.K * g.Q, "a dense row lost a token"
        assert cycles <= 2 * (tokens_out + g.K) + BENCH_SLACK, (
            f"K={g.K} Q={g.Q}: {tokens_out} tokens took {cycles} cycles")
        figures.append({"note": f"{'dense' if dense else 'sparse'} K={g.K} Q={g.Q}",
                        "dense": dense, "K": g.K, "Q": g.Q, "tokens_in": tokens_in,
                        "tokens_out": tokens_out, "markers": g.Q, "watermarks": g.K * g.Q,
                        "cycles": cycles, "latency": out.first_transfer + 1,
                        "elements_per_cycle": tokens_out / cycles})
        dut._log.info(f"bench {figures[-1]}")
        for _ in range(3):
            await RisingEdge(dut.clk)
    if ctx.extra.get("bench_out"):
        with open(ctx.extra["bench_out"], "w") as file:
            json.dump({"unit": "kmerger", "params": ctx.params, "cases": figures}, file)
