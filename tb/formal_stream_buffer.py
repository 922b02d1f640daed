"""Formal view of the stream buffer: stream rules, FIFO order, and two tokens held at most."""

from amaranth import unsigned

from isosceles.hw.stream_buffer import StreamBuffer
from isosceles.tb.formal import FormalView, TrackedToken

__all__ = ["StreamBufferView", "make_views", "broken_views"]


class StreamBufferView(FormalView):
    """A 2-bit stream buffer with a free producer and consumer."""

    depth = 8

    def properties(self, m, props, unit):
        push, pop = unit.i.valid & unit.i.ready, unit.o.valid & unit.o.ready
        token = TrackedToken(props, name="buffer", push=push, data_in=unit.i.payload,
                             pop=pop, data_out=unit.o.payload, bound=2)
        props.check("buffer: at most two tokens inside", token.inside <= 2)
        props.check("buffer: ready while it holds less than two",
                    unit.i.ready | (token.inside == 2))
        props.cover("buffer full with a token waiting", unit.i.valid & ~unit.i.ready)
        props.cover("tracked token left after a stall",
                    token.left & props.past(token.inside == 2))


class SkidOverwritingBuffer(StreamBuffer):
    """Broken: always ready, so a token arriving while the skid register is full replaces it."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        m.d.comb += self.i.ready.eq(1)
        return m


class RestlessBuffer(StreamBuffer):
    """Broken: while stalled, the output takes the newest input token (payload not held)."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        with m.If(self.o.valid & ~self.o.ready & self.i.valid):
            m.d.sync += self.o.payload.eq(self.i.payload)
        return m


def make_views():
    return [StreamBufferView(StreamBuffer(layout=unsigned(2))),
            StreamBufferView(StreamBuffer(layout=unsigned(2)), depth=20, tag="deep",
                             modes=("bmc",))]


def broken_views():
    """(view of a broken variant, the property its check must fail, or a tuple of those it
    may fail first)."""
    return [
        (StreamBufferView(SkidOverwritingBuffer(layout=unsigned(2))),
         ("buffer: the tracked token leaves in order and unchanged",
          "buffer: at most two tokens inside")),
        (StreamBufferView(RestlessBuffer(layout=unsigned(2))),
         "o: valid and payload held until the transfer"),
    ]


