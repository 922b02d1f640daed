"""cocotb bench of the WordUnpacker and WordPacker of hw/words.py: random word requests at
word- but not beat-aligned addresses, against a bus model with random latency, idle cycles
and backpressure."""

import random

import cocotb
import numpy as np

from isosceles.golden.memory_image import MemoryImage
from isosceles.tb import checked
from isosceles.tb.streams import (
    StreamDriver,
    StreamMonitor,
    check_tokens,
    start_clock_and_reset,
    tb_context,
    tick,
)

MEMORY_BYTES = 2048


def random_requests(ctx, rng, count):
    """Word requests inside the memory: every start lane and length up to ``max_words``,
    single words included."""
    max_words = ctx.params["max_words"]
    requests = []
    for _ in range(count):
        words = int(rng.choice([1, max_words, rng.integers(1, max_words + 1)]))
        addr = 4 * int(rng.integers(0, MEMORY_BYTES // 4 - words + 1))
        requests.append({"addr": addr, "words": words})
    return requests


def beats_of(request, beat_bytes):
    first = request["addr"] // beat_bytes
    return -(-(request["addr"] + 4 * request["words"]) // beat_bytes) - first


@cocotb.test()
async def unpacker_serves_word_requests(dut):
    ctx = tb_context()
    await start_clock_and_reset(dut)
    rng = np.random.default_rng(ctx.seed)
    pace = random.Random(ctx.seed)
    beat_bytes = ctx.params["data_width"] // 8
    image = MemoryImage()
    image.write(image.allocate("memory", MEMORY_BYTES),
                rng.integers(0, 1 << 32, MEMORY_BYTES // 4, dtype=np.uint64).astype(np.uint32))
    requests = random_requests(ctx, rng, ctx.extra.get("requests", 60))
    checked.case("requests", len(requests))
    bus_requests = StreamMonitor(dut, "req_o", ctx, backpressure=0.3)
    beats = StreamDriver(dut, "beat", ctx, idle=0.3)
    words = StreamMonitor(dut, "word", ctx, backpressure=0.3)

    async def bus():
        for served in range(len(requests)):
            await bus_requests.receive(served + 1, timeout_cycles=1 << 30)
            request = bus_requests.received[served]
            assert request["addr"] % beat_bytes == 0, f"unaligned bus request {request}"
            await tick(dut, pace.randrange(6))
            data = image.data[request["addr"]:request["addr"] + beat_bytes * request["beats"]]
            await beats.send([{"": int.from_bytes(data[at:at + beat_bytes], "little")}
                              for at in range(0, len(data), beat_bytes)])

    cocotb.start_soon(bus())
    await StreamDriver(dut, "req_i", ctx, idle=0.3).send(requests)
    expected = [int(word) for request in requests
                for word in image.read(request["addr"], request["words"], np.uint32, "read")]
    got = await words.receive(len(expected), timeout_cycles=40 * len(expected) + 400)
    check_tokens([word[""] for word in got], expected, "unpacker", "words")
    for index, (request, bus_request) in enumerate(zip(requests, bus_requests.received,
                                                       strict=True)):
        assert bus_request == {"addr": request["addr"] // beat_bytes * beat_bytes,
                               "beats": beats_of(request, beat_bytes)}, (index, bus_request)
    await tick(dut, 20)
    assert len(words.received) == len(expected), "words beyond the requests"
    words.check_rules()
    bus_requests.check_rules()
    dut._log.info(f"{len(requests)} requests, {len(expected)} words checked")


@cocotb.test()
async def packer_writes_word_requests(dut):
    ctx = tb_context()
    await start_clock_and_reset(dut)
    rng = np.random.default_rng(ctx.seed)
    beat_bytes = ctx.params["data_width"] // 8
    requests = random_requests(ctx, rng, ctx.extra.get("requests", 60))
    checked.case("requests", len(requests))
    values = [[int(v) for v in rng.integers(0, 1 << 32, r["words"], dtype=np.uint64)]
              for r in requests]
    bus_requests = StreamMonitor(dut, "req_o", ctx, backpressure=0.3)
    beats = StreamMonitor(dut, "beat", ctx, backpressure=0.3)
    word_driver = StreamDriver(dut, "word", ctx, idle=0.3)
    cocotb.start_soon(word_driver.send([{"": v} for words in values for v in words]))
    await StreamDriver(dut, "req_i", ctx, idle=0.3).send(requests)
    total = sum(beats_of(r, beat_bytes) for r in requests)
    await beats.receive(total, timeout_cycles=40 * total + 400)
    await tick(dut, 20)
    assert len(beats.received) == total, "beats beyond the requests"
    at = 0
    for request, words, bus_request in zip(requests, values, bus_requests.received, strict=True):
        assert bus_request == {"addr": request["addr"] // beat_bytes * beat_bytes,
                               "beats": beats_of(request, beat_bytes)}, bus_request
        written = {}
        for index, beat in enumerate(beats.received[at:at + bus_request["beats"]]):
            data = beat["data"].to_bytes(beat_bytes, "little")
            for byte in range(beat_bytes):
                if beat["strb"] >> byte & 1:
                    written[bus_request["addr"] + index * beat_bytes + byte] = data[byte]
        at += bus_request["beats"]
        expected = {request["addr"] + 4 * index + byte: value.to_bytes(4, "little")[byte]
                    for index, value in enumerate(words) for byte in range(4)}
        assert written == expected, f"request {request}: bytes strobed differ"
        checked.tokens("beats", bus_request["beats"])
    beats.check_rules()
    bus_requests.check_rules()
    dut._log.info(f"{len(requests)} requests, {total} beats checked")


@cocotb.test()
async def bench(dut):
    """No stalls: words per cycle over back-to-back requests of ``max_words`` words."""
    ctx = tb_context()
    await start_clock_and_reset(dut)
    beat_bytes, max_words = ctx.params["data_width"] // 8, ctx.params["max_words"]
    requests = [{"addr": 4 + 4 * max_words * index, "words": max_words} for index in range(8)]
    words = 8 * max_words
    if ctx.params["unit"] == "unpacker":
        bus_requests = StreamMonitor(dut, "req_o", ctx)
        beats = StreamDriver(dut, "beat", ctx)
        out = StreamMonitor(dut, "word", ctx)

        async def bus():
            for served in range(len(requests)):
                await bus_requests.receive(served + 1, timeout_cycles=1 << 30)
                await beats.send([{"": 0}] * bus_requests.received[served]["beats"])
        cocotb.start_soon(bus())
        await StreamDriver(dut, "req_i", ctx).send(requests)
        await out.receive(words)
    else:
        StreamMonitor(dut, "req_o", ctx)
        out = StreamMonitor(dut, "beat", ctx)
        cocotb.start_soon(StreamDriver(dut, "word", ctx).send([{"": 1}] * words))
        await StreamDriver(dut, "req_i", ctx).send(requests)
        await out.receive(sum(beats_of(r, beat_bytes) for r in requests))
    cycles = out.last_transfer - out.first_transfer + 1
    dut._log.info(f"bench {ctx.params['unit']} data_width={ctx.params['data_width']}: "
                  f"{words} words in {cycles} cycles, {words / cycles:.2f} words per cycle")
    # A word a cycle, with at most a cycle lost per request.
    assert cycles <= words + len(requests), cycles
