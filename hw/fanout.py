"""The substream fan-out: splits a frontend lane's T1 by filter row into buffered substreams."""

from amaranth import Const, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from isosceles.golden.checks import check_int
from isosceles.golden.numerics import DEFAULT_NUMERICS, check_numerics
from isosceles.hw.pe import t1_layout
from isosceles.hw.priority import first_set
from isosceles.hw.queue import MultiContextQueue
from isosceles.hw.row_merger import substream_layout

__all__ = ["SubstreamFanout"]


class SubstreamFanout(wiring.Component):
    """Splits the T1 lane stream of one frontend lane into its ``R`` substreams, one per filter
    row ``r``, each buffered for a whole column.

    A data token ``(q, r, k, value)`` goes to substream ``r``; a column marker goes to every
    substream whose bit is set in ``rows`` (the filter rows that feed an output row of this
    pass), one a cycle, lowest ``r`` first, and is taken from ``i`` with the last of them. The
    substreams live in a :class:`~isosceles.hw.queue.MultiContextQueue` (one context per filter
    row, one memory), each of ``max_channels + 2`` tokens: a whole column of one ``r`` (at most
    ``K`` data tokens and its marker) always fits, so a lane can finish column ``q`` on every
    substream while a row merger still holds column ``q - 1``, and the lanes and row mergers
    that share substreams can never wait on each other in a cycle (a buffer of one or two
    tokens can: see docs/architecture.md).

    Stream contract: ``o[r].valid`` and ``o[r].payload`` are registers (the queue's output
    stages), ``o[r].valid`` does not wait on ``o[r].ready``. ``i.ready`` depends on ``i.payload``
    (the substream it goes to must have room), never on ``i.valid``. ``rows`` is held while a
    row streams through.

    Parameters
    ----------
    numerics : Numerics
    max_kernel : int
        Substreams (the largest ``R``), 1 to 15.
    max_channels : int
        Largest ``K``: sets each substream's capacity.
    max_columns : int
        Largest ``Q``.
    """

    lint_waivers = MultiContextQueue.lint_waivers

    def __init__(self, *, numerics=DEFAULT_NUMERICS, max_kernel, max_channels, max_columns):
        self._MustUse__silence = True  # only cleared below, once the parameters are valid
        check_numerics(numerics)
        check_int("max_kernel", max_kernel, 1, 15)
        check_int("max_channels", max_channels, 1, 4096)
        check_int("max_columns", max_columns, 1, 4096)
        self._MustUse__silence = False
        self._max_kernel = max_kernel
        layout = substream_layout(numerics=numerics, max_channels=max_channels,
                                  max_columns=max_columns)
        self.queue = MultiContextQueue(layout=layout, contexts=max_kernel,
                                       depth=max_kernel * (max_channels + 2))
        super().__init__({
            "i": In(stream.Signature(t1_layout(numerics=numerics, max_kernel=max_kernel,
                                               max_channels=max_channels,
                                               max_columns=max_columns))),
            "rows": In(max_kernel),
            "o": Out(stream.Signature(layout)).array(max_kernel),
        })

    @property
    def nbytes(self):
        """Buffer memory in bytes."""
        return self.queue.nbytes

    def elaborate(self, platform):
        m = Module()
        queue = m.submodules.queue = self.queue
        for r in range(self._max_kernel):
            wiring.connect(m, queue.o[r], wiring.flipped(self.o[r]))

        token = self.i.payload
        # Substreams that have already been given the marker at the head of `i`.
        given = Signal(self._max_kernel)
        pending = Signal(self._max_kernel)
        m.d.comb += pending.eq(self.rows & ~given)
        has_pending, next_row = first_set(m, [pending[r] for r in range(self._max_kernel)],
                                          name="marker_to")
        remaining = Signal(self._max_kernel)  # still pending after this cycle's push
        m.d.comb += remaining.eq(pending & ~(Const(1, 1) << next_row)[:self._max_kernel])

        push = queue.i.payload
        m.d.comb += [
            push.data.q.eq(token.q),
            push.data.k.eq(token.k),
            push.data.value.eq(token.value),
            push.data.marker.eq(token.marker),
            push.data.last.eq(token.last),
            push.ctx.eq(token.r),
        ]
        with m.If(token.marker):
            m.d.comb += [push.ctx.eq(next_row), push.data.k.eq(0), push.data.value.eq(0),
                         queue.i.valid.eq(self.i.valid & has_pending),
                         self.i.ready.eq(~has_pending | (queue.i.ready & (remaining == 0)))]
            with m.If(queue.i.valid & queue.i.ready):
                m.d.sync += given.eq(given | (pending & ~remaining))
                with m.If(remaining == 0):
                    m.d.sync += given.eq(0)
        with m.Else():
            m.d.comb += [queue.i.valid.eq(self.i.valid), self.i.ready.eq(queue.i.ready)]
        return m
