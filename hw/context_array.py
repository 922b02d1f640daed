"""The context array: a lane's partial sums, banked, with occupancy for sparse retirement."""

from amaranth import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from isosceles.gen.config import bits_for
from isosceles.golden.numerics import Numerics
from isosceles.hw.priority import first_set

__all__ = ["ContextArray"]


class ContextArray(wiring.Component):
    """Partial sums of one lane: for every ``(r, k)``, the ``window`` output columns in flight.

    Storage is ``banks`` memories (``amaranth.lib.memory``). The word of ``(r, k)`` lives in bank
    ``k % banks`` at row ``r * ceil(max_channels / banks) + k // banks`` and holds the partial
    sums of all its columns, column ``q`` in lane ``q % window``. One access to a bank therefore
    updates every column of one ``(r, k)``: the products of one input with the weights
    ``(r, k, s)`` of several ``s`` (a dense run of a filter row) cost one access, and consecutive
    ``k`` of a fiber fall in different banks.

    Updates (``update``, one per bank per cycle) are read-modify-write over two cycles: the word is
    read in the cycle the update is presented and written back, with the products added
    saturating to ``acc_bits``, in the next. An update of the same word in that next cycle would
    read the old value; the read ports are transparent to the write ports, so it reads the word
    being written instead (forwarding in the memory's bypass): back-to-back updates of one entry
    are exact without stalls. With ``maximum`` high (a max pooling) the write-back keeps
    ``max(entry, product)`` instead of the sum, saturated alike; a new entry starts from zero
    in both modes.

    An occupancy bit per entry (flip-flops) marks entries holding a partial sum of a live column.
    A clear entry reads as zero whatever its memory holds, so retiring an entry only clears its
    bit and never writes the memory. For the column being retired (``retire_slot``) a priority
    encoder selects the first live entry in ``(r, k)`` order (``retire_found``, ``retire_r``,
    ``retire_k``), so a column costs one cycle per live entry, not ``R*K``. ``retire_take`` reads
    the selected entry through its bank's read port, which updates have first claim on
    (``retire_ready`` is low while the bank is being updated); its value is on
    ``retire_value`` in the next cycle. ``clear`` empties the array.

    The selection is made a cycle ahead, into registers: in each cycle it is the first live entry
    of the previous cycle's slot, after the entry taken then, or, if ``retire_advance`` was high
    then, the first of the slot after it. So a take in every cycle and a move to the next column
    lose no cycle, but an entry an update sets is selectable from the third cycle after the
    update is presented (its write-back, then the selection).

    The user keeps the columns updated and the column retired apart: an entry must not be
    updated while its column is being retired, a column is retired from the third cycle after
    its last update is presented, and at most ``window`` consecutive columns are live.

    Parameters
    ----------
    numerics : Numerics
        ``acc_bits`` sets the partial sums, ``act_bits + weight_bits`` the products.
    max_kernel : int
        Largest ``R`` (rows of each bank per ``k``).
    max_channels : int
        Largest ``K``.
    window : int
        Columns per ``(r, k)``, a power of two from 2 to 64.
    banks : int
        A power of two from 1 to 64.
    """

    def __init__(self, *, numerics, max_kernel, max_channels, window, banks):
        self._numerics, self._max_kernel, self._max_channels = numerics, max_kernel, max_channels
        self._window, self._banks = window, banks
        self.rows_per_r = -(-max_channels // banks)
        self.depth = max_kernel * self.rows_per_r
        self.product_shape = signed(numerics.act_bits + numerics.weight_bits)
        self.word_layout = data.ArrayLayout(signed(numerics.acc_bits), window)
        self.update_layout = data.StructLayout({
            "en": 1,
            "row": unsigned(bits_for(self.depth)),
            "mask": unsigned(window),
            "product": data.ArrayLayout(self.product_shape, window),
        })
        slot_bits = exact_log2(window)
        super().__init__({
            "clear": In(1),
            "maximum": In(1),
            "update": In(data.ArrayLayout(self.update_layout, banks)),
            "retire_slot": In(unsigned(slot_bits)),
            "retire_take": In(1),
            "retire_advance": In(1),
            "retire_found": Out(1),
            "retire_ready": Out(1),
            "retire_r": Out(unsigned(bits_for(max_kernel))),
            "retire_k": Out(unsigned(bits_for(max_channels))),
            "retire_value": Out(signed(numerics.acc_bits)),
        })

    @property
    def nbytes(self):
        """Partial-sum storage in bytes (the occupancy flip-flops not included)."""
        return (self._banks * self.depth * self.word_layout.size + 7) // 8

    def bank_of(self, k):
        """The bank holding the entries of output channel ``k`` (an Amaranth value)."""
        return k[:exact_log2(self._banks)] if self._banks > 1 else Const(0, 1)

    def row_of(self, r, k):
        """The row of ``(r, k)`` inside its bank (an Amaranth value)."""
        return r * self.rows_per_r + (k >> exact_log2(self._banks))

    def elaborate(self, platform):
        m = Module()
        banks, window, acc_bits = self._banks, self._window, self._numerics.acc_bits
        slot_bits = exact_log2(window)
        channels, kernel = self._max_channels, self._max_kernel
        low, high = Numerics.signed_range(acc_bits)

        occupied = [[Signal(window, name=f"occupied_r{r}_k{k}") for k in range(channels)]
                    for r in range(kernel)]
        # Next cycle's occupancy: the write-back's occupancy bits are registered from it.
        occupied_next = [[Signal(window, name=f"occupied_next_r{r}_k{k}")
                          for k in range(channels)] for r in range(kernel)]

        # Retirement, one cycle ahead: the entry a take reads is selected in the cycle before,
        # so that the take addresses its bank from registers rather than through an encoder
        # over every entry. Three selections are made each cycle, all from registers: the
        # retiring column's first live entry, its first after the selected one (for a take),
        # and the next column's first (for a lane that moves on to it); the take and the
        # advance, late in the cycle, only choose among them. Named signals throughout:
        # Amaranth emits an unnamed expression again at every use.
        def first_live(slot, name, excluded=None):
            """``(found, r, k, one-hot)`` of the first live entry of ``slot`` in (r, k) order."""
            live = Signal(kernel * channels, name=f"{name}_live")
            m.d.comb += live.eq(Cat(occupied[r][k].bit_select(slot, 1)
                                    for r in range(kernel) for k in range(channels)))
            if excluded is not None:
                kept = Signal.like(live, name=f"{name}_kept")
                m.d.comb += kept.eq(live & ~excluded)
                live = kept
            rows = [live[r * channels:(r + 1) * channels] for r in range(kernel)]
            found, first_r = first_set(m, [row.any() for row in rows], name=f"{name}_r")
            # Each row's first channel beside the choice of row, not after it.
            row_ks = [first_set(m, list(row), name=f"{name}_k{r}")[1] for r, row in enumerate(rows)]
            first_k = Signal(len(row_ks[0]), name=f"{name}_k")
            m.d.comb += first_k.eq(Cat(row_ks).word_select(first_r, len(row_ks[0])))
            # The same entry one-hot, as the lowest set bit: a carry chain, not the encoders.
            hot = Signal.like(live, name=f"{name}_hot")
            m.d.comb += hot.eq(live & ~(live - 1))
            return found, first_r, first_k, hot

        selected_found = Signal()
        selected_r, selected_k = Signal.like(self.retire_r), Signal.like(self.retire_k)
        selected_hot = Signal(kernel * channels)
        selected_bank = Signal(banks)  # one-hot
        selected_row = Signal(unsigned(bits_for(self.depth)))
        staying = first_live(self.retire_slot, "retire_same")
        after = first_live(self.retire_slot, "retire_after", excluded=selected_hot)
        moving = first_live((self.retire_slot + 1)[:slot_bits], "retire_next")
        found, first_r, first_k, chosen = (
            Mux(self.retire_advance, move, Mux(self.retire_take, take, stay))
            for move, take, stay in zip(moving, after, staying, strict=True))
        hot = Signal.like(selected_hot)
        m.d.comb += hot.eq(chosen)
        m.d.sync += [
            selected_found.eq(found & ~self.clear),
            selected_r.eq(first_r),
            selected_k.eq(first_k),
            selected_hot.eq(hot),
            selected_row.eq(self.row_of(first_r, first_k)),
            selected_bank.eq(Cat(Cat(hot[r * channels + k] for r in range(kernel)
                                     for k in range(b, channels, banks)).any()
                                 for b in range(banks))),
        ]
        updating = Cat(self.update[b].en for b in range(banks))
        m.d.comb += [
            self.retire_found.eq(selected_found),
            self.retire_r.eq(selected_r),
            self.retire_k.eq(selected_k),
            self.retire_ready.eq(~(updating & selected_bank).any()),
        ]
        taken_bank = Signal.like(self.bank_of(self.retire_k))
        taken_slot = Signal.like(self.retire_slot)
        m.d.sync += [taken_bank.eq(self.bank_of(selected_k)), taken_slot.eq(self.retire_slot)]

        read_words = []
        set_bits = {}  # (r, k) -> occupancy bits set by this cycle's write-back
        for b in range(banks):
            memory = m.submodules[f"bank{b}"] = Memory(shape=self.word_layout, depth=self.depth,
                                                       init=[])
            write = memory.write_port()
            read = memory.read_port(transparent_for=(write,))
            update = self.update[b]
            m.d.comb += [
                read.addr.eq(Mux(update.en, update.row, selected_row)),
                read.en.eq(update.en | (self.retire_take & selected_bank[b])),
            ]
            read_words.append(read.data.as_value())

            # Write-back stage: add the products to the entries read, saturating once each.
            pending = Signal(self.update_layout, name=f"writeback{b}")
            m.d.sync += pending.eq(update)
            entries = [(r, kd * banks + b) for r in range(kernel)
                       for kd in range(self.rows_per_r)]
            # The occupancy of the entries written back, selected by the update's row a cycle
            # ahead (from next cycle's occupancy), so the memory's output meets no selection.
            stored = Signal(window, name=f"stored{b}")
            m.d.sync += stored.eq(Cat(occupied_next[r][k] if k < channels else Const(0, window)
                                      for r, k in entries).word_select(update.row, window))
            summed = Signal(self.word_layout, name=f"summed{b}")
            for lane in range(window):
                old = Mux(stored[lane], read.data[lane], 0)
                total = Signal(signed(max(acc_bits, self.product_shape.width) + 1),
                               name=f"total{b}_{lane}")
                product = pending.product[lane]
                m.d.comb += total.eq(old + product)
                # The sum fits exactly when its bits from the accumulator's sign up are all
                # equal: one AND and one OR of the adder's top bits, instead of two comparisons
                # (two more carry chains) after the adder's.
                spill = total[acc_bits - 1:]
                fits = Signal(name=f"fits{b}_{lane}")
                m.d.comb += fits.eq(spill.all() | ~spill.any())
                saturated = Mux(fits, total[:acc_bits].as_signed(), Mux(total[-1], low, high))
                # sat(max(old, product)) = max(old, sat(product)): the product's saturation,
                # from the register, stays off the path from the memory's output, which only
                # gains a comparison beside the adder and one multiplexer after it.
                bounded = Signal(signed(acc_bits), name=f"bounded{b}_{lane}")
                m.d.comb += bounded.eq(Mux(product > high, high,
                                           Mux(product < low, low, product)))
                larger = Mux(bounded > old, bounded, old)
                m.d.comb += summed[lane].eq(Mux(pending.mask[lane],
                                                Mux(self.maximum, larger, saturated),
                                                read.data[lane]))
            m.d.comb += [write.addr.eq(pending.row), write.data.eq(summed),
                         write.en.eq(pending.en)]
            for row, (r, k) in enumerate(entries):
                if k < channels:
                    set_bits[(r, k)] = Mux(pending.en & (pending.row == row), pending.mask, 0)

        retired = Signal(window)
        m.d.comb += retired.eq(Mux(self.retire_take, Const(1, window) << self.retire_slot, 0))
        for r in range(kernel):
            for k in range(channels):
                taken_here = selected_hot[r * channels + k]
                m.d.comb += occupied_next[r][k].eq(Mux(
                    self.clear, 0,
                    (occupied[r][k] | set_bits[(r, k)]) & ~Mux(taken_here, retired, 0)))
                m.d.sync += occupied[r][k].eq(occupied_next[r][k])

        word = Cat(read_words).word_select(taken_bank, self.word_layout.size)
        m.d.comb += self.retire_value.eq(word.word_select(taken_slot, acc_bits).as_signed())
        return m

