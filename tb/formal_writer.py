"""Formal view of the row writer: no request outside the row's words and its table entry, and
every word at its address."""

from functools import partial

from amaranth import Cat, Const, Mux, Signal, signed

from isosceles.hw.writer import RowWriter
from isosceles.tb.formal import FormalView, any_const, any_seq, mutant
from isosceles.tb.formal_rmerger import NARROW
from isosceles.tb.formal_row_merger import order_key

__all__ = ["RowWriterView", "make_views", "broken_views"]

MAX_CHANNELS, MAX_COLUMNS, CHUNK, ADDR_WIDTH = 2, 2, 2, 8


class RowWriterView(FormalView):
    """Rows of up to two columns of two channels (six words), requests of two words, 8-bit
    addresses, any ``config`` and any ``start``.

    Assumed of the input, from an accepted ``start`` to its ``last`` marker: tokens strictly
    increasing in ``(q, marker, k)``, each of column ``q`` after the markers of ``0 .. q - 1``,
    ``k < 2``, the marker of column 1 saying ``last``. The view latches ``config`` at the
    accepted ``start`` and counts the row's words ``E`` (a column word per nonempty column, a
    data word per token; a column word counts from the cycle its first token is offered, since
    the stream contract keeps that token until it is taken). Checked: nothing is taken on ``i``
    outside a row; every request is either the next words of the row,
    ``{row_addr + 4 * n, 1 .. chunk}`` with ``n`` the words already requested and none past
    those produced, or, once all ``E`` are requested, the one table entry ``{table_addr, 2}``;
    no request comes outside a row (so nothing is written outside the row's words and its
    entry); a word leaves only under a request offered;
    the word the solver chooses by its index is the column word, data word or entry word
    (``word_offset``, then ``E``) that belongs at its address; ``busy`` falls only once all
    ``E + 2`` words have left.
    """

    driven = ("start", "config")

    def properties(self, m, props, unit):
        config, start, i, req, word = unit.config, unit.start, unit.i, unit.req, unit.word
        busy = unit.status.busy
        m.d.comb += [start.eq(any_seq(1)), config.eq(any_seq(len(config.as_value())))]
        accepted = start & ~busy
        kept = Signal.like(config)
        with m.If(accepted):
            m.d.sync += kept.eq(config)

        row_counter = partial(props.counter, clear=accepted)

        max_words = MAX_COLUMNS * (MAX_CHANNELS + 1)
        took = i.valid & i.ready
        token = i.payload
        ended, column_open, seen = Signal(), Signal(), Signal()
        last = Signal.like(order_key(token))
        with m.If(accepted):
            m.d.sync += [ended.eq(0), column_open.eq(0), seen.eq(0)]
        with m.Elif(took):
            m.d.sync += [seen.eq(1), last.eq(order_key(token)),
                         column_open.eq(~token.marker)]
            with m.If(token.marker & token.last):
                m.d.sync += ended.eq(1)
        markers = row_counter("markers", range(MAX_COLUMNS + 1), took & token.marker)
        first = ~token.marker & ~column_open  # the column's first token: a column word too
        produced = row_counter("produced", range(max_words + 1),
                               Mux(took & ~token.marker, Mux(first, 2, 1), 0))
        row = busy & ~accepted & ~ended
        # The stream contract keeps an offered token until it is taken, so the writer may push
        # the column word of a column's first token as soon as it is offered.
        pending = Signal()
        m.d.comb += pending.eq(row & i.valid & first)
        ready_words = produced + pending
        props.assume((~seen | (order_key(token) > last)) & (token.q == markers)
                     & (token.k < MAX_CHANNELS)
                     & (~token.marker | (token.last == (token.q == MAX_COLUMNS - 1))),
                     when=row & i.valid)
        props.check("nothing taken on i outside a row", ~took, when=~row)

        # Requests: the row's words in order, then its table entry.
        offered = req.valid & req.ready
        entry_due = Signal()
        entry_done = row_counter("entry_done", 1, offered & entry_due)
        requested = Signal(range(2 * max_words + 1))
        m.d.comb += entry_due.eq(ended & ~entry_done & (requested == produced))
        with m.If(accepted):
            m.d.sync += requested.eq(0)
        with m.Elif(offered & ~entry_due):
            m.d.sync += requested.eq(requested + req.payload.words)
        row_address = Signal(ADDR_WIDTH)
        m.d.comb += row_address.eq(kept.row_addr + requested * 4)
        props.check("a request is the row's next words, or once all are requested its entry",
                    Mux(entry_due, (req.payload.addr == kept.table_addr)
                        & (req.payload.words == 2),
                        (req.payload.addr == row_address) & (req.payload.words >= 1)
                        & (req.payload.words <= CHUNK)
                        & (requested + req.payload.words <= ready_words)),
                    when=offered & busy)
        props.check("no request outside a row or after its entry", ~req.valid,
                    when=~busy | entry_done)

        # Words: each under a request offered, each the one that belongs at its address.
        sent = word.valid & word.ready
        issued = row_counter("issued", range(2 * max_words + 3),
                             Mux(offered, req.payload.words, 0))
        count = row_counter("sent", range(2 * max_words + 3), sent)
        props.check("a word leaves only under a request offered",
                    count < issued + Mux(req.valid, req.payload.words, 0), when=word.valid)
        index = Signal(range(max_words + 2))
        m.d.comb += index.eq(any_const(len(index)))
        value = Signal(signed(16))
        m.d.comb += value.eq(token.value)
        data_word = Cat(value, token.k, Const(0, 16 - len(token.k)))
        column_word = Cat(token.q, Const(0, 31 - len(token.q)), Const(1, 1))
        expected = Signal(32)
        with m.If(pending & (produced == index)):
            m.d.sync += expected.eq(column_word)
        with m.If(took & ~token.marker):
            with m.If(Mux(first, produced + 1, produced) == index):
                m.d.sync += expected.eq(data_word)
        props.check("the chosen word is the one that belongs at its address",
                    Mux(index < ready_words, word.payload == expected,
                        ended & Mux(index == produced, word.payload == kept.word_offset,
                                    (index == produced + 1) & (word.payload == produced))),
                    when=busy & sent & (count == index))
        fell = props.past(busy) & ~busy
        props.check("busy falls once the row's words and its entry have left",
                    entry_done & (requested == produced) & (count == produced + 2), when=fell)

        two_requests = Signal()
        with m.If(accepted):
            m.d.sync += two_requests.eq(0)
        with m.Elif(offered & ~entry_due & (requested != 0)):
            m.d.sync += two_requests.eq(1)
        props.cover("a word waits for the memory", word.valid & ~word.ready)
        props.cover("a row of two requests ends", fell & two_requests)
        props.cover("the chosen word is the entry's count", busy & sent & (count == index)
                    & (index == produced + 1) & (produced >= 3))


def _writer(cls=RowWriter):
    return cls(numerics=NARROW, max_channels=MAX_CHANNELS, max_columns=MAX_COLUMNS,
               chunk_words=CHUNK, addr_width=ADDR_WIDTH)


OverlappingRowWriter = mutant(
    RowWriter, "m.d.sync += requested.eq(requested + words)",
    "m.d.sync += requested.eq(requested + words - 1)", name="OverlappingRowWriter")
UncreditedRowWriter = mutant(RowWriter, "send = fifo.r_rdy & (credit != 0)", "send = fifo.r_rdy",
                             name="UncreditedRowWriter")


def make_views():
    # The covers need 13 steps, whose bmc is past CI's budget: CI checks every property to 11.
    return [RowWriterView(_writer(), depth=13, slow=("bmc",)),
            RowWriterView(_writer(), depth=11, tag="short", modes=("bmc",)),
            RowWriterView(_writer(), depth=16, tag="deep", modes=("bmc",), slow=("bmc",))]


def broken_views():
    """(view of a broken variant, the property its check must fail, or a tuple of those it
    may fail first)."""
    return [
        (RowWriterView(_writer(OverlappingRowWriter), depth=12),
         "a request is the row's next words"),
        (RowWriterView(_writer(UncreditedRowWriter), depth=12),
         "a word leaves only under a request offered"),
    ]
