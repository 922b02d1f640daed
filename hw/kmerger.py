"""The K-merger: merges the K T2 fibers of one output row into the (q, k) lane stream."""

from amaranth import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.hdl import ResetInserter
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from isosceles.gen.config import bits_for
from isosceles.golden.checks import check_int
from isosceles.golden.numerics import DEFAULT_NUMERICS, check_numerics
from isosceles.hw.heap import HeapOp, PipelinedHeap
from isosceles.hw.rmerger import fiber_layout, watermark_layout

__all__ = ["KMerger", "lane_layout"]


def lane_layout(*, radix, max_columns, numerics):
    """A token of the K-merger's lane stream (docs/dataflow.md): data ``(q, k, value)``, or the
    marker of column ``q`` (``marker = 1``; ``last`` on the row's final column)."""
    return data.StructLayout({
        "q": unsigned(bits_for(max_columns)),
        "k": unsigned(bits_for(radix)),
        "value": signed(numerics.acc_bits),
        "marker": 1,
        "last": 1,
    })


class KMerger(wiring.Component):
    """Merges ``K`` coordinate-sorted T2 fibers ``(p, k)`` into the lane stream of row ``p``.

    The fibers' heads wait in a :class:`PipelinedHeap` keyed by ``(q, k)``, at most one element
    per source, so the heap never holds more than ``radix`` entries and ``radix`` up to 256
    costs ``log2(radix)`` comparators rather than a comparator tree over every source. The heap
    takes one operation every other cycle, and each is one of:

    * emit the minimum ``(q, k)`` once column ``q`` is complete and, in the same operation
      (REPLACE), insert the head of a source that has nothing in the heap - in a steady stream
      the next head of the source emitted by the operation before, which keeps one element
      every two cycles;
    * otherwise insert such a head alone (INSERT), or remove the minimum alone (EXTRACT).

    A source with nothing in the heap is found by a priority encoder (lowest ``k`` first; no
    source can starve, because a column holding an uninserted head cannot complete, so nothing
    at or after it leaves the heap until that head is in). The encoder's choice is registered
    and used in the next cycle, so the heap's input and the encoder are in different cycles:
    the heap takes an operation only after a cycle without one (it is ``busy`` after each), so
    nothing has entered or left the heap since the choice, and the chosen head is still offered
    and unchanged (the stream contract). The root is read only while the heap is not ``busy``.

    Completion. Every source sends exactly one watermark per column, in order, and only after its
    data of that column. The merger takes the watermarks of column ``c`` from all ``K`` sources
    at once (a ``K``-wide AND of their ``valid``), after which all data of columns up to ``c`` is
    in the heap or already emitted. It then emits the data of column ``c`` in heap order and the
    marker of ``c`` once the minimum is past ``c``. Markers use the output, not the heap, so a
    marker cycle still inserts a head.

    Progress needs no buffering between the producers and the merger: a head is taken whenever
    its source has nothing in the heap, whatever the output does, so every source can always
    send the watermarks before its waiting head's column; the minimum's column then completes
    and the minimum leaves. The bench checks this with bare sources under random stalls.

    A row begins with a one-cycle ``start`` pulse (``config`` is held for the row) and ends when
    the marker with ``last`` set has been issued. Between rows, in the ``start`` cycle and once
    the row's last watermarks have been taken, no input is ready, so a producer that runs ahead
    keeps its next row's tokens until that row starts. A producer offers a row's data only
    after its previous row's last watermark has been transferred (an R-merger does: it starts
    a row after ending the last), since a head cannot say which row it belongs to. A
    ``start`` during a row abandons it: the heap is emptied, and a token already offered on
    ``o`` stays offered until taken.
    ``order_error`` (cleared by ``start``) is set if, during a row, a present source offers a
    watermark other than the column being completed, or with the wrong ``last``.

    Stream contract: ``o.valid`` does not wait on ``o.ready``; ``o.payload`` is a register,
    stable until the transfer. A fiber's head is read in place while ``valid`` and taken when
    inserted (a head withdrawn before it is taken breaks the contract and may be inserted
    anyway); watermarks are taken together. Rate and latency: a head is chosen in one cycle,
    inserted in the next and in the heap two cycles later; an element leaves on ``o`` one cycle
    after the operation that extracts it; a marker needs the heap empty or not ``busy``. One heap
    operation every two cycles: a dense row emits an element every two cycles and a marker
    costs two more, and each source's first head costs two insert cycles before the first
    column can complete (the heap's fill), so a row takes at most ``2 * (tokens out + K) + 2``
    cycles when every watermark is offered the cycle after its column's last data.

    Parameters
    ----------
    radix : int
        Number of source fibers the hardware has (1 to 256); ``config.channels`` of them are used.
    max_columns : int
        Largest row length ``Q`` (1 to 4096).
    numerics : Numerics
        ``acc_bits`` sets the value width.
    """

    lint_waivers = {
        "UNUSEDSIGNAL": "Amaranth's Verilog keeps named alias wires that its logic bypasses: "
                        "members of memory and submodule ports (port__addr$28, o__ready$53), "
                        "copies of named nodes (fiber_valid, taken, left0) and constant "
                        "temporaries ($12); the merger and its heap have no unused signal",
        "DECLFILENAME": "Amaranth writes the heap as a module named k_merger.heap into the one "
                        "file",
    }

    def __init__(self, *, radix, max_columns, numerics=DEFAULT_NUMERICS):
        self._MustUse__silence = True  # only cleared below, once the parameters are valid
        check_int("radix", radix, 1, 256)
        check_int("max_columns", max_columns, 1, 4096)
        check_numerics(numerics)
        self._MustUse__silence = False
        self._radix, self._max_columns, self._numerics = radix, max_columns, numerics
        fiber = fiber_layout(max_columns=max_columns, numerics=numerics)
        mark = watermark_layout(max_columns=max_columns)
        self.config_layout = data.StructLayout({
            "channels": unsigned(bits_for(radix + 1)),      # K, 1 to radix
            "columns": unsigned(bits_for(max_columns + 1)),  # Q
        })
        super().__init__({
            "config": In(self.config_layout),
            "start": In(1),
            "fiber": In(stream.Signature(fiber)).array(radix),
            "watermark": In(stream.Signature(mark)).array(radix),
            "o": Out(stream.Signature(lane_layout(radix=radix, max_columns=max_columns,
                                                  numerics=numerics))),
            "order_error": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        radix, acc_bits = self._radix, self._numerics.acc_bits
        q_bits, k_bits = bits_for(self._max_columns), bits_for(radix)
        count_shape = unsigned(bits_for(self._max_columns + 1))
        columns = self.config.columns

        heap = PipelinedHeap(capacity=radix, key_bits=q_bits + k_bits, payload_bits=acc_bits)
        # `start` abandons any row in progress: the heap empties with the rest of the state.
        m.submodules.heap = ResetInserter(self.start)(heap)
        # The key is (q, k) with q most significant: heap order is (q, k) order.
        root_k, root_q = heap.min.key[:k_bits], heap.min.key[k_bits:]

        active = Signal()           # between start and the last marker
        running = Signal()          # active, and not restarting this cycle
        present = Signal(radix)     # bit k: k < config.channels, latched at start
        in_heap = Signal(radix)     # bit k: source k has its element in the heap
        complete = Signal(count_shape)  # columns whose watermarks have all been taken
        marked = Signal(count_shape)    # columns whose marker has been issued

        # Watermarks: column `complete` completes when every present source offers its mark.
        mark_valid = Signal(radix)
        m.d.comb += mark_valid.eq(Cat(self.watermark[k].valid for k in range(radix)))
        take_marks = Signal()
        m.d.comb += running.eq(active & ~self.start)
        m.d.comb += take_marks.eq(running & (complete < columns) & (mark_valid | ~present).all())
        for k in range(radix):
            m.d.comb += self.watermark[k].ready.eq(take_marks & present[k])
        with m.If(take_marks):
            m.d.sync += complete.eq(complete + 1)
        expected_last = Signal()
        m.d.comb += expected_last.eq(complete == columns - 1)
        misordered = Signal(radix)
        for k in range(radix):
            mark = self.watermark[k].payload
            m.d.comb += misordered[k].eq(
                (mark.q != complete) | (mark.last != expected_last))
        with m.If(active & (complete < columns) & (mark_valid & present & misordered).any()):
            m.d.sync += self.order_error.eq(1)

        # What the output takes this cycle: a marker, the minimum, or nothing. The heap's root
        # is the minimum only while the heap is not busy (an operation on its way to the root).
        out_free = Signal()
        m.d.comb += out_free.eq(self.o.ready | ~self.o.valid)
        marker_due = Signal()
        data_due = Signal()
        m.d.comb += [
            marker_due.eq(running & (marked < complete)
                          & (heap.empty | (~heap.busy & (root_q > marked)))),
            data_due.eq(running & ~heap.busy & ~heap.empty & (root_q < complete) & ~marker_due),
        ]
        emit_marker = Signal()
        emit_data = Signal()
        m.d.comb += [emit_marker.eq(out_free & marker_due), emit_data.eq(out_free & data_due)]

        # A head to insert, chosen a cycle ahead: a source with a valid head and nothing in the
        # heap. The heap takes an operation only after a cycle without one (it is busy after
        # each), so `in_heap` has not changed since the choice, and the chosen head is still
        # offered and the same (a stream's payload is stable until the transfer).
        fiber_valid = Signal(radix)
        m.d.comb += fiber_valid.eq(Cat(self.fiber[k].valid for k in range(radix)))
        candidates = Signal(radix)
        m.d.comb += candidates.eq(Mux(running, fiber_valid & present & ~in_heap, 0))
        found, index, offered = self._lowest_set(m, candidates)
        picked = Signal()
        chosen = Signal(k_bits)
        head = Signal.like(self.fiber[0].payload)
        m.d.sync += [picked.eq(found), chosen.eq(index), head.eq(offered)]
        # Once every watermark of the row is taken, all its data is in: a head offered now
        # belongs to the next row and waits for it.
        insert = Signal()
        m.d.comb += insert.eq(picked & running & (complete < columns))

        leaving = Signal(radix)
        m.d.comb += leaving.eq(Mux(emit_data, 1 << root_k, 0))
        m.d.comb += [
            heap.i.valid.eq(emit_data | insert),
            heap.i.payload.op.eq(Mux(emit_data, Mux(insert, HeapOp.REPLACE, HeapOp.EXTRACT),
                                     HeapOp.INSERT)),
            heap.i.payload.key.eq(Cat(chosen, head.q)),
            heap.i.payload.payload.eq(head.value),
            heap.o.ready.eq(1),  # the element leaving is taken from `heap.min` below
        ]
        operate = Signal()
        m.d.comb += operate.eq(heap.i.valid & heap.i.ready)
        taken = Signal(radix)
        m.d.comb += taken.eq(Mux(operate & insert, 1 << chosen, 0))
        for k in range(radix):
            m.d.comb += self.fiber[k].ready.eq(taken[k])
        with m.If(operate):
            m.d.sync += in_heap.eq((in_heap & ~leaving) | taken)

        with m.If(emit_data & operate):
            m.d.sync += [
                self.o.valid.eq(1),
                self.o.payload.q.eq(root_q),
                self.o.payload.k.eq(root_k),
                self.o.payload.value.eq(heap.min.payload),
                self.o.payload.marker.eq(0),
                self.o.payload.last.eq(0),
            ]
        with m.Elif(emit_marker):
            m.d.sync += [
                self.o.valid.eq(1),
                self.o.payload.q.eq(marked),
                self.o.payload.k.eq(0),
                self.o.payload.value.eq(0),
                self.o.payload.marker.eq(1),
                self.o.payload.last.eq(marked == columns - 1),
                marked.eq(marked + 1),
            ]
        with m.Elif(self.o.ready):
            m.d.sync += self.o.valid.eq(0)

        with m.If(self.start):
            m.d.sync += [active.eq(1), complete.eq(0), marked.eq(0), in_heap.eq(0),
                         self.order_error.eq(0)]
            for k in range(radix):
                m.d.sync += present[k].eq(self.config.channels > k)
        with m.Elif(emit_marker & (marked == columns - 1)):
            m.d.sync += active.eq(0)
        return m

    def _lowest_set(self, m, bits):
        """(any bit set, index of the lowest set bit, that source's fiber head) of ``bits``, by
        a tree of named nodes that selects the head along with the index."""
        k_bits, shape = bits_for(self._radix), self.fiber[0].payload.shape()
        level = [(bits[k], Const(k, k_bits), self.fiber[k].payload) for k in range(self._radix)]
        depth = 0
        while len(level) > 1:
            depth += 1
            paired = []
            for n, (a, b) in enumerate(zip(level[0::2], level[1::2], strict=False)):
                found = Signal(name=f"pick_l{depth}_{n}_found")
                index = Signal(k_bits, name=f"pick_l{depth}_{n}")
                head = Signal(shape, name=f"pick_l{depth}_{n}_head")
                m.d.comb += [found.eq(a[0] | b[0]), index.eq(Mux(a[0], a[1], b[1])),
                             head.eq(Mux(a[0], a[2], b[2]))]
                paired.append((found, index, head))
            if len(level) % 2:
                paired.append(level[-1])
            level = paired
        return level[0]
