"""The filter loader: a layer's filter channel table and fibers read from memory into a
frontend lane's filter buffer."""

import enum

from amaranth import Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import WritePort
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from isosceles.gen.config import bits_for
from isosceles.golden.checks import check_int
from isosceles.golden.numerics import DEFAULT_NUMERICS, check_numerics
from isosceles.hw.filter_buffer import pointer_layout, weight_layout
from isosceles.hw.words import WORD_BITS, WORD_BYTES, request_layout

__all__ = ["FilterLoader", "LoadError", "filter_loader_config_layout"]


class LoadError(enum.IntEnum):
    """``status.error`` of a load."""

    NONE = 0
    FORMAT = 1     # a word the encoder would not have written
    OVERFLOW = 2   # the fibers need more words than the filter buffer has


def filter_loader_config_layout(*, addr_width, max_channels):
    """Where the filters are: byte addresses of the channel table and of the word area, and
    the number of input channels ``C`` (table entries)."""
    return data.StructLayout({
        "table_addr": unsigned(addr_width),
        "words_addr": unsigned(addr_width),
        "C": unsigned(bits_for(max_channels + 1)),
    })


class FilterLoader(wiring.Component):
    """Reads the channel table and filter fibers of ``docs/memory.md`` and writes the filter
    buffer image of :func:`~isosceles.hw.filter_buffer.pack_filter_fibers` (``banks=None``).

    For each input channel ``c`` in turn it reads the table entry (a request ``{table_addr +
    8c, 2}``), then the fiber's words (``{words_addr + 4 * offset, count}``, none for an empty
    fiber), so the bytes read are exactly the table and the fibers. The weights, in storage
    order, fill words of ``macs_per_pe`` slots; a word is written through ``filter_write`` when
    full or at the fiber's end (empty slots zero), and the fiber's pointer (its words' bounds
    per filter row, :func:`~isosceles.hw.filter_buffer.pointer_layout`) through
    ``pointer_write`` at its end. One word is taken a cycle; the next channel's entry is
    requested while a fiber streams in, so only empty fibers cost a round trip of their own.

    A word the encoder would not have written (a weight word before any coordinate word, a
    coordinate word as a fiber's last word, reserved bits, ``r`` or ``s`` ``>= max_kernel``, ``k >=
    max_channels``, a zero value or one outside ``weight_bits``) stops the load with
    ``status.error = FORMAT``, and so does a table entry whose count is above the longest
    fiber, ``max_kernel * max_channels * (max_kernel + 1)`` words (its fiber is not requested);
    fibers that need more than ``words`` words stop it with ``OVERFLOW``. Either way the rest of
    the request's words are taken and dropped, so the memory client does not hang, and
    ``status.busy`` falls.

    A load: set ``config`` (held while busy), pulse ``start`` while not busy; ``status.busy``
    falls when done. The lane must not run meanwhile.

    Parameters
    ----------
    numerics, macs_per_pe, max_kernel, max_channels, words
        Those of the :class:`~isosceles.hw.filter_buffer.FilterBuffer` it loads.
    addr_width : int
        Byte address width (8 to 64).

    Members
    -------
    config : ``In(filter_loader_config_layout)``
    start : ``In(1)``
    req : ``Out(stream.Signature(request_layout))``
    word : ``In(stream.Signature(32))``
    filter_write, pointer_write : ``In(WritePort.Signature)``
        Drive the filter buffer's load ports.
    status : ``Out(StructLayout{busy, error})``
    """

    lint_waivers = {
        "UNUSEDSIGNAL": "Amaranth's Verilog keeps named wires of ArrayLayout elements "
                        "(buffer[0], filled[1]) that its logic bypasses; the loader has no "
                        "unused signal",
    }

    def __init__(self, *, numerics=DEFAULT_NUMERICS, macs_per_pe, max_kernel, max_channels,
                 words, addr_width=32):
        self._MustUse__silence = True  # only cleared below, once the parameters are valid
        check_numerics(numerics)
        check_int("macs_per_pe", macs_per_pe, 1, 64)
        check_int("max_kernel", max_kernel, 1, 15)
        check_int("max_channels", max_channels, 1, 4096)
        check_int("words", words, 1, 1 << 20)
        check_int("addr_width", addr_width, 8, 64)
        self._MustUse__silence = False
        self._numerics, self._macs = numerics, macs_per_pe
        self._max_kernel, self._max_channels, self._words = max_kernel, max_channels, words
        self.weight_layout = weight_layout(numerics=numerics, max_kernel=max_kernel,
                                           max_channels=max_channels)
        self.word_layout = data.ArrayLayout(self.weight_layout, macs_per_pe)
        self.pointer_layout = pointer_layout(words=words, max_kernel=max_kernel)
        self.config_layout = filter_loader_config_layout(addr_width=addr_width,
                                                         max_channels=max_channels)
        super().__init__({
            "config": In(self.config_layout),
            "start": In(1),
            "req": Out(stream.Signature(request_layout(addr_width=addr_width,
                                                       max_words=(1 << 32) - 1))),
            "word": In(stream.Signature(WORD_BITS)),
            "filter_write": In(WritePort.Signature(addr_width=ceil_log2(words),
                                                   shape=self.word_layout)),
            "pointer_write": In(WritePort.Signature(addr_width=ceil_log2(max_channels),
                                                    shape=self.pointer_layout)),
            "status": Out(data.StructLayout({"busy": 1, "error": 2})),
        })

    def elaborate(self, platform):
        m = Module()
        macs, depth = self._macs, self._words
        weight_bits = self._numerics.weight_bits
        config = Signal(self.config_layout)
        busy, error = self.status.busy, self.status.error
        channel = Signal.like(config.C)
        remaining = Signal(32)                    # words of the current request still to come
        offset = Signal(32)                       # the fiber's word offset, from its entry
        phase = Signal(range(4))                  # 0 entry request, 1 offset, 2 count, 3 fiber
        buffer = Signal(self.word_layout)
        slot = Signal(range(max(2, macs)))  # a one-bit field that stays 0 for one weight a word
        next_word = Signal(range(depth + 1))
        r, k, coordinate = Signal(4), Signal(12), Signal()
        # A fiber's words: a coordinate word and at most max_kernel weights per (r, k).
        longest = self._max_kernel * self._max_channels * (self._max_kernel + 1)

        head = self.word.payload
        value = head[:16]
        top = value[weight_bits - 1:]
        bad_value = (value == 0) | ((top != 0) & (top != (1 << (16 - weight_bits + 1)) - 1))
        is_coordinate = head[31]
        bad_coordinate = (head[16:31] != 0) | (head[12:16] >= self._max_kernel) \
            | (head[:12] >= self._max_channels) | (remaining == 1)
        bad_weight = (head[20:31] != 0) | (head[16:20] >= self._max_kernel) | bad_value \
            | ~coordinate
        weight = Signal(self.weight_layout)
        m.d.comb += [weight.r.eq(r), weight.k.eq(k), weight.s.eq(head[16:20]),
                     weight.value.eq(value[:weight_bits])]
        filled = Signal(self.word_layout)
        m.d.comb += filled.eq(buffer)
        for index in range(macs):
            with m.If(slot == index):
                m.d.comb += filled[index].eq(weight)

        # The fiber's row bounds (pointer_layout), as they stand with the weight being taken:
        # rows ascend within a fiber, so a row's first word is the one it is first seen in.
        kernel = self._max_kernel
        first, last = (Signal(self.pointer_layout.members[name]) for name in ("first", "last"))
        seen = Signal(kernel)
        first_now, last_now = (Signal.like(bound) for bound in (first, last))
        seen_now = Signal(kernel)
        m.d.comb += [first_now.eq(first), last_now.eq(last), seen_now.eq(seen)]
        weight_taken = Signal()
        with m.If(weight_taken):
            for j in range(kernel):
                with m.If(((r >= j) if j else 1) & ~seen[j]):
                    m.d.comb += [first_now[j].eq(next_word), seen_now[j].eq(1)]
                with m.If(r <= j):
                    m.d.comb += last_now[j].eq(next_word + 1)
        m.d.sync += [first.eq(first_now), last.eq(last_now), seen.eq(seen_now)]

        def write_pointer(end):
            m.d.comb += [self.pointer_write.en.eq(1), self.pointer_write.addr.eq(channel)]
            for j in range(kernel):
                m.d.comb += [self.pointer_write.data.first[j].eq(Mux(seen_now[j], first_now[j],
                                                                     end)),
                             self.pointer_write.data.last[j].eq(last_now[j])]

        # The next channel's entry is requested while this fiber streams in, so its words
        # follow the fiber's with no round trip of their own.
        prefetched, prefetch = Signal(), Signal()

        def next_channel():
            m.d.sync += [channel.eq(channel + 1), phase.eq(Mux(prefetched | prefetch, 1, 0)),
                         prefetched.eq(0)]
            with m.If(channel + 1 == config.C):
                m.d.sync += busy.eq(0)

        with m.If(self.req.ready):
            m.d.sync += self.req.valid.eq(0)
        taken = self.word.valid & self.word.ready
        with m.If(busy & (error != LoadError.NONE)):
            # Drop the rest of the fiber and the prefetched entry, then stop.
            m.d.comb += self.word.ready.eq(remaining != 0)
            m.d.sync += remaining.eq(remaining - taken)
            with m.If((remaining == 0) | ((remaining == 1) & taken)):
                with m.If(prefetched):
                    m.d.sync += [remaining.eq(2), prefetched.eq(0)]
                with m.Elif(~self.req.valid):
                    m.d.sync += busy.eq(0)
        with m.Elif(busy):
            with m.If(phase == 0):
                with m.If(~self.req.valid):
                    m.d.sync += [self.req.valid.eq(1), phase.eq(1), remaining.eq(2),
                                 self.req.payload.addr.eq(
                                     config.table_addr + channel * 8),
                                 self.req.payload.words.eq(2)]
            with m.Elif(phase == 1):
                m.d.comb += self.word.ready.eq(1)
                with m.If(taken):
                    m.d.sync += [offset.eq(head), phase.eq(2), remaining.eq(1)]
            with m.Elif(phase == 2):
                m.d.comb += self.word.ready.eq(~self.req.valid)
                with m.If(taken & (head > longest)):  # no request: its words could be 2**32
                    m.d.sync += [error.eq(LoadError.FORMAT), remaining.eq(0)]
                with m.Elif(taken):
                    m.d.sync += [coordinate.eq(0), remaining.eq(head), seen.eq(0)]
                    m.d.sync += [last[j].eq(next_word) for j in range(kernel)]
                    with m.If(head == 0):
                        m.d.comb += seen_now.eq(0)
                        m.d.comb += [last_now[j].eq(next_word) for j in range(kernel)]
                        write_pointer(next_word)
                        next_channel()
                    with m.Else():
                        m.d.sync += [self.req.valid.eq(1), phase.eq(3),
                                     self.req.payload.addr.eq(
                                         config.words_addr + offset * WORD_BYTES),
                                     self.req.payload.words.eq(head)]
            with m.Else():
                m.d.comb += [self.word.ready.eq(1),
                             prefetch.eq(~self.req.valid & ~prefetched & (channel + 1 < config.C))]
                with m.If(prefetch):
                    m.d.sync += [self.req.valid.eq(1), prefetched.eq(1),
                                 self.req.payload.addr.eq(config.table_addr + (channel + 1) * 8),
                                 self.req.payload.words.eq(2)]
                with m.If(taken):
                    m.d.sync += remaining.eq(remaining - 1)
                    with m.If(is_coordinate):
                        with m.If(bad_coordinate):
                            m.d.sync += error.eq(LoadError.FORMAT)
                        with m.Else():
                            m.d.sync += [r.eq(head[12:16]), k.eq(head[:12]),
                                         coordinate.eq(1)]
                    with m.Elif(bad_weight):
                        m.d.sync += error.eq(LoadError.FORMAT)
                    with m.Elif((slot == macs - 1) | (remaining == 1)):
                        m.d.comb += weight_taken.eq(1)
                        with m.If(next_word == depth):
                            m.d.sync += error.eq(LoadError.OVERFLOW)
                        with m.Else():
                            m.d.comb += [self.filter_write.en.eq(1),
                                         self.filter_write.addr.eq(next_word),
                                         self.filter_write.data.eq(filled)]
                            m.d.sync += [next_word.eq(next_word + 1), buffer.eq(0),
                                         slot.eq(0)]
                            with m.If(remaining == 1):
                                write_pointer(next_word + 1)
                                next_channel()
                    with m.Else():
                        m.d.comb += weight_taken.eq(1)
                        m.d.sync += [buffer.eq(filled), slot.eq(slot + 1)]

        with m.If(self.start & ~busy):
            m.d.sync += [config.eq(self.config), busy.eq(self.config.C != 0),
                         error.eq(LoadError.NONE), channel.eq(0), phase.eq(0), next_word.eq(0),
                         buffer.eq(0), slot.eq(0), remaining.eq(0), prefetched.eq(0)]
        return m
