"""The multi-context queue: one FIFO per layer context, partitioned at runtime in one memory."""

import operator
from functools import reduce

from amaranth import Array, Cat, Module, Mux, Shape, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from isosceles.gen.config import IsoscelesConfig, bits_for
from isosceles.golden.checks import check_int

__all__ = ["MultiContextQueue", "push_layout", "region_layout"]

MAX_CONTEXTS = 16  # layers that may time-multiplex one IS-OS block (the paper's 2 to 16, and 1)
MAX_DEPTH = 1 << 16


def push_layout(*, layout, contexts):
    """A token pushed into the queue: the context ``ctx`` it joins and its ``data``."""
    return data.StructLayout({"ctx": unsigned(bits_for(contexts)), "data": layout})


def region_layout(*, depth):
    """The memory region of one context: entries ``base .. base + capacity - 1``."""
    return data.StructLayout({"base": unsigned(bits_for(depth)),
                              "capacity": unsigned(bits_for(depth + 1))})


class MultiContextQueue(wiring.Component):
    """``contexts`` FIFOs (one per layer in flight) sharing one memory of ``depth`` entries.

    The memory (``amaranth.lib.memory``, one write and one read port) is partitioned at runtime:
    context ``c`` owns the ring ``base[c] .. base[c] + capacity[c] - 1``, with its own head and
    tail pointers, so a layer mix with fewer contexts gives each of them more room. Seen from
    outside, context ``c`` is a FIFO of exactly ``capacity[c]`` tokens: ``occupancy[c]`` counts
    the tokens pushed into it and not yet popped (wherever they are: memory, read in flight or
    output stage), and a push into ``c`` is accepted while ``occupancy[c] < capacity[c]``.

    **Push** (``i``, payload ``{ctx, data}``): one token per cycle into any context. ``i.ready``
    is low while the context named by the payload is full (it depends on the payload, which the
    stream contract keeps stable while waiting), while ``ctx >= contexts`` (such a token is never
    taken), and in a ``configure`` cycle. There is a single push port, so a token for a full
    context holds back the tokens behind it: a producer that must not block reads ``occupancy``
    and only presents tokens for contexts with room (then every token is taken at once, since
    only pops change the occupancy of a context it does not push).

    **Pop** (``o[c]``): each context has a two-entry output stage whose head is ``o[c]``
    (``o[c].valid`` and ``o[c].payload`` are registers, stable until taken). Tokens reach it in
    one of two ways:

    * *bypass*: a token pushed into a context with nothing in memory and nothing read in flight
      goes straight into its output stage, so an empty queue has one cycle of latency and a
      stream whose consumer keeps up needs no memory access at all;
    * *memory*: otherwise it is written at the context's tail, and the single read port fetches
      heads for the contexts that have tokens in memory and room in their output stage, chosen
      round-robin (after the last one served), one read per cycle. The data lands in the output
      stage in the cycle after the read, two cycles after it was requested.

    A read is requested only if the output stage will still have room when its data lands:
    tokens held, plus the read in flight, minus the token taken this cycle, at most one. Counting
    this cycle's pop (``o[c].ready``, a combinational path into the arbiter) is what lets one
    context stream at a token per cycle from memory with only two entries per stage; a context
    stalled by its consumer just stops requesting, so it never blocks the read port for the
    others.

    Read-during-write of one address cannot happen, so the read port need not be transparent:
    a context is read only while it has tokens in memory, and is written only while it is not
    full, so its head and tail differ whenever both move in one cycle; the regions of two
    contexts are disjoint (checked at ``configure``). A word written in one cycle is read at the
    earliest in the next, when the memory holds it.

    **Configuration**: ``config[c]`` gives ``base`` and ``capacity`` of every context; a
    one-cycle ``configure`` pulse applies all of them at once. The queue refuses (keeps the
    partition in force and sets ``config_error``) unless it is empty (every ``occupancy`` zero)
    and the regions are valid: each within the memory (``base + capacity <= depth``), and the
    regions of nonzero capacity pairwise disjoint. An accepted ``configure`` clears
    ``config_error``. A context of capacity 0 takes no tokens. After reset the memory is split
    equally: context ``c`` owns ``depth // contexts`` entries from ``c * (depth // contexts)``.

    Throughput and latency: one push and one pop per cycle in aggregate, sustained (pops from
    memory and by bypass can momentarily exceed that while a backlog drains). A context of
    capacity 2 or more streams a token per cycle with one cycle of latency; capacity 1 works
    at one token every two cycles.

    Stream contract: every ``o[c].valid`` does not wait on ``o[c].ready``; ``o[c].payload`` is
    stable while ``o[c].valid & ~o[c].ready``. ``i.ready`` may depend on ``i.valid`` and
    ``i.payload`` (the producer keeps both stable until the transfer, as the contract requires).

    Parameters
    ----------
    layout : Layout or Shape-castable
        The token each FIFO holds (any stream payload, such as a lane-stream token).
    contexts : int
        Logical FIFOs, 1 to 16.
    depth : int
        Memory entries shared by all contexts, from ``max(2, contexts)`` (one entry each
        after reset) to 65536.
    """

    lint_waivers = {
        "UNUSEDSIGNAL": "Amaranth's Verilog keeps named alias wires that its logic bypasses: "
                        "members of memory ports (read__en), ArrayLayout elements (config[0], "
                        "occupancy[0]), truncated copies of named nodes (held0) and "
                        "constant temporaries ($82); the queue has no unused signal",
    }

    def __init__(self, *, layout, contexts, depth):
        self._MustUse__silence = True  # only cleared below, once the parameters are valid
        try:
            width = Shape.cast(layout).width
        except TypeError as error:
            raise ValueError(f"layout must be a data.Layout or a shape such as unsigned(8), "
                             f"not {layout!r}") from error
        if width < 1:
            raise ValueError(f"layout must be at least 1 bit wide, not {layout!r}")
        check_int("contexts", contexts, 1, MAX_CONTEXTS)
        low = max(2, contexts)
        if not isinstance(depth, int) or isinstance(depth, bool) or not (
                low <= depth <= MAX_DEPTH):
            raise ValueError(f"depth must be an integer from {low} (at least 2, and one entry "
                             f"per context) to {MAX_DEPTH}, not {depth!r}")
        self._MustUse__silence = False
        self._layout, self._width, self._contexts, self._depth = layout, width, contexts, depth
        self.push_layout = push_layout(layout=layout, contexts=contexts)
        self.region_layout = region_layout(depth=depth)
        self.count_shape = unsigned(bits_for(depth + 1))
        super().__init__({
            "i": In(stream.Signature(self.push_layout)),
            "o": Out(stream.Signature(layout)).array(contexts),
            "config": In(data.ArrayLayout(self.region_layout, contexts)),
            "configure": In(1),
            "config_error": Out(1),
            "occupancy": Out(data.ArrayLayout(self.count_shape, contexts)),
        })

    @classmethod
    def from_config(cls, config, *, layout):
        """The queue of one lane of ``config``: ``queue_bytes`` of ``layout`` tokens, one
        context per layer in flight."""
        if not isinstance(config, IsoscelesConfig):
            raise ValueError(f"config must be an IsoscelesConfig, not {config!r}")
        try:
            width = Shape.cast(layout).width
        except TypeError as error:
            raise ValueError(f"layout must be a data.Layout or a shape such as unsigned(8), "
                             f"not {layout!r}") from error
        return cls(layout=layout, contexts=config.layers_in_flight,
                   depth=config.queue_bytes * 8 // max(1, width))

    @property
    def nbytes(self):
        """Memory of the queue in bytes (pointers and output stages not included)."""
        return (self._depth * self._width + 7) // 8

    def elaborate(self, platform):
        m = Module()
        contexts, depth = self._contexts, self._depth
        address_shape = unsigned(bits_for(depth))
        count_shape = self.count_shape
        share = depth // contexts

        m.submodules.memory = memory = Memory(shape=self._layout, depth=depth, init=[])
        write = memory.write_port()
        read = memory.read_port()

        def per_context(name, shape, init=lambda c: 0):
            return [Signal(shape, name=f"{name}{c}", init=init(c)) for c in range(contexts)]

        # The partition in force and each context's ring pointers (absolute addresses).
        base = per_context("base", address_shape, lambda c: c * share)
        end = per_context("end", count_shape, lambda c: (c + 1) * share)
        capacity = per_context("capacity", count_shape, lambda c: share)
        head = per_context("head", address_shape, lambda c: c * share)  # next word to read
        tail = per_context("tail", address_shape, lambda c: c * share)  # next word to write
        stored = per_context("stored", count_shape)        # in memory, not yet read
        occupancy = per_context("occupancy", count_shape)  # pushed and not yet popped
        for c in range(contexts):
            m.d.comb += self.occupancy[c].eq(occupancy[c])

        def select(values, index):
            # Padded to every value of the index, so the multiplexer covers all of its cases.
            return Array(values + [0] * ((1 << len(index)) - len(values)))[index]

        def advance(pointer, c):
            return Mux(pointer + 1 == end[c], base[c], pointer + 1)

        # Push side. Context numbers past the last context read as full.
        ctx = self.i.payload.ctx
        # `occupancy[c] == capacity[c]` and `occupancy[c] == 0`, kept as registers: the push
        # and the configuration decide from them.
        at_capacity, drained = per_context("at_capacity", 1), per_context("drained", 1, lambda c: 1)
        full = Signal(1 << len(ctx))
        m.d.comb += full.eq(-1)
        for c in range(contexts):
            m.d.comb += full[c].eq(at_capacity[c])
        m.d.comb += self.i.ready.eq(~full.bit_select(ctx, 1) & ~self.configure)
        push = Signal()
        m.d.comb += push.eq(self.i.valid & self.i.ready)
        push_to = per_context("push_to", 1)
        for c in range(contexts):
            m.d.comb += push_to[c].eq(push & (ctx == c))

        # The read path (pop, through room and the arbiter, into the read address) is the
        # queue's critical path, so everything it starts from is a register: the context whose
        # read is in flight one-hot (`landing`, its data is on read.data now), `stored[c] != 0`
        # (`has_stored`) and "after the last context served" (`after`) as flags.
        landing = per_context("landing", 1)
        has_stored = per_context("has_stored", 1)
        after = per_context("after", 1, lambda c: c > 0)

        pop, room = per_context("pop", 1), per_context("room", 1)
        skid_valid = per_context("skid_valid", 1)  # the second entry of the output stage
        held = [Signal(2, name=f"held{c}") for c in range(contexts)]
        for c in range(contexts):
            o = self.o[c]
            m.d.comb += [
                pop[c].eq(o.valid & o.ready),
                held[c].eq(o.valid + skid_valid[c] + landing[c]),
                room[c].eq(held[c] <= 1 + pop[c]),
            ]

        bypass, to_memory, request = (per_context(name, 1)
                                      for name in ("bypass", "to_memory", "request"))
        for c in range(contexts):
            m.d.comb += [
                bypass[c].eq(push_to[c] & ~has_stored[c] & ~landing[c] & room[c]),
                to_memory[c].eq(push_to[c] & ~bypass[c]),
                request[c].eq(has_stored[c] & room[c]),
            ]
        m.d.comb += [
            write.addr.eq(select(tail, ctx)),
            write.data.eq(self.i.payload.data),
            write.en.eq(Cat(to_memory).any()),
        ]

        # Round-robin read arbiter: the first requester after the last one served, else the
        # first requester; one-hot, and the address an AND-OR of the heads.
        issue = per_context("issue", 1)
        after_request = [request[c] & after[c] for c in range(contexts)]
        any_after = Signal()
        reading = Signal()
        m.d.comb += [any_after.eq(Cat(after_request).any()), reading.eq(Cat(request).any())]
        for c in range(contexts):
            m.d.comb += issue[c].eq(Mux(any_after,
                                        after_request[c] & ~Cat(after_request[:c]).any(),
                                        request[c] & ~Cat(request[:c]).any()))
        address = Signal(address_shape)
        m.d.comb += [
            address.eq(reduce(operator.or_, [Mux(issue[c], head[c], 0)
                                              for c in range(contexts)])),
            read.addr.eq(address),
            read.en.eq(reading),
        ]
        for c in range(contexts):
            m.d.sync += landing[c].eq(issue[c])
            with m.If(reading):
                m.d.sync += after[c].eq(Cat(issue[:c]).any())

        # Output stages: o[c] is the head, skid the second entry. The block RAM's data comes
        # late in the cycle (no output register), so it meets everything else in one last
        # choice: `earlier` (kept, so that synthesis does not fold that choice into it) holds
        # what o[c] takes when not the read's data.
        for c in range(contexts):
            o = self.o[c]
            skid = Signal(self._layout, name=f"skid{c}")
            arriving = Signal(name=f"arriving{c}")
            from_skid, from_memory = Signal(name=f"from_skid{c}"), Signal(name=f"from_memory{c}")
            earlier = Signal(self._layout, name=f"earlier{c}", attrs={"keep": 1})
            m.d.comb += [
                arriving.eq(bypass[c] | landing[c]),
                from_skid.eq(pop[c] & skid_valid[c]),
                from_memory.eq(landing[c] & ~from_skid),
                earlier.eq(Mux(from_skid, skid, self.i.payload.data)),
            ]
            with m.If(pop[c] | (arriving & ~o.valid)):
                m.d.sync += o.payload.eq(Mux(from_memory, read.data, earlier))
            with m.If(arriving & Mux(pop[c], skid_valid[c], o.valid)):
                m.d.sync += skid.eq(Mux(landing[c], read.data, self.i.payload.data))
            with m.If(pop[c]):
                with m.If(skid_valid[c]):
                    with m.If(~arriving):
                        m.d.sync += skid_valid[c].eq(0)
                with m.Else():
                    m.d.sync += o.valid.eq(arriving)
            with m.Elif(arriving):
                with m.If(o.valid):
                    m.d.sync += skid_valid[c].eq(1)
                with m.Else():
                    m.d.sync += o.valid.eq(1)

            with m.If(push_to[c] & ~pop[c]):
                m.d.sync += [at_capacity[c].eq(occupancy[c] + 1 == capacity[c]),
                             drained[c].eq(0)]
            with m.Elif(pop[c] & ~push_to[c]):
                m.d.sync += [at_capacity[c].eq(0), drained[c].eq(occupancy[c] == 1)]
            m.d.sync += [
                occupancy[c].eq(occupancy[c] + push_to[c] - pop[c]),
                stored[c].eq(Mux(to_memory[c] == issue[c], stored[c],
                                 Mux(to_memory[c], stored[c] + 1, stored[c] - 1))),
                # A context is issued a read only while it has a token stored.
                has_stored[c].eq(to_memory[c] | Mux(issue[c], stored[c] > 1, has_stored[c])),
            ]
            with m.If(to_memory[c]):
                m.d.sync += tail[c].eq(advance(tail[c], c))
            with m.If(issue[c]):
                m.d.sync += head[c].eq(advance(head[c], c))

        # Configuration: every region within the memory, nonempty regions disjoint, queue empty.
        region_end = [Signal(unsigned(count_shape.width + 1), name=f"region_end{c}")
                      for c in range(contexts)]
        checks = []
        for c in range(contexts):
            region = self.config[c]
            m.d.comb += region_end[c].eq(region.base + region.capacity)
            checks.append(region_end[c] <= depth)
            checks.append(drained[c])
        for a in range(contexts):
            for b in range(a + 1, contexts):
                ra, rb = self.config[a], self.config[b]
                disjoint = Signal(name=f"disjoint{a}_{b}")
                m.d.comb += disjoint.eq((ra.capacity == 0) | (rb.capacity == 0)
                                        | (region_end[a] <= rb.base) | (region_end[b] <= ra.base))
                checks.append(disjoint)
        accept = Signal()
        m.d.comb += accept.eq(Cat(checks).all())
        with m.If(self.configure):
            m.d.sync += self.config_error.eq(~accept)
            with m.If(accept):
                for c in range(contexts):
                    region = self.config[c]
                    m.d.sync += [
                        base[c].eq(region.base), capacity[c].eq(region.capacity),
                        end[c].eq(region_end[c]), head[c].eq(region.base),
                        tail[c].eq(region.base), at_capacity[c].eq(region.capacity == 0),
                    ]
        return m
