"""cocotb bench of hw/queue.py: golden lane streams of several layers, one per context.

A cycle-accurate reference (:class:`QueueModel`) watches every port on every cycle: it checks
``occupancy`` against its per-context counts, that ``i.ready`` is high exactly when the context
named by the offered token has room (so no push is taken into a full context, and none is
refused into one with room), and ``config_error`` against its own judgement of every
``configure``. Each context's output is checked token by token, in order, against the stream
pushed into it; the stream monitors check the transfer rules of every ``o[c]``.
"""

import json
from collections import deque

import cocotb
import numpy as np
from cocotb.triggers import ReadOnly, RisingEdge

from isosceles.golden import PouParams, isos_streams
from isosceles.golden.numerics import Numerics
from isosceles.tb import checked
from isosceles.tb.streams import (
    StreamDriver,
    StreamMonitor,
    check_tokens,
    start_clock_and_reset,
    tb_context,
)

TIMEOUT_CYCLES = 60_000


def push_fields(c, token):
    """The fields of push port ``i`` carrying ``token`` into context ``c``."""
    return {"ctx": c, **{f"data.{name}": value for name, value in token.items()}}


class QueueModel:
    """Reference of the partition in force and of every context's occupancy, checked against
    the DUT on every cycle (at ``ReadOnly``, before the clock edge that performs the cycle's
    transfers)."""

    def __init__(self, dut, ctx):
        self._dut, self._ctx = dut, ctx
        self.contexts, self.depth = ctx.params["contexts"], ctx.params["depth"]
        share = self.depth // self.contexts
        self.regions = [(c * share, share) for c in range(self.contexts)]  # after reset
        self.occupancy = [0] * self.contexts
        self.config_error = 0
        self.cycle = 0
        self.full_waits = 0  # cycles a token waited on a full context
        self.start_round()
        self._task = cocotb.start_soon(self._watch())

    @property
    def capacity(self):
        return [capacity for _, capacity in self.regions]

    def start_round(self):
        """Reset the per-round figures: transfer cycles and the largest occupancies."""
        self.max_occupancy = list(self.occupancy)
        self.first_push = self.first_pop = self.last_pop = None
        self.last_pop_of = [None] * self.contexts
        self.pushes = self.pops = 0

    def accepts(self, regions):
        """Whether ``configure`` with ``regions`` is accepted now: queue empty, every region
        inside the memory, nonempty regions disjoint."""
        if any(self.occupancy):
            return False
        if any(base + capacity > self.depth for base, capacity in regions):
            return False
        live = [(base, base + capacity) for base, capacity in regions if capacity]
        return all(a_end <= b_base or b_end <= a_base
                   for index, (a_base, a_end) in enumerate(live)
                   for b_base, b_end in live[index + 1:])

    async def _watch(self):
        dut, ctx = self._dut, self._ctx
        while True:
            await ReadOnly()
            occupancy = ctx.unpack("occupancy", int(dut.occupancy.value))
            got = [occupancy[str(c)] for c in range(self.contexts)]
            assert got == self.occupancy, (
                f"cycle {self.cycle}: occupancy {got}, expected {self.occupancy}")
            assert int(dut.config_error.value) == self.config_error, (
                f"cycle {self.cycle}: config_error {int(dut.config_error.value)}, "
                f"expected {self.config_error}")
            configure = bool(int(dut.configure.value))
            if int(dut.i__valid.value):
                c = ctx.unpack("i", int(dut.i__payload.value))["ctx"]
                room = c < self.contexts and self.occupancy[c] < self.capacity[c]
                ready = bool(int(dut.i__ready.value))
                assert ready == (room and not configure), (
                    f"cycle {self.cycle}: i.ready {int(ready)} for a token of context {c} with "
                    f"occupancy {self.occupancy[c] if c < self.contexts else '-'} of capacity "
                    f"{self.capacity[c] if c < self.contexts else '-'}"
                    f"{' in a configure cycle' if configure else ''}")
                if ready:
                    self.occupancy[c] += 1
                    self.pushes += 1
                    if self.first_push is None:
                        self.first_push = self.cycle
                elif not configure:
                    self.full_waits += 1
            for c in range(self.contexts):
                if int(getattr(dut, f"o__{c}__valid").value) and int(
                        getattr(dut, f"o__{c}__ready").value):
                    assert self.occupancy[c] > 0, f"cycle {self.cycle}: context {c} popped empty"
                    self.occupancy[c] -= 1
                    self.pops += 1
                    self.last_pop = self.last_pop_of[c] = self.cycle
                    if self.first_pop is None:
                        self.first_pop = self.cycle
            if configure:
                config = ctx.unpack("config", int(dut.config.value))
                regions = [(config[f"{c}.base"], config[f"{c}.capacity"])
                           for c in range(self.contexts)]
                accepted = self.accepts(regions)
                self.config_error = int(not accepted)
                if accepted:
                    self.regions = regions
            self.max_occupancy = [max(a, b) for a, b in zip(self.max_occupancy, self.occupancy,
                                                            strict=True)]
            await RisingEdge(dut.clk)
            self.cycle += 1

    def check(self):
        """Raise the mismatch the watcher found, if any."""
        if self._task.done():
            self._task.result()


async def configure(dut, ctx, model, regions, *, accept):
    """Apply ``regions`` [(base, capacity)] with a ``configure`` pulse; ``accept`` is the
    outcome the test intends (the model checks the DUT's ``config_error`` against its own
    judgement)."""
    assert model.accepts(regions) == accept, (regions, model.occupancy)
    dut.config.value = ctx.pack("config", {
        f"{c}.{name}": value for c, region in enumerate(regions)
        for name, value in zip(("base", "capacity"), region, strict=True)})
    dut.configure.value = 1
    await RisingEdge(dut.clk)
    dut.configure.value = 0
    await RisingEdge(dut.clk)
    await ReadOnly()
    model.check()
    assert int(dut.config_error.value) == (not accept), f"configure {regions}"
    await RisingEdge(dut.clk)


def random_partition(rng, kind, contexts, depth):
    """Regions [(base, capacity)] of one kind: ``equal`` shares, ``unequal`` random sizes placed
    in random order with gaps, ``capacity1`` one entry each, ``one_takes_all`` the whole memory
    for one context, ``subset`` a few contexts sharing the memory and the others empty."""
    if kind == "equal":
        share = depth // contexts
        return [(c * share, share) for c in range(contexts)]
    if kind == "one_takes_all":
        owner = int(rng.integers(contexts))
        return [(0, depth if c == owner else 0) for c in range(contexts)]
    if kind == "capacity1":
        capacities = [1] * contexts
    elif kind == "unequal":
        weights = rng.random(contexts) ** 2 + 0.02
        usable = int(rng.integers(depth * 3 // 4, depth + 1))
        capacities = [max(1, int(w / weights.sum() * (usable - contexts))) for w in weights]
    elif kind == "subset":
        chosen = set(rng.choice(contexts, int(rng.integers(1, max(2, contexts))),
                                replace=False).tolist())
        weights = rng.random(contexts) + 0.1
        capacities = [max(1, int(weights[c] / sum(weights[d] for d in chosen) * depth))
                      if c in chosen else 0 for c in range(contexts)]
    else:
        raise ValueError(kind)
    # Random order in memory, the free entries spread as random gaps between the regions.
    gaps = rng.multinomial(depth - sum(capacities), np.ones(contexts + 1) / (contexts + 1))
    regions, address = [None] * contexts, 0
    for gap, c in zip(gaps, rng.permutation(contexts), strict=False):
        address += int(gap)
        regions[c] = (address, capacities[c])
        address += capacities[c]
    # An empty region's base is irrelevant: put it anywhere in the memory.
    return [region if region[1] else (int(rng.integers(depth)), 0) for region in regions]


def golden_lane_stream(rng, params):
    """A lane stream of a random sparse layer from the golden model: the input ``I`` of a lane,
    or the output ``O`` of a row as the next layer reads it (``q -> w``, ``k -> c``)."""
    numerics = Numerics()
    low, high = numerics.act_range
    max_channels, max_columns = params["max_channels"], params["max_columns"]
    R = int(rng.choice([1, 3]))
    H, W = int(rng.integers(R, 6)), int(rng.integers(max(R, 3), min(12, max_columns) + 1))
    C, K = (int(rng.integers(1, min(6, max_channels) + 1)) for _ in range(2))
    i = rng.integers(low, high + 1, (H, W, C)) * (rng.random((H, W, C)) < rng.random())
    f = rng.integers(-100, 101, (C, R, K, R)) * (rng.random((C, R, K, R)) < 0.5)
    if rng.random() < 0.5:
        s = isos_streams(i, f, padding=R // 2, numerics=numerics)
        return s.inputs[int(rng.integers(H))]
    pou = PouParams.make(rng.integers(-200, 200, K), rng.integers(1, 200, K),
                         rng.integers(6, 11, K), numerics=numerics)
    s = isos_streams(i, f, padding=R // 2, numerics=numerics, pou=pou)
    row = s.outputs[int(rng.integers(s.geometry.P))]
    return [{"w": t["q"], "c": t["k"], "value": t["value"], "marker": t["marker"],
             "last": t["last"]} for t in row]


def interleave(rng, streams):
    """One push order of all ``streams`` {context: tokens}, each context's tokens in order."""
    pending = {c: deque(tokens) for c, tokens in streams.items() if tokens}
    order = []
    while pending:
        contexts = sorted(pending)
        weights = np.array([len(pending[c]) for c in contexts], dtype=float)
        c = contexts[int(rng.choice(len(contexts), p=weights / weights.sum()))]
        order.append(push_fields(c, pending[c].popleft()))
        if not pending[c]:
            del pending[c]
    return order


async def produce_with_room(dut, ctx, model, streams, *, idle, rng):
    """A producer that never blocks: each cycle it offers the next token of a random context
    that has room by the ``occupancy`` output (``model.occupancy``, which the model checks
    equal to it every cycle), so every offered token must be taken at once."""
    pending = {c: deque(tokens) for c, tokens in streams.items() if tokens}
    while pending:
        room = [c for c in sorted(pending) if model.occupancy[c] < model.capacity[c]]
        if not room or (idle and rng.random() < idle):
            dut.i__valid.value = 0
            await RisingEdge(dut.clk)
            continue
        c = room[int(rng.integers(len(room)))]
        dut.i__valid.value = 1
        dut.i__payload.value = ctx.pack("i", push_fields(c, pending[c][0]))
        await ReadOnly()
        assert int(dut.i__ready.value), f"context {c} had room but refused a token"
        await RisingEdge(dut.clk)
        pending[c].popleft()
        if not pending[c]:
            del pending[c]
    dut.i__valid.value = 0


async def run_round(dut, ctx, model, streams, *, producer, idle, backpressure, stall=0, rng):
    """Push ``streams`` {context: tokens} and check every context's output, in order.

    ``producer``: ``"blind"`` pushes a fixed random interleaving (a token for a full context
    holds back the ones behind it) or ``"with_room"`` (:func:`produce_with_room`).
    ``backpressure[c]``: the probability that context ``c``'s consumer is not ready. ``stall``:
    cycles during which no consumer is ready at first, so that contexts fill up.
    """
    contexts = model.contexts
    model.start_round()
    checked.case("rounds")

    def monitors_with(rates):
        return [StreamMonitor(dut, f"o__{c}", ctx, backpressure=rates[c])
                for c in range(contexts)]

    monitors = monitors_with([1.0] * contexts if stall else backpressure)
    if producer == "blind":
        task = cocotb.start_soon(StreamDriver(dut, "i", ctx, idle=idle).send(
            interleave(rng, streams)))
    else:
        task = cocotb.start_soon(produce_with_room(dut, ctx, model, streams, idle=idle, rng=rng))
    received = [[] for _ in range(contexts)]
    if stall:
        for _ in range(stall):
            await RisingEdge(dut.clk)
        # A producer that offers only tokens with room goes on until every context is full or
        # has all its tokens.
        for _ in range(TIMEOUT_CYCLES if producer == "with_room" else 0):
            if all(model.occupancy[c] >= min(model.capacity[c], len(streams.get(c, [])))
                   for c in range(contexts)):
                break
            model.check()
            await RisingEdge(dut.clk)
        filled = list(model.occupancy)
        for c, monitor in enumerate(monitors):
            monitor.stop()
            received[c] += monitor.received
        monitors = monitors_with(backpressure)
    else:
        filled = None
    expected = [streams.get(c, []) for c in range(contexts)]
    for _ in range(TIMEOUT_CYCLES):
        if all(len(received[c]) + len(monitors[c].received) >= len(expected[c])
               for c in range(contexts)) and task.done():
            break
        model.check()
        for monitor in monitors:
            monitor.check_rules()
        if task.done():
            task.result()
        await RisingEdge(dut.clk)
    else:
        counts = [len(received[c]) + len(monitors[c].received) for c in range(contexts)]
        raise AssertionError(f"round timed out after {TIMEOUT_CYCLES} cycles: received "
                             f"{counts} of {[len(e) for e in expected]}; occupancy "
                             f"{model.occupancy}")
    for _ in range(4):  # nothing more may come out
        await RisingEdge(dut.clk)
    for c, monitor in enumerate(monitors):
        monitor.stop()
        received[c] += monitor.received
    model.check()
    for c in range(contexts):
        check_tokens(received[c], expected[c], f"context {c}", "o")
    assert model.occupancy == [0] * contexts, model.occupancy
    return filled


def check_filled(model, streams, filled):
    """After a stall with a producer that offers only tokens with room, every context holds
    as many tokens as its capacity allows (the partition in force, exactly)."""
    for c in range(model.contexts):
        want = min(model.capacity[c], len(streams.get(c, [])))
        assert filled[c] == want, (f"context {c} filled to {filled[c]} during the stall, "
                                   f"expected {want} (capacity {model.capacity[c]})")


def streams_for(rng, params, capacities):
    """A golden lane stream for every context with room, none for the others."""
    return {c: golden_lane_stream(rng, params) for c, capacity in enumerate(capacities)
            if capacity}


@cocotb.test()
async def random_traffic(dut):
    """Partitions of every kind, blind and room-aware producers, idle cycles and backpressure."""
    ctx = tb_context()
    rng = np.random.default_rng(ctx.seed)
    await start_clock_and_reset(dut)
    model = QueueModel(dut, ctx)
    contexts, depth = model.contexts, model.depth
    # "unchanged" keeps the partition in force: the one after reset in the first round.
    kinds = ["unchanged", "equal", "unequal", "capacity1", "one_takes_all", "subset"]
    for round_ in range(ctx.extra.get("rounds", 12)):
        kind = kinds[round_ % len(kinds)]
        if kind != "unchanged":
            await configure(dut, ctx, model, random_partition(rng, kind, contexts, depth),
                            accept=True)
        # Blind pushes into one-entry contexts, and a stall in every equal partition, make
        # tokens wait on full contexts in every run.
        producer = "blind" if kind == "capacity1" else ["blind", "with_room"][int(
            rng.integers(2))]
        idle = float(rng.choice([0.0, 0.3, 0.6]))
        backpressure = [float(rng.choice([0.0, 0.2, 0.5, 0.8])) for _ in range(contexts)]
        stall = 40 if kind == "equal" else int(rng.choice([0, 0, 40]))
        streams = streams_for(rng, ctx.params, model.capacity)
        dut._log.info(f"round {round_}: {kind} {model.regions}, {producer} producer, "
                      f"idle {idle}, backpressure {backpressure}, stall {stall}, tokens "
                      f"{ {c: len(s) for c, s in streams.items()} }")
        filled = await run_round(dut, ctx, model, streams, producer=producer, idle=idle,
                                 backpressure=backpressure, stall=stall, rng=rng)
        if stall and producer == "with_room":
            check_filled(model, streams, filled)
        dut._log.info(f"round {round_}: largest occupancies {model.max_occupancy}")
    assert model.full_waits > 0, "no token ever waited on a full context"
    dut._log.info(f"{model.full_waits} cycles with a token waiting on a full context")


@cocotb.test()
async def stalled_context(dut):
    """A context whose consumer stops fills up; the other contexts keep flowing through it,
    and a token offered for it waits (not ready) until its consumer takes again."""
    ctx = tb_context()
    rng = np.random.default_rng(ctx.seed)
    await start_clock_and_reset(dut)
    model = QueueModel(dut, ctx)
    contexts = model.contexts
    for regions in ([(c * 4, 4) for c in range(contexts)],
                    [(0, 1)] + [(1 + 6 * c, 6) for c in range(contexts - 1)]):
        await configure(dut, ctx, model, regions, accept=True)
        stalled = int(rng.integers(contexts))
        streams = {c: golden_lane_stream(rng, ctx.params) for c in range(contexts)}
        while len(streams[stalled]) <= model.capacity[stalled]:
            streams[stalled] = golden_lane_stream(rng, ctx.params)
        monitors = [StreamMonitor(dut, f"o__{c}", ctx,
                                  backpressure=1.0 if c == stalled else 0.3)
                    for c in range(contexts)]
        model.start_round()
        producer = cocotb.start_soon(produce_with_room(dut, ctx, model, streams, idle=0.2,
                                                       rng=rng))
        for _ in range(TIMEOUT_CYCLES):
            if all(len(monitors[c].received) == len(streams[c]) for c in range(contexts)
                   if c != stalled):
                break
            model.check()
            await RisingEdge(dut.clk)
        else:
            raise AssertionError("the contexts that were not stalled did not finish")
        assert model.occupancy[stalled] == model.capacity[stalled], model.occupancy
        assert not monitors[stalled].received
        assert not producer.done(), "the stalled context took more than its capacity"
        producer.cancel()
        pushed = model.pushes

        # Offered blindly, the stalled context's next token waits while the context is full.
        remaining = streams[stalled][model.capacity[stalled]:]
        driver = StreamDriver(dut, "i", ctx)
        sending = cocotb.start_soon(driver.send([push_fields(stalled, t) for t in remaining]))
        for _ in range(20):
            await RisingEdge(dut.clk)
        assert model.pushes == pushed and driver.sent == 0, "a full context took a token"
        monitors[stalled].stop()
        monitor = StreamMonitor(dut, f"o__{stalled}", ctx, backpressure=0.3)
        received = await monitor.receive(len(streams[stalled]))
        await sending
        monitor.stop()
        for c in range(contexts):
            if c != stalled:
                monitors[c].stop()
                assert monitors[c].received == streams[c], f"context {c}"
        assert received == streams[stalled], f"stalled context {stalled}"
        model.check()


@cocotb.test()
async def reconfiguration(dut):
    """Refused partitions (overlapping, past the memory, queue not empty) leave the partition
    in force; accepted ones take effect; the queue is reused across them."""
    ctx = tb_context()
    rng = np.random.default_rng(ctx.seed)
    await start_clock_and_reset(dut)
    model = QueueModel(dut, ctx)
    contexts, depth = model.contexts, model.depth

    async def fill_and_check():
        streams = {c: golden_lane_stream(rng, ctx.params) for c in range(contexts)
                   if model.capacity[c]}
        backpressure = [float(rng.choice([0.0, 0.4])) for _ in range(contexts)]
        filled = await run_round(dut, ctx, model, streams, producer="with_room", idle=0.1,
                                 backpressure=backpressure, stall=3 * depth, rng=rng)
        check_filled(model, streams, filled)

    await fill_and_check()  # the partition after reset
    unequal = random_partition(rng, "unequal", contexts, depth)
    await configure(dut, ctx, model, unequal, accept=True)
    await fill_and_check()

    overlapping = [(0, 8), (7, 8)] + [(16 + 4 * c, 4) for c in range(contexts - 2)]
    past_end = [(depth - 3, 4)] + [(4 * c, 4) for c in range(contexts - 1)]
    for refused in (overlapping, past_end):
        await configure(dut, ctx, model, refused, accept=False)
        assert model.regions == unequal
        await fill_and_check()

    # Not empty: a context holds tokens (its consumer stalled) and the partition stays.
    holder = next(c for c in range(contexts) if model.capacity[c] >= 2)
    monitor = StreamMonitor(dut, f"o__{holder}", ctx, backpressure=1.0)
    stream = golden_lane_stream(rng, ctx.params)[:2]
    await StreamDriver(dut, "i", ctx).send([push_fields(holder, t) for t in stream])
    equal = random_partition(rng, "equal", contexts, depth)
    await configure(dut, ctx, model, equal, accept=False)
    monitor.stop()
    monitor = StreamMonitor(dut, f"o__{holder}", ctx)
    assert await monitor.receive(len(stream)) == stream
    monitor.stop()

    # A zero-capacity region may lie anywhere, even inside another one.
    shared = [(0, depth - 2)] + [(5, 0)] * (contexts - 2) + [(depth - 2, 2)]
    for regions in (equal, random_partition(rng, "capacity1", contexts, depth), shared):
        await configure(dut, ctx, model, regions, accept=True)
        await fill_and_check()

    # A context of capacity 0, or past the last context, takes no token. (A probe: the token is
    # withdrawn untaken, which a real producer may not do.)
    token = golden_lane_stream(rng, ctx.params)[0]
    model.start_round()
    for c in (1, (1 << (contexts - 1).bit_length()) - 1):
        waits = model.full_waits
        dut.i__payload.value = ctx.pack("i", push_fields(c, token))
        dut.i__valid.value = 1
        for _ in range(8):
            await RisingEdge(dut.clk)
        dut.i__valid.value = 0
        await RisingEdge(dut.clk)
        model.check()
        assert model.pushes == 0 and model.full_waits == waits + 8, (c, model.pushes)


async def bench_case(dut, ctx, model, name, regions, streams, *, drain=False):
    """One case without stalls. ``drain``: consumers wait until every token is pushed, then
    all take at once, so the tokens come out of memory through the read port."""
    if model.regions != regions:
        await configure(dut, ctx, model, regions, accept=True)
    rng = np.random.default_rng(ctx.seed)
    contexts = model.contexts
    tokens = sum(len(s) for s in streams.values())
    model.start_round()
    order = interleave(rng, streams) if not drain else [
        push_fields(c, t) for c in sorted(streams) for t in streams[c]]
    monitors = [StreamMonitor(dut, f"o__{c}", ctx, backpressure=1.0 if drain else 0.0)
                for c in range(contexts)]
    await StreamDriver(dut, "i", ctx).send(order)
    start = model.cycle
    if drain:
        for monitor in monitors:
            monitor.stop()
        monitors = [StreamMonitor(dut, f"o__{c}", ctx) for c in range(contexts)]
        start = model.cycle
    for c in range(contexts):
        received = await monitors[c].receive(len(streams.get(c, [])))
        assert received == streams.get(c, []), f"{name}: context {c}"
    for monitor in monitors:
        monitor.stop()
    model.check()
    if drain:
        cycles = model.last_pop - start + 1
        latency = None
        bound = tokens + 3  # the read request, the read, the output register
        # Round-robin reads: contexts drained of equal backlogs finish together.
        finish = [model.last_pop_of[c] for c in sorted(streams)]
        assert max(finish) - min(finish) <= len(streams), f"{name}: unfair drain {finish}"
    else:
        cycles = model.last_pop - model.first_push + 1
        latency = model.first_pop - model.first_push
        assert latency == 1, f"{name}: latency {latency}, the bypass gives 1"
        bound = tokens + latency + 1
    assert cycles <= bound, f"{name}: {tokens} tokens in {cycles} cycles (bound {bound})"
    figures = {"case": name, "contexts_used": len(streams), "tokens_in": tokens,
               "tokens_out": model.pops, "cycles": cycles, "latency": latency,
               "cycles_per_token": cycles / tokens}
    dut._log.info(json.dumps(figures))
    for _ in range(3):
        await RisingEdge(dut.clk)
    return figures


@cocotb.test()
async def bench(dut):
    """No idle cycles, no backpressure: one context and all contexts streaming (one token a
    cycle, one cycle of latency), the minimum capacity for full rate (2), and a backlog drained
    from memory through the single read port (one token a cycle in aggregate)."""
    ctx = tb_context()
    rng = np.random.default_rng(ctx.seed)
    await start_clock_and_reset(dut)
    model = QueueModel(dut, ctx)
    contexts, depth = model.contexts, model.depth

    def layer_stream(length):
        tokens = []
        while len(tokens) < length:
            tokens += golden_lane_stream(rng, ctx.params)
        return tokens

    share = depth // contexts
    one = [(0, depth)] + [(0, 0)] * (contexts - 1)
    equal = [(c * share, share) for c in range(contexts)]
    pairs = [(2 * c, 2) for c in range(contexts)]
    cases = [
        ("one_context", one, {0: layer_stream(400)}),
        ("all_contexts", equal, {c: layer_stream(100) for c in range(contexts)}),
        ("capacity_2_one_context", pairs, {0: layer_stream(200)}),
        ("capacity_2_all_contexts", pairs, {c: layer_stream(60) for c in range(contexts)}),
    ]
    figures = []
    for name, regions, streams in cases:
        figures.append(await bench_case(dut, ctx, model, name, regions, streams))
    figures.append(await bench_case(dut, ctx, model, "drain_one_context", one,
                                    {0: layer_stream(depth)[:depth]}, drain=True))
    figures.append(await bench_case(dut, ctx, model, "drain_all_contexts", equal,
                                    {c: layer_stream(share)[:share] for c in range(contexts)},
                                    drain=True))
    if ctx.extra.get("bench_out"):
        with open(ctx.extra["bench_out"], "w") as file:
            json.dump({"unit": "queue", "params": ctx.params, "cases": figures}, file, indent=1)
