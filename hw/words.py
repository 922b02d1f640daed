"""Memory-side streams of the block's units (read and write requests, 32-bit words) and the
adapters between those words and a bus's wider beats."""

from amaranth import Cat, Const, Module, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from isosceles.gen.config import bits_for
from isosceles.golden.checks import check_int, check_power_of_two

__all__ = ["WORD_BITS", "WORD_BYTES", "request_layout", "beat_request_layout", "beat_layout",
           "WordUnpacker", "WordPacker"]

WORD_BITS = 32
WORD_BYTES = 4


def request_layout(*, addr_width, max_words):
    """A read or write request: byte address ``addr`` (word-aligned) and ``words``, the number
    of 32-bit words from it (1 to ``max_words``)."""
    return data.StructLayout({
        "addr": unsigned(addr_width),
        "words": unsigned(bits_for(max_words + 1)),
    })


def beat_request_layout(*, addr_width, max_beats):
    """A bus request: beat-aligned byte address ``addr`` and ``beats``, the number of beats."""
    return data.StructLayout({
        "addr": unsigned(addr_width),
        "beats": unsigned(bits_for(max_beats + 1)),
    })


def beat_layout(*, data_width):
    """A write beat: ``data`` and its byte strobes ``strb``."""
    return data.StructLayout({"data": unsigned(data_width), "strb": unsigned(data_width // 8)})


def _check(data_width, addr_width, max_words, outstanding):
    check_power_of_two("data_width", data_width, 32, 1024)
    check_int("addr_width", addr_width, 8, 64)
    check_int("max_words", max_words, 1, (1 << 32) - 1)
    check_int("outstanding", outstanding, 3, 64)


def _next_lane(lane, lanes):
    """The word lane after ``lane`` (a one-bit field that stays 0 when a beat is one word)."""
    return lane + 1 if lanes > 1 else lane


class _Aligner(wiring.Component):
    """The request side both adapters share: each word request becomes the request of the beats
    that cover it, and its first word lane and word count wait in a FIFO of ``outstanding``
    entries for the data side."""

    lint_waivers = {
        "UNUSEDSIGNAL": "Amaranth's Verilog keeps named wires of the FIFO that its logic "
                        "bypasses (w_data, level, produce); the adapter has no unused signal",
        "DECLFILENAME": "Amaranth writes the FIFO as a module named <top>.pending into the one "
                        "file",
    }

    def __init__(self, members, *, data_width, addr_width, max_words, outstanding):
        self._MustUse__silence = True  # only cleared below, once the parameters are valid
        _check(data_width, addr_width, max_words, outstanding)
        self._MustUse__silence = False
        self._lanes, self._outstanding = data_width // WORD_BITS, outstanding
        self._max_words = max_words
        lanes = self._lanes
        super().__init__({
            "req_i": In(stream.Signature(request_layout(addr_width=addr_width,
                                                        max_words=max_words))),
            "req_o": Out(stream.Signature(beat_request_layout(
                addr_width=addr_width, max_beats=(max_words + 2 * lanes - 2) // lanes))),
            **members,
        })

    def _requests(self, m):
        """The FIFO of ``(lane, words)`` of requests issued, read by the data side, and the
        width of its lane field."""
        lanes = self._lanes
        lane_bits = exact_log2(lanes)
        pending = m.submodules.pending = SyncFIFOBuffered(
            width=max(1, lane_bits) + len(self.req_i.payload.words), depth=self._outstanding)
        addr, words = self.req_i.payload.addr, self.req_i.payload.words
        lane = addr[2:2 + lane_bits] if lane_bits else Const(0, 1)
        m.d.comb += [self.req_i.ready.eq(~self.req_o.valid & pending.w_rdy),
                     pending.w_en.eq(self.req_i.valid & self.req_i.ready),
                     pending.w_data.eq(Cat(lane, words))]
        with m.If(self.req_o.ready):
            m.d.sync += self.req_o.valid.eq(0)
        with m.If(self.req_i.valid & self.req_i.ready):
            m.d.sync += [self.req_o.valid.eq(1),
                         self.req_o.payload.addr.eq(addr & ~(lanes * WORD_BYTES - 1)),
                         self.req_o.payload.beats.eq((lane + words + lanes - 1) >> lane_bits)]
        return pending, max(1, lane_bits)


class WordUnpacker(_Aligner):
    """Turns a bus's read beats of ``data_width`` bits into the 32-bit word stream of word
    requests whose address is word- but not beat-aligned.

    Each request on ``req_i`` (``{addr, words}``) goes out on ``req_o`` as the beats that cover
    it (``addr`` rounded down to a beat, ``beats``); the beats, in order, come back on ``beat``
    (word ``j`` of a beat in bits ``32j .. 32j+31``, little-endian) and leave as exactly the
    request's words on ``word``: those before ``addr`` in the first beat and after the last
    word in the last beat are dropped. Up to ``outstanding`` requests may be in flight. A word
    a cycle; a beat is taken in the cycle its last word leaves.

    Stream contract: ``req_o.valid`` is a register; ``word`` comes from a register holding the
    beat, stable until the transfer; ``req_i.ready`` and ``beat.ready`` depend on state and on
    ``word.ready``, never on their own ``valid``.

    Parameters
    ----------
    data_width : int
        Bus data width, a power of two from 32 to 1024.
    addr_width : int
    max_words : int
        Largest word request.
    outstanding : int
        Requests in flight (3 to 64).
    """

    def __init__(self, *, data_width, addr_width=32, max_words=256, outstanding=4):
        super().__init__({"beat": In(stream.Signature(data_width)),
                          "word": Out(stream.Signature(WORD_BITS))},
                         data_width=data_width, addr_width=addr_width, max_words=max_words,
                         outstanding=outstanding)

    def elaborate(self, platform):
        m = Module()
        pending, field = self._requests(m)
        lanes = self._lanes
        active, lane = Signal(), Signal(field)
        remaining = Signal.like(self.req_i.payload.words)
        held, held_valid = Signal.like(self.beat.payload), Signal()

        m.d.comb += [self.word.valid.eq(active & held_valid),
                     self.word.payload.eq(held.word_select(lane, WORD_BITS))]
        sent = self.word.valid & self.word.ready
        ends_beat = (lane == lanes - 1) | (remaining == 1)
        m.d.comb += self.beat.ready.eq(~held_valid | (sent & ends_beat))
        with m.If(sent):
            m.d.sync += [lane.eq(_next_lane(lane, lanes)), remaining.eq(remaining - 1)]
            with m.If(ends_beat):
                m.d.sync += held_valid.eq(0)
            with m.If(remaining == 1):
                m.d.sync += active.eq(0)
        with m.If(self.beat.valid & self.beat.ready):
            m.d.sync += [held.eq(self.beat.payload), held_valid.eq(1)]
        m.d.comb += pending.r_en.eq(~active)
        with m.If(~active & pending.r_rdy):
            m.d.sync += [active.eq(1), lane.eq(pending.r_data[:field]),
                         remaining.eq(pending.r_data[field:])]
        return m


class WordPacker(_Aligner):
    """Turns the 32-bit word stream of word write requests into a bus's write beats of
    ``data_width`` bits with byte strobes.

    Each request on ``req_i`` goes out on ``req_o`` as the beats that cover it; its words, in
    order, are gathered into beats (word ``j`` of a beat in bits ``32j .. 32j+31``) and leave
    on ``beat`` with the strobes of exactly the request's words. Up to ``outstanding`` requests
    may be in flight. A word a cycle.

    Stream contract: ``req_o`` and ``beat`` are registers; ``req_i.ready`` and ``word.ready``
    depend on state and on ``beat.ready``, never on their own ``valid``.

    Parameters
    ----------
    data_width, addr_width, max_words, outstanding
        As :class:`WordUnpacker`'s.
    """

    def __init__(self, *, data_width, addr_width=32, max_words=256, outstanding=4):
        super().__init__({"word": In(stream.Signature(WORD_BITS)),
                          "beat": Out(stream.Signature(beat_layout(data_width=data_width)))},
                         data_width=data_width, addr_width=addr_width, max_words=max_words,
                         outstanding=outstanding)

    def elaborate(self, platform):
        m = Module()
        pending, field = self._requests(m)
        lanes = self._lanes
        active, lane = Signal(), Signal(field)
        remaining = Signal.like(self.req_i.payload.words)
        gathered = Signal.like(self.beat.payload)

        ends_beat = (lane == lanes - 1) | (remaining == 1)
        out_free = ~self.beat.valid | self.beat.ready
        m.d.comb += self.word.ready.eq(active & (~ends_beat | out_free))
        filled = Signal.like(gathered)
        m.d.comb += filled.eq(gathered)
        for index in range(lanes):
            with m.If(lane == index):
                m.d.comb += [filled.data.word_select(index, WORD_BITS).eq(self.word.payload),
                             filled.strb.word_select(index, WORD_BYTES).eq(0xF)]
        with m.If(self.beat.ready):
            m.d.sync += self.beat.valid.eq(0)
        with m.If(self.word.valid & self.word.ready):
            m.d.sync += [lane.eq(_next_lane(lane, lanes)), remaining.eq(remaining - 1),
                         gathered.eq(filled)]
            with m.If(ends_beat):
                m.d.sync += [self.beat.valid.eq(1), self.beat.payload.eq(filled),
                             gathered.eq(0)]
            with m.If(remaining == 1):
                m.d.sync += active.eq(0)
        m.d.comb += pending.r_en.eq(~active)
        with m.If(~active & pending.r_rdy):
            m.d.sync += [active.eq(1), lane.eq(pending.r_data[:field]),
                         remaining.eq(pending.r_data[field:])]
        return m
