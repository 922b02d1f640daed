"""cocotb bench of the block's faults at its edges: AXI error responses on every read client and
on B, a memory that stalls for thousands of cycles, a reset in the middle of a layer, and
descriptor writes while busy (``docs/memory.md``, "Errors, reset and writes while busy").

Every run must end in a defined state, never hang (the host's timeout fails it) and never write
outside its layer's output region (the memory outside it is compared byte for byte); after every
fault the next good layer must run bit-exact, without a reset (but after the reset test's)."""

import random

import cocotb
import numpy as np
from cocotb.triggers import ReadOnly, RisingEdge
from cocotbext.axi import AxiResp

from isosceles.golden.memory_image import LayerImage, MemoryImage
from isosceles.golden.pou import PouParams
from isosceles.hw.block import DESCRIPTOR_FIELDS, BlockError
from isosceles.tb.axi_faults import Fault, FaultInjector
from isosceles.tb.block_host import BlockHost
from isosceles.tb.cocotb_block import conv_layer, run_placed, run_timeout
from isosceles.tb.cocotb_core import config_of, random_tensors
from isosceles.tb.streams import start_clock_and_reset, tb_context, tick

MEMORY_BYTES = 1 << 20
STALL = 5000  # cycles a stalling memory waits: longer than any run of this bench's layers
ERRORS = (AxiResp.SLVERR, AxiResp.DECERR)
READ_REGIONS = ("filter table", "filter words", "POU table", "input row table", "input row words")
OUTPUT_REGIONS = ("output row table", "output row words")


def read_regions(layer):
    """Each kind of read client's region: name -> (address, bytes)."""
    return dict(zip(READ_REGIONS, (
        (layer.filters.table, 8 * layer.filters.entries),
        (layer.filters.words, 4 * layer.filters.area_words),
        (layer.pou, 8 * layer.geometry.K),
        (layer.input.table, 8 * layer.input.entries),
        (layer.input.words, 4 * layer.input.area_words)), strict=True))


def output_regions(layer):
    """The output row table and word area: name -> (address, bytes)."""
    return dict(zip(OUTPUT_REGIONS, (
        (layer.output.table, 8 * layer.geometry.P),
        (layer.output.words, 4 * layer.geometry.P * layer.row_stride_words)), strict=True))


class FaultBench:
    """The block's host and memory with a :class:`FaultInjector`, and small random layers."""

    def __init__(self, dut, *, stalls):
        self.dut = dut
        ctx = tb_context()
        self.config = config_of(ctx.params)
        self.host = BlockHost(dut, lanes=self.config.lanes, memory_bytes=MEMORY_BYTES,
                              stalls=stalls, seed=ctx.seed)
        self.faults = FaultInjector(self.host.ram, dut.clk, random.Random(f"{ctx.seed}/data"))
        self.rng = np.random.default_rng(ctx.seed)
        self.beat_bytes = self.config.axi_data_width // 8

    def draw(self, **first):
        """A small convolution with stride 1 and no zero, so that every input row, weight and
        POU entry is read, placed at a random 64-byte boundary in the first half of memory:
        ``(tensors, base)``; ``first`` overrides choices of ``random_tensors``."""
        rng = self.rng
        tensors = random_tensors(rng, self.config, first=dict(
            kind="conv", stride=1, act_density=1.0, weight_density=1.0,
            Cg=int(rng.integers(1, 5)), Kg=int(rng.integers(1, 5)), **first))
        return tensors, self.base()

    def base(self):
        return 64 * int(self.rng.integers(0, MEMORY_BYTES // 2 // 64))

    def place(self, tensors, base):
        """Lay out ``tensors`` at ``base`` in the RAM; :func:`conv_layer`'s tuple."""
        placed = conv_layer(self.config, tensors, base=base)
        self.host.ram.write(base, bytes(placed[0].data))
        return placed

    def memory(self):
        return np.frombuffer(self.host.ram.read(0, MEMORY_BYTES), dtype=np.uint8)

    def check_outside_output(self, before, layer, what):
        """Fail if any byte outside ``layer``'s output region differs from ``before``."""
        outside = np.ones(MEMORY_BYTES, dtype=bool)
        for address, size in output_regions(layer).values():
            outside[address:address + size] = False
        stray = np.flatnonzero((self.memory() != before) & outside)
        assert not len(stray), (
            f"{what}: {len(stray)} bytes changed outside the output region, the first at "
            f"{stray[0]:#x} ({before[stray[0]]:#04x} became {self.memory()[stray[0]]:#04x})")

    async def good_run(self, what, tensors=None, base=None, **options):
        """Run a layer (a new one by default) and check it bit-exact, its counters and the
        memory outside its output region; the run's counters."""
        if tensors is None:
            tensors, base = self.draw()
        placed = self.place(tensors, base)
        before = self.memory()
        run, _ = await run_placed(self.host, self.config, *placed, **options)
        self.check_outside_output(before, placed[1], what)
        return run

    async def faulty_run(self, what, make_fault):
        """Run a new layer with the fault ``make_fault(layer, expected output)`` armed: it must
        fire, and the run end with ``BUS``, having written nothing outside its output region;
        then a good layer runs bit-exact."""
        image, layer, expected, _ = self.place(*self.draw())
        fault = self.faults.arm(make_fault(layer, expected))
        before = self.memory()
        run = await self.host.run(layer.descriptor(), timeout_cycles=run_timeout(image, layer))
        self.faults.disarm()
        assert fault.hit is not None, f"{what}: {fault} never fired ({fault.seen} seen)"
        assert run["error"] == BlockError.BUS, f"{what}: the run ended with {run['error']!r}"
        self.check_outside_output(before, layer, what)
        self.dut._log.info(f"{what}: {fault} at {fault.hit:#x}: BUS after {run['cycles']} "
                           "cycles")
        await self.good_run(f"the layer after {what}")


def beats(size, beat_bytes):
    return max(1, -(-size // beat_bytes))


def corrupt_row_zero(image, layer):
    """Set a reserved bit in the first data word of input row 0 (which must not be empty)."""
    offset, count = (int(v) for v in image.read(layer.input.table, 2, np.uint32, "row 0"))
    assert count, "input row 0 is empty"
    address = layer.input.words + 4 * (offset + 1)  # after the row's first column word
    word = int(image.read(address, 1, np.uint32, "word")[0])
    image.write(address, np.array([word | 1 << 29], np.uint32))


@cocotb.test()
async def bus_errors_end_with_bus_and_recover(dut):
    """SLVERR and DECERR on a random beat of each kind of read client's region and on a random
    write burst of each output region: ``BUS``, no stray write, and the next layer bit-exact."""
    await start_clock_and_reset(dut)
    bench = FaultBench(dut, stalls=0.2)
    rng, width = bench.rng, bench.beat_bytes

    def read_error(region, resp):
        def make(layer, expected):
            address, size = read_regions(layer)[region]
            count = beats(size, width)
            return Fault("r", address, address + count * width, int(rng.integers(0, count)),
                         resp=resp)
        return make

    def write_error(region, resp):
        def make(layer, expected):
            address, size = output_regions(layer)[region]
            # One burst per row's table entry; at least one per nonempty row's words (a small
            # layer without any zero has some).
            bursts = (layer.geometry.P if region == "output row table"
                      else int(expected.any(axis=(1, 2)).sum()))
            assert bursts, "a layer with no output to write"
            return Fault("b", address, address + size, int(rng.integers(0, bursts)), resp=resp)
        return make

    for resp in ERRORS:
        for region in READ_REGIONS:
            await bench.faulty_run(f"{region} read", read_error(region, resp))
        for region in OUTPUT_REGIONS:
            await bench.faulty_run(f"{region} write", write_error(region, resp))


@cocotb.test()
async def long_stalls_complete_bit_exact(dut):
    """The memory stops for ``STALL`` cycles at a random R beat, then at a random W beat: the
    run is bit-exact, only slower."""
    await start_clock_and_reset(dut)
    bench = FaultBench(dut, stalls=0.2)
    for channel in ("r", "w"):
        tensors, base = bench.draw()
        counts = dict(bench.faults.counts)
        clean = await bench.good_run(f"{channel.upper()} stall: the layer unstalled",
                                     tensors, base)
        assert clean["cycles"] < STALL, f"a layer of {clean['cycles']} cycles hides the stall"
        count = bench.faults.counts[channel] - counts[channel]
        fault = bench.faults.arm(Fault(channel, 0, 1 << 32, int(bench.rng.integers(0, count)),
                                       stall=STALL))
        stalled = await bench.good_run(f"{fault}", tensors, base, stall_cycles=STALL)
        bench.faults.disarm()
        assert fault.hit is not None, f"{fault} never fired ({fault.seen} seen)"
        assert stalled["cycles"] >= STALL, (
            f"{fault}: the run took {stalled['cycles']} cycles, less than the stall")
        dut._log.info(f"{fault}: {clean['cycles']} cycles unstalled, {stalled['cycles']} "
                      "stalled, output bit-exact")


@cocotb.test()
async def reset_mid_layer_leaves_an_idle_block(dut):
    """``rst`` held for 3 cycles while a read beat, then a write beat, is on the bus (the
    memory model is reset with the block, as AXI's one reset requires): the block is idle with
    a cleared descriptor, nothing outside the output region was written, and the next layer
    runs bit-exact."""
    await start_clock_and_reset(dut)
    bench = FaultBench(dut, stalls=0.2)
    host = bench.host
    for channel in ("r", "w"):
        tensors, base = bench.draw()
        image, layer, _, _ = bench.place(tensors, base)
        before = bench.memory()
        valid = getattr(dut, f"m_axi__{channel}valid")
        skip = int(bench.rng.integers(0, 8))
        await host.start(layer.descriptor())
        cycle = 0
        while True:
            await ReadOnly()
            if valid.value:
                if skip == 0:
                    break
                skip -= 1
            assert cycle < run_timeout(image, layer), f"no {channel.upper()} beat to reset in"
            await RisingEdge(dut.clk)
            cycle += 1
        await RisingEdge(dut.clk)
        dut.rst.value = 1
        await tick(dut, 3)
        dut.rst.value = 0
        bench.faults.reset()
        await tick(dut, 2)
        status = await host.read_register("status")
        assert status == 0, f"status {status:#x} after a reset, not idle"
        for name in DESCRIPTOR_FIELDS:
            value = await host.read_register(name.lower())
            assert value == 0, f"{name} reads {value:#x} after a reset, not 0"
        bench.check_outside_output(before, layer, f"reset during a beat on {channel.upper()}")
        dut._log.info(f"reset {cycle} cycles into a layer, during a beat on {channel.upper()}")
        await bench.good_run(f"the layer after a reset during a beat on {channel.upper()}")


@cocotb.test()
async def descriptor_writes_while_busy_are_refused(dut):
    """While a layer runs, the host writes random values to random descriptor registers (each
    answered SLVERR and leaving the register as it was) and 1 to ``control`` (ignored): the
    layer is bit-exact with exact counters, and the next layer too."""
    await start_clock_and_reset(dut)
    bench = FaultBench(dut, stalls=0.2)
    host, rng = bench.host, bench.rng
    tensors, base = bench.draw()
    descriptor = conv_layer(bench.config, tensors, base=base)[1].descriptor()
    refused = []

    async def meddle():
        names = [*(name.lower() for name in DESCRIPTOR_FIELDS), "control"]
        while len(refused) < 12:
            await tick(dut, int(rng.integers(0, 40)))
            name = str(rng.choice(names))
            value = 1 if name == "control" else int(rng.integers(0, 1 << 32))
            resp = await host.write_register(name, value, expect=None)
            busy = await host.read_register("status") & 1
            if name == "control":
                assert resp == AxiResp.OKAY, f"start while busy: the block answered {resp!r}"
            elif resp == AxiResp.SLVERR:
                field = next(field for field in DESCRIPTOR_FIELDS if field.lower() == name)
                kept = await host.read_register(name)
                assert kept == descriptor[field], (
                    f"{name} reads {kept:#x} after a refused write of {value:#x}, not "
                    f"{descriptor[field]:#x}")
                refused.append(name)
            else:
                assert not busy, f"a write to {name} while busy: the block answered {resp!r}"
            if not busy:
                break

    await bench.good_run("descriptor writes while busy", tensors, base, while_busy=meddle)
    assert refused, "the layer ended before any write while busy"
    dut._log.info(f"{len(refused)} descriptor writes refused while busy: {', '.join(refused)}")
    await bench.good_run("the layer after writes while busy")


@cocotb.test()
async def input_errors_belong_to_their_run(dut):
    """A bad word in input row 0 ends a convolution (R 1) with ``INPUT_FORMAT``, and the next
    layer, whose first band starts no fetcher on lane 0 (padding 1, R 3), runs bit-exact (the
    lane's error flag stays set until its fetcher starts again); a bad word in the first of
    two rows of a fully connected layer ends it with ``INPUT_FORMAT`` too (lane 0's fetcher
    starts again for the second row)."""
    await start_clock_and_reset(dut)
    bench = FaultBench(dut, stalls=0.2)
    config, rng = bench.config, bench.rng
    # R = 1, so no padding: lane 0 reads row 0 in the first band.
    conv_image, conv, _, _ = conv_layer(config, bench.draw(R=1)[0], base=bench.base())
    x = rng.integers(1, 100, (2, 2, 3)) * rng.choice([-1, 1], (2, 2, 3))
    w = rng.integers(-128, 128, (x.size, 4))
    pou = PouParams.make(bias=rng.integers(-2000, 2000, 4), mult=rng.integers(1, 1 << 12, 4),
                         shift=rng.integers(10, 18, 4), relu=False, numerics=config.numerics)
    fc_image = MemoryImage(base=bench.base())
    fc = LayerImage.fc(fc_image, x, w, pou, numerics=config.numerics)
    for what, image, layer in (("convolution", conv_image, conv),
                               ("fully connected layer", fc_image, fc)):
        corrupt_row_zero(image, layer)
        bench.host.ram.write(image.base, bytes(image.data))
        before = bench.memory()
        run = await bench.host.run(layer.descriptor(), timeout_cycles=run_timeout(image, layer))
        assert run["error"] == BlockError.INPUT_FORMAT, (
            f"{what} with a bad word in row 0: the run ended with {run['error']!r}")
        bench.check_outside_output(before, layer, f"{what} with a bad word")
        tensors, base = bench.draw(R=3)
        i, f, stride, (_, pw), groups, pou_next = tensors
        await bench.good_run(f"the layer after a bad {what}",
                             (i, f, stride, (1, pw), groups, pou_next), base)
