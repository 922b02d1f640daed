"""cocotb bench of hw/stream_buffer.py: every token in order under stalls, and full throughput."""

import json

import cocotb

from isosceles.tb import checked
from isosceles.tb.streams import (
    StreamDriver,
    StreamMonitor,
    check_tokens,
    start_clock_and_reset,
    tb_context,
)


def random_tokens(ctx, count):
    value_bits = ctx.params["value_bits"]
    low, high = -(1 << (value_bits - 1)), (1 << (value_bits - 1)) - 1
    return [
        {"q": ctx.rng.randrange(64), "value": ctx.rng.randint(low, high), "last": i == count - 1}
        for i in range(count)
    ]


@cocotb.test()
async def stalls_and_backpressure(dut):
    ctx = tb_context()
    await start_clock_and_reset(dut)
    tokens = random_tokens(ctx, 400)
    driver = StreamDriver(dut, "i", ctx, idle=ctx.extra.get("idle", 0.3))
    monitor = StreamMonitor(dut, "o", ctx, backpressure=ctx.extra.get("backpressure", 0.4))
    cocotb.start_soon(driver.send(tokens))
    check_tokens(await monitor.receive(len(tokens)), tokens, "stream buffer", "o")
    checked.case("sequences")


@cocotb.test()
async def bench(dut):
    ctx = tb_context()
    await start_clock_and_reset(dut)
    tokens = random_tokens(ctx, 1000)
    driver = StreamDriver(dut, "i", ctx)
    monitor = StreamMonitor(dut, "o", ctx)
    cocotb.start_soon(driver.send(tokens))
    check_tokens(await monitor.receive(len(tokens)), tokens, "stream buffer", "o")
    checked.case("sequences")
    latency = monitor.first_transfer - driver.first_transfer
    cycles = monitor.last_transfer - driver.first_transfer + 1
    assert latency == 1, f"latency {latency}, expected one register stage"
    assert cycles == len(tokens) + latency, f"{cycles} cycles for {len(tokens)} tokens"
    if ctx.extra.get("bench_out"):
        with open(ctx.extra["bench_out"], "w") as file:
            json.dump({"unit": "stream_buffer", "params": ctx.params, "cases": [{
                "tokens_in": len(tokens), "tokens_out": len(monitor.received), "cycles": cycles,
                "latency": latency}]}, file)
