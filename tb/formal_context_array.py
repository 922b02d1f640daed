"""Formal view of the context array: one partial sum, chosen by the solver, retires once as the
saturating sum of its products, in (q, r, k) order, and only while its column is retired."""

from amaranth import Array, Cat, Mux, Signal, signed
from amaranth.utils import exact_log2

from isosceles.golden.numerics import Numerics
from isosceles.hw.context_array import ContextArray
from isosceles.tb.formal import FormalView, any_const, any_seq, mutant
from isosceles.tb.formal_rmerger import NARROW

__all__ = ["ContextArrayView", "saturate_expression", "make_views", "broken_views"]

QUIET = 3  # cycles from an update's presentation to its column's first retirement cycle
COLUMNS = 16  # columns of a row the view numbers: a trace of up to 15 steps advances fewer


def saturate_expression(m, x, bits):
    """``numerics.saturate(x, bits)``: ``x`` clamped to the signed ``bits``-wide range."""
    low, high = Numerics.signed_range(bits)
    out = Signal(signed(bits))
    m.d.comb += out.eq(x)
    with m.If(x > high):
        m.d.comb += out.eq(high)
    with m.If(x < low):
        m.d.comb += out.eq(low)
    return out


class ContextArrayView(FormalView):
    """A context array under any updates, takes and advances the user's contract allows.

    The view drives ``retire_slot``: held, one on after ``retire_advance``, anything after
    ``clear``. It numbers the columns of a row (since ``clear``) from the one being retired,
    column ``n`` (the advances since ``clear``) in lane ``retire_slot``, so an update of lane
    ``L`` is one of column ``n + (L - retire_slot) mod window``. Assumed, as the lane does it:
    the column being retired enters its *retirement* (any cycle, held until its advance) only
    from the ``quiet``-th cycle after the last update of its lane was presented (``QUIET``, the
    unit's "third cycle"; ``quiet=2`` must fail), and its lane takes no update during it;
    ``retire_take`` only in retirement with ``retire_found`` and ``retire_ready``;
    ``retire_advance`` only in retirement without ``retire_found``; no update, take or advance
    with ``clear``.

    For an entry ``(r, k, q)`` the solver chooses (``r < max_kernel``, ``k < max_channels``),
    the view adds up the products of the updates of its bank, row and lane while it is column
    ``q``, saturating each step to ``acc_bits`` as ``golden/numerics.py`` declares
    (:func:`saturate_expression`, checked against ``numerics.saturate`` by
    ``tb/test_formal.py``), writing the bank and row from the docstring's layout; with
    ``maximum`` (chosen at each ``clear``, held through the row) it keeps the maximum of zero
    and the saturated products instead. Checked: a
    take of it (``retire_r, retire_k`` in column ``q``) returns that sum on ``retire_value`` in
    the next cycle; it is taken only once updated and only once; it is taken before its
    column's advance if updated (so, for any entry, none is lost or duplicated); in retirement
    while it is live, ``retire_found`` is high and the selection is no later than it in
    ``(r, k)`` order, also in the cycle after a take and after an advance (so a retirement
    loses no cycle, ``retire_advance``'s contract); the takes of a column are strictly
    increasing in ``(r, k)`` (and columns in turn: ``(q, r, k)`` order); ``retire_ready`` is
    high exactly while the selected entry's bank takes no update. Capacity is structural:
    each lane of an entry holds one column, and updates name lanes, not columns.
    """

    driven = ("retire_slot", "maximum")

    def __init__(self, unit, *, quiet=QUIET, **options):
        super().__init__(unit, **options)
        self.quiet = quiet

    def properties(self, m, props, unit):
        window, banks = unit._window, unit._banks
        kernel, channels, acc_bits = unit._max_kernel, unit._max_channels, unit._numerics.acc_bits
        slot_bits = exact_log2(window)
        clear, take, advance = unit.clear, unit.retire_take, unit.retire_advance
        found, ready = unit.retire_found, unit.retire_ready
        updates = [unit.update[b] for b in range(banks)]

        slot = Signal(slot_bits)
        m.d.comb += unit.retire_slot.eq(slot)
        maximum = Signal()  # the layer's reduction: chosen at a clear, held through the row
        m.d.comb += unit.maximum.eq(maximum)
        with m.If(clear):
            m.d.sync += maximum.eq(any_seq(1))
        with m.If(clear):
            m.d.sync += slot.eq(any_seq(slot_bits))
        with m.Elif(advance):
            m.d.sync += slot.eq(slot + 1)
        column = Signal(range(COLUMNS))  # the column being retired
        with m.If(clear):
            m.d.sync += column.eq(0)
        with m.Elif(advance):
            m.d.sync += column.eq(column + 1)
        props.assume(column != COLUMNS - 1, when=advance)  # traces the counter can number

        # Cycles since each lane's last update, counting the cycle it is presented as 0.
        quiet = []
        for lane in range(window):
            updated = Cat(u.en & u.mask[lane] for u in updates).any()
            since = Signal(range(self.quiet + 1), name=f"since{lane}", init=self.quiet)
            now = Signal.like(since, name=f"quiet{lane}")
            m.d.comb += now.eq(Mux(updated, 0, since))
            m.d.sync += since.eq(Mux(now == self.quiet, self.quiet, now + 1))
            quiet.append(now)
        retiring_reg, retiring = Signal(), Signal()
        m.d.comb += retiring.eq(retiring_reg | any_seq(1))
        with m.If(clear | advance):
            m.d.sync += retiring_reg.eq(0)
        with m.Else():
            m.d.sync += retiring_reg.eq(retiring)
        props.assume(Array(quiet)[slot] == self.quiet, when=retiring)
        props.assume(retiring & found & ready, when=take)
        props.assume(retiring & ~found, when=advance)
        props.assume(~take & ~advance & ~Cat(u.en for u in updates).any(), when=clear)

        # The tracked entry (r, k, q) and its lane while it is in the window.
        r, k = Signal.like(unit.retire_r), Signal.like(unit.retire_k)
        q = Signal(range(COLUMNS))
        m.d.comb += [r.eq(any_const(len(r))), k.eq(any_const(len(k))), q.eq(any_const(len(q)))]
        props.assume((r < kernel) & (k < channels))
        rows_per_r = -(-channels // banks)
        bank, row = Signal(range(banks)), Signal(range(kernel * rows_per_r))
        m.d.comb += [bank.eq(k % banks), row.eq(r * rows_per_r + k // banks)]
        in_window = (q >= column) & (q < column + window)
        lane = Signal(slot_bits)
        m.d.comb += lane.eq(slot + q - column)
        hits = [Signal(name=f"hit{b}") for b in range(banks)]
        for b, u in enumerate(updates):
            m.d.comb += hits[b].eq(in_window & u.en & (bank == b) & (u.row == row)
                                   & u.mask.bit_select(lane, 1))
        hit = Cat(hits).any()
        product = Signal(unit.product_shape)
        for b, u in enumerate(updates):
            with m.If(hits[b]):
                m.d.comb += product.eq(u.product[lane])

        total, updated, retired = Signal(signed(acc_bits)), Signal(), Signal()
        summed = saturate_expression(m, total + product, acc_bits)
        bounded = saturate_expression(m, product, acc_bits)
        step = Mux(maximum, Mux(bounded > total, bounded, total), summed)
        clipped, twice, discarded = Signal(), Signal(), Signal()  # for the covers
        with m.If(clear):
            m.d.sync += [total.eq(0), updated.eq(0), retired.eq(0), clipped.eq(0),
                         twice.eq(0), discarded.eq(updated)]
        with m.Elif(hit):
            m.d.sync += [total.eq(step), updated.eq(1),
                         clipped.eq(clipped | (summed != total + product)),
                         twice.eq(twice | props.past(hit, name="hit_before"))]
        selected_is_tracked = (unit.retire_r == r) & (unit.retire_k == k) & (column == q)
        taken = take & selected_is_tracked
        with m.If(taken):
            m.d.sync += retired.eq(1)
        live = updated & ~retired

        props.check("the tracked entry retires as the saturating sum of its products (their "
                    "maximum and zero, saturated, with maximum)",
                    unit.retire_value == total, when=props.past(taken, name="was_taken"))
        props.check("the tracked entry is taken only once updated, and only once",
                    live, when=taken)
        props.check("the tracked entry, if updated, is taken before its column advances",
                    ~live, when=advance & (column == q))
        before = Cat(unit.retire_k, unit.retire_r) <= Cat(k, r)
        props.check("in retirement, a live tracked entry is found, nothing after it selected",
                    found & before, when=retiring & live & (column == q))

        took, last_taken = Signal(), Signal(len(unit.retire_k) + len(unit.retire_r))
        key = Cat(unit.retire_k, unit.retire_r)
        with m.If(clear | advance):
            m.d.sync += took.eq(0)
        with m.Elif(take):
            m.d.sync += [took.eq(1), last_taken.eq(key)]
        props.check("the takes of a column are strictly increasing in (r, k)",
                    key > last_taken, when=take & took)
        selected_bank = unit.retire_k % banks
        props.check("retire_ready exactly while the selected entry's bank takes no update",
                    ready == ~Array(u.en for u in updates)[selected_bank], when=found)

        props.cover("the tracked entry, updated in consecutive cycles, retires",
                    props.past(taken) & twice)
        props.cover("two entries of one column taken in consecutive cycles",
                    take & props.past(take) & ~props.past(advance))
        props.cover("the tracked entry taken in the cycle after its column's advance",
                    taken & props.past(advance) & (q != 0))
        props.cover("a take waits for retire_ready", retiring & found & ~ready & live
                    & (column == q))
        props.cover("the tracked sum saturates, then retires", props.past(taken) & clipped)
        props.cover("the tracked entry, reduced by the maximum of two products, retires",
                    props.past(taken) & twice & maximum)
        props.cover("the tracked entry, live at a clear, retires with the new row's sum only",
                    props.past(taken) & discarded & (total != 0))


def _array(cls=ContextArray, *, channels=2, banks=2):
    return cls(numerics=NARROW, max_kernel=2, max_channels=channels, window=2, banks=banks)


WrappingContextArray = mutant(
    ContextArray,
    "saturated = Mux(fits, total[:acc_bits].as_signed(), Mux(total[-1], low, high))",
    "saturated = total", name="WrappingContextArray")
UnforwardedContextArray = mutant(
    ContextArray, "read = memory.read_port(transparent_for=(write,))",
    "read = memory.read_port()", name="UnforwardedContextArray")
StaleContextArray = mutant(
    ContextArray, "old = Mux(stored[lane], read.data[lane], 0)", "old = read.data[lane]",
    name="StaleContextArray")
RetakingContextArray = mutant(
    ContextArray, 'first_live(self.retire_slot, "retire_after", excluded=selected_hot)',
    'first_live(self.retire_slot, "retire_after")', name="RetakingContextArray")
EagerContextArray = mutant(
    ContextArray, "self.retire_ready.eq(~(updating & selected_bank).any())",
    "self.retire_ready.eq(1)", name="EagerContextArray")
BlindRowContextArray = mutant(
    ContextArray, "[row.any() for row in rows]", "[row.any() for row in rows[:-1]]",
    name="BlindRowContextArray")
SummingContextArray = mutant(
    ContextArray, "Mux(self.maximum, larger, saturated)", "saturated",
    name="SummingContextArray")
LaggingContextArray = mutant(
    ContextArray, "Mux(self.retire_advance, move, Mux(self.retire_take, take, stay))",
    "Mux(self.retire_take, take, stay)", name="LaggingContextArray")


def make_views():
    # Past CI's budget: the one-bank view's cover, the deeper run and two broken variants.
    return [ContextArrayView(_array(), depth=7),
            ContextArrayView(_array(channels=3, banks=1), depth=7, tag="3x1", slow=("cover",)),
            ContextArrayView(_array(), depth=10, tag="deep", modes=("bmc",), slow=("bmc",))]


def broken_views():
    """(view of a broken variant, the property its check must fail, or a tuple of those it
    may fail first)."""
    return [
        (ContextArrayView(_array(WrappingContextArray), depth=7),
         "the tracked entry retires as the saturating sum"),
        (ContextArrayView(_array(UnforwardedContextArray), depth=7, slow=("bmc",)),
         "the tracked entry retires as the saturating sum"),
        (ContextArrayView(_array(StaleContextArray), depth=7, slow=("bmc",)),
         "the tracked entry retires as the saturating sum"),
        (ContextArrayView(_array(RetakingContextArray), depth=7),
         ("the tracked entry is taken only once updated", "strictly increasing in (r, k)")),
        (ContextArrayView(_array(EagerContextArray), depth=7),
         ("retire_ready exactly while", "the tracked entry retires as the saturating sum")),
        (ContextArrayView(_array(SummingContextArray), depth=7),
         "the tracked entry retires as the saturating sum"),
        (ContextArrayView(_array(LaggingContextArray), depth=7),
         "in retirement, a live tracked entry is found"),
        (ContextArrayView(_array(BlindRowContextArray), depth=7),
         ("in retirement, a live tracked entry is found",
          "the tracked entry, if updated, is taken before its column advances")),
        # Not a broken unit but a weaker contract: retiring a column from the second cycle
        # after its last update, one cycle sooner than the docstring allows, must fail.
        (ContextArrayView(_array(), quiet=QUIET - 1, depth=7, tag="quiet2"),
         "in retirement, a live tracked entry is found"),
    ]
