"""cocotb bench of hw/axi.py's AxiMaster against cocotbext-axi's AxiRam.

Random read and write requests of every client run at once under random AXI latency and
backpressure; every byte read is compared with the RAM, every byte written is read back from the
RAM, the byte counters must be exact, and a protocol monitor on the bus checks every burst (no 4 KB
crossing, at most ``max_burst`` beats, ``wlast``/``rlast`` where the burst ends, AXI's valid and
payload rules). With ``extra["errors"]`` some address ranges answer SLVERR or DECERR: the master's
``error`` must name the first such response, and every request must still complete.
"""

import json
import random

import cocotb
from cocotb.triggers import ReadOnly, RisingEdge
from cocotbext.axi import AxiBus, AxiRam
from cocotbext.axi.constants import AxiResp

from isosceles.tb import checked
from isosceles.tb.streams import (
    StreamDriver,
    StreamMonitor,
    start_clock_and_reset,
    tb_context,
    tick,
)

PAGE = 4096
RAM_BYTES = 1 << 20
WRITE_BASE = RAM_BYTES // 2  # reads use the lower half, writes the upper one


class ErrorRam(AxiRam):
    """An AxiRam whose ``ranges`` ``[(start, end, resp), ...]`` answer ``resp`` (SLVERR or
    DECERR): reads return zeros, writes change nothing. cocotbext-axi answers SLVERR when the
    memory access raises; the response is then rewritten to the range's code on its way out."""

    def __init__(self, bus, clock, reset, *, size, ranges):
        super().__init__(bus, clock, reset, size=size)
        self.ranges = ranges
        for port, channel, field in ((self.read_if, self.read_if.r_channel, "rresp"),
                                     (self.write_if, self.write_if.b_channel, "bresp")):
            port.failed = []
            self._wrap_access(port)
            self._wrap_response(port, channel, field)

    def code(self, address):
        for start, end, resp in self.ranges:
            if start <= address < end:
                return resp
        return None

    def _wrap_access(self, port):
        name = "_read" if port is self.read_if else "_write"
        access = getattr(port, name)

        async def checked(address, *args):
            code = self.code(address)
            if code is not None:
                port.failed.append(code)
                raise OSError(f"address {address:#x} answers {code}")
            return await access(address, *args)

        setattr(port, name, checked)

    @staticmethod
    def _wrap_response(port, channel, field):
        send = channel.send

        async def rewritten(response):
            if getattr(response, field) == AxiResp.SLVERR:
                # The first failing beat of the burst names the code.
                setattr(response, field, port.failed[0])
            port.failed.clear()
            await send(response)

        channel.send = rewritten


class BusMonitor:
    """Watches every AXI channel: checks bursts and the valid/payload rules, counts bytes, and
    records the first SLVERR/DECERR response as the master must report it."""

    def __init__(self, dut, ctx):
        self.dut, self.ctx = dut, ctx
        self.beat = ctx.params.get("data_width", 64) // 8
        self.max_burst = min(ctx.params.get("max_burst", 256), 256)
        self.ar, self.aw, self.aw_lengths, self.w_lengths = [], [], [], []
        self.read_bytes = self.write_bytes = 0
        self.strobed_bytes = []  # per W beat, in the order of beat_cycles["w"]
        self.bursts = {"ar": 0, "aw": 0}
        self.longest = 0
        self.beat_cycles = {"r": [], "w": []}  # the cycle of every R and W beat
        self.errors = []  # (cycle, (resp, write, address)) of every SLVERR/DECERR response
        self.cycle = 0
        self.task = cocotb.start_soon(self._watch())

    def sig(self, name):
        return int(getattr(self.dut, f"m_axi__{name}").value)

    def _check_address(self, channel):
        addr, length = self.sig(f"{channel}addr"), self.sig(f"{channel}len") + 1
        assert addr % self.beat == 0, f"{channel}addr {addr:#x} not aligned to a beat"
        assert length <= self.max_burst, f"{channel} burst of {length} beats at {addr:#x}"
        assert addr % PAGE + length * self.beat <= PAGE, (
            f"{channel} burst of {length} beats at {addr:#x} crosses a 4 KB boundary")
        assert self.sig(f"{channel}size") == self.beat.bit_length() - 1
        assert self.sig(f"{channel}burst") == 1, f"{channel}burst is not INCR"
        self.bursts[channel] += 1
        self.longest = max(self.longest, length)
        return addr, length

    async def _watch(self):
        held = {}
        payloads = {
            "ar": ("araddr", "arlen", "arsize", "arburst"),
            "aw": ("awaddr", "awlen", "awsize", "awburst"),
            "w": ("wdata", "wstrb", "wlast"),
        }
        r_beat = w_beat = 0
        cycle = 0
        while True:
            await ReadOnly()
            for channel, names in payloads.items():
                valid, ready = self.sig(f"{channel}valid"), self.sig(f"{channel}ready")
                payload = tuple(self.sig(name) for name in names)
                if channel in held:
                    assert valid, f"{channel}valid dropped at cycle {cycle} before its transfer"
                    assert payload == held[channel], (
                        f"{channel} payload changed at cycle {cycle} while waiting for ready")
                held.pop(channel, None)
                if valid and not ready:
                    held[channel] = payload
            error = None
            if self.sig("arvalid") and self.sig("arready"):
                self.ar.append(self._check_address("ar"))
            if self.sig("awvalid") and self.sig("awready"):
                addr, length = self._check_address("aw")
                self.aw.append((addr, length))
                self.aw_lengths.append(length)
            if self.sig("rvalid") and self.sig("rready"):
                assert self.ar, f"an R beat at cycle {cycle} with no read burst issued"
                addr, length = self.ar[0]
                assert self.sig("rlast") == (r_beat == length - 1)
                if self.sig("rresp") >= AxiResp.SLVERR:
                    error = (self.sig("rresp"), 0, addr + r_beat * self.beat)
                self.read_bytes += self.beat
                self.beat_cycles["r"].append(cycle)
                r_beat += 1
                if r_beat == length:
                    self.ar.pop(0)
                    r_beat = 0
            if self.sig("wvalid") and self.sig("wready"):
                strobed = self.sig("wstrb").bit_count()
                self.write_bytes += strobed
                self.beat_cycles["w"].append(cycle)
                self.strobed_bytes.append(strobed)
                w_beat += 1
                if self.sig("wlast"):
                    self.w_lengths.append(w_beat)
                    w_beat = 0
            # W may lead AW: match each W burst (ended by wlast) with its AW in order.
            while self.aw_lengths and self.w_lengths:
                aw_length, w_length = self.aw_lengths.pop(0), self.w_lengths.pop(0)
                assert aw_length == w_length, (
                    f"wlast after {w_length} beats of a {aw_length}-beat burst (cycle {cycle})")
            if self.sig("bvalid") and self.sig("bready"):
                addr, _ = self.aw.pop(0)
                if error is None and self.sig("bresp") >= AxiResp.SLVERR:
                    error = (self.sig("bresp"), 1, addr)
            if error is not None:
                self.errors.append((cycle, error))
            await RisingEdge(self.dut.clk)
            cycle += 1
            self.cycle = cycle

    def check(self):
        if self.task.done():
            self.task.result()


def pause_generator(rng, probability):
    while True:
        yield rng.random() < probability


class Bench:
    def __init__(self, dut, ctx, *, stalls, errors=()):
        self.dut, self.ctx = dut, ctx
        self.beat = ctx.params.get("data_width", 64) // 8
        bus = AxiBus.from_prefix(dut, "m_axi_")
        self.ram = ErrorRam(bus, dut.clk, dut.rst, size=RAM_BYTES, ranges=list(errors))
        if stalls:
            rng = random.Random(f"{ctx.seed}/ram")
            for channel, probability in (
                    (self.ram.read_if.ar_channel, 0.3), (self.ram.read_if.r_channel, 0.3),
                    (self.ram.write_if.aw_channel, 0.3), (self.ram.write_if.w_channel, 0.3),
                    (self.ram.write_if.b_channel, 0.5)):
                channel.set_pause_generator(pause_generator(
                    random.Random(rng.random()), probability * (0.5 + rng.random())))
        self.monitor = BusMonitor(dut, ctx)
        self.dones = [0] * ctx.params["write_clients"]
        cocotb.start_soon(self._count_dones())

    async def _count_dones(self):
        while True:
            await ReadOnly()
            for index in range(len(self.dones)):
                self.dones[index] += int(getattr(self.dut, f"write_done__{index}").value)
            await RisingEdge(self.dut.clk)

    def value(self, port):
        return self.ctx.unpack(port, int(getattr(self.dut, port).value))


def allocate(rng, count, base, limit, beat, max_beats):
    """``count`` disjoint aligned regions ``(addr, bytes)`` in ``[base, limit)``, half of them
    starting a few beats before a 4 KB boundary, sizes from one beat to several KB."""
    regions, cursor = [], base
    for _ in range(count):
        kind = rng.random()
        beats = (rng.randint(1, 4) if kind < 0.3 else rng.randint(5, 300) if kind < 0.8
                 else rng.randint(300, max_beats))
        if rng.random() < 0.5:
            addr = (cursor // PAGE + 1) * PAGE - rng.randrange(0, 40) * beat
            addr = max(addr, cursor)
        else:
            addr = cursor + rng.randrange(0, 16) * beat
        if addr + beats * beat > limit:
            break
        regions.append((addr, beats * beat))
        cursor = addr + beats * beat
    return regions


def strobe_pattern(rng, size, beat):
    """Byte strobes of each beat of a ``size``-byte write: mostly full, some random (none
    included), as a row writer's partial first and last beats."""
    full = (1 << beat) - 1
    return [full if rng.random() < 0.7 else rng.randrange(full + 1) for _ in range(size // beat)]


def split_among(rng, regions, clients):
    lists = [[] for _ in range(clients)]
    for region in regions:
        lists[rng.randrange(clients)].append(region)
    return lists


async def run_traffic(dut, ctx, bench, *, reads, writes, idle, backpressure):
    """Run the read lists ``reads[i]`` and write lists ``writes[i]`` of every client at once;
    return what each read client received and check the writes' completion."""
    beat = bench.beat
    rng = ctx.rng
    read_tasks, monitors = [], []
    for index, requests in enumerate(reads):
        requester = StreamDriver(dut, f"read_req__{index}", ctx, idle=idle)
        monitor = StreamMonitor(dut, f"read_data__{index}", ctx, backpressure=backpressure)
        read_tasks.append(cocotb.start_soon(requester.send(
            [{"addr": addr, "bytes": size} for addr, size in requests])))
        monitors.append((monitor, sum(size // beat for _, size in requests)))
    write_tasks = []
    for index, requests in enumerate(writes):
        requester = StreamDriver(dut, f"write_req__{index}", ctx, idle=idle)
        source = StreamDriver(dut, f"write_data__{index}", ctx, idle=idle)
        beats = []
        for addr, size in requests:
            data, strobes = rng.randbytes(size), strobe_pattern(rng, size, beat)
            # The write area starts zeroed: an unstrobed byte must stay 0.
            bench.expected_writes.append((addr, bytes(byte if strobes[n // beat] >> n % beat & 1
                                                      else 0 for n, byte in enumerate(data))))
            beats += [{"data": int.from_bytes(data[n:n + beat], "little"),
                       "strb": strobes[n // beat]} for n in range(0, size, beat)]
            bench.strobed_bytes += sum(strobe.bit_count() for strobe in strobes)
        write_tasks.append(cocotb.start_soon(requester.send(
            [{"addr": addr, "bytes": size} for addr, size in requests])))
        write_tasks.append(cocotb.start_soon(source.send(beats)))
    received = []
    for monitor, count in monitors:
        received.append(await monitor.receive(count, timeout_cycles=200_000))
    for task in read_tasks + write_tasks:
        await task
    for _ in range(200_000):
        if bench.dones == [len(requests) for requests in writes]:
            break
        await RisingEdge(dut.clk)
    else:
        raise AssertionError(f"write_done pulses {bench.dones} after 200000 cycles, expected "
                             f"{[len(requests) for requests in writes]}")
    await tick(dut, 20)
    for monitor, count in monitors:
        monitor.check_rules()
        assert len(monitor.received) == count, (
            f"{len(monitor.received)} read beats, expected {count}")
    assert bench.dones == [len(requests) for requests in writes], (
        f"extra write_done pulses: {bench.dones}")
    bench.monitor.check()
    return received


def check_reads(bench, reads, received, error_code):
    beat = bench.beat
    for client, (requests, beats) in enumerate(zip(reads, received, strict=True)):
        position = 0
        for number, (addr, size) in enumerate(requests):
            for offset in range(0, size, beat):
                token = beats[position]
                position += 1
                expected = 0 if error_code(addr + offset) else int.from_bytes(
                    bench.ram.read(addr + offset, beat), "little")
                assert token["data"] == expected, (
                    f"read client {client} request {number} ({size} bytes at {addr:#x}): beat "
                    f"at {addr + offset:#x} is {token['data']:#x}, RAM has {expected:#x}")
                assert token["last"] == (offset == size - beat), (
                    f"read client {client} request {number}: last wrong at {addr + offset:#x}")
        checked.tokens("read beats", position)


def check_writes(bench, error_code):
    beats = 0
    for addr, payload in bench.expected_writes:
        written = bench.ram.read(addr, len(payload))
        for offset in range(0, len(payload), bench.beat):
            if error_code(addr + offset):
                continue
            assert written[offset:offset + bench.beat] == payload[offset:offset + bench.beat], (
                f"write of {len(payload)} bytes at {addr:#x}: RAM differs at {addr + offset:#x}")
            beats += 1
    checked.tokens("write beats", beats)


async def traffic(dut, *, errors):
    ctx = tb_context()
    rng = ctx.rng
    await start_clock_and_reset(dut)
    params = ctx.params
    beat = params.get("data_width", 64) // 8
    max_beats = ctx.extra.get("max_bytes", 6144) // beat
    count = ctx.extra.get("requests", 24)
    read_regions = allocate(rng, count, 0, WRITE_BASE, beat, max_beats)
    write_regions = allocate(rng, count, WRITE_BASE, RAM_BYTES, beat, max_beats)
    checked.case("requests", len(read_regions) + len(write_regions))
    ranges = []
    if errors:
        # Inside requests, so that they are hit: a few beats of two reads and two writes.
        for regions in (read_regions, write_regions):
            for resp in (AxiResp.SLVERR, AxiResp.DECERR):
                addr, size = rng.choice(regions)
                start = addr + rng.randrange(size // beat) * beat
                ranges.append((start, min(addr + size, start + rng.randint(1, 8) * beat),
                               int(resp)))
    bench = Bench(dut, ctx, stalls=True, errors=ranges)
    bench.expected_writes, bench.strobed_bytes = [], 0
    bench.ram.write(0, rng.randbytes(WRITE_BASE))
    cleared = []
    if errors:
        cocotb.start_soon(clear_once(dut, bench.monitor, rng.randrange(50, 4000), cleared))
    reads = split_among(rng, read_regions, params["read_clients"])
    writes = split_among(rng, write_regions, params["write_clients"])
    print(f"read requests {[len(r) for r in reads]}, write requests {[len(w) for w in writes]}, "
          f"error ranges {[(hex(s), hex(e), c) for s, e, c in ranges]}")
    received = await run_traffic(dut, ctx, bench, reads=reads, writes=writes,
                                 idle=ctx.extra.get("idle", 0.3),
                                 backpressure=ctx.extra.get("backpressure", 0.3))
    error_code = bench.ram.code
    check_reads(bench, reads, received, error_code)
    check_writes(bench, error_code)
    monitor = bench.monitor
    expected_read = sum(size for requests in reads for _, size in requests)
    expected_write = bench.strobed_bytes
    assert (monitor.read_bytes, monitor.write_bytes) == (expected_read, expected_write)
    # With a clear in cycle k, the counters hold the beats of cycles k onwards and the error is
    # the first one after k (the clear wins over an error in its own cycle).
    since = cleared[0] if cleared else 0
    counted = [bench.beat * sum(c >= since for c in monitor.beat_cycles["r"]),
               sum(strobed for c, strobed in zip(monitor.beat_cycles["w"], monitor.strobed_bytes,
                                                 strict=True) if c >= since)]
    assert [int(dut.read_bytes.value), int(dut.write_bytes.value)] == counted, (
        f"counters read {int(dut.read_bytes.value)} write {int(dut.write_bytes.value)}, bus "
        f"{counted} since cycle {since} (requested {expected_read} and {expected_write})")
    later = [found for cycle, found in monitor.errors if cycle > since or not cleared]
    error = bench.value("error")
    if not later:
        assert not error["valid"], f"error {error} with no error response on the bus"
    else:
        resp, write, addr = later[0]
        assert error == {"valid": 1, "resp": resp, "write": write, "addr": addr}, (
            f"error {error}, first error response on the bus {later[0]}")
    if errors:
        assert monitor.errors, "no request reached an error range"
        dut.clear.value = 1
        await tick(dut)
        dut.clear.value = 0
        await tick(dut)
        assert not bench.value("error")["valid"], "clear left error set"
        assert (int(dut.read_bytes.value), int(dut.write_bytes.value)) == (0, 0)
        print(f"clear in cycle {since}; {len(monitor.errors)} error responses, "
              f"{len(later)} after the clear")
    print(f"{monitor.bursts['ar']} read and {monitor.bursts['aw']} write bursts, longest "
          f"{monitor.longest} beats, {expected_read} bytes read, {expected_write} written")


async def clear_once(dut, monitor, cycles, cleared):
    """Pulse ``clear`` once after ``cycles`` cycles; record the monitor's cycle of the pulse."""
    await tick(dut, cycles)
    dut.clear.value = 1
    await ReadOnly()
    cleared.append(monitor.cycle)
    await RisingEdge(dut.clk)
    dut.clear.value = 0


@cocotb.test()
async def random_traffic(dut):
    await traffic(dut, errors=False)


@cocotb.test()
async def error_responses(dut):
    await traffic(dut, errors=True)


async def measure_reads(dut, ctx, bench, requests):
    """Cycles from the first request's transfer to the last beat at the client, on R from
    the first beat to the last, and to the first beat at the client, for ``requests`` of
    client 0 sent back to back."""
    beat = bench.beat
    bursts, beats_before = bench.monitor.bursts["ar"], len(bench.monitor.beat_cycles["r"])
    requester = StreamDriver(dut, "read_req__0", ctx)
    monitor = StreamMonitor(dut, "read_data__0", ctx)
    cocotb.start_soon(requester.send([{"addr": a, "bytes": s} for a, s in requests]))
    beats = sum(size // beat for _, size in requests)
    received = await monitor.receive(beats)
    others = [[]] * (ctx.params["read_clients"] - 1)
    check_reads(bench, [requests] + others, [received] + others, lambda address: None)
    monitor.stop()
    on_bus = bench.monitor.beat_cycles["r"][beats_before:]
    return {"direction": "read", "requests": len(requests), "beats": beats,
            "bursts": bench.monitor.bursts["ar"] - bursts,
            "cycles": monitor.last_transfer - requester.first_transfer + 1,
            "bus_cycles": on_bus[-1] - on_bus[0] + 1,
            "latency": monitor.first_transfer - requester.first_transfer}


async def measure_writes(dut, ctx, bench, requests):
    """Cycles from the start to the last ``write_done``, on W from the first beat to the
    last, and to the first W beat, for ``requests`` of client 0 sent back to back with their
    data."""
    beat = bench.beat
    bursts, beats_before = bench.monitor.bursts["aw"], len(bench.monitor.beat_cycles["w"])
    requester = StreamDriver(dut, "write_req__0", ctx)
    source = StreamDriver(dut, "write_data__0", ctx)
    beats = []
    for addr, size in requests:
        payload = ctx.rng.randbytes(size)
        bench.expected_writes.append((addr, payload))
        beats += [{"data": int.from_bytes(payload[n:n + beat], "little"),
                   "strb": (1 << beat) - 1} for n in range(0, size, beat)]
    goal = bench.dones[0] + len(requests)
    start = bench.monitor.cycle
    cocotb.start_soon(requester.send([{"addr": a, "bytes": s} for a, s in requests]))
    cocotb.start_soon(source.send(beats))
    for _ in range(100_000):
        if bench.dones[0] == goal:
            break
        await RisingEdge(dut.clk)
    else:
        raise AssertionError(f"{bench.dones[0] - goal + len(requests)} of {len(requests)} "
                             "writes done after 100000 cycles")
    check_writes(bench, lambda address: None)
    on_bus = bench.monitor.beat_cycles["w"][beats_before:]
    return {"direction": "write", "requests": len(requests), "beats": len(beats),
            "bursts": bench.monitor.bursts["aw"] - bursts,
            "cycles": bench.monitor.cycle - start, "bus_cycles": on_bus[-1] - on_bus[0] + 1,
            "latency": on_bus[0] - start}


@cocotb.test()
async def bench(dut):
    """One client with no stall: long requests back to back (beats per cycle, latency), and
    one-beat requests back to back (cycles per request)."""
    ctx = tb_context()
    await start_clock_and_reset(dut)
    bench = Bench(dut, ctx, stalls=False)
    bench.expected_writes = []
    beat = bench.beat
    size = ctx.extra.get("bench_bytes", 32768)
    bench.ram.write(0, ctx.rng.randbytes(2 * size))
    long = [(0, size // 2), (size // 2, size // 2)]
    short = [(n * beat, beat) for n in range(256)]
    cases = [
        await measure_reads(dut, ctx, bench, long),
        await measure_reads(dut, ctx, bench, short),
        await measure_writes(dut, ctx, bench, [(WRITE_BASE + a, s) for a, s in long]),
        await measure_writes(dut, ctx, bench, [(WRITE_BASE + size + a, s) for a, s in short]),
    ]
    for case, what in zip(cases, ("2 x 16 KB", f"256 x {beat} B", "2 x 16 KB",
                                  f"256 x {beat} B"), strict=True):
        case.update(beats_per_cycle=round(case["beats"] / case["cycles"], 3),
                    tokens_in=case["requests"], tokens_out=case["beats"],
                    note=f"{case['direction']} {what} (tokens: requests in, beats out)")
        print(case)
    # Reads: a burst is issued once its client's buffer has room for all of it, so with
    # buffer = max_burst each 256-beat burst waits for the previous one to drain (a round
    # trip of about 6 cycles); one-beat requests overlap (up to max_outstanding in flight).
    # Writes: a burst is issued once all its beats are buffered, then W runs at a beat a
    # cycle; write_done comes after the last B.
    for case in cases:
        assert case["bus_cycles"] <= case["beats"] + 6 * case["bursts"], case
        fill = 0 if case["direction"] == "read" else ctx.params.get(
            "buffer", ctx.params.get("max_burst", 256))
        assert case["cycles"] <= case["beats"] + 6 * case["bursts"] + fill + 10, case
    bench.monitor.check()
    if ctx.extra.get("bench_out"):
        with open(ctx.extra["bench_out"], "w") as file:
            json.dump({"unit": "axi_master", "params": ctx.params, "cases": cases}, file)


@cocotb.test()
async def no_client_blocks_another(dut):
    """A read client that takes nothing and a write client that stops supplying data hold up
    neither the other clients nor themselves once they resume."""
    ctx = tb_context()
    rng = ctx.rng
    await start_clock_and_reset(dut)
    bench = Bench(dut, ctx, stalls=True)
    bench.expected_writes = []
    beat = bench.beat
    bench.ram.write(0, rng.randbytes(WRITE_BASE))
    buffer = ctx.params.get("buffer", ctx.params.get("max_burst", 256))
    stuck_read = [(0, 3 * buffer * beat)]
    other_reads = [(PAGE * 16 + n * 1024, 1024) for n in range(8)]
    dut.read_data__0__ready.value = 0
    stuck = StreamDriver(dut, "read_req__0", ctx)
    cocotb.start_soon(stuck.send([{"addr": a, "bytes": s} for a, s in stuck_read]))
    requester = StreamDriver(dut, "read_req__1", ctx, idle=0.3)
    monitor = StreamMonitor(dut, "read_data__1", ctx, backpressure=0.3)
    cocotb.start_soon(requester.send([{"addr": a, "bytes": s} for a, s in other_reads]))

    # Write client 0 supplies half of its request's data, client 1 all of its own.
    half = 2 * PAGE
    stuck_payload = rng.randbytes(2 * half)
    bench.expected_writes.append((WRITE_BASE, stuck_payload))
    stuck_beats = [{"data": int.from_bytes(stuck_payload[n:n + beat], "little"),
                    "strb": (1 << beat) - 1}
                   for n in range(0, 2 * half, beat)]
    cocotb.start_soon(StreamDriver(dut, "write_req__0", ctx).send(
        [{"addr": WRITE_BASE, "bytes": 2 * half}]))
    first_half = cocotb.start_soon(StreamDriver(dut, "write_data__0", ctx).send(
        stuck_beats[:len(stuck_beats) // 2]))
    other_writes = [(WRITE_BASE + 4 * PAGE + n * 512, 512) for n in range(8)]
    beats = []
    for addr, size in other_writes:
        payload = rng.randbytes(size)
        bench.expected_writes.append((addr, payload))
        beats += [{"data": int.from_bytes(payload[n:n + beat], "little"),
                   "strb": (1 << beat) - 1}
                  for n in range(0, size, beat)]
    cocotb.start_soon(StreamDriver(dut, "write_req__1", ctx, idle=0.3).send(
        [{"addr": a, "bytes": s} for a, s in other_writes]))
    cocotb.start_soon(StreamDriver(dut, "write_data__1", ctx, idle=0.3).send(beats))

    received = await monitor.receive(sum(s for _, s in other_reads) // beat,
                                     timeout_cycles=20_000)
    check_reads(bench, [[], other_reads], [[], received], lambda address: None)
    for _ in range(20_000):
        if bench.dones[1] == len(other_writes):
            break
        await RisingEdge(dut.clk)
    assert bench.dones == [0, len(other_writes)], (
        f"write_done {bench.dones} while client 0 is stuck; expected [0, {len(other_writes)}]")
    await first_half

    # Both resume and finish.
    monitor.stop()
    resumed = StreamMonitor(dut, "read_data__0", ctx, backpressure=0.3)
    rest = cocotb.start_soon(StreamDriver(dut, "write_data__0", ctx).send(
        stuck_beats[len(stuck_beats) // 2:]))
    received = await resumed.receive(sum(s for _, s in stuck_read) // beat, timeout_cycles=20_000)
    check_reads(bench, [stuck_read], [received], lambda address: None)
    await rest
    for _ in range(20_000):
        if bench.dones[0] == 1:
            break
        await RisingEdge(dut.clk)
    assert bench.dones == [1, len(other_writes)], f"write_done {bench.dones}"
    check_writes(bench, lambda address: None)
    bench.monitor.check()
