"""cocotb bench of hw/filter_loader.py: random filters encoded with golden.memory_image, served
by a memory model with random latency; the filter buffer writes checked against
pack_filter_fibers."""

import itertools

import cocotb
import numpy as np
from cocotb.triggers import ReadOnly, RisingEdge
from cocotb.utils import get_sim_time

from isosceles.golden.isos import filter_fibers
from isosceles.golden.memory_image import MemoryImage, weight_word, write_filters
from isosceles.golden.numerics import Numerics
from isosceles.hw.filter_buffer import pack_filter_fibers
from isosceles.hw.filter_loader import LoadError
from isosceles.tb import checked
from isosceles.tb.memory_model import ReadMemory
from isosceles.tb.streams import check_tokens, start_clock_and_reset, tb_context, tick, wait_idle


def numerics_of(ctx):
    return Numerics(act_bits=4, weight_bits=ctx.params["weight_bits"], acc_bits=16)


def _listed(node):
    """``node`` with every dict whose keys are ``"0" .. "n-1"`` turned into a list."""
    if not isinstance(node, dict):
        return node
    node = {key: _listed(value) for key, value in node.items()}
    if node and all(key.isdigit() for key in node):
        return [node[str(index)] for index in range(len(node))]
    return node


class WritePortMonitor:
    """Records every write (``en`` high at a rising edge) of write port ``port``:
    ``(addr, data fields)``; an ArrayLayout word becomes a list of field dicts."""

    def __init__(self, dut, ctx, port):
        self._clk = dut.clk
        self._en, self._addr, self._data = (getattr(dut, f"{port}__{name}")
                                            for name in ("en", "addr", "data"))
        self._ctx, self._port, self.writes = ctx, port, []
        cocotb.start_soon(self._watch())

    def _fields(self, word):
        """The port's fields, nested as the golden image holds them: ``"0.r"`` becomes
        ``[{"r": ...}]``, ``"first.1"`` becomes ``{"first": [_, ...]}``."""
        tree = {}
        for name, value in self._ctx.unpack(f"{self._port}__data", word).items():
            *path, leaf = name.split(".")
            node = tree
            for step in path:
                node = node.setdefault(step, {})
            node[leaf] = value
        return _listed(tree)

    async def _watch(self):
        while True:
            await ReadOnly()
            if int(self._en.value):
                self.writes.append((int(self._addr.value), self._fields(int(self._data.value))))
            await RisingEdge(self._clk)


def _filling_shape(ctx):
    """``(C, 1, K, S)`` of a dense filter whose fibers fill the buffer to its last word (so a
    pointer's ``last`` is ``words``), or None if the build has none."""
    kernel, channels = ctx.params["max_kernel"], ctx.params["max_channels"]
    macs, words = ctx.params["macs_per_pe"], ctx.params["words"]
    for C, K, S in itertools.product(range(1, channels + 1), range(1, channels + 1),
                                     range(1, kernel + 1)):
        if C * -(-K * S // macs) == words:
            return C, 1, K, S
    return None


def random_filters(ctx, count):
    """Filters ``[C/groups, R, K, S]`` that fit the build, with their groups: whatever the seed,
    a dense one that fills the buffer exactly (if the build has one), a 1x1 K = 1 filter, an
    all-zero one, a dense one at the largest R, S and C, then random shapes, groups and
    densities; those whose image would not fit the buffer are skipped."""
    rng = np.random.default_rng(ctx.seed)
    kernel, channels = ctx.params["max_kernel"], ctx.params["max_channels"]
    high = (1 << (ctx.params["weight_bits"] - 1)) - 1
    first = [(np.full((channels, 1, 1, 1), -high - 1), 1),
             (np.zeros((2, kernel, 2, kernel), np.int64), 1),
             (rng.integers(1, high + 1, (channels, kernel, 1, kernel)), 1)]
    filling = _filling_shape(ctx)
    if filling:
        first.insert(0, (rng.integers(1, high + 1, filling), 1))
    made = 0
    while made < len(first) + count:
        if made < len(first):
            f, groups = first[made]
        else:
            groups = int(rng.choice([1, 1, 2]))
            Cg = int(rng.integers(1, channels // groups + 1))
            K = groups * int(rng.integers(1, channels // groups + 1))
            R, S = int(rng.integers(1, kernel + 1)), int(rng.integers(1, kernel + 1))
            density = float(rng.choice([0.0, 0.1, 0.5, 1.0, rng.random()]))
            f = rng.integers(-high - 1, high + 1, (Cg, R, K, S))
            f = f * (rng.random(f.shape) < density)
        fibers = filter_fibers(f, groups)
        try:
            image = pack_filter_fibers(fibers, macs_per_pe=ctx.params["macs_per_pe"],
                                       max_kernel=ctx.params["max_kernel"],
                                       words=ctx.params["words"], banks=None)
        except ValueError:
            made += made < len(first)  # a fixed filter this build cannot hold: the next one
            continue
        made += 1
        yield f.astype(np.int64), groups, image


async def load(dut, ctx, memory, *, area, timeout):
    dut.config.value = ctx.pack("config", {"table_addr": area.table, "words_addr": area.words,
                                           "C": area.entries})
    dut.start.value = 1
    await tick(dut)
    dut.start.value = 0
    started = get_sim_time("ns")
    await wait_idle(dut, ctx, timeout=timeout, what="filter load")
    memory.check()
    return round((get_sim_time("ns") - started) / 10)


def expected_requests(memory, area):
    """One request per table entry, then one per nonempty fiber: exactly the format's bytes."""
    requests = []
    table = memory.image.read(area.table, 2 * area.entries, np.uint32, "channel table")
    for c, (offset, count) in enumerate(table.reshape(-1, 2).tolist()):
        requests.append({"addr": area.table + 8 * c, "words": 2})
        if count:
            requests.append({"addr": area.words + 4 * offset, "words": count})
    return requests


@cocotb.test()
async def golden_filters_under_stalls(dut):
    ctx = tb_context()
    await start_clock_and_reset(dut)
    memory = ReadMemory(dut, ctx, None, latency=6, idle=0.3, backpressure=0.3)
    words, pointers = (WritePortMonitor(dut, ctx, port)
                       for port in ("filter_write", "pointer_write"))
    loads = weights = 0
    for f, groups, image in random_filters(ctx, ctx.extra.get("filters", 20)):
        checked.case("filter sets")
        memory.image = MemoryImage(base=64 * (loads % 5))
        area = write_filters(memory.image, "filters", f, groups, numerics_of(ctx))
        first_request, first_word, first_pointer = (len(memory.requests), len(words.writes),
                                                    len(pointers.writes))
        await load(dut, ctx, memory, area=area, timeout=200 * (area.area_words + area.entries))
        what = f"filters {list(f.shape)} groups={groups}"
        assert ctx.unpack("status", int(dut.status.value))["error"] == LoadError.NONE, what
        got_words = words.writes[first_word:]
        check_tokens(got_words, list(enumerate(image.words)), what, "filter words")
        check_tokens(pointers.writes[first_pointer:], list(enumerate(image.pointers)), what,
                     "pointers")
        assert memory.requests[first_request:] == expected_requests(memory, area), what
        loads, weights = loads + 1, weights + int(np.count_nonzero(f))
    dut._log.info(f"{loads} filter loads, {weights} weights checked")


@cocotb.test()
async def errors_end_the_load(dut):
    """A corrupt weight word or a table entry longer than any fiber stops the load with FORMAT,
    fibers beyond the buffer with OVERFLOW; each takes every word it requested, and a good
    load afterwards clears them."""
    ctx = tb_context()
    await start_clock_and_reset(dut)
    memory = ReadMemory(dut, ctx, None, latency=3, idle=0.3, backpressure=0.3)
    kernel, channels = ctx.params["max_kernel"], ctx.params["max_channels"]
    dense = np.ones((channels, kernel, channels, kernel), np.int64)
    corruptions = {
        "reserved bit": lambda word: word | (1 << 25),
        "zero value": lambda word: word & ~0xFFFF,
        "s >= max_kernel": lambda word: weight_word(kernel, 1) if kernel < 15 else word | 1 << 30,
        "weight first": lambda word: None,
    }
    # In channel 0 the next entry has been prefetched when the error comes; in channel 1 not.
    for (name, corrupt), channel in itertools.product(corruptions.items(), (0, 1)):
        memory.image = MemoryImage()
        area = write_filters(memory.image, "filters", dense[:2, :1, :2, :1])
        table = memory.image.read(area.table, 4, np.uint32, "table").tolist()
        at = area.words + 4 * (table[2 * channel] + 1)  # the channel's first weight word
        if corrupt(1) is None:
            at -= 4  # its coordinate word, made a weight word
            memory.image.write(at, np.array([weight_word(0, 1)], np.uint32))
        else:
            word = int(memory.image.read(at, 1, np.uint32, "word")[0])
            memory.image.write(at, np.array([corrupt(word)], np.uint32))
        sent, first = memory.words_sent, len(memory.requests)
        await load(dut, ctx, memory, area=area, timeout=2000)
        what = f"{name} in channel {channel}"
        assert ctx.unpack("status", int(dut.status.value))["error"] == LoadError.FORMAT, what
        assert memory.words_sent - sent == memory.requested_bytes(first) // 4, what
        assert len(memory.requests) - first == 2 + 2 * channel + (channel == 0), (
            f"{what}: requests {memory.requests[first:]}")
    # A table entry longer than any fiber (a corrupt or garbage count, up to 2**32 - 1 words)
    # stops the load at once; its fiber is never requested.
    longest = kernel * channels * (kernel + 1)
    for channel, count in ((0, 0xFFFF_FFFF), (1, longest + 1)):
        memory.image = MemoryImage()
        area = write_filters(memory.image, "filters", dense[:2, :1, :2, :1])
        memory.image.write(area.table + 8 * channel + 4, np.array([count], np.uint32))
        sent, first = memory.words_sent, len(memory.requests)
        await load(dut, ctx, memory, area=area, timeout=2000)
        what = f"an entry of {count} words in channel {channel}"
        assert ctx.unpack("status", int(dut.status.value))["error"] == LoadError.FORMAT, what
        assert memory.requests[first:] == expected_requests(memory, area)[:1 + 2 * channel], (
            f"{what}: requests {memory.requests[first:]}")
        assert memory.words_sent - sent == memory.requested_bytes(first) // 4, what
    memory.image = MemoryImage()
    area = write_filters(memory.image, "filters", dense)
    await load(dut, ctx, memory, area=area, timeout=20000)
    assert ctx.unpack("status", int(dut.status.value))["error"] == LoadError.OVERFLOW
    assert memory.words_sent == sum(r["words"] for r in memory.requests), "words left behind"
    memory.image = MemoryImage()
    area = write_filters(memory.image, "filters", dense[:1, :1, :1, :1])
    await load(dut, ctx, memory, area=area, timeout=2000)
    assert ctx.unpack("status", int(dut.status.value))["error"] == LoadError.NONE


@cocotb.test()
async def bench(dut):
    """No stalls, no latency: cycles of a load, words read per cycle; the entry of each
    channel after a nonempty one is prefetched, so a load costs about a cycle per word plus the
    model's turnaround per fiber and per empty channel's entry."""
    ctx = tb_context()
    await start_clock_and_reset(dut)
    memory = ReadMemory(dut, ctx, None, latency=0, idle=0.0, backpressure=0.0)
    rng = np.random.default_rng(ctx.seed)
    kernel, channels = ctx.params["max_kernel"], ctx.params["max_channels"]
    for density in (1.0, 0.3):
        f = rng.integers(1, 8, (channels, 1, channels, kernel))
        f = f * (rng.random(f.shape) < density)
        memory.image = MemoryImage()
        area = write_filters(memory.image, "filters", f)
        cycles = await load(dut, ctx, memory, area=area, timeout=20000)
        words = area.area_words + 2 * area.entries
        figure = {"density": density, "channels": area.entries, "words_read": words,
                  "cycles": cycles, "words_per_cycle": round(words / cycles, 2)}
        dut._log.info(f"bench {figure}")
        assert cycles <= words + 4 * area.entries + 8, figure
