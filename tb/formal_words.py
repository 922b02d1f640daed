"""Formal views of the word adapters: each request's beats; the packer's strobes on exactly
its words, the unpacker's words taken from their lanes of their beats."""

from types import SimpleNamespace

from amaranth import Signal

from isosceles.hw.words import WordPacker, WordUnpacker
from isosceles.tb.formal import FormalView, any_const, any_seq, mutant

__all__ = ["WordPackerView", "WordUnpackerView", "make_views", "broken_views"]

DATA_WIDTH, ADDR_WIDTH, MAX_WORDS, OUTSTANDING = 64, 8, 3, 3
LANES = DATA_WIDTH // 32


def _requests(m, props, unit):
    """The request side both adapters share: requests of 1 to ``MAX_WORDS`` words assumed, each
    leaving on ``req_o`` as the beats that cover it; the words and beats of all requests
    accepted counted; one request the solver chooses tracked (where its words and beats start
    in the streams), with one of its words, chosen too, by ``index``."""
    req_i, req_o = unit.req_i, unit.req_o
    counter = range(32)
    accepted = req_i.valid & req_i.ready
    lane = req_i.payload.addr[2]
    words = req_i.payload.words
    beats = (lane + words + LANES - 1) >> 1
    props.assume((words >= 1) & (words <= MAX_WORDS), when=req_i.valid)

    expected = Signal.like(req_o.payload)
    with m.If(accepted):
        m.d.sync += [expected.addr.eq(req_i.payload.addr & ~(LANES * 4 - 1)),
                     expected.beats.eq(beats)]
    props.check("a request leaves as the beats that cover it",
                req_o.payload.as_value() == expected.as_value(), when=req_o.valid)

    words_asked, beats_asked = Signal(counter), Signal(counter)
    with m.If(accepted):
        m.d.sync += [words_asked.eq(words_asked + words), beats_asked.eq(beats_asked + beats)]

    tracking = Signal()
    first_word, first_beat = Signal(counter), Signal(counter)
    t_lane, t_words, t_beats = Signal(), Signal.like(words), Signal(range(4))
    with m.If(accepted & any_seq(1) & ~tracking):
        m.d.sync += [tracking.eq(1), first_word.eq(words_asked), first_beat.eq(beats_asked),
                     t_lane.eq(lane), t_words.eq(words), t_beats.eq(beats)]
    index = Signal(range(MAX_WORDS))
    m.d.comb += index.eq(any_const(len(index)))
    props.assume(index < t_words, when=tracking)
    return SimpleNamespace(words_asked=words_asked, tracking=tracking, first_word=first_word,
                           first_beat=first_beat, lane=t_lane, words=t_words, beats=t_beats,
                           index=index)


class WordPackerView(FormalView):
    """Two 32-bit lanes a beat, requests of up to three words, three in flight, 8-bit addresses.

    Assumed: requests of 1 to 3 words. The view counts the words and beats of all requests
    accepted and of all transfers. Checked: each request leaves on ``req_o`` as its address
    rounded down to a beat and the beats that cover its words; for one request the solver
    chooses, each of its beats strobes exactly the lanes of its words (so a write touches no
    byte outside the request), and one of its words, chosen too, is in its lane of its beat.
    """

    def properties(self, m, props, unit):
        req_o, word, beat = unit.req_o, unit.word, unit.beat
        t = _requests(m, props, unit)
        counter = range(32)
        words_in, beats_out = Signal(counter), Signal(counter)
        with m.If(word.valid & word.ready):
            m.d.sync += words_in.eq(words_in + 1)
        with m.If(beat.valid & beat.ready):
            m.d.sync += beats_out.eq(beats_out + 1)
        props.check("no word taken beyond the requests", words_in < t.words_asked,
                    when=word.valid & word.ready)

        value, seen = Signal(32), Signal()
        with m.If(t.tracking & word.valid & word.ready & (words_in == t.first_word + t.index)):
            m.d.sync += [value.eq(word.payload), seen.eq(1)]

        b = Signal(counter)
        m.d.comb += b.eq(beats_out - t.first_beat)
        in_request = t.tracking & (beats_out >= t.first_beat) & (b < t.beats)
        for lane_index in range(LANES):
            position = b * LANES + lane_index
            props.check(f"lane {lane_index}: strobed exactly when a word of the request is there",
                        beat.payload.strb.word_select(lane_index, 4)
                        == (((position >= t.lane) & (position < t.lane + t.words))
                            .replicate(4)), when=beat.valid & in_request)
        target = t.lane + t.index
        props.check("the tracked word is in its lane of its beat",
                    beat.payload.data.word_select(target[0], 32) == value,
                    when=beat.valid & in_request & seen & (b == target >> 1))

        props.cover("a three-word request from lane 1 leaves its last beat",
                    beat.valid & beat.ready & in_request & (t.words == 3) & t.lane
                    & (b == 1))
        props.cover("a beat waits with a request behind it",
                    beat.valid & ~beat.ready & req_o.valid)


class WordUnpackerView(FormalView):
    """The unpacker at the packer's sizes: two 32-bit lanes a beat, requests of up to three
    words, three in flight, 8-bit addresses, any beat data.

    Assumed: requests of 1 to 3 words; the memory offers a beat only for a beat request it
    accepted on ``req_o`` (beats taken fewer than beats requested). The view counts the words
    and beats of all requests and of all transfers. Checked: each request leaves on ``req_o``
    as its address rounded down to a beat and the beats that cover its words; no word leaves
    beyond the requests; for one request the solver chooses, one of its words, chosen too,
    leaves at its place in the word stream as its lane of its beat (so no word is lost,
    duplicated, reordered or taken from the wrong lane or beat), and its last word leaves with
    exactly its beats taken (the next request's beats line up).
    """

    def properties(self, m, props, unit):
        req_o, word, beat = unit.req_o, unit.word, unit.beat
        t = _requests(m, props, unit)
        counter = range(32)
        words_out, beats_in, beats_issued = Signal(counter), Signal(counter), Signal(counter)
        with m.If(word.valid & word.ready):
            m.d.sync += words_out.eq(words_out + 1)
        with m.If(beat.valid & beat.ready):
            m.d.sync += beats_in.eq(beats_in + 1)
        with m.If(req_o.valid & req_o.ready):
            m.d.sync += beats_issued.eq(beats_issued + req_o.payload.beats)
        props.assume(beats_in < beats_issued, when=beat.valid)
        props.check("no word leaves beyond the requests", words_out < t.words_asked,
                    when=word.valid)

        target = t.lane + t.index
        value, seen = Signal(32), Signal()
        with m.If(t.tracking & beat.valid & beat.ready
                  & (beats_in == t.first_beat + (target >> 1))):
            m.d.sync += [value.eq(beat.payload.word_select(target[0], 32)), seen.eq(1)]

        w = Signal(counter)
        m.d.comb += w.eq(words_out - t.first_word)
        mine = t.tracking & word.valid & (words_out >= t.first_word) & (w < t.words)
        props.check("the tracked word leaves at its place, from its lane of its beat",
                    seen & (word.payload == value), when=mine & (w == t.index))
        props.check("a request's last word leaves with exactly its beats taken",
                    beats_in == t.first_beat + t.beats,
                    when=mine & word.ready & (w == t.words - 1))

        props.cover("a three-word request from lane 1 leaves its last word",
                    mine & word.ready & (t.words == 3) & t.lane & (w == 2))
        props.cover("a word waits with the next beat offered",
                    word.valid & ~word.ready & beat.valid)


def _packer(cls=WordPacker):
    return cls(data_width=DATA_WIDTH, addr_width=ADDR_WIDTH, max_words=MAX_WORDS,
               outstanding=OUTSTANDING)


StickyPacker = mutant(WordPacker, "self.beat.payload.eq(filled),\n" + " " * 29 + "gathered.eq(0)]",
                      "self.beat.payload.eq(filled)]", name="StickyPacker")


def _unpacker(cls=WordUnpacker):
    return cls(data_width=DATA_WIDTH, addr_width=ADDR_WIDTH, max_words=MAX_WORDS,
               outstanding=OUTSTANDING)


GreedyUnpacker = mutant(WordUnpacker, "self.beat.ready.eq(~held_valid | (sent & ends_beat))",
                        "self.beat.ready.eq(~held_valid | sent)", name="GreedyUnpacker")
BigEndianUnpacker = mutant(WordUnpacker, "held.word_select(lane, WORD_BITS)",
                           "held.word_select(~lane, WORD_BITS)",
                           name="BigEndianUnpacker")


def make_views():
    return [WordPackerView(_packer(), depth=12),
            WordUnpackerView(_unpacker(), depth=8),
            WordPackerView(_packer(), depth=14, tag="deep", modes=("bmc",), slow=("bmc",)),
            WordUnpackerView(_unpacker(), depth=12, tag="deep", modes=("bmc",), slow=("bmc",))]


def broken_views():
    """(view of a broken variant, the property its check must fail, or a tuple of those it
    may fail first)."""
    return [(WordPackerView(_packer(StickyPacker), depth=10), "strobed exactly when"),
            (WordUnpackerView(_unpacker(GreedyUnpacker), depth=8),
             ("the tracked word leaves at its place", "with exactly its beats taken")),
            (WordUnpackerView(_unpacker(BigEndianUnpacker), depth=8),
             "the tracked word leaves at its place")]
