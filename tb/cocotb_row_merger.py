"""cocotb bench of hw/row_merger.py, fed with golden T1 substreams and checked against the
golden K-merger output of each row."""

import json

import cocotb
import numpy as np

from isosceles.golden import isos_streams
from isosceles.golden.numerics import Numerics
from isosceles.tb import checked
from isosceles.tb.streams import (
    StreamDriver,
    StreamMonitor,
    check_tokens,
    start_clock_and_reset,
    tb_context,
    tick,
)


def random_rows(ctx, count, *, first=()):
    """(streams, p) of random layers that fit the build: R, S 1 to ``radix`` (R != S too),
    stride 1 to 3, padding (rows of padding only included), densities 0 to 1, with one-sign
    full-scale values when the accumulator is narrow so that sums saturate, a third of them
    reduced by the maximum (a max pooling). ``first`` layers (keyword dicts) come before the
    random ones, whatever the seed."""
    rng = np.random.default_rng(ctx.seed)
    radix, params = ctx.params["radix"], ctx.params
    numerics = Numerics(acc_bits=params["acc_bits"])
    narrow = numerics.acc_bits < 16
    for index in range(len(first) + count):
        R, S = int(rng.integers(1, radix + 1)), int(rng.integers(1, 4))
        stride = int(rng.integers(1, 4))
        ph, pw = int(rng.integers(0, R + 1)), int(rng.integers(0, S))
        H = int(rng.integers(max(1, R - 2 * ph), 9))
        W = int(rng.integers(max(1, S - 2 * pw), params["max_columns"] * stride + 1))
        C, K = int(rng.integers(1, 5)), int(rng.integers(1, params["max_channels"] + 1))
        density = float(rng.choice([0.0, 0.2, 1.0, rng.random()]))
        low = 64 if narrow else 1
        sign = rng.choice([-1, 1]) if narrow else rng.choice([-1, 1], (H, W, C))
        i = rng.integers(low, 128, (H, W, C)) * sign * (rng.random((H, W, C)) < density)
        f = rng.integers(low, 128, (C, R, K, S)) * (1 if narrow else rng.choice([-1, 1]))
        f *= rng.random(f.shape) < rng.choice([0.3, 1.0, rng.random()])
        layer = dict(i=i, f=f, stride=stride, padding=(ph, pw), maximum=rng.random() < 1 / 3)
        if index < len(first):
            layer = first[index]
        s = isos_streams(layer["i"], layer["f"], stride=layer["stride"],
                         padding=layer["padding"], numerics=numerics,
                         maximum=layer.get("maximum", False))
        if (s.geometry.Q > params["max_columns"] or s.geometry.R > radix
                or s.geometry.K > params["max_channels"]):
            continue
        for p in rng.permutation(s.geometry.P)[:3]:
            yield s, int(p)


async def merge_row(dut, ctx, s, p, *, idle, backpressure):
    """Feed row ``p``'s substreams, return the monitor once its last marker is out."""
    g = s.geometry
    present, drivers = 0, []
    for r in range(g.R):
        h = p * g.stride + r - g.ph
        if (h, r) in s.substreams:
            present |= 1 << r
            driver = StreamDriver(dut, f"i__{r}", ctx, idle=idle)
            drivers.append((driver, s.substreams[(h, r)]))
    dut.config.value = ctx.pack("config", {"present": present, "columns": g.Q,
                                           "maximum": int(s.maximum)})
    dut.start.value = 1
    await tick(dut)
    dut.start.value = 0
    out = StreamMonitor(dut, "o", ctx, backpressure=backpressure)
    for driver, tokens in drivers:
        cocotb.start_soon(driver.send(tokens))
    expected = s.kmerger_out[p]
    checked.case("rows")
    await out.receive(len(expected), timeout_cycles=20 * len(expected) + 200)
    await tick(dut, 3)
    out.stop()
    what = (f"R={g.R} S={g.S} stride={g.stride} pad=({g.ph},{g.pw}) Q={g.Q} K={g.K} p={p} "
            f"maximum={s.maximum}")
    check_tokens(out.received, expected, what, "merged")
    assert not int(dut.order_error.value), f"{what}: order_error raised on a golden row"
    return out, sum(len(tokens) for _, tokens in drivers)


@cocotb.test()
async def golden_rows_under_stalls(dut):
    ctx = tb_context()
    await start_clock_and_reset(dut)
    radix, columns = ctx.params["radix"], ctx.params["max_columns"]
    # Every build, whatever the seed: a row made of padding only, R = radix, a one-column row,
    # and R = radix reduced by the maximum (every source holding every key).
    ones = np.ones((2, columns, 2), dtype=np.int64)
    first = (
        dict(i=ones[:1, :, :], f=np.ones((2, 1, 1, 1), np.int64), stride=1, padding=(1, 0)),
        dict(i=np.ones((radix, columns, 2), np.int64), f=np.ones((2, radix, 2, 1), np.int64),
             stride=1, padding=(0, 0)),
        dict(i=ones[:, :1, :], f=np.ones((2, 1, 3, 1), np.int64), stride=1, padding=(0, 0)),
        dict(i=np.arange(1, radix * columns * 2 + 1).reshape(radix, columns, 2) % 97,
             f=np.ones((2, radix, 2, 1), np.int64), stride=1, padding=(0, 0), maximum=True),
    )
    rows = tokens = 0
    for s, p in random_rows(ctx, ctx.extra.get("layers", 10), first=first):
        _, inputs = await merge_row(dut, ctx, s, p, idle=0.3, backpressure=0.3)
        rows, tokens = rows + 1, tokens + inputs
    dut._log.info(f"{rows} rows, {tokens} substream tokens checked")


@cocotb.test()
async def marker_disagreement_raises_order_error(dut):
    ctx = tb_context()
    await start_clock_and_reset(dut)
    dut.config.value = ctx.pack("config", {"present": 1, "columns": 2})
    dut.start.value = 1
    await tick(dut)
    dut.start.value = 0
    out = StreamMonitor(dut, "o", ctx)
    # Column 0's marker claims to be the row's last.
    await StreamDriver(dut, "i__0", ctx).send([{"q": 0, "marker": 1, "last": 1}])
    await tick(dut, 2)
    out.stop()
    assert int(dut.order_error.value)


@cocotb.test()
async def bench(dut):
    """No stalls: one merge a cycle, so from its first output to its last a row takes at most
    one cycle per distinct ``(q, marker, k)`` among its sources' tokens (a row without source:
    one per column)."""
    ctx = tb_context()
    await start_clock_and_reset(dut)
    figures = []
    for s, p in random_rows(ctx, 4):
        out, inputs = await merge_row(dut, ctx, s, p, idle=0.0, backpressure=0.0)
        g = s.geometry
        distinct = len({(t["q"], t["marker"], t["k"]) for (h, r), tokens in s.substreams.items()
                        if h == p * g.stride + r - g.ph for t in tokens}) or g.Q
        cycles = out.last_transfer - out.first_transfer + 1
        figures.append({"note": f"R={g.R} Q={g.Q} K={g.K}", "tokens_in": inputs,
                        "distinct_keys": distinct, "tokens_out": len(out.received),
                        "cycles": cycles})
        assert cycles <= distinct, figures[-1]
    if ctx.extra.get("bench_out"):
        with open(ctx.extra["bench_out"], "w") as file:
            json.dump({"unit": "row_merger", "params": ctx.params, "cases": figures}, file)
