"""cocotb bench of hw/heap.py as a priority queue, checked against Python's heapq.

Operations are a seeded random sequence that stays legal (no INSERT when full, no EXTRACT or
REPLACE when empty) and alternates fill-heavy and drain-heavy phases, so the heap runs into both
edges; keys and payloads come from small ranges, so equal keys and equal entries are common.
Every result on ``o`` is compared with ``heapq`` on ``(key, payload)`` tuples, and a checker
compares ``count``, ``empty`` and ``full`` with the model on every cycle, and ``min`` on every
cycle the heap is not ``busy``.
``illegal_operations_wait`` offers the illegal operations and checks that they wait.
"""

import heapq
import json

import cocotb
from cocotb.triggers import ReadOnly, RisingEdge

from isosceles.hw.heap import HeapOp
from isosceles.tb import checked
from isosceles.tb.streams import (
    StreamDriver,
    StreamMonitor,
    check_tokens,
    start_clock_and_reset,
    tb_context,
)


def random_operations(ctx, count):
    """``count`` legal operations as token dicts for port ``i``, phase by phase biased towards
    filling or draining."""
    rng, capacity = ctx.rng, ctx.params["capacity"]
    keys, payloads = 1 << min(ctx.params["key_bits"], 3), 1 << min(ctx.params["payload_bits"], 2)
    operations, size, filling = [], 0, True
    while len(operations) < count:
        if size == capacity or rng.random() < 0.04:
            filling = False
        if size == 0 or rng.random() < 0.04:
            filling = True
        weights = {HeapOp.INSERT: 4 if filling else 1, HeapOp.EXTRACT: 1 if filling else 4,
                   HeapOp.REPLACE: 1}
        if size == capacity:
            del weights[HeapOp.INSERT]
        if size == 0:
            del weights[HeapOp.EXTRACT], weights[HeapOp.REPLACE]
        op = rng.choices(list(weights), list(weights.values()))[0]
        size += {HeapOp.INSERT: 1, HeapOp.EXTRACT: -1, HeapOp.REPLACE: 0}[op]
        operations.append({"op": op.value, "key": rng.randrange(keys),
                           "payload": rng.randrange(payloads)})
    return operations


def apply(model, operation):
    """Apply ``operation`` to the heapq list ``model``; return the entry it removed, if any."""
    op, entry = HeapOp(operation["op"]), (operation["key"], operation["payload"])
    if op == HeapOp.INSERT:
        heapq.heappush(model, entry)
        return None
    if op == HeapOp.EXTRACT:
        return heapq.heappop(model)
    return heapq.heapreplace(model, entry)


def expected_results(operations):
    model, results = [], []
    for operation in operations:
        removed = apply(model, operation)
        if removed is not None:
            results.append({"key": removed[0], "payload": removed[1]})
    return results


async def check_status(dut, ctx, stop, counted):
    """Every cycle: the status outputs against a heapq model fed with the accepted operations.
    Returns how many of the first ``counted`` operations were accepted on a full heap and left
    the heap empty (the final drain, which always empties it, does not count)."""
    model, capacity = [], ctx.params["capacity"]
    edges = {"at_full": 0, "to_empty": 0}
    accepted = 0
    while not stop.done:
        await ReadOnly()
        count = int(dut.count.value)
        assert count == len(model), f"count {count}, model holds {len(model)}"
        assert int(dut.empty.value) == (not model) and int(dut.full.value) == (
            len(model) == capacity), f"empty/full wrong at count {count}"
        if model and not int(dut.busy.value):
            least = ctx.unpack("min", int(dut.min.value))
            assert (least["key"], least["payload"]) == model[0], f"min {least} != {model[0]}"
        if dut.i__valid.value and dut.i__ready.value:
            counts = accepted < counted
            edges["at_full"] += counts and len(model) == capacity
            apply(model, ctx.unpack("i", int(dut.i__payload.value)))
            edges["to_empty"] += counts and not model
            accepted += 1
        await RisingEdge(dut.clk)
    return edges


class _Flag:
    done = False


async def run_operations(dut, ctx, operations, *, idle, backpressure):
    """Drive ``operations`` and then the EXTRACTs that drain the heap, check every result;
    return (driver, monitor)."""
    stop = _Flag()
    checker = cocotb.start_soon(check_status(dut, ctx, stop, counted=len(operations)))
    operations = operations + drain(operations)
    expected = expected_results(operations)
    driver = StreamDriver(dut, "i", ctx, idle=idle)
    monitor = StreamMonitor(dut, "o", ctx, backpressure=backpressure)
    await driver.send(operations)
    got = await monitor.receive(len(expected))
    for _ in range(3):
        await RisingEdge(dut.clk)
    assert len(monitor.received) == len(expected), "results after the last operation's"
    monitor.stop()
    stop.done = True
    edges = await checker
    await RisingEdge(dut.clk)  # leave the read-only phase the checker ended in
    assert edges["at_full"] and edges["to_empty"], f"the operations missed an edge: {edges}"
    check_tokens(got, expected, "heap against heapq", "result")
    assert int(dut.count.value) == 0 and int(dut.empty.value), "heap not empty after the drain"
    return driver, monitor


@cocotb.test()
async def priority_queue_vs_heapq(dut):
    """Random legal operations under random idle cycles and backpressure, then back to back."""
    ctx = tb_context()
    await start_clock_and_reset(dut)
    for idle, backpressure in ((0.3, 0.4), (0.0, 0.7), (0.6, 0.0), (0.0, 0.0)):
        operations = random_operations(ctx, ctx.extra.get("operations", 600))
        checked.case("operations", len(operations))
        await run_operations(dut, ctx, operations, idle=idle, backpressure=backpressure)


def drain(operations):
    """EXTRACT operations that empty the heap after ``operations``."""
    size = sum({HeapOp.INSERT.value: 1, HeapOp.EXTRACT.value: -1}.get(o["op"], 0)
               for o in operations)
    return [{"op": HeapOp.EXTRACT.value, "key": 0, "payload": 0}] * size


async def offer_refused(dut, ctx, operation, what, cycles=4):
    """Offer ``operation`` on ``i`` for ``cycles`` cycles, expecting it never to be taken, then
    withdraw it (a probe of the DUT's ``ready``, not a stream the DUT must finish)."""
    dut.i__payload.value = ctx.pack("i", operation)
    dut.i__valid.value = 1
    for _ in range(cycles):
        await ReadOnly()
        assert not int(dut.i__ready.value), f"{what} was accepted"
        await RisingEdge(dut.clk)
    dut.i__valid.value = 0


@cocotb.test()
async def illegal_operations_wait(dut):
    """EXTRACT and REPLACE wait on an empty heap, INSERT on a full one; the heap is unchanged."""
    ctx = tb_context()
    await start_clock_and_reset(dut)
    capacity = ctx.params["capacity"]
    for op in (HeapOp.EXTRACT, HeapOp.REPLACE):
        await offer_refused(dut, ctx, {"op": op.value, "key": 1, "payload": 1},
                            f"{op.name} on an empty heap")
    assert int(dut.empty.value) and int(dut.count.value) == 0
    fill = [{"op": HeapOp.INSERT.value, "key": ctx.rng.randrange(1 << ctx.params["key_bits"]),
             "payload": 0} for _ in range(capacity)]
    await StreamDriver(dut, "i", ctx).send(fill)
    await RisingEdge(dut.clk)
    assert int(dut.full.value) and int(dut.count.value) == capacity
    await offer_refused(dut, ctx, {"op": HeapOp.INSERT.value, "key": 0, "payload": 1},
                        "INSERT on a full heap")
    assert int(dut.count.value) == capacity
    monitor = StreamMonitor(dut, "o", ctx)
    await StreamDriver(dut, "i", ctx).send(drain(fill))
    got = await monitor.receive(capacity)
    monitor.stop()
    assert got == expected_results(fill + drain(fill)), "the refused operations changed the heap"


@cocotb.test()
async def bench(dut):
    """No stalls: one operation enters every other cycle, results checked as above."""
    ctx = tb_context()
    await start_clock_and_reset(dut)
    operations = random_operations(ctx, 2000)
    driver, monitor = await run_operations(dut, ctx, operations, idle=0.0, backpressure=0.0)
    operations += drain(operations)
    cycles = driver.last_transfer - driver.first_transfer + 1
    assert cycles == 2 * len(operations) - 1, (
        f"{len(operations)} operations took {cycles} cycles")
    # Without stalls operation j enters in cycle first_transfer + 2 * j.
    first_result = next(j for j, o in enumerate(operations) if o["op"] != HeapOp.INSERT.value)
    latency = monitor.first_transfer - (driver.first_transfer + 2 * first_result)
    assert latency == 1, f"result {latency} cycles after its operation"
    figures = {"note": "random operations, one offered every cycle", "tokens_in": len(operations),
               "elements": len(operations),
               "tokens_out": len(monitor.received), "cycles": cycles, "latency": latency,
               "elements_per_cycle": len(operations) / cycles}
    if ctx.extra.get("bench_out"):
        with open(ctx.extra["bench_out"], "w") as file:
            json.dump({"unit": "heap", "params": ctx.params, "cases": [figures]}, file)
