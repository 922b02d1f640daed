"""The row fetcher: one CSF activation row read from memory as lane stream I."""

from amaranth import Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from isosceles.gen.config import bits_for
from isosceles.golden.checks import check_int
from isosceles.golden.numerics import DEFAULT_NUMERICS, check_numerics
from isosceles.hw.pe import input_layout
from isosceles.hw.words import WORD_BITS, request_layout

__all__ = ["RowFetcher", "TableRowFetcher", "fetch_config_layout", "table_fetch_config_layout"]


def fetch_config_layout(*, addr_width, max_columns, max_channels):
    """Where a row is and how long: byte address of its first word, its word count (from the
    row table) and its columns ``W``."""
    return data.StructLayout({
        "words_addr": unsigned(addr_width),
        "count": unsigned(bits_for(max_columns * (max_channels + 1) + 1)),
        "W": unsigned(bits_for(max_columns + 1)),
    })


class RowFetcher(wiring.Component):
    """Reads the words of one activation row (``docs/memory.md``) and emits its lane stream I.

    On ``start`` (while not busy) it latches ``config``, issues one read request ``{words_addr,
    count}`` on ``req`` (none for an empty row) and turns the words arriving on ``word``, in
    address order, into data tokens ``(w, c, value)`` and a marker after every column
    ``0 .. W-1``, empty ones included, the last with ``last = 1``: exactly
    ``isos_streams(...).inputs[h]``. A data word is a cycle, as is an empty column's marker;
    a column word goes with the marker before it (the first column word: a cycle of its own).

    A word the encoder would not have written (a data word before any column word, a column word
    not above the previous one or with no data word after it, a column ``>= W``, a channel not
    above the previous one of its column or ``>= max_channels``, a zero value or one outside
    ``act_bits``, a reserved bit set) sets the sticky ``status.format_error`` (cleared by
    ``start``); the rest of the row's words are then taken and dropped, and the markers up to
    ``W - 1`` still go out, so neither the memory client nor the lane hangs. ``status.busy``
    falls once all ``count`` words are taken and the last marker has left ``o``.

    Stream contract: ``req.valid`` and ``o.valid`` are registers that do not wait on ``ready``,
    payloads stable until the transfer. ``word.ready`` depends on the fetcher's state, on
    ``o.ready`` and on ``word.payload`` (a column word ahead of the current column waits for
    the markers before it), never on ``word.valid``.

    Parameters
    ----------
    numerics : Numerics
        ``act_bits``: the width of ``value``.
    max_channels : int
        Largest ``C`` (1 to 4096).
    max_columns : int
        Largest ``W`` (1 to 65536).
    addr_width : int
        Byte address width (8 to 64).

    Members
    -------
    config : ``In(fetch_config_layout)``
        Held while busy.
    start : ``In(1)``
    req : ``Out(stream.Signature(request_layout))``
    word : ``In(stream.Signature(32))``
    o : ``Out(stream.Signature(input_layout))``
    status : ``Out(StructLayout{busy, format_error})``
    """

    lint_waivers = {
        "UNUSEDSIGNAL": "Yosys keeps temporaries of the value's sign bit ($58) that its logic "
                        "bypasses when act_bits = 16; the fetcher has no unused signal",
    }

    def __init__(self, *, numerics=DEFAULT_NUMERICS, max_channels, max_columns, addr_width=32):
        self._MustUse__silence = True  # only cleared below, once the parameters are valid
        check_numerics(numerics)
        check_int("max_channels", max_channels, 1, 4096)
        check_int("max_columns", max_columns, 1, 65536)
        check_int("addr_width", addr_width, 8, 64)
        self._MustUse__silence = False
        self._numerics, self._max_channels = numerics, max_channels
        self.config_layout = fetch_config_layout(addr_width=addr_width, max_columns=max_columns,
                                                 max_channels=max_channels)
        max_words = max_columns * (max_channels + 1)
        super().__init__({
            "config": In(self.config_layout),
            "start": In(1),
            "req": Out(stream.Signature(request_layout(addr_width=addr_width,
                                                       max_words=max_words))),
            "word": In(stream.Signature(WORD_BITS)),
            "o": Out(stream.Signature(input_layout(numerics=numerics, max_channels=max_channels,
                                                   max_columns=max_columns))),
            "status": Out(data.StructLayout({"busy": 1, "format_error": 1})),
        })

    def elaborate(self, platform):
        m = Module()
        act_bits = self._numerics.act_bits
        config = Signal(self.config_layout)
        busy, error = self.status.busy, self.status.format_error
        col = Signal.like(config.W)                     # next column to close with a marker
        remaining = Signal.like(config.count)          # words still to take
        open_ = Signal()       # the column word of `col` has been taken
        pending = Signal()     # ... and no data word after it yet
        last_c = Signal(12)    # channel of the column's last data word (valid once not pending)

        head = self.word.payload
        is_column = head[31]
        w, c, value = head[:16], head[16:28], head[:16]
        # A value must be act_bits wide, sign-extended to 16 bits: bits act_bits-1 .. 15 equal.
        top = value[act_bits - 1:]
        bad_value = (value == 0) | ((top != 0) & (top != (1 << (16 - act_bits + 1)) - 1))
        bad_column = (head[16:31] != 0) | (w >= config.W) | (w < col) | (open_ & (w == col)) \
            | pending
        bad_data = (head[28:31] != 0) | ~open_ | (c >= self._max_channels) | bad_value \
            | (~pending & (c <= last_c))

        can_emit = ~self.o.valid | self.o.ready
        emit_marker, emit_data, fail = (Signal(name=n) for n in (
            "emit_marker", "emit_data", "fail"))
        take = self.word.ready
        words_left = remaining != 0
        with m.If(busy & (col < config.W)):
            with m.If(error | ~words_left):
                m.d.comb += emit_marker.eq(can_emit)
            with m.Elif(self.word.valid & is_column & ~bad_column & (w > col)):
                m.d.comb += emit_marker.eq(can_emit)
        with m.If(busy & words_left):
            with m.If(error):
                m.d.comb += take.eq(1)
            with m.Elif(is_column):
                # The column word right after the current column closes it and opens its own
                # column in one cycle.
                m.d.comb += [fail.eq(bad_column),
                             take.eq(bad_column | (w == col) | ((w == col + 1) & can_emit))]
            with m.Else():
                m.d.comb += [fail.eq(bad_data), take.eq(bad_data | can_emit),
                             emit_data.eq(~bad_data & can_emit & self.word.valid)]
        taken = take & self.word.valid

        with m.If(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.If(emit_marker):
            m.d.sync += [self.o.valid.eq(1), self.o.payload.eq(0), self.o.payload.w.eq(col),
                         self.o.payload.marker.eq(1), self.o.payload.last.eq(col == config.W - 1),
                         col.eq(col + 1), open_.eq(0), pending.eq(0)]
        with m.If(emit_data):
            m.d.sync += [self.o.valid.eq(1), self.o.payload.eq(0), self.o.payload.w.eq(col),
                         self.o.payload.c.eq(c), self.o.payload.value.eq(value[:act_bits]),
                         pending.eq(0), last_c.eq(c)]
        with m.If(taken):
            m.d.sync += remaining.eq(remaining - 1)
            with m.If(fail):
                m.d.sync += error.eq(1)
            with m.Elif(is_column & ~error):
                m.d.sync += [open_.eq(1), pending.eq(1)]
        # The last word was a column word with no data word after it.
        with m.If(busy & ~words_left & pending):
            m.d.sync += [error.eq(1), pending.eq(0)]

        with m.If(self.req.ready):
            m.d.sync += self.req.valid.eq(0)
        with m.If(busy & ~words_left & (col == config.W) & ~self.o.valid & ~pending):
            m.d.sync += busy.eq(0)
        with m.If(self.start & ~busy):
            m.d.sync += [config.eq(self.config), busy.eq(1), error.eq(0), col.eq(0),
                         remaining.eq(self.config.count), open_.eq(0), pending.eq(0),
                         self.req.valid.eq(self.config.count != 0),
                         self.req.payload.addr.eq(self.config.words_addr),
                         self.req.payload.words.eq(self.config.count)]
        return m


def table_fetch_config_layout(*, addr_width, max_columns):
    """Which row: byte address of its row table entry, of the word area, and its columns."""
    return data.StructLayout({
        "entry_addr": unsigned(addr_width),
        "words_addr": unsigned(addr_width),
        "W": unsigned(bits_for(max_columns + 1)),
    })


class TableRowFetcher(wiring.Component):
    """Reads one activation row through its row table entry (``docs/memory.md``): the entry
    ``{word_offset, word_count}`` first (a request ``{entry_addr, 2}``), then the row's words
    through a :class:`RowFetcher`, which emits the lane stream I.

    A row: set ``config`` (held while busy), pulse ``start`` while not busy. An entry whose
    count exceeds the longest row of the build (``max_columns * (max_channels + 1)`` words)
    sets ``status.format_error`` and the row is read as empty (its markers still go out).
    Otherwise as :class:`RowFetcher`, whose stream contract it keeps; the entry's request and
    the row's never overlap, so they share ``req`` and ``word``.

    Parameters and members: as :class:`RowFetcher`'s, with ``config`` a
    ``table_fetch_config_layout``.
    """

    lint_waivers = RowFetcher.lint_waivers

    def __init__(self, *, numerics=DEFAULT_NUMERICS, max_channels, max_columns, addr_width=32):
        self._row = RowFetcher(numerics=numerics, max_channels=max_channels,
                               max_columns=max_columns, addr_width=addr_width)
        self._max_words = max_columns * (max_channels + 1)
        self.config_layout = table_fetch_config_layout(addr_width=addr_width,
                                                       max_columns=max_columns)
        row = self._row.signature.members
        super().__init__({
            "config": In(self.config_layout),
            "start": In(1),
            "req": Out(row["req"].signature),
            "word": In(stream.Signature(WORD_BITS)),
            "o": Out(row["o"].signature),
            "status": Out(data.StructLayout({"busy": 1, "format_error": 1})),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.row = row = self._row
        config = Signal(self.config_layout)
        entry = Signal(2)          # entry words still to take: 2 offset, 1 count, 0 none
        request = Signal()         # the entry's request, not yet accepted
        offset = Signal(32)
        too_long = Signal()
        count = self.word.payload

        wiring.connect(m, row.o, wiring.flipped(self.o))
        m.d.comb += [
            self.req.valid.eq(request | row.req.valid),
            self.req.payload.eq(row.req.payload),
            row.req.ready.eq(self.req.ready),
            row.word.valid.eq(self.word.valid & (entry == 0)),
            row.word.payload.eq(self.word.payload),
            self.word.ready.eq((entry != 0) | row.word.ready),
            row.config.words_addr.eq(config.words_addr + (offset << 2)),
            row.config.count.eq(Mux(count > self._max_words, 0, count)),
            row.config.W.eq(config.W),
            self.status.busy.eq((entry != 0) | row.status.busy),
            self.status.format_error.eq(too_long | row.status.format_error),
        ]
        with m.If(request):
            m.d.comb += [self.req.payload.addr.eq(config.entry_addr),
                         self.req.payload.words.eq(2)]
        with m.If(self.req.ready):
            m.d.sync += request.eq(0)
        with m.If(self.word.valid & (entry == 2)):
            m.d.sync += [offset.eq(self.word.payload), entry.eq(1)]
        with m.If(self.word.valid & (entry == 1)):
            m.d.comb += row.start.eq(1)
            m.d.sync += [entry.eq(0), too_long.eq(count > self._max_words)]
        with m.If(self.start & ~self.status.busy):
            m.d.sync += [config.eq(self.config), entry.eq(2), request.eq(1), too_long.eq(0)]
        return m
