"""cocotb bench of hw/registers.py's AxiLiteRegisters, driven by cocotbext-axi's AxiLiteMaster.

Random reads and writes, a write and a read at a time, under random pauses on all five channels
(so AW comes before W, after it, and with it); every register is compared with a model after
every access, through the bus and through its port; pulses are counted on their ports; unmapped
addresses and writes to read-only registers must answer SLVERR and change nothing.
"""

import json
import random

import cocotb
from cocotb.triggers import ReadOnly, RisingEdge
from cocotbext.axi import AxiLiteBus, AxiLiteMaster
from cocotbext.axi.constants import AxiResp

from isosceles.tb import checked
from isosceles.tb.streams import start_clock_and_reset, tb_context, tick


def pause_generator(rng, probability):
    while True:
        yield rng.random() < probability


class Bench:
    def __init__(self, dut, ctx, *, stalls):
        self.dut, self.ctx = dut, ctx
        self.registers = ctx.params["registers"]
        for register in self.registers:
            register.setdefault("width", 32)
            register.setdefault("reset", 0)
        self.by_word = {}
        for register in self.registers:
            for word in range((register["width"] + 31) // 32):
                self.by_word[register["offset"] + 4 * word] = (register, word)
        self.master = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil_"), dut.clk, dut.rst)
        if stalls:
            rng = random.Random(f"{ctx.seed}/pauses")
            channels = [self.master.write_if.aw_channel, self.master.write_if.w_channel,
                        self.master.write_if.b_channel, self.master.read_if.ar_channel,
                        self.master.read_if.r_channel]
            for channel in channels:
                channel.set_pause_generator(pause_generator(random.Random(rng.random()),
                                                            rng.uniform(0.2, 0.6)))
        self.model = {register["name"]: register["reset"] for register in self.registers
                      if register["access"] == "rw"}
        self.pulses = {register["name"]: [] for register in self.registers
                       if register["access"] == "pulse"}
        self.expected_pulses = {name: [] for name in self.pulses}
        self.orders = {"aw first": 0, "w first": 0, "together": 0}
        self.task = cocotb.start_soon(self._watch())

    def sig(self, name):
        return int(getattr(self.dut, name).value)

    async def _watch(self):
        """Pulses on their ports, the order of AW and W, and the slave's B and R rules."""
        aw_cycles, w_cycles, held, cycle = [], [], {}, 0
        outputs = {"b": ("s_axil__bresp",), "r": ("s_axil__rdata", "s_axil__rresp")}
        while True:
            await ReadOnly()
            for name, seen in self.pulses.items():
                if self.sig(name):
                    seen.append(self.sig(name))
            if self.sig("s_axil__awvalid") and self.sig("s_axil__awready"):
                aw_cycles.append(cycle)
            if self.sig("s_axil__wvalid") and self.sig("s_axil__wready"):
                w_cycles.append(cycle)
            while aw_cycles and w_cycles:
                aw, w = aw_cycles.pop(0), w_cycles.pop(0)
                self.orders["aw first" if aw < w else "w first" if w < aw else "together"] += 1
            for channel, names in outputs.items():
                valid, ready = self.sig(f"s_axil__{channel}valid"), self.sig(
                    f"s_axil__{channel}ready")
                payload = tuple(self.sig(name) for name in names)
                if channel in held:
                    assert valid, f"{channel}valid dropped at cycle {cycle} before its transfer"
                    assert payload == held[channel], f"{channel} changed at cycle {cycle}"
                held.pop(channel, None)
                if valid and not ready:
                    held[channel] = payload
            await RisingEdge(self.dut.clk)
            cycle += 1

    def check_ports(self):
        if self.task.done():
            self.task.result()
        for name, value in self.model.items():
            assert self.sig(name) == value, f"port {name} is {self.sig(name):#x}, model {value:#x}"

    async def write(self, address, data, expect):
        response = await self.master.write(address, data)
        assert response.resp == expect, (
            f"write of {data.hex()} at {address:#x}: {response.resp!r}, expected {expect!r}")

    async def read(self, address, expect_data, expect_resp):
        response = await self.master.read(address, 4)
        value = int.from_bytes(response.data, "little")
        assert (value, response.resp) == (expect_data, expect_resp), (
            f"read at {address:#x}: {value:#x} {response.resp!r}, expected {expect_data:#x} "
            f"{expect_resp!r}")
        checked.tokens("reads", 1)


def word_of(value, word):
    return (value >> (32 * word)) & 0xFFFF_FFFF


def random_write(bench, rng, unmapped):
    """A write of 1 to 4 bytes of a random word (mapped or not): updates the model and returns
    the register's name (or None) and the coroutine that writes."""
    if rng.random() < 0.1:
        word_address = rng.choice(unmapped)
        target = None
    else:
        word_address = rng.choice(sorted(bench.by_word))
        target = bench.by_word[word_address]
    first = rng.randrange(4) if rng.random() < 0.4 else 0
    length = rng.randint(1, 4 - first) if rng.random() < 0.4 else 4 - first
    data = rng.randbytes(length)
    if target is None or target[0]["access"] == "ro":
        return None, bench.write(word_address + first, data, AxiResp.SLVERR)
    register, word = target
    value = int.from_bytes(data, "little") << (8 * first)
    strobes = sum(0xFF << (8 * lane) for lane in range(first, first + length))
    if register["access"] == "pulse":
        bits = value & strobes & ((1 << register["width"]) - 1)
        if bits:
            bench.expected_pulses[register["name"]].append(bits)
    else:
        mask = (strobes << (32 * word)) & ((1 << register["width"]) - 1)
        old = bench.model[register["name"]]
        bench.model[register["name"]] = (old & ~mask) | ((value << (32 * word)) & mask)
    return register["name"], bench.write(word_address + first, data, AxiResp.OKAY)


async def random_read(bench, rng, unmapped, busy):
    """A read of a random word that the concurrent write does not touch."""
    if rng.random() < 0.1:
        return await bench.read(rng.choice(unmapped), 0, AxiResp.SLVERR)
    address = rng.choice([a for a in sorted(bench.by_word) if bench.by_word[a][0]["name"]
                          not in busy])
    register, word = bench.by_word[address]
    name = register["name"]
    if register["access"] == "rw":
        return await bench.read(address, word_of(bench.model[name], word), AxiResp.OKAY)
    if register["access"] == "pulse":
        return await bench.read(address, 0, AxiResp.OKAY)
    port = getattr(bench.dut, name)
    value = rng.randrange(1 << register["width"])
    port.value = value
    await bench.read(register["offset"], word_of(value, 0), AxiResp.OKAY)
    if register["width"] > 32:
        # The upper word comes from the snapshot taken by the lower word's read, even if the
        # block has moved on since.
        port.value = rng.randrange(1 << register["width"])
        await bench.read(register["offset"] + 4, word_of(value, 1), AxiResp.OKAY)


def unmapped_words(bench):
    space = 1 << bench.ctx.params["addr_width"]
    return [address for address in range(0, space, 4) if address not in bench.by_word]


@cocotb.test()
async def random_access(dut):
    ctx = tb_context()
    rng = ctx.rng
    for register in ctx.params["registers"]:
        if register["access"] == "ro":
            getattr(dut, register["name"]).value = 0
    await start_clock_and_reset(dut)
    bench = Bench(dut, ctx, stalls=True)
    bench.check_ports()
    unmapped = unmapped_words(bench)
    # Reset values first, then every word written and read back at least once.
    for address in sorted(bench.by_word):
        register, word = bench.by_word[address]
        if register["access"] == "rw":
            await bench.read(address, word_of(register["reset"], word), AxiResp.OKAY)
    for address in sorted(bench.by_word):
        register, word = bench.by_word[address]
        if register["access"] == "rw":
            data = rng.randbytes(4)
            mask = (0xFFFF_FFFF << (32 * word)) & ((1 << register["width"]) - 1)
            old = bench.model[register["name"]]
            bench.model[register["name"]] = (old & ~mask) | (
                (int.from_bytes(data, "little") << (32 * word)) & mask)
            await bench.write(address, data, AxiResp.OKAY)
            await bench.read(address, word_of(bench.model[register["name"]], word), AxiResp.OKAY)
    for _ in range(ctx.extra.get("operations", 300)):
        checked.case("operations")
        target, write = random_write(bench, rng, unmapped)
        writer = cocotb.start_soon(write)
        await tick(dut, rng.randrange(3))
        # The register being written is not read meanwhile: its value would depend on timing.
        await random_read(bench, rng, unmapped, {target})
        await writer
        bench.check_ports()
    await tick(dut, 5)
    bench.check_ports()
    for name, seen in bench.pulses.items():
        assert seen == bench.expected_pulses[name], (
            f"pulses of {name}: {seen}, expected {bench.expected_pulses[name]}")
    print(f"AW/W orders {bench.orders}; pulses {({n: len(s) for n, s in bench.pulses.items()})}")
    assert all(bench.orders.values()), f"an AW/W order never happened: {bench.orders}"


@cocotb.test()
async def bench(dut):
    """Back-to-back writes, then reads, with no pause: cycles per access."""
    ctx = tb_context()
    await start_clock_and_reset(dut)
    bench = Bench(dut, ctx, stalls=False)
    count = 64
    address = next(a for a in sorted(bench.by_word) if bench.by_word[a][0]["access"] == "rw")
    start = cocotb.utils.get_sim_time("ns")
    writes = [cocotb.start_soon(bench.master.write(address, bytes(4))) for _ in range(count)]
    for write in writes:
        await write
    write_cycles = int(cocotb.utils.get_sim_time("ns") - start) // 10
    start = cocotb.utils.get_sim_time("ns")
    reads = [cocotb.start_soon(bench.master.read(address, 4)) for _ in range(count)]
    for read in reads:
        await read
    read_cycles = int(cocotb.utils.get_sim_time("ns") - start) // 10
    cases = [{"tokens_in": count, "tokens_out": count, "cycles": cycles, "note": f"{count} {kind}"}
             for kind, cycles in (("writes", write_cycles), ("reads", read_cycles))]
    print(cases)
    # One access every two cycles: the response register is freed the cycle after its transfer.
    assert all(case["cycles"] <= 2 * count + 5 for case in cases), cases
    if ctx.extra.get("bench_out"):
        with open(ctx.extra["bench_out"], "w") as file:
            json.dump({"unit": "axi_registers", "params": {"registers": len(bench.registers)},
                       "cases": cases}, file)
