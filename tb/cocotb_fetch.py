"""cocotb bench of hw/fetch.py: rows of random activations encoded with golden.memory_image,
served by a memory model with random latency, checked against the golden lane stream I."""

import json

import cocotb
import numpy as np
from cocotb.utils import get_sim_time

from isosceles.golden import isos_streams
from isosceles.golden.memory_image import (
    MemoryImage,
    column_word,
    data_word,
    write_activation,
)
from isosceles.golden.numerics import Numerics
from isosceles.tb import checked
from isosceles.tb.memory_model import ReadMemory
from isosceles.tb.streams import (
    StreamMonitor,
    check_tokens,
    start_clock_and_reset,
    tb_context,
    tick,
    wait_idle,
)

_OVERHEAD = 8


def numerics_of(ctx):
    return Numerics(act_bits=ctx.params["act_bits"])


def random_tensors(ctx, count):
    """Activations ``[H, W, C]`` that fit the build: whatever the seed, first a 1-column dense
    tensor, an all-zero one and a full-width dense one at full-scale values, then random
    shapes and densities (0 to 1), each with its golden I streams."""
    rng = np.random.default_rng(ctx.seed)
    columns, channels = ctx.params["max_columns"], ctx.params["max_channels"]
    bits = ctx.params["act_bits"]
    high = (1 << (bits - 1)) - 1
    first = [np.full((2, 1, channels), -high - 1), np.zeros((2, columns, 1), np.int64),
             np.full((1, columns, channels), high)]
    for index in range(len(first) + count):
        if index < len(first):
            i = first[index]
        else:
            H, W = int(rng.integers(1, 5)), int(rng.integers(1, columns + 1))
            C = int(rng.integers(1, channels + 1))
            density = float(rng.choice([0.0, 0.05, 0.3, 1.0, rng.random()]))
            i = rng.integers(-high - 1, high + 1, (H, W, C)) * (rng.random((H, W, C)) < density)
        streams = isos_streams(i, np.ones((i.shape[2], 1, 1, 1), np.int64),
                               numerics=numerics_of(ctx))
        yield i, streams.inputs


async def fetch_row(dut, ctx, memory, out, *, words_addr, count, W):
    """Start one row; wait until the fetcher is idle; its tokens and its requests."""
    tokens, requests = len(out.received), len(memory.requests)
    dut.config.value = ctx.pack("config", {"words_addr": words_addr, "count": count, "W": W})
    dut.start.value = 1
    await tick(dut)
    dut.start.value = 0
    await wait_idle(dut, ctx, timeout=40 * (count + W) + 200, what=f"row of {count} words")
    await tick(dut, 2)
    memory.check()
    out.check_rules()
    return out.received[tokens:], memory.requests[requests:]


@cocotb.test()
async def golden_rows_under_stalls(dut):
    ctx = tb_context()
    await start_clock_and_reset(dut)
    memory = ReadMemory(dut, ctx, None, latency=8, idle=0.3, backpressure=0.3)
    out = StreamMonitor(dut, "o", ctx, backpressure=0.3)
    rows = tokens = 0
    for i, inputs in random_tensors(ctx, ctx.extra.get("tensors", 30)):
        memory.image = MemoryImage(base=64 * int(np.random.default_rng(rows).integers(0, 64)))
        area = write_activation(memory.image, "input", i, numerics_of(ctx))
        table = memory.image.read(area.table, 2 * area.entries, np.uint32, "row table")
        for h, (offset, count) in enumerate(table.reshape(-1, 2).tolist()):
            words_addr = area.words + 4 * offset
            got, requests = await fetch_row(dut, ctx, memory, out, words_addr=words_addr,
                                            count=count, W=i.shape[1])
            what = f"row {h} of a {list(i.shape)} tensor ({count} words)"
            check_tokens(got, inputs[h], what, "I")
            checked.case("rows")
            assert not int(dut.status.value) >> 1, f"{what}: format_error on a golden row"
            # Exactly the row's bytes, in one request (none for an empty row).
            assert requests == ([{"addr": words_addr, "words": count}] if count else []), (
                f"{what}: requests {requests}")
            rows, tokens = rows + 1, tokens + len(got)
    dut._log.info(f"{rows} rows, {tokens} I tokens checked")


def corrupt_rows(W):
    """(name, words) of rows the encoder would never write, for a row of ``W`` (at least 2)
    columns, at least 2 channels and ``act_bits`` below 8."""
    good = [column_word(0), data_word(0, 3), data_word(1, -2), column_word(W - 1),
            data_word(1, 5)]
    return [
        ("data word first", [data_word(0, 1)] + good),
        ("column not increasing", good[:3] + [column_word(0), data_word(0, 1)]),
        ("column >= W", good[:3] + [column_word(W), data_word(0, 1)]),
        ("column reserved bit", good[:3] + [column_word(1) | (1 << 20), data_word(0, 1)]),
        ("data reserved bit", good[:2] + [data_word(1, 1) | (1 << 29)] + good[3:]),
        ("zero value", good[:2] + [1 << 16] + good[3:]),
        ("value beyond act_bits", good[:2] + [data_word(1, 0x7F)] + good[3:]),
        ("channel not increasing", good[:2] + [data_word(0, 1)] + good[3:]),
        ("channel >= max_channels", good[:2] + [data_word(4095, 1)] + good[3:]),
        ("column word with no data", good[:3] + [column_word(1)] + good[3:]),
        ("last word a column word", good[:3] + [column_word(W - 1)]),
    ]


@cocotb.test()
async def corrupt_words_raise_format_error(dut):
    """Each corrupt row sets format_error, takes all its words and still ends with markers
    0 .. W-1; the golden row after it clears the error."""
    ctx = tb_context()
    await start_clock_and_reset(dut)
    memory = ReadMemory(dut, ctx, None, latency=3, idle=0.3, backpressure=0.3)
    out = StreamMonitor(dut, "o", ctx, backpressure=0.3)
    W = ctx.params["max_columns"]
    for name, words in corrupt_rows(W):
        memory.image = MemoryImage()
        address = memory.image.allocate("row", 4 * len(words))
        memory.image.write(address, np.array(words, dtype=np.uint32))
        sent = memory.words_sent
        got, requests = await fetch_row(dut, ctx, memory, out, words_addr=address,
                                        count=len(words), W=W)
        assert int(dut.status.value) >> 1, f"{name}: format_error not raised"
        markers = [(t["w"], t["last"]) for t in got if t["marker"]]
        assert markers == [(w, int(w == W - 1)) for w in range(W)], f"{name}: markers {markers}"
        assert memory.words_sent - sent == len(words), f"{name}: not every word was taken"
        assert requests == [{"addr": address, "words": len(words)}], f"{name}: {requests}"
        good = [column_word(1), data_word(0, 1)]
        memory.image.write(address, np.array(good, dtype=np.uint32))
        got, _ = await fetch_row(dut, ctx, memory, out, words_addr=address, count=2, W=2)
        assert not int(dut.status.value) >> 1, f"after {name}: format_error not cleared"
        check_tokens(got, [{"w": 0, "c": 0, "value": 0, "marker": 1, "last": 0},
                           {"w": 1, "c": 0, "value": 1, "marker": 0, "last": 0},
                           {"w": 1, "c": 0, "value": 0, "marker": 1, "last": 1}],
                     f"after {name}", "I")


@cocotb.test()
async def bench(dut):
    """No stalls, no latency: words in per cycle, from the first word taken to the last marker;
    a row costs one cycle per word and per empty column, plus a fixed overhead (start, the
    request, the model's first word, the last marker and the idle check)."""
    ctx = tb_context()
    await start_clock_and_reset(dut)
    memory = ReadMemory(dut, ctx, None, latency=0, idle=0.0, backpressure=0.0)
    out = StreamMonitor(dut, "o", ctx)
    rng = np.random.default_rng(ctx.seed)
    C, W = ctx.params["max_channels"], ctx.params["max_columns"]
    figures = []
    for density in (1.0, 0.5, 0.1):
        i = rng.integers(1, 8, (1, W, C)) * (rng.random((1, W, C)) < density)
        memory.image = MemoryImage()
        area = write_activation(memory.image, "input", i)
        count = int(memory.image.read(area.table, 2, np.uint32, "row table")[1])
        started = get_sim_time("ns")
        got, _ = await fetch_row(dut, ctx, memory, out, words_addr=area.words, count=count, W=W)
        cycles = round((get_sim_time("ns") - started) / 10)
        empty = int(np.count_nonzero(~np.any(i[0], axis=1)))
        figures.append({"density": density, "words": count, "empty_columns": empty,
                        "tokens": len(got), "cycles": cycles,
                        "words_per_cycle": round(count / cycles, 2)})
        dut._log.info(f"bench {figures[-1]}")
        assert cycles <= count + empty + _OVERHEAD, figures[-1]
    if ctx.extra.get("bench_out"):
        with open(ctx.extra["bench_out"], "w") as file:
            json.dump({"unit": "row_fetcher", "params": ctx.params, "cases": figures}, file)
