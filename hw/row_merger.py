"""The row merger: one output row's backend, a (q, k) merge of its R T1 substreams."""

from functools import reduce
from operator import or_

from amaranth import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from isosceles.gen.config import bits_for
from isosceles.golden.checks import check_int
from isosceles.golden.numerics import DEFAULT_NUMERICS, check_numerics
from isosceles.hw.kmerger import lane_layout

__all__ = ["RowMerger", "substream_layout"]


def substream_layout(*, numerics, max_channels, max_columns):
    """A token of a T1 substream (one filter row ``r`` of a lane's T1, docs/dataflow.md), and of
    the merged stream: ``q``, ``k``, ``value`` (signed ``acc_bits``), ``marker``, ``last``."""
    return lane_layout(radix=max_channels, max_columns=max_columns, numerics=numerics)


class RowMerger(wiring.Component):
    """Merges the T1 substreams of one output row ``p`` on ``(q, k)`` into its accumulations.

    Source ``r`` is the substream of filter row ``r`` of input row ``p*u + r - ph``: a lane
    stream in ``(q, k)`` order with one marker per column (a frontend lane retires in
    ``(q, r, k)`` order). Every pair of heads is compared on ``(q, marker, k)``; the heads that
    no other head is below hold the smallest key and are all taken. Data heads are added
    exactly, saturated once to ``acc_bits`` and registered on ``o`` when nonzero; marker heads
    are all taken at once, when every present source has reached the marker of ``q``, and
    become the marker of ``q``. With ``config.maximum`` (a max pooling) the data heads are
    reduced by the maximum instead, with zero standing for every source without a head of the
    key (``golden.isos.merge_substreams(..., maximum=True)``). The key order makes completion
    in-band: a source holds back every column it has not finished, so no watermark and no
    per-source buffering beyond its head is needed. This one merge replaces
    the paper's ``K`` R-mergers and K-merger (the same output: ``golden.isos.merge_substreams``
    equals ``kmerger_out``) at the cost of ``R * (R - 1)`` key comparators.

    A row begins with a one-cycle ``start`` pulse (``config`` held for the row) and ends with
    the marker of column ``config.columns - 1`` (``last`` set). A source whose ``present`` bit
    is clear is a padding row and is ignored; a row with no present source emits its
    ``columns`` markers. Between rows the inputs are not ready, so the next row's tokens wait.
    ``order_error`` (sticky, cleared by ``start``) is set when a source's marker disagrees with
    the column count (its column or its ``last``).

    Stream contract: ``o.valid`` does not wait on ``o.ready``; ``o.payload`` is a register,
    stable until the transfer. ``i[r].ready`` depends on the other sources' ``valid`` and
    payload, never on ``i[r].valid`` itself. One key merged per cycle; two cycles of latency
    (the heads of a key are taken in one cycle and added in the next, a register between the
    comparators and the adder).

    Parameters
    ----------
    radix : int
        Sources ``R`` (1 to 15): the largest filter height.
    max_channels : int
        Largest ``K``.
    max_columns : int
        Largest row length ``Q``.
    numerics : Numerics
        ``acc_bits`` sets the value width.
    """

    def __init__(self, *, radix, max_channels, max_columns, numerics=DEFAULT_NUMERICS):
        self._MustUse__silence = True  # only cleared below, once the parameters are valid
        check_int("radix", radix, 1, 15)
        check_int("max_channels", max_channels, 1, 4096)
        check_int("max_columns", max_columns, 1, 4096)
        check_numerics(numerics)
        self._MustUse__silence = False
        self._radix, self._numerics = radix, numerics
        self._max_channels, self._max_columns = max_channels, max_columns
        layout = substream_layout(numerics=numerics, max_channels=max_channels,
                                  max_columns=max_columns)
        self.config_layout = data.StructLayout({
            "present": unsigned(radix), "columns": unsigned(bits_for(max_columns + 1)),
            "maximum": 1})
        super().__init__({
            "config": In(self.config_layout),
            "start": In(1),
            "i": In(stream.Signature(layout)).array(radix),
            "o": Out(stream.Signature(layout)),
            "order_error": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        radix, acc_bits = self._radix, self._numerics.acc_bits
        present, columns = self.config.present, self.config.columns
        active = Signal()
        column = Signal(unsigned(bits_for(self._max_columns + 1)))  # markers emitted this row
        final_column = Signal()
        m.d.comb += final_column.eq(column == columns - 1)

        heads = Signal(radix)
        complete = Signal()  # every present source offers a head
        m.d.comb += complete.eq(active)
        for r, source in enumerate(self.i):
            m.d.comb += heads[r].eq(active & present[r] & source.valid)
            with m.If(present[r] & ~source.valid):
                m.d.comb += complete.eq(0)

        def key(payload):
            return Cat(Mux(payload.marker, 0, payload.k), payload.marker, payload.q)

        # Every pair of heads compared at once, rather than a tree of comparisons: a head holds
        # the smallest key when no other head's is below it, so `ready` is one comparison deep.
        keys = [key(self.i[r].payload) for r in range(radix)]
        below = {}  # (r, s): head r's key is below head s's
        for r in range(radix):
            for s in range(radix):
                if s != r:
                    below[r, s] = Signal(name=f"below{r}_{s}")
                    m.d.comb += below[r, s].eq(keys[r] < keys[s])
        at_min = Signal(radix)
        for r in range(radix):
            beaten = [heads[s] & below[s, r] for s in range(radix) if s != r]
            m.d.comb += at_min[r].eq(heads[r] & ~Cat(beaten).any() if beaten else heads[r])
        any_head = heads.any()
        # The heads at the minimum share its key, so their keys OR to it.
        key_min = Signal(len(keys[0]))
        m.d.comb += key_min.eq(reduce(or_, (Mux(at_min[r], keys[r], 0) for r in range(radix))))
        is_marker = key_min[-len(self.i[0].payload.q) - 1]

        # A merged key waits one cycle in `held`, where its heads are added, before `o`: the
        # comparator tree and the adder are in different cycles. `held` moves on whenever `o`
        # can take it, so one key still merges every cycle.
        held = Signal(data.StructLayout({
            "valid": 1, "marker": 1, "last": 1,
            "q": len(self.i[0].payload.q), "k": len(self.i[0].payload.k),
            "values": data.ArrayLayout(signed(acc_bits), radix)}))
        output_free = self.o.ready | ~self.o.valid
        held_free = ~held.valid | output_free

        no_source = present == 0
        merge = Signal()
        m.d.comb += merge.eq(complete & any_head & held_free)
        for r in range(radix):
            m.d.comb += self.i[r].ready.eq(merge & at_min[r])

        emit_marker = Signal()  # the marker of `column` is merged this cycle
        m.d.comb += emit_marker.eq(active & held_free & Mux(no_source, 1, merge & is_marker))
        with m.If(emit_marker):
            m.d.sync += [
                held.eq(0),
                held.valid.eq(1),
                held.q.eq(column),
                held.marker.eq(1),
                held.last.eq(final_column),
                column.eq(column + 1),
            ]
            with m.If(final_column):
                m.d.sync += active.eq(0)
            for r in range(radix):
                source = self.i[r].payload
                with m.If(at_min[r] & ~no_source & ((source.q != column)
                                                    | (source.last != final_column))):
                    m.d.sync += self.order_error.eq(1)
        with m.Elif(merge):
            m.d.sync += [
                held.valid.eq(1),
                held.q.eq(key_min[-len(self.i[0].payload.q):]),
                held.k.eq(key_min[:len(self.i[0].payload.k)]),
                held.marker.eq(0),
                held.last.eq(0),
            ]
            for r in range(radix):
                m.d.sync += held.values[r].eq(Mux(at_min[r], self.i[r].payload.value, 0))
        with m.Elif(output_free):
            m.d.sync += held.valid.eq(0)

        total = sum(held.values[r] for r in range(radix))
        high, low = (1 << (acc_bits - 1)) - 1, -(1 << (acc_bits - 1))
        saturated = Mux(total > high, high, Mux(total < low, low, total))
        # The maximum of values that fit acc_bits needs no saturation; zero is its floor.
        largest = reduce(lambda a, b: Mux(a > b, a, b), list(held.values))
        reduced = Mux(self.config.maximum, Mux(largest < 0, 0, largest), saturated)
        with m.If(held.valid & output_free):
            m.d.sync += [
                self.o.valid.eq(held.marker | (reduced != 0)),
                self.o.payload.q.eq(held.q),
                self.o.payload.k.eq(held.k),
                self.o.payload.value.eq(Mux(held.marker, 0, reduced)),
                self.o.payload.marker.eq(held.marker),
                self.o.payload.last.eq(held.last),
            ]
        with m.Elif(self.o.ready):
            m.d.sync += self.o.valid.eq(0)

        with m.If(self.start):
            m.d.sync += [active.eq(1), column.eq(0), self.order_error.eq(0)]
        return m
