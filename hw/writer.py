"""The row writer: one output row's O lane stream written to memory as a CSF row and its row
table entry."""

from amaranth import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from isosceles.golden.checks import check_int, check_power_of_two
from isosceles.golden.numerics import DEFAULT_NUMERICS, check_numerics
from isosceles.hw.pou import o_lane_layout
from isosceles.hw.words import WORD_BITS, WORD_BYTES, request_layout

__all__ = ["RowWriter", "writer_config_layout"]


def writer_config_layout(*, addr_width):
    """Where a row goes: byte address of its word area, of its table entry, and the word offset
    that entry records."""
    return data.StructLayout({
        "row_addr": unsigned(addr_width),
        "table_addr": unsigned(addr_width),
        "word_offset": unsigned(32),
    })


class RowWriter(wiring.Component):
    """Writes the O lane stream of one output row as the words of ``docs/memory.md``, then the
    row's table entry ``{word_offset, word_count}``.

    For each nonempty column the writer emits a column word before the column's first data
    token, then a data word per token; markers cost no word. It does not know the row's length
    in advance: words go into a FIFO of ``2 * chunk_words`` and a write request
    ``{row_addr + 4 * n, chunk_words}`` is issued whenever ``chunk_words`` words not yet
    requested are buffered; after the ``last`` marker the rest go in one shorter request, then
    the table entry (a request ``{table_addr, 2}``: ``word_offset``, then the count written).
    Words leave on ``word`` in address order, and only once the request they belong to has been
    issued. ``status.busy`` falls once the table entry's words have left.

    A row: set ``config`` (held while busy), pulse ``start`` while not busy, stream the row into
    ``i``. A column word and its first data token cost a cycle each, every other token one.

    Stream contract: ``req.valid`` is a register; ``word.valid`` is the FIFO's output valid
    gated by a register (words issued and not yet sent), neither waits on ``ready``; payloads
    are stable until the transfer. ``i.ready`` depends on the writer's state, on the FIFO's
    room and on ``i.payload`` (a column's first data token waits for its column word), never
    on ``i.valid``.

    Parameters
    ----------
    numerics : Numerics
        ``act_bits``: the width of ``value``.
    max_channels : int
        Largest ``K`` (1 to 4096).
    max_columns : int
        Largest ``Q`` (1 to 65536).
    chunk_words : int
        Words per write request, a power of two from 2 to 256.
    addr_width : int
        Byte address width (8 to 64).

    Members
    -------
    config : ``In(writer_config_layout)``
    start : ``In(1)``
    i : ``In(stream.Signature(o_lane_layout))``
    req : ``Out(stream.Signature(request_layout))``
    word : ``Out(stream.Signature(32))``
    status : ``Out(StructLayout{busy})``
    """

    lint_waivers = {
        "UNUSEDSIGNAL": "Amaranth's Verilog keeps named wires that its logic bypasses: the "
                        "FIFO's port members and level (r_level, produce), and named nodes read "
                        "through their temporaries (value); the writer has no unused signal",
        "DECLFILENAME": "Amaranth writes the FIFO as a module named row_writer.fifo into the "
                        "one file",
    }

    def __init__(self, *, numerics=DEFAULT_NUMERICS, max_channels, max_columns, chunk_words=16,
                 addr_width=32):
        self._MustUse__silence = True  # only cleared below, once the parameters are valid
        check_numerics(numerics)
        check_int("max_channels", max_channels, 1, 4096)
        check_int("max_columns", max_columns, 1, 65536)
        check_power_of_two("chunk_words", chunk_words, 2, 256)
        check_int("addr_width", addr_width, 8, 64)
        self._MustUse__silence = False
        self._chunk = chunk_words
        self._max_words = max_columns * (max_channels + 1)
        self.config_layout = writer_config_layout(addr_width=addr_width)
        super().__init__({
            "config": In(self.config_layout),
            "start": In(1),
            "i": In(stream.Signature(o_lane_layout(numerics=numerics, max_channels=max_channels,
                                                   max_columns=max_columns))),
            "req": Out(stream.Signature(request_layout(addr_width=addr_width,
                                                       max_words=chunk_words))),
            "word": Out(stream.Signature(WORD_BITS)),
            "status": Out(data.StructLayout({"busy": 1})),
        })

    def elaborate(self, platform):
        m = Module()
        chunk = self._chunk
        fifo = m.submodules.fifo = SyncFIFOBuffered(width=WORD_BITS, depth=2 * chunk)
        config = Signal(self.config_layout)
        busy = self.status.busy
        written = Signal(range(self._max_words + 1))    # row words pushed into the FIFO
        requested = Signal.like(written)                # row words covered by issued requests
        credit = Signal(range(2 * chunk + 3))           # issued words not yet sent on `word`
        column_open = Signal()
        ended = Signal()       # the last marker has been taken
        entry = Signal(2)      # table entry words pushed
        entry_issued = Signal()

        token = self.i.payload
        value = Signal(signed(16))  # sign-extended to 16 bits
        m.d.comb += value.eq(token.value)
        column_word = Cat(token.q, Const(0, 31 - len(token.q)), Const(1, 1))
        data_word = Cat(value, token.k)

        # Input side: a column's first data token waits a cycle for its column word.
        with m.If(busy & ~ended & fifo.w_rdy):
            m.d.comb += self.i.ready.eq(token.marker | column_open)
            with m.If(self.i.valid & ~token.marker):
                m.d.comb += [fifo.w_en.eq(1),
                             fifo.w_data.eq(Mux(column_open, data_word, column_word))]
                m.d.sync += [column_open.eq(1), written.eq(written + 1)]
            with m.If(self.i.valid & token.marker):
                m.d.sync += [column_open.eq(0), ended.eq(token.last)]
        # The table entry follows the row's words once every one of them has been requested.
        with m.If(busy & ended & (requested == written) & (entry != 2) & fifo.w_rdy):
            m.d.comb += [fifo.w_en.eq(1),
                         fifo.w_data.eq(Mux(entry[0], written, config.word_offset))]
            m.d.sync += entry.eq(entry + 1)

        # Requests.
        unrequested = written - requested
        issue, issue_entry = Signal(), Signal()
        words = Signal.like(self.req.payload.words)
        with m.If(busy & ~self.req.valid):
            with m.If(unrequested >= chunk):
                m.d.comb += [issue.eq(1), words.eq(chunk)]
                m.d.sync += self.req.payload.addr.eq(config.row_addr + requested * WORD_BYTES)
            with m.Elif(ended & (unrequested != 0)):
                m.d.comb += [issue.eq(1), words.eq(unrequested)]
                m.d.sync += self.req.payload.addr.eq(config.row_addr + requested * WORD_BYTES)
            with m.Elif(ended & (unrequested == 0) & ~entry_issued):
                m.d.comb += [issue.eq(1), issue_entry.eq(1), words.eq(2)]
                m.d.sync += [self.req.payload.addr.eq(config.table_addr), entry_issued.eq(1)]
        with m.If(self.req.ready):
            m.d.sync += self.req.valid.eq(0)
        with m.If(issue):
            m.d.sync += [self.req.valid.eq(1), self.req.payload.words.eq(words)]
            with m.If(~issue_entry):
                m.d.sync += requested.eq(requested + words)

        # Words leave only under an issued request.
        send = fifo.r_rdy & (credit != 0)
        m.d.comb += [self.word.valid.eq(send), self.word.payload.eq(fifo.r_data),
                     fifo.r_en.eq(self.word.ready & (credit != 0))]
        sent = send & self.word.ready
        m.d.sync += credit.eq(credit + Mux(issue, words, 0) - sent)

        with m.If(busy & entry_issued & (entry == 2) & ~self.req.valid & (credit == 0)
                  & ~fifo.r_rdy):
            m.d.sync += busy.eq(0)
        with m.If(self.start & ~busy):
            m.d.sync += [config.eq(self.config), busy.eq(1), written.eq(0), requested.eq(0),
                         column_open.eq(0), ended.eq(0), entry.eq(0), entry_issued.eq(0)]
        return m
