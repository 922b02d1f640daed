"""Formal view of the AXI4-Lite register file: one response per request, each register reads
back what was written to it, and only writable registers take writes."""

from dataclasses import asdict
from types import SimpleNamespace

from amaranth import Cat, Const, Mux, Signal

from isosceles.hw.axi import AxiResp
from isosceles.hw.registers import AxiLiteRegisters, Register
from isosceles.tb.formal import FormalView, any_seq, mutant

__all__ = ["AxiLiteRegistersView", "channel", "make_views", "broken_views"]

ADDR_WIDTH = 5  # eight words: six mapped, two not
MAP = (Register("ctl", 0x00, "rw", width=12, reset=0x5A3),
       Register("wide", 0x04, "rw", width=40, reset=0x12_3456_789A),
       Register("go", 0x0C, "pulse", width=3),
       Register("count", 0x10, "ro", width=36),
       Register("flag", 0x18, "ro", width=1))
LOCKED = ("ctl",)


def channel(valid, ready, *payload):
    """An AXI channel as a stream port, for :meth:`Properties.stream_rules` (the AXI handshake
    rules are the stream rules: ``valid`` held and the payload stable until ``ready``)."""
    return SimpleNamespace(valid=valid, ready=ready, payload=Cat(*payload))


class AxiLiteRegistersView(FormalView):
    """A map of five registers in eight words (5-bit addresses): a 12-bit ``rw`` register that
    ``lock`` locks, a 40-bit ``rw`` register (two words), a 3-bit ``pulse`` register, a 36-bit
    ``ro`` register (two words) and a 1-bit one, two unmapped words; any bus traffic, any
    ``lock`` and any ``ro`` values.

    Assumed: the master keeps the AXI handshake rules on AW, W and AR. The view keeps its own
    copy of every ``rw`` register, from its reset value and each write answered, through the
    address and data the view took from AW and W. Checked: B and R keep the handshake rules;
    R answers exactly one cycle after each AR; a B response comes only for a write whose
    address and data are both in, and the cycle after both are in (B free), so one response
    per request; a write answers OKAY exactly on a word of an ``rw`` register (unless locked by
    ``lock`` in its cycle) or of a ``pulse`` register, SLVERR otherwise; every ``rw`` port is
    the view's copy in every cycle (each byte lane written only where ``wstrb`` is set; nothing
    else changes a register: not an ``ro`` or unmapped word, not a locked write); a ``pulse``
    port is the bits written as 1 in the cycle the write is answered, 0 otherwise; a read
    returns the word of the view's copy (``rw``), the input (``ro``; the high word of a wide
    one as latched by the last read of its low word), 0 for a ``pulse`` register, and 0 with
    SLVERR for an unmapped word.
    """

    driven = ("s_axil",)

    def properties(self, m, props, unit):
        bus = unit.s_axil
        for name in ("awaddr", "awprot", "awvalid", "wdata", "wstrb", "wvalid", "bready",
                     "araddr", "arprot", "arvalid", "rready"):
            port = getattr(bus, name)
            m.d.comb += port.eq(any_seq(len(port)))
        aw = channel(bus.awvalid, bus.awready, bus.awaddr, bus.awprot)
        w = channel(bus.wvalid, bus.wready, bus.wdata, bus.wstrb)
        ar = channel(bus.arvalid, bus.arready, bus.araddr, bus.arprot)
        b = channel(bus.bvalid, bus.bready, bus.bresp)
        r = channel(bus.rvalid, bus.rready, bus.rdata, bus.rresp)
        for name, port in (("aw", aw), ("w", w), ("ar", ar)):
            props.stream_rules(port, name=name, assume=True)
        for name, port in (("b", b), ("r", r)):
            props.stream_rules(port, name=name, assume=False)

        # One response per request.
        counts = {name: props.counter(f"{name}_count", range(16), port.valid & port.ready,
                                      clear=0)
                  for name, port in (("aw", aw), ("w", w), ("ar", ar), ("b", b), ("r", r))}
        ar_taken = ar.valid & ar.ready
        props.check("R answers one cycle after each AR, once",
                    r.valid == (props.past(ar_taken) | props.past(r.valid & ~r.ready)))
        both_in = (counts["aw"] > counts["b"]) & (counts["w"] > counts["b"])
        props.check("B only for a write whose address and data are in", both_in, when=b.valid)
        props.check("a write whose address and data are in is answered the next cycle",
                    b.valid, when=props.past(both_in & ~b.valid))

        # The write answered: the address and data the view took, applied when B rises.
        word, data, strobes = Signal(ADDR_WIDTH - 2), Signal(32), Signal(4)
        with m.If(aw.valid & aw.ready):
            m.d.sync += word.eq(bus.awaddr[2:])
        with m.If(w.valid & w.ready):
            m.d.sync += [data.eq(bus.wdata), strobes.eq(bus.wstrb)]
        answered = b.valid & ~props.past(b.valid)
        locked = props.past(unit.lock)
        writable = Const(0)
        for register in MAP:
            if register.access == "ro":
                continue
            for n in range(register.words):
                hit = word == register.offset // 4 + n
                if register.name in LOCKED:
                    hit &= ~locked
                writable |= hit
        props.check("a write answers OKAY exactly on a writable word, else SLVERR",
                    bus.bresp == Mux(writable, AxiResp.OKAY, AxiResp.SLVERR), when=answered)
        mask = Cat(*(strobes[i].replicate(8) for i in range(4)))

        copies = {}
        for register in MAP:
            port = getattr(unit, register.name)
            if register.access == "rw":
                kept = Signal(register.width, name=f"{register.name}_kept",
                              init=register.reset)
                now = Signal(register.width, name=f"{register.name}_copy")
                m.d.comb += now.eq(kept)
                words = [now[32 * n:32 * n + 32] for n in range(register.words)]
                for n in range(register.words):
                    hit = word == register.offset // 4 + n
                    if register.name in LOCKED:
                        hit &= ~locked
                    old = kept[32 * n:32 * n + 32]
                    with m.If(answered & hit):
                        m.d.comb += words[n].eq((old & ~mask) | (data & mask))
                m.d.sync += kept.eq(now)
                props.check(f"{register.name}: holds what was written to it", port == now)
                copies[register.name] = now
            elif register.access == "pulse":
                hit = word == register.offset // 4
                props.check(f"{register.name}: the bits written as 1 in the cycle answered",
                            port == Mux(answered & hit, (data & mask)[:register.width], 0))

        # Reads: the word as the view expects it in the AR cycle.
        read_word = bus.araddr[2:]
        expected, response = Signal(32), Signal(2)
        value = Const(0, 32)
        mapped = Const(0)
        for register in MAP:
            port = copies.get(register.name, getattr(unit, register.name))
            high = None
            if register.access == "ro" and register.words == 2:
                high = Signal(register.width - 32, name=f"{register.name}_latched")
                with m.If(ar_taken & (read_word == register.offset // 4)):
                    m.d.sync += high.eq(port[32:])
            for n in range(register.words):
                hit = read_word == register.offset // 4 + n
                mapped |= hit
                if register.access == "pulse":
                    continue
                part = high if high is not None and n == 1 else port[32 * n:32 * n + 32]
                value = Mux(hit, part, value)
        with m.If(ar_taken):
            m.d.sync += [expected.eq(value),
                         response.eq(Mux(mapped, AxiResp.OKAY, AxiResp.SLVERR))]
        props.check("a read returns the register's word, OKAY; 0 and SLVERR if unmapped",
                    (bus.rdata == expected) & (bus.rresp == response), when=r.valid)

        aw_taken, w_taken = aw.valid & aw.ready, w.valid & w.ready
        low_read, w_first = Signal(), Signal()
        with m.If(ar_taken & (read_word == 4)):
            m.d.sync += low_read.eq(1)
        with m.If(w_taken & ~aw_taken & (counts["w"] == counts["aw"])):
            m.d.sync += w_first.eq(1)
        with m.Elif(answered):
            m.d.sync += w_first.eq(0)
        props.cover("the high word of wide, last written with some strobes, reads changed",
                    r.valid & props.past(ar_taken & (read_word == 2))
                    & (bus.rdata != MAP[1].reset >> 32) & (strobes != 0xF))
        props.cover("a locked write is refused", answered & (word == 0) & locked
                    & (bus.bresp == AxiResp.SLVERR))
        props.cover("count's high word reads as latched by its low word's read, since changed",
                    r.valid & props.past(ar_taken & (read_word == 5)) & props.past(low_read)
                    & (unit.count[32:] != bus.rdata[:4]))
        props.cover("a write whose W came before its AW answers OKAY",
                    answered & props.past(w_first) & (bus.bresp == AxiResp.OKAY))
        props.cover("AW and W in one cycle while B waits",
                    aw_taken & w_taken & b.valid & ~b.ready)


def _registers(cls=AxiLiteRegisters):
    # As dicts: a mutant's module has its own Register class.
    return cls([asdict(register) for register in MAP], addr_width=ADDR_WIDTH, locked=LOCKED)


LockBlindRegisters = mutant(AxiLiteRegisters, "hit &= ~self.lock", "hit &= 1",
                            name="LockBlindRegisters")
StrobeBlindRegisters = mutant(AxiLiteRegisters, "with m.If(strobes[lane]):", "with m.If(1):",
                              name="StrobeBlindRegisters")
EagerResponseRegisters = mutant(AxiLiteRegisters, "write.eq(aw_held & w_held & ~bus.bvalid)",
                                "write.eq((aw_held | w_held) & ~bus.bvalid)",
                                name="EagerResponseRegisters")

ReadOnlyOkayRegisters = mutant(AxiLiteRegisters, 'if register.access != "ro":', "if True:",
                               name="ReadOnlyOkayRegisters")


def make_views():
    return [AxiLiteRegistersView(_registers(), depth=10),
            AxiLiteRegistersView(_registers(), depth=20, tag="deep", modes=("bmc",),
                                 slow=("bmc",))]


def broken_views():
    """(view of a broken variant, the property its check must fail, or a tuple of those it
    may fail first)."""
    return [
        (AxiLiteRegistersView(_registers(LockBlindRegisters), depth=6),
         ("ctl: holds what was written to it", "a write answers OKAY exactly")),
        (AxiLiteRegistersView(_registers(StrobeBlindRegisters), depth=6),
         "holds what was written to it"),
        (AxiLiteRegistersView(_registers(EagerResponseRegisters), depth=6),
         ("B only for a write whose address and data are in", "holds what was written to it")),
        (AxiLiteRegistersView(_registers(ReadOnlyOkayRegisters), depth=6),
         "a write answers OKAY exactly on a writable word"),
    ]
