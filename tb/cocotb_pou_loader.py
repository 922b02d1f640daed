"""cocotb bench of hw/pou_loader.py: random POU tables written with golden.memory_image, served
by a memory model with random latency; the parameter writes checked entry by entry."""

import cocotb
import numpy as np

from isosceles.golden.memory_image import MemoryImage, write_pou
from isosceles.golden.numerics import Numerics
from isosceles.golden.pou import PouParams
from isosceles.tb import checked
from isosceles.tb.cocotb_filter_loader import WritePortMonitor
from isosceles.tb.memory_model import ReadMemory
from isosceles.tb.streams import check_tokens, start_clock_and_reset, tb_context, tick, wait_idle


def numerics_of(ctx):
    p = ctx.params
    return Numerics(bias_bits=p["bias_bits"], mult_bits=p["mult_bits"],
                    shift_bits=p["shift_bits"])


def random_pou(ctx, rng, K):
    """Parameters spanning every field's whole range, the extremes included."""
    numerics = numerics_of(ctx)
    (bias_low, bias_high), (_, mult_high), (_, shift_high) = (
        numerics.bias_range, numerics.mult_range, numerics.shift_range)
    bias = rng.choice([bias_low, bias_high, 0, *rng.integers(bias_low, bias_high + 1, 4)], K)
    mult = rng.choice([0, mult_high, *rng.integers(0, mult_high + 1, 4)], K)
    shift = rng.choice([0, shift_high, *rng.integers(0, shift_high + 1, 4)], K)
    return PouParams.make(bias, mult, shift, relu=bool(rng.integers(2)), numerics=numerics)


async def load(dut, ctx, memory, address, K):
    dut.config.value = ctx.pack("config", {"table_addr": address, "K": K})
    dut.start.value = 1
    await tick(dut)
    dut.start.value = 0
    await wait_idle(dut, ctx, timeout=40 * K + 200, what="POU load")
    memory.check()


@cocotb.test()
async def golden_tables_under_stalls(dut):
    ctx = tb_context()
    await start_clock_and_reset(dut)
    rng = np.random.default_rng(ctx.seed)
    memory = ReadMemory(dut, ctx, None, latency=6, idle=0.3, backpressure=0.3)
    writes = WritePortMonitor(dut, ctx, "param_write")
    channels = ctx.params["max_channels"]
    for index in range(ctx.extra.get("tables", 12)):
        K = [1, channels][index] if index < 2 else int(rng.integers(1, channels + 1))
        pou = random_pou(ctx, rng, K)
        checked.case("tables")
        memory.image = MemoryImage(base=64 * index)
        address = write_pou(memory.image, "POU", pou, numerics_of(ctx))
        first, requests = len(writes.writes), len(memory.requests)
        await load(dut, ctx, memory, address, K)
        expected = [(k, {"bias": b, "mult": m, "shift": s})
                    for k, (b, m, s) in enumerate(zip(pou.bias, pou.mult, pou.shift,
                                                      strict=True))]
        check_tokens(writes.writes[first:], expected, f"K={K}", "parameter writes")
        assert memory.requests[requests:] == [{"addr": address, "words": 2 * K}]
        assert not ctx.unpack("status", int(dut.status.value))["format_error"]


@cocotb.test()
async def bad_entries_raise_format_error(dut):
    """An entry with a reserved bit, or a field beyond the numerics, sets format_error; no
    entry is written from it on, every word is taken, and the next good table clears it.
    Each case flips the first bit beyond its field: set for a reserved bit or an unsigned field,
    and for the signed bias it breaks the sign extension whatever the bias's sign."""
    ctx = tb_context()
    await start_clock_and_reset(dut)
    rng = np.random.default_rng(ctx.seed)
    memory = ReadMemory(dut, ctx, None, latency=3, idle=0.3, backpressure=0.3)
    writes = WritePortMonitor(dut, ctx, "param_write")
    numerics = numerics_of(ctx)
    cases = {"reserved bit 62": 1 << 62, "bias beyond bias_bits": 1 << numerics.bias_bits,
             "mult beyond mult_bits": 1 << (32 + numerics.mult_bits),
             "shift beyond shift_bits": 1 << (56 + numerics.shift_bits)}
    for name, bit in cases.items():
        pou = random_pou(ctx, rng, 4)
        memory.image = MemoryImage()
        address = write_pou(memory.image, "POU", pou, numerics)
        entry = int(memory.image.read(address + 16, 1, np.uint64, "entry")[0])
        memory.image.write(address + 16, np.array([entry ^ bit], np.uint64))
        first, sent = len(writes.writes), memory.words_sent
        await load(dut, ctx, memory, address, 4)
        assert ctx.unpack("status", int(dut.status.value))["format_error"], name
        assert [k for k, _ in writes.writes[first:]] == [0, 1], f"{name}: {writes.writes}"
        assert memory.words_sent - sent == 8, f"{name}: words left behind"
        await load(dut, ctx, memory, address, 2)
        assert not ctx.unpack("status", int(dut.status.value))["format_error"], name
