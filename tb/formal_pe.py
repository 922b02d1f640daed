"""Formal view of the frontend lane: T1 in (q, marker, r, k) order, one marker per column, no
token from an all-zero row, the row's end, and the context array's contract kept by the lane."""

from amaranth import Cat, Signal, Value

from isosceles.hw.pe import FrontendLane
from isosceles.tb.formal import FormalView, any_const, any_seq, mutant
from isosceles.tb.formal_rmerger import NARROW

__all__ = ["FrontendLaneView", "t1_key", "make_views", "broken_views"]

MAX_KERNEL, MAX_COLUMNS, WORDS = 2, 2, 2


def t1_key(payload):
    """``(q, marker, r, k)`` as one unsigned value: the order of T1 within a row."""
    return Cat(payload.k, payload.r, payload.marker, payload.q)


class FrontendLaneView(FormalView):
    """One weight a word, filters up to 2 x 2 over 2 channels (2 context banks of 2 columns),
    rows of up to two columns, one input row (lane ``h = 0``), a filter buffer of two words,
    2-bit values and weights, 3-bit sums.

    The view drives ``config`` (one layer, any legal one, for the whole trace: ``1 <= S <=
    2``, ``pw < S``, stride 1 to 3, any ``ph`` and ``maximum``, ``P = 1``, and ``Q`` the output
    columns of an input row of ``W`` columns, ``1 <= W <= 2``, which the view chooses too) and
    the filter buffer's write ports (any words and pointers, written only while the lane is not
    busy; weights with ``k`` below ``max_channels`` and ``s`` below ``S``, pointers within the
    buffer). Assumed of ``i``: the tokens of row ``h``, each token's ``w`` the markers before it
    in the row, ``c`` below ``max_channels``, ``last`` on the marker of ``W - 1`` only;
    ``start`` only while not busy.

    Checked, within a row: T1 tokens leave strictly increasing in ``(q, marker, r, k)`` (so no
    marker of column ``q`` precedes a data token of ``q``: the retire rule); every token is of a
    column below ``Q``; the markers count the columns, ``last`` exactly on ``Q - 1``; a data
    token is nonzero and leaves only once a nonzero input was taken in the row (an all-zero row
    gives markers only); ``i`` is taken and ``o`` offers only while busy; ``busy`` falls only
    once the final marker has left and the input row's last marker was taken;
    ``status.order_error`` stays clear. Between the lane and its context array (the contract
    the context array's view assumes): the lane of the column being retired takes no update
    from its first take until its advance, and a take or an advance comes only from the third
    cycle after its lane's last update was presented.
    """

    driven = ("config", "filter_write", "pointer_write")

    def properties(self, m, props, unit):
        cfg, i, o, ctx = unit.config, unit.i, unit.o, unit.context
        busy, start = unit.status.busy, unit.start
        channels, window = unit._max_channels, unit._window

        # One layer for the whole trace, and the width of the input row.
        m.d.comb += Value.cast(cfg).eq(any_const(len(Value.cast(cfg))))
        columns = Signal(range(MAX_COLUMNS + 1))
        m.d.comb += columns.eq(any_const(len(columns)))
        span = columns + 2 * cfg.pw - cfg.S  # (Q - 1) * stride <= span < Q * stride
        props.assume((cfg.S >= 1) & (cfg.S <= MAX_KERNEL) & (cfg.pw < cfg.S) & (cfg.stride >= 1)
                     & (cfg.P >= 1) & (cfg.P <= unit._max_rows) & (cfg.h == 0)
                     & (columns >= 1) & (cfg.Q >= 1) & (cfg.Q <= MAX_COLUMNS)
                     & (columns + 2 * cfg.pw >= cfg.S)
                     & ((cfg.Q - 1) * cfg.stride <= span) & (span < cfg.Q * cfg.stride))
        props.assume(~busy, when=start)

        # The filter buffer, loaded while the lane is not busy.
        fw, pointers = unit.filter_write, unit.pointer_write
        for port in (fw, pointers):
            m.d.comb += [port.en.eq(any_seq(1)), port.addr.eq(any_seq(len(port.addr))),
                         Value.cast(port.data).eq(any_seq(len(Value.cast(port.data))))]
            props.assume(~busy, when=port.en)
        for weight in fw.data:
            props.assume((weight.k < channels) & (weight.s < cfg.S))
        props.assume(fw.addr < WORDS)
        props.assume(pointers.addr < channels)
        for bound in list(pointers.data.first) + list(pointers.data.last):
            props.assume(bound <= WORDS)

        # The input: row h, one marker per column, last on the marker of W - 1.
        taken, sent = i.valid & i.ready, o.valid & o.ready
        markers_in = props.counter("markers_in", range(MAX_COLUMNS + 1),
                                   taken & i.payload.marker, clear=start)
        props.assume((i.payload.w == markers_in) & (markers_in < columns)
                     & (i.payload.c < channels)
                     & (i.payload.last == (i.payload.marker & (markers_in == columns - 1))),
                     when=i.valid)

        nonzero_in, _ = props.latest("nonzero_in", taken & ~i.payload.marker
                                     & (i.payload.value != 0), 1, start=start)
        last_in, _ = props.latest("last_in", taken & i.payload.last, 1, start=start)
        seen, last_key = props.latest("o", sent, t1_key(o.payload), start=start)
        markers_out = props.counter("markers_out", range(MAX_COLUMNS + 2),
                                    sent & o.payload.marker, clear=start)
        final_out, _ = props.latest("final_out", sent & o.payload.marker & o.payload.last, 1,
                                    start=start)
        data_out, data_q = props.latest("data_out", sent & ~o.payload.marker, o.payload.q,
                                        start=start)

        props.check("T1 leaves strictly increasing in (q, marker, r, k)",
                    t1_key(o.payload) > last_key, when=sent & seen)
        props.check("every T1 token is of a column below Q", o.payload.q < cfg.Q, when=sent)
        props.check("the markers count the columns, last exactly on Q - 1",
                    (o.payload.q == markers_out) & (o.payload.last == (o.payload.q == cfg.Q - 1)),
                    when=sent & o.payload.marker)
        props.check("a data token is nonzero, and leaves only once a nonzero input was taken",
                    (o.payload.value != 0) & nonzero_in, when=sent & ~o.payload.marker)
        props.check("i is taken and o offers only while busy", busy, when=taken | o.valid)
        fell = props.past(busy, name="was_busy") & ~busy
        props.check("busy falls only once the final marker left and the row's last input was "
                    "taken", final_out & last_in, when=fell)
        props.check("order_error stays clear", ~unit.status.order_error)

        # The context array's contract: its view assumes what the lane is checked for here.
        slot = ctx.retire_slot
        updates = [ctx.update[b] for b in range(unit._banks)]
        hit = Signal(window)
        m.d.comb += hit.eq(Cat(Cat(u.en & u.mask[lane] for u in updates).any()
                               for lane in range(window)))
        before = props.past(hit, name="hit_before")
        recent = hit | before | props.past(before, name="hit_before2")
        in_retirement = Signal()
        with m.If(ctx.clear | ctx.retire_advance):
            m.d.sync += in_retirement.eq(0)
        with m.Elif(ctx.retire_take):
            m.d.sync += in_retirement.eq(1)
        props.check("the context array's contract: a take or an advance only from the third "
                    "cycle after its lane's last update, no update of its lane from its first "
                    "take until its advance",
                    (~(ctx.retire_take | ctx.retire_advance) | ~recent.bit_select(slot, 1))
                    & (~in_retirement | ~hit.bit_select(slot, 1)))

        props.cover("a T1 data token leaves", sent & ~o.payload.marker)
        props.cover("a column's marker leaves after its data token",
                    sent & o.payload.marker & data_out & (data_q == o.payload.q))
        props.cover("two data tokens of one column leave", sent & ~o.payload.marker & data_out
                    & (data_q == o.payload.q))
        props.cover("a column's marker leaves before the row's last input is taken",
                    sent & o.payload.marker & ~last_in)
        props.cover("a data token of a max pooling leaves", sent & ~o.payload.marker
                    & cfg.maximum)
        props.cover("the row ends after a data token", fell & data_out)


def _lane(cls=FrontendLane):
    return cls(numerics=NARROW, macs_per_pe=1, max_kernel=MAX_KERNEL, max_channels=2,
               max_columns=MAX_COLUMNS, max_rows=1, filter_words=WORDS, banks=2)


HastyMarkLane = mutant(
    FrontendLane, "mark = retiring & ~ctx.retire_found & ~in_flight & credit",
    "mark = retiring & ~ctx.retire_found & credit", name="HastyMarkLane")
ZeroEmittingLane = mutant(
    FrontendLane, "emit = in_flight & (ctx.retire_value != 0)", "emit = in_flight",
    name="ZeroEmittingLane")
EarlyIdleLane = mutant(
    FrontendLane, "busy = setting_up | running | (out.level != 0)",
    "busy = setting_up | running", name="EarlyIdleLane")
EarlyRetireLane = mutant(
    FrontendLane, "retire_limit.eq(Mux(at_writeback.last, cfg.Q - 1, at_writeback.upto))",
    "retire_limit.eq(Mux(at_update.last, cfg.Q - 1, at_update.upto))", name="EarlyRetireLane")
EarlyColumnLane = mutant(
    FrontendLane, "last_s = cfg.S - 1", "last_s = cfg.S - 2", name="EarlyColumnLane")
LastlessLane = mutant(
    FrontendLane, "final = retire_next == cfg.Q - 1", "final = retire_next == cfg.Q",
    name="LastlessLane")
OverflushingLane = mutant(
    FrontendLane, "cfg.Q - 1, at_writeback.upto", "cfg.Q, at_writeback.upto",
    name="OverflushingLane")
PoppingLane = mutant(
    FrontendLane, "out.r_en.eq(self.o.ready)", "out.r_en.eq(1)", name="PoppingLane")
MiscountingLane = mutant(
    FrontendLane, "in_column.eq(0)", "in_column.eq(1)", name="MiscountingLane")
MisstampedLane = mutant(
    FrontendLane, "leaving.r.eq(flight_r)", "leaving.q.eq(retire_limit), leaving.r.eq(flight_r)",
    name="MisstampedLane")


def make_views():
    # The covers need 19 steps (two data tokens of a column leave at step 18), whose bmc is
    # past CI's budget: CI checks the properties to 18 steps (`short`) and the covers to 19.
    # Past CI's budget too: the deeper run and three broken variants.
    return [FrontendLaneView(_lane(), depth=19, slow=("bmc",)),
            FrontendLaneView(_lane(), depth=18, tag="short", modes=("bmc",)),
            FrontendLaneView(_lane(), depth=21, tag="deep", modes=("bmc",), slow=("bmc",))]


def broken_views():
    """(view of a broken variant, the property its check must fail, or a tuple of those it
    may fail first)."""
    return [
        (FrontendLaneView(_lane(HastyMarkLane), depth=18, slow=("bmc",)),
         ("the markers count the columns", "busy falls only once the final marker left")),
        (FrontendLaneView(_lane(ZeroEmittingLane), depth=18),
         "a data token is nonzero"),
        (FrontendLaneView(_lane(EarlyIdleLane), depth=18),
         ("busy falls only once the final marker left", "o offers only while busy")),
        (FrontendLaneView(_lane(EarlyRetireLane), depth=18),
         "the context array's contract"),
        (FrontendLaneView(_lane(EarlyColumnLane), depth=18),
         "the context array's contract"),
        (FrontendLaneView(_lane(LastlessLane), depth=18), "the markers count the columns"),
        (FrontendLaneView(_lane(OverflushingLane), depth=18),
         "every T1 token is of a column below Q"),
        (FrontendLaneView(_lane(PoppingLane), depth=18, slow=("bmc",)),
         "o: valid and payload held until the transfer"),
        (FrontendLaneView(_lane(MiscountingLane), depth=18), "order_error stays clear"),
        (FrontendLaneView(_lane(MisstampedLane), depth=18, slow=("bmc",)),
         "strictly increasing in (q, marker, r, k)"),
    ]
