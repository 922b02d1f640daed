"""Formal view of the filter buffer: each memory reads back, a cycle after the address, the
word last written at that address, and holds it while its read is disabled."""

from amaranth import Signal, Value

from isosceles.hw.filter_buffer import FilterBuffer
from isosceles.tb.formal import FormalView, any_const, any_seq, mutant
from isosceles.tb.formal_rmerger import NARROW

__all__ = ["FilterBufferView", "make_views", "broken_views"]

MACS, MAX_KERNEL = 2, 2


class FilterBufferView(FormalView):
    """Two weights a word, filters up to 2 x 2, 2-bit weights; any writes and reads on both
    memories in every cycle, addresses past the depth included.

    Per memory (``filter``: ``words`` deep, ``pointer``: ``max_channels`` deep), for an address
    below its depth the solver chooses: a read of it (``en`` high) returns, in the next cycle,
    the word last written there before the read's cycle (zero if none: the memory starts
    cleared; a write in the read's own cycle is not seen, since the ports are not transparent),
    whatever the other addresses and the other memory do; and a read's data is held while
    ``en`` is low, as the lane relies on when a token waits after its pointer was read. Each
    memory has one write and one read port, so there is no arbitration to check: a read and a
    write in one cycle never delay each other.
    """

    driven = ("filter_write", "pointer_write", "filter_read", "pointer_read")

    def __init__(self, unit, *, depths, **options):
        super().__init__(unit, **options)
        self.depths = depths

    def properties(self, m, props, unit):
        for name, depth in zip(("filter", "pointer"), self.depths, strict=True):
            write, read = getattr(unit, f"{name}_write"), getattr(unit, f"{name}_read")
            data = Value.cast(write.data)
            m.d.comb += [write.en.eq(any_seq(1)), write.addr.eq(any_seq(len(write.addr))),
                         data.eq(any_seq(len(data))), read.en.eq(any_seq(1)),
                         read.addr.eq(any_seq(len(read.addr)))]
            address = Signal.like(write.addr, name=f"{name}_address")
            m.d.comb += address.eq(any_const(len(address)))
            props.assume(address < depth)

            # The word at `address`: the memory's initial zero, then each write to it.
            stored = Signal(len(data), name=f"{name}_stored")
            writing = write.en & (write.addr == address)
            with m.If(writing):
                m.d.sync += stored.eq(data)
            asked = read.en & (read.addr == address)
            was_asked = props.past(asked, name=f"{name}_was_asked")
            then_stored = props.past(stored, name=f"{name}_then_stored")
            read_data = Value.cast(read.data)
            props.check(f"{name}: a read returns the word last written at its address before "
                        f"it, in the next cycle", read_data == then_stored, when=was_asked)
            idle = props.past(~read.en, name=f"{name}_idle", init=0)
            props.check(f"{name}: the read data is held while en is low",
                        read_data == props.past(read_data, name=f"{name}_last_data"),
                        when=idle)

            written = props.past(writing, name=f"{name}_written")
            props.cover(f"{name}: a word written is read back after a write elsewhere",
                        was_asked & props.past(write.en & ~writing & props.past(writing))
                        & (read_data != 0))
            props.cover(f"{name}: a read in the cycle its word is overwritten returns the old "
                        f"word", was_asked & written & (read_data != 0)
                        & (read_data != stored))
            props.cover(f"{name}: a read word held over a cycle with en low",
                        idle & props.past(was_asked) & (read_data != 0))


def _buffer(cls=FilterBuffer, *, channels, words):
    return cls(numerics=NARROW, macs_per_pe=MACS, max_kernel=MAX_KERNEL,
               max_channels=channels, words=words)


TransparentFilterBuffer = mutant(
    FilterBuffer, "write, read = memory.write_port(), memory.read_port()",
    "write = memory.write_port(); read = memory.read_port(transparent_for=(write,))",
    name="TransparentFilterBuffer")
EnableBlindFilterBuffer = mutant(
    FilterBuffer, 'wiring.connect(m, wiring.flipped(getattr(self, f"{name}_read")), read)',
    'port = getattr(self, f"{name}_read"); '
    'm.d.comb += [read.addr.eq(port.addr), port.data.eq(read.data)]',
    name="EnableBlindFilterBuffer")
ShallowPointerFilterBuffer = mutant(
    FilterBuffer, '("pointer", self._max_channels, self.pointer_layout)',
    '("pointer", self._max_channels - 1, self.pointer_layout)',
    name="ShallowPointerFilterBuffer")


def make_views():
    # Depths of three (addresses past the depth exist) and of two (a power of two). Past CI's
    # budget: the second view, the deeper run and the third broken variant.
    return [FilterBufferView(_buffer(channels=3, words=3), depths=(3, 3), depth=6),
            FilterBufferView(_buffer(channels=2, words=2), depths=(2, 2), depth=6, tag="2",
                             slow=("bmc", "cover")),
            FilterBufferView(_buffer(channels=3, words=3), depths=(3, 3), depth=9,
                             tag="deep", modes=("bmc",), slow=("bmc",))]


def broken_views():
    """(view of a broken variant, the property its check must fail, or a tuple of those it
    may fail first)."""
    return [
        (FilterBufferView(_buffer(TransparentFilterBuffer, channels=3, words=3),
                          depths=(3, 3), depth=6),
         "a read returns the word last written at its address before it"),
        (FilterBufferView(_buffer(EnableBlindFilterBuffer, channels=3, words=3),
                          depths=(3, 3), depth=6),
         "the read data is held while en is low"),
        # Four channels, so that the three-deep memory keeps the port's address width.
        (FilterBufferView(_buffer(ShallowPointerFilterBuffer, channels=4, words=3),
                          depths=(3, 4), depth=6, slow=("bmc",)),
         "pointer: a read returns the word last written at its address before it"),
    ]
