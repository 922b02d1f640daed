"""cocotb bench of hw/writer.py: golden O rows written into a memory model with random
backpressure, decoded with golden.memory_image and compared to the golden output."""

import cocotb
import numpy as np
from cocotb.utils import get_sim_time

from isosceles.golden import isos_streams
from isosceles.golden.memory_image import Area, MemoryImage, activation_words, read_activation
from isosceles.golden.numerics import Numerics
from isosceles.golden.pou import PouParams
from isosceles.tb import checked
from isosceles.tb.memory_model import WriteMemory
from isosceles.tb.streams import StreamDriver, start_clock_and_reset, tb_context, tick, wait_idle


def numerics_of(ctx):
    return Numerics(act_bits=ctx.params["act_bits"], weight_bits=4)


def o_stream(row_stream):
    """An I stream as the O stream it equals bit for bit (``w -> q``, ``c -> k``)."""
    return [{"q": t["w"], "k": t["c"], "value": t["value"], "marker": t["marker"],
             "last": t["last"]} for t in row_stream]


def random_outputs(ctx, count):
    """(o [P, Q, K], O streams) that fit the build: whatever the seed, a dense full-size tensor
    at full-scale values, an all-zero one, a one-column one and a K = 1 one, then random shapes
    and densities; then layers of random convolutions with POU, whose O streams come from
    ``isos_streams(..., pou=...)``."""
    rng = np.random.default_rng(ctx.seed)
    columns, channels = ctx.params["max_columns"], ctx.params["max_channels"]
    numerics = numerics_of(ctx)
    high = (1 << (numerics.act_bits - 1)) - 1
    first = [np.full((2, columns, channels), -high - 1), np.zeros((2, columns, channels)),
             rng.integers(1, high + 1, (3, 1, channels)), rng.integers(-high, 0, (2, columns, 1))]
    for index in range(len(first) + count):
        if index < len(first):
            o = first[index].astype(np.int64)
        else:
            P, Q = int(rng.integers(1, 5)), int(rng.integers(1, columns + 1))
            K = int(rng.integers(1, channels + 1))
            density = float(rng.choice([0.0, 0.05, 0.3, 1.0, rng.random()]))
            o = rng.integers(-high - 1, high + 1, (P, Q, K)) * (rng.random((P, Q, K)) < density)
        streams = isos_streams(o, np.ones((o.shape[2], 1, 1, 1), np.int64), numerics=numerics)
        yield o, [o_stream(s) for s in streams.inputs]
    for _ in range(count // 3):
        H, W = int(rng.integers(2, 5)), int(rng.integers(3, columns + 3))
        C, K = int(rng.integers(1, 4)), int(rng.integers(1, channels + 1))
        i = rng.integers(-high, high + 1, (H, W, C)) * (rng.random((H, W, C)) < 0.5)
        f = rng.integers(-7, 8, (C, 3, K, 3))
        pou = PouParams.make(rng.integers(-20, 20, K), rng.integers(1, 64, K),
                             rng.integers(0, 6, K), relu=bool(rng.integers(2)), numerics=numerics)
        s = isos_streams(i, f, padding=1, numerics=numerics, pou=pou)
        if s.geometry.Q > columns:
            continue
        o = np.zeros((s.geometry.P, s.geometry.Q, K), np.int64)
        for p, stream in enumerate(s.outputs):
            for t in stream:
                if not t["marker"]:
                    o[p, t["q"], t["k"]] = t["value"]
        yield o, s.outputs


async def write_row(dut, ctx, memory, tokens, *, row_addr, table_addr, word_offset, idle):
    """Write one row; wait until the writer is idle; the requests it made and its cycles."""
    dut.config.value = ctx.pack("config", {"row_addr": row_addr, "table_addr": table_addr,
                                           "word_offset": word_offset})
    dut.start.value = 1
    await tick(dut)
    dut.start.value = 0
    started = get_sim_time("ns")
    await StreamDriver(dut, "i", ctx, idle=idle).send(tokens)
    await wait_idle(dut, ctx, timeout=40 * len(tokens) + 400, what=f"row of {len(tokens)} tokens")
    cycles = round((get_sim_time("ns") - started) / 10)
    await tick(dut, 2)
    return memory.commit(), cycles


def check_requests(requests, *, chunk, row_addr, table_addr, count, what):
    """Row words in chunks of ``chunk`` from ``row_addr`` (the last one shorter), then the
    table entry: exactly the format's bytes, nothing else."""
    expected = [{"addr": row_addr + 4 * first, "words": min(chunk, count - first)}
                for first in range(0, count, chunk)] + [{"addr": table_addr, "words": 2}]
    assert requests == expected, f"{what}: requests {requests}, expected {expected}"


@cocotb.test()
async def golden_rows_under_backpressure(dut):
    ctx = tb_context()
    await start_clock_and_reset(dut)
    chunk, rows = ctx.params["chunk_words"], 0
    memory = WriteMemory(dut, ctx, None, backpressure=0.3)
    for o, streams in random_outputs(ctx, ctx.extra.get("tensors", 24)):
        P, Q, K = o.shape
        checked.case("rows", P)
        memory.image = MemoryImage(base=64 * (rows % 7))
        stride = Q * (K + 1)
        area = Area(memory.image.allocate("output table", 8 * P), P,
                    memory.image.allocate("output words", 4 * P * stride), P * stride)
        table, _ = activation_words(o, numerics_of(ctx))
        for p in range(P):
            row_addr, table_addr = area.words + 4 * p * stride, area.table + 8 * p
            what = f"row {p} of a {list(o.shape)} output"
            requests, _ = await write_row(dut, ctx, memory, streams[p], row_addr=row_addr,
                                          table_addr=table_addr, word_offset=p * stride,
                                          idle=0.3)
            check_requests(requests, chunk=chunk, row_addr=row_addr, table_addr=table_addr,
                           count=int(table[p, 1]), what=what)
            entry = memory.image.read(table_addr, 2, np.uint32, "table entry").tolist()
            assert entry == [p * stride, int(table[p, 1])], f"{what}: table entry {entry}"
            rows += 1
        got = read_activation(memory.image, area, o.shape, "output", numerics_of(ctx))
        bad = np.argwhere(got != o)
        assert not bad.size, f"{list(o.shape)} output: first difference at {bad[0].tolist()}"
        checked.tokens("output values", o.size)
    dut._log.info(f"{rows} rows written and decoded")


@cocotb.test()
async def bench(dut):
    """No idle cycles, no backpressure: a row costs a cycle per data token, marker and column
    word, plus the last request's words (at most a chunk) and a fixed overhead (start, the
    table entry and its request, the idle check)."""
    ctx = tb_context()
    await start_clock_and_reset(dut)
    memory = WriteMemory(dut, ctx, MemoryImage(), backpressure=0.0)
    rng = np.random.default_rng(ctx.seed)
    Q, K, chunk = ctx.params["max_columns"], ctx.params["max_channels"], ctx.params["chunk_words"]
    row = memory.image.allocate("row", 4 * Q * (K + 1))
    table_addr = memory.image.allocate("table", 8)
    for density in (1.0, 0.5, 0.1):
        o = rng.integers(1, 8, (1, Q, K)) * (rng.random((1, Q, K)) < density)
        tokens = o_stream(isos_streams(o, np.ones((K, 1, 1, 1), np.int64),
                                       numerics=numerics_of(ctx)).inputs[0])
        _, cycles = await write_row(dut, ctx, memory, tokens, row_addr=row,
                                    table_addr=table_addr, word_offset=0, idle=0.0)
        words = int(activation_words(o)[0][0, 1])
        figure = {"density": density, "tokens": len(tokens), "words": words, "cycles": cycles,
                  "words_per_cycle": round(words / cycles, 2)}
        dut._log.info(f"bench {figure}")
        column_words = int(np.count_nonzero(np.any(o[0], axis=1)))
        assert cycles <= len(tokens) + column_words + chunk + 8, figure
