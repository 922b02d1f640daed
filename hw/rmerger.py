"""The R-merger: merges the R partial-sum fibers of one output element row and adds them."""

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from isosceles.gen.config import bits_for
from isosceles.golden.checks import check_int
from isosceles.golden.numerics import DEFAULT_NUMERICS, check_numerics

__all__ = ["RMerger", "fiber_layout", "watermark_layout"]


def fiber_layout(*, max_columns, numerics):
    """A fiber token: column ``q`` and its partial sum."""
    return data.StructLayout({"q": unsigned(bits_for(max_columns)),
                              "value": signed(numerics.acc_bits)})


def watermark_layout(*, max_columns):
    """A watermark token: the source has finished column ``q``; ``last`` ends the row."""
    return data.StructLayout({"q": unsigned(bits_for(max_columns)), "last": 1})


class RMerger(wiring.Component):
    """Merges ``radix`` coordinate-sorted T1 fibers into one T2 fiber, adding equal ``q``.

    A combinational comparator tree finds the smallest head column ``q``; the heads at ``q`` are
    taken into a register (``held``), then in the next cycle added exactly, saturated once to
    ``acc_bits`` and, when nonzero, registered on ``o``: the tree and the adder are in different
    cycles. Column
    ``q`` is only merged once every present source has a head at or past ``q`` or a watermark
    past ``q`` (its data of ``q`` has all arrived), so no later token can join it. The unit's own
    watermark for ``q`` follows once every source has passed ``q`` and neither ``held`` nor
    ``o`` holds anything of ``q``. Padding rows (``config.present`` bit clear) count as always
    finished.

    A row begins with a one-cycle ``start`` pulse (``config`` is then held for the row) and ends
    with the watermark whose ``last`` is set (column ``config.columns - 1``). Between rows, and
    for a source that has finished the row, the inputs are not ready, so the next row's tokens
    wait.

    Stream contract: ``o.valid`` and ``watermark.valid`` do not wait on their ``ready``; their
    payloads are registers, stable until the transfer. Inputs are read as heads while ``valid``
    (their payload is stable by the same contract) and taken when merged. One output per cycle;
    two cycles of latency from heads to ``o``; no input buffering is needed to progress.

    Parameters
    ----------
    radix : int
        Number of source fibers ``R`` (1 to 15).
    max_columns : int
        Largest row length ``Q``.
    numerics : Numerics
        ``acc_bits`` sets the value width.
    """

    def __init__(self, *, radix, max_columns, numerics=DEFAULT_NUMERICS):
        self._MustUse__silence = True  # only cleared below, once the parameters are valid
        check_int("radix", radix, 1, 15)
        check_int("max_columns", max_columns, 1, 4096)
        check_numerics(numerics)
        self._MustUse__silence = False
        self._radix, self._max_columns, self._numerics = radix, max_columns, numerics
        fiber = fiber_layout(max_columns=max_columns, numerics=numerics)
        mark = watermark_layout(max_columns=max_columns)
        self.config_layout = data.StructLayout({
            "present": unsigned(radix), "columns": unsigned(bits_for(max_columns + 1))})
        super().__init__({
            "config": In(self.config_layout),
            "start": In(1),
            "fiber": In(stream.Signature(fiber)).array(radix),
            "watermark_in": In(stream.Signature(mark)).array(radix),
            "o": Out(stream.Signature(fiber)),
            "watermark": Out(stream.Signature(mark)),
        })

    def elaborate(self, platform):
        m = Module()
        radix, acc_bits = self._radix, self._numerics.acc_bits
        count_shape = unsigned(bits_for(self._max_columns + 1))
        present, columns = self.config.present, self.config.columns

        # done[r]: columns source r has finished (its watermark count); out_done: ours.
        done = [Signal(count_shape, name=f"done{r}") for r in range(radix)]
        out_done = Signal(count_shape)
        active = Signal()  # between start and the last watermark
        # ended[r]: done[r] == columns, kept in a register beside done[r] rather than compared
        # in front of the comparator tree.
        ended = [Signal(name=f"ended{r}") for r in range(radix)]
        finished = [Signal(name=f"finished{r}") for r in range(radix)]
        for r in range(radix):
            m.d.comb += finished[r].eq(present[r] & ended[r])
            m.d.comb += self.watermark_in[r].ready.eq(active & ~finished[r])

        heads = [Signal(name=f"head{r}") for r in range(radix)]
        for r in range(radix):
            m.d.comb += heads[r].eq(active & self.fiber[r].valid & present[r] & ~finished[r])

        # Comparator tree over (has head, q): the smallest head column.
        # Each node is a named signal: reusing a node's expression in both the compare and the
        # select would otherwise double the netlist at every level.
        level = [(heads[r], self.fiber[r].payload.q) for r in range(radix)]
        while len(level) > 1:
            paired = []
            for a, b in zip(level[0::2], level[1::2], strict=False):
                (va, qa), (vb, qb) = a, b
                take_b = vb & (~va | (qb < qa))
                valid, q = Signal(), Signal.like(qa)
                m.d.comb += [valid.eq(va | vb), q.eq(Mux(take_b, qb, qa))]
                paired.append((valid, q))
            if len(level) % 2:
                paired.append(level[-1])
            level = paired
        any_head, q_min = level[0]

        def passed(r, q):
            return ~present[r] | (done[r] > q)

        # A source without a head has passed q_min when it has passed some head's column:
        # compared with every head beside the tree, not with the tree's result after it.
        ready_to_merge = Signal()
        m.d.comb += ready_to_merge.eq(any_head)
        for r in range(radix):
            passed_a_head = 0
            for j in range(radix):
                passed_a_head |= heads[j] & (done[r] > self.fiber[j].payload.q)
            with m.If(~heads[r] & present[r] & ~passed_a_head):
                m.d.comb += ready_to_merge.eq(0)

        at_min = [Signal(name=f"at_min{r}") for r in range(radix)]
        for r in range(radix):
            m.d.comb += at_min[r].eq(heads[r] & (self.fiber[r].payload.q == q_min))

        # The heads at q_min wait one cycle in `held`, where they are added, before `o`. `held`
        # moves on whenever `o` can take it, so one column still merges every cycle.
        held = Signal(data.StructLayout({
            "valid": 1, "q": len(q_min),
            "values": data.ArrayLayout(signed(acc_bits), radix)}))
        output_free = self.o.ready | ~self.o.valid
        held_free = ~held.valid | output_free
        merge = ready_to_merge & held_free
        for r in range(radix):
            m.d.comb += self.fiber[r].ready.eq(merge & at_min[r])
        # The payload of `held` is loaded whenever it is free: it is read only when valid.
        with m.If(held_free):
            m.d.sync += [held.valid.eq(merge), held.q.eq(q_min)]
            for r in range(radix):
                m.d.sync += held.values[r].eq(Mux(at_min[r], self.fiber[r].payload.value, 0))

        # Exact sum of the heads at q_min, then one saturation.
        total = sum(held.values[r] for r in range(radix))
        high, low = (1 << (acc_bits - 1)) - 1, -(1 << (acc_bits - 1))
        saturated = Mux(total > high, high, Mux(total < low, low, total))
        with m.If(held.valid & output_free):
            m.d.sync += [
                self.o.valid.eq(total != 0),
                self.o.payload.q.eq(held.q),
                self.o.payload.value.eq(saturated),
            ]
        with m.Elif(self.o.ready):
            m.d.sync += self.o.valid.eq(0)

        # Our watermark for column out_done, once every source passed it and neither held nor
        # o holds any of it.
        all_passed = Signal()
        m.d.comb += all_passed.eq(1)
        for r in range(radix):
            with m.If(~passed(r, out_done)):
                m.d.comb += all_passed.eq(0)
        held_clear = ~held.valid | (held.q > out_done)
        o_clear = held_clear & (~self.o.valid | (self.o.payload.q > out_done))
        can_mark = active & all_passed & o_clear & (out_done < columns)
        mark_free = self.watermark.ready | ~self.watermark.valid
        row_ends = Signal()
        with m.If(can_mark & mark_free):
            m.d.sync += [
                self.watermark.valid.eq(1),
                self.watermark.payload.q.eq(out_done),
                self.watermark.payload.last.eq(out_done == columns - 1),
                out_done.eq(out_done + 1),
            ]
        with m.Elif(self.watermark.ready):
            m.d.sync += self.watermark.valid.eq(0)
        m.d.comb += row_ends.eq(self.watermark.valid & self.watermark.ready
                                & self.watermark.payload.last)

        for r in range(radix):
            with m.If(self.start):
                m.d.sync += [done[r].eq(0), ended[r].eq(columns == 0)]
            with m.Elif(self.watermark_in[r].valid & self.watermark_in[r].ready):
                m.d.sync += [done[r].eq(self.watermark_in[r].payload.q + 1),
                             ended[r].eq(self.watermark_in[r].payload.q + 1 == columns)]
        with m.If(self.start):
            m.d.sync += [out_done.eq(0), active.eq(1)]
        with m.Elif(row_ends):
            m.d.sync += active.eq(0)
        return m
