"""Formal views of the burst splitter (bursts within AXI's limits that cover each request
exactly, in order) and of the AXI master (every beat routed to the client that asked, no
client holding up another)."""

from amaranth import Mux, Signal

from isosceles.hw.axi import AxiMaster, BurstSplitter
from isosceles.tb.formal import FormalView, any_const, any_seq, mutant
from isosceles.tb.formal_registers import channel

__all__ = ["BurstSplitterView", "AxiMasterView", "make_views", "broken_views"]

ADDR_WIDTH, DATA_WIDTH, MAX_BURST = 16, 32, 4
PAGE = 4096


class BurstSplitterView(FormalView):
    """16-bit addresses, 4-byte beats, bursts of up to four beats, any requests (any address,
    any length up to 1 MB).

    The view keeps the requests accepted and not yet fully sent (at most two: one being
    split, one whose last burst waits on ``o``), each as the address of its next beat and
    its beats left. Checked for every burst: ``len + 1`` at most ``max_burst`` beats; it does
    not cross a 4 KB boundary; it starts at the next beat of the oldest request; ``last``
    exactly when it ends that request (so the bursts cover every whole beat of each request
    once, in order, and a request shorter than a beat has none); no burst without a request.
    """

    def properties(self, m, props, unit):
        i, o = unit.i, unit.o
        shift = (DATA_WIDTH // 8).bit_length() - 1
        beats_shape = range((1 << len(i.payload.bytes)) >> shift)
        slots = [(Signal(name=f"slot{n}_full"), Signal(ADDR_WIDTH, name=f"slot{n}_addr"),
                  Signal(beats_shape, name=f"slot{n}_beats")) for n in range(2)]
        (full0, addr0, beats0), (full1, addr1, beats1) = slots

        sent = o.valid & o.ready
        beats = o.payload.len + 1
        end = Signal(ADDR_WIDTH + 1)
        m.d.comb += end.eq(o.payload.addr[:12] + (beats << shift))
        props.check("a burst has at most max_burst beats", beats <= MAX_BURST, when=o.valid)
        props.check("a burst does not cross a 4 KB boundary", end <= PAGE, when=o.valid)
        props.check("a burst only for a request accepted", full0, when=o.valid)
        props.check("a burst starts at its request's next beat, last when it ends it",
                    (o.payload.addr == addr0) & (beats <= beats0)
                    & (o.payload.last == (beats == beats0)), when=o.valid & full0)

        accepted = i.valid & i.ready
        new_addr = i.payload.addr >> shift << shift
        new_beats = i.payload.bytes >> shift
        popped = sent & o.payload.last
        props.check("at most two requests in flight", ~full1 | popped,
                    when=accepted & (new_beats != 0))
        # After a pop, slot 1 moves to slot 0; a request accepted goes to the first free slot.
        with m.If(sent):
            m.d.sync += [addr0.eq(o.payload.addr + (beats << shift)), beats0.eq(beats0 - beats)]
        with m.If(popped):
            m.d.sync += [full0.eq(full1), addr0.eq(addr1), beats0.eq(beats1), full1.eq(0)]
        with m.If(accepted & (new_beats != 0)):
            with m.If(Mux(popped, ~full1, ~full0)):
                m.d.sync += [full0.eq(1), addr0.eq(new_addr), beats0.eq(new_beats)]
            with m.Else():
                m.d.sync += [full1.eq(1), addr1.eq(new_addr), beats1.eq(new_beats)]

        props.cover("a request split at a 4 KB boundary ends",
                    sent & o.payload.last & (end == PAGE) & props.past(sent))
        props.cover("a burst waits with a request behind it", o.valid & ~o.ready & full1)
        props.cover("two requests end back to back",
                    popped & props.past(popped) & props.past(props.past(popped)))


def _splitter(cls=BurstSplitter):
    return cls(addr_width=ADDR_WIDTH, data_width=DATA_WIDTH, max_burst=MAX_BURST)


PageCrossingSplitter = mutant(
    BurstSplitter, "fits.eq(Mux(remaining < to_page, remaining, to_page))",
    "fits.eq(remaining)", name="PageCrossingSplitter")
EagerSplitter = mutant(
    BurstSplitter, "self.i.ready.eq((remaining == 0) | (load & (beats == remaining)))",
    "self.i.ready.eq((remaining == 0) | load)", name="EagerSplitter")


BroadcastAxiMaster = mutant(AxiMaster, "buffer.w_en.eq(take_r & (head.client == index))",
                            "buffer.w_en.eq(take_r)", name="BroadcastAxiMaster")
BeatOrderAxiMaster = mutant(AxiMaster, "m.d.comb += read_order.r_en.eq(bus.rlast)",
                            "m.d.comb += read_order.r_en.eq(1)", name="BeatOrderAxiMaster")
EarlyLastAxiMaster = mutant(AxiMaster, "bus.wlast.eq(w_beat == w_head.len)",
                            "bus.wlast.eq(w_beat == 0)", name="EarlyLastAxiMaster")
RoomlessAxiMaster = mutant(AxiMaster, "lambda index, burst: free[index] > burst.len",
                           "lambda index, burst: free[index] > 0", name="RoomlessAxiMaster")


def make_views():
    return [BurstSplitterView(_splitter(), depth=8),
            BurstSplitterView(_splitter(), depth=12, tag="deep", modes=("bmc",),
                              slow=("bmc",)),
            # The covers need 9 steps, whose bmc is past CI's budget: CI checks every
            # property to 7.
            AxiMasterView(_master(), depth=9, slow=("bmc",)),
            AxiMasterView(_master(), depth=7, tag="short", modes=("bmc",)),
            AxiMasterView(_master(), depth=11, tag="deep", modes=("bmc",), slow=("bmc",))]


def broken_views():
    """(view of a broken variant, the property its check must fail, or a tuple of those it
    may fail first)."""
    return [
        (BurstSplitterView(_splitter(PageCrossingSplitter), depth=8),
         ("a burst does not cross a 4 KB boundary", "a burst has at most max_burst beats")),
        (BurstSplitterView(_splitter(EagerSplitter), depth=8),
         ("a burst starts at its request's next beat", "at most two requests in flight")),
        (AxiMasterView(_master(BroadcastAxiMaster), depth=7), "no beat but one routed to it"),
        (AxiMasterView(_master(BeatOrderAxiMaster), depth=7, slow=("bmc",)),
         ("the beat at index n of a client's read_data", "no beat but one routed to it",
          "R waits on no client")),
        (AxiMasterView(_master(EarlyLastAxiMaster), depth=5), "wlast exactly on its last beat"),
        (AxiMasterView(_master(RoomlessAxiMaster), depth=9, slow=("bmc",)),
         "R waits on no client"),
    ]


R_CLIENTS, W_CLIENTS, M_ADDR, M_DATA, M_BURST, M_OUTSTANDING = 2, 1, 12, 32, 2, 2
REGION = M_ADDR - 1  # read client i reads addresses whose top bit is i


class AxiMasterView(FormalView):
    """Two read clients and a write client, 12-bit addresses (one 4 KB page), 4-byte beats,
    bursts of up to two beats, two in flight each way, client buffers of two beats; any
    requests, data and slave timing.

    Assumed: the slave keeps the AXI handshake rules on R and B, sends R beats only for AR
    bursts it accepted, in order, ``rlast`` on each burst's last beat, and a B response only
    for an AW burst accepted whose W beats are all in; read client ``i`` asks only for
    addresses whose top bit is ``i`` (so the view tells from ``araddr`` whose a burst is).
    The view keeps the AR bursts in flight and the AW bursts owed W beats. Checked: AR, AW and
    W keep the handshake rules; bursts of at most ``max_burst`` beats, at most
    ``max_outstanding`` in flight; ``rready`` (``wvalid``) low for at most a cycle at a time
    while a read burst is in flight (an AW burst is owed beats), whatever the clients do; each
    R beat goes to the client whose burst it is: for a client and an index the solver
    chooses, the beat at that index on its ``read_data`` is the one routed to it at that
    index, unchanged, ``last`` only on an ``rlast`` beat; the W beat at an index the solver
    chooses is the write client's beat at that index (data and strobes), with ``wlast``
    exactly on each burst's last beat; a ``write_done`` pulse only after a B response;
    ``read_bytes`` and ``write_bytes`` count the bytes moved since ``clear``; ``error`` holds
    exactly whether an error response came since ``clear``, and whose.
    """

    driven = ("m_axi",)

    def properties(self, m, props, unit):
        bus = unit.m_axi
        for name in ("awready", "wready", "bid", "bresp", "bvalid", "arready", "rid", "rdata",
                     "rresp", "rlast", "rvalid"):
            port = getattr(bus, name)
            m.d.comb += port.eq(any_seq(len(port)))
        address = ("addr", "len", "size", "burst", "cache", "id")
        ar = channel(bus.arvalid, bus.arready, *(getattr(bus, f"ar{n}") for n in address))
        aw = channel(bus.awvalid, bus.awready, *(getattr(bus, f"aw{n}") for n in address))
        w = channel(bus.wvalid, bus.wready, bus.wdata, bus.wstrb, bus.wlast)
        r = channel(bus.rvalid, bus.rready, bus.rdata, bus.rresp, bus.rlast)
        b = channel(bus.bvalid, bus.bready, bus.bresp)
        for name, port, assume in (("ar", ar, False), ("aw", aw, False), ("w", w, False),
                                   ("r", r, True), ("b", b, True)):
            props.stream_rules(port, name=name, assume=assume)
        for i, request in enumerate(unit.read_req):
            end = Signal(M_ADDR + 21, name=f"read{i}_end")
            m.d.comb += end.eq(request.payload.addr + request.payload.bytes - 1)
            props.assume((request.payload.addr[REGION] == i)
                         & ((request.payload.bytes == 0) | (end >> REGION == i)),
                         when=request.valid)
        for request in unit.write_req:
            props.assume(request.payload.addr + request.payload.bytes <= 1 << M_ADDR,
                         when=request.valid)
        props.check("an AR burst within max_burst beats", bus.arlen < M_BURST, when=ar.valid)
        props.check("an AW burst within max_burst beats", bus.awlen < M_BURST, when=aw.valid)

        # AR bursts in flight, oldest first: whose, beats left, address of the next beat.
        r_taken, ar_taken = r.valid & r.ready, ar.valid & ar.ready
        flight = [(Signal(name=f"ar{n}_full"), Signal(name=f"ar{n}_client"),
                   Signal(range(M_BURST + 1), name=f"ar{n}_left"),
                   Signal(M_ADDR, name=f"ar{n}_addr")) for n in range(2)]
        (full0, client0, left0, addr0), (full1, *_) = flight
        popped = r_taken & (left0 == 1)
        _fifo_step(m, flight, push=ar_taken, pop=popped, step=r_taken,
                   new=[1, bus.araddr[REGION], bus.arlen + 1, bus.araddr],
                   advance=lambda: [left0.eq(left0 - 1), addr0.eq(addr0 + 4)])
        props.check("at most max_outstanding read bursts in flight", ~full1 | popped,
                    when=ar_taken)
        props.assume(full0 & (bus.rlast == (left0 == 1)), when=r.valid)
        # A client's buffer takes a beat into its output register a cycle after it is written,
        # so R may pause a cycle there; it never waits longer, whatever the clients do.
        props.check("R waits on no client: rready low at most a cycle while a burst is in "
                    "flight", bus.rready, when=full0 & props.past(full0 & ~bus.rready))

        chosen, n = Signal(), Signal(3)
        m.d.comb += [chosen.eq(any_const(1)), n.eq(any_const(3))]
        value, value_last, recorded = Signal(M_DATA), Signal(), Signal()
        outs = []
        for i, client in enumerate(unit.read_data):
            routed = props.counter(f"routed{i}", range(16), r_taken & (client0 == i), clear=0)
            out = props.counter(f"out{i}", range(16), client.valid & client.ready, clear=0)
            outs.append(out)
            props.check(f"read_data[{i}]: no beat but one routed to it", out < routed,
                        when=client.valid)
            with m.If(r_taken & (client0 == i) & (chosen == i) & (routed == n)):
                m.d.sync += [value.eq(bus.rdata), value_last.eq(bus.rlast), recorded.eq(1)]
            props.check("the beat at index n of a client's read_data is the one routed to it",
                        recorded & (client.payload.data == value)
                        & (~client.payload.last | value_last),
                        when=client.valid & (chosen == i) & (out == n))

        # AW bursts owed W beats, from the cycle each appears on AW (W may come first).
        w_taken = w.valid & w.ready
        appears = aw.valid & ~props.past(aw.valid & ~aw.ready)
        owed = [(Signal(name=f"aw{n}_full"), Signal(range(M_BURST + 1), name=f"aw{n}_left"))
                for n in range(2)]
        (owed0, wleft0), (owed1, _) = owed
        # W may come in the cycle its burst appears on AW: then that burst is the head.
        head = owed0 | appears
        head_left = Mux(owed0, wleft0, bus.awlen + 1)
        done = w_taken & (head_left == 1)
        _fifo_step(m, owed, push=appears & (owed0 | ~done), pop=done & owed0,
                   step=w_taken & owed0,
                   new=[1, Mux(~owed0 & w_taken, bus.awlen, bus.awlen + 1)],
                   advance=lambda: [wleft0.eq(wleft0 - 1)])
        props.check("at most max_outstanding write bursts owed beats", ~owed1 | done,
                    when=appears)
        props.check("W only for a burst on AW, wlast exactly on its last beat",
                    head & (bus.wlast == (head_left == 1)), when=w.valid)
        props.check("W waits on no client: wvalid low at most a cycle while a burst is owed "
                    "beats", w.valid, when=head & props.past(head & ~w.valid))
        source = unit.write_data[0]
        given = props.counter("given", range(16), source.valid & source.ready, clear=0)
        sent = props.counter("sent", range(16), w_taken, clear=0)
        beat, beat_seen = Signal.like(source.payload), Signal()
        with m.If(source.valid & source.ready & (given == n)):
            m.d.sync += [beat.eq(source.payload), beat_seen.eq(1)]
        props.check("the W beat at index n is the write client's beat at n",
                    beat_seen & (bus.wdata == beat.data) & (bus.wstrb == beat.strb),
                    when=w.valid & (sent == n))

        aw_taken, b_taken = aw.valid & aw.ready, b.valid & b.ready
        accepted = props.counter("aw_accepted", range(16), aw_taken, clear=0)
        lasts = props.counter("w_lasts", range(16), w_taken & bus.wlast, clear=0)
        answered = props.counter("b_taken", range(16), b_taken, clear=0)
        props.assume((answered < accepted) & (answered < lasts), when=b.valid)
        props.check("write_done only after a B response", props.past(b_taken),
                    when=unit.write_done[0])

        clear = unit.clear
        read_bytes = props.counter("read_bytes", 64, Mux(r_taken, 4, 0), clear=0)
        strobed = sum(bus.wstrb[i] for i in range(4))
        write_bytes = props.counter("write_bytes", 64, Mux(w_taken, strobed, 0), clear=0)
        with m.If(clear):
            m.d.sync += [read_bytes.eq(Mux(r_taken, 4, 0)),
                         write_bytes.eq(Mux(w_taken, strobed, 0))]
        props.check("read_bytes and write_bytes count the bytes moved since clear",
                    (unit.read_bytes == read_bytes) & (unit.write_bytes == write_bytes))
        failed, failed_write = Signal(), Signal()
        with m.If(clear):
            m.d.sync += failed.eq(0)
        with m.Elif(~failed & r_taken & bus.rresp[1]):
            m.d.sync += [failed.eq(1), failed_write.eq(0)]
        with m.Elif(~failed & b_taken & bus.bresp[1]):
            m.d.sync += [failed.eq(1), failed_write.eq(1)]
        props.check("error holds whether an error response came since clear, and whose",
                    (unit.error.valid == failed) & (~failed | (unit.error.write == failed_write)))

        props.cover("both read clients have a burst in flight",
                    full0 & full1 & (client0 != flight[1][1]))
        props.cover("a client's beat waits while R goes on for the other",
                    unit.read_data[0].valid & ~unit.read_data[0].ready & r_taken
                    & (client0 == 1))
        props.cover("the tracked beat at index 1 of client 1 reaches it, last",
                    recorded & (n == 1) & (chosen == 1) & unit.read_data[1].valid
                    & unit.read_data[1].payload.last & (outs[1] == 1))
        props.cover("a write request of two bursts is done", unit.write_done[0]
                    & (accepted == 2))


def _fifo_step(m, slots, *, push, pop, step, new, advance):
    """A two-slot FIFO of the view: ``advance`` on ``step``, the head dropped on ``pop`` (the
    second moves up), ``new`` pushed into the first free slot."""
    with m.If(step):
        m.d.sync += advance()
    with m.If(pop):
        m.d.sync += [a.eq(b) for a, b in zip(slots[0], slots[1], strict=True)]
        m.d.sync += slots[1][0].eq(0)
    with m.If(push):
        with m.If(Mux(pop, ~slots[1][0], ~slots[0][0])):
            m.d.sync += [a.eq(b) for a, b in zip(slots[0], new, strict=True)]
        with m.Else():
            m.d.sync += [a.eq(b) for a, b in zip(slots[1], new, strict=True)]


def _master(cls=AxiMaster):
    return cls(read_clients=R_CLIENTS, write_clients=W_CLIENTS, addr_width=M_ADDR,
               data_width=M_DATA, max_burst=M_BURST, max_outstanding=M_OUTSTANDING,
               buffer=M_BURST)
