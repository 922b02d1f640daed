"""Formal view of the multi-context queue: every context a FIFO of exactly its capacity."""

from amaranth import Array, Signal, unsigned

from isosceles.hw.queue import MultiContextQueue
from isosceles.tb.formal import FormalView, TrackedToken, mutant

__all__ = ["QueueView", "make_views", "broken_views"]


class QueueView(FormalView):
    """A queue of 2-bit tokens under any pushes, pops and reconfigurations.

    The view keeps the partition in force itself, from what ``configure`` offered and whether
    ``config_error`` refused it. For every context: one token chosen by the solver leaves in
    order and unchanged (:class:`~isosceles.tb.formal.TrackedToken`); ``occupancy`` counts the
    tokens inside and never exceeds the capacity; ``i.ready`` is exactly "not configuring, a
    context that exists, and room in it" (so a context at capacity accepts nothing).
    """

    def __init__(self, unit, *, contexts, **options):
        super().__init__(unit, **options)
        self.contexts = contexts

    def properties(self, m, props, unit):
        contexts = self.contexts
        share = unit._depth // contexts
        applying = props.past(unit.configure, name="applying")
        offered = [props.past(unit.config[c].capacity, name=f"offered{c}")
                   for c in range(contexts)]
        capacity = []
        for c in range(contexts):
            kept = Signal(unit.count_shape, name=f"capacity_kept{c}", init=share)
            now = Signal(unit.count_shape, name=f"capacity{c}")
            m.d.comb += now.eq(kept)
            with m.If(applying & ~unit.config_error):
                m.d.comb += now.eq(offered[c])
            m.d.sync += kept.eq(now)
            capacity.append(now)

        ctx, push = unit.i.payload.ctx, unit.i.valid & unit.i.ready
        inside = []
        for c in range(contexts):
            o = unit.o[c]
            token = TrackedToken(props, name=f"context {c}", push=push & (ctx == c),
                                 data_in=unit.i.payload.data, pop=o.valid & o.ready,
                                 data_out=o.payload, bound=unit._depth)
            inside.append(token.inside)
            props.check(f"context {c}: occupancy counts the tokens inside",
                        unit.occupancy[c] == token.inside)
            props.check(f"context {c}: never above capacity", token.inside <= capacity[c])
            props.cover(f"context {c}: the tracked token left after its context was full",
                        token.left & props.past(token.inside == capacity[c]) &
                        (capacity[c] >= 3))

        padded = 1 << len(ctx)
        room = Array([inside[c] < capacity[c] for c in range(contexts)]
                     + [0] * (padded - contexts))[ctx]
        at_capacity = Array([inside[c] == capacity[c] for c in range(contexts)]
                            + [1] * (padded - contexts))[ctx]
        props.check("a context at capacity (or past the last) accepts nothing", ~unit.i.ready,
                    when=at_capacity)
        props.check("a context with room accepts unless configuring",
                    unit.i.ready == ~unit.configure, when=room)
        props.cover("a push waits for a full context while another pops",
                    unit.i.valid & ~unit.i.ready & ~unit.configure & (ctx == 0)
                    & unit.o[contexts - 1].valid & unit.o[contexts - 1].ready)
        props.cover("a new partition is accepted",
                    applying & ~unit.config_error & (capacity[0] != share))


def _queue(cls=MultiContextQueue, contexts=2, depth=6):
    return cls(layout=unsigned(2), contexts=contexts, depth=depth)


FullAcceptingQueue = mutant(
    MultiContextQueue, "at_capacity[c].eq(occupancy[c] + 1 == capacity[c])",
    "at_capacity[c].eq(occupancy[c] == capacity[c])", name="FullAcceptingQueue")
OvertakingQueue = mutant(
    MultiContextQueue, "bypass[c].eq(push_to[c] & ~has_stored[c] & ~landing[c] & room[c])",
    "bypass[c].eq(push_to[c] & ~landing[c] & room[c])", name="OvertakingQueue")


def make_views():
    # 2 x 3: a ring of three entries per context (two fit in the output stage, so the third
    # goes through memory); 3 contexts: a context number past the last.
    return [QueueView(_queue(), contexts=2, depth=12, tag="2x3", slow=("bmc",)),
            QueueView(_queue(contexts=3, depth=3), contexts=3, depth=8, tag="3x1"),
            QueueView(_queue(contexts=3, depth=3), contexts=3, depth=12, tag="3x1-deep",
                      modes=("bmc",), slow=("bmc",))]


def broken_views():
    """(view of a broken variant, the property its check must fail, or a tuple of those it
    may fail first)."""
    return [
        (QueueView(_queue(FullAcceptingQueue), contexts=2, depth=8),
         "a context at capacity (or past the last) accepts nothing"),
        (QueueView(_queue(OvertakingQueue), contexts=2, depth=8),
         "the tracked token leaves in order and unchanged"),
    ]
