"""Formal view of the POU loader: one request for exactly the table, every entry written at its
channel as its two words say, and ``format_error`` exactly when an entry is bad."""

from functools import partial

from amaranth import Signal

from isosceles.hw.pou_loader import PouLoader
from isosceles.tb.formal import FormalView, mutant
from isosceles.tb.formal_rmerger import NARROW

__all__ = ["PouLoaderView", "make_views", "broken_views"]

MAX_CHANNELS, ADDR_WIDTH = 3, 8


def _bad(bias, high, numerics):
    """An entry (``bias`` its low word, ``high`` its high word) the format or ``numerics``
    cannot hold, from docs/memory.md: reserved bits 63..62 set, or a field out of range."""
    sign = bias[numerics.bias_bits - 1:]
    bias_bad = (sign != 0) & (sign != (1 << len(sign)) - 1)
    return ((high[30:] != 0) | bias_bad | (high[numerics.mult_bits:24] != 0)
            | (high[24 + numerics.shift_bits:30] != 0))


class PouLoaderView(FormalView):
    """Tables of up to three entries, 2-bit bias, multiplier and shift (so every range check
    has bits above it), 8-bit addresses, any ``config``, ``start`` and words.

    Assumed: ``K <= max_channels`` (the block checks it); the memory offers a word only after
    the request is accepted and no more than it asked for. The view latches ``config`` at an
    accepted ``start``. Checked: the one request of a load is ``{table_addr, 2K}``, none for
    ``K = 0`` and none outside a load; no word is taken outside a load; ``busy`` is high
    exactly from an accepted ``start`` (``K > 0``) until its ``2K``-th word is taken; an entry
    is written exactly when its second word is taken and no entry so far, itself included, is
    bad, at the entry's channel, with the bias, multiplier and shift of its two words;
    ``format_error`` at the end of a load is exactly whether an entry was bad.
    """

    driven = ("param_write",)

    def properties(self, m, props, unit):
        config, start, req, word, write = (unit.config, unit.start, unit.req, unit.word,
                                           unit.param_write)
        busy, error = unit.status.busy, unit.status.format_error
        accepted = start & ~busy
        kept = Signal.like(config)
        with m.If(accepted):
            m.d.sync += kept.eq(config)
        props.assume(config.K <= MAX_CHANNELS, when=accepted)
        row_counter = partial(props.counter, clear=accepted)
        asked = req.valid & req.ready
        took = word.valid & word.ready
        requests = row_counter("requests", range(4), asked)
        words = row_counter("words", range(2 * MAX_CHANNELS + 2), took)
        props.assume((requests != 0) & (words < 2 * kept.K), when=word.valid)

        props.check("the one request of a load is table_addr and 2K words",
                    busy & (requests == 0) & (req.payload.addr == kept.table_addr)
                    & (req.payload.words == 2 * kept.K), when=req.valid)
        props.check("no word taken outside a load", busy, when=took)
        loading = Signal()
        with m.If(accepted):
            m.d.sync += loading.eq(config.K != 0)
        with m.Elif(took & (words == 2 * kept.K - 1)):
            m.d.sync += loading.eq(0)
        props.check("busy from a start until the table's last word is taken", busy == loading)

        # Entries: the low word kept, the high word decides.
        low, seen_bad = Signal(32), Signal()
        high_word = took & words[0]
        entry = words >> 1
        bad = _bad(low, word.payload, NARROW)
        with m.If(took & ~words[0]):
            m.d.sync += low.eq(word.payload)
        with m.If(accepted):
            m.d.sync += seen_bad.eq(0)
        with m.Elif(high_word & bad):
            m.d.sync += seen_bad.eq(1)
        props.check("an entry is written exactly when no entry so far is bad, at its channel",
                    (write.en == (high_word & ~bad & ~seen_bad))
                    & (~write.en | (write.addr == entry)))
        numerics = NARROW
        props.check("an entry's write holds its bias, multiplier and shift",
                    (write.data.bias.as_unsigned() == low[:numerics.bias_bits])
                    & (write.data.mult == word.payload[:numerics.mult_bits])
                    & (write.data.shift == word.payload[24:24 + numerics.shift_bits]),
                    when=write.en)
        fell = props.past(busy) & ~busy
        props.check("format_error at a load's end is whether an entry was bad",
                    error == seen_bad, when=fell)

        props.cover("a table of three good entries is loaded",
                    fell & (kept.K == 3) & ~error)
        wrote = Signal()
        with m.If(accepted):
            m.d.sync += wrote.eq(0)
        with m.Elif(write.en):
            m.d.sync += wrote.eq(1)
        props.cover("a load ends with a format error after a good entry is written",
                    fell & error & wrote)
        props.cover("a start clears a format error", props.past(accepted & error) & ~error
                    & busy)


def _loader(cls=PouLoader):
    return cls(numerics=NARROW, max_channels=MAX_CHANNELS, addr_width=ADDR_WIDTH)


LateEndPouLoader = mutant(PouLoader, "with m.If(channel + 1 == config.K):",
                          "with m.If(channel == config.K):", name="LateEndPouLoader")
BadWritingPouLoader = mutant(PouLoader, "self.param_write.en.eq(taken & high & ~bad & ~error)",
                             "self.param_write.en.eq(taken & high & ~error)",
                             name="BadWritingPouLoader")
ShortRequestPouLoader = mutant(PouLoader, "self.req.payload.words.eq(self.config.K * 2)",
                               "self.req.payload.words.eq(self.config.K)",
                               name="ShortRequestPouLoader")


def make_views():
    return [PouLoaderView(_loader(), depth=12),
            PouLoaderView(_loader(), depth=24, tag="deep", modes=("bmc",))]


def broken_views():
    """(view of a broken variant, the property its check must fail, or a tuple of those it
    may fail first)."""
    return [
        (PouLoaderView(_loader(LateEndPouLoader), depth=8),
         "busy from a start until the table's last word is taken"),
        (PouLoaderView(_loader(BadWritingPouLoader), depth=8),
         "an entry is written exactly when no entry so far is bad"),
        (PouLoaderView(_loader(ShortRequestPouLoader), depth=8),
         "the one request of a load is table_addr and 2K words"),
    ]
