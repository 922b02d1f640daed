"""AXI4 and AXI4-Lite signatures, and the block's AXI4 master: burst splitting, round-robin
arbitration between clients, byte counters and error capture."""

from amaranth import Cat, Const, Module, Mux, Signal, Value, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFO, SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from isosceles.gen.config import bits_for
from isosceles.golden.checks import check_int, check_power_of_two

__all__ = ["AxiSignature", "AxiLiteSignature", "AxiResp", "BurstSplitter", "AxiMaster",
           "request_layout", "MAX_REQUEST_BYTES", "MAX_CLIENTS"]

MAX_REQUEST_BYTES = 1 << 20
MAX_CLIENTS = 16  # read clients, and write clients, of one AxiMaster
_PAGE = 4096  # no INCR burst may cross a 4 KB boundary (AXI4, A3.4.1)


class AxiResp:
    """The AXI response codes."""
    OKAY, EXOKAY, SLVERR, DECERR = 0, 1, 2, 3


class AxiSignature(wiring.Signature):
    """An AXI4 interface, from the master's side (use ``In(AxiSignature(...))`` for a slave).

    Signals are named as in the AXI4 specification: ``awid awaddr awlen awsize awburst awlock
    awcache awprot awvalid awready``, ``wdata wstrb wlast wvalid wready``, ``bid bresp bvalid
    bready``, ``arid araddr arlen arsize arburst arlock arcache arprot arvalid arready``, ``rid
    rdata rresp rlast rvalid rready``. A component member ``m_axi`` becomes Verilog ports
    ``m_axi__awaddr`` and so on, which cocotbext-axi binds with ``AxiBus.from_prefix(dut,
    "m_axi_")``.

    Parameters
    ----------
    addr_width : int
        Byte address bits, 12 to 64.
    data_width : int
        Data bits, a power of two from 32 to 512.
    id_width : int
        Transaction ID bits, 1 to 16.
    """

    def __init__(self, *, addr_width, data_width=64, id_width=1):
        check_int("addr_width", addr_width, 12, 64)
        check_power_of_two("data_width", data_width, 32, 512)
        check_int("id_width", id_width, 1, 16)
        self.addr_width, self.data_width, self.id_width = addr_width, data_width, id_width
        address = {"id": id_width, "addr": addr_width, "len": 8, "size": 3, "burst": 2,
                   "lock": 1, "cache": 4, "prot": 3}
        members = {}
        for channel in ("aw", "ar"):
            members.update({f"{channel}{name}": Out(width) for name, width in address.items()})
            members.update({f"{channel}valid": Out(1), f"{channel}ready": In(1)})
        members.update({"wdata": Out(data_width), "wstrb": Out(data_width // 8),
                        "wlast": Out(1), "wvalid": Out(1), "wready": In(1)})
        members.update({"bid": In(id_width), "bresp": In(2), "bvalid": In(1), "bready": Out(1)})
        members.update({"rid": In(id_width), "rdata": In(data_width), "rresp": In(2),
                        "rlast": In(1), "rvalid": In(1), "rready": Out(1)})
        super().__init__(members)

    def __eq__(self, other):
        return type(other) is AxiSignature and (
            (self.addr_width, self.data_width, self.id_width)
            == (other.addr_width, other.data_width, other.id_width))

    def __repr__(self):
        return (f"AxiSignature(addr_width={self.addr_width}, data_width={self.data_width}, "
                f"id_width={self.id_width})")


class AxiLiteSignature(wiring.Signature):
    """An AXI4-Lite interface with 32-bit data, from the master's side (a slave takes
    ``In(AxiLiteSignature(...))``, whose ports cocotbext-axi binds with
    ``AxiLiteBus.from_prefix(dut, "s_axil_")``).

    Signals: ``awaddr awprot awvalid awready``, ``wdata wstrb wvalid wready``, ``bresp bvalid
    bready``, ``araddr arprot arvalid arready``, ``rdata rresp rvalid rready``.

    Parameters
    ----------
    addr_width : int
        Byte address bits, 3 to 32.
    """

    def __init__(self, *, addr_width):
        check_int("addr_width", addr_width, 3, 32)
        self.addr_width = addr_width
        super().__init__({
            "awaddr": Out(addr_width), "awprot": Out(3), "awvalid": Out(1), "awready": In(1),
            "wdata": Out(32), "wstrb": Out(4), "wvalid": Out(1), "wready": In(1),
            "bresp": In(2), "bvalid": In(1), "bready": Out(1),
            "araddr": Out(addr_width), "arprot": Out(3), "arvalid": Out(1), "arready": In(1),
            "rdata": In(32), "rresp": In(2), "rvalid": In(1), "rready": Out(1),
        })

    def __eq__(self, other):
        return type(other) is AxiLiteSignature and self.addr_width == other.addr_width

    def __repr__(self):
        return f"AxiLiteSignature(addr_width={self.addr_width})"


def request_layout(addr_width):
    """A client's request: byte address ``addr`` and length ``bytes`` (up to 1 MB)."""
    return data.StructLayout({"addr": unsigned(addr_width),
                              "bytes": unsigned(bits_for(MAX_REQUEST_BYTES))})


def burst_layout(addr_width):
    """One INCR burst: start address, ``len`` = beats - 1 (AXI's AxLEN), and whether it is the
    last burst of its request."""
    return data.StructLayout({"addr": unsigned(addr_width), "len": unsigned(8), "last": 1})


class BurstSplitter(wiring.Component):
    """Splits requests ``{addr, bytes}`` into INCR bursts of at most ``max_burst`` beats that
    never cross a 4 KB boundary.

    Stream contract: ``o.valid`` does not wait on ``o.ready`` and ``o.valid``/``o.payload`` are
    registers, stable until the transfer; ``i.ready`` is high when no burst of an earlier request
    is left to compute, or in the cycle the last one moves to the output register, so requests
    follow each other with no gap. The low address bits below a beat and the bytes that do not
    fill a whole beat are ignored; a request of fewer bytes than a beat yields no burst.

    Parameters
    ----------
    addr_width, data_width : int
        As in :class:`AxiSignature`.
    max_burst : int
        Beats per burst, 1 to 256.
    """

    def __init__(self, *, addr_width, data_width, max_burst):
        self._beat_shift = (data_width // 8).bit_length() - 1
        self._max_burst = max_burst
        self._addr_width = addr_width
        super().__init__({
            "i": In(stream.Signature(request_layout(addr_width))),
            "o": Out(stream.Signature(burst_layout(addr_width))),
        })

    def elaborate(self, platform):
        m = Module()
        shift = self._beat_shift
        # The next burst is computed from (addr, remaining) and registered on ``o``, so the
        # arbiter downstream starts from registers.
        addr = Signal(self._addr_width)
        remaining = Signal(range((MAX_REQUEST_BYTES >> shift) + 1))
        to_page = Signal(range((_PAGE >> shift) + 1))
        fits = Signal(range((_PAGE >> shift) + 1))
        beats = Signal(range(257))
        load = Signal()
        m.d.comb += [
            to_page.eq((_PAGE - addr[:12]) >> shift),
            fits.eq(Mux(remaining < to_page, remaining, to_page)),
            beats.eq(Mux(fits > self._max_burst, self._max_burst, fits)),
            load.eq((remaining != 0) & (~self.o.valid | self.o.ready)),
            self.i.ready.eq((remaining == 0) | (load & (beats == remaining))),
        ]
        with m.If(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.If(load):
            m.d.sync += [
                self.o.valid.eq(1),
                self.o.payload.addr.eq(addr),
                self.o.payload.len.eq(beats - 1),
                self.o.payload.last.eq(beats == remaining),
                addr.eq(addr + (beats << shift)),
                remaining.eq(remaining - beats),
            ]
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [addr.eq(self.i.payload.addr >> shift << shift),
                         remaining.eq(self.i.payload.bytes >> shift)]
        return m


def _pick(values, index):
    """``values[index]`` as an AND-OR of the candidates: no case statement, so no incomplete
    case when the count is not a power of two."""
    result = Const(0, Value.cast(values[0]).shape())
    for position, value in enumerate(values):
        result = result | Mux(index == position, Value.cast(value), 0)
    return result


def _round_robin(m, requests, previous, name):
    """Index of the first of ``requests`` after ``previous`` (wrapping), and whether any is set."""
    count = len(requests)
    grant = Signal(bits_for(count), name=f"{name}_grant")
    with m.Switch(previous):
        for last in range(count):
            with m.Case(last) if last < count - 1 else m.Default():
                # Later assignments win: go from the farthest candidate to the nearest.
                for offset in reversed(range(1, count + 1)):
                    index = (last + offset) % count
                    with m.If(requests[index]):
                        m.d.comb += grant.eq(index)
    return grant


class AxiMaster(wiring.Component):
    """The block's one AXI4 master, shared by ``read_clients`` read clients and ``write_clients``
    write clients.

    Each request is split into INCR bursts of at most ``max_burst`` beats (full data width,
    ``awsize = log2(data_width / 8)``) that never cross a 4 KB boundary. Bursts of different
    clients are granted round-robin, at most one per cycle on each of AR and AW, through a
    register stage (``arvalid``/``awvalid`` and their payloads are registers). Every burst uses
    ID 0, so the slave answers in issue order; up to ``max_outstanding`` read bursts and as many
    write bursts may be in flight, of any mix of clients, recorded in order FIFOs that route R
    beats, W beats and B responses.

    No client can hold up another. Each client has a FIFO of ``buffer`` beats (block RAM): a
    read burst is issued only when its client's FIFO has room for all of it (counting the beats
    of bursts in flight), so ``rready`` never waits on a client; a write burst is issued only
    once its client's FIFO holds all of its beats, so W never waits on a client.

    Ports and their contracts (every stream obeys ``amaranth.lib.stream``: valid does not wait
    on ready, payload stable until the transfer):

    ``read_req[i]`` (in, stream ``{addr, bytes}``): a read of ``bytes`` bytes from byte address
        ``addr``; ``addr`` must be aligned to ``data_width / 8`` and ``bytes`` a nonzero multiple
        of it, at most 2**20 (low bits are ignored; a request of 0 bytes returns nothing).
        ``ready`` never waits on ``valid``.
    ``read_data[i]`` (out, stream ``{data, last}``): the beats of client ``i``'s requests in
        order, lowest address in the low byte; ``last`` marks the final beat of each request.
    ``write_req[i]`` (in, stream ``{addr, bytes}``): a write, with the rules of ``read_req``
        (a request of 0 bytes writes nothing and gets no ``write_done``).
    ``write_data[i]`` (in, stream ``{data, strb}``): the beats of client ``i``'s write requests
        in order, each with its byte strobes (a byte is written where its ``strb`` bit is set);
        they may come before or after their request.
        ``ready`` is high while the client's FIFO has room, whatever ``valid``.
    ``write_done[i]`` (out): one-cycle pulse when the B responses of all bursts of client ``i``'s
        oldest unfinished write request are back (one pulse per request, in order).
    ``read_bytes``, ``write_bytes`` (out, 64 bits): bytes moved on R (whole beats) and
        written on W (strobed bytes) since reset or ``clear``, counted at each beat's transfer.
    ``error`` (out ``{valid, resp, write, addr}``): the first R or B response with SLVERR or
        DECERR since reset or ``clear``: its code, whether it was a write, and the address of
        the beat (R) or of the burst (B). Sticky. Requests still complete (with the data the
        slave returned), so no client waits forever.
    ``clear`` (in): one-cycle pulse that zeroes the counters (a beat in that same cycle counts)
        and clears ``error``.

    Parameters
    ----------
    read_clients, write_clients : int
        Clients of each kind, 1 to 16.
    addr_width, data_width, id_width : int
        As in :class:`AxiSignature` (32, 64 and 1 by default); every burst has ID 0.
    max_burst : int
        Beats per burst, 1 to 256 (256 by default).
    max_outstanding : int
        Bursts in flight per direction, 2 to 64 (4 by default).
    buffer : int
        Beats of each client's FIFO, from ``max_burst`` to 4096 (``max_burst`` by default).
    """

    lint_waivers = {
        "UNUSEDSIGNAL": "Amaranth's Verilog keeps named alias wires that its logic bypasses: "
                        "FIFO and memory port members (r_level, w_data$124), submodule port "
                        "copies (i__valid$78), truncated copies of named nodes (beats, to_page) "
                        "and constant temporaries ($55); of the ports, only m_axi__bid and "
                        "m_axi__rid are unused (every burst has ID 0)",
        "DECLFILENAME": "Amaranth writes the submodules as modules named axi_master.sub into one "
                        "file",
    }

    def __init__(self, *, read_clients, write_clients, addr_width=32, data_width=64,
                 id_width=1, max_burst=256, max_outstanding=4, buffer=None):
        self._MustUse__silence = True  # only cleared below, once the parameters are valid
        check_int("read_clients", read_clients, 1, MAX_CLIENTS)
        check_int("write_clients", write_clients, 1, MAX_CLIENTS)
        check_int("max_burst", max_burst, 1, 256)
        check_int("max_outstanding", max_outstanding, 2, 64)
        buffer = max_burst if buffer is None else buffer
        check_int("buffer", buffer, max_burst, 4096)
        bus = AxiSignature(addr_width=addr_width, data_width=data_width, id_width=id_width)
        self._MustUse__silence = False
        self._read_clients, self._write_clients = read_clients, write_clients
        self._addr_width, self._data_width = addr_width, data_width
        self._max_burst, self._max_outstanding = max_burst, max_outstanding
        self._buffer = buffer
        self._read_layout = data.StructLayout({"data": unsigned(data_width), "last": 1})
        self._write_layout = data.StructLayout({"data": unsigned(data_width),
                                                "strb": unsigned(data_width // 8)})
        request = stream.Signature(request_layout(addr_width))
        super().__init__({
            "m_axi": Out(bus),
            "read_req": In(request).array(read_clients),
            "read_data": Out(stream.Signature(self._read_layout)).array(read_clients),
            "write_req": In(request).array(write_clients),
            "write_data": In(stream.Signature(self._write_layout)).array(write_clients),
            "write_done": Out(1).array(write_clients),
            "read_bytes": Out(64),
            "write_bytes": Out(64),
            "error": Out(data.StructLayout({"valid": 1, "resp": 2, "write": 1,
                                            "addr": unsigned(addr_width)})),
            "clear": In(1),
        })

    def _issue(self, m, requests, channel, fifos, name, ready_to_issue):
        """Split ``requests`` into bursts and issue them round-robin on address channel
        ``channel`` ("ar" or "aw") through a register stage, a burst of client ``i`` only when
        ``ready_to_issue(i, burst)``. Each grant pushes, for every ``(fifo, layout, entry)`` of
        ``fifos``, the fields ``entry(grant, burst)`` into ``fifo``. Returns the bursts and, per
        client, the signal that its burst is granted this cycle."""
        bus = self.m_axi
        bursts = []
        for index, request in enumerate(requests):
            splitter = BurstSplitter(addr_width=self._addr_width, data_width=self._data_width,
                                     max_burst=self._max_burst)
            m.submodules[f"{name}_split{index}"] = splitter
            wiring.connect(m, wiring.flipped(request), splitter.i)
            bursts.append(splitter.o)
        eligible = [Signal(name=f"{name}_eligible{index}") for index in range(len(bursts))]
        for index, burst in enumerate(bursts):
            m.d.comb += eligible[index].eq(burst.valid & ready_to_issue(index, burst.payload))
        previous = Signal(bits_for(len(bursts)), name=f"{name}_previous")
        grant = _round_robin(m, eligible, previous, name)
        chosen = data.View(burst_layout(self._addr_width),
                           _pick([burst.payload for burst in bursts], grant))
        valid, ready = getattr(bus, f"{channel}valid"), getattr(bus, f"{channel}ready")
        load = Signal(name=f"{name}_load")
        room = [fifo.w_rdy for fifo, _, _ in fifos]
        m.d.comb += load.eq((~valid | ready) & _pick(eligible, grant) & Cat(*room).all())
        with m.If(ready):
            m.d.sync += valid.eq(0)
        with m.If(load):
            m.d.sync += [
                valid.eq(1),
                getattr(bus, f"{channel}addr").eq(chosen.addr),
                getattr(bus, f"{channel}len").eq(chosen.len),
                previous.eq(grant),
            ]
            m.d.comb += [fifo.w_en.eq(1) for fifo, _, _ in fifos]
        granted = []
        for index, burst in enumerate(bursts):
            taken = Signal(name=f"{name}_granted{index}")
            m.d.comb += [taken.eq(load & (grant == index)), burst.ready.eq(taken)]
            granted.append(taken)
        for index, (fifo, layout, entry) in enumerate(fifos):
            staged = Signal(layout, name=f"{name}_entry{index}")
            m.d.comb += [getattr(staged, field).eq(value)
                         for field, value in entry(grant, chosen).items()]
            m.d.comb += fifo.w_data.eq(staged)
        m.d.comb += [
            getattr(bus, f"{channel}size").eq((self._data_width // 8).bit_length() - 1),
            getattr(bus, f"{channel}burst").eq(1),  # INCR
            getattr(bus, f"{channel}cache").eq(0b0011),  # normal, non-cacheable, bufferable
        ]
        return bursts, granted

    def elaborate(self, platform):
        m = Module()
        bus = self.m_axi
        beat_bytes = self._data_width // 8
        shift = beat_bytes.bit_length() - 1
        order = data.StructLayout({"client": unsigned(bits_for(max(self._read_clients,
                                                                   self._write_clients))),
                                   "addr": unsigned(self._addr_width), "last": 1})
        error = self.error

        def fifo(name, layout, depth, buffered=False):
            kind = SyncFIFOBuffered if buffered else SyncFIFO
            width = layout.size if isinstance(layout, data.Layout) else layout
            m.submodules[name] = queue = kind(width=width, depth=depth)
            return queue

        def order_entry(grant, burst):
            return {"client": grant, "addr": burst.addr, "last": burst.last}

        # Read: a burst is issued when its client's FIFO has room for it besides the beats it
        # holds and those still to come ("free" counts the rest); R beats then go to the FIFO
        # of the client at the head of the order FIFO without waiting on anyone.
        read_buffers = [fifo(f"read_buffer{index}", self._read_layout, self._buffer, True)
                        for index in range(self._read_clients)]
        free = [Signal(range(self._buffer + 1), init=self._buffer, name=f"read_free{index}")
                for index in range(self._read_clients)]
        read_order = fifo("read_order", order, self._max_outstanding)
        bursts, granted = self._issue(
            m, self.read_req, "ar", [(read_order, order, order_entry)], "read",
            lambda index, burst: free[index] > burst.len)
        head = data.View(order, read_order.r_data)
        beat = Signal(8)
        take_r = Signal()
        m.d.comb += [
            bus.rready.eq(read_order.r_rdy & _pick([b.w_rdy for b in read_buffers], head.client)),
            take_r.eq(bus.rvalid & bus.rready),
        ]
        with m.If(take_r):
            m.d.sync += beat.eq(Mux(bus.rlast, 0, beat + 1))
            m.d.comb += read_order.r_en.eq(bus.rlast)
        for index, (client, buffer) in enumerate(zip(self.read_data, read_buffers, strict=True)):
            incoming = data.View(self._read_layout, buffer.w_data)
            outgoing = data.View(self._read_layout, buffer.r_data)
            m.d.comb += [
                buffer.w_en.eq(take_r & (head.client == index)),
                incoming.data.eq(bus.rdata),
                incoming.last.eq(bus.rlast & head.last),
                client.valid.eq(buffer.r_rdy),
                client.payload.eq(outgoing),
                buffer.r_en.eq(client.ready),
            ]
            m.d.sync += free[index].eq(
                free[index] - Mux(granted[index], bursts[index].payload.len + 1, 0)
                + (client.valid & client.ready))

        # Write: a client's beats wait in its FIFO; a burst is issued once all its beats are
        # there and not promised to an earlier burst ("available" counts those), so W never
        # waits on a client. W follows the order of AW; B responses are matched to the B order FIFO.
        write_buffers = [fifo(f"write_buffer{index}", self._write_layout, self._buffer, True)
                         for index in range(self._write_clients)]
        available = [Signal(range(self._buffer + 1), name=f"write_available{index}")
                     for index in range(self._write_clients)]
        write_layout = data.StructLayout({"client": order["client"].shape, "len": unsigned(8)})
        w_order = fifo("w_order", write_layout, self._max_outstanding)
        b_order = fifo("b_order", order, self._max_outstanding)
        bursts, granted = self._issue(
            m, self.write_req, "aw", [
                (w_order, write_layout, lambda grant, burst: {"client": grant, "len": burst.len}),
                (b_order, order, order_entry),
            ], "write",
            lambda index, burst: available[index] > burst.len)
        w_head = data.View(write_layout, w_order.r_data)
        w_beat = Signal(8)
        take_w = Signal()
        w_beat_out = data.View(self._write_layout,
                               _pick([b.r_data for b in write_buffers], w_head.client))
        m.d.comb += [
            bus.wvalid.eq(w_order.r_rdy & _pick([b.r_rdy for b in write_buffers],
                                                w_head.client)),
            bus.wdata.eq(w_beat_out.data),
            bus.wstrb.eq(w_beat_out.strb),
            bus.wlast.eq(w_beat == w_head.len),
            take_w.eq(bus.wvalid & bus.wready),
        ]
        with m.If(take_w):
            m.d.sync += w_beat.eq(Mux(bus.wlast, 0, w_beat + 1))
            m.d.comb += w_order.r_en.eq(bus.wlast)
        for index, (source, buffer) in enumerate(zip(self.write_data, write_buffers,
                                                      strict=True)):
            sent = Signal(name=f"write_sent{index}")
            m.d.comb += [
                buffer.w_en.eq(source.valid),
                buffer.w_data.eq(source.payload),
                source.ready.eq(buffer.w_rdy),
                sent.eq(take_w & (w_head.client == index)),
                buffer.r_en.eq(sent),
            ]
            m.d.sync += available[index].eq(
                available[index] - Mux(granted[index], bursts[index].payload.len + 1, 0)
                + (source.valid & source.ready))

        b_head = data.View(order, b_order.r_data)
        take_b = Signal()
        m.d.comb += [bus.bready.eq(b_order.r_rdy), take_b.eq(bus.bvalid & bus.bready),
                     b_order.r_en.eq(take_b)]
        for index, done in enumerate(self.write_done):
            m.d.sync += done.eq(take_b & b_head.last & (b_head.client == index))

        # Counters and the first error.
        m.d.sync += [
            self.read_bytes.eq(Mux(self.clear, 0, self.read_bytes) + Mux(take_r, beat_bytes, 0)),
            self.write_bytes.eq(Mux(self.clear, 0, self.write_bytes)
                                + Mux(take_w, sum(bus.wstrb[n] for n in range(beat_bytes)),
                                      0)),
        ]
        with m.If(self.clear):
            m.d.sync += error.valid.eq(0)
        with m.Elif(~error.valid):
            with m.If(take_r & bus.rresp[1]):
                m.d.sync += [error.valid.eq(1), error.resp.eq(bus.rresp), error.write.eq(0),
                             error.addr.eq(head.addr + (beat << shift))]
            with m.Elif(take_b & bus.bresp[1]):
                m.d.sync += [error.valid.eq(1), error.resp.eq(bus.bresp), error.write.eq(1),
                             error.addr.eq(b_head.addr)]
        return m
