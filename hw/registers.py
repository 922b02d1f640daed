"""An AXI4-Lite register file generated from a register map written in Python."""

import functools
import keyword
import operator
from dataclasses import asdict, dataclass

from amaranth import Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from isosceles.golden.checks import check_int
from isosceles.hw.axi import AxiLiteSignature, AxiResp

__all__ = ["Register", "AxiLiteRegisters", "ACCESSES"]

# rw: written by the host, read by the block; ro: driven by the block, read by the host;
# pulse: writing 1 to a bit strobes that bit of the port for one cycle (reads return 0).
ACCESSES = ("rw", "ro", "pulse")
_RESERVED = {"s_axil", "lock", "clk", "rst"}


@dataclass(frozen=True)
class Register:
    """One register of the map.

    Parameters
    ----------
    name : str
        Port name: a lowercase Python identifier.
    offset : int
        Byte offset, a multiple of 4. A register wider than 32 bits takes consecutive words,
        least significant first.
    access : str
        ``"rw"``, ``"ro"`` or ``"pulse"`` (write 1 to strobe).
    width : int
        Bits, 1 to 64 (1 to 32 for ``"pulse"``).
    reset : int
        Value after reset (``"rw"`` only).
    doc : str
        One line for the manifest and the C header.
    """

    name: str
    offset: int
    access: str
    width: int = 32
    reset: int = 0
    doc: str = ""

    def __post_init__(self):
        where = f"register {self.name!r}"
        if (not isinstance(self.name, str) or not self.name.isidentifier()
                or self.name != self.name.lower() or keyword.iskeyword(self.name)
                or "__" in self.name or self.name in _RESERVED):
            raise ValueError(f"register name must be a lowercase identifier without '__', not "
                             f"one of {sorted(_RESERVED)}; got {self.name!r}")
        if self.access not in ACCESSES:
            raise ValueError(f"{where}: access must be one of {ACCESSES}, not {self.access!r}")
        check_int(f"{where}: offset", self.offset, 0)
        if self.offset % 4:
            raise ValueError(f"{where}: offset must be a multiple of 4, not {self.offset:#x}")
        check_int(f"{where}: width", self.width, 1, 32 if self.access == "pulse" else 64)
        check_int(f"{where}: reset", self.reset, 0, (1 << self.width) - 1)
        if self.reset and self.access != "rw":
            raise ValueError(f"{where}: only rw registers have a reset value; got reset "
                             f"{self.reset:#x} on a {self.access} register")

    @property
    def words(self):
        return (self.width + 31) // 32


class AxiLiteRegisters(wiring.Component):
    """An AXI4-Lite slave (32-bit data) over a register map.

    Every register becomes a port named after it: ``rw`` registers are outputs (the block reads
    them), ``ro`` registers inputs (the block drives them), ``pulse`` registers outputs that are
    high for one cycle per bit the host writes 1 to.

    Bus behaviour: AW and W are accepted independently (either first, or both in one cycle) and
    the write happens once both are in, with each byte lane written only where its ``wstrb`` bit
    is set; the B response follows one cycle later. A read answers one cycle after AR. Address
    bits below a word are ignored. Unmapped words answer SLVERR (reads return 0, writes change
    nothing); writes to ``ro`` registers also answer SLVERR; reads of ``pulse`` registers return
    0 with OKAY. Reading the low word of an ``ro`` register wider than 32 bits latches its upper
    bits, which a read of its next word returns, so a 64-bit counter reads consistently low word
    first. One write and one read may be in progress at a time; ``awready``, ``wready`` and
    ``arready`` depend only on the slave's state.

    Parameters
    ----------
    registers : sequence of Register or dict
        The map (dicts are passed to :class:`Register`).
    addr_width : int
        Byte address bits of ``s_axil``, 3 to 32 (12 by default); the map must fit.
    locked : sequence of str
        Names of ``rw`` registers that refuse writes while the input port ``lock`` is high
        (the port exists only if some are named): such a write answers SLVERR and changes
        nothing.
    """

    lint_waivers = {
        "UNUSEDSIGNAL": "the AXI4-Lite protection bits (s_axil__awprot, s_axil__arprot) and the "
                        "address bits below a word are ignored; Amaranth also keeps bypassed "
                        "alias wires",
    }

    def __init__(self, registers, *, addr_width=12, locked=()):
        self._MustUse__silence = True  # only cleared below, once the parameters are valid
        check_int("addr_width", addr_width, 3, 32)
        registers = [entry if isinstance(entry, Register) else Register(**entry)
                     for entry in registers]
        if not registers:
            raise ValueError("registers must list at least one register")
        writable = {register.name for register in registers if register.access == "rw"}
        for name in locked:
            if name not in writable:
                raise ValueError(f"locked names {name!r}, which is not an rw register of the "
                                 f"map; name only rw registers: {sorted(writable)}")
        owner = {}
        for register in registers:
            for word in range(register.words):
                address = register.offset + 4 * word
                if address >> addr_width:
                    raise ValueError(f"register {register.name!r} at {address:#x} does not fit "
                                     f"addr_width {addr_width}; raise addr_width")
                if address in owner:
                    raise ValueError(f"register {register.name!r} overlaps {owner[address]!r} "
                                     f"at {address:#x}")
                owner[address] = register.name
        names = [register.name for register in registers]
        if len(set(names)) != len(names):
            raise ValueError(f"register names must be unique: {sorted(names)}")
        self._MustUse__silence = False
        self._registers = registers
        self._addr_width = addr_width
        self._locked = frozenset(locked)
        members = {"s_axil": In(AxiLiteSignature(addr_width=addr_width))}
        if locked:
            members["lock"] = In(1)
        for register in registers:
            if register.access == "ro":
                members[register.name] = In(register.width)
            else:
                members[register.name] = Out(register.width, init=register.reset)
        super().__init__(members)

    @property
    def registers(self):
        return list(self._registers)

    def describe(self):
        """The map as JSON-able dicts (for the manifest and the C header), by offset."""
        return [dict(asdict(register), words=register.words)
                for register in sorted(self._registers, key=lambda register: register.offset)]

    def elaborate(self, platform):
        m = Module()
        bus = self.s_axil

        # Write: AW and W are held until both are in, then applied in one cycle.
        aw_held, aw_word = Signal(), Signal(self._addr_width - 2)
        w_held, w_data, w_strb = Signal(), Signal(32), Signal(4)
        m.d.comb += [bus.awready.eq(~aw_held), bus.wready.eq(~w_held)]
        with m.If(bus.awvalid & bus.awready):
            m.d.sync += [aw_held.eq(1), aw_word.eq(bus.awaddr[2:])]
        with m.If(bus.wvalid & bus.wready):
            m.d.sync += [w_held.eq(1), w_data.eq(bus.wdata), w_strb.eq(bus.wstrb)]
        with m.If(bus.bvalid & bus.bready):
            m.d.sync += bus.bvalid.eq(0)
        for register in self._registers:
            if register.access == "pulse":
                m.d.sync += getattr(self, register.name).eq(0)
        write = Signal()
        writable = Signal()
        m.d.comb += write.eq(aw_held & w_held & ~bus.bvalid)
        with m.If(write):
            m.d.sync += [aw_held.eq(0), w_held.eq(0), bus.bvalid.eq(1),
                         bus.bresp.eq(Mux(writable, AxiResp.OKAY, AxiResp.SLVERR))]
        # Words are decoded one comparator each, with no case statement (a map rarely fills
        # its address space, and an incomplete case is a lint error).
        write_hits = []
        for register in self._registers:
            for word in range(register.words):
                hit = aw_word == register.offset // 4 + word
                if register.name in self._locked:
                    hit &= ~self.lock
                if register.access != "ro":
                    write_hits.append(hit)
                    with m.If(write & hit):
                        self._write_word(m, register, word, w_data, w_strb)
        m.d.comb += writable.eq(Cat(*write_hits).any())

        # Read: the word is registered on R one cycle after AR.
        read = Signal()
        mapped = Signal()
        word_data = Signal(32)
        m.d.comb += [bus.arready.eq(~bus.rvalid), read.eq(bus.arvalid & bus.arready)]
        with m.If(bus.rvalid & bus.rready):
            m.d.sync += bus.rvalid.eq(0)
        with m.If(read):
            m.d.sync += [bus.rvalid.eq(1), bus.rdata.eq(word_data),
                         bus.rresp.eq(Mux(mapped, AxiResp.OKAY, AxiResp.SLVERR))]
        read_hits, read_values = [], []
        for register in self._registers:
            port = getattr(self, register.name)
            snapshot = None
            if register.access == "ro" and register.width > 32:
                snapshot = Signal(register.width - 32, name=f"{register.name}_high")
            for word in range(register.words):
                hit = bus.araddr[2:] == register.offset // 4 + word
                read_hits.append(hit)
                if register.access == "pulse":
                    continue
                value = snapshot if snapshot is not None and word == 1 else port[
                    32 * word:32 * word + 32]
                read_values.append(Mux(hit, value, 0))
                if snapshot is not None and word == 0:
                    with m.If(read & hit):
                        m.d.sync += snapshot.eq(port[32:])
        m.d.comb += [mapped.eq(Cat(*read_hits).any()),
                     word_data.eq(functools.reduce(operator.or_, read_values, 0))]
        return m

    def _write_word(self, m, register, word, data, strobes):
        """Word ``word`` of ``register`` takes ``data`` in the byte lanes ``strobes`` selects."""
        if register.access == "ro":
            return
        port = getattr(self, register.name)
        if register.access == "pulse":
            # Zero in every cycle but the one after a write, where it holds the bits written
            # as 1 in the strobed lanes.
            mask = Cat(*(strobes[bit // 8] for bit in range(register.width)))
            m.d.sync += port.eq(data[:register.width] & mask)
            return
        for lane in range(4):
            low = 32 * word + 8 * lane
            if low >= register.width:
                break
            high = min(low + 8, register.width)
            with m.If(strobes[lane]):
                m.d.sync += port[low:high].eq(data[8 * lane:8 * lane + high - low])
