"""Formal view of the filter loader: requests only for the table's entries and the fibers they
name, every weight written in its slot of its word at the next address, the fibers' pointers,
and the error codes exactly when the format or the buffer says so."""

from amaranth import Mux, Signal

from isosceles.hw.filter_loader import FilterLoader, LoadError
from isosceles.tb.formal import FormalView, any_seq, mutant
from isosceles.tb.formal_rmerger import NARROW

__all__ = ["FilterLoaderView", "make_views", "broken_views"]

MACS, MAX_KERNEL, MAX_CHANNELS, WORDS, ADDR_WIDTH = 2, 2, 2, 2, 8
LONGEST = MAX_KERNEL * MAX_CHANNELS * (MAX_KERNEL + 1)  # words of the longest fiber
ENTRY, WAIT, FIBER, DONE = range(4)  # the load's next request, in the view


class FilterLoaderView(FormalView):
    """Two weights a word, filters up to 2 x 2 over two channels, a buffer of two words,
    2-bit weights, 8-bit addresses, any ``config``, ``start`` and 32-bit words.

    Assumed: ``C <= max_channels`` (the block checks it); the memory answers the requests it
    accepted in order, a word only while some are outstanding. The view keeps the outstanding
    requests (so it knows what each word is: an entry's offset or count, or a fiber's word) and
    decodes the words as ``docs/memory.md`` defines them. Checked: every request is the load's
    next one, ``{table_addr + 8c, 2}`` for channels ``c = 0 .. C - 1`` in turn, each followed,
    once its entry's count is in and ``1 <= count <=`` the longest fiber, by the fiber's
    ``{words_addr + 4 * offset, count}`` (so nothing outside the table and the fibers is read);
    at most two outstanding; no request or word taken outside a load; a word of weights is
    written exactly when its ``macs_per_pe`` slots fill or its fiber ends, at the next address,
    while no error and not past the buffer, with the weight completing it in its slot and the
    slots after it zero; a weight the solver chooses is in its slot of its word, with the
    ``r, k`` of its coordinate word and its ``s`` and value; each fiber's pointer is written
    once at its end, at its channel, with each row's first and one-past-last word; ``error``
    at a load's end is the first of ``FORMAT`` (a word the encoder would not write, an entry
    counting more than the longest fiber) and ``OVERFLOW`` (a word past the buffer), else
    ``NONE``; ``busy`` falls only with no request or word outstanding, once every channel is
    loaded or an error stopped the load.
    """

    driven = ("filter_write", "pointer_write")

    def properties(self, m, props, unit):
        config, start, req, word = unit.config, unit.start, unit.req, unit.word
        fw, pw = unit.filter_write, unit.pointer_write
        busy, error = unit.status.busy, unit.status.error
        accepted = start & ~busy
        kept = Signal.like(config)
        with m.If(accepted):
            m.d.sync += kept.eq(config)
        props.assume(config.C <= MAX_CHANNELS, when=accepted)
        asked = req.valid & req.ready
        took = word.valid & word.ready
        head = word.payload

        # The outstanding requests, oldest first: whether a fiber, its channel, words left.
        slots = [(Signal(name=f"out{n}_full"), Signal(name=f"out{n}_fiber"),
                  Signal(range(MAX_CHANNELS), name=f"out{n}_channel"),
                  Signal(range(LONGEST + 1), name=f"out{n}_left")) for n in range(2)]
        (full0, fiber0, channel0, left0), (full1, fiber1, channel1, left1) = slots
        props.assume(full0, when=word.valid)
        done_request = took & (left0 == 1)
        state = Signal(range(4), init=DONE)
        channel = Signal(range(MAX_CHANNELS + 1))
        is_fiber = state == FIBER
        with m.If(took):
            m.d.sync += left0.eq(left0 - 1)
        with m.If(done_request):
            m.d.sync += [full0.eq(full1), fiber0.eq(fiber1), channel0.eq(channel1),
                         left0.eq(left1), full1.eq(0)]
        with m.If(asked):
            new = [1, is_fiber, channel, req.payload.words]
            with m.If(Mux(done_request, ~full1, ~full0)):
                m.d.sync += [a.eq(b) for a, b in zip(slots[0], new, strict=True)]
            with m.Else():
                m.d.sync += [a.eq(b) for a, b in zip(slots[1], new, strict=True)]
        props.check("at most two requests outstanding", ~full1 | done_request, when=asked)

        # The load's next request: the next entry, or the fiber its entry names.
        offset, count = Signal(32), Signal(32)
        entry_at = Signal(ADDR_WIDTH)
        fiber_at = Signal(ADDR_WIDTH)
        m.d.comb += [entry_at.eq(kept.table_addr + channel * 8),
                     fiber_at.eq(kept.words_addr + offset * 4)]
        props.check("every request is the load's next: its next entry, or the fiber it names",
                    Mux(state == ENTRY, (req.payload.addr == entry_at) & (req.payload.words == 2),
                        is_fiber & (req.payload.addr == fiber_at)
                        & (req.payload.words == count)), when=asked)
        props.check("no request or word outside a load", busy, when=req.valid | took)
        entry_word = took & ~fiber0

        def next_entry():
            return [state.eq(Mux(channel + 1 < kept.C, ENTRY, DONE)), channel.eq(channel + 1)]

        with m.If(accepted):
            m.d.sync += [state.eq(Mux(config.C != 0, ENTRY, DONE)), channel.eq(0)]
        with m.Else():
            with m.If(asked & (state == ENTRY)):
                m.d.sync += state.eq(WAIT)
            with m.If(asked & is_fiber):
                m.d.sync += next_entry()
            with m.If(entry_word & (left0 == 2)):
                m.d.sync += offset.eq(head)
            with m.If(entry_word & (left0 == 1)):
                m.d.sync += count.eq(head)
                with m.If(head == 0):
                    m.d.sync += next_entry()
                with m.Elif(head <= LONGEST):
                    m.d.sync += state.eq(FIBER)
                with m.Else():
                    m.d.sync += state.eq(DONE)

        # The fiber's words, decoded as docs/memory.md defines them.
        weight_bits = NARROW.weight_bits
        fiber_word = took & fiber0
        fiber_starts = entry_word & (left0 == 1)  # its count word
        is_coordinate = head[31]
        value = head[:16]
        top = value[weight_bits - 1:]
        bad_value = (value == 0) | ((top != 0) & (top != (1 << len(top)) - 1))
        have_coordinate, r, k = Signal(), Signal(range(MAX_KERNEL)), Signal(range(MAX_CHANNELS))
        bad = Mux(is_coordinate,
                  (head[16:31] != 0) | (head[12:16] >= MAX_KERNEL) | (head[:12] >= MAX_CHANNELS)
                  | (left0 == 1),
                  (head[20:31] != 0) | (head[16:20] >= MAX_KERNEL) | bad_value | ~have_coordinate)
        with m.If(fiber_starts):
            m.d.sync += have_coordinate.eq(0)
        with m.Elif(fiber_word & is_coordinate):
            m.d.sync += [have_coordinate.eq(1), r.eq(head[12:16]), k.eq(head[:12])]

        expected_error = Signal(2)
        live = expected_error == LoadError.NONE
        weight = Signal(unit.weight_layout)
        m.d.comb += [weight.r.eq(r), weight.k.eq(k), weight.s.eq(head[16:20]),
                     weight.value.eq(value[:weight_bits])]
        taken_weight = fiber_word & ~is_coordinate & ~bad & live
        fiber_ends = left0 == 1
        address, slot = Signal(range(WORDS + 1)), Signal(range(MACS))
        completes = taken_weight & ((slot == MACS - 1) | fiber_ends)
        overflow = completes & (address == WORDS)
        with m.If(accepted):
            m.d.sync += [expected_error.eq(LoadError.NONE), address.eq(0), slot.eq(0)]
        with m.Elif(live):
            with m.If((fiber_starts & (head > LONGEST)) | (fiber_word & bad)):
                m.d.sync += expected_error.eq(LoadError.FORMAT)
            with m.Elif(overflow):
                m.d.sync += expected_error.eq(LoadError.OVERFLOW)
            with m.Elif(completes):
                m.d.sync += [address.eq(address + 1), slot.eq(0)]
            with m.Elif(taken_weight):
                m.d.sync += slot.eq(slot + 1)

        written = completes & ~overflow
        props.check("a word is written exactly when it fills or its fiber ends, at the next "
                    "address", (fw.en == written) & (~fw.en | (fw.addr == address)))
        props.check("the weight completing a word is in its slot, the slots after it empty",
                    _completing(fw, slot, weight), when=written)
        tracking, tracked, tracked_at, tracked_slot = (
            Signal(), Signal.like(weight), Signal.like(address), Signal.like(slot))
        with m.If(taken_weight & ~completes & any_seq(1) & ~tracking):
            m.d.sync += [tracking.eq(1), tracked.eq(weight), tracked_at.eq(address),
                         tracked_slot.eq(slot)]
        props.check("the chosen weight is in its slot of its word",
                    fw.data[tracked_slot].as_value() == tracked.as_value(),
                    when=fw.en & tracking & (fw.addr == tracked_at))

        # The fiber's pointer: per row j, the first word holding a row >= j and one past the
        # last word holding a row <= j.
        seen = Signal(MAX_KERNEL)
        first = [Signal.like(address, name=f"first{j}") for j in range(MAX_KERNEL)]
        last = [Signal.like(address, name=f"last{j}") for j in range(MAX_KERNEL)]
        with m.If(fiber_starts):
            m.d.sync += [seen.eq(0)] + [last[j].eq(address) for j in range(MAX_KERNEL)]
        with m.Elif(taken_weight):
            for j in range(MAX_KERNEL):
                with m.If((j <= r) & ~seen[j]):
                    m.d.sync += [first[j].eq(address), seen[j].eq(1)]
                with m.If(r <= j):
                    m.d.sync += last[j].eq(address + 1)
        empty = fiber_starts & (head == 0) & live
        pointer_due = empty | (written & fiber_ends)
        props.check("a fiber's pointer is written exactly at its end, at its channel",
                    (pw.en == pointer_due) & (~pw.en | (pw.addr == channel0)))
        for j in range(MAX_KERNEL):
            # An empty fiber's bounds are its start; otherwise the weight ending the fiber
            # (row r, at address) counts too.
            first_now = Mux(seen[j], first[j], Mux(j <= r, address, address + 1))
            last_now = Mux(r <= j, address + 1, last[j])
            props.check(f"row {j}: the pointer's first and last words",
                        (pw.data.first[j] == Mux(empty, address, first_now))
                        & (pw.data.last[j] == Mux(empty, address, last_now)), when=pw.en)

        fell = props.past(busy) & ~busy
        props.check("error at a load's end is the first the words give",
                    error == expected_error, when=fell)
        props.check("busy falls with nothing outstanding, every channel loaded or stopped",
                    ~full0 & ~req.valid & (~live | (channel == kept.C)), when=fell)

        weights = props.counter("weights", range(8), taken_weight, clear=accepted)
        requests = props.counter("requests", range(8), asked, clear=accepted)
        props.cover("two channels load, a fiber of three weights in two words, one empty",
                    fell & live & (kept.C == 2) & (weights == 3))
        props.cover("OVERFLOW ends a load", fell & (error == LoadError.OVERFLOW))
        props.cover("FORMAT ends a load after the next entry was requested",
                    fell & (error == LoadError.FORMAT) & (requests == 3))


def _completing(fw, slot, weight):
    """The write holds ``weight`` in ``slot`` and nothing in the slots after it."""
    test = fw.data[slot].as_value() == weight.as_value()
    for i in range(1, MACS):
        test &= (slot >= i) | (fw.data[i].as_value() == 0)
    return test


def _loader(cls=FilterLoader):
    return cls(numerics=NARROW, macs_per_pe=MACS, max_kernel=MAX_KERNEL,
               max_channels=MAX_CHANNELS, words=WORDS, addr_width=ADDR_WIDTH)


UnscaledFilterLoader = mutant(FilterLoader, "config.words_addr + offset * WORD_BYTES",
                              "config.words_addr + offset", name="UnscaledFilterLoader")
TrustingFilterLoader = mutant(FilterLoader, "with m.If(taken & (head > longest)):",
                              "with m.If(0):", name="TrustingFilterLoader")
OverfullFilterLoader = mutant(FilterLoader, "with m.If(next_word == depth):",
                              "with m.If(next_word == depth + 1):", name="OverfullFilterLoader")


def make_views():
    # The covers need 14 steps, whose bmc is past CI's budget: CI checks every property to 12.
    return [FilterLoaderView(_loader(), depth=14, slow=("bmc",)),
            FilterLoaderView(_loader(), depth=12, tag="short", modes=("bmc",)),
            FilterLoaderView(_loader(), depth=16, tag="deep", modes=("bmc",), slow=("bmc",))]


def broken_views():
    """(view of a broken variant, the property its check must fail, or a tuple of those it
    may fail first)."""
    return [
        (FilterLoaderView(_loader(UnscaledFilterLoader), depth=8),
         "every request is the load's next"),
        (FilterLoaderView(_loader(TrustingFilterLoader), depth=8),
         ("every request is the load's next", "error at a load's end")),
        (FilterLoaderView(_loader(OverfullFilterLoader), depth=12, slow=("bmc",)),
         ("a word is written exactly when", "error at a load's end")),
    ]
