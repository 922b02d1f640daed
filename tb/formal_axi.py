"""Formal view of the burst splitter: bursts within AXI's limits that cover each request
exactly, in order."""

from amaranth import Mux, Signal

from isosceles.hw.axi import BurstSplitter
from isosceles.tb.formal import FormalView, mutant

__all__ = ["BurstSplitterView", "make_views", "broken_views"]

ADDR_WIDTH, DATA_WIDTH, MAX_BURST = 16, 32, 4
PAGE = 4096


class BurstSplitterView(FormalView):
    """16-bit addresses, 4-byte beats, bursts of up to four beats, any requests (any address,
    any length up to 1 MB).

    The view keeps the requests accepted and not yet fully sent (at most two: one being
    split, one whose last burst waits on ``o``), each as the address of its next beat and
    its beats left. Checked for every burst: ``len + 1`` at most ``max_burst`` beats; it does
    not cross a 4 KB boundary; it starts at the next beat of the oldest request; ``last``
    exactly when it ends that request (so the bursts cover every whole beat of each request
    once, in order, and a request shorter than a beat has none); no burst without a request.
    """

    def properties(self, m, props, unit):
        i, o = unit.i, unit.o
        shift = (DATA_WIDTH // 8).bit_length() - 1
        beats_shape = range((1 << len(i.payload.bytes)) >> shift)
        slots = [(Signal(name=f"slot{n}_full"), Signal(ADDR_WIDTH, name=f"slot{n}_addr"),
                  Signal(beats_shape, name=f"slot{n}_beats")) for n in range(2)]
        (full0, addr0, beats0), (full1, addr1, beats1) = slots

        sent = o.valid & o.ready
        beats = o.payload.len + 1
        end = Signal(ADDR_WIDTH + 1)
        m.d.comb += end.eq(o.payload.addr[:12] + (beats << shift))
        props.check("a burst has at most max_burst beats", beats <= MAX_BURST, when=o.valid)
        props.check("a burst does not cross a 4 KB boundary", end <= PAGE, when=o.valid)
        props.check("a burst only for a request accepted", full0, when=o.valid)
        props.check("a burst starts at its request's next beat, last when it ends it",
                    (o.payload.addr == addr0) & (beats <= beats0)
                    & (o.payload.last == (beats == beats0)), when=o.valid & full0)

        accepted = i.valid & i.ready
        new_addr = i.payload.addr >> shift << shift
        new_beats = i.payload.bytes >> shift
        popped = sent & o.payload.last
        props.check("at most two requests in flight", ~full1 | popped,
                    when=accepted & (new_beats != 0))
        # After a pop, slot 1 moves to slot 0; a request accepted goes to the first free slot.
        with m.If(sent):
            m.d.sync += [addr0.eq(o.payload.addr + (beats << shift)), beats0.eq(beats0 - beats)]
        with m.If(popped):
            m.d.sync += [full0.eq(full1), addr0.eq(addr1), beats0.eq(beats1), full1.eq(0)]
        with m.If(accepted & (new_beats != 0)):
            with m.If(Mux(popped, ~full1, ~full0)):
                m.d.sync += [full0.eq(1), addr0.eq(new_addr), beats0.eq(new_beats)]
            with m.Else():
                m.d.sync += [full1.eq(1), addr1.eq(new_addr), beats1.eq(new_beats)]

        props.cover("a request split at a 4 KB boundary ends",
                    sent & o.payload.last & (end == PAGE) & props.past(sent))
        props.cover("a burst waits with a request behind it", o.valid & ~o.ready & full1)
        props.cover("two requests end back to back",
                    popped & props.past(popped) & props.past(props.past(popped)))


def _splitter(cls=BurstSplitter):
    return cls(addr_width=ADDR_WIDTH, data_width=DATA_WIDTH, max_burst=MAX_BURST)


PageCrossingSplitter = mutant(
    BurstSplitter, "fits.eq(Mux(remaining < to_page, remaining, to_page))",
    "fits.eq(remaining)", name="PageCrossingSplitter")
EagerSplitter = mutant(
    BurstSplitter, "self.i.ready.eq((remaining == 0) | (load & (beats == remaining)))",
    "self.i.ready.eq((remaining == 0) | load)", name="EagerSplitter")


def make_views():
    return [BurstSplitterView(_splitter(), depth=8),
            BurstSplitterView(_splitter(), depth=12, tag="deep", modes=("bmc",),
                              slow=("bmc",))]


def broken_views():
    """(view of a broken variant, the property its check must fail, or a tuple of those it
    may fail first)."""
    return [
        (BurstSplitterView(_splitter(PageCrossingSplitter), depth=8),
         ("a burst does not cross a 4 KB boundary", "a burst has at most max_burst beats")),
        (BurstSplitterView(_splitter(EagerSplitter), depth=8),
         ("a burst starts at its request's next beat", "at most two requests in flight")),
    ]
