"""The frontend lane: filter fetch, a coarse-grain sparse PE, its context array and retirement."""

from functools import reduce
from operator import or_

from amaranth import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFO, SyncFIFOBuffered
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from isosceles.gen.config import IsoscelesConfig, bits_for
from isosceles.golden.checks import check_int, check_power_of_two
from isosceles.golden.numerics import check_numerics
from isosceles.hw.context_array import ContextArray
from isosceles.hw.filter_buffer import (
    FilterBuffer,
    pack_filter_fibers,
    pointer_layout,
    weight_layout,
)
from isosceles.hw.priority import first_set

__all__ = ["FrontendLane", "input_layout", "t1_layout", "config_layout", "filter_words_for",
           "lane_filter_words"]

_DEFAULTS = IsoscelesConfig()
# Output tokens buffered between retirement and `o`: two keep one token a cycle flowing with a
# read in flight; more only absorb backpressure.
_OUTPUT_DEPTH = 4
# Words read ahead of the decode: one being read, one entering the word queue, one decoded.
_WORD_CREDITS = 3
_COUNTER_BITS = 32


def input_layout(*, numerics, max_channels, max_columns):
    """A token of the lane stream I (docs/dataflow.md)."""
    return data.StructLayout({
        "w": unsigned(bits_for(max_columns)),
        "c": unsigned(bits_for(max_channels)),
        "value": signed(numerics.act_bits),
        "marker": 1,
        "last": 1,
    })


def t1_layout(*, numerics, max_kernel, max_channels, max_columns):
    """A token of the lane stream T1 (docs/dataflow.md)."""
    return data.StructLayout({
        "q": unsigned(bits_for(max_columns)),
        "r": unsigned(bits_for(max_kernel)),
        "k": unsigned(bits_for(max_channels)),
        "value": signed(numerics.acc_bits),
        "marker": 1,
        "last": 1,
    })


def stride_bits(max_kernel):
    """Width of the stride field: strides up to ``max_kernel``, and at least up to 3."""
    return max(2, bits_for(max_kernel + 1))


def config_layout(*, max_kernel, max_columns, max_rows):
    """Runtime layer configuration of one row (names as in docs/dataflow.md)."""
    return data.StructLayout({
        "h": unsigned(bits_for(max_rows)),         # input row of this lane
        "P": unsigned(bits_for(max_rows + 1)),     # output rows
        "Q": unsigned(bits_for(max_columns + 1)),  # output columns
        "S": unsigned(bits_for(max_kernel + 1)),   # filter width
        "stride": unsigned(stride_bits(max_kernel)),
        "ph": unsigned(bits_for(max_kernel)),
        "pw": unsigned(bits_for(max_kernel)),
        "maximum": 1,                              # reduce by the maximum (a max pooling)
    })


def _power_of_two_at_least(n):
    return 1 << max(0, n - 1).bit_length()


def filter_words_for(nbytes, *, numerics, macs_per_pe, max_kernel, max_channels):
    """Words of ``macs_per_pe`` weights that fit in ``nbytes`` of filter buffer, next to the
    pointer table."""
    entry = weight_layout(numerics=numerics, max_kernel=max_kernel, max_channels=max_channels)
    word_bits = entry.size * macs_per_pe
    most = max(1, nbytes * 8 // word_bits)
    table = max_channels * pointer_layout(words=most, max_kernel=max_kernel).size
    return max(1, (nbytes * 8 - table) // word_bits)


def lane_filter_words(config):
    """Words of the filter buffer of a frontend lane built from ``config`` (an
    :class:`~isosceles.gen.config.IsoscelesConfig`)."""
    return filter_words_for(config.filter_buffer_bytes, numerics=config.numerics,
                            macs_per_pe=config.macs_per_pe, max_kernel=config.max_kernel,
                            max_channels=config.max_channels)


class FrontendLane(wiring.Component):
    """The input-stationary frontend of lane ``h``: lane stream I in, lane stream T1 out.

    For each input nonzero ``(w, c, v)`` the lane walks the words of the filter fiber of
    channel ``c`` that hold the filter rows it feeds (from its lowest to its highest valid row,
    bounded by the fiber's pointer; :class:`~isosceles.hw.filter_buffer.FilterBuffer`, fibers of
    ``macs_per_pe`` weights a word) and its coarse-grain PE multiplies ``v`` by one word a
    cycle: up to ``macs_per_pe`` weights, across any ``r``, ``k`` and ``s``. A product is kept
    when ``(h, r)`` is valid and ``q = (w + pw - s) / u`` is exact and in ``[0, Q)``; it is
    added, saturating to ``acc_bits``, to partial sum ``(r, k, q)`` of the
    :class:`~isosceles.hw.context_array.ContextArray` (with ``config.maximum``, a max pooling,
    the partial sum, from zero, keeps the larger of itself and the product instead:
    ``golden.isos_streams(..., maximum=True)``). Each partial sum receives at most one
    product per input, and inputs are processed in stream order, so every partial sum
    accumulates in the golden model's order and saturates identically. On the marker of input
    column ``w`` (once the products before it are written) the lane retires each column ``q``
    with ``q*u + S - 1 - pw <= w``: its nonzero partial sums in ``(r, k)`` order, then its T1
    marker; the ``last`` input marker flushes up to ``Q - 1`` and the final T1 marker has
    ``last = 1``.

    Pipeline: lookup (the input's fiber pointer is read), token (the fiber walk, one word a
    cycle, read ahead of the decode into a word queue of ``_WORD_CREDITS`` words), decode (per
    weight validity, column, bank; product), context update (read, then add and write back). The
    weights of one word update distinct entries; those whose bank is claimed by another
    ``(r, k)`` in the same cycle wait a cycle (a *bank conflict*). Retirement runs alongside
    accumulation: it reads live entries through bank read ports the update leaves idle, one a
    cycle, found by the context array's occupancy encoder. An input may only touch column
    ``q`` once column ``q - window`` has been retired (the context keeps ``window`` columns),
    which holds the input back only if retirement lags.

    A row: set ``config`` (held until ``status.busy`` falls), pulse ``start`` while not busy,
    stream ``I`` of row ``h`` into ``i``; ``status.busy`` falls once the whole row has been taken
    from ``i`` and the final T1 marker has left ``o``. The filter buffer is loaded
    (``filter_write``, ``pointer_write``, with the image of :meth:`pack_filters`) while not
    busy. The column of each
    token is counted from the markers; a token whose ``w`` disagrees sets the sticky
    ``status.order_error`` (cleared by ``start``).

    Stream contract: ``o.valid`` does not wait on ``o.ready``; ``o.payload`` is stable while
    ``o.valid & ~o.ready``; a transfer happens when ``valid & ready`` on a rising clock edge. The
    same holds for ``i``, whose ``ready`` may depend combinationally on the lane's state but not
    on ``i.valid``.

    Parameters
    ----------
    numerics : Numerics
        Widths: ``act_bits`` inputs, ``weight_bits`` weights, ``acc_bits`` partial sums.
    macs_per_pe : int
        Multipliers of the coarse-grain PE (weights per cycle), 1 to 64.
    max_kernel : int
        Largest ``R``, ``S`` (1 to 15); padding ``ph, pw`` is below it, stride at most
        ``max(3, max_kernel)``.
    max_channels : int
        Largest ``C`` and ``K`` (1 to 4096).
    max_columns : int
        Largest ``W`` and ``Q`` (1 to 4096).
    max_rows : int
        Largest ``H`` and ``P`` (1 to 4096); defaults to ``max_columns``.
    filter_words : int
        Filter buffer depth in words of ``macs_per_pe`` weights (1 to 2**20).
    window : int
        Output columns of partial sums kept per ``(r, k)``: a power of two, at least
        ``max_kernel`` and 2, at most 64. Defaults to the smallest.
    banks : int
        Context array banks, a power of two from 1 to 64; defaults to twice the smallest that is
        at least ``macs_per_pe`` (fewer bank conflicts than ``macs_per_pe`` banks for in-order
        fibers, and regrouped fibers rarely need more words; see :meth:`pack_filters`).

    Members
    -------
    i : ``In(stream.Signature(input_layout))``
    o : ``Out(stream.Signature(t1_layout))``
    config : ``In(config_layout)``
    start : ``In(1)``
    filter_write, pointer_write : ``Out(WritePort.Signature)``
        Filter buffer load ports.
    status : ``Out(StructLayout{busy, order_error})``
    perf : ``Out(StructLayout)``
        Counters since ``start`` (wrapping, 32 bits): busy ``cycles``; ``products`` kept;
        ``conflict_cycles`` (a word left weights for the next cycle on bank conflicts);
        ``window_cycles`` (input held until retirement frees a column); ``retire_wait_cycles``
        (retirement waited for a bank the update used).
    """

    lint_waivers = {
        "UNUSEDSIGNAL": "Amaranth's Verilog keeps named alias wires that its logic bypasses: "
                        "members of memory and FIFO ports (read__addr$12), ArrayLayout elements "
                        "(update[3]), submodule port copies (clear) and constant temporaries "
                        "($277); the lane itself has no unused signal",
        "DECLFILENAME": "Amaranth writes the submodules as modules named top.sub into one file",
    }

    def __init__(self, *, numerics=_DEFAULTS.numerics, macs_per_pe=_DEFAULTS.macs_per_pe,
                 max_kernel=_DEFAULTS.max_kernel, max_channels=_DEFAULTS.max_channels,
                 max_columns=_DEFAULTS.max_columns, max_rows=None, filter_words=None,
                 window=None, banks=None):
        self._MustUse__silence = True  # only cleared below, once the parameters are valid
        check_numerics(numerics)
        check_int("macs_per_pe", macs_per_pe, 1, 64)
        check_int("max_kernel", max_kernel, 1, 15)
        check_int("max_channels", max_channels, 1, 4096)
        check_int("max_columns", max_columns, 1, 4096)
        max_rows = max_columns if max_rows is None else max_rows
        check_int("max_rows", max_rows, 1, 4096)
        if filter_words is None:
            filter_words = filter_words_for(
                _DEFAULTS.filter_buffer_bytes, numerics=numerics, macs_per_pe=macs_per_pe,
                max_kernel=max_kernel, max_channels=max_channels)
        check_int("filter_words", filter_words, 1, 1 << 20)
        least_window = max(2, _power_of_two_at_least(max_kernel))
        window = least_window if window is None else window
        check_power_of_two("window", window, least_window, 64)
        banks = min(64, 2 * _power_of_two_at_least(macs_per_pe)) if banks is None else banks
        check_power_of_two("banks", banks, 1, 64)
        self._MustUse__silence = False

        self._numerics, self._macs_per_pe = numerics, macs_per_pe
        self._max_kernel, self._max_channels = max_kernel, max_channels
        self._max_columns, self._max_rows = max_columns, max_rows
        self._filter_words, self._window, self._banks = filter_words, window, banks
        self.parameters = dict(macs_per_pe=macs_per_pe, max_kernel=max_kernel,
                               max_channels=max_channels, max_columns=max_columns,
                               max_rows=max_rows, filter_words=filter_words, window=window,
                               banks=banks)

        self.filter_buffer = FilterBuffer(numerics=numerics, macs_per_pe=macs_per_pe,
                                          max_kernel=max_kernel, max_channels=max_channels,
                                          words=filter_words)
        self.context = ContextArray(numerics=numerics, max_kernel=max_kernel,
                                    max_channels=max_channels, window=window, banks=banks)
        self.config_layout = config_layout(max_kernel=max_kernel, max_columns=max_columns,
                                           max_rows=max_rows)
        self.status_layout = data.StructLayout({"busy": 1, "order_error": 1})
        self.perf_layout = data.StructLayout({name: unsigned(_COUNTER_BITS) for name in (
            "cycles", "products", "conflict_cycles", "window_cycles", "retire_wait_cycles")})
        fb = self.filter_buffer
        super().__init__({
            "config": In(self.config_layout),
            "start": In(1),
            "i": In(stream.Signature(input_layout(
                numerics=numerics, max_channels=max_channels, max_columns=max_columns))),
            "o": Out(stream.Signature(t1_layout(
                numerics=numerics, max_kernel=max_kernel, max_channels=max_channels,
                max_columns=max_columns))),
            "filter_write": Out(fb.filter_write.signature),
            "pointer_write": Out(fb.pointer_write.signature),
            "status": Out(self.status_layout),
            "perf": Out(self.perf_layout),
        })

    def pack_filters(self, fibers, *, bank_aware=True):
        """The :class:`~isosceles.hw.filter_buffer.FilterImage` of a layer's filter fibers for
        this lane: regrouped against its context banks (no bank conflicts) unless
        ``bank_aware`` is false."""
        return pack_filter_fibers(fibers, macs_per_pe=self._macs_per_pe,
                                  max_kernel=self._max_kernel, words=self._filter_words,
                                  banks=self._banks if bank_aware else None)

    @classmethod
    def from_config(cls, config, **overrides):
        """The lane of an :class:`~isosceles.gen.config.IsoscelesConfig`; the filter buffer
        takes ``config.filter_buffer_bytes`` and the context array must fit in
        ``config.context_bytes`` (K beyond ``max_channels`` is tiled)."""
        if not isinstance(config, IsoscelesConfig):
            raise ValueError(f"config must be an IsoscelesConfig, not {config!r}")
        params = dict(numerics=config.numerics, macs_per_pe=config.macs_per_pe,
                      max_kernel=config.max_kernel, max_channels=config.max_channels,
                      max_columns=config.max_columns)
        params.update(overrides)
        if "filter_words" not in params:
            params["filter_words"] = filter_words_for(
                config.filter_buffer_bytes, numerics=params["numerics"],
                macs_per_pe=params["macs_per_pe"], max_kernel=params["max_kernel"],
                max_channels=params["max_channels"])
        lane = cls(**params)
        if lane.context.nbytes > config.context_bytes:
            for rejected in (lane, lane.filter_buffer, lane.context):
                rejected._MustUse__silence = True
            raise ValueError(
                f"the context array needs {lane.context.nbytes} bytes (max_kernel * max_channels"
                f" * window partial sums), more than context_bytes={config.context_bytes}; "
                "lower max_channels (K is then tiled) or raise context_bytes"
            )
        return lane

    def elaborate(self, platform):
        m = Module()
        M, kernel, window = self._macs_per_pe, self._max_kernel, self._window
        fb = m.submodules.filter_buffer = self.filter_buffer
        ctx = m.submodules.context = self.context
        wiring.connect(m, wiring.flipped(self.filter_write), fb.filter_write)
        wiring.connect(m, wiring.flipped(self.pointer_write), fb.pointer_write)
        cfg = self.config
        u = cfg.stride

        # --- Row start: (h + ph) and pw divided by the stride, one quotient bit a cycle. -----
        # Everything later is division-free: the padded column w + pw is tracked as
        # (quotient, remainder) and stepped on each marker.
        dividend_bits = bits_for(self._max_rows + kernel)
        quotient_shape = unsigned(dividend_bits)
        remainder_shape = unsigned(stride_bits(kernel))
        divide_steps = Signal(range(dividend_bits + 1))
        row_quotient = Signal(quotient_shape)
        pad_quotient = Signal(quotient_shape)
        row_remainder = Signal(remainder_shape)
        pad_remainder = Signal(remainder_shape)
        setting_up = Signal()
        running = Signal()
        input_done = Signal()

        with m.If(self.start):
            m.d.sync += [divide_steps.eq(dividend_bits), setting_up.eq(1),
                         row_quotient.eq(cfg.h + cfg.ph), row_remainder.eq(0),
                         pad_quotient.eq(cfg.pw), pad_remainder.eq(0)]
        with m.Elif(divide_steps != 0):
            m.d.sync += divide_steps.eq(divide_steps - 1)
            for quotient, remainder in ((row_quotient, row_remainder),
                                        (pad_quotient, pad_remainder)):
                trial = Cat(quotient[-1], remainder)
                fits = trial >= u
                m.d.sync += [remainder.eq(Mux(fits, trial - u, trial)),
                             quotient.eq(Cat(fits, quotient[:-1]))]

        # Exact division of the small differences d = 0 .. max_kernel-1 by the stride.
        # Tables indexed by d, packed into vectors (entry d at bits d*width).
        d_bits = bits_for(kernel)
        divides = Signal(kernel)
        exact = Signal(kernel * d_bits)      # d / u where u divides d
        ceiling = Signal(kernel * d_bits)    # ceil(d / u)
        m.d.comb += divides[0].eq(1)
        for d in range(1, kernel):
            m.d.comb += [
                divides[d].eq(Cat(u * j == d for j in range(1, d + 1)).any()),
                exact.word_select(d, d_bits).eq(
                    reduce(or_, (Mux(u * j == d, j, 0) for j in range(1, d + 1)))),
                ceiling.word_select(d, d_bits).eq(sum(Mux(u * j < d, 1, 0) for j in range(d))),
            ]

        def divided(quotient, remainder, x):
            """For n = quotient*u + remainder, whether n - x (x < max_kernel) is a multiple of
            u, and (n - x) / u then."""
            d = (x - remainder)[:d_bits]
            steps = exact.word_select(d, d_bits)
            ok = (remainder <= x) & divides.bit_select(d, 1) & (quotient >= steps)
            return ok, quotient - steps

        # Valid filter rows of this lane: h + ph - r = p*u with 0 <= p < P; the fiber walk
        # covers the words of rows lowest_row .. highest_row only.
        row_valid = Signal(kernel)
        feeds_any = Signal()
        lowest_row = Signal(range(max(2, kernel)))
        highest_row = Signal(range(max(2, kernel)))
        with m.If(setting_up & (divide_steps == 0)):
            m.d.sync += [setting_up.eq(0), running.eq(1), input_done.eq(0)]
            valid = []
            for r in range(kernel):
                ok, p = divided(row_quotient, row_remainder, r)
                valid.append(ok & (p < cfg.P))
                m.d.sync += row_valid[r].eq(valid[r])
            found, lowest = first_set(m, valid, name="lowest_row")
            _, from_top = first_set(m, valid[::-1], name="highest_row")
            m.d.sync += [feeds_any.eq(found), lowest_row.eq(lowest),
                         highest_row.eq(kernel - 1 - from_top)]

        # --- Column state of the decode stage: w + pw = column*u + phase. ---------------------
        column_shape = unsigned(bits_for(self._max_columns + kernel))
        column = Signal(column_shape)
        phase = Signal(remainder_shape)
        next_column = Signal(column_shape)
        next_phase = Signal(remainder_shape)
        load_column = Signal()
        # Per filter column s: does this input column reach an output column, and which slot.
        slot_bits = exact_log2(window)
        reaches = Signal(kernel)
        slot_of_s = Signal(kernel * slot_bits)
        with m.If(load_column):
            m.d.sync += [column.eq(next_column), phase.eq(next_phase)]
            for s in range(kernel):
                ok, q = divided(next_column, next_phase, s)
                m.d.sync += [reaches[s].eq(ok & (q < cfg.Q)),
                             slot_of_s.word_select(s, slot_bits).eq(q[:slot_bits])]

        # --- Lookup: the input token waits a cycle for its fiber's pointer. -----------------
        # The walk below starts from registers only, so neither the pointer memory nor the
        # filter memory lies on the path to `i.ready`.
        look = Signal(self.i.payload.shape())
        look_valid = Signal()
        pointer = fb.pointer_read.data
        token_free = Signal()
        accept = self.i.valid & self.i.ready
        m.d.comb += [
            self.i.ready.eq(running & ~input_done & (~look_valid | token_free)),
            fb.pointer_read.addr.eq(self.i.payload.c),
            fb.pointer_read.en.eq(accept),
        ]
        with m.If(accept):
            m.d.sync += [look_valid.eq(1), look.eq(self.i.payload)]
        with m.Elif(token_free):
            m.d.sync += look_valid.eq(0)

        # --- Token: the fiber walk, one word a cycle while the word queue has room. -----------
        # Words travel to the decode through a queue whose room is counted with credits taken
        # at the read and returned when the decode finishes the word, so the decode's outcome
        # (bank conflicts, window stalls) reaches the next read a cycle late, through a
        # register, and the filter memory's output reaches only the queue.
        token = Signal(self.i.payload.shape())
        token_valid = Signal()
        walk_addr = Signal.like(fb.filter_read.addr)
        walk_end = Signal(fb.pointer_layout.members["last"].elem_shape)  # 0 .. words
        walk_any = Signal()
        queued = Signal(range(_WORD_CREDITS + 1))
        room = queued != _WORD_CREDITS
        more = walk_any & (walk_addr < walk_end)
        final_word = walk_addr + 1 >= walk_end
        issue = token_valid & room & (token.marker | more)
        finish = token_valid & Mux(token.marker, room, ~more | (room & final_word))
        m.d.comb += [
            token_free.eq(~token_valid | finish),
            fb.filter_read.addr.eq(walk_addr),
            fb.filter_read.en.eq(issue & ~token.marker),
        ]
        with m.If(look_valid & token_free):
            m.d.sync += [token_valid.eq(1), token.eq(look), walk_any.eq(feeds_any),
                         walk_addr.eq(pointer.first[lowest_row]),
                         walk_end.eq(pointer.last[highest_row])]
        with m.Else():
            with m.If(finish):
                m.d.sync += token_valid.eq(0)
            with m.If(issue & ~token.marker):
                m.d.sync += walk_addr.eq(walk_addr + 1)

        # Sticky order check: the column of a token is the count of markers before it.
        in_column = Signal(unsigned(bits_for(self._max_columns + 1)))
        order_error = Signal()
        with m.If(accept):
            with m.If(self.i.payload.w != in_column):
                m.d.sync += order_error.eq(1)
            with m.If(self.i.payload.marker):
                m.d.sync += in_column.eq(in_column + 1)
                with m.If(self.i.payload.last):
                    m.d.sync += input_done.eq(1)

        # --- Word queue: each word read (or marker) with its input's value, in walk order. ----
        beat_layout = data.StructLayout({
            "word": fb.word_layout, "value": signed(self._numerics.act_bits),
            "marker": 1, "last": 1})
        words = m.submodules.words = SyncFIFO(width=beat_layout.size, depth=_WORD_CREDITS)
        arriving = Signal()
        arriving_beat = Signal(beat_layout)
        m.d.sync += arriving.eq(issue)
        with m.If(issue):
            m.d.sync += [arriving_beat.value.eq(token.value), arriving_beat.marker.eq(token.marker),
                         arriving_beat.last.eq(token.last)]
        entering = Signal(beat_layout)
        m.d.comb += [entering.eq(arriving_beat), entering.word.eq(fb.filter_read.data),
                     words.w_data.eq(entering), words.w_en.eq(arriving)]

        # --- Decode: validity, slot, bank and product of each weight of the word. -------------
        beat = Signal(beat_layout)
        m.d.comb += beat.eq(words.r_data)
        beat_valid = words.r_rdy
        beat_marker, beat_last, beat_value = beat.marker, beat.last, beat.value
        pending = Signal(M, init=-1)

        retire_next = Signal(unsigned(bits_for(self._max_columns + 1)))
        data_beat = beat_valid & ~beat_marker
        window_stall = data_beat & (column >= retire_next + window)
        word = beat.word
        hits, banks_of, rows_of, slots, products = [], [], [], [], []
        for j in range(M):
            weight = word[j]
            hit = Signal(name=f"hit{j}")
            # A zero weight is an empty slot of the word.
            m.d.comb += hit.eq(data_beat & pending[j] & (weight.value != 0)
                               & row_valid.bit_select(weight.r, 1)
                               & reaches.bit_select(weight.s, 1))
            product = Signal(ctx.product_shape, name=f"product{j}")
            m.d.comb += product.eq(beat_value * weight.value)
            # Named, because the bank routing below uses each of them banks * window times and
            # Amaranth would emit the whole expression at every use.
            bank = Signal.like(ctx.bank_of(weight.k), name=f"bank{j}")
            row = Signal.like(ctx.row_of(weight.r, weight.k), name=f"row{j}")
            slot = Signal(window, name=f"slot{j}")  # one-hot
            m.d.comb += [bank.eq(ctx.bank_of(weight.k)), row.eq(ctx.row_of(weight.r, weight.k)),
                         slot.eq(1 << slot_of_s.word_select(weight.s, slot_bits))]
            hits.append(hit)
            banks_of.append(bank)
            rows_of.append(row)
            slots.append(slot)
            products.append(product)
        # A bank is claimed by its lowest hitting weight; weights of the same (r, k) share the
        # access, weights of another (r, k) in that bank wait for the next cycle.
        leads, issued = [], []
        for j in range(M):
            same_bank = [hits[i] & (banks_of[i] == banks_of[j]) for i in range(j)]
            leads.append(hits[j] & ~Cat(same_bank).any() if j else hits[j])
            blocked = Cat(leads[i] & (banks_of[i] == banks_of[j]) & (rows_of[i] != rows_of[j])
                          for i in range(j)).any() if j else Const(0, 1)
            issued_j = Signal(name=f"issued{j}")
            m.d.comb += issued_j.eq(hits[j] & ~blocked & ~window_stall)
            issued.append(issued_j)
        deferred = Cat(hits[j] & ~issued[j] for j in range(M))
        beat_done = beat_valid & (beat_marker | (~window_stall & (deferred == 0)))
        m.d.comb += words.r_en.eq(beat_done)
        with m.If(beat_done):
            m.d.sync += pending.eq(-1)
        with m.Elif(beat_valid & ~window_stall):
            m.d.sync += pending.eq(deferred)
        m.d.sync += queued.eq(queued + issue - beat_done)

        # The first column comes from pw / stride when the row setup ends; each marker steps it.
        with m.If(setting_up & (divide_steps == 0)):
            m.d.comb += [load_column.eq(1), next_column.eq(pad_quotient),
                         next_phase.eq(pad_remainder)]
        with m.Else():
            m.d.comb += [load_column.eq(beat_valid & beat_marker),
                         next_column.eq(Mux(phase + 1 == u, column + 1, column)),
                         next_phase.eq(Mux(phase + 1 == u, 0, phase + 1))]
        # Columns the marker of this input column completes: q*u <= w + pw - (S - 1).
        retire_upto = Signal(signed(column_shape.width + 1))
        last_s = cfg.S - 1
        m.d.comb += retire_upto.eq(Mux(last_s <= phase, column,
                                       column - ceiling.word_select((last_s - phase)[:d_bits],
                                                                    d_bits)))

        # Route the issued products to their bank and slot: the context update of next cycle.
        for b in range(self._banks):
            update = ctx.update[b]
            to_bank = [Signal(name=f"to_bank{b}_{j}") for j in range(M)]
            m.d.comb += [to_bank[j].eq(issued[j] & (banks_of[j] == b)) for j in range(M)]
            m.d.sync += [
                update.en.eq(Cat(to_bank).any()),
                update.row.eq(reduce(or_, (Mux(to_bank[j], rows_of[j], 0) for j in range(M)))),
            ]
            for lane in range(window):
                chosen = Signal(M, name=f"chosen{b}_{lane}")
                m.d.comb += chosen.eq(Cat(to_bank[j] & slots[j][lane] for j in range(M)))
                m.d.sync += [
                    update.mask[lane].eq(chosen.any()),
                    update.product[lane].eq(reduce(or_, (Mux(chosen[j], products[j], 0)
                                                         for j in range(M)))),
                ]

        # Markers follow their products through update (read) and write-back.
        marker_layout = data.StructLayout({"valid": 1, "last": 1,
                                           "upto": signed(retire_upto.shape().width)})
        at_update = Signal(marker_layout)
        at_writeback = Signal(marker_layout)
        m.d.sync += [at_update.valid.eq(beat_valid & beat_marker), at_update.last.eq(beat_last),
                     at_update.upto.eq(retire_upto), at_writeback.eq(at_update)]

        # --- Retirement: columns retire_next .. retire_limit, live entries then a marker. ------
        retire_limit = Signal.like(retire_upto)
        with m.If(at_writeback.valid):
            m.d.sync += retire_limit.eq(Mux(at_writeback.last, cfg.Q - 1, at_writeback.upto))

        out = m.submodules.output = SyncFIFOBuffered(width=self.o.payload.shape().size,
                                                     depth=_OUTPUT_DEPTH)
        in_flight = Signal()
        flight_r, flight_k = Signal.like(ctx.retire_r), Signal.like(ctx.retire_k)
        retiring = running & (retire_next <= retire_limit)
        credit = out.level + in_flight < _OUTPUT_DEPTH
        take = retiring & ctx.retire_found & ctx.retire_ready & credit
        mark = retiring & ~ctx.retire_found & ~in_flight & credit
        emit = in_flight & (ctx.retire_value != 0)
        final = retire_next == cfg.Q - 1
        m.d.comb += [ctx.retire_slot.eq(retire_next[:slot_bits]), ctx.retire_take.eq(take),
                     ctx.retire_advance.eq(mark), ctx.clear.eq(self.start),
                     ctx.maximum.eq(cfg.maximum)]
        m.d.sync += [in_flight.eq(take), flight_r.eq(ctx.retire_r), flight_k.eq(ctx.retire_k)]

        leaving = Signal(self.o.payload.shape())
        m.d.comb += [leaving.q.eq(retire_next), out.w_data.eq(leaving), out.w_en.eq(emit | mark)]
        with m.If(emit):
            m.d.comb += [leaving.r.eq(flight_r), leaving.k.eq(flight_k),
                         leaving.value.eq(ctx.retire_value)]
        with m.Else():
            m.d.comb += [leaving.marker.eq(1), leaving.last.eq(final)]
        with m.If(mark):
            m.d.sync += retire_next.eq(retire_next + 1)
        # The row ends once every column is retired and the whole input row has been taken (the
        # last output column can retire before the input's last columns arrive).
        with m.If(running & (retire_next == cfg.Q) & input_done & ~look_valid & ~token_valid
                 & (queued == 0)):
            m.d.sync += running.eq(0)
        m.d.comb += [self.o.valid.eq(out.r_rdy), self.o.payload.eq(out.r_data),
                     out.r_en.eq(self.o.ready)]

        with m.If(self.start):
            m.d.sync += [retire_next.eq(0), retire_limit.eq(-1), in_column.eq(0),
                         order_error.eq(0)]

        # --- Status and performance counters. -------------------------------------------------
        busy = setting_up | running | (out.level != 0)
        m.d.comb += [self.status.busy.eq(busy), self.status.order_error.eq(order_error)]
        counts = {
            "cycles": busy,
            "products": sum(issued),
            "conflict_cycles": data_beat & ~window_stall & (deferred != 0),
            "window_cycles": window_stall,
            "retire_wait_cycles": retiring & ctx.retire_found & ~ctx.retire_ready,
        }
        for name, increment in counts.items():
            counter = getattr(self.perf, name)
            with m.If(self.start):
                m.d.sync += counter.eq(0)
            with m.Else():
                m.d.sync += counter.eq(counter + increment)
        return m
